"""The online execution module against the stand-in API (lab/online_api.py)
over real HTTP on 127.0.0.1, with the lab's settings (the real validator) and
the files in a temporary directory.

sync_failover: the proxyarp file lists the cluster IPs the API routes to this
host (an IP routed here the cluster does not list is ignored), written
atomically, Shorewall reloaded when it runs, a gratuitous ARP per added IP;
nothing to do the second time; test=True touches nothing; a failed reload puts
the previous file back byte for byte (or removes it); without a provider the
pillar's own IPs; every fault of the API (R2, a closed port) changes nothing
on the host, returns result False with a clear comment and sends an error
event. failover_move: a group sharing a MAC moves together, 409 "already
provisioned" is a success, moves are spaced (measured, also between two at
once), the per-IP budget refuses with nothing sent, a move never shown done
is reported so, refusals send nothing, API faults return result False. The
list, status (with the mine), server info and generateMac. routed_ips (the
beacon's poll, from the settings): the cluster IPs routed here and the
proxyarp file's, one request per poll whatever the fault, kind "config"
without a provider. The token is in no return, event or log record.
Commands (shorewall, arping) go to a fake that records them; they run for
real in the lab tests."""

import fcntl
import json
import logging
import os
import re
import socket
import stat
import threading
import time
from unittest.mock import call, create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.event
import salt.modules.mine
import salt.modules.pillar
from salt.exceptions import CommandExecutionError

from lab.online_api import StandIn
from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import lab_pillar

online = load("_modules", "online")
TOKEN = "unit-token-Hy7Rt2Mc9Qw4"
HYP1, HYP2, STRANGER = "203.0.113.11", "203.0.113.12", "203.0.113.50"
IP1, IP2, IP3, FOREIGN, IP5 = (f"203.0.113.{n}" for n in (101, 102, 103, 104, 105))
MAC = "52:54:00:aa:bb:cc"
SERVERS = {
    1001: {"hostname": "sd-1001", "public": HYP1, "private": "198.51.100.11"},
    1002: {"hostname": "sd-1002", "public": HYP2, "private": "198.51.100.12"},
    1003: {"hostname": "sd-1003", "public": STRANGER, "private": None},
}
FAILOVERS = {
    IP1: {"destination": HYP1, "mac": None},
    IP2: {"destination": HYP2, "mac": MAC},
    IP3: {"destination": HYP2, "mac": MAC},
    FOREIGN: {"destination": HYP1, "mac": None},  # routed to hyp1, listed by no host
    IP5: {"destination": None, "mac": None},
}
GARP = ["arping", "-U", "-S", "{ip}", "-c", "1", "-i", "eth0", "{ip}"]
STATUS, RELOAD = ["shorewall", "status"], ["shorewall", "reload"]
EDIT = "/api/v1/server/failover/edit"
# The kinds of fault (R2): how many requests get it (1 retry in these tests),
# what the comment says about a GET of the server.
R2 = [
    ("401", 1, "HTTP 401 (the API token is refused: check online:api_token): invalid_token"),
    ("403", 1, "HTTP 403 (the API token is refused: check online:api_token): Access denied"),
    ("404", 1, "HTTP 404: Not found"),
    ("429", 2, "HTTP 429 after 1 retry: Too many requests"),
    ("500", 2, "HTTP 500 after 1 retry: Internal server error"),
    ("502", 2, "HTTP 502 after 1 retry: Bad gateway"),
    ("503", 2, "HTTP 503 after 1 retry: Service temporarily unavailable"),
    ("html", 1, "HTTP 200: an HTML page, not JSON"),
    ("timeout", 2, "no answer within 0.3 s after 1 retry"),
    ("reset", 2, "connection failed after 1 retry"),
    ("invalid_json", 1, "HTTP 200: invalid JSON"),
    ("truncated_json", 1, "HTTP 200: invalid JSON"),
    ("empty", 1, "HTTP 200 with an empty body"),
    ("shape", 1, "unexpected answer: not an object"),
]


def header():
    return online.HEADER


def proxyarp(*ips):
    """The file for ``ips``, and the lab's one public gateway answered on the bridge only."""
    lines = "".join(f"{ip}\tbrwan\teth0\tNo\tYes\n" for ip in ips) + "203.0.113.254\t-\tbrwan\tYes\tYes\n"
    return (header() + lines).encode()


def garp(ip):
    return [arg.replace("{ip}", ip) for arg in GARP]


class Host:
    """cmd.run_all on a fake host: every command recorded; ``fail`` maps the first
    arguments of a command to the answers it gets, one per call (the last one stays)."""

    def __init__(self):
        self.ran = []
        self.fail = {}

    def run_all(self, cmd, *args, python_shell=None, ignore_retcode=False, **kwargs):
        assert python_shell is False
        self.ran.append(list(cmd))
        for prefix, answers in self.fail.items():
            if tuple(cmd[: len(prefix)]) == prefix:
                retcode, said = answers.pop(0) if len(answers) > 1 else answers[0]
                return {"retcode": retcode, "stdout": "", "stderr": said, "pid": 1}
        return {"retcode": 0, "stdout": "", "stderr": "", "pid": 1}


def scenario_pillar():
    """The lab's pillar, hyp1 listing IP1 and hyp2 IP2, IP3, IP5 (FOREIGN: nobody), no guests."""
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["failover_ips"] = [IP1]
    pillar["hypervisor"]["hosts"]["hyp2"]["failover_ips"] = [IP2, IP3, IP5]
    del pillar["hypervisor"]["guests"]
    return pillar


@pytest.fixture
def standin():
    api = StandIn(SERVERS, FAILOVERS, TOKEN)
    api.serve()
    yield api
    api.close()


@pytest.fixture
def hv(tmp_path):
    pillar = scenario_pillar()
    settings = hv_views.build(pillar, layered_parameters("Debian"), "hyp1")
    settings["failover"].update(
        request_timeout=2,
        retries=1,
        move_spacing=0,
        confirm_timeout=2,
        confirm_interval=0.05,
        state_dir=str(tmp_path / "state"),
        garp_command=list(GARP),
    )
    settings["firewall"]["config_dir"] = str(tmp_path / "shorewall")
    (tmp_path / "shorewall").mkdir()
    return settings


@pytest.fixture
def online_pillar(standin):
    return {"api_url": standin.url, "api_token": TOKEN, "allow_http": True}


@pytest.fixture
def host():
    return Host()


@pytest.fixture
def salt_mods(hv, online_pillar, host):
    def pillar_get(key, default=None, **kwargs):
        return online_pillar if key == "online" else default

    return {
        "hypervisor_pillar.settings": create_autospec(hypervisor_pillar.settings, return_value=hv),
        "pillar.get": create_autospec(salt.modules.pillar.get, side_effect=pillar_get),
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all, side_effect=host.run_all),
        "event.send": create_autospec(salt.modules.event.send, return_value=True),
        "mine.send": create_autospec(salt.modules.mine.send, return_value=True),
        "mine.get": create_autospec(salt.modules.mine.get, return_value={}),
    }


