"""The three-host lab (B8): hosts hyp1, hyp2, hyp3 that carry guests and no arbiter
(replica 3, the majority two of the three), booted from the bare image next to the
main lab with state and namespaces of its own. It is a Hetzner cluster (B7): the
Robot stand-in moves its failover IPs and fences its dead hosts, and its private
network has a vSwitch's MTU (1400; guests get 1350). It is driven through
``python -m lab`` with its settings (each call a process of its own: the lab's
modules read their topology once). Shared by tests/lab/test_many_hosts.py,
bench/takeover_many.py and bench/failover_move.py.

Its guests: vm1..vm4 homed on hyp1, each with a failover IP (vm1 and vm2 an
anti-affinity pair), vm5 and vm6 without a NIC, and ``big``, too large for any host
under the lab's placement limit (10 % of the machine's memory per host, for guests)."""

import base64
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from lab import machines
from tests.lab import standins
from tests.lab.events import Events
from tests.pillar_cases import lab_pillar

REPO = Path(__file__).resolve().parents[2]
STATE = Path("/var/lib/hvlab-many")
PREFIX = "hvl3-"
COUNT = 3
ENV = {"HVLAB_DIR": str(STATE), "HVLAB_PREFIX": PREFIX, "HVLAB_PILLAR": str(STATE / "cluster.sls")}
PINGER_NS = PREFIX + "admin"  # 203.0.113.2 on its public segment, outside the cluster
SWITCH_NS = PREFIX + "sw"
GUESTS = ("vm1", "vm2", "vm3", "vm4")
QUIET = ("vm5", "vm6")  # no NIC, no failover IP: the six guests of the drain benchmark
PAIR = ("vm1", "vm2")
BIG = "big"
BIG_MEMORY = 3072  # MiB: past the room of any host here (placement:memory_ratio 10)
# A Hetzner cluster: the Robot stand-in moves its failover IPs and fences; its
# private network has a vSwitch's MTU, 1400, so VXLAN leaves the guests 1350
# bytes. (Not the vSwitch's VLAN: this machine's kernel has none, lab/network.py.)
SERVER_NUMBER = 321000
VSWITCH_MTU = 1400
GUEST_MTU = VSWITCH_MTU - 50


def names(count=COUNT):
    return [f"hyp{n}" for n in range(1, count + 1)]


def _host(number):
    return {
        "host_id": number,
        "hetzner_server_number": SERVER_NUMBER + number,
        "public": {"interface": "eth0", "address": f"203.0.113.{10 + number}", "prefix": 24,
                   "gateway": "203.0.113.254"},
        "rpn": {"interface": "eth1", "mac": f"02:00:c6:33:64:{10 + number:02x}",
                "address": f"198.51.100.{10 + number}/24", "dhcp": False, "mtu": VSWITCH_MTU},
    }  # fmt: skip


def many_pillar(count=COUNT):
    """The three-host lab's cluster pillar (``count`` hosts: a fourth once grown)."""
    lab = copy.deepcopy(lab_pillar()["hypervisor"])
    hosts = {name: _host(n) for n, name in enumerate(names(count), start=1)}
    hosts["hyp1"]["failover_ips"] = [lab["guests"][g]["failover_ips"][0] for g in GUESTS]
    guests = {name: dict(lab["guests"][name]) for name in GUESTS}
    for name in PAIR:
        guests[name]["anti_affinity"] = "pair"
    big = dict(lab["guests"]["vm4"], memory=BIG_MEMORY, nics=[], failover_ips=[])
    big["boot"] = dict(big["boot"], cmdline="console=ttyS0 panic=-1")
    guests[BIG] = big
    for name in QUIET:
        guests[name] = dict(big, memory=lab["guests"]["vm4"]["memory"])
    cluster = {
        key: lab[key]
        for key in ("domain", "bridges", "admins", "libvirt", "sanlock", "pools", "failover", "firewall")
    }
    cluster.update(hosts=hosts, guests=guests, placement={"memory_ratio": 10})
    cluster["failover"] = dict(cluster["failover"], provider="hetzner")
    # the tests move the same IPs back and forth (the real limit is per hour)
    cluster["failover"]["move_budget"] = dict(cluster["failover"].get("move_budget") or {}, total=400)
    cluster["tunnels"] = {"transport": "vxlan", "guest_mtu": GUEST_MTU}
    if count > 3:
        cluster["gluster"] = {"brick_hosts": names(3)}  # adding a host moves no brick
    return {"hypervisor": cluster}


def write_pillar(count=COUNT):
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "cluster.sls").write_text(yaml.safe_dump(many_pillar(count)))


def lab(*args, timeout=900, check=False):
    """``python -m lab ARGS`` on the three-host lab: its CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "lab", *args],
        cwd=REPO,
        env=dict(os.environ, **ENV),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"lab {' '.join(args)}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def sh(host, command, check=False, timeout=120):
    """A shell command on a host of this lab: its stdout."""
    return lab("shell", host, "sh", "-c", command, timeout=timeout, check=check).stdout


def salt(*args, timeout=600):
    """``salt ARGS --out=json --static`` on this lab's master: (exit code, {minion: return})."""
    proc = lab("salt", *args, "--out=json", "--static", timeout=timeout)
    try:
        return proc.returncode, json.loads(proc.stdout or "{}")
    except ValueError:
        return proc.returncode, {"error": proc.stdout[-2000:] + proc.stderr[-2000:]}


