"""The failover code's plain helpers (``_utils/hv_failover_*.py``), without
Salt: the proxyarp file's format, the move history, the budget and spacing of
moves, the gratuitous ARP command, the read-back of a move (against the
stand-in API over real HTTP), and the figures taken from the settings."""

import json
import os
import stat

import hv_failover_base as base
import hv_failover_files as files
import hv_failover_move as move
import hv_failover_sync as sync
import pytest

from lab.online_api import StandIn
from tests.loaders import load

fa = load("_utils", "failover_api")
TOKEN = "unit-token-Zr5Kd2Wq8Mn3"
HYP1, HYP2 = "203.0.113.11", "203.0.113.12"
IP1, IP2 = "203.0.113.101", "203.0.113.102"
GARP = ["arping", "-U", "-S", "{ip}", "-c", "1", "-i", "{interface}", "{ip}"]


@pytest.fixture
def standin():
    servers = {
        1001: {"hostname": "sd-1001", "public": HYP1},
        1002: {"hostname": "sd-1002", "public": HYP2},
    }
    api = StandIn(servers, {IP1: {"destination": HYP1}, IP2: {"destination": HYP2}}, TOKEN)
    api.serve()
    yield api
    api.close()


def client(standin):
    return fa.provider({"api_url": standin.url, "api_token": TOKEN, "allow_http": True, "retries": 0})


# ---------------------------------------------------------------- files


def test_parse_proxyarp_reads_the_first_column():
    text = (
        "# Managed by Salt (salt://firewall/files/proxyarp.jinja)\n"
        "#ADDRESS\tINTERFACE\tEXTERNAL\tHAVEROUTE\tPERSISTENT\n"
        "203.0.113.102\tbrwan\teth0\tNo\tYes\n"
        "203.0.113.9  brwan  eth0  No  Yes  # a comment\n"
        "not-an-ip\tbrwan\teth0\n"
        "203.0.113.254\t-\tbrwan\tYes\tYes\n"
        "\n"
    )
    assert files.parse_proxyarp(text) == ["203.0.113.9", "203.0.113.102"]  # not the gateway
    assert files.parse_proxyarp("") == []


def test_the_gateways_are_answered_on_the_bridge_only_when_there_is_one():
    text = files.render([IP1], "brwan", "eth0", ["203.0.113.254", "192.0.2.1"])
    assert text == files.HEADER + (
        f"{IP1}\tbrwan\teth0\tNo\tYes\n192.0.2.1\t-\tbrwan\tYes\tYes\n203.0.113.254\t-\tbrwan\tYes\tYes\n"
    )
    assert files.parse_proxyarp(text) == [IP1]
    assert files.render([], "-", "eth0", ["203.0.113.254"]) == files.HEADER


def test_render_then_parse(tmp_path):
    text = files.render([IP2, IP1, IP2], "brwan", "eth0")
    assert text == files.HEADER + f"{IP1}\tbrwan\teth0\tNo\tYes\n{IP2}\tbrwan\teth0\tNo\tYes\n"
    path = str(tmp_path / "proxyarp")
    assert files.answered(path) == []
    files.write_atomic(path, text.encode(), 0o644)
    assert files.answered(path) == [IP1, IP2]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["proxyarp"]  # no temporary file left


def test_restore_puts_back_the_bytes_or_removes_the_file(tmp_path):
    path = str(tmp_path / "proxyarp")
    files.write_atomic(path, b"new\n", 0o644)
    files.restore(path, b"old\n")
    assert files.read_bytes(path) == b"old\n"
    files.restore(path, None)
    assert not os.path.exists(path)
    files.restore(path, None)  # nothing to remove: no error