@pytest.fixture
def grains():
    return {"id": "hyp1"}


@pytest.fixture
def configure_loader_modules(salt_mods, grains):
    return {
        online: {
            "__salt__": salt_mods,
            "__grains__": grains,
        }
    }


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in str(record.args)


def events(salt_mods):
    sent = [(c.args[0], c.args[1]) for c in salt_mods["event.send"].call_args_list]
    assert TOKEN not in json.dumps(sent)
    return sent


def path(hv):
    return os.path.join(hv["firewall"]["config_dir"], "proxyarp")


def edits(standin):
    return [r for r in standin.requests() if r["path"] == EDIT]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synced(**over):
    ret = online.sync_failover(**over)
    assert TOKEN not in json.dumps(ret)
    return ret


def moved(ip, to, **over):
    ret = online.failover_move(ip, to, **over)
    assert TOKEN not in json.dumps(ret)
    assert "Traceback" not in ret["comment"]
    return ret


# ---------------------------------------------------------------- sync_failover


def test_sync_writes_what_the_api_routes_here(hv, host, salt_mods):
    ret = synced()
    assert ret == {
        "result": True,
        "changed": True,
        "added": [IP1],
        "removed": [],
        "ips": [IP1],
        "ignored": [FOREIGN],
        "reloaded": True,
        "garp": [IP1],
        "comment": f"wrote {path(hv)} for {IP1} (+[{IP1}] -[]), as the API says, and reloaded Shorewall;"
        f" ignored (routed"
        f" here, not a cluster failover IP): {FOREIGN}",
    }
    with open(path(hv), "rb") as handle:
        assert handle.read() == proxyarp(IP1)
    assert stat.S_IMODE(os.stat(path(hv)).st_mode) == 0o644
    assert host.ran == [STATUS, RELOAD, garp(IP1)]
    assert events(salt_mods) == [
        ("hv/failover/proxyarp/updated", {"added": [IP1], "removed": [], "ips": [IP1]})
    ]
    assert salt_mods["mine.send"].call_args_list == [call("hv_proxyarp", mine_function="online.proxyarp_ips")]
    assert stat.S_IMODE(os.stat(hv["failover"]["state_dir"]).st_mode) == 0o700
    assert online.proxyarp_ips() == [IP1]


def _held(hv):
    """The sync lock, held as another process's sync would hold it (flock: per open file)."""
    lock = os.path.join(hv["failover"]["state_dir"], "sync.lock")
    os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, f"{lock}.wanted"


def test_a_sync_while_one_runs_returns_at_once_and_asks_it_for_one_more(hv, host, standin):
    """The reactor's calls (wait=False): a flood never piles up waiting processes."""
    fd, wanted = _held(hv)
    try:
        ret = synced(wait=False)
    finally:
        os.close(fd)
    assert ret["result"] is True and ret["changed"] is False
    assert ret["comment"] == "a sync is running here: it syncs once more for this call"
    assert os.path.exists(wanted) and not os.path.exists(path(hv)) and host.ran == []


@pytest.mark.parametrize("synced_for_it", [True, False])
def test_a_sync_while_one_runs_waits_for_it_by_default(hv, host, standin, synced_for_it):
    """An operator's or a state's call returns once the host is synced: by the running sync
    (it took this call's mark) or, when that one ended without, by a sync of its own."""
    import threading

    fd, wanted = _held(hv)
    out = {}
    waiter = threading.Thread(target=lambda: out.update(synced()))
    waiter.start()
    try:
        for _ in range(100):
            if os.path.exists(wanted):
                break
            time.sleep(0.02)
        assert os.path.exists(wanted) and waiter.is_alive()  # marked, and waiting
        if synced_for_it:
            os.unlink(wanted)  # what the running sync does before its next round
    finally:
        os.close(fd)
    waiter.join(10)
    if synced_for_it:
        assert out["comment"] == "synced by the sync that was running here" and host.ran == []
    else:
        assert os.path.exists(path(hv)) and out["changed"] is True and not os.path.exists(wanted)


def test_a_sync_asked_for_again_while_it_ran_runs_once_more_and_adds_up(hv, host, monkeypatch):
    _fd, wanted = _held(hv)
    os.close(_fd)
    runs = []
    real = online.hv_failover_sync.sync

    def sync_and_be_asked_again(*args):
        runs.append(1)
        if len(runs) == 1:
            with open(wanted, "w"):  # another call arrives while this one syncs
                pass
        return real(*args)

    monkeypatch.setattr(online.hv_failover_sync, "sync", sync_and_be_asked_again)
    slept = []
    monkeypatch.setattr(online.time, "sleep", slept.append)
    ret = synced()
    assert len(runs) == 2 and not os.path.exists(wanted)
    # The second waited for the gap: a flood of calls costs at most one sync per SYNC_GAP.
    assert len(slept) == 1 and 0 < slept[0] <= online.SYNC_GAP
    assert ret["changed"] is True and ret["added"] == [IP1]  # the first run's change, kept


def test_sync_on_the_arbiter_does_nothing_and_succeeds(hv, host, salt_mods):
    """The arbiter carries no guest: the reactor's sync of every host leaves it alone."""
    hv["me"] = dict(hv["me"], name="arb1", role="arbiter")
    ret = synced()
    assert (ret["result"], ret["changed"], ret["ips"]) == (True, False, [])
    assert "arbiter" in ret["comment"] and host.ran == [] and events(salt_mods) == []


def test_sync_twice_changes_nothing_the_second_time(hv, host, salt_mods):
    synced()
    host.ran.clear()
    ret = synced()
    assert ret["result"] is True and ret["changed"] is False
    assert ret["comment"].startswith(f"{path(hv)} answers for {IP1}, as the API says")
    assert host.ran == []
    assert len(events(salt_mods)) == 1
    assert salt_mods["mine.send"].call_count == 2


def test_sync_follows_the_api(hv, host, standin, salt_mods):
    synced()
    standin.route([IP2, IP3], HYP1)
    standin.route(IP1, HYP2)
    host.ran.clear()
    ret = synced()
    assert (ret["added"], ret["removed"], ret["ips"]) == ([IP2, IP3], [IP1], [IP2, IP3])
    with open(path(hv), "rb") as handle:
        assert handle.read() == proxyarp(IP2, IP3)
    assert host.ran == [STATUS, RELOAD, garp(IP2), garp(IP3)]
    assert events(salt_mods)[-1] == (
        "hv/failover/proxyarp/updated",
        {"added": [IP2, IP3], "removed": [IP1], "ips": [IP2, IP3]},
    )


