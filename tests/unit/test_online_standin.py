"""The stand-in for the Online.net API (lab/online_api.py), over real HTTP on 127.0.0.1:
endpoints, auth, delayed moves, 409, virtual MAC groups, spacing, the fencing endpoints
(rescue images, rescue boot, reboot, normal boot), every fault kind, and the process mode
with its control socket."""

import contextlib
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lab import online_api
from lab.online_api import FAULT_KINDS, StandIn, control

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-T0KEN-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HYP1, HYP2 = "203.0.113.11", "203.0.113.12"
FO1, FO2, FO3, FO4 = "203.0.113.101", "203.0.113.102", "203.0.113.103", "203.0.113.104"
SHARED_MAC = "52:54:00:aa:bb:01"
SERVERS = {
    1001: {"hostname": "hyp1", "public": HYP1, "private": "198.51.100.11"},
    1002: {"hostname": "hyp2", "public": HYP2, "private": None},
}
FAILOVERS = {
    FO1: {"destination": HYP1, "mac": None},
    FO2: {"destination": HYP2, "mac": None},
    FO3: {"destination": HYP2, "mac": SHARED_MAC},
    FO4: {"destination": HYP2, "mac": SHARED_MAC},
}
MAC_RE = re.compile(r"52:54:00(:[0-9a-f]{2}){3}")


class Api:
    """A served StandIn and a requests session that sends the right token."""

    def __init__(self, standin):
        self.standin = standin
        self.url = standin.serve()
        self.session = requests.Session()

    def get(self, path, headers=AUTH, **kw):
        return self.session.get(self.url + path, headers=headers, timeout=kw.pop("timeout", 5), **kw)

    def post(self, path, data, headers=AUTH, **kw):
        return self.session.post(self.url + path, data=data, headers=headers, timeout=5, **kw)

    def edit(self, source, destination):
        return self.post("/server/failover/edit", {"source": source, "destination": destination})

    def routes(self):
        return {ip: f["destination"] for ip, f in self.standin.state()["failovers"].items()}


@pytest.fixture
def make_api():
    made = []

    def make(**kw):
        api = Api(StandIn(SERVERS, FAILOVERS, TOKEN, **kw))
        made.append(api)
        return api

    yield make
    for api in made:
        api.session.close()
        api.standin.close()


@pytest.fixture
def api(make_api):
    return make_api()


def error_of(response):
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


# --- endpoints -----------------------------------------------------------------------


def test_serve_returns_the_base_url(api):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", api.url)
    assert api.standin.url == api.url


def test_server_has_the_documented_shape(api):
    r = api.get("/server/1001")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {
        "id": 1001,
        "hostname": "hyp1",
        "network": {"ip": [HYP1], "private": ["198.51.100.11"], "ipfo": [FO1]},
        "ip": [
            {"address": HYP1, "type": "public", "mac": "28:92:4a:00:03:e9"},
            {"address": "198.51.100.11", "type": "private", "mac": "28:92:4a:01:03:e9"},
            {"address": FO1, "type": "failover", "mac": None, "destination": HYP1, "status": "active"},
        ],
    }


def test_server_without_private_ip_lists_its_failover_ips(api):
    body = api.get("/server/1002").json()
    assert body["network"] == {"ip": [HYP2], "private": [], "ipfo": [FO2, FO3, FO4]}
    assert [e["type"] for e in body["ip"]] == ["public", "failover", "failover", "failover"]
    assert body["ip"][2] == {
        "address": FO3,
        "type": "failover",
        "mac": SHARED_MAC,
        "destination": HYP2,
        "status": "active",
    }


@pytest.mark.parametrize("path", ["/server/9999", "/server/abc", "/server/failover/nope", "/nothing"])
def test_unknown_resources_are_404(api, path):
    r = api.get(path)
    assert r.status_code == 404
    assert error_of(r)["code"] == 404


