"""The Hetzner Robot client (_utils/failover_hetzner.py) against the Robot stand-in
(lab/robot_api.py) over real HTTP on 127.0.0.1: server identity, the failover list,
a move per IP read back (already there: False), un-routing; a refused login is sent
once and never again by that client (Robot blocks an address after repeated failed
logins); a rate limit and a locked switch are errors of their kind, never retried;
5xx and broken connections retried; every malformed answer a ProviderError of kind
bad_response; the fence (rescue system, then a hardware reset asked for first, sent
once); neither the user nor the password in any message, repr or log record."""

import logging
import threading
import time

import pytest

from lab.robot_api import RobotStandIn
from tests.loaders import load

fa = load("_utils", "failover_api")
USER = "#ws+Xq7Lm2Pd"
PASSWORD = "robot-pass-Vb9kR4tN8wQ1"
SERVERS = {
    321: {"public": "198.51.100.21", "name": "hyp1"},
    322: {"public": "198.51.100.22", "name": "hyp2"},
}
MAIN1, MAIN2 = SERVERS[321]["public"], SERVERS[322]["public"]
FAILOVERS = {
    "203.0.113.101": {"active_server_ip": MAIN1, "server_number": 321},
    "203.0.113.102": {"active_server_ip": MAIN2, "server_number": 321},
    "203.0.113.103": {"active_server_ip": None, "server_number": 322},
}


@pytest.fixture
def robot():
    api = RobotStandIn(SERVERS, FAILOVERS, USER, PASSWORD)
    api.serve()
    yield api
    api.close()


