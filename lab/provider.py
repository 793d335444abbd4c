"""The lab's failover-IP provider: the API stand-in of the provider the cluster
pillar's ``hypervisor:failover:provider`` names (default ``online``), run in the
master's namespace.

- ``online``: lab/online_api.py at the address ``online:api_url`` of
  pillar/online.sls names. At each boot a fresh fake token (``hvlab-token-<hex>``):
  the stand-in reads it from a root-only file, and the master serves it as
  ``online:api_token`` from a root-only pillar directory that shadows
  pillar/online.sls (as /etc/salt/hypervisor-pillar does on a real master).
- ``hetzner``: lab/robot_api.py at ``MASTER_IP:ROBOT_PORT``. At each boot a fresh
  webservice user (``hvlab-robot-<hex>``) and password (``hvlab-pass-<hex>``) in a
  root-only file for the stand-in; the master serves them as ``hetzner.sls`` from
  that directory, beside an empty ``online.sls`` that shadows the repository's (the
  validator refuses the other provider's part).

Tests look for ``secrets()`` everywhere they must not be (R6). The stand-in's state:
a server per host with the provider's server key, each host's failover IPs routed to
it, and a server outside the cluster (FOREIGN) with a failover IP of its own. Tests
and benchmarks drive it through its control socket (``control``: the routes are in
lab/standin_control.py, lab/online_api.py and lab/robot_api.py).
"""

import base64
import contextlib
import dataclasses
import json
import os
import secrets as random_secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import standin_control, system
from .topology import MASTER_IP, MASTER_NS, PILLAR, REPO, STATE

PROVIDERS = ("online", "hetzner")
DEFAULT = "online"
# Online's stand-in (these names are the lab's since before Hetzner).
HOME = STATE / "online-api"
TOKEN_FILE = HOME / "token"
CONFIG_FILE = HOME / "config.json"
CONTROL = HOME / "control.sock"
PID_FILE = STATE / "run" / "online-api.pid"
# Hetzner Robot's stand-in: beside Online's port (8080, pillar/online.sls).
ROBOT_HOME = STATE / "robot-api"
CREDENTIALS_FILE = ROBOT_HOME / "credentials.json"
ROBOT_PID_FILE = STATE / "run" / "robot-api.pid"
ROBOT_PORT = 8081
# Robot's switch limit, raised: the lab's tests move the same IPs many times an hour
# (POST /limits lowers it).
ROBOT_SWITCH_LIMIT = 1000
SECRET_PILLAR = STATE / "master" / "pillar-secret"
# How the stand-in runs in the master's namespace (the unit tests run it here).
NETNS_EXEC = ("ip", "netns", "exec", MASTER_NS)
# A server of another customer, with a failover IP the cluster must ignore.
FOREIGN = {"id": 9001, "hostname": "sd-9001", "public": "203.0.113.90", "failover": "203.0.113.190"}


@dataclasses.dataclass(frozen=True)
class Process:
    """A provider's stand-in process: its module and its files."""

    provider: str
    module: str
    home: Path
    secret_option: str
    secret_file: Path
    pid_file: Path

    @property
    def config(self):
        return self.home / "config.json"

    @property
    def control(self):
        return self.home / "control.sock"

    @property
    def log(self):
        return self.home / "stand-in.log"


def name(pillar_file=None):
    """The cluster pillar's ``hypervisor:failover:provider`` (``online`` when unset)."""
    cluster = yaml.safe_load(Path(pillar_file or PILLAR).read_text())["hypervisor"]
    chosen = (cluster.get("failover") or {}).get("provider") or DEFAULT
    if chosen not in PROVIDERS:
        raise RuntimeError(f"hypervisor:failover:provider {chosen!r}: the lab knows {', '.join(PROVIDERS)}")
    return chosen


def process(provider=None):
    """The stand-in process of ``provider`` (default: the pillar's)."""
    if (provider or name()) == "hetzner":
        return Process(
            "hetzner", "lab.robot_api", ROBOT_HOME, "--credentials-file", CREDENTIALS_FILE, ROBOT_PID_FILE
        )
    return Process("online", "lab.online_api", HOME, "--token-file", TOKEN_FILE, PID_FILE)


def _online_pillar():
    return yaml.safe_load((REPO / "pillar" / "online.sls").read_text())["online"]


def listen_address():
    """``host:port`` of the stand-in: the lab pillar's ``online:api_url``, or Robot's."""
    if name() == "hetzner":
        return f"{MASTER_IP}:{ROBOT_PORT}"
    url = urlsplit(_online_pillar()["api_url"])
    return f"{url.hostname}:{url.port or 80}"


