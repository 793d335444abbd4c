"""The failover API client (_utils/failover_api.py) against the stand-in API
(lab/online_api.py) over real HTTP on 127.0.0.1: the three verbs and
generateMac with the real shapes; a move already in place is False (409), any
other 409 refused; every fault the API may give (error statuses, HTML, broken
or cut JSON, an empty body, the wrong shape, a hang, a reset, a closed port)
is a ProviderError of its kind with one clear line; 429/5xx/broken connections
retried (ending in success when the fault passes), 401/403 never; https
required unless allow_http; the exact Bearer header (a .netrc does not replace
it); the token in no message, repr or log record. The fencing verbs (rescue
images, rescue boot, reboot, normal boot): a reboot is never sent twice (not
retried after a 5xx, a timeout, a reset or a cut answer; retried on 429 and
while no connection is made); the rescue credentials are never quoted."""

import json
import logging
import socket
import time

import pytest
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from lab.online_api import StandIn
from tests.loaders import load

fa = load("_utils", "failover_api")
TOKEN = "unit-token-Zq8xW3vK5pL0"
SERVERS = {
    1001: {"hostname": "sd-1001", "public": "203.0.113.11", "private": "198.51.100.11"},
    1002: {"hostname": "sd-1002", "public": "203.0.113.12", "private": None},
}
FAILOVERS = {
    "203.0.113.101": {"destination": "203.0.113.11", "mac": None},
    "203.0.113.102": {"destination": "203.0.113.12", "mac": "52:54:00:aa:bb:cc"},
    "203.0.113.103": {"destination": "203.0.113.12", "mac": "52:54:00:aa:bb:cc"},
    "203.0.113.104": {"destination": None, "mac": None},
}


@pytest.fixture
def standin():
    api = StandIn(SERVERS, FAILOVERS, TOKEN)
    api.serve()
    yield api
    api.close()


