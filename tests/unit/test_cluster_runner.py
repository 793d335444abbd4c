"""The cluster.status runner (B3): LocalClient's answers as parts (a host that
does not answer is shown down, one that answers with an error string has that
error), cluster.shared from the first host that answered with a part (the
arbiter last: it reads no lockspace and no incidents), the hosts and guests
from the validated settings of the lab's pillar (the master's grains cache
naming the OS family), an invalid pillar shown as the first problem with the
raw mapping's hosts and guests, and the view returned with its outputter named
(salt-run ignores a runner's ``__outputter__``). The client is a stand-in
yielding what LocalClient.cmd_iter yields; Salt's own loader puts
``utils_dirs`` on the path for the runner's plain imports."""

import contextlib
import json
import logging
import sys
from unittest.mock import call, create_autospec

import pytest
import salt.config
import salt.loader
import salt.runners.cache
import salt.runners.pillar

from tests.loaders import REPO, hv_schema, hv_validate, hv_views, layered_parameters, load
from tests.pillar_cases import TOKEN, as_seen_by, lab_pillar

runner = load("_runners", "cluster")
SETTINGS = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")


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
    return create_autospec(salt.runners.pillar.show_pillar, side_effect=lab_pillar)


@pytest.fixture
def cached_grains():
    grains = {name: {"id": name, "os_family": "Debian"} for name in ("arb1", "hyp1", "hyp2")}
    return create_autospec(salt.runners.cache.grains, return_value=grains)


@pytest.fixture
def configure_loader_modules(show_pillar, cached_grains):
    return {
        runner: {
            "__salt__": {"pillar.show_pillar": show_pillar, "cache.grains": cached_grains},
            "__opts__": {"conf_file": "/etc/salt/master"},
        }
    }


def test_a_host_that_does_not_answer_is_down(show_pillar, cached_grains):
    answered = {"hyp1": {"ret": local_part("hyp1", {"vm1": "running"}), "retcode": 0}}
    answered["arb1"] = {"ret": arbiter_part("arb1"), "retcode": 0}
    client = Client([answered, {"hyp2": {"failed": True}}], {"hyp1": SHARED})
    targeted, answers = runner._ask(client, 10)
    assert targeted == ["hyp1", "arb1", "hyp2"] and list(answers) == ["hyp1", "arb1"]
    parts = runner._parts(answers)
    shared = runner._shared(client, parts, 10, {"arb1"})
    assert shared is SHARED and client.asked == [("hyp1", "cluster.shared")]
    cluster, problems = runner._settings(*runner._pillar(targeted, parts))
    # A host that carries guests is asked first (its part shows guests): its pillar has the
    # API settings, and the arbiter's is never compiled for nothing.
    assert show_pillar.call_args_list == [call("hyp1")]
    cached_grains.assert_called_once_with(tgt="hyp1")
    assert cluster == hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1") and problems == []
    view = runner._view(answers, shared, cluster, targeted)
    assert view["hosts"]["hyp1"]["up"] and not view["hosts"]["hyp2"]["up"]
    assert view["guests"]["vm1"]["running_on"] == ["hyp1"]
    assert view["problems"] == ["host hyp2 does not answer"]
    # B8: each host's room and a drain's plan, under the validated limits (no record: unknown).
    assert sorted(view["placement"]) == ["hyp1", "hyp2"] and view["placement"]["hyp1"]["room"] is None


def test_an_error_answer_and_no_shared_facts():
    client = Client([{"hyp1": {"ret": "'cluster.local' is not available.", "retcode": 254}}], {"hyp1": "no"})
    targeted, answers = runner._ask(client, 10)
    parts = runner._parts(answers)
    assert parts == {"hyp1": {"error": "'cluster.local' is not available."}}
    shared = runner._shared(client, parts, 10)
    assert shared == {"error": "no host answered cluster.shared"} and client.asked == []
    view = runner._view(answers, shared, SETTINGS, targeted)
    assert view["hosts"]["hyp1"]["errors"] == {"cluster.local": "'cluster.local' is not available."}
    assert "host hyp2 does not answer" in view["problems"]


