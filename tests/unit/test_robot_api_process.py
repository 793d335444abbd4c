"""The Robot stand-in as a process (``python -m lab.robot_api``) on 127.0.0.1, as the lab
runs it: the real Hetzner client (_utils/failover_hetzner.py) against it, its control
socket (state, requests, route, faults, limits, unblock, refusals), the credentials
read from a file and found in no request log, output or command line, SIGTERM."""

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lab.robot_api import ControlError, control
from tests.loaders import load

hetzner = load("_utils", "failover_hetzner")
REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "hvlab-robot-0a1b2c", "hvlab-pass-Kq8Zr2Lm5Wx9"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
MAIN1, MAIN2 = "198.51.100.21", "198.51.100.22"
FO1, FO2, FO3 = "203.0.113.101", "203.0.113.102", "203.0.113.103"
CONFIG = {
    "servers": {
        "321": {"server_ip": MAIN1, "hostname": "hyp1"},
        "322": {"server_ip": MAIN2, "hostname": "hyp2"},
    },
    "failovers": {
        FO1: {"server_ip": MAIN1, "active_server_ip": MAIN1},
        FO2: {"server_ip": MAIN2, "active_server_ip": MAIN2},
        FO3: {"server_ip": MAIN2, "active_server_ip": None},
    },
    "switch_limit": 100,
}


def write_files(tmp_path, credentials=None):
    config = tmp_path / "robot.json"
    config.write_text(json.dumps(CONFIG))
    secret = tmp_path / "credentials.json"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({"user": USER, "password": PASSWORD}) if credentials is None else credentials)
    return config, secret


def argv(config, secret, sock):
    return [
        *(sys.executable, "-m", "lab.robot_api", "--listen", "127.0.0.1:0", "--config", str(config)),
        *("--credentials-file", str(secret), "--control", str(sock)),
    ]


@pytest.fixture
def robot(tmp_path):
    """The running process, its control socket and its API's URL."""
    config, secret = write_files(tmp_path)
    sock = tmp_path / "control.sock"
    proc = subprocess.Popen(argv(config, secret, sock), cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the stand-in did not start: {proc.poll()}")
            time.sleep(0.05)
        yield proc, sock, control(sock, "GET", "/url")["url"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def client(url, password=PASSWORD):
    return hetzner.HetznerRobotProvider(
        url, USER, password, timeout=2, retries=2, backoff=0.01, allow_http=True
    )


def failure(api, call):
    with pytest.raises(api.Error) as info:
        call()
    return info.value


def test_the_hetzner_client_against_the_process(robot):
    proc, sock, url = robot
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert url.startswith("http://127.0.0.1:")
    api = client(url)
    assert api.server(321) == hetzner.Server(id=321, hostname="hyp1", main_ip=MAIN1, failover_ips=(FO1,))
    assert [(f.ip, f.destination) for f in api.failovers()] == [(FO1, MAIN1), (FO2, MAIN2), (FO3, None)]
    assert api.move(FO1, MAIN2) is True and api.move(FO1, MAIN2) is False
    assert control(sock, "GET", "/state")["failovers"] == {FO1: MAIN2, FO2: MAIN2, FO3: None}

    # moved from Robot's web interface: the client reads it
    before = time.time()
    assert before <= control(sock, "POST", "/route", {"ip": FO3, "destination": MAIN1})["time"] <= time.time()
    assert api.server(321).failover_ips == (FO3,)

    # faults: for the method and path asked, gone after their times or a clear
    control(sock, "POST", "/fault", {"kind": "503", "times": 2, "path": "/failover", "method": "GET"})
    assert len(api.failovers()) == 3  # retried twice
    control(sock, "POST", "/fault", {"kind": "locked", "path": "/failover/", "method": "POST"})
    assert failure(api, lambda: api.move(FO1, MAIN1)).kind == "busy"
    control(sock, "POST", "/fault", {"kind": "rate_limit", "times": 5})
    control(sock, "POST", "/clear")
    assert api.move(FO1, MAIN1) is True

    # limits: a switch limit reached, then a blocked address after a refused login
    assert control(sock, "POST", "/limits", {"switch_limit": 1, "block_after": 1})["switch_limit"] == 1
    assert failure(api, lambda: api.move(FO2, MAIN1)).kind == "rate_limited"
    assert failure(api, lambda: client(url, "wrong-password").failovers()).kind == "auth"
    assert control(sock, "GET", "/state")["blocked"] is True
    assert failure(api, lambda: client(url).failovers()).status == 403
    assert control(sock, "POST", "/unblock") == {"ok": True}
    assert control(sock, "POST", "/limits", {"switch_limit": 50})["switch_limit"] == 50
    assert api.move(FO2, MAIN1) is True
    assert control(sock, "GET", "/limits")["reset_types"] == ["sw", "hw", "man"]

    # the fence: a rescue system for the next boot, then a hardware reset
    assert api.boot_rescue(322, "linux") and api.reboot(322, "fence")
    power = control(sock, "GET", "/state")["power"]["322"]
    assert power["running"] == "rescue" and [r["type"] for r in power["resets"]] == ["hw"]

    log = control(sock, "GET", "/requests")
    assert [(e["method"], e["path"], e["status"]) for e in log[:2]] == [
        ("GET", "/server/321", 200),
        ("GET", "/failover", 200),
    ]
    listed = [e["status"] for e in log if e["path"] == "/failover"]
    assert listed[3:6] == [503, 503, 200]  # after server(), failovers(), server()
    shown = json.dumps(log)
    assert PASSWORD not in shown and BASIC not in shown and "Authorization" not in shown

    with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
        assert PASSWORD.encode() not in f.read()
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    assert not sock.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/failover", timeout=2)
    output = proc.stderr.read()
    assert "ready: API http://127.0.0.1:" in output and "GET /server/321 200" in output
    assert PASSWORD not in output and BASIC not in output


def test_control_refusals(robot):
    _proc, sock, _url = robot
    refused = [
        ("GET", "/nothing", None, "404"),
        ("POST", "/fault", {"kind": "418"}, "400"),
        ("POST", "/fault", {"kind": "503", "times": 0}, "400"),
        ("POST", "/route", {"ip": "192.0.2.77", "destination": MAIN1}, "400"),
        ("POST", "/route", {"ip": FO1, "destination": "192.0.2.1"}, "400"),
        ("POST", "/limits", {"switch_limit": 0}, "400"),
        ("POST", "/limits", {"rate": 3}, "400"),
        ("POST", "/limits", {"reset_types": "hw"}, "400"),
    ]
    for method, path, body, status in refused:
        with pytest.raises(ControlError, match=status):
            control(sock, method, path, body)
    assert control(sock, "GET", "/state")["failovers"][FO1] == MAIN1


@pytest.mark.parametrize(
    "credentials, said",
    [
        ("\n", "is empty"),
        (f"{USER}:{PASSWORD}", "is not JSON"),
        (json.dumps({"user": USER}), "holds no user and password"),
        (json.dumps({"user": USER, "password": " "}), "holds no user and password"),
    ],
)
def test_a_bad_credentials_file_is_refused_without_showing_it(tmp_path, credentials, said):
    config, secret = write_files(tmp_path, credentials)
    sock = tmp_path / "control.sock"
    proc = subprocess.run(argv(config, secret, sock), cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and said in proc.stderr
    assert PASSWORD not in proc.stderr and USER not in proc.stderr
    assert not sock.exists()
