"""public_net.restart (F23): the commands that restart the public NIC and the
public bridge and nothing else, per backend; networkd's links waited for
until configured again (on a fake clock), a failed link or a timeout
refused; Shorewall reloaded only when it is started (``shorewall status`` 0),
after the links are back; the settings (hv_views's views of the
render tests' second cluster) as defaults when called bare.
public_net.settle (safe_apply's probe of networkd's links): a failed link
reconfigured, then settled; one still failed after the retries, or still
pending at the timeout, refused. cmd.run_all is a spec of Salt's."""

import copy
import types
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import as_seen_by
from tests.render.test_render import SECOND_PILLAR

public_net = load("_modules", "public_net")
RUN_KWARGS = {"python_shell": False, "ignore_retcode": True}
LIST_CONFIGURING = """\
  1 lo      loopback carrier     unmanaged
  2 eth0    ether    routable    configuring
  3 eth1    ether    routable    configured
  4 brwan   bridge   no-carrier  configuring
"""
LIST_CONFIGURED = LIST_CONFIGURING.replace("configuring", "configured")


def ran(stdout="", retcode=0, stderr=""):
    return {"pid": 900, "retcode": retcode, "stdout": stdout, "stderr": stderr}


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Host:
    """Commands answered from ``answers`` (by their words; a list answers in turn);
    ``calls`` what ran, in order; shorewall installed unless ``shorewall`` is False."""

    def __init__(self, salt_mods, monkeypatch):
        self.calls = []
        self.answers = {}
        self.shorewall = True
        self.clock = Clock()
        salt_mods["cmd.run_all"].side_effect = self.run_all
        monkeypatch.setattr(
            public_net, "time", types.SimpleNamespace(monotonic=self.clock.monotonic, sleep=self.clock.sleep)
        )
        monkeypatch.setattr(
            public_net,
            "shutil",
            types.SimpleNamespace(
                which=lambda cmd: f"/sbin/{cmd}" if cmd != "shorewall" or self.shorewall else None
            ),
        )

    def run_all(self, cmd, **kwargs):
        assert kwargs == RUN_KWARGS, "commands run as argument lists, without a shell"
        self.calls.append(" ".join(cmd))
        answer = self.answers.get(" ".join(cmd), ran())
        return answer.pop(0) if isinstance(answer, list) else answer


@pytest.fixture
def salt_mods():
    return {
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all),
        "hypervisor_pillar.settings": create_autospec(hypervisor_pillar.settings),
    }


@pytest.fixture
def configure_loader_modules(salt_mods):
    return {public_net: {"__salt__": salt_mods}}


@pytest.fixture
def host(salt_mods, monkeypatch):
    return Host(salt_mods, monkeypatch)


# ------------------------------------------------------------------ plan and parser


def test_commands_networkd_touch_the_public_side_only():
    assert public_net._commands("networkd", "eth0", "brwan") == [
        ["networkctl", "reconfigure", "eth0", "brwan"]
    ]
    assert public_net._commands("networkd", "eth0", None) == [["networkctl", "reconfigure", "eth0"]]


def test_commands_networkmanager():
    assert public_net._commands("networkmanager", "eth0", "brwan") == [
        ["nmcli", "connection", "up", "id", "hv-public"],
        ["nmcli", "connection", "up", "id", "hv-brwan"],
    ]
    assert public_net._commands("networkmanager", "eth0", None) == [
        ["nmcli", "connection", "up", "id", "hv-public"]
    ]


def test_unknown_backend():
    with pytest.raises(CommandExecutionError, match=r"unknown network backend 'ifupdown'"):
        public_net._commands("ifupdown", "eth0", "brwan")


def test_parse_networkctl_list():
    assert public_net.parse_networkctl_list(LIST_CONFIGURING) == {
        "lo": "unmanaged",
        "eth0": "configuring",
        "eth1": "configured",
        "brwan": "configuring",
    }
    assert public_net.parse_networkctl_list("") == {}


# ------------------------------------------------------------------ restart


def test_networkd_restart_waits_then_reloads_shorewall(host):
    host.answers["networkctl list --no-legend --no-pager"] = [ran(LIST_CONFIGURING), ran(LIST_CONFIGURED)]
    assert public_net.restart("eth0", "brwan", "networkd") == {
        "interface": "eth0",
        "bridge": "brwan",
        "backend": "networkd",
        "ran": ["networkctl reconfigure eth0 brwan", "shorewall reload"],
        "shorewall": "reloaded: proxy ARP reasserted",
    }
    assert host.calls == [
        "networkctl reconfigure eth0 brwan",
        "networkctl list --no-legend --no-pager",
        "networkctl list --no-legend --no-pager",
        "shorewall status",
        "shorewall reload",
    ]
    assert host.clock.sleeps == [1, 0.5]