@pytest.fixture(autouse=True)
def logs(caplog):
    """Every record at DEBUG; none may hold the token."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in str(record.args)


def client(url, **over):
    config = {
        "provider": "online",
        "api_url": url,
        "api_token": TOKEN,
        "allow_http": True,
        "timeout": 2,
        "retries": 3,
        "backoff": 0.01,
    }
    return fa.provider(dict(config, **over))


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def failure(call):
    with pytest.raises(fa.ProviderError) as info:
        call()
    assert TOKEN not in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


# ------------------------------------------------------------------ the verbs


def test_server(standin):
    standin.route("203.0.113.104", "203.0.113.11")
    assert client(standin.url).server(1001) == fa.Server(
        id=1001, hostname="sd-1001", main_ip="203.0.113.11", failover_ips=("203.0.113.101", "203.0.113.104")
    )
    assert client(standin.url).server(1002).failover_ips == ("203.0.113.102", "203.0.113.103")


def test_failovers(standin):
    assert client(standin.url).failovers() == [
        fa.Failover("203.0.113.101", "203.0.113.11", None),
        fa.Failover("203.0.113.102", "203.0.113.12", "52:54:00:aa:bb:cc"),
        fa.Failover("203.0.113.103", "203.0.113.12", "52:54:00:aa:bb:cc"),
        fa.Failover("203.0.113.104", None, None),
    ]


def test_move_accepted_then_already_there(standin):
    api = client(standin.url)
    assert api.move(["203.0.113.101"], "203.0.113.12") is True
    assert standin.state()["failovers"]["203.0.113.101"]["destination"] == "203.0.113.12"
    assert api.move("203.0.113.101", "203.0.113.12") is False  # 409 Address already provisioned
    assert [(r["method"], r["path"], r["status"]) for r in standin.requests()] == [
        ("POST", "/api/v1/server/failover/edit", 200),
        ("POST", "/api/v1/server/failover/edit", 409),
    ]


def test_unroute_and_already_unrouted(standin):
    api = client(standin.url)
    assert api.move(["203.0.113.101"], None) is True
    assert standin.state()["failovers"]["203.0.113.101"]["destination"] is None
    assert api.move(["203.0.113.101"], None) is False  # Address already deprovisioned


def test_ips_sharing_a_mac_move_together(standin):
    api = client(standin.url)
    error = failure(lambda: api.move(["203.0.113.102"], "203.0.113.11"))
    assert (error.kind, error.status) == ("refused", 400)
    assert "share a virtual MAC" in str(error)
    assert api.move(["203.0.113.102", "203.0.113.103"], "203.0.113.11") is True


def test_generate_mac_and_another_409_is_refused(standin):
    api = client(standin.url)
    mac = api.generate_mac("203.0.113.101")
    assert fa.MAC.match(mac)
    assert standin.state()["failovers"]["203.0.113.101"]["mac"] == mac
    error = failure(lambda: api.generate_mac("203.0.113.101"))
    assert (error.kind, error.status) == ("refused", 409)
    assert "already has a virtual MAC" in str(error)


def test_unknown_server_is_not_found(standin):
    error = failure(lambda: client(standin.url).server(4242))
    assert (error.kind, error.status) == ("not_found", 404)
    assert str(error) == "Online API: GET /server/4242: HTTP 404: Server 4242 not found"


def test_destination_not_a_server_is_refused(standin):
    error = failure(lambda: client(standin.url).move(["203.0.113.101"], "192.0.2.9"))
    assert (error.kind, error.status) == ("refused", 400)


# ------------------------------------------------------------------ auth


def test_wrong_token_is_auth_and_never_retried(standin):
    error = failure(
        lambda: fa.provider(dict(api_url=standin.url, api_token="wrong-token", allow_http=True)).failovers()
    )
    assert (error.kind, error.status) == ("auth", 401)
    assert "invalid_token" in str(error) and "online:api_token" in str(error)
    assert len(standin.requests()) == 1


@pytest.mark.parametrize("status", ["401", "403"])
def test_401_403_never_retried(standin, status):
    standin.inject(status, times=5)
    error = failure(lambda: client(standin.url).failovers())
    assert (error.kind, error.status) == ("auth", int(status))
    assert len(standin.requests()) == 1


def test_bearer_header_is_not_replaced_by_netrc(standin, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert client(standin.url).server(1001).id == 1001


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("kind", "error_kind"),
    [("429", "rate_limited"), ("500", "server"), ("502", "server"), ("503", "server")],
)
def test_retried_statuses_fail_after_the_retries(standin, kind, error_kind):
    standin.inject(kind, times=4)
    error = failure(lambda: client(standin.url).failovers())
    assert (error.kind, error.status) == (error_kind, int(kind))
    assert str(error).startswith(f"Online API: GET /server/failover: HTTP {kind} after 3 retries: ")
    assert len(standin.requests()) == 4


def test_retries_ending_in_success(standin):
    standin.inject("503", times=2)
    assert len(client(standin.url).failovers()) == 4
    assert [r["status"] for r in standin.requests()] == [503, 503, 200]


def test_a_move_retried_after_a_503_is_done_once(standin):
    standin.inject("503", times=1, path="/server/failover/edit")
    assert client(standin.url).move(["203.0.113.101"], "203.0.113.12") is True
    assert [r["status"] for r in standin.requests()] == [503, 200]


def test_503_message_quotes_the_api(standin):
    standin.inject("503", times=4)
    error = failure(lambda: client(standin.url).server(1001))
    assert str(error) == (
        "Online API: GET /server/1001: HTTP 503 after 3 retries: Service temporarily unavailable"
    )


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("html", "an HTML page, not JSON"),
        ("invalid_json", "invalid JSON"),
        ("truncated_json", "invalid JSON"),
        ("empty", "empty body"),
        ("shape", "unexpected answer: not a list"),
    ],
)
def test_bad_answers_on_a_list(standin, kind, said):
    standin.inject(kind)
    error = failure(lambda: client(standin.url).failovers())
    assert (error.kind, error.status) == ("bad_response", None)
    assert str(error).startswith("Online API: GET /server/failover: ")
    assert said in str(error)
    assert len(standin.requests()) == 1


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("html", "an HTML page, not JSON"),
        ("invalid_json", "invalid JSON"),
        ("truncated_json", "invalid JSON"),
        ("empty", "empty body"),
        ("shape", "unexpected answer: not an object"),
    ],
)
def test_bad_answers_on_an_object(standin, kind, said):
    standin.inject(kind)
    error = failure(lambda: client(standin.url).server(1001))
    assert error.kind == "bad_response"
    assert said in str(error)


def test_a_move_answered_with_the_wrong_shape(standin):
    standin.inject("shape", path="/server/failover/edit")
    error = failure(lambda: client(standin.url).move(["203.0.113.101"], "203.0.113.12"))
    assert error.kind == "bad_response"
    assert str(error) == "Online API: POST /server/failover/edit: unexpected answer: not true"


def test_timeout_after_the_retries(standin):
    standin.inject("timeout", times=2, hang=2.0)
    error = failure(lambda: client(standin.url, timeout=0.3, retries=1).failovers())
    assert (error.kind, error.status) == ("timeout", None)
    assert str(error) == "Online API: GET /server/failover: no answer within 0.3 s after 1 retry"
    assert len(standin.requests()) == 2


def test_one_timeout_is_retried(standin):
    standin.inject("timeout", times=1, hang=2.0)
    assert len(client(standin.url, timeout=0.3).failovers()) == 4


def test_reset_after_the_retries(standin):
    standin.inject("reset", times=4)
    error = failure(lambda: client(standin.url).failovers())
    assert (error.kind, error.status) == ("connection", None)
    assert str(error).startswith("Online API: GET /server/failover: connection failed after 3 retries: ")
    assert len(standin.requests()) == 4


def test_one_reset_is_retried(standin):
    standin.inject("reset", times=1)
    assert len(client(standin.url).failovers()) == 4


def test_refused_connection():
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    error = failure(lambda: client(url, retries=1).failovers())
    assert (error.kind, error.status) == ("connection", None)
    assert (
        str(error) == "Online API: GET /server/failover: connection failed after 1 retry: Connection refused"
    )


def test_a_server_echoing_the_token_does_not_get_it_shown():
    api = client("http://127.0.0.1:9/api/v1")
    body = json.dumps({"error": "invalid_token", "error_description": f"token {TOKEN} is unknown"}).encode()
    assert api._error_text(body) == "invalid_token: token <token> is unknown"


# ------------------------------------------------------------------ configuration


def test_https_required_unless_allow_http():
    with pytest.raises(ValueError, match="is not https://"):
        fa.provider({"api_url": "http://127.0.0.1:9/api/v1", "api_token": TOKEN})
    assert fa.provider({"api_url": "https://api.online.net/api/v1", "api_token": TOKEN}).api_url == (
        "https://api.online.net/api/v1"
    )


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"provider": "ovh", "api_token": TOKEN}, "not supported"),
        ({"api_token": ""}, "token (online:api_token) is missing"),
        ({"api_token": TOKEN + "\nX-Evil: 1"}, "whitespace or control characters"),
        ({"api_url": "ftp://x", "api_token": TOKEN}, "http(s) URL"),
    ],
)
def test_wrong_configuration(config, said):
    with pytest.raises(ValueError) as info:
        fa.provider(config)
    assert said in str(info.value)
    assert TOKEN not in str(info.value)


def test_session_settings():
    api = fa.provider({"api_url": "https://api.online.net/api/v1", "api_token": TOKEN, "retries": 2})
    assert api._session.verify is True
    assert TOKEN not in repr(api) and TOKEN not in repr(api._session.auth)
    retry = api._session.get_adapter("https://api.online.net/").max_retries
    assert isinstance(retry, Retry)
    assert retry.total == 2
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert {"GET", "POST"} <= set(retry.allowed_methods)
    assert retry.respect_retry_after_header is True
    assert retry.raise_on_status is False
    assert isinstance(api, fa.FailoverProvider) and api.Error is fa.ProviderError


# ------------------------------------------------------------------ fencing verbs

REBOOT = "/api/v1/server/reboot/1002"


def power(standin, server_id=1002):
    return standin.state()["power"][server_id]


def test_rescue_images(standin):
    assert client(standin.url).rescue_images(1002) == ["ubuntu-22.04", "debian-12"]
    assert [(r["method"], r["path"]) for r in standin.requests()] == [
        ("GET", "/api/v1/server/rescue_images/1002")
    ]


def test_rescue_boot_reboot_and_normal_boot(standin, logs):
    api = client(standin.url)
    assert api.boot_rescue(1002, "debian-12") is True
    password = power(standin)["rescue_credentials"]["password"]
    assert (power(standin)["boot"], power(standin)["image"], power(standin)["running"]) == (
        "rescue",
        "debian-12",
        "normal",
    )
    assert api.reboot(1002, "fenced by hyp1:\n its leases expired") is True
    assert (power(standin)["running"], power(standin)["reboots"]) == ("rescue", 1)
    assert power(standin)["reasons"] == ["fenced by hyp1: its leases expired"]
    assert api.boot_normal(1002) is True
    assert (power(standin)["boot"], power(standin)["image"], power(standin)["reboots"]) == ("normal", None, 1)
    assert [(r["method"], r["path"], r["status"]) for r in standin.requests()] == [
        ("POST", "/api/v1/server/boot/rescue/1002", 200),
        ("POST", REBOOT, 200),
        ("POST", "/api/v1/server/boot/normal/1002", 200),
    ]
    assert power(standin, 1001)["reboots"] == 0
    assert password not in logs.text
    for record in logs.records:
        assert password not in record.getMessage() and password not in str(record.args)


@pytest.mark.parametrize(
    "call",
    [
        lambda api: api.rescue_images(4242),
        lambda api: api.boot_rescue(4242, "debian-12"),
        lambda api: api.reboot(4242, "test"),
        lambda api: api.boot_normal(4242),
    ],
    ids=["rescue_images", "boot_rescue", "reboot", "boot_normal"],
)
def test_fencing_verbs_on_an_unknown_server(standin, call):
    error = failure(lambda: call(client(standin.url)))
    assert (error.kind, error.status) == ("not_found", 404)
    assert str(error).endswith("HTTP 404: Server 4242 not found")


def test_an_image_the_server_does_not_offer_is_refused(standin):
    error = failure(lambda: client(standin.url).boot_rescue(1002, "windows-95"))
    assert (error.kind, error.status) == ("refused", 400)
    assert power(standin)["boot"] == "normal"


@pytest.mark.parametrize("image", ["", "  ", None, "debian 12", "a/b", "x\nX-Evil: 1", "-x", "dé"])
def test_an_image_that_is_no_name_is_not_sent(standin, image):
    with pytest.raises(ValueError, match="is not a rescue image name"):
        client(standin.url).boot_rescue(1002, image)
    assert standin.requests() == []


def test_real_image_names_are_names():
    for image in ("ubuntu-22.04_amd64v2", "debian-12_amd64", "ubuntu-22.04", "rescue:v2+1"):
        assert fa.IMAGE.fullmatch(image)


@pytest.mark.parametrize("reason", ["", "  \n", None])
def test_a_reboot_needs_a_reason(standin, reason):
    with pytest.raises(ValueError, match="a reason is required"):
        client(standin.url).reboot(1002, reason)
    assert standin.requests() == []


@pytest.mark.parametrize(
    ("kind", "call", "said"),
    [
        ("shape", lambda api: api.rescue_images(1002), "not a list of image names"),
        ("shape", lambda api: api.boot_rescue(1002, "debian-12"), "neither rescue credentials nor true"),
        ("shape", lambda api: api.reboot(1002, "test"), "not true"),
        ("shape", lambda api: api.boot_normal(1002), "not true"),
    ],
    ids=["rescue_images", "boot_rescue", "reboot", "boot_normal"],
)
def test_fencing_verbs_check_the_shape(standin, kind, call, said):
    standin.inject(kind)
    error = failure(lambda: call(client(standin.url)))
    assert error.kind == "bad_response"
    assert str(error).endswith(f"unexpected answer: {said}")


@pytest.mark.parametrize("kind", ["truncated_json", "invalid_json", "html"])
def test_a_rescue_boot_answer_is_never_quoted(standin, kind):
    """Its answer holds the rescue system's password: an error about it quotes none of it."""
    standin.inject(kind, path="/server/boot/rescue")
    error = failure(lambda: client(standin.url).boot_rescue(1002, "debian-12"))
    assert error.kind == "bad_response"
    assert str(error).startswith("Online API: POST /server/boot/rescue/1002: HTTP 200: ")
    assert "sd-1002" not in str(error) and "password" not in str(error) and "<" not in str(error)
    if kind == "truncated_json":  # the API took it (and made a password) but the answer was cut
        password = power(standin)["rescue_credentials"]["password"]
        assert password[:6] not in str(error)