def test_sync_test_mode_touches_nothing(hv, host, salt_mods):
    ret = synced(test=True)
    assert ret["result"] is None and ret["changed"] is True
    assert ret["added"] == [IP1]
    assert ret["comment"].startswith(f"would write {path(hv)} for {IP1}")
    assert not os.path.exists(path(hv))
    assert not os.path.exists(hv["failover"]["state_dir"])
    assert host.ran == []
    assert events(salt_mods) == []
    assert salt_mods["mine.send"].call_count == 0


def test_sync_failed_reload_puts_the_previous_file_back(hv, host, salt_mods):
    previous = b"# written by hand\n203.0.113.9\tbrwan\teth0\tNo\tYes\n"
    with open(path(hv), "wb") as handle:
        handle.write(previous)
    host.fail[("shorewall", "reload")] = [(1, "ERROR: proxyarp: bad line"), (0, "")]
    ret = synced()
    assert ret["result"] is False and ret["changed"] is False and ret["reloaded"] is False
    assert ret["comment"].startswith("`shorewall reload` failed (exit code 1): ERROR: proxyarp: bad line;")
    assert "is back as it was (reloaded)" in ret["comment"]
    with open(path(hv), "rb") as handle:
        assert handle.read() == previous
    assert host.ran == [STATUS, RELOAD, RELOAD]
    assert [tag for tag, _ in events(salt_mods)] == ["hv/failover/error"]
    assert events(salt_mods)[0][1] == {"op": "sync", "error": ret["comment"]}
    assert salt_mods["mine.send"].call_count == 0


def test_sync_failed_reload_without_a_previous_file_removes_it(hv, host):
    host.fail[("shorewall", "reload")] = [(1, "ERROR: one"), (1, "ERROR: two")]
    ret = synced()
    assert ret["result"] is False
    assert "its reload failed too: `shorewall reload` failed (exit code 1): ERROR: two" in ret["comment"]
    assert not os.path.exists(path(hv))


def test_sync_with_shorewall_stopped_writes_the_file_only(hv, host):
    host.fail[("shorewall", "status")] = [(1, "Shorewall is stopped")]
    ret = synced()
    assert ret["result"] is True and ret["changed"] is True
    assert (ret["reloaded"], ret["garp"]) == (False, [])
    assert "Shorewall is not running" in ret["comment"]
    assert host.ran == [STATUS]
    with open(path(hv), "rb") as handle:
        assert handle.read() == proxyarp(IP1)


def test_sync_reports_a_failed_gratuitous_arp(hv, host):
    host.fail[("arping",)] = [(2, "arping: bind: Cannot assign requested address")]
    ret = synced()
    assert ret["result"] is True and ret["garp"] == []
    assert "gratuitous ARP failed: `arping" in ret["comment"]


def test_sync_without_a_garp_command_sends_none(hv, host):
    hv["failover"]["garp_command"] = []
    assert synced()["garp"] == []
    assert host.ran == [STATUS, RELOAD]


def test_sync_without_a_provider_uses_the_pillar(hv, host, standin, online_pillar):
    online_pillar.clear()
    ret = synced()
    assert (ret["result"], ret["ips"], ret["ignored"]) == (True, [IP1], [])
    assert ret["comment"] == (
        f"wrote {path(hv)} for {IP1} (+[{IP1}] -[]), as the pillar (no provider: static) says,"
        " and reloaded Shorewall"
    )
    with open(path(hv), "rb") as handle:
        assert handle.read() == proxyarp(IP1)
    assert standin.requests() == []


def test_sync_refuses_a_host_without_server_id(hv, host, standin, salt_mods):
    del hv["me"]["server_id"]
    ret = synced()
    assert ret["result"] is False
    assert "hyp1 has no online_server_id in pillar" in ret["comment"]
    assert standin.requests() == [] and host.ran == []
    assert events(salt_mods) == [("hv/failover/error", {"op": "sync", "error": ret["comment"]})]


@pytest.mark.parametrize(("kind", "times", "said"), R2)
def test_sync_api_fault_changes_nothing(hv, host, standin, salt_mods, kind, times, said):
    hv["failover"]["request_timeout"] = 0.3
    previous = proxyarp("203.0.113.9")
    with open(path(hv), "wb") as handle:
        handle.write(previous)
    standin.inject(kind, times=times, hang=2.0)
    ret = synced()
    comment = f"Online API: GET /server/1001: {said}"
    assert ret["result"] is False and ret["changed"] is False
    assert ret["comment"].startswith(comment)
    with open(path(hv), "rb") as handle:
        assert handle.read() == previous
    assert host.ran == []
    assert events(salt_mods) == [("hv/failover/error", {"op": "sync", "error": ret["comment"]})]
    assert salt_mods["mine.send"].call_count == 0
    assert len(standin.requests()) == times


def test_sync_with_the_api_port_closed(hv, host, online_pillar, salt_mods):
    online_pillar["api_url"] = f"http://127.0.0.1:{closed_port()}/api/v1"
    ret = synced()
    assert ret["result"] is False
    assert (
        ret["comment"] == "Online API: GET /server/1001: connection failed after 1 retry: Connection refused"
    )
    assert not os.path.exists(path(hv)) and host.ran == []
    assert [tag for tag, _ in events(salt_mods)] == ["hv/failover/error"]


def test_sync_retries_ending_in_success(hv, standin):
    hv["failover"]["retries"] = 3
    standin.inject("503", times=2)
    assert synced()["result"] is True
    assert [r["status"] for r in standin.requests()] == [503, 503, 200]


def test_sync_plain_http_refused_without_allow_http(hv, online_pillar, salt_mods):
    online_pillar["allow_http"] = False
    ret = synced()
    assert ret["result"] is False
    assert "is not https:// (allow_http is off)" in ret["comment"]


# ---------------------------------------------------------------- failover_move


def test_move_and_confirm(hv, standin, salt_mods):
    ret = moved(IP1, "hyp2")
    assert ret["result"] is True and ret["confirmed"] is True
    assert (ret["ips"], ret["from"], ret["to"]) == ([IP1], "hyp1", "hyp2")
    assert ret["comment"] == f"{IP1} routed to hyp2 ({HYP2}): the API accepted the move"
    assert standin.state()["failovers"][IP1]["destination"] == HYP2
    started = f"moving {IP1} from hyp1 to hyp2 ({HYP2})"
    assert events(salt_mods) == [
        ("hv/failover/move/started", {"ips": [IP1], "from": "hyp1", "to": "hyp2", "comment": started}),
        (
            "hv/failover/move/done",
            {"ips": [IP1], "from": "hyp1", "to": "hyp2", "comment": ret["comment"], "confirmed": True},
        ),
    ]
    history = os.path.join(hv["failover"]["state_dir"], "moves.json")
    assert stat.S_IMODE(os.stat(history).st_mode) == 0o600
    with open(history) as handle:
        assert [(m["ips"], m["to"]) for m in json.load(handle)["moves"]] == [([IP1], "hyp2")]