def test_shorewall_stopped_is_left_alone(host):
    host.answers["networkctl list --no-legend --no-pager"] = ran(LIST_CONFIGURED)
    host.answers["shorewall status"] = ran(retcode=3)
    ret = public_net.restart("eth0", "brwan", "networkd")
    assert ret["ran"] == ["networkctl reconfigure eth0 brwan"]
    assert ret["shorewall"] == "not started: nothing to reassert"
    assert "shorewall reload" not in host.calls


def test_shorewall_not_installed(host):
    host.shorewall = False
    host.answers["networkctl list --no-legend --no-pager"] = ran(LIST_CONFIGURED)
    ret = public_net.restart("eth0", "brwan", "networkd")
    assert ret["shorewall"] == "not started: nothing to reassert"
    assert not [c for c in host.calls if c.startswith("shorewall")]


def test_networkd_link_failed(host):
    host.answers["networkctl list --no-legend --no-pager"] = ran(
        LIST_CONFIGURED.replace("bridge   no-carrier  configured", "bridge   no-carrier  failed")
    )
    with pytest.raises(CommandExecutionError, match=r"networkd failed to configure brwan \(failed\)"):
        public_net.restart("eth0", "brwan", "networkd")
    assert not [c for c in host.calls if c.startswith("shorewall")]


def test_networkd_timeout(host):
    host.answers["networkctl list --no-legend --no-pager"] = ran(LIST_CONFIGURING)
    with pytest.raises(
        CommandExecutionError,
        match=r"networkd has not configured eth0 \(configuring\), brwan \(configuring\) after 30s",
    ):
        public_net.restart("eth0", "brwan", "networkd")


def test_reconfigure_refused(host):
    host.answers["networkctl reconfigure eth0 brwan"] = ran(
        retcode=1, stderr="Failed to reconfigure: No such device\n"
    )
    with pytest.raises(
        CommandExecutionError,
        match=r"networkctl reconfigure eth0 brwan: exit code 1, Failed to reconfigure: No such device$",
    ):
        public_net.restart("eth0", "brwan", "networkd")
    assert host.calls == ["networkctl reconfigure eth0 brwan"]


def test_networkmanager_restart(host):
    ret = public_net.restart("eth0", "brwan", "networkmanager")
    assert ret["ran"] == [
        "nmcli connection up id hv-public",
        "nmcli connection up id hv-brwan",
        "shorewall reload",
    ]
    assert host.calls == [
        "nmcli connection up id hv-public",
        "nmcli connection up id hv-brwan",
        "shorewall status",
        "shorewall reload",
    ]


def settings(minion_id, family="Debian", pillar=SECOND_PILLAR):
    """hypervisor_pillar.settings() on ``minion_id`` of the second cluster (public NIC enp1s0,
    public bridge br-out; witness its arbiter)."""
    return hv_views.build(as_seen_by(copy.deepcopy(pillar), minion_id), layered_parameters(family), minion_id)


def test_bare_call_uses_the_settings(host, salt_mods):
    salt_mods["hypervisor_pillar.settings"].return_value = settings("kvm-a")
    host.answers["networkctl list --no-legend --no-pager"] = ran(
        "  2 enp1s0 ether routable configured\n  5 br-out bridge carrier configured\n"
    )
    ret = public_net.restart()
    assert (ret["interface"], ret["bridge"], ret["backend"]) == ("enp1s0", "br-out", "networkd")
    assert host.calls[0] == "networkctl reconfigure enp1s0 br-out"


def test_bare_call_without_a_public_bridge(host, salt_mods):
    pillar = copy.deepcopy(SECOND_PILLAR)
    pillar["hypervisor"]["bridges"]["wan"]["public"] = False
    salt_mods["hypervisor_pillar.settings"].return_value = settings("kvm-a", "RedHat", pillar)
    ret = public_net.restart()
    assert (ret["interface"], ret["bridge"], ret["backend"]) == ("enp1s0", None, "networkmanager")
    assert host.calls[0] == "nmcli connection up id hv-public"
    assert "hv-None" not in " ".join(host.calls)


