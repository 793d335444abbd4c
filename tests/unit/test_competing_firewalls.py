"""competing_firewalls.stopped (F2): nothing to do when none runs; under
test=True a prediction and no command; otherwise each busy unit is stopped
under a drop-in that empties its stop commands (so Debian's nftables.service
does not run `nft flush ruleset` over Shorewall's tables), disabled, the
drop-in removed; only the nftables tables iptables-nft does not own are
deleted; then Shorewall reloads. A failing command fails the state."""

import json
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.systemd_service

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

competing = load("_states", "competing_firewalls")
# The units firewall/competing.sls hands the state: the view's list for the lab's hosts.
UNITS = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")["competing_firewalls"]
RELOAD = [["shorewall", "reload", "-c"]]
# `nft -j list tables` on a host where Debian's nftables.conf and Shorewall (iptables-nft) both run.
TABLES = {
    "nftables": [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": "inet", "name": "filter", "handle": 1}},
        {"table": {"family": "ip", "name": "filter", "handle": 2}},
        {"table": {"family": "ip", "name": "nat", "handle": 3}},
        {"table": {"family": "ip", "name": "mangle", "handle": 4}},
        {"table": {"family": "ip", "name": "raw", "handle": 5}},
        {"table": {"family": "ip", "name": "firewalld", "handle": 6}},
    ]
}


class Systemd:
    """The service functions and cmd.run_all of a host where only nftables.service is
    installed, enabled and active; the drop-in's presence is recorded at each stop."""

    def __init__(self, dropin_dir):
        self.ran = []
        self.dropin_dir = dropin_dir
        self.dropin_at_stop = None
        self.fail = set()
        self.installed = {"nftables"}

    def available(self, name):
        return name in self.installed

    def status(self, name):
        return name == "nftables.service"

    def enabled(self, name):
        return name == "nftables.service"

    def run_all(self, argv, python_shell=True, ignore_retcode=False):
        assert python_shell is False
        self.ran.append(list(argv))
        if argv[:2] == ["systemctl", "stop"]:
            dropin = self.dropin_dir / f"{argv[2]}.d" / competing.DROPIN_NAME
            self.dropin_at_stop = dropin.read_text() if dropin.exists() else None
        if tuple(argv[:2]) in self.fail:
            return {"retcode": 1, "stdout": "", "stderr": "Failed", "pid": 1}
        out = json.dumps(TABLES) if argv[:2] == ["nft", "-j"] else ""
        return {"retcode": 0, "stdout": out, "stderr": "", "pid": 1}


@pytest.fixture
def systemd(tmp_path, monkeypatch):
    monkeypatch.setattr(competing, "DROPIN_DIR", str(tmp_path / "{}.d"))
    return Systemd(tmp_path)


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(systemd, opts):
    service = salt.modules.systemd_service
    fakes = {
        "service.available": create_autospec(service.available, side_effect=systemd.available),
        "service.status": create_autospec(service.status, side_effect=systemd.status),
        "service.enabled": create_autospec(service.enabled, side_effect=systemd.enabled),
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all, side_effect=systemd.run_all),
    }
    return {competing: {"__salt__": fakes, "__opts__": opts}}


def test_only_tables_iptables_nft_does_not_own_are_foreign():
    assert competing.foreign_tables(TABLES) == [("inet", "filter"), ("ip", "firewalld")]
    assert competing.foreign_tables({"nftables": [{"metainfo": {}}]}) == []


def test_nothing_runs(systemd):
    systemd.installed = set()
    ret = competing.stopped("competing", UNITS, reload=RELOAD)
    assert ret == {
        "name": "competing",
        "changes": {},
        "result": True,
        "comment": "no competing firewall runs or is enabled (installed: none)",
    }
    assert systemd.ran == []


def test_test_mode_predicts_and_changes_nothing(systemd, opts):
    opts["test"] = True
    ret = competing.stopped("competing", UNITS, reload=RELOAD)
    assert ret == {
        "name": "competing",
        "changes": {"stopped": ["nftables.service"], "tables_deleted": ["inet filter", "ip firewalld"]},
        "result": None,
        "comment": "would stop and disable nftables.service without clearing rules, delete the nftables "
        "tables not iptables-nft's (inet filter, ip firewalld), then reload",
    }
    assert systemd.ran == [["nft", "-j", "list", "tables"]]


def test_stops_without_flush_then_deletes_foreign_tables_then_reloads(systemd, tmp_path):
    ret = competing.stopped("competing", UNITS, reload=RELOAD)
    assert ret == {
        "name": "competing",
        "changes": {"stopped": ["nftables.service"], "tables_deleted": ["inet filter", "ip firewalld"]},
        "result": True,
        "comment": "stopped and disabled nftables.service without clearing rules; rules reloaded",
    }
    assert systemd.ran == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "stop", "nftables.service"],
        ["systemctl", "disable", "nftables.service"],
        ["systemctl", "daemon-reload"],
        ["nft", "-j", "list", "tables"],
        ["nft", "delete", "table", "inet", "filter"],
        ["nft", "delete", "table", "ip", "firewalld"],
        ["shorewall", "reload", "-c"],
    ]
    # While it stopped, its stop commands were emptied; the drop-in is gone since.
    assert "\nExecStop=\n" in systemd.dropin_at_stop
    assert "\nKillSignal=SIGKILL\n" in systemd.dropin_at_stop
    assert not (tmp_path / "nftables.service.d" / competing.DROPIN_NAME).exists()


def test_failed_stop_fails_the_state_and_removes_the_dropin(systemd, tmp_path):
    systemd.fail.add(("systemctl", "stop"))
    ret = competing.stopped("competing", UNITS, reload=RELOAD)
    assert ret["result"] is False
    assert ret["comment"] == "`systemctl stop nftables.service` failed (exit code 1): Failed"
    assert not (tmp_path / "nftables.service.d" / competing.DROPIN_NAME).exists()
    assert ["shorewall", "reload", "-c"] not in systemd.ran
