"""The online execution module with failover:provider hetzner, against the Robot
stand-in (lab/robot_api.py) over real HTTP on 127.0.0.1, with the lab's settings
turned into a Hetzner cluster's (the real validator): sync_failover, failover_move
(read back), routed_ips (the beacon's poll), fence (rescue, then one hardware
reset). A refused login is sent once: later calls with the same credentials, from
any process of the host, send nothing for a while (a root-only latch holding a
salted hash, never the credentials); new credentials lift it. Every fault leaves
the proxyarp file as it was, with a clear comment and an error event; neither the
user nor the password is in any return, event, file or log record. Commands
(shorewall, arping) go to a fake that records them; they run for real in the lab."""

import json
import logging
import os
import stat
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.event
import salt.modules.mine
import salt.modules.pillar

from lab.robot_api import RobotStandIn
from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import hetzner_pillar

online = load("_modules", "online")
USER, PASSWORD = "#ws+Unit7Rb", "unit-robot-Qz4mW8pL2x"
HYP1, HYP2 = "203.0.113.11", "203.0.113.12"
IP1, IP2 = "203.0.113.101", "203.0.113.102"
GARP = ["arping", "-U", "-S", "{ip}", "-c", "1", "-i", "eth0", "{ip}"]


@pytest.fixture
def robot(hv):
    servers = {h["server_id"]: {"public": h["public"]["address"], "name": n} for n, h in hv["hosts"].items()}
    servers = {number: s for number, s in servers.items() if number}
    api = RobotStandIn(
        servers,
        {IP1: {"active_server_ip": HYP1}, IP2: {"active_server_ip": HYP2}},
        USER,
        PASSWORD,
    )
    api.serve()
    yield api
    api.close()


@pytest.fixture
def hv(tmp_path):
    pillar = hetzner_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["failover_ips"] = [IP1]
    pillar["hypervisor"]["hosts"]["hyp2"]["failover_ips"] = [IP2]
    del pillar["hypervisor"]["guests"]
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
def hetzner_part(robot):
    return {"api_url": robot.url, "user": USER, "password": PASSWORD, "allow_http": True}


class Host:
    """cmd.run_all on a fake host: every command recorded, each one succeeds."""

    def __init__(self):
        self.ran = []

    def run_all(self, cmd, *args, python_shell=None, ignore_retcode=False, **kwargs):
        assert python_shell is False
        self.ran.append(list(cmd))
        return {"retcode": 0, "stdout": "", "stderr": "", "pid": 1}


@pytest.fixture
def host():
    return Host()


@pytest.fixture
def salt_mods(hv, hetzner_part, host):
    def pillar_get(key, default=None, **kwargs):
        return hetzner_part if key == "hetzner" else default

    return {
        "hypervisor_pillar.settings": create_autospec(lambda: None, return_value=hv),
        "pillar.get": create_autospec(salt.modules.pillar.get, side_effect=pillar_get),
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all, side_effect=host.run_all),
        "event.send": create_autospec(salt.modules.event.send, return_value=True),
        "mine.send": create_autospec(salt.modules.mine.send, return_value=True),
        "mine.get": create_autospec(salt.modules.mine.get, return_value={}),
    }


@pytest.fixture
def configure_loader_modules(salt_mods):
    return {online: {"__salt__": salt_mods, "__grains__": {"id": "hyp1"}}}


@pytest.fixture(autouse=True)
def no_credentials_in_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        for secret in (USER, PASSWORD):
            assert secret not in record.getMessage() and secret not in str(record.args)


def clean(ret):
    text = json.dumps(ret)
    assert USER not in text and PASSWORD not in text
    return ret


def events(salt_mods):
    return clean([(c.args[0], c.args[1]) for c in salt_mods["event.send"].call_args_list])