def test_outside_the_api_prefix_is_404(api):
    r = api.session.get(api.url.removesuffix("/api/v1") + "/server/failover", headers=AUTH)
    assert r.status_code == 404


def test_wrong_method_is_405(api):
    assert api.post("/server/failover", {}).status_code == 405
    assert api.get("/server/failover/edit").status_code == 405


def test_failover_list(api):
    r = api.get("/server/failover")
    assert r.status_code == 200
    assert r.json() == [
        {"source": FO1, "destination": HYP1, "mac": None, "status": "active"},
        {"source": FO2, "destination": HYP2, "mac": None, "status": "active"},
        {"source": FO3, "destination": HYP2, "mac": SHARED_MAC, "status": "active"},
        {"source": FO4, "destination": HYP2, "mac": SHARED_MAC, "status": "active"},
    ]


# --- auth --------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/server/1001", None),
    ("GET", "/server/failover", None),
    ("POST", "/server/failover/edit", {"source": FO1, "destination": HYP2}),
    ("POST", "/server/failover/generateMac", {"address": FO1, "type": "kvm"}),
    ("GET", "/server/rescue_images/1001", None),
    ("POST", "/server/boot/rescue/1001", {"image": "debian-12"}),
    ("POST", "/server/reboot/1001", {"reason": "test"}),
    ("POST", "/server/boot/normal/1001", None),
]
NORMAL = {
    "boot": "normal",
    "image": None,
    "running": "normal",
    "reboots": 0,
    "reasons": [],
    "rescue_credentials": None,
}
BAD_AUTH = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Authorization: Bearer {TOKEN}"},  # the seed's bug
    {"Authorization": f"bearer {TOKEN}"},
    {"Authorization": TOKEN},
    {"Authorization": f"Bearer {TOKEN} "},
]