def test_bare_call_on_the_arbiter_restarts_no_bridge(host, salt_mods):
    salt_mods["hypervisor_pillar.settings"].return_value = settings("witness")
    host.answers["networkctl list --no-legend --no-pager"] = ran("  2 enp1s0 ether routable configured\n")
    assert public_net.restart()["bridge"] is None
    assert host.calls[0] == "networkctl reconfigure enp1s0"


# ------------------------------------------------------------------ reassert (the states, after a reload)


def test_reassert_reconfigures_nothing_waits_then_reloads_shorewall(host):
    host.answers["networkctl list --no-legend --no-pager"] = [ran(LIST_CONFIGURING), ran(LIST_CONFIGURED)]
    assert public_net.reassert("eth0", "brwan") == {
        "interface": "eth0",
        "bridge": "brwan",
        "ran": ["shorewall reload"],
    }
    assert host.calls == [
        "networkctl list --no-legend --no-pager",
        "networkctl list --no-legend --no-pager",
        "shorewall status",
        "shorewall reload",
    ]
    assert not [call for call in host.calls if "reconfigure" in call]


def test_reassert_without_shorewall_or_bridge(host):
    host.answers["networkctl list --no-legend --no-pager"] = ran(LIST_CONFIGURED)
    host.answers["shorewall status"] = ran(retcode=3)
    assert public_net.reassert("eth0", None) == {"interface": "eth0", "bridge": None, "ran": []}
    assert "shorewall reload" not in host.calls


def test_reassert_refuses_a_public_link_networkd_failed(host):
    failed = LIST_CONFIGURED.replace("routable    configured", "routable    failed", 1)
    host.answers["networkctl list --no-legend --no-pager"] = ran(failed)
    with pytest.raises(CommandExecutionError, match=r"networkd failed to configure eth0"):
        public_net.reassert("eth0", "brwan")
    assert "shorewall reload" not in host.calls


# ------------------------------------------------------------------ settle (safe_apply's probe)

LIST = "networkctl list --no-legend --no-pager"
LIST_BRWAN_FAILED = LIST_CONFIGURED.replace("bridge   no-carrier  configured", "bridge   no-carrier  failed")


def test_settle_reconfigures_a_failed_link_until_configured(host):
    """brwan failed (networkd gave up on it): reconfigured, then it settles."""
    host.answers[LIST] = [ran(LIST_BRWAN_FAILED), ran(LIST_BRWAN_FAILED), ran(LIST_CONFIGURED)]
    assert public_net.settle(["eth0", "brwan"]) is None
    assert host.calls == [LIST, LIST, "networkctl reconfigure brwan", LIST]
    assert host.clock.sleeps == [1, 1]


def test_settle_reconfigures_only_the_failed_links(host):
    two_failed = LIST_BRWAN_FAILED.replace(
        "eth1    ether    routable    configured", "eth1    ether    off    failed"
    )
    host.answers[LIST] = [ran(two_failed), ran(two_failed), ran(LIST_CONFIGURED)]
    public_net.settle(["eth0", "eth1", "brwan"])
    assert host.calls == [LIST, LIST, "networkctl reconfigure eth1 brwan", LIST]


def test_settle_a_link_still_failed_after_the_retries(host):
    host.answers[LIST] = ran(LIST_BRWAN_FAILED)
    with pytest.raises(CommandExecutionError, match=r"^networkd failed to configure brwan \(failed\)$"):
        public_net.settle(["eth0", "brwan"], retries=2)
    assert host.calls == [LIST, LIST, "networkctl reconfigure brwan"] * 2 + [LIST, LIST]


def test_settle_without_retries_never_reconfigures(host):
    host.answers[LIST] = ran(LIST_BRWAN_FAILED)
    with pytest.raises(CommandExecutionError, match=r"networkd failed to configure brwan"):
        public_net.settle(["brwan"], retries=0)
    assert "networkctl reconfigure brwan" not in host.calls


def test_settle_a_pending_or_absent_link_times_out_unretried(host):
    """Still configuring (or not there at all): a timeout, no reconfigure."""
    host.answers[LIST] = ran(LIST_CONFIGURING)
    with pytest.raises(
        CommandExecutionError,
        match=r"networkd has not configured brwan \(configuring\), vxwan \(absent\) after 10s",
    ):
        public_net.settle(["eth1", "brwan", "vxwan"], timeout=10)
    assert not [c for c in host.calls if "reconfigure" in c]
    assert host.calls[-2:] == [LIST, LIST]


def test_settle_unmanaged_counts_as_settled(host):
    host.answers[LIST] = ran(LIST_CONFIGURED)
    public_net.settle(["lo", "eth1"])
    assert host.calls == [LIST]
