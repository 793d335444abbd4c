"""lab/provider.py for a Hetzner cluster's pillar (and Online's), its files in a temporary
directory: the stand-in's state from the pillar, fresh recognizable credentials in
root-only files, the master's secret pillar (hetzner.sls, and an empty online.sls)
valid for every host, the other provider's secrets removed; the Robot stand-in
started (here, not in the master's namespace), restarted with a host added, its
routes kept, and stopped."""

import base64
import json
import re
import socket
import stat

import pytest
import requests
import yaml

from lab import provider
from tests.loaders import REPO, hv_validate, layered_parameters
from tests.pillar_cases import as_seen_by, hetzner_pillar, lab_pillar

FILES = (
    "HOME",
    "TOKEN_FILE",
    "PID_FILE",
    "ROBOT_HOME",
    "CREDENTIALS_FILE",
    "ROBOT_PID_FILE",
    "SECRET_PILLAR",
)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """provider's files under tmp_path/state; ``lab(pillar)`` writes the cluster file."""
    state = tmp_path / "state"
    for name in FILES:
        monkeypatch.setattr(provider, name, state / getattr(provider, name).relative_to(provider.STATE))
    monkeypatch.setattr(provider, "PILLAR", tmp_path / "cluster.sls")

    def write(pillar):
        provider.PILLAR.write_text(yaml.safe_dump({"hypervisor": pillar["hypervisor"]}))
        return pillar

    return write


def mode(path):
    return oct(stat.S_IMODE(path.stat().st_mode))


def served_pillar(cluster):
    """What the lab's master serves: the cluster, then each provider part from the secret
    pillar directory when it has one, else from the repository's pillar/."""
    pillar = {"hypervisor": cluster["hypervisor"]}
    for part in ("online", "hetzner"):
        path = provider.SECRET_PILLAR / f"{part}.sls"
        pillar.update(
            yaml.safe_load((path if path.exists() else REPO / "pillar" / f"{part}.sls").read_text())
        )
    return pillar


def test_the_robot_state_comes_from_the_pillar(lab):
    cluster = lab(hetzner_pillar())["hypervisor"]
    state = provider.initial_state()
    numbers = {
        h["hetzner_server_number"]: n for n, h in cluster["hosts"].items() if "hetzner_server_number" in h
    }
    hyp1 = cluster["hosts"]["hyp1"]["public"]["address"]
    assert state["servers"] == {
        **{
            str(k): {"server_ip": cluster["hosts"][n]["public"]["address"], "hostname": n}
            for k, n in numbers.items()
        },
        "9001": {"server_ip": provider.FOREIGN["public"], "hostname": provider.FOREIGN["hostname"]},
    }
    for ip in cluster["hosts"]["hyp1"]["failover_ips"]:
        assert state["failovers"][ip] == {"server_ip": hyp1, "active_server_ip": hyp1}
    foreign = provider.FOREIGN["public"]
    assert state["failovers"][provider.FOREIGN["failover"]] == {
        "server_ip": foreign,
        "active_server_ip": foreign,
    }
    assert provider.name() == "hetzner" and provider.process().module == "lab.robot_api"
    assert provider.listen_address() == f"{provider.MASTER_IP}:{provider.ROBOT_PORT}" != "203.0.113.1:8080"


def test_the_online_state_is_as_before(lab):
    lab(lab_pillar())
    state = provider.initial_state()
    assert state["servers"]["1001"] == {
        "hostname": "hyp1",
        "public": "203.0.113.11",
        "private": "198.51.100.11",
    }
    assert state["failovers"]["203.0.113.101"] == {"destination": "203.0.113.11", "mac": None}
    assert (state["delay"], state["spacing"]) == (0, 0)
    assert provider.name() == "online" and provider.listen_address() == "203.0.113.1:8080"