def test_history_round_trip_and_a_broken_file(tmp_path):
    path = str(tmp_path / "moves.json")
    assert files.load_history(path) == []
    moves = [{"time": float(n), "ips": [IP1], "to": "hyp1"} for n in range(files.HISTORY_MAX + 5)]
    files.save_history(path, moves)
    assert files.load_history(path) == moves[-files.HISTORY_MAX :]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "w") as handle:
        json.dump({"moves": [{"time": "soon", "ips": [IP1]}, {"time": 1.0, "ips": [IP2]}]}, handle)
    assert files.load_history(path) == [{"time": 1.0, "ips": [IP2]}]
    with open(path, "w") as handle:
        handle.write("{not json")
    assert files.load_history(path) == []


def test_locked_makes_a_private_directory(tmp_path):
    with files.locked(str(tmp_path / "state" / "sync.lock")):
        pass
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "sync.lock").st_mode) == 0o600


# ---------------------------------------------------------------- moves, sync


def test_budget_and_spacing_helpers():
    budget = {"moves": 2, "window": 100}
    moves = [{"time": 10.0, "ips": [IP1]}, {"time": 50.0, "ips": [IP1, IP2]}]
    assert move.budget_refusal(moves, [IP2], 60.0, budget) is None
    assert "moved 2 times in the last 100 s" in move.budget_refusal(moves, [IP2, IP1], 60.0, budget)
    assert move.budget_refusal(moves, [IP1], 111.0, budget) is None  # the first one left the window
    assert move.spacing_pause(moves, 55.0, 10) == 5.0
    assert move.spacing_pause(moves, 70.0, 10) == 0.0
    assert move.spacing_pause(moves, 0.0, 10) == 10.0  # the clock went back: at most the spacing
    assert move.spacing_pause([], 0.0, 10) == 0.0


def test_the_budget_of_all_ips_from_one_host():
    """Robot limits switches per account and hour: this host's moves of every IP count."""
    budget = {"moves": 5, "window": 100, "total": 3}
    moves = [{"time": 10.0, "ips": [IP1]}, {"time": 50.0, "ips": [IP1, IP2]}]
    why = move.budget_refusal(moves, [IP2], 60.0, budget)
    assert "this host moved 3 failover IPs in the last 100 s (move_budget: 3 in all" in why
    assert move.budget_refusal(moves, [IP2], 111.0, budget) is None  # 2 in the window, and this one


def test_garp_command_is_filled_in():
    assert sync.garp_command(GARP, "eth0", IP1) == ["arping", "-U", "-S", IP1, "-c", "1", "-i", "eth0", IP1]
    assert sync.garp_command([], "eth0", IP1) == []
    assert sync.garp_command(None, "eth0", IP1) == []


def test_read_back_goes_on_through_a_passing_fault(standin):
    api = client(standin)
    standin.set_delay(0.3)
    assert api.move([IP1], HYP2) is True
    standin.inject("503", times=1)
    assert move.confirm(api, [IP1], HYP2, 2, 0.05) == (True, [], None)
    assert [r["status"] for r in standin.requests()][1:3] == [503, 200]


def test_read_back_failing_to_the_end(standin):
    api = client(standin)
    standin.inject("503", times=1000)
    confirmed, pending, error = move.confirm(api, [IP1], HYP2, 0.3, 0.05)
    assert (confirmed, pending) == (False, [IP1])
    assert error == "Online API: GET /server/failover: HTTP 503: Service temporarily unavailable"


# ---------------------------------------------------------------- figures from the settings

FAILOVER = {"provider": "online", "poll_interval": 10, "request_timeout": 10, "retries": 3}


def test_provider_config_takes_the_settings_and_the_pillar():
    online = {"api_url": "https://api.example.net/api/v1", "api_token": TOKEN}
    assert base.provider_config(FAILOVER, online) == {
        "provider": "online",
        "api_url": "https://api.example.net/api/v1",
        "api_token": TOKEN,
        "allow_http": False,
        "timeout": 10,
        "retries": 3,
    }
    config = base.provider_config(FAILOVER, dict(online, allow_http=True), timeout=0.5, retries=0)
    assert (config["allow_http"], config["timeout"], config["retries"]) == (True, 0.5, 0)