def test_status_names_its_outputter(monkeypatch, show_pillar):
    pillar = lab_pillar()
    pillar["hypervisor"]["guests"]["vm1"]["running"] = True
    show_pillar.side_effect = lambda minion: as_seen_by(pillar, minion)
    answered = {"hyp2": {"ret": local_part("hyp2", {}), "retcode": 0}}
    answered["arb1"] = {"ret": arbiter_part("arb1"), "retcode": 0}
    client = Client([{"hyp1": {"failed": True}}, answered], {"hyp2": SHARED})
    monkeypatch.setattr(runner.salt.client, "get_local_client", lambda conf: contextlib.nullcontext(client))
    ret = runner.status()
    assert set(ret) == {"outputter", "data"} and ret["outputter"] == "hv_status"
    assert ret["data"]["problems"] == [
        "host hyp1 does not answer",
        "guest vm1 is down and has no save file (no answer from hyp1)",
    ]


def test_a_targeted_host_outside_the_pillar_and_the_pillar_of_a_host_down(show_pillar):
    show_pillar.side_effect = lambda minion: {} if minion == "hyp3" else lab_pillar()
    assert runner._pillar(["hyp3", "hyp1"], {}) == ("hyp1", lab_pillar())
    assert runner._pillar(["hyp3"], {}) == (None, {}) and runner._settings(None, {}) == ({}, [])
    view = runner._view({}, SHARED, SETTINGS, ["hyp3"])
    assert sorted(view["hosts"]) == ["arb1", "hyp1", "hyp2", "hyp3"]
    assert not any(host["up"] for host in view["hosts"].values())


def test_the_arbiter_is_asked_for_the_shared_facts_last(monkeypatch):
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


def test_the_settings_take_the_os_family_from_the_grains_cache(cached_grains, monkeypatch):
    redhat = hv_views.build(lab_pillar(), layered_parameters("RedHat"), "hyp1")
    assert redhat != SETTINGS
    build = create_autospec(hv_views.build, side_effect=hv_views.build)
    monkeypatch.setattr(runner.hv_views, "build", build)
    cached_grains.return_value = {"hyp1": {"os_family": "RedHat"}}
    assert runner._settings("hyp1", lab_pillar()) == (redhat, [])
    build.assert_called_once_with(lab_pillar(), hv_schema.defaults("RedHat"), "hyp1")


def test_without_cached_grains_the_first_os_family_and_a_warning(cached_grains, caplog):
    cached_grains.return_value = {}
    with caplog.at_level(logging.WARNING):
        cluster, problems = runner._settings("hyp1", lab_pillar())
    assert cluster == SETTINGS and problems == [] and hv_schema.OS_FAMILIES[0] == "Debian"
    assert "no known OS family of hyp1 cached" in caplog.text


def test_an_invalid_pillar_still_shows_the_status_and_says_so_first(monkeypatch, show_pillar):
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["host_id"] = 1  # hyp1's too
    pillar["hypervisor"]["guests"]["vm1"]["boot"]["cmdline"] = TOKEN  # a secret where none belongs
    pillar["hypervisor"]["guests"]["vm1"]["running"] = True
    show_pillar.side_effect = lambda minion: as_seen_by(pillar, minion)
    errors = hv_validate.validate(pillar, layered_parameters("Debian"), "hyp2")
    assert len(errors) > 1
    answered = {"hyp2": {"ret": local_part("hyp2", {}), "retcode": 0}}
    answered["arb1"] = {"ret": arbiter_part("arb1"), "retcode": 0}
    client = Client([{"hyp1": {"failed": True}}, answered], {"hyp2": SHARED})
    monkeypatch.setattr(runner.salt.client, "get_local_client", lambda conf: contextlib.nullcontext(client))
    view = runner.status()["data"]
    assert view["problems"] == [
        f"the cluster pillar is invalid: {errors[0]}",
        "host hyp1 does not answer",
        "guest vm1 is down and has no save file (no answer from hyp1)",
    ]
    assert view["hosts"]["arb1"]["arbiter"] and sorted(view["guests"]) == ["vm1", "vm2", "vm3", "vm4"]
    assert TOKEN not in json.dumps(view)


def test_salt_loader_puts_utils_dirs_on_the_path_for_the_runner(tmp_path, monkeypatch):
    utils_dir = str(REPO / "_utils")
    monkeypatch.setattr(sys, "path", [path for path in sys.path if path != utils_dir])
    for name in ("cluster_view", "hv_schema", "hv_views"):
        monkeypatch.delitem(sys.modules, name)
    opts = salt.config.master_config(None)
    opts.update(extension_modules=str(tmp_path), runner_dirs=[str(REPO / "_runners")], utils_dirs=[utils_dir])
    functions = salt.loader.runner(opts, utils=salt.loader.utils(opts))
    assert "cluster.status" in functions
    module = sys.modules[functions["cluster.status"].__module__]
    assert module.cluster_view.__file__ == str(REPO / "_utils" / "cluster_view.py")