def test_ips_sharing_a_mac_move_together(standin):
    ret = moved(IP2, "hyp1")
    assert ret["result"] is True
    assert (ret["ips"], ret["from"]) == ([IP2, IP3], "hyp2")
    assert {ip: standin.state()["failovers"][ip]["destination"] for ip in (IP2, IP3)} == {
        IP2: HYP1,
        IP3: HYP1,
    }


def test_several_ips_move_in_one_call_with_their_mac_groups(standin):
    """An evacuation moves every IP going to one host at once: one edit, read back."""
    ret = moved(f"{IP1},{IP2}", "hyp2")
    assert ret["result"] is True and ret["confirmed"] is True, ret["comment"]
    assert ret["ips"] == [IP1, IP2, IP3] and ret["from"] == "hyp1, hyp2"
    assert [r["status"] for r in edits(standin)] == [200]
    routes = {f["ip"]: f["destination"] for f in online.failover_list()}
    assert routes[IP1] == routes[IP2] == routes[IP3] == HYP2


def test_move_of_an_unrouted_ip(standin):
    ret = moved(IP5, "hyp1")
    assert (ret["result"], ret["from"], ret["ips"]) == (True, None, [IP5])


def test_move_already_there_is_a_success_read_back(hv, standin, salt_mods):
    ret = moved(IP1, "hyp1")
    assert ret["result"] is True and ret["confirmed"] is True
    assert "already routes them to hyp1 (already provisioned)" in ret["comment"]
    assert [r["status"] for r in edits(standin)] == [409]
    assert not os.path.exists(os.path.join(hv["failover"]["state_dir"], "moves.json"))


def test_move_without_waiting(standin):
    standin.set_delay(30)
    ret = moved(IP1, "hyp2", wait=False)
    assert ret["result"] is True and ret["confirmed"] is False
    assert "not waiting for it" in ret["comment"]
    assert standin.state()["pending"][IP1]["destination"] == HYP2


def test_move_never_confirmed_is_not_done(hv, standin, salt_mods):
    hv["failover"]["confirm_timeout"] = 0.5
    standin.set_delay(30)
    ret = moved(IP1, "hyp2")
    assert ret["result"] is False and ret["confirmed"] is False
    assert ret["comment"] == (
        f"the API accepted the move of {IP1} to hyp2, but still routes {IP1} elsewhere after 0.5 s: not done"
    )
    assert ret["waited"] >= 0.5
    assert [tag for tag, _ in events(salt_mods)] == ["hv/failover/move/started", "hv/failover/move/failed"]


def test_moves_are_spaced(hv, standin):
    hv["failover"]["move_spacing"] = 1.0
    standin.set_spacing(1.0)  # the API refuses (429) edits closer than that
    assert moved(IP1, "hyp2")["result"] is True
    ret = moved(IP1, "hyp1")
    assert ret["result"] is True and ret["waited"] >= 0.5
    first, second = edits(standin)
    assert (first["status"], second["status"]) == (200, 200)
    assert second["time"] - first["time"] >= 1.0