def initial_state(pillar_file=None):
    """The stand-in's config (servers and failover IPs) from the cluster pillar."""
    cluster = yaml.safe_load(Path(pillar_file or PILLAR).read_text())["hypervisor"]
    hetzner = name(pillar_file) == "hetzner"
    key = "hetzner_server_number" if hetzner else "online_server_id"
    servers, routes = {}, {}
    for host_name, host in sorted(cluster["hosts"].items()):
        if key not in host:
            continue
        public = host["public"]["address"]
        private = None if hetzner else host["rpn"]["address"].split("/")[0]
        servers[str(host[key])] = (host_name, public, private)
        routes.update(dict.fromkeys(host.get("failover_ips") or [], public))
    servers[str(FOREIGN["id"])] = (FOREIGN["hostname"], FOREIGN["public"], None)
    routes[FOREIGN["failover"]] = FOREIGN["public"]
    if hetzner:
        return {
            "servers": {n: {"server_ip": public, "hostname": h} for n, (h, public, _) in servers.items()},
            "failovers": {ip: {"server_ip": main, "active_server_ip": main} for ip, main in routes.items()},
            "switch_time": 0,
            "switch_limit": ROBOT_SWITCH_LIMIT,
        }
    return {
        "servers": {n: {"hostname": h, "public": p, "private": r} for n, (h, p, r) in servers.items()},
        "failovers": {ip: {"destination": main, "mac": None} for ip, main in routes.items()},
        "delay": 0,
        "spacing": 0,
    }


def private_file(path, text):
    """Write ``text`` to a file only root can read (created so, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def configure():
    """Fresh credentials for the stand-in and the master's secret pillar, and the
    stand-in's state; the other provider's secrets removed. Returns the new secret
    (Online: the token; Hetzner: the password)."""
    files = process()
    for other in (process(p) for p in PROVIDERS if p != files.provider):
        other.secret_file.unlink(missing_ok=True)
    if files.provider == "hetzner":
        user = f"hvlab-robot-{random_secrets.token_hex(6)}"
        secret = f"hvlab-pass-{random_secrets.token_hex(12)}"
        private_file(files.secret_file, json.dumps({"user": user, "password": secret}))
        part = {"user": user, "password": secret, "api_url": f"http://{listen_address()}", "allow_http": True}
        private_file(SECRET_PILLAR / "hetzner.sls", yaml.safe_dump({"hetzner": part}))
        private_file(SECRET_PILLAR / "online.sls", yaml.safe_dump({}))
    else:
        secret = f"hvlab-token-{random_secrets.token_hex(12)}"
        private_file(files.secret_file, secret)
        online = dict(_online_pillar(), api_token=secret)
        private_file(SECRET_PILLAR / "online.sls", yaml.safe_dump({"online": online}))
        (SECRET_PILLAR / "hetzner.sls").unlink(missing_ok=True)
    private_file(files.config, json.dumps(initial_state(), indent=2))
    return secret


def restart_with_the_pillars_servers():
    """Restart the stand-in knowing every server of the pillar (hosts added to a running
    lab), each failover IP still routed where it was (if that server stays); the
    credentials stay."""
    files = process()
    routed = {
        ip: route["destination"] if isinstance(route, dict) else route
        for ip, route in control("GET", "/state")["failovers"].items()
    }
    state = initial_state()
    key = "active_server_ip" if files.provider == "hetzner" else "destination"
    mains = {s.get("server_ip") or s.get("public") for s in state["servers"].values()}
    for ip, failover in state["failovers"].items():
        where = routed.get(ip, failover[key])
        if where is None or where in mains:
            failover[key] = where
    stop()
    private_file(files.config, json.dumps(state, indent=2))
    start()


def token():
    """The lab's Online token (root only), for the tests that look for it."""
    return TOKEN_FILE.read_text().strip()


def secrets():
    """Every secret string of this boot a test must find nowhere else: Online's token;
    Robot's password and ``base64(user:password)``, as sent in Authorization."""
    files = process()
    if files.provider == "online":
        return [token()]
    credentials = json.loads(files.secret_file.read_text())
    basic = f"{credentials['user']}:{credentials['password']}".encode()
    return [credentials["password"], base64.b64encode(basic).decode()]


def start():
    """Start the pillar's provider's stand-in and wait for its control socket; its PID."""
    files = process()
    files.pid_file.parent.mkdir(parents=True, exist_ok=True)
    log = open(files.log, "w")  # noqa: SIM115 (kept by the child)
    proc = subprocess.Popen(
        [
            *NETNS_EXEC,
            *(sys.executable, "-m", files.module),
            *("--listen", listen_address(), "--config", str(files.config)),
            *(files.secret_option, str(files.secret_file), "--control", str(files.control)),
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    files.pid_file.write_text(f"{proc.pid}\n")

    def answers():
        if proc.poll() is not None:
            raise RuntimeError(f"the API stand-in exited with {proc.returncode}: see {files.log}")
        with contextlib.suppress(OSError, standin_control.ControlError):
            return bool(control("GET", "/url"))
        return False

    system.wait_for(answers, 20, interval=0.2, what="the API stand-in's control socket")
    return proc.pid


def pid():
    """The running stand-in's PID (the pillar's provider), or None."""
    return system.read_pid(process().pid_file)


def stop():
    """Stop every provider's stand-in (the pillar may have changed since the boot)."""
    for files in map(process, PROVIDERS):
        system.stop_pid_file(files.pid_file)
        files.control.unlink(missing_ok=True)


def control(method, path, body=None):
    """A request to the running stand-in's control socket (lab/standin_control.py)."""
    return standin_control.control(str(process().control), method, path, body)