def test_rescue_boot_and_normal_boot_are_retried(standin):
    """Setting the next boot twice is harmless: retried as any call."""
    standin.inject("503", times=1, path="/server/boot/rescue")
    standin.inject("502", times=1, path="/server/boot/normal")
    api = client(standin.url)
    assert api.boot_rescue(1002, "debian-12") is True
    assert api.boot_normal(1002) is True
    assert [r["status"] for r in standin.requests()] == [503, 200, 502, 200]


@pytest.mark.parametrize(("kind", "error_kind"), [("500", "server"), ("502", "server"), ("503", "server")])
def test_a_reboot_answered_5xx_is_not_sent_again(standin, kind, error_kind):
    standin.inject(kind, times=4, path="/server/reboot")
    error = failure(lambda: client(standin.url).reboot(1002, "test"))
    assert (error.kind, error.status) == (error_kind, int(kind))
    assert str(error).startswith(f"Online API: POST /server/reboot/1002: HTTP {kind}: ")
    assert [r["path"] for r in standin.requests()] == [REBOOT]


def test_a_reboot_without_an_answer_is_not_sent_again(standin):
    """The stand-in answers (and reboots) after the client gave up: one reboot, never two."""
    standin.inject("timeout", times=4, path="/server/reboot", hang=0.6)
    error = failure(lambda: client(standin.url, timeout=0.3).reboot(1002, "test"))
    assert (error.kind, error.status) == ("timeout", None)
    assert str(error) == (
        "Online API: POST /server/reboot/1002: no answer within 0.3 s"
        " (not retried: the API may have taken it)"
    )
    assert [r["path"] for r in standin.requests()] == [REBOOT]
    deadline = time.monotonic() + 5
    while power(standin)["reboots"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert power(standin)["reboots"] == 1
    assert len(standin.requests()) == 1


def test_a_reboot_whose_connection_is_reset_is_not_sent_again(standin):
    standin.inject("reset", times=4, path="/server/reboot")
    error = failure(lambda: client(standin.url).reboot(1002, "test"))
    assert (error.kind, error.status) == ("connection", None)
    assert str(error).startswith(
        "Online API: POST /server/reboot/1002: connection failed (not retried: the API may have taken it): "
    )
    assert len(standin.requests()) == 1


def test_a_reboot_with_a_cut_answer_is_not_sent_again(standin):
    standin.inject("truncated_json", times=4, path="/server/reboot")
    error = failure(lambda: client(standin.url).reboot(1002, "test"))
    assert error.kind == "bad_response"
    assert (len(standin.requests()), power(standin)["reboots"]) == (1, 1)


def test_a_reboot_refused_with_429_is_retried(standin):
    """429: the API did not take it (and says when to come back): sent again."""
    standin.inject("429", times=2, path="/server/reboot")
    assert client(standin.url).reboot(1002, "test") is True
    assert [r["status"] for r in standin.requests()] == [429, 429, 200]
    assert power(standin)["reboots"] == 1


def test_a_reboot_is_retried_while_no_connection_is_made():
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    error = failure(lambda: client(url, retries=1).reboot(1002, "test"))
    assert (error.kind, error.status) == ("connection", None)
    assert str(error) == (
        "Online API: POST /server/reboot/1002: connection failed after 1 retry: Connection refused"
    )


def test_each_reboot_opens_its_own_connection(standin, monkeypatch):
    """Not a kept-alive one the server may have dropped since (a reset then would not be
    retried); the calls before it keep theirs."""
    api = client(standin.url)
    opened = []
    real = HTTPAdapter.get_connection_with_tls_context

    def spy(adapter, *args, **kwargs):
        pool = real(adapter, *args, **kwargs)
        opened.append(pool.num_connections)
        return pool

    monkeypatch.setattr(HTTPAdapter, "get_connection_with_tls_context", spy)
    api.rescue_images(1002)
    api.boot_rescue(1002, "debian-12")
    api.reboot(1002, "one")
    api.reboot(1002, "two")
    assert opened == [0, 1, 0, 0]  # the pool's connections so far, as each call starts
    assert power(standin)["reasons"] == ["one", "two"]


def test_reboot_session_settings():
    api = fa.provider({"api_url": "https://api.online.net/api/v1", "api_token": TOKEN, "retries": 2})
    assert api._once.verify is True
    assert TOKEN not in repr(api._once.auth)
    retry = api._once.get_adapter("https://api.online.net/").max_retries
    assert (retry.total, retry.connect, retry.read, retry.status, retry.other) == (2, 2, False, 2, 0)
    assert set(retry.status_forcelist) == {429}
    assert set(retry.allowed_methods) == {"POST"}
    assert retry.raise_on_status is False