def test_two_moves_at_once_are_spaced(hv, standin):
    hv["failover"]["move_spacing"] = 1.0
    standin.set_spacing(1.0)
    results = []
    threads = [
        threading.Thread(target=lambda ip=ip: results.append(online.failover_move(ip, "hyp2")))
        for ip in (IP1, IP5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r["result"] for r in results] == [True, True]
    first, second = edits(standin)
    assert (first["status"], second["status"]) == (200, 200)
    assert second["time"] - first["time"] >= 1.0


def test_move_budget_refuses_with_nothing_sent(hv, standin, salt_mods):
    hv["failover"]["move_budget"] = {"moves": 2, "window": 3600}
    assert moved(IP1, "hyp2")["result"] is True
    assert moved(IP1, "hyp1")["result"] is True
    ret = moved(IP1, "hyp2")
    assert ret["result"] is False and ret["confirmed"] is False
    assert ret["comment"].startswith(
        f"{IP1} was moved 2 times in the last 3600 s (move_budget: 2 per 3600 s): refused, nothing sent;"
    )
    assert len(edits(standin)) == 2
    assert standin.state()["failovers"][IP1]["destination"] == HYP1
    assert events(salt_mods)[-1][0] == "hv/failover/move/failed"
    # The other IPs have budgets of their own.
    assert moved(IP5, "hyp2")["result"] is True


def test_budget_counts_each_ip_of_a_group(hv, standin):
    hv["failover"]["move_budget"] = {"moves": 1, "window": 3600}
    assert moved(IP2, "hyp1")["result"] is True
    ret = moved(IP3, "hyp2")
    assert ret["result"] is False and "move_budget" in ret["comment"]


@pytest.mark.parametrize(
    ("ip", "to", "said"),
    [
        ("203.0.113.77", "hyp2", "refused, nothing sent: 203.0.113.77 is not a cluster failover IP"),
        (FOREIGN, "hyp2", f"refused, nothing sent: {FOREIGN} is not a cluster failover IP"),
        ("nonsense", "hyp2", "refused, nothing sent: nonsense is not a cluster failover IP"),
        (IP1, "hyp9", "refused, nothing sent: hyp9 is not a cluster host"),
    ],
)
def test_move_refusals_send_nothing(standin, salt_mods, ip, to, said):
    ret = moved(ip, to)
    assert ret["result"] is False
    assert ret["comment"].startswith(said)
    assert standin.requests() == []
    assert [tag for tag, _ in events(salt_mods)] == ["hv/failover/move/failed"]


def test_move_to_a_host_without_server_id(hv, standin):
    del hv["hosts"]["hyp2"]["server_id"]
    ret = moved(IP1, "hyp2")
    assert ret["comment"] == (
        "refused, nothing sent: hyp2 has no online_server_id in pillar (hypervisor:hosts:hyp2)"
    )
    assert standin.requests() == []


def test_move_without_a_provider(online_pillar, salt_mods):
    online_pillar.clear()
    ret = moved(IP1, "hyp2")
    assert ret["result"] is False
    assert ret["comment"].startswith("no failover provider is configured")


@pytest.mark.parametrize(("kind", "times", "said"), R2)
def test_move_api_fault_on_the_edit(hv, standin, salt_mods, kind, times, said):
    hv["failover"]["request_timeout"] = 0.3
    standin.inject(kind, times=times, path="/server/failover/edit", hang=2.0)
    ret = moved(IP1, "hyp2")
    said = {"shape": "unexpected answer: not true"}.get(kind, said)
    assert ret["result"] is False
    assert ret["comment"].startswith(f"Online API: POST /server/failover/edit: {said}")
    assert [tag for tag, _ in events(salt_mods)] == ["hv/failover/move/started", "hv/failover/move/failed"]
    # A move the API may have taken (no clear answer) counts for the spacing and the budget.
    history = os.path.join(hv["failover"]["state_dir"], "moves.json")
    if kind in ("401", "403", "404", "429"):
        assert not os.path.exists(history)
    else:
        with open(history) as handle:
            assert [m["ips"] for m in json.load(handle)["moves"]] == [[IP1]]


def test_move_api_fault_before_the_edit(standin, salt_mods):
    standin.inject("500", times=2, path="/server/failover")
    ret = moved(IP1, "hyp2")
    assert ret["result"] is False
    assert ret["comment"].startswith("Online API: GET /server/failover: HTTP 500 after 1 retry")
    assert edits(standin) == []
    assert [tag for tag, _ in events(salt_mods)] == ["hv/failover/move/failed"]


# ---------------------------------------------------------------- list, status, info


def test_failover_list(standin):
    assert online.failover_list() == [
        {"ip": IP1, "destination": HYP1, "host": "hyp1", "mac": None, "cluster": True},
        {"ip": IP2, "destination": HYP2, "host": "hyp2", "mac": MAC, "cluster": True},
        {"ip": IP3, "destination": HYP2, "host": "hyp2", "mac": MAC, "cluster": True},
        {"ip": FOREIGN, "destination": HYP1, "host": "hyp1", "mac": None, "cluster": False},
        {"ip": IP5, "destination": None, "host": None, "mac": None, "cluster": True},
    ]


def test_failover_status_all_ok(salt_mods):
    salt_mods["mine.get"].return_value = {"hyp1": [IP1], "hyp2": [IP2, IP3]}
    assert online.failover_status() == {
        "ips": [
            {"ip": IP1, "api_host": "hyp1", "destination": HYP1, "proxyarp_hosts": ["hyp1"], "ok": True},
            {"ip": IP2, "api_host": "hyp2", "destination": HYP2, "proxyarp_hosts": ["hyp2"], "ok": True},
            {"ip": IP3, "api_host": "hyp2", "destination": HYP2, "proxyarp_hosts": ["hyp2"], "ok": True},
            {"ip": IP5, "api_host": None, "destination": None, "proxyarp_hosts": [], "ok": True},
        ],
        "mismatches": 0,
        "unreported": [],
    }
    # arb1, the lab's arbiter, answers for no failover IP (no failover state there): not asked.
    assert salt_mods["mine.get"].call_args_list == [call(["hyp1", "hyp2"], "hv_proxyarp", tgt_type="list")]


def test_failover_status_mismatches(standin, salt_mods):
    standin.route(IP5, STRANGER)  # routed to a server outside the cluster
    salt_mods["mine.get"].return_value = {"hyp1": [IP1, IP2, IP5]}
    status = online.failover_status()
    assert [(row["ip"], row["api_host"], row["proxyarp_hosts"], row["ok"]) for row in status["ips"]] == [
        (IP1, "hyp1", ["hyp1"], True),
        (IP2, "hyp2", ["hyp1"], False),
        (IP3, "hyp2", [], False),
        (IP5, None, ["hyp1"], False),
    ]
    assert (status["mismatches"], status["unreported"]) == (3, ["hyp2"])


def test_server_info():
    assert online.server_info() == {
        "host": "hyp1",
        "id": 1001,
        "hostname": "sd-1001",
        "main_ip": HYP1,
        "failover_ips": [IP1, FOREIGN],
    }
    assert online.server_info(host="hyp2")["failover_ips"] == [IP2, IP3]
    with pytest.raises(CommandExecutionError, match="hyp9 is not a cluster host"):
        online.server_info(host="hyp9")


def test_generate_mac(standin):
    mac = online.generate_mac(IP1)
    assert standin.state()["failovers"][IP1]["mac"] == mac
    with pytest.raises(
        CommandExecutionError, match=re.escape("HTTP 409: Address 203.0.113.101 already has a virtual MAC")
    ):
        online.generate_mac(IP1)


def test_api_functions_without_a_provider_say_so(online_pillar):
    online_pillar.clear()
    for function in (online.failover_list, online.failover_status, online.server_info):
        with pytest.raises(CommandExecutionError, match="no failover provider is configured"):
            function()


def test_api_function_errors_raise_one_line(standin):
    standin.inject("401")
    with pytest.raises(CommandExecutionError) as info:
        online.failover_list()
    assert str(info.value).startswith("Online API: GET /server/1001: HTTP 401")
    assert TOKEN not in str(info.value)


def test_proxyarp_ips_without_a_file():
    assert online.proxyarp_ips() == []


# ---------------------------------------------------------------- routed_ips (the beacon's poll)

SERVER1 = "/api/v1/server/1001"


@pytest.fixture
def poll(hv):
    """The settings as the beacon's poll sees them: retries set (routed_ips must not use them)."""
    hv["failover"]["retries"] = 3
    return hv


def routed(**over):
    ret = online.routed_ips(**over)
    assert TOKEN not in json.dumps(ret)
    return ret


def write_proxyarp(hv, *ips):
    with open(path(hv), "wb") as handle:
        handle.write(proxyarp(*ips))


def test_routed_ips_lists_the_cluster_ips_routed_here(poll, host, standin, salt_mods):
    write_proxyarp(poll, IP1, "203.0.113.9")
    standin.route(IP5, HYP1)
    # IP1 and IP5 are cluster IPs routed here; FOREIGN is routed here but listed by no host.
    assert routed() == {
        "result": True,
        "ips": [IP1, IP5],
        "answered": ["203.0.113.9", IP1],
        "kind": None,
        "comment": "",
    }
    assert [(r["method"], r["path"], r["status"]) for r in standin.requests()] == [("GET", SERVER1, 200)]
    # It only reads: no command, no event, no mine; its one file is the poll's record.
    assert host.ran == [] and events(salt_mods) == [] and salt_mods["mine.send"].call_count == 0
    assert os.listdir(poll["firewall"]["config_dir"]) == ["proxyarp"]
    assert os.listdir(poll["failover"]["state_dir"]) == ["last-poll.json"]
    # The settings' views, and the pillar for the token only.
    assert salt_mods["hypervisor_pillar.settings"].call_count == 1
    assert [c.args[0] for c in salt_mods["pillar.get"].call_args_list] == ["online"]


def test_last_poll_is_the_beacons_poll_without_a_request(poll, standin):
    """metrics' failover source: what the last poll found, the proxyarp as it is now,
    no request of its own; the record root's alone, with no word of the API in it."""
    write_proxyarp(poll, IP1)
    assert online.last_poll()["kind"] == "stale"  # never polled
    standin.route(IP5, HYP1)
    routed()
    write_proxyarp(poll, IP1, IP5)
    last = online.last_poll()
    assert last.pop("age") < 5
    assert last == {"result": True, "ips": [IP1, IP5], "answered": [IP1, IP5], "kind": None, "comment": ""}
    assert len(standin.requests()) == 1
    record = os.path.join(poll["failover"]["state_dir"], "last-poll.json")
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    standin.inject("500", times=1)
    routed(timeout=0.3)
    last = online.last_poll()
    assert (last["result"], last["kind"], last["ips"]) == (False, "server", [])
    with open(record, encoding="utf-8") as handle:
        assert "Internal" not in handle.read()
    poll["failover"]["poll_interval"] = 10
    with open(record, "w", encoding="utf-8") as handle:
        json.dump({"time": time.time() - 61, "ips": [IP1], "kind": None}, handle)
    last = online.last_poll()
    assert (last["result"], last["kind"]) == (False, "stale") and "61 s old" in last["comment"]
    with open(record, "w", encoding="utf-8") as handle:
        handle.write("{not json")
    assert online.last_poll()["kind"] == "stale"


def test_routed_ips_as_the_other_host(poll, standin, grains, salt_mods):
    grains["id"] = "hyp2"
    other = hv_views.build(scenario_pillar(), layered_parameters("Debian"), "hyp2")
    other["firewall"]["config_dir"] = poll["firewall"]["config_dir"]
    salt_mods["hypervisor_pillar.settings"].return_value = other
    assert routed() == {"result": True, "ips": [IP2, IP3], "answered": [], "kind": None, "comment": ""}
    assert [r["path"] for r in standin.requests()] == ["/api/v1/server/1002"]


def test_routed_ips_when_nothing_is_routed_here(poll, standin):
    write_proxyarp(poll, IP1)
    standin.route([IP1, FOREIGN], HYP2)
    assert routed() == {"result": True, "ips": [], "answered": [IP1], "kind": None, "comment": ""}


# The kind and the comment of each fault, from the one request (no retry).
ROUTED_FAULTS = [
    ("401", "auth", "HTTP 401 (the API token is refused: check online:api_token): invalid_token"),
    ("403", "auth", "HTTP 403 (the API token is refused: check online:api_token): Access denied"),
    ("404", "not_found", "HTTP 404: Not found"),
    ("429", "rate_limited", "HTTP 429: Too many requests"),
    ("500", "server", "HTTP 500: Internal server error"),
    ("502", "server", "HTTP 502: Bad gateway"),
    ("503", "server", "HTTP 503: Service temporarily unavailable"),
    ("html", "bad_response", "HTTP 200: an HTML page, not JSON"),
    ("timeout", "timeout", "no answer within 0.3 s"),
    ("reset", "connection", "connection failed: "),
    ("invalid_json", "bad_response", "HTTP 200: invalid JSON"),
    ("truncated_json", "bad_response", "HTTP 200: invalid JSON"),
    ("empty", "bad_response", "HTTP 200 with an empty body"),
    ("shape", "bad_response", "unexpected answer: not an object"),
]


@pytest.mark.parametrize(("fault", "kind", "said"), ROUTED_FAULTS)
def test_routed_ips_fault_is_one_request(poll, host, standin, salt_mods, fault, kind, said):
    write_proxyarp(poll, IP1)
    standin.inject(fault, times=2, hang=2.0)  # a retry would get the fault again
    ret = routed(timeout=0.3)
    comment = ret.pop("comment")
    assert ret == {"result": False, "ips": [], "answered": [IP1], "kind": kind}
    assert comment.startswith(f"Online API: GET /server/1001: {said}")
    assert "\n" not in comment and "Traceback" not in comment
    assert [r["path"] for r in standin.requests()] == [SERVER1]
    assert host.ran == [] and events(salt_mods) == []


def test_routed_ips_timeout_bounds_the_poll(poll, standin):
    standin.inject("timeout", times=5, hang=3.0)
    started = time.monotonic()
    ret = routed(timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert (ret["result"], ret["kind"]) == (False, "timeout")
    assert len(standin.requests()) == 1


def test_routed_ips_timeout_defaults_to_the_poll_interval(poll, standin):
    """Without a timeout: the least of poll_interval, request_timeout and 5 s."""
    poll["failover"].update(poll_interval=1, request_timeout=10)
    standin.inject("timeout", times=5, hang=4.0)
    started = time.monotonic()
    ret = routed()
    assert 0.9 < time.monotonic() - started < 2.5
    assert ret["comment"].startswith("Online API: GET /server/1001: no answer within 1 s")


def test_routed_ips_with_the_api_port_closed(poll, online_pillar):
    online_pillar["api_url"] = f"http://127.0.0.1:{closed_port()}/api/v1"
    ret = routed()
    assert (ret["result"], ret["ips"], ret["kind"]) == (False, [], "connection")
    assert ret["comment"].startswith("Online API: GET /server/1001: connection failed: ")
    assert "Connection refused" in ret["comment"]


@pytest.mark.parametrize(
    ("change", "comment"),
    [
        (lambda hv, pillar: pillar.clear(), online.NO_PROVIDER),
        (lambda hv, pillar: pillar.pop("api_token"), online.NO_PROVIDER),
        (lambda hv, pillar: pillar.update(api_token=""), online.NO_PROVIDER),
        (lambda hv, pillar: hv["me"].pop("server_id"), "no online_server_id"),
    ],
)
def test_routed_ips_without_a_provider_is_a_config_fault(poll, standin, online_pillar, change, comment):
    write_proxyarp(poll, IP1)
    change(poll, online_pillar)
    assert routed() == {"result": False, "ips": [], "answered": [IP1], "kind": "config", "comment": comment}
    assert standin.requests() == []


def test_routed_ips_without_an_online_pillar(poll, standin, salt_mods):
    salt_mods["pillar.get"].side_effect = lambda key, default=None, **kwargs: default
    ret = routed()
    assert (ret["result"], ret["kind"], ret["comment"]) == (False, "config", online.NO_PROVIDER)
    assert standin.requests() == []


def test_routed_ips_reads_the_part_of_the_provider_the_settings_name(poll, standin):
    """failover:provider hetzner: the online part (the only one served here) is not read."""
    poll["failover"]["provider"] = "hetzner"
    ret = routed()
    assert (ret["result"], ret["kind"], ret["comment"]) == (False, "config", online.NO_PROVIDER)
    assert standin.requests() == []


def test_routed_ips_with_settings_it_cannot_read(standin, salt_mods):
    salt_mods["hypervisor_pillar.settings"].side_effect = CommandExecutionError("pillar is invalid")
    assert routed() == {
        "result": False,
        "ips": [],
        "answered": [],
        "kind": "config",
        "comment": "cannot read the settings: pillar is invalid",
    }
    assert standin.requests() == []


@pytest.mark.parametrize(
    "change",
    [
        lambda hv, pillar: pillar.update(allow_http=False),  # the stand-in is plain http
        lambda hv, pillar: pillar.update(api_url="ftp://example.net/api/v1"),
    ],
)
def test_routed_ips_with_a_wrong_provider_config(poll, standin, online_pillar, change):
    change(poll, online_pillar)
    ret = routed()
    assert (ret["result"], ret["ips"], ret["kind"]) == (False, [], "config")
    assert ret["comment"].startswith("cannot ask the provider")
    assert standin.requests() == []


def test_routed_ips_never_returns_the_token(poll, standin):
    write_proxyarp(poll, IP1)
    for fault in (None, "401", "503", "reset"):
        standin.clear_faults()
        if fault:
            standin.inject(fault)
        ret = online.routed_ips(timeout=1)
        assert TOKEN not in json.dumps(ret) and TOKEN not in repr(ret)


# ---------------------------------------------------------------- fence, unfence

RESCUE, REBOOT, NORMAL_BOOT = (
    f"/api/v1/server/{verb}/1002" for verb in ("boot/rescue", "reboot", "boot/normal")
)
IMAGES = "/api/v1/server/rescue_images/1002"
DEFAULT_REASON = "fenced by hyp1: its HA cluster holds hyp2 for dead (next boot: rescue)"


def fenced(host, **over):
    ret = online.fence(host, **over)
    assert TOKEN not in json.dumps(ret)
    assert "Traceback" not in ret["comment"] and "\n" not in ret["comment"]
    return ret


def calls(standin):
    return [(r["method"], r["path"], r["status"]) for r in standin.requests()]


def power(standin, server_id=1002):
    return standin.state()["power"][server_id]


def no_rescue_password(standin, salt_mods, caplog, *returns):
    """The rescue credentials the API gave are in no return, event or log record."""
    credentials = power(standin)["rescue_credentials"]
    assert credentials is not None
    shown = json.dumps([*returns, events(salt_mods)]) + caplog.text
    assert credentials["password"] not in shown


def test_fence_boots_rescue_then_reboots(hv, standin, salt_mods, caplog):
    hv.get("takeover", {}).pop("rescue_image", None)
    ret = fenced("hyp2")
    comment = (
        "hyp2 (server 1002) fenced: the API took its hard reboot into the rescue system ubuntu-22.04"
        " (the first the API lists); it stays out until booted normally (online.unfence hyp2)"
    )
    assert ret == {
        "result": True,
        "host": "hyp2",
        "server_id": 1002,
        "image": "ubuntu-22.04",
        "reason": DEFAULT_REASON,
        "rescue": True,
        "rebooted": True,
        "may_have_rebooted": True,
        "comment": comment,
    }
    assert calls(standin) == [("GET", IMAGES, 200), ("POST", RESCUE, 200), ("POST", REBOOT, 200)]
    assert {k: power(standin)[k] for k in ("boot", "image", "running", "reboots", "reasons")} == {
        "boot": "rescue",
        "image": "ubuntu-22.04",
        "running": "rescue",
        "reboots": 1,
        "reasons": [DEFAULT_REASON],
    }
    assert power(standin, 1001)["reboots"] == 0
    started = "fencing hyp2 (server 1002): rescue boot, then a hard reboot"
    assert events(salt_mods) == [
        (
            "hv/fence/started",
            {"host": "hyp2", "server_id": 1002, "reason": DEFAULT_REASON, "comment": started},
        ),
        ("hv/fence/done", {k: ret[k] for k in online.FENCE_EVENT_KEYS}),
    ]
    no_rescue_password(standin, salt_mods, caplog, ret)


def test_fence_uses_the_pillar_rescue_image(hv, standin):
    hv.setdefault("takeover", {})["rescue_image"] = "debian-12"
    ret = fenced("hyp2")
    assert (ret["result"], ret["image"]) == (True, "debian-12")
    assert "debian-12 (hypervisor:takeover:rescue_image)" in ret["comment"]
    assert calls(standin) == [("POST", RESCUE, 200), ("POST", REBOOT, 200)]
    assert power(standin)["image"] == "debian-12"


def test_fence_with_an_image_and_a_reason(hv, standin):
    hv.setdefault("takeover", {})["rescue_image"] = "ubuntu-22.04"
    ret = fenced("hyp2", reason="hyp2 lost its leases\n at 12:00", image="debian-12")
    assert (ret["result"], ret["image"], ret["reason"]) == (
        True,
        "debian-12",
        "hyp2 lost its leases at 12:00",
    )
    assert power(standin)["reasons"] == ["hyp2 lost its leases at 12:00"]


def test_fence_with_an_image_the_server_does_not_offer(hv, standin, salt_mods):
    ret = fenced("hyp2", image="windows-95")
    assert (ret["result"], ret["rescue"], ret["rebooted"]) == (False, False, False)
    assert ret["comment"] == (
        "Online API: POST /server/boot/rescue/1002: HTTP 400:"
        " Invalid rescue image windows-95 for server 1002: not fenced (no reboot asked)"
    )
    assert calls(standin) == [("POST", RESCUE, 400)]
    assert [tag for tag, _ in events(salt_mods)] == ["hv/fence/started", "hv/fence/failed"]


def test_fence_with_a_pillar_image_that_is_no_name(hv, standin):
    hv.setdefault("takeover", {})["rescue_image"] = "debian 12"
    ret = fenced("hyp2")
    assert ret["comment"] == (
        "Online API: boot rescue: 'debian 12' is not a rescue image name: not fenced (no reboot asked)"
    )
    assert standin.requests() == []


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("hyp1", "refused, nothing sent: a host does not fence itself (hyp1 is this host)"),
        ("hyp9", "refused, nothing sent: hyp9 is not a cluster host (hypervisor:hosts: arb1, hyp1, hyp2)"),
        # The arbiter has no server id (the validator refuses one): nothing of it goes through the API.
        ("arb1", "refused, nothing sent: arb1 has no online_server_id in pillar (hypervisor:hosts:arb1)"),
    ],
)
def test_fence_refusals_send_nothing(standin, salt_mods, target, said):
    ret = fenced(target)
    assert ret == {
        "result": False,
        "host": target,
        "server_id": None,
        "image": None,
        "reason": None,
        "rescue": False,
        "rebooted": False,
        "may_have_rebooted": False,
        "comment": said,
    }
    assert standin.requests() == []
    assert events(salt_mods) == [("hv/fence/failed", {k: ret[k] for k in online.FENCE_EVENT_KEYS})]


