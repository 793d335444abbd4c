"""The cluster.status runner (B3): LocalClient's answers as parts (a host that
does not answer is shown down, one that answers with an error string has that
error), cluster.shared from the first host that answered with a part (the
arbiter last: it reads no lockspace and no incidents), the hosts and guests
from the cluster pillar, and the view returned with its
outputter named (salt-run ignores a runner's ``__outputter__``). The client is
a stand-in yielding what LocalClient.cmd_iter yields; Salt's own loader gives
the runner ``__utils__`` from ``utils_dirs``."""

import contextlib
from unittest.mock import Mock

import pytest
import salt.config
import salt.loader

from tests.loaders import REPO, load

runner = load("_runners", "cluster")
cv = load("_utils", "cluster_view")
CLUSTER = {
    "hosts": {"hyp1": {"failover_ips": ["203.0.113.101"]}, "hyp2": {}},
    "guests": {"vm1": {"home": "hyp1"}},
}


def local_part(host, guests):
    return {
        "host": host,
        "time": "2024-05-01T12:00:00+00:00",
        "drained": {"drained": False, "since": None, "reason": None},
        "guests": guests,
        "saved": [],
        "sanlock": {"can_take_guests": True, "reason": "joined", "lockspaces": [], "leases_held": []},
        "proxyarp": [],
        "quorum": {"quorum": True, "connected": 3, "of": 3, "lockspace": True, "reason": "majority"},
        "sanlock_hosts": {},
    }


def arbiter_part(host):
    keys = ("drained", "guests", "saved", "sanlock", "proxyarp", "quorum", "sanlock_hosts")
    return dict({"host": host, "time": "2024-05-01T12:00:00+00:00"}, **dict.fromkeys(keys))


SHARED = {
    "peers": [],
    "volumes": {},
    "lockspace": {},
    "failover": {"ips": [], "mismatches": 0, "unreported": []},
    "incidents": [],
}


class Client:
    """What the runner uses of LocalClient: cmd_iter on the nodegroup, cmd on one host."""

    def __init__(self, yields, shared):
        self.yields, self.shared, self.asked = yields, shared, []

    def cmd_iter(self, tgt, fun, timeout=None, tgt_type="glob", **kwargs):
        assert (tgt, fun, tgt_type, kwargs) == (
            "hypervisors",
            "cluster.local",
            "nodegroup",
            {"expect_minions": True},
        )
        yield from self.yields

    def cmd(self, tgt, fun, timeout=None):
        self.asked.append((tgt, fun))
        return {tgt: self.shared.get(tgt)}


@pytest.fixture
def show_pillar():
    return Mock(return_value={"hypervisor": CLUSTER})


@pytest.fixture
def configure_loader_modules(show_pillar):
    utils = {f"cluster_view.{name}": getattr(cv, name) for name in ("assemble", "hosts_config")}
    return {
        runner: {
            "__salt__": {"pillar.show_pillar": show_pillar},
            "__utils__": utils,
            "__opts__": {"conf_file": "/etc/salt/master"},
        }
    }


def test_a_host_that_does_not_answer_is_down(show_pillar):
    answered = {"hyp1": {"ret": local_part("hyp1", {"vm1": "running"}), "retcode": 0}}
    client = Client([answered, {"hyp2": {"failed": True}}], {"hyp1": SHARED})
    targeted, answers = runner._ask(client, 10)
    assert targeted == ["hyp1", "hyp2"] and list(answers) == ["hyp1"]
    parts = runner._parts(answers)
    shared = runner._shared(client, parts, 10)
    assert shared is SHARED and client.asked == [("hyp1", "cluster.shared")]
    view = runner._view(answers, shared, runner._cluster(targeted, parts), targeted)
    show_pillar.assert_called_once_with("hyp1")
    assert view["hosts"]["hyp1"]["up"] and not view["hosts"]["hyp2"]["up"]
    assert view["guests"]["vm1"]["running_on"] == ["hyp1"]
    assert view["problems"] == ["host hyp2 does not answer"]