def proxyarp(hv):
    try:
        with open(os.path.join(hv["firewall"]["config_dir"], "proxyarp"), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def test_the_settings_name_each_hosts_robot_number(hv):
    assert {n: h["server_id"] for n, h in hv["hosts"].items()} == {"hyp1": 301, "hyp2": 302, "arb1": None}
    assert hv["failover"]["provider"] == "hetzner" and hv["failover"]["configured"] is True


def test_sync_answers_for_the_ips_robot_routes_here(hv, host, robot):
    ret = clean(online.sync_failover())
    assert (ret["result"], ret["ips"], ret["added"]) == (True, [IP1], [IP1])
    assert IP1.encode() in proxyarp(hv) and IP2.encode() not in proxyarp(hv)
    asked = [(r["method"], r["path"]) for r in robot.requests()]
    assert asked == [("GET", "/server/301"), ("GET", "/failover")]


def test_a_move_is_routed_and_read_back(hv, robot, salt_mods):
    ret = clean(online.failover_move(IP1, "hyp2"))
    assert ret["result"] is True and ret["confirmed"] is True, ret
    assert robot.state()["failovers"][IP1] == HYP2
    assert ("POST", f"/failover/{IP1}") in [(r["method"], r["path"]) for r in robot.requests()]
    assert [tag for tag, _data in events(salt_mods)] == ["hv/failover/move/started", "hv/failover/move/done"]


def test_the_poll_reads_the_ips_routed_here(hv, robot):
    assert clean(online.routed_ips())["ips"] == [IP1]


def test_a_refused_login_is_sent_once_from_this_host(hv, robot, hetzner_part, tmp_path):
    hetzner_part["password"] = "not-the-password"
    first = clean(online.routed_ips())
    assert (first["result"], first["kind"]) == (False, "auth")
    assert "check hetzner:user and hetzner:password" in first["comment"]
    # The next poll, a sync and a move (other processes, new provider objects): nothing sent.
    again = clean(online.routed_ips())
    assert again["kind"] == "auth" and again["comment"].startswith("not sent: hetzner's API refused")
    assert clean(online.sync_failover())["result"] is False
    assert clean(online.failover_move(IP1, "hyp2"))["result"] is False
    assert len(robot.requests()) == 1 and robot.state()["failed_logins"] == 1
    latch = os.path.join(hv["failover"]["state_dir"], "auth-refused.json")
    assert stat.S_IMODE(os.stat(latch).st_mode) == 0o600
    with open(latch) as handle:
        text = handle.read()
    assert "not-the-password" not in text and USER not in text
    # The operator fixes the password: the next call is sent, and succeeds.
    hetzner_part["password"] = PASSWORD
    assert clean(online.routed_ips())["ips"] == [IP1]


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("rate_limit", "RATE_LIMIT_EXCEEDED"),
        ("locked", "FAILOVER_LOCKED"),
        ("503", "HTTP 503 after 1 retry"),
        ("html", "an HTML page"),
        ("shape", "unexpected answer"),
        ("truncated_json", "invalid JSON"),
        ("timeout", "no answer within 2 s"),
    ],
)
def test_a_fault_leaves_the_host_as_it_was_and_says_so(hv, host, robot, salt_mods, kind, said):
    clean(online.sync_failover())
    before, ran = proxyarp(hv), list(host.ran)
    robot.inject(kind, times=2, path="/failover", hang=3)
    robot.route(IP2, HYP1)  # a change the host would follow, were the API answering
    ret = clean(online.sync_failover())
    assert ret["result"] is False and said in ret["comment"], ret
    assert proxyarp(hv) == before and host.ran == ran
    assert ("hv/failover/error", {"op": "sync", "error": ret["comment"]}) in events(salt_mods)


def test_a_fence_is_a_rescue_system_then_one_hardware_reset(hv, robot, salt_mods):
    ret = clean(online.fence("hyp2", reason="hyp2 held for dead"))
    assert ret["result"] is True and ret["image"] == "linux" and ret["rebooted"] is True, ret
    power = robot.state()["power"][302]
    assert power["running"] == "rescue" and [r["type"] for r in power["resets"]] == ["hw"]
    assert robot.state()["power"][301]["resets"] == []
    assert clean(online.unfence("hyp2"))["result"] is True
    tags = [tag for tag, _data in events(salt_mods)]
    assert tags == ["hv/fence/started", "hv/fence/done", "hv/fence/undone"]


def test_the_arbiter_is_never_fenced(hv, robot):
    ret = clean(online.fence("arb1"))
    assert ret["result"] is False and "arb1 has no hetzner_server_number" in ret["comment"]
    assert robot.requests() == []