def test_fence_refuses_the_minion_it_runs_on(hv, standin, grains):
    """Whatever the settings call this host, its minion id is itself too."""
    grains["id"] = "hyp2"
    ret = fenced("hyp2")
    assert ret["comment"] == "refused, nothing sent: a host does not fence itself (hyp2 is this host)"
    assert standin.requests() == []


def test_fence_refuses_a_host_without_server_id(hv, standin):
    del hv["hosts"]["hyp2"]["server_id"]
    ret = fenced("hyp2")
    assert ret["comment"] == (
        "refused, nothing sent: hyp2 has no online_server_id in pillar (hypervisor:hosts:hyp2)"
    )
    assert standin.requests() == []


def test_fence_without_a_provider(standin, online_pillar, salt_mods):
    online_pillar.clear()
    ret = fenced("hyp2")
    assert ret["result"] is False
    assert ret["comment"] == f"refused, nothing sent: {online.NO_PROVIDER}: no host can be fenced"
    assert [tag for tag, _ in events(salt_mods)] == ["hv/fence/failed"]


@pytest.mark.parametrize("kind", ["500", "502", "503", "timeout", "reset", "truncated_json"])
def test_fence_reboot_without_a_clear_answer_claims_nothing(hv, standin, salt_mods, caplog, kind):
    hv["failover"].update(request_timeout=0.3, retries=3)
    standin.inject(kind, times=4, path="/server/reboot", hang=0.5)
    ret = fenced("hyp2")
    assert (ret["result"], ret["rescue"], ret["rebooted"], ret["may_have_rebooted"]) == (
        False,
        True,
        False,
        True,
    )
    assert ret["comment"].startswith("Online API: POST /server/reboot/1002: ")
    assert ret["comment"].endswith(
        ": not known to be fenced: the next boot of hyp2 is the rescue system ubuntu-22.04, but the API"
        " may or may not have taken the reboot (not sent again: one call never reboots twice)"
    )
    assert calls(standin)[:2] == [("GET", IMAGES, 200), ("POST", RESCUE, 200)]
    assert [r["path"] for r in standin.requests()].count(REBOOT) == 1
    assert [tag for tag, _ in events(salt_mods)] == ["hv/fence/started", "hv/fence/failed"]
    assert events(salt_mods)[-1][1] == {k: ret[k] for k in online.FENCE_EVENT_KEYS}
    no_rescue_password(standin, salt_mods, caplog, ret)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("403", "HTTP 403 (the API token is refused: check online:api_token): Access denied"),
        ("404", "HTTP 404: Not found"),
        ("429", "HTTP 429 after 1 retry: Too many requests"),
    ],
)
def test_fence_reboot_refused(standin, kind, said):
    standin.inject(kind, times=2, path="/server/reboot")
    ret = fenced("hyp2")
    assert (ret["result"], ret["rescue"], ret["rebooted"], ret["may_have_rebooted"]) == (
        False,
        True,
        False,
        False,
    )
    assert ret["comment"] == (
        f"Online API: POST /server/reboot/1002: {said}: not fenced: the next boot of hyp2 is"
        " the rescue system ubuntu-22.04, but the API refused the reboot"
    )
    assert power(standin)["reboots"] == 0