def test_an_error_answer_and_no_shared_facts():
    client = Client([{"hyp1": {"ret": "'cluster.local' is not available.", "retcode": 254}}], {"hyp1": "no"})
    targeted, answers = runner._ask(client, 10)
    parts = runner._parts(answers)
    assert parts == {"hyp1": {"error": "'cluster.local' is not available."}}
    shared = runner._shared(client, parts, 10)
    assert shared == {"error": "no host answered cluster.shared"} and client.asked == []
    view = runner._view(answers, shared, CLUSTER, targeted)
    assert view["hosts"]["hyp1"]["errors"] == {"cluster.local": "'cluster.local' is not available."}
    assert "host hyp2 does not answer" in view["problems"]


def test_status_names_its_outputter(monkeypatch):
    answered = {"hyp2": {"ret": local_part("hyp2", {}), "retcode": 0}}
    client = Client([{"hyp1": {"failed": True}}, answered], {"hyp2": SHARED})
    monkeypatch.setattr(runner.salt.client, "get_local_client", lambda conf: contextlib.nullcontext(client))
    ret = runner.status()
    assert set(ret) == {"outputter", "data"} and ret["outputter"] == "hv_status"
    assert ret["data"]["problems"] == [
        "host hyp1 does not answer",
        "guest vm1 is down and has no save file (no answer from hyp1)",
    ]


def test_a_targeted_host_outside_the_pillar_and_the_pillar_of_a_host_down(show_pillar):
    show_pillar.side_effect = lambda host: {} if host == "hyp3" else {"hypervisor": CLUSTER}
    assert runner._cluster(["hyp3", "hyp1"], {}) == CLUSTER
    view = runner._view({}, SHARED, CLUSTER, ["hyp3"])
    assert sorted(view["hosts"]) == ["hyp1", "hyp2", "hyp3"]
    assert not any(host["up"] for host in view["hosts"].values())


def test_the_arbiter_is_asked_for_the_shared_facts_last(monkeypatch, show_pillar):
    cluster = {"hosts": {"arb1": {"role": "arbiter"}, "hyp1": {}, "hyp2": {}}, "guests": {}}
    show_pillar.return_value = {"hypervisor": cluster}
    answered = {"arb1": {"ret": arbiter_part("arb1"), "retcode": 0}}
    answered["hyp2"] = {"ret": local_part("hyp2", {}), "retcode": 0}
    arbiter_shared = dict(SHARED, lockspace=None, incidents=None)
    client = Client([answered, {"hyp1": {"failed": True}}], {"arb1": arbiter_shared, "hyp2": SHARED})
    monkeypatch.setattr(runner.salt.client, "get_local_client", lambda conf: contextlib.nullcontext(client))
    view = runner.status()["data"]
    assert client.asked == [("hyp2", "cluster.shared")]
    assert view["incidents"] == [] and view["hosts"]["arb1"]["arbiter"]
    assert view["problems"] == ["host hyp1 does not answer"]  # nothing of the arbiter's
    client.shared["hyp2"] = "'cluster.shared' is not available."
    assert runner._shared(client, runner._parts({"arb1": {}, "hyp2": {}}), 10, {"arb1"}) is arbiter_shared
    assert client.asked[1:] == [("hyp2", "cluster.shared"), ("arb1", "cluster.shared")]


def test_salt_loader_gives_the_runner_utils_from_utils_dirs(tmp_path):
    opts = salt.config.master_config(None)
    opts.update(
        extension_modules=str(tmp_path),
        runner_dirs=[str(REPO / "_runners")],
        utils_dirs=[str(REPO / "_utils")],
    )
    functions = salt.loader.runner(opts, utils=salt.loader.utils(opts))
    assert "cluster.status" in functions
    assert functions.pack["__utils__"]["cluster_view.table"].__doc__.startswith("The view as plain text")