@pytest.fixture(autouse=True)
def logs(caplog):
    """Every record at DEBUG; none may hold a credential."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    for record in caplog.records:
        for secret in (USER, PASSWORD):
            assert secret not in record.getMessage()
            assert secret not in str(record.args)


def client(url, **over):
    config = {
        "provider": "hetzner",
        "api_url": url,
        "user": USER,
        "password": PASSWORD,
        "allow_http": True,
        "timeout": 2,
        "retries": 2,
        "backoff": 0.01,
    }
    return fa.provider(dict(config, **over))


def failure(call):
    with pytest.raises(fa.ProviderError) as info:
        call()
    text = str(info.value)
    assert USER not in text and PASSWORD not in text and "\n" not in text
    return info.value


def sent(robot, method=None, path=None):
    return [
        r
        for r in robot.requests()
        if (method is None or r["method"] == method) and (path is None or r["path"] == path)
    ]


# ------------------------------------------------------------------ the verbs


def test_a_server_is_its_main_ip_and_the_failover_ips_routed_to_it(robot):
    api = client(robot.url)
    server = api.server(321)
    assert server == fa.Server(id=321, hostname="hyp1", main_ip=MAIN1, failover_ips=("203.0.113.101",))
    assert api.server(322).failover_ips == ("203.0.113.102",)
    error = failure(lambda: api.server(999))
    assert (error.kind, error.status) == ("not_found", 404) and "SERVER_NOT_FOUND" in str(error)


def test_failovers_lists_every_ip_with_its_route_and_no_mac(robot):
    assert client(robot.url).failovers() == [
        fa.Failover("203.0.113.101", MAIN1, None),
        fa.Failover("203.0.113.102", MAIN2, None),
        fa.Failover("203.0.113.103", None, None),
    ]


def test_an_account_without_failover_ips_lists_none():
    with RobotStandIn(SERVERS, {}, USER, PASSWORD) as robot:
        robot.serve()
        assert client(robot.url).failovers() == []


def test_a_move_routes_each_ip_and_reads_it_back(robot):
    api = client(robot.url)
    assert api.move(["203.0.113.101", "203.0.113.103"], MAIN2) is True
    assert robot.state()["failovers"] == {
        "203.0.113.101": MAIN2,
        "203.0.113.102": MAIN2,
        "203.0.113.103": MAIN2,
    }
    assert len(sent(robot, "POST")) == 2 and len(sent(robot, "GET", "/failover/203.0.113.101")) == 1
    assert api.move("203.0.113.101", MAIN2) is False  # there already: FAILOVER_ALREADY_ROUTED
    assert robot.state()["switches"] == 2


def test_a_move_to_nowhere_unroutes(robot):
    api = client(robot.url)
    assert api.move("203.0.113.101", None) is True
    assert robot.state()["failovers"]["203.0.113.101"] is None
    assert [r["method"] for r in sent(robot, path="/failover/203.0.113.101")] == ["DELETE", "GET"]
    assert api.move("203.0.113.101", None) is False


def test_a_move_that_does_not_read_back_is_an_error(robot, monkeypatch):
    api = client(robot.url)
    real = robot._failover_json

    def stale(ip):  # the switch answered, the route did not change
        answer = real(ip)
        answer["failover"]["active_server_ip"] = MAIN1
        return answer

    monkeypatch.setattr(robot, "_failover_json", stale)
    error = failure(lambda: api.move("203.0.113.101", MAIN2))
    assert error.kind == "bad_response" and f"routed to {MAIN1} after the move to {MAIN2}" in str(error)


def test_a_destination_that_is_no_main_ip_is_refused(robot):
    error = failure(lambda: client(robot.url).move("203.0.113.101", "198.51.100.99"))
    assert (error.kind, error.status) == ("refused", 400) and "INVALID_INPUT" in str(error)
    assert robot.state()["failovers"]["203.0.113.101"] == MAIN1


@pytest.mark.parametrize(("bad", "what"), [(["nope"], "not a list of IP"), ([], "not a list of IP")])
def test_a_move_of_no_ip_is_a_value_error(robot, bad, what):
    with pytest.raises(ValueError, match=what):
        client(robot.url).move(bad, MAIN2)
    assert robot.requests() == []


def test_a_switch_under_way_locks_the_ip(robot):
    robot.switch_time = 1.0
    api = client(robot.url)
    first = threading.Thread(target=api.move, args=("203.0.113.101", MAIN2))
    first.start()
    time.sleep(0.3)
    error = failure(lambda: client(robot.url).move("203.0.113.101", MAIN1))
    first.join()
    assert (error.kind, error.status) == ("busy", 409) and "FAILOVER_LOCKED" in str(error)
    assert robot.state()["failovers"]["203.0.113.101"] == MAIN2


def test_the_rate_limit_is_not_retried(robot):
    robot.switch_limit = 1
    api = client(robot.url)
    assert api.move("203.0.113.101", MAIN2) is True
    error = failure(lambda: api.move("203.0.113.102", MAIN1))
    assert (error.kind, error.status) == ("rate_limited", 403)
    assert "RATE_LIMIT_EXCEEDED" in str(error) and "1 max_request, 3600 interval" in str(error)
    assert len(sent(robot, "POST", "/failover/203.0.113.102")) == 1


# ------------------------------------------------------------------ credentials


def test_a_refused_login_is_sent_once_and_never_again(robot):
    api = client(robot.url, password="not-the-password")
    error = failure(lambda: api.failovers())
    assert (error.kind, error.status) == ("auth", 401)
    assert "check hetzner:user and hetzner:password" in str(error)
    again = failure(lambda: api.server(321))
    assert again.kind == "auth"
    assert len(robot.requests()) == 1 and robot.state()["failed_logins"] == 1
    assert not robot.state()["blocked"]


def test_an_injected_401_stops_the_client(robot):
    robot.inject("401")
    api = client(robot.url)
    assert failure(lambda: api.move("203.0.113.101", MAIN2)).kind == "auth"
    assert failure(lambda: api.move("203.0.113.101", MAIN2)).kind == "auth"
    assert len(robot.requests()) == 1 and robot.state()["failovers"]["203.0.113.101"] == MAIN1


def test_a_blocked_address_says_so(robot):
    robot.block_after = 1
    failure(lambda: client(robot.url, password="wrong-one").failovers())
    error = failure(lambda: client(robot.url).failovers())
    assert (error.kind, error.status) == ("refused", 403) and "BLOCKED" in str(error)
    robot.unblock()
    assert client(robot.url).failovers()


def test_the_credentials_are_in_no_repr_and_sent_as_basic_auth(robot):
    api = client(robot.url)
    for text in (repr(api), repr(api._session.auth), repr(api.__dict__)):
        assert PASSWORD not in text and USER not in text
    api.failovers()  # the stand-in checks the Basic header
    assert sent(robot, "GET", "/failover")[0]["status"] == 200


@pytest.mark.parametrize(
    ("over", "what"),
    [
        ({"user": ""}, "hetzner:user"),
        ({"password": None}, "hetzner:password"),
        ({"password": "two words"}, "hetzner:password holds whitespace"),
        ({"allow_http": False}, "is not https://"),
        ({"provider": "ovh"}, "supported: online, hetzner"),
    ],
)
def test_a_wrong_config_is_a_value_error_naming_it(over, what):
    with pytest.raises(ValueError, match=what) as info:
        client("http://127.0.0.1:9", **over)
    assert PASSWORD not in str(info.value)


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("kind", ["500", "503", "reset"])
def test_a_passing_server_fault_is_retried(robot, kind):
    robot.inject(kind, times=2, path="/failover")
    assert len(client(robot.url).failovers()) == 3
    assert len(sent(robot, "GET", "/failover")) == 3


def test_a_lasting_server_fault_is_an_error_after_the_retries(robot):
    robot.inject("503", times=10)
    error = failure(lambda: client(robot.url).failovers())
    assert (error.kind, error.status) == ("server", 503) and "after 2 retries" in str(error)


@pytest.mark.parametrize("kind", ["html", "invalid_json", "truncated_json", "empty", "shape"])
def test_a_malformed_answer_is_a_bad_response(robot, kind):
    robot.inject(kind, path="/failover")
    assert failure(lambda: client(robot.url).failovers()).kind == "bad_response"


def test_a_slow_answer_is_a_timeout(robot):
    robot.inject("timeout", times=5, hang=3)
    assert failure(lambda: client(robot.url, timeout=0.5, retries=0).failovers()).kind == "timeout"


# ------------------------------------------------------------------ fencing


def test_a_fence_is_a_rescue_system_then_one_hardware_reset(robot, logs):
    api = client(robot.url)
    assert api.rescue_images(322) == ["linux", "vkvm"]
    assert api.boot_rescue(322, "linux") is True
    assert api.reboot(322, "hyp2 held for dead by hyp1") is True
    power = robot.state()["power"][322]
    assert power["running"] == "rescue" and [r["type"] for r in power["resets"]] == ["hw"]
    assert api.boot_normal(322) is True and robot.state()["power"][322]["rescue"] is None
    assert [(r["method"], r["path"]) for r in robot.requests()] == [
        ("GET", "/boot/322/rescue"),
        ("POST", "/boot/322/rescue"),
        ("GET", "/reset/322"),
        ("POST", "/reset/322"),
        ("DELETE", "/boot/322/rescue"),
    ]


def test_the_rescue_password_is_never_quoted(robot, logs, monkeypatch):
    api = client(robot.url)
    api.boot_rescue(322, "linux")
    robot.inject("truncated_json", path="/boot")
    error = failure(lambda: api.boot_rescue(322, "linux"))
    assert error.kind == "bad_response" and "password" not in str(error)
    assert all("password" not in r.getMessage() for r in logs.records)


@pytest.mark.parametrize("kind", ["500", "reset", "truncated_json"])
def test_a_reset_is_never_sent_twice(robot, kind):
    robot.inject(kind, path="/reset/322", method="POST", times=3)
    error = failure(lambda: client(robot.url).reboot(322, "fence"))
    assert len(sent(robot, "POST", "/reset/322")) == 1
    assert error.kind == {"500": "server", "reset": "connection", "truncated_json": "bad_response"}[kind]
    if kind != "truncated_json":  # a cut answer came from a reset that was made
        assert "may have taken it" in str(error) or kind == "500"


def test_a_server_without_a_hardware_reset_is_refused_before_any_reset(robot):
    robot.reset_types = ("sw", "man")
    error = failure(lambda: client(robot.url).reboot(322, "fence"))
    assert error.kind == "refused" and "no hardware reset (it offers: sw, man)" in str(error)
    assert sent(robot, "POST") == []


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_a_reset_needs_a_reason(robot, reason):
    with pytest.raises(ValueError, match="a reason is required"):
        client(robot.url).reboot(322, reason)
    assert robot.requests() == []


def test_an_unknown_rescue_system_is_refused_before_sending(robot):
    with pytest.raises(ValueError, match="not a rescue system name"):
        client(robot.url).boot_rescue(322, "linux; reboot")
    assert robot.requests() == []