@pytest.mark.parametrize(("kind", "times"), [("503", 2), ("401", 1), ("html", 1)])
def test_fence_rescue_boot_failing_asks_no_reboot(hv, standin, salt_mods, kind, times):
    hv.setdefault("takeover", {})["rescue_image"] = "debian-12"
    standin.inject(kind, times=times, path="/server/boot/rescue")
    ret = fenced("hyp2")
    assert (ret["result"], ret["rescue"], ret["rebooted"], ret["may_have_rebooted"]) == (
        False,
        False,
        False,
        False,
    )
    assert ret["comment"].startswith("Online API: POST /server/boot/rescue/1002: ")
    assert ret["comment"].endswith(": not fenced (no reboot asked)")
    assert REBOOT not in [r["path"] for r in standin.requests()]
    assert power(standin)["reboots"] == 0


def test_fence_without_a_rescue_image(hv, standin, monkeypatch):
    hv.get("takeover", {}).pop("rescue_image", None)
    monkeypatch.setattr(standin, "_rescue_images", [])
    ret = fenced("hyp2")
    assert ret["comment"] == "the API lists no rescue image for server 1002: not fenced"
    assert calls(standin) == [("GET", IMAGES, 200)]


def test_fence_when_the_images_cannot_be_listed(hv, standin):
    hv.get("takeover", {}).pop("rescue_image", None)
    standin.inject("500", times=2, path="/server/rescue_images")
    ret = fenced("hyp2")
    assert ret["comment"] == (
        "Online API: GET /server/rescue_images/1002: HTTP 500 after 1 retry: Internal server error:"
        " not fenced (no rescue image to boot)"
    )
    assert [r["path"] for r in standin.requests()] == [IMAGES, IMAGES]