def test_configure_for_hetzner_then_for_online(lab):
    cluster = lab(hetzner_pillar())
    password = provider.configure()
    credentials = json.loads(provider.CREDENTIALS_FILE.read_text())
    assert re.fullmatch(r"hvlab-robot-[0-9a-f]+", credentials["user"])
    assert (
        re.fullmatch(r"hvlab-pass-[0-9a-f]+", credentials["password"]) and credentials["password"] == password
    )
    basic = base64.b64encode(f"{credentials['user']}:{password}".encode()).decode()
    assert provider.secrets() == [password, basic]
    secret_files = [
        provider.CREDENTIALS_FILE,
        *(provider.SECRET_PILLAR / p for p in ("hetzner.sls", "online.sls")),
    ]
    for path in [*secret_files, provider.ROBOT_HOME / "config.json"]:
        assert mode(path) == "0o600" and mode(path.parent) == "0o700", path
    served = served_pillar(cluster)
    assert "online" not in served
    assert served["hetzner"] == {**credentials, "api_url": "http://203.0.113.1:8081", "allow_http": True}
    for host in served["hypervisor"]["hosts"]:
        assert hv_validate.validate(as_seen_by(served, host), layered_parameters("Debian"), host) == []
    assert json.loads((provider.ROBOT_HOME / "config.json").read_text()) == provider.initial_state()

    cluster = lab(lab_pillar())  # the same lab booted again as an Online cluster
    token = provider.configure()
    assert re.fullmatch(r"hvlab-token-[0-9a-f]+", token) and provider.secrets() == [token] == [
        provider.token()
    ]
    assert not provider.CREDENTIALS_FILE.exists() and not (provider.SECRET_PILLAR / "hetzner.sls").exists()
    assert mode(provider.TOKEN_FILE) == mode(provider.SECRET_PILLAR / "online.sls") == "0o600"
    served = served_pillar(cluster)
    assert served["online"]["api_token"] == token and "hetzner" not in served
    assert hv_validate.validate(served, layered_parameters("Debian"), "hyp1") == []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_robot_stand_in_started_restarted_and_stopped(lab, monkeypatch):
    monkeypatch.setattr(provider, "NETNS_EXEC", ())
    monkeypatch.setattr(provider, "MASTER_IP", "127.0.0.1")
    monkeypatch.setattr(provider, "ROBOT_PORT", free_port())
    pillar = lab(hetzner_pillar())
    hosts = pillar["hypervisor"]["hosts"]
    fo, hyp2 = hosts["hyp1"]["failover_ips"][0], hosts["hyp2"]["public"]["address"]
    password = provider.configure()
    url = f"http://127.0.0.1:{provider.ROBOT_PORT}"
    auth = (json.loads(provider.CREDENTIALS_FILE.read_text())["user"], password)
    try:
        pid = provider.start()
        assert provider.pid() == pid and provider.control("GET", "/url") == {"url": url}
        provider.control("POST", "/route", {"ip": fo, "destination": hyp2})

        hosts["hyp3"] = dict(
            hosts["hyp2"], host_id=3, hetzner_server_number=333, failover_ips=["203.0.113.133"]
        )
        hosts["hyp3"]["public"] = dict(hosts["hyp2"]["public"], address="203.0.113.13")
        lab(pillar)  # a host added to the running lab
        provider.restart_with_the_pillars_servers()
        assert provider.pid() not in (None, pid)
        assert provider.control("GET", "/state")["failovers"][fo] == hyp2  # kept
        answer = requests.get(f"{url}/server/333", auth=auth, timeout=5)
        assert answer.status_code == 200 and answer.json()["server"]["server_ip"] == "203.0.113.13"
        assert requests.get(f"{url}/server/333", auth=("x", "y"), timeout=5).status_code == 401
    finally:
        provider.stop()
    assert provider.pid() is None and not provider.process().control.exists()
    log = provider.process().log.read_text()
    assert "GET /server/333 200" in log
    assert not any(secret in log for secret in provider.secrets())
