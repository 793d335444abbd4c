"""The lab's failover-IP provider: the Online API stand-in (lab/online_api.py)
run in the master's namespace, at the address the lab pillar's ``online:api_url``
names.

At each boot the lab makes a fresh, recognizable fake token
(``hvlab-token-<hex>``): the stand-in reads it from a root-only file, and the
master serves it as ``online:api_token`` from a root-only pillar directory
that shadows ``pillar/online.sls`` (as /etc/salt/hypervisor-pillar does on a
real master). Tests look for it everywhere it must not be (R6).

The stand-in's state comes from the pillar: a server per host with an
``online_server_id`` (its public and RPN addresses), each host's failover IPs
routed to it, and one server outside the cluster with a failover IP of its own.
Tests and the benchmark drive it through its control socket (``control``).
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import online_api, system
from .topology import MASTER_NS, PILLAR, REPO, STATE

HOME = STATE / "online-api"
TOKEN_FILE = HOME / "token"
CONFIG_FILE = HOME / "config.json"
CONTROL = HOME / "control.sock"
PID_FILE = STATE / "run" / "online-api.pid"
SECRET_PILLAR = STATE / "master" / "pillar-secret"
# A server of another customer, with a failover IP the cluster must ignore.
FOREIGN = {"id": 9001, "hostname": "sd-9001", "public": "203.0.113.90", "failover": "203.0.113.190"}


def _online_pillar():
    return yaml.safe_load((REPO / "pillar" / "online.sls").read_text())["online"]


def listen_address():
    """``host:port`` of the lab pillar's api_url."""
    url = urlsplit(_online_pillar()["api_url"])
    return f"{url.hostname}:{url.port or 80}"


def initial_state(pillar_file=None):
    """The stand-in's servers and failover IPs, from the cluster pillar."""
    cluster = yaml.safe_load(Path(pillar_file or PILLAR).read_text())["hypervisor"]
    servers, failovers = {}, {}
    for name, host in sorted(cluster["hosts"].items()):
        if "online_server_id" not in host:
            continue
        public = host["public"]["address"]
        servers[str(host["online_server_id"])] = {
            "hostname": name,
            "public": public,
            "private": host["rpn"]["address"].split("/")[0],
        }
        for ip in host.get("failover_ips") or []:
            failovers[ip] = {"destination": public, "mac": None}
    servers[str(FOREIGN["id"])] = {
        "hostname": FOREIGN["hostname"],
        "public": FOREIGN["public"],
        "private": None,
    }
    failovers[FOREIGN["failover"]] = {"destination": FOREIGN["public"], "mac": None}
    return {"servers": servers, "failovers": failovers, "delay": 0, "spacing": 0}


def _private_file(path, text):
    """Write ``text`` to a file only root can read (created so, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def configure():
    """A fresh token for the stand-in and the master's pillar, and the stand-in's state."""
    token = f"hvlab-token-{secrets.token_hex(12)}"
    _private_file(TOKEN_FILE, token)
    _private_file(
        SECRET_PILLAR / "online.sls", yaml.safe_dump({"online": dict(_online_pillar(), api_token=token)})
    )
    _private_file(CONFIG_FILE, json.dumps(initial_state(), indent=2))
    return token


def restart_with_the_pillars_servers():
    """Restart the stand-in knowing every server of the pillar (hosts added to a running
    lab), each failover IP still routed where it was; the token stays."""
    routed = {ip: f["destination"] for ip, f in control("GET", "/state")["failovers"].items()}
    state = initial_state()
    for ip, failover in state["failovers"].items():
        failover["destination"] = routed.get(ip, failover["destination"])
    stop()
    _private_file(CONFIG_FILE, json.dumps(state, indent=2))
    start()


def token():
    """The lab's token (root only), for the tests that look for it."""
    return TOKEN_FILE.read_text().strip()


def start():
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    log = open(HOME / "stand-in.log", "w")  # noqa: SIM115 (kept by the child)
    proc = subprocess.Popen(
        [
            *("ip", "netns", "exec", MASTER_NS, sys.executable, "-m", "lab.online_api"),
            *("--listen", listen_address(), "--config", str(CONFIG_FILE)),
            *("--token-file", str(TOKEN_FILE), "--control", str(CONTROL)),
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    PID_FILE.write_text(f"{proc.pid}\n")
    system.wait_for(CONTROL.exists, 20, interval=0.2, what="the API stand-in's control socket")
    return proc.pid


def pid():
    return system.read_pid(PID_FILE)


def stop():
    system.stop_pid_file(PID_FILE)
    CONTROL.unlink(missing_ok=True)


def control(method, path, body=None):
    """A request to the running stand-in's control socket (see lab/online_api.py)."""
    return online_api.control(str(CONTROL), method, path, body)
