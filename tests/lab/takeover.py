"""The takeover lab helpers (B1, B6): crash or cut hyp1, watch where guests
run, put hyp1 back. Shared by tests/lab/test_takeover.py and bench/takeover.py.
"""

import contextlib
import subprocess
import time

from lab import machines, provider, system, topology
from tests.lab import evacuation as ev
from tests.lab import watch
from tests.lab.failover import public_ip, routed_to
from tests.lab.test_evacuation import VOLUMES, _heal_entries, _split_brain_entries, link
from tests.pillar_cases import lab_pillar

PILLAR = lab_pillar()["hypervisor"]
HYP1_SERVER = str(PILLAR["hosts"]["hyp1"]["online_server_id"])
HYP2_SERVER = str(PILLAR["hosts"]["hyp2"]["online_server_id"])
INCIDENTS = "/var/lib/libvirt/qemu/save/.hv-incidents"
TAKEOVER_BOUND = 180  # seconds: sanlock's 76 s, the guests' start, the IP move, with room


def host(name):
    return next(h for h in topology.hosts() if h.name == name)


def qemu_pid(lab, where, name):
    return lab.sh(where, f"pgrep -f '[g]uest={name},' || true").strip()


def power(server_id):
    return provider.control("GET", "/state").get("power", {}).get(server_id, {})


def incidents(lab, where="hyp2"):
    return lab.sh(where, f"ls {INCIDENTS} 2>/dev/null || true").split()


def revive(lab, name):
    """Boot ``name`` again (cables in) and wait until its minion answers."""
    machines.boot_again(host(name))
    system.wait_for(lambda: _answers(lab, name), 120, what=f"{name}'s minion")


def _answers(lab, name):
    try:
        return lab.salt(name, "test.ping", timeout=15)[1].get(name) is True
    except subprocess.TimeoutExpired:  # a minion still starting
        return False


def healed(lab):
    """Every volume healed, as hyp2 sees it (the others come back within seconds)."""
    for volume in VOLUMES:
        lab.salt("hyp2", "gluster.heal", volume)
    system.wait_for(lambda: all(_heal_entries(lab, v) == 0 for v in VOLUMES), 180, interval=3, what="heal")
    assert _split_brain_entries(lab) == 0


def can_take_guests(lab, name):
    rc, data, _ = lab.salt(name, "sanlock.status", timeout=30)
    return rc == 0 and isinstance(data.get(name), dict) and data[name]["can_take_guests"]


@contextlib.contextmanager
def comes_back(lab, name="hyp1"):
    """Whatever the block does to ``name``, afterwards it runs, is in its lockspace,
    its incidents are closed and it is undrained (its guests back home)."""
    try:
        yield
    finally:
        if machines.leader(host(name)) is None:
            revive(lab, name)
        link(name, up=True)
        healed(lab)
        system.wait_for(lambda: can_take_guests(lab, name), 180, interval=3, what=f"{name} in its lockspace")
        rc, _ret, text = ev.salt_one(lab, name, "guests.undrain")
        provider.control("POST", "/clear")
        ev.home_again(lab)
        assert rc == 0, text
        assert lab.salt(name, "takeover.open_against")[1][name] == []


def _down(name):
    """``name``'s container has no init (crashed, or not yet booted again)."""
    try:
        return machines.leader(host(name)) is None
    except OSError:  # its init went away while we looked
        return True


def running_where(lab, names):
    """``{guest: [main-lab hosts running it]}``. A crashed host runs nothing; any
    other error is raised."""

    def running(where, name):
        try:
            return ev.state(lab, where, name) == "running"
        except machines.HostDown:
            return False  # no init when we looked: crashed, or booting again
        except (RuntimeError, OSError):
            if _down(where):
                return False  # crashed: its container, and every guest in it, is gone
            raise

    return {name: [h for h in ev.HOSTS if running(h, name)] for name in names}


def double_run_watch(lab, names):
    """The double-run watch over ``names`` in the main lab (tests/lab/watch.py)."""
    return watch.DoubleRunWatch(lambda: running_where(lab, names))


def crash_until_taken_over(lab, names):
    """hyp1 crashes with ``names`` running on it: ``(running, answered)``, the seconds
    until all run on hyp2 (the takeover started them) and until each answers ping
    again (through hyp2, its IP moved; the lab's TCG guests boot slowly)."""
    start = time.monotonic()
    machines.crash(host("hyp1"))
    system.wait_for(
        lambda: all(ev.state(lab, "hyp2", name) == "running" for name in names),
        TAKEOVER_BOUND,
        interval=0.5,
        what=f"{names} running on hyp2",
    )
    running = time.monotonic() - start
    for name in names:
        ev.answers(name, timeout=TAKEOVER_BOUND)
    took = time.monotonic() - start
    for name in names:
        assert ev.state(lab, "hyp2", name) == "running", name
        assert routed_to(ev.guest_ip(name)) == public_ip("hyp2"), name
    return running, took
