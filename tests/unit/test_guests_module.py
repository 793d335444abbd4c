"""The guests execution module's decisions that need no libvirt: where its
settings come from (the pillar, else the shutdown unit's settings copy), and
which failover IPs follow an evacuation, and where to. The provider API is
the ``online`` module's; here its two calls are recorded, with the real
signatures (create_autospec), because the lab tests drive the real ones; so are
the settings (the lab pillar's real view) and the events."""

import json
import os
from unittest.mock import create_autospec

import pytest
import salt.modules.event
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

guests = load("_modules", "guests")
hypervisor_pillar = load("_modules", "hypervisor_pillar")
online = load("_modules", "online")
hv_runtime = load("_utils", "hv_runtime")
plan = load("_utils", "hv_failover_plan")


@pytest.fixture
def hv():
    return hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")


@pytest.fixture
def routed(hv):
    """The failover IPs the API routes to hyp1: all of hyp1's, and one the cluster does not list."""
    return sorted(hv["failover"]["ips"]) + ["192.0.2.250"]


@pytest.fixture
def salt_mods(hv, routed):
    return {
        "hypervisor_pillar.settings": create_autospec(hypervisor_pillar.settings, return_value=hv),
        "online.server_info": create_autospec(online.server_info, return_value={"failover_ips": routed}),
        "online.failover_move": create_autospec(online.failover_move, return_value={"result": True}),
        "event.send": create_autospec(salt.modules.event.send, return_value=True),
    }


@pytest.fixture
def configure_loader_modules(salt_mods, hv):
    return {
        guests: {"__salt__": salt_mods, "__pillar__": {"hypervisor": {}, "online": {}}, "__context__": {}}
    }


def test_settings_from_the_pillar_are_not_offline(hv):
    """The pillar's settings view holds a settings copy: the module must not take it for the copy."""
    settings = guests._settings()
    assert settings["offline"] is False
    assert settings["me"] == hv["me"]


def test_settings_without_pillar_come_from_the_copy(tmp_path, hv):
    copy = tmp_path / "settings.json"
    copy.write_text(json.dumps(hv["settings_copy"]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(guests, "__pillar__", {}, raising=False)
        settings = guests._settings(str(copy))
        assert settings["offline"] is True
        assert settings["me"] == {"name": "hyp1", "peer": "hyp2"}
        with pytest.raises(CommandExecutionError, match="no settings copy at"):
            guests._settings(str(tmp_path / "missing.json"))


def test_ips_follow_their_guests(hv, salt_mods):
    """Migrated: to the guest's new host; saved or of no guest: to the evacuation's
    target; still running here: stays; not a cluster failover IP: left alone."""
    owners = plan.guest_of_ip(hv)
    by_guest = {name: [ip for ip, owner in owners.items() if owner == name] for name in set(owners.values())}
    results = {
        "vm1": {"outcome": "migrated", "host": "hyp2"},
        "vm2": {"outcome": "saved", "file": "/x/vm2.save"},
        "vm3": {"outcome": "running", "reason": "peer unreachable"},
    }
    ret = guests._follow_failover(hv, results, "hyp2")
    stays = set(by_guest["vm3"])
    assert ret["failed"] == {}
    assert set(ret["moved"]) == set(hv["failover"]["ips"]) - stays
    assert set(ret["moved"].values()) == {"hyp2"}
    moved_args = [c.args for c in salt_mods["online.failover_move"].call_args_list]
    assert len(moved_args) == 1 and moved_args[0][1] == "hyp2"  # one call per destination
    assert "192.0.2.250" not in moved_args[0][0]


def test_after_an_undrain_the_ips_of_the_guests_back_here_and_its_own_come_back(hv):
    """hyp1's IPs (vm1..vm4's, 203.0.113.101..104): vm1 is back here, its IP already
    routed here (not moved again); vm2 runs nowhere: its IP comes; vm3 runs on
    another host: its IP stays there; vm4's comes."""
    asked = []

    def runs_nowhere(name):
        asked.append(name)
        return name != "vm3"

    results = {"vm1": {"outcome": "migrated", "host": "hyp1"}, "vm2": {"outcome": "failed"}}
    assert plan.back_home(hv, ["203.0.113.101"], results, runs_nowhere) == ["203.0.113.102", "203.0.113.104"]
    assert sorted(asked) == ["vm2", "vm3", "vm4"]  # vm1 is back here: no need to look


def test_offline_evacuation_moves_no_ip_and_says_how(hv, salt_mods):
    ret = guests._follow_failover(
        dict(hv, offline=True), {"vm1": {"outcome": "migrated", "host": "hyp2"}}, "hyp2"
    )
    assert ret["moved"] == {} and "guests.follow_failover" in ret["comment"]
    salt_mods["online.server_info"].assert_not_called()


def test_api_failure_is_reported_not_raised(hv, salt_mods):
    salt_mods["online.server_info"].side_effect = CommandExecutionError("503 from the API")
    ret = guests._follow_failover(hv, {"vm1": {"outcome": "migrated", "host": "hyp2"}}, "hyp2")
    assert ret["moved"] == {} and "503 from the API" in ret["failed"]["*"]
    salt_mods["online.failover_move"].assert_not_called()


def test_undrain_closes_the_incidents_against_this_host(hv, salt_mods, tmp_path):
    """guests.undrain closes what the takeover opened against this host (the incident
    store is shared, not reached through the takeover module), and brings back its guests."""
    hv["takeover"]["incidents_dir"] = str(tmp_path / "incidents")
    incident = {"host": "hyp1", "generation": 3, "by": "hyp2", "detected": "2026-12-06T04:00:00+00:00"}
    hv_runtime.write_json(f"{tmp_path}/incidents/hyp1-g3.json", dict(incident, guests={"vm1": {}, "vm2": {}}))
    hv_runtime.write_json(f"{tmp_path}/incidents/hyp2-g1.json", dict(incident, host="hyp2", generation=1))
    sent = []
    salt_mods["event.send"] = create_autospec(
        salt.modules.event.send, side_effect=lambda tag, data: sent.append((tag, data))
    )
    assert guests._close_incidents(hv) == ["vm1", "vm2"]
    assert sent == [("hv/takeover/closed", {"host": "hyp1", "incidents": ["hyp1-g3"]})]
    assert hv_runtime.read_json(f"{tmp_path}/incidents/hyp1-g3.closed")["by"] == "hyp1"  # a file of its own
    assert not os.path.exists(f"{tmp_path}/incidents/hyp2-g1.closed")
    assert guests._close_incidents(hv) == [] and len(sent) == 1
