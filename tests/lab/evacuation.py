"""The lab's pillar guests (F26: vm1..vm4, home hyp1, answering ping on their
failover IP): start them, find where they run, ping them through the public
gateway, and put everything back. Shared by tests/lab/test_evacuation.py and
bench/evacuation.py.
"""

import contextlib
import signal
import subprocess
import time

from lab import master, system, topology
from tests.lab import standins
from tests.lab.failover import public_ip, route, routed_to
from tests.pillar_cases import lab_pillar

HOSTS = ("hyp1", "hyp2")
GROUP = ("-N", master.NODEGROUP)
SAVE_DIR = "/var/lib/libvirt/qemu/save"
PINGER_NS = topology.ADMIN_NS  # a machine on the public segment, outside the cluster


def lab_guests():
    return lab_pillar()["hypervisor"]["guests"]


def guest_ip(name):
    return lab_guests()[name]["failover_ips"][0]


def state(lab, host, name):
    return lab.sh(host, f"virsh domstate {name} 2>/dev/null", check=False).strip() or "absent"


def running_on(lab, name):
    """The hosts where ``name`` runs now (a guest runs on one host, or none)."""
    return [h for h in HOSTS if state(lab, h, name) == "running"]


def saved(lab, name):
    return lab.sh("hyp1", f"test -e {SAVE_DIR}/{name}.save && echo yes", check=False).strip() == "yes"


def answers(name, timeout=60):
    """Seconds until guest ``name`` answers ping on its failover IP from the public segment."""
    start = time.monotonic()
    ip = guest_ip(name)
    system.wait_for(
        lambda: standins.ping(PINGER_NS, ip, count=1, timeout=1),
        timeout,
        interval=0.2,
        what=f"{name} to answer ping on {ip}",
    )
    return time.monotonic() - start


def salt_one(lab, host, *args, timeout=600):
    """``salt <host> <fun> <args>``: (exit code, that host's return, raw text)."""
    rc, data, text = lab.salt(host, *args, timeout=timeout)
    return rc, data.get(host), text


def start(lab, host, names):
    """Start ``names`` on ``host`` (guests.start) and wait until each answers ping."""
    for name in names:
        rc, ret, text = salt_one(lab, host, "guests.start", name)
        assert rc == 0 and ret["outcome"] in ("started", "restored"), text
    for name in names:
        answers(name)


def apply_guest_settings(lab):
    """Apply what the pillar's guests change on the hosts that carry guests: their
    definitions and the settings copy, which the keeper and takeover units take
    (a test that serves a pillar with ``running: true`` guests applies the lab's
    own again this way, else the keepers keep those guests running)."""
    rc, _data, text = lab.salt("-L", ",".join(HOSTS), "state.sls", "guests,takeover,keeper")
    assert rc == 0, text


def home_again(lab):
    """Every lab guest stopped on every host, no save file left, every failover IP
    routed to its home host again (at the stand-in) and answered there; no host drained."""
    for host in HOSTS:
        lab.sh(host, "rm -f /var/lib/hv-evacuation/drained")
        for name in lab_guests():
            lab.sh(host, f"virsh -q destroy {name} >/dev/null 2>&1", check=False)
    system.wait_for(  # after a cut, the shared volume comes back within seconds
        lambda: lab.sh("hyp1", f"ls {SAVE_DIR} >/dev/null && echo ok", check=False).strip() == "ok",
        60,
        what="the save volume on hyp1",
    )
    lab.sh("hyp1", f"rm -f {SAVE_DIR}/*.save {SAVE_DIR}/*.partial")
    for host, cfg in lab_pillar()["hypervisor"]["hosts"].items():
        for ip in cfg.get("failover_ips") or []:
            if routed_to(ip) != public_ip(host):
                route(ip, host)
    lab.salt(*GROUP, "online.sync_failover")
    assert not any(running_on(lab, n) for n in lab_guests())


@contextlib.contextmanager
def guests_on(lab, host, names):
    """``names`` running on ``host`` for the block; everything put back afterwards."""
    home_again(lab)
    try:
        start(lab, host, names)
        yield names
    finally:
        home_again(lab)


class ContinuousPing:
    """``ping -i <interval>`` to ``ip`` from the public segment while the block runs."""

    def __init__(self, ip, interval=0.1):
        self.ip, self.interval = ip, interval
        self.proc = self.result = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                PINGER_NS,
                "ping",
                "-n",
                "-q",
                "-i",
                str(self.interval),
                "-W",
                "1",
                self.ip,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self

    def __exit__(self, *exc):
        time.sleep(1.5)  # the replies still on their way
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=10)
        self.result = standins.parse_ping(out)

    @property
    def lost(self):
        return self.result.transmitted - self.result.received