def status():
    """``salt-run cluster.status`` on this lab's master: its view (hosts, placement …)."""
    proc = lab("run", "cluster.status", "--out=json", timeout=300)
    data = json.loads(proc.stdout or "{}")
    return data if "hosts" in data else next(iter(data.values()), {})


def api(method, path, body=None):
    """A request to this lab's Robot stand-in's control socket: its JSON answer."""
    return json.loads(lab("api", method, path, *([json.dumps(body)] if body else []), check=True).stdout)


def api_routes():
    """``{failover IP: the public address the stand-in routes it to}``."""
    return api("GET", "/state")["failovers"]


def robot_secrets():
    """What must never show (R6): the lab's Robot password, and the Authorization value
    made of it, read from this lab master's secret pillar."""
    part = yaml.safe_load((STATE / "master" / "pillar-secret" / "hetzner.sls").read_text())["hetzner"]
    basic = base64.b64encode(f"{part['user']}:{part['password']}".encode()).decode()
    return [part["password"], basic]


def server_number(host):
    return _host(int(host.removeprefix("hyp")))["hetzner_server_number"]


def public_ip(host):
    return _host(int(host.removeprefix("hyp")))["public"]["address"]


def guest_ip(name):
    return many_pillar()["hypervisor"]["guests"][name]["failover_ips"][0]


def state(host, name):
    return sh(host, f"virsh domstate {name} 2>/dev/null").strip() or "absent"


def running(hosts, names_=GUESTS):
    """``{guest: [hosts running it]}``: one look at every host at once (``virsh list``
    entered straight into each container, no Python started per host: the double-run
    watches sample this twice a second on a busy machine); a host that is down or does
    not answer within 10 s runs nothing."""
    looks = {}
    for host in hosts:
        init = machines.leader_of(machines.pid_file(machines.by_name(host), state=STATE))
        if init is not None:
            cmd = machines.nsenter_pid(init, "virsh", "list", "--name", "--state-running")
            looks[host] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    listed = {}
    for host, proc in looks.items():
        try:
            listed[host] = proc.communicate(timeout=10)[0].split()
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            listed[host] = []
    return {name: [h for h in hosts if name in listed.get(h, [])] for name in names_}


def answers(name, timeout=1):
    return bool(standins.ping(PINGER_NS, guest_ip(name), count=1, timeout=timeout))


def link(host, up):
    """``host`` on its private network or cut off from it (its cable out of the switch)."""
    lab("private", host, "on" if up else "off", timeout=30, check=True)


def events(path):
    """This lab's master's events, recorded to ``path`` (tests/lab/events.py) while it runs."""
    command = [sys.executable, "-m", "lab", "run", "state.event", "pretty=False"]
    return Events(path, command=command, env=dict(os.environ, **ENV), cwd=REPO)


def wait_for(check, timeout, interval=1.0, what="it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout}s")


class Pinging:
    """``ping -i 0.2`` to a guest's failover IP from this lab's public segment while
    the block runs; ``lost`` afterwards, and ``gaps``: when the unanswered ones were
    sent (to tell a failure which step lost them)."""

    def __init__(self, name, interval=0.2):
        self.ip, self.interval = guest_ip(name), interval
        self.proc = self.result = None
        self.gaps = []

    def __enter__(self):
        every = ("-i", str(self.interval), "-W", "1")
        cmd = ["ip", "netns", "exec", PINGER_NS, "ping", "-n", "-D", "-O", *every]
        out = subprocess.PIPE
        self.proc = subprocess.Popen([*cmd, self.ip], stdout=out, stderr=subprocess.STDOUT, text=True)
        return self

    def __exit__(self, *exc):
        time.sleep(1.5)  # the replies still on their way
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=10)
        self.result = standins.parse_ping(out)
        self.gaps = unanswered_spans(out)

    @property
    def lost(self):
        return self.result.transmitted - self.result.received

    def explain(self, **marks):
        """The loss, its spans of time, and ``marks`` (a step's name: its ``time.time()``)."""
        spans = ", ".join(f"{n} from {time.strftime('%H:%M:%S', time.localtime(t))}" for t, n in self.gaps)
        steps = ", ".join(f"{k} {time.strftime('%H:%M:%S', time.localtime(v))}" for k, v in marks.items())
        return f"{self.lost} of {self.result.transmitted} lost ({spans or 'none'}); steps: {steps}"


_NO_ANSWER = re.compile(r"^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)", re.MULTILINE)


def unanswered_spans(text):
    """``ping -D -O`` output -> ``[(time of the first, how many)]`` for each run of
    consecutive unanswered requests."""
    spans, last = [], None
    for stamp, seq in _NO_ANSWER.findall(text):
        if last is not None and int(seq) == last + 1:
            spans[-1][1] += 1
        else:
            spans.append([float(stamp), 1])
        last = int(seq)
    return [tuple(s) for s in spans]


@contextlib.contextmanager
def up_for_a_bench():
    """The lab up while the block runs: booted first (and taken down after) when it was not."""
    booted = lab("status").returncode != 0
    if booted:
        proc = up()
        if proc.returncode != 0:
            down()
            tail = proc.stdout[-3000:] + proc.stderr[-2000:]
            raise RuntimeError(f"the three-host lab did not come up:\n{tail}")
    try:
        yield
    finally:
        if booted:
            down()


def up():
    """Boot the lab from the bare image (its pillar written first): the CompletedProcess."""
    write_pillar()
    return lab("up", timeout=1500)


def down():
    proc = lab("down", timeout=600)
    shutil.rmtree(STATE, ignore_errors=True)
    return proc