@pytest.mark.parametrize("headers", BAD_AUTH, ids=["none", "wrong", "doubled", "lowercase", "bare", "space"])
@pytest.mark.parametrize(("method", "path", "data"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_every_endpoint_needs_the_exact_bearer_token(api, method, path, data, headers):
    r = api.session.request(method, api.url + path, data=data, headers=headers, timeout=5)
    assert r.status_code == 401
    assert error_of(r) == {
        "error": "invalid_token",
        "error_description": "The access token provided is invalid.",
        "code": 401,
    }
    assert api.routes()[FO1] == HYP1
    assert api.standin.state()["failovers"][FO1]["mac"] is None
    assert api.standin.state()["power"][1001] == NORMAL


# --- moves -------------------------------------------------------------------------------


def test_move_takes_effect_at_once_without_delay(api):
    r = api.edit(FO1, HYP2)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() is True
    assert api.routes()[FO1] == HYP2
    assert FO1 in api.get("/server/1002").json()["network"]["ipfo"]
    assert api.get("/server/1001").json()["network"]["ipfo"] == []


def test_empty_destination_unroutes(api):
    assert api.edit(FO1, "").json() is True
    assert api.routes()[FO1] is None
    assert api.get("/server/failover").json()[0]["destination"] is None
    r = api.edit(FO1, "")
    assert r.status_code == 409
    assert error_of(r) == {"error": "Address already deprovisioned", "code": 409}


def test_move_already_in_place_is_409(api):
    r = api.edit(FO1, HYP1)
    assert r.status_code == 409
    assert error_of(r) == {"error": "Address already provisioned", "code": 409}


def test_move_is_pending_for_the_delay(make_api):
    api = make_api(delay=0.4)
    before = time.time()
    assert api.edit(FO1, HYP2).json() is True
    state = api.standin.state()
    assert state["failovers"][FO1]["destination"] == HYP1
    assert state["pending"][FO1]["destination"] == HYP2
    assert before + 0.4 <= state["pending"][FO1]["due"] <= time.time() + 0.4
    assert api.get("/server/failover").json()[0]["destination"] == HYP1
    assert FO1 in api.get("/server/1001").json()["network"]["ipfo"]
    # the same move again while pending: already there
    assert api.edit(FO1, HYP2).status_code == 409
    time.sleep(0.45)
    assert api.get("/server/failover").json()[0]["destination"] == HYP2
    assert api.standin.state()["pending"] == {}


def test_a_later_move_replaces_a_pending_one(make_api):
    api = make_api(delay=0.3)
    assert api.edit(FO1, "").json() is True
    assert api.standin.state()["pending"][FO1]["destination"] is None
    assert api.edit(FO1, HYP2).json() is True
    assert api.standin.state()["pending"][FO1]["destination"] == HYP2
    # back to where it is now: accepted, and cancels the pending move
    assert api.edit(FO1, HYP1).json() is True
    assert api.standin.state()["pending"] == {}
    time.sleep(0.35)
    assert api.routes()[FO1] == HYP1


def test_set_delay_applies_to_later_moves(api):
    api.standin.set_delay(0.3)
    assert api.edit(FO1, HYP2).json() is True
    assert api.routes()[FO1] == HYP1
    time.sleep(0.35)
    assert api.routes()[FO1] == HYP2
    with pytest.raises(ValueError):
        api.standin.set_delay(-1)


def test_move_refusals(api):
    r = api.edit("192.0.2.77", HYP2)
    assert (r.status_code, error_of(r)["code"]) == (404, 404)
    assert "192.0.2.77" in r.json()["error"]
    r = api.edit(FO1, "192.0.2.1")
    assert (r.status_code, error_of(r)["code"]) == (400, 400)
    assert "192.0.2.1" in r.json()["error"]
    assert api.post("/server/failover/edit", {"destination": HYP2}).status_code == 400
    assert api.post("/server/failover/edit", {"source": FO1}).status_code == 400
    assert api.routes() == {ip: f["destination"] for ip, f in FAILOVERS.items()}


def test_ips_sharing_a_mac_move_together(api):
    r = api.edit(FO3, HYP1)
    assert r.status_code == 400
    assert error_of(r) == {"error": f"{FO3}, {FO4} share a virtual MAC and move together", "code": 400}
    assert api.edit(f"{FO1},{FO3}", HYP2).status_code == 400
    assert api.routes()[FO3] == HYP2
    r = api.edit(f"{FO3}, {FO4}", HYP1)
    assert r.json() is True
    assert api.routes()[FO3] == api.routes()[FO4] == HYP1
    assert api.edit(f"{FO4},{FO3}", HYP1).status_code == 409


def test_a_list_move_is_409_only_when_every_ip_is_in_place(api):
    assert api.edit(f"{FO1},{FO2}", HYP2).json() is True
    assert api.routes()[FO1] == api.routes()[FO2] == HYP2
    assert api.edit(f"{FO1},{FO2}", HYP2).status_code == 409


def test_spacing_refuses_quick_successive_moves(make_api):
    api = make_api(spacing=0.5)
    assert api.edit(FO1, HYP2).json() is True
    first = time.time()
    r = api.edit(FO2, HYP1)
    assert r.status_code == 429
    assert error_of(r)["code"] == 429
    assert api.edit(FO1, HYP2).status_code == 409  # a 409 is not held back by spacing
    assert api.routes()[FO2] == HYP2
    time.sleep(max(0.0, first + 0.55 - time.time()))
    assert api.edit(FO2, HYP1).json() is True
    assert api.routes()[FO2] == HYP1


def test_route_control_changes_now(make_api):
    api = make_api(delay=5)
    assert api.edit(FO1, HYP2).json() is True
    before = time.time()
    changed = api.standin.route(FO1, "")
    assert before <= changed <= time.time()
    assert api.standin.state()["pending"] == {}
    assert api.get("/server/failover").json()[0]["destination"] is None
    api.standin.route([FO3, FO4], HYP1)
    assert api.routes()[FO3] == api.routes()[FO4] == HYP1
    with pytest.raises(ValueError):
        api.standin.route("192.0.2.77", HYP1)
    with pytest.raises(ValueError):
        api.standin.route(FO1, "192.0.2.1")


# --- virtual MACs ----------------------------------------------------------------------


def test_generate_mac(api):
    r = api.post("/server/failover/generateMac", {"address": FO1, "type": "kvm"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    mac = r.json()
    assert MAC_RE.fullmatch(mac)
    assert api.standin.state()["failovers"][FO1]["mac"] == mac
    assert api.get("/server/failover").json()[0]["mac"] == mac
    assert api.get("/server/1001").json()["ip"][2]["mac"] == mac
    again = api.post("/server/failover/generateMac", {"address": FO1, "type": "kvm"})
    assert (again.status_code, error_of(again)["code"]) == (409, 409)
    assert api.standin.state()["failovers"][FO1]["mac"] == mac


def test_generate_mac_refusals(api):
    r = api.post("/server/failover/generateMac", {"address": "192.0.2.77", "type": "kvm"})
    assert r.status_code == 404
    assert api.post("/server/failover/generateMac", {"address": FO3, "type": "kvm"}).status_code == 409
    assert api.post("/server/failover/generateMac", {"address": FO1, "type": "hyperv"}).status_code == 400
    assert api.post("/server/failover/generateMac", {"type": "kvm"}).status_code == 400
    assert api.standin.state()["failovers"][FO1]["mac"] is None


# --- fencing: rescue images, rescue boot, reboot, normal boot -----------------------------


def power(api, server_id=1002):
    return api.standin.state()["power"][server_id]


def test_rescue_images(api):
    r = api.get("/server/rescue_images/1002")
    assert (r.status_code, r.headers["Content-Type"]) == (200, "application/json")
    assert r.json() == list(online_api.RESCUE_IMAGES) == ["ubuntu-22.04", "debian-12"]


def test_rescue_images_from_the_config():
    config = {"servers": {"1001": SERVERS[1001]}, "failovers": {}, "rescue_images": ["rescue-x"]}
    api = Api(StandIn.from_config(config, TOKEN))
    try:
        assert api.get("/server/rescue_images/1001").json() == ["rescue-x"]
    finally:
        api.session.close()
        api.standin.close()


def test_rescue_boot_answers_credentials_and_sets_the_next_boot(api):
    r = api.post("/server/boot/rescue/1002", {"image": "debian-12"})
    assert r.status_code == 200
    credentials = r.json()
    assert set(credentials) == {"login", "password", "protocol", "ip"}
    assert (credentials["login"], credentials["protocol"], credentials["ip"]) == ("sd-1002", "ssh", HYP2)
    assert len(credentials["password"]) >= 12
    assert power(api) == dict(NORMAL, boot="rescue", image="debian-12", rescue_credentials=credentials)
    again = api.post("/server/boot/rescue/1002", {"image": "ubuntu-22.04"}).json()
    assert again["password"] != credentials["password"]
    assert power(api)["image"] == "ubuntu-22.04"
    assert power(api, 1001) == NORMAL


def test_reboot_boots_the_next_boot_and_counts(api):
    assert api.post("/server/reboot/1002", {"reason": "one"}).json() is True
    assert power(api) == dict(NORMAL, reboots=1, reasons=["one"])
    api.post("/server/boot/rescue/1002", {"image": "debian-12"})
    assert power(api)["running"] == "normal"  # until the next reboot
    r = api.post("/server/reboot/1002", {"reason": "  fenced by hyp1  "})
    assert (r.status_code, r.json()) == (200, True)
    assert (power(api)["running"], power(api)["reboots"]) == ("rescue", 2)
    assert power(api)["reasons"] == ["one", "fenced by hyp1"]


def test_normal_boot_undoes_the_rescue_boot(api):
    api.post("/server/boot/rescue/1002", {"image": "debian-12"})
    api.post("/server/reboot/1002", {"reason": "fence"})
    r = api.post("/server/boot/normal/1002", {})
    assert (r.status_code, r.json()) == (200, True)
    assert power(api) == dict(NORMAL, running="rescue", reboots=1, reasons=["fence"])
    api.post("/server/reboot/1002", {"reason": "back"})
    assert power(api)["running"] == "normal"


@pytest.mark.parametrize(
    ("path", "data", "said"),
    [
        ("/server/boot/rescue/1002", {}, "Missing parameter: image"),
        ("/server/boot/rescue/1002", {"image": "windows-95"}, "Invalid rescue image windows-95"),
        ("/server/reboot/1002", {}, "Missing parameter: reason"),
        ("/server/reboot/1002", {"reason": "  "}, "Missing parameter: reason"),
    ],
)
def test_fencing_refusals(api, path, data, said):
    r = api.post(path, data)
    assert r.status_code == 400
    assert error_of(r)["error"].startswith(said)
    assert power(api) == NORMAL


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/server/rescue_images/9999"),
        ("POST", "/server/boot/rescue/9999"),
        ("POST", "/server/reboot/9999"),
        ("POST", "/server/boot/normal/9999"),
    ],
)
def test_fencing_an_unknown_server_is_404(api, method, path):
    data = {"image": "debian-12", "reason": "test"}
    r = api.session.request(method, api.url + path, data=data, headers=AUTH, timeout=5)
    assert r.status_code == 404
    assert error_of(r) == {"error": "Server 9999 not found", "code": 404}


def test_fencing_wrong_method_is_405(api):
    assert api.get("/server/reboot/1002").status_code == 405
    assert api.get("/server/boot/normal/1002").status_code == 405
    assert api.post("/server/rescue_images/1002", {}).status_code == 405
    assert power(api) == NORMAL


def test_faults_apply_to_the_fencing_endpoints(api):
    api.standin.inject("503", path="/server/reboot")
    assert api.post("/server/reboot/1002", {"reason": "x"}).status_code == 503
    assert power(api)["reboots"] == 0
    api.standin.inject("truncated_json", path="/server/reboot")
    assert api.post("/server/reboot/1002", {"reason": "x"}).text == "tr"
    assert power(api)["reboots"] == 1  # answered for real, cut: the reboot happened
    api.standin.inject("reset", path="/server/boot/rescue")
    with pytest.raises(requests.ConnectionError):
        api.post("/server/boot/rescue/1002", {"image": "debian-12"})
    assert power(api)["boot"] == "normal"
    assert [e["status"] for e in api.standin.requests()] == [503, 200, None]


# --- faults ------------------------------------------------------------------------------

STATUS_FAULTS = ["401", "403", "404", "429", "500", "502", "503"]


@pytest.mark.parametrize("kind", STATUS_FAULTS)
def test_status_faults_answer_a_json_error(api, kind):
    api.standin.inject(kind)
    r = api.get("/server/failover")
    assert r.status_code == int(kind)
    body = error_of(r)
    assert body["code"] == int(kind)
    assert isinstance(body["error"], str)
    assert body["error"]
    assert api.get("/server/failover").status_code == 200  # times=1: the next one is fine


def test_fault_429_says_retry_at_once(api):
    api.standin.inject("429")
    assert api.get("/server/failover").headers["Retry-After"] == "0"


def test_fault_401_looks_like_a_bad_token(api):
    api.standin.inject("401")
    assert api.get("/server/1001").json()["error"] == "invalid_token"


def test_fault_html(api):
    api.standin.inject("html")
    r = api.get("/server/failover")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.text.lstrip().startswith("<!DOCTYPE html>")


def test_fault_invalid_json(api):
    api.standin.inject("invalid_json")
    r = api.get("/server/failover")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_fault_truncated_json_is_a_real_answer_cut(api):
    whole = api.get("/server/1001").text
    api.standin.inject("truncated_json")
    r = api.get("/server/1001")
    assert r.status_code == 200
    assert 0 < len(r.text) < len(whole)
    assert whole.startswith(r.text)
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_fault_truncated_json_on_a_move_still_moves(api):
    api.standin.inject("truncated_json", path="/server/failover/edit")
    r = api.edit(FO1, HYP2)
    assert (r.status_code, r.text) == (200, "tr")
    assert api.routes()[FO1] == HYP2


def test_fault_empty(api):
    api.standin.inject("empty")
    r = api.get("/server/failover")
    assert (r.status_code, r.content) == (200, b"")


def test_fault_shape(api):
    api.standin.inject("shape", times=3)
    assert api.get("/server/failover").json() == {"unexpected": True}
    assert api.get("/server/1001").json() == [1, 2]
    assert api.edit(FO1, HYP2).json() == [1, 2]
    assert api.routes()[FO1] == HYP1


def test_fault_timeout_hangs_then_answers(api):
    api.standin.inject("timeout", hang=0.3)
    start = time.monotonic()
    r = api.get("/server/failover")
    assert time.monotonic() - start >= 0.3
    assert r.status_code == 200
    assert r.json()[0]["source"] == FO1


def test_fault_timeout_beats_a_client_timeout(api):
    api.standin.inject("timeout", hang=5)
    start = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.get("/server/failover", timeout=0.3)
    assert time.monotonic() - start < 2
    assert api.get("/server/failover").status_code == 200


def test_close_ends_a_hang(api):
    api.standin.inject("timeout", hang=30)
    with pytest.raises(requests.Timeout):
        api.get("/server/failover", timeout=0.2)
    start = time.monotonic()
    api.standin.close()
    assert time.monotonic() - start < 3


def test_fault_reset(api):
    api.standin.inject("reset")
    with pytest.raises(requests.ConnectionError):
        api.get("/server/failover")
    assert api.get("/server/failover").status_code == 200
    assert [e["status"] for e in api.standin.requests()] == [None, 200]


@pytest.mark.parametrize("kind", sorted(set(FAULT_KINDS) - {"timeout", "truncated_json"}))
def test_faults_in_the_apis_place_change_nothing(api, kind):
    api.standin.inject(kind)
    try:
        api.edit(FO1, HYP2)
    except requests.ConnectionError:
        assert kind == "reset"
    assert api.routes()[FO1] == HYP1


def test_fault_times_and_path(api):
    api.standin.inject("503", times=2, path="/server/failover")
    assert api.get("/server/1001").status_code == 200
    assert api.get("/server/failover").status_code == 503
    assert api.edit(FO1, HYP2).status_code == 503  # the path is a prefix
    assert api.get("/server/failover").status_code == 200
    assert api.routes()[FO1] == HYP1


def test_faults_queue_in_order(api):
    api.standin.inject("500")
    api.standin.inject("502", path="/api/v1/server/1001")  # the prefix may be given too
    assert api.get("/server/1001").status_code == 500
    assert api.get("/server/1001").status_code == 502
    assert api.get("/server/1001").status_code == 200


def test_clear_faults(api):
    api.standin.inject("503", times=10)
    api.standin.clear_faults()
    assert api.get("/server/failover").status_code == 200


def test_inject_checks_its_arguments(api):
    with pytest.raises(ValueError):
        api.standin.inject("418")
    with pytest.raises(ValueError):
        api.standin.inject("503", times=0)
    with pytest.raises(ValueError):
        api.standin.inject("timeout", hang=-1)


def test_close_refuses_new_and_kept_alive_connections(api):
    assert api.get("/server/failover").status_code == 200
    api.standin.close()
    with pytest.raises(requests.ConnectionError):
        api.get("/server/failover")
    with pytest.raises(requests.ConnectionError):
        requests.get(api.url + "/server/failover", headers=AUTH, timeout=2)
    api.standin.close()  # twice is fine


# --- request log, state, logging -------------------------------------------------------


def test_request_log(api):
    before = time.time()
    api.get("/server/1001")
    api.get("/server/failover", headers={})
    api.edit(FO1, HYP2)
    log = api.standin.requests()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v1/server/1001", 200),
        ("GET", "/api/v1/server/failover", 401),
        ("POST", "/api/v1/server/failover/edit", 200),
    ]
    assert all(set(e) == {"method", "path", "status", "time"} for e in log)
    assert before <= log[0]["time"] <= log[1]["time"] <= log[2]["time"] <= time.time()


def test_state_is_a_copy(api):
    state = api.standin.state()
    assert state == {
        "failovers": FAILOVERS,
        "pending": {},
        "servers": SERVERS,
        "power": {1001: NORMAL, 1002: NORMAL},
    }
    state["failovers"][FO1]["destination"] = None
    assert api.routes()[FO1] == HYP1


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        StandIn(SERVERS, {FO1: {"destination": "192.0.2.1"}}, TOKEN)
    with pytest.raises(ValueError):
        StandIn(SERVERS, {"not-an-ip": {"destination": None}}, TOKEN)
    with pytest.raises(ValueError):
        StandIn(SERVERS, FAILOVERS, "")


def test_logs_requests_never_the_token(api, caplog):
    caplog.set_level(logging.DEBUG)
    api.get("/server/1001")
    api.get("/server/1001", headers={"Authorization": "Bearer not-the-token"})
    api.edit(FO1, HYP2)
    api.standin.inject("reset")
    with pytest.raises(requests.ConnectionError):
        api.get("/server/failover")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /api/v1/server/1001 200" in text
    assert "GET /api/v1/server/1001 401" in text
    assert "POST /api/v1/server/failover/edit 200" in text
    assert "(fault reset)" in text
    assert TOKEN not in text
    assert "not-the-token" not in text
    assert "Authorization" not in text
    assert TOKEN not in repr(api.standin)


# --- process mode ------------------------------------------------------------------------


def write_config(tmp_path):
    config = tmp_path / "api.json"
    config.write_text(
        json.dumps({"servers": {str(k): v for k, v in SERVERS.items()}, "failovers": FAILOVERS, "delay": 0})
    )
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    return config, token_file


def wait_for_socket(path, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if proc.poll() is not None:
            pytest.fail(f"the stand-in exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.05)
    pytest.fail("the control socket never appeared")


def standin_argv(config, token_file, sock):
    return [
        sys.executable,
        "-m",
        "lab.online_api",
        "--listen",
        "127.0.0.1:0",
        "--config",
        str(config),
        "--token-file",
        str(token_file),
        "--control",
        str(sock),
    ]


def start(argv):
    return subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True)


def stop(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stderr.close()


@pytest.fixture
def process(tmp_path):
    config, token_file = write_config(tmp_path)
    sock = tmp_path / "control.sock"
    proc = start(standin_argv(config, token_file, sock))
    try:
        wait_for_socket(sock, proc)
        yield proc, sock
    finally:
        stop(proc)


def test_process_mode(process):
    proc, sock = process
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
        assert TOKEN.encode() not in f.read()

    url = control(sock, "GET", "/url")["url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", url)
    session = requests.Session()
    assert session.get(url + "/server/1001", headers=AUTH, timeout=5).json()["network"]["ipfo"] == [FO1]
    assert session.get(url + "/server/1001", timeout=5).status_code == 401

    before = time.time()
    moved = control(sock, "POST", "/route", {"ip": FO1, "destination": HYP2})["time"]
    assert before <= moved <= time.time()
    assert control(sock, "GET", "/state")["failovers"][FO1] == {"destination": HYP2, "mac": None}
    assert session.post(url + "/server/reboot/1002", data={"reason": "t"}, headers=AUTH, timeout=5).json()
    assert control(sock, "GET", "/state")["power"]["1002"]["reboots"] == 1

    assert control(sock, "POST", "/delay", {"seconds": 0.3}) == {"delay": 0.3}
    move = {"source": FO1, "destination": HYP1}
    assert session.post(url + "/server/failover/edit", data=move, headers=AUTH, timeout=5).json() is True
    state = control(sock, "GET", "/state")
    assert state["pending"][FO1]["destination"] == HYP1
    assert state["servers"]["1001"] == SERVERS[1001]
    time.sleep(0.35)
    assert control(sock, "GET", "/state")["failovers"][FO1]["destination"] == HYP1

    control(sock, "POST", "/fault", {"kind": "503", "times": 2, "path": "/server/failover"})
    assert session.get(url + "/server/failover", headers=AUTH, timeout=5).status_code == 503
    control(sock, "POST", "/clear")
    assert session.get(url + "/server/failover", headers=AUTH, timeout=5).status_code == 200
    control(sock, "POST", "/fault", {"kind": "timeout", "hang": 5})
    with pytest.raises(requests.Timeout):
        session.get(url + "/server/failover", headers=AUTH, timeout=0.3)

    statuses = [(e["method"], e["path"], e["status"]) for e in control(sock, "GET", "/requests")]
    assert statuses[:6] == [
        ("GET", "/api/v1/server/1001", 200),
        ("GET", "/api/v1/server/1001", 401),
        ("POST", "/api/v1/server/reboot/1002", 200),
        ("POST", "/api/v1/server/failover/edit", 200),
        ("GET", "/api/v1/server/failover", 503),
        ("GET", "/api/v1/server/failover", 200),
    ]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not sock.exists()
    stderr = proc.stderr.read()
    assert "GET /api/v1/server/1001 401" in stderr
    assert "ready: API http://127.0.0.1:" in stderr
    assert TOKEN not in stderr


def test_control_refusals(process):
    _proc, sock = process
    with pytest.raises(online_api.ControlError, match="404"):
        control(sock, "GET", "/nothing")
    with pytest.raises(online_api.ControlError, match="400"):
        control(sock, "POST", "/fault", {"kind": "418"})
    with pytest.raises(online_api.ControlError, match="400"):
        control(sock, "POST", "/route", {"ip": "192.0.2.77", "destination": HYP1})
    with pytest.raises(online_api.ControlError, match="400"):
        control(sock, "POST", "/delay", {})


def test_process_replaces_a_stale_socket(tmp_path):
    config, token_file = write_config(tmp_path)
    sock = tmp_path / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()  # the file stays, nobody listens: what a killed stand-in leaves
    proc = start(standin_argv(config, token_file, sock))
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                if control(sock, "GET", "/url")["url"]:
                    break
            time.sleep(0.05)
        assert control(sock, "GET", "/state")["failovers"][FO1]["destination"] == HYP1
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert not sock.exists()
    finally:
        stop(proc)


def test_process_refuses_a_control_socket_in_use(process, tmp_path):
    _proc, sock = process
    config, token_file = write_config(tmp_path)
    second = subprocess.run(
        standin_argv(config, token_file, sock), cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert second.returncode != 0
    assert "in use" in second.stderr
    assert control(sock, "GET", "/url")["url"]


def test_process_refuses_a_control_path_that_is_not_a_socket(tmp_path):
    config, token_file = write_config(tmp_path)
    taken = tmp_path / "not-a-socket"
    taken.write_text("keep me")
    proc = subprocess.run(
        standin_argv(config, token_file, taken), cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode != 0
    assert "not a socket" in proc.stderr
    assert taken.read_text() == "keep me"


def test_process_refuses_an_empty_token_file(tmp_path):
    config, token_file = write_config(tmp_path)
    token_file.write_text("\n")
    sock = tmp_path / "control.sock"
    proc = subprocess.run(
        standin_argv(config, token_file, sock), cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode != 0
    assert "empty" in proc.stderr
    assert not sock.exists()


def test_parse_listen():
    assert online_api.parse_listen("203.0.113.1:8080") == ("203.0.113.1", 8080)
    for bad in ["8080", ":8080", "host:", "host:http"]:
        with pytest.raises(SystemExit):
            online_api.parse_listen(bad)