def test_unfence_boots_normally(standin, salt_mods, caplog):
    assert fenced("hyp2")["result"] is True
    ret = online.unfence("hyp2")
    comment = (
        "hyp2 (server 1002) boots from disk at its next boot: reboot it"
        " (from its rescue system, or the provider's console)"
    )
    assert ret == {"result": True, "host": "hyp2", "server_id": 1002, "comment": comment}
    assert calls(standin)[-1] == ("POST", NORMAL_BOOT, 200)
    assert (power(standin)["boot"], power(standin)["image"], power(standin)["reboots"]) == ("normal", None, 1)
    assert events(salt_mods)[-1] == (
        "hv/fence/undone",
        {"host": "hyp2", "server_id": 1002, "comment": comment},
    )
    assert TOKEN not in json.dumps(ret)


def test_unfence_of_this_host_is_allowed(standin):
    assert online.unfence("hyp1")["result"] is True
    assert calls(standin) == [("POST", "/api/v1/server/boot/normal/1001", 200)]


@pytest.mark.parametrize(
    ("target", "fault", "said"),
    [
        ("hyp9", None, "hyp9 is not a cluster host (hypervisor:hosts: arb1, hyp1, hyp2)"),
        ("hyp2", "401", "Online API: POST /server/boot/normal/1002: HTTP 401 (the API token is refused"),
        ("hyp2", "shape", "Online API: POST /server/boot/normal/1002: unexpected answer: not true"),
    ],
)
def test_unfence_failures(standin, salt_mods, target, fault, said):
    if fault:
        standin.inject(fault)
    ret = online.unfence(target)
    assert ret["result"] is False
    assert ret["comment"].startswith(said)
    assert events(salt_mods) == []
    assert power(standin)["boot"] == "normal"


def test_unfence_without_a_provider(online_pillar):
    online_pillar.clear()
    ret = online.unfence("hyp2")
    assert (ret["result"], ret["comment"]) == (False, online.NO_PROVIDER)


def test_an_unchanged_poll_is_recorded_again_only_after_the_heartbeat(tmp_path):
    """The beacon polls every second: the record is rewritten when the outcome changes,
    else every POLL_HEARTBEAT seconds, so the beacon's loop seldom touches the disk."""
    record = str(tmp_path / "state" / "last-poll.json")
    save = online.files.save_poll
    assert save(record, 1000.0, [IP1], None) is True
    assert save(record, 1001.0, [IP1], None) is False
    assert online.files.load_poll(record)["time"] == 1000.0
    assert save(record, 1002.0, [IP1, IP5], None) is True  # another set
    assert save(record, 1003.0, [IP1, IP5], "server") is True  # a failure
    assert save(record, 1003.0 + online.files.POLL_HEARTBEAT, [IP1, IP5], "server") is True
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
