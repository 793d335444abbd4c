"""The keeper lab helpers (B1): the guests the faults act on, a cut of hyp2's
private link or of its lease volume, where each guest runs afterwards and how
long it took to answer again. Shared by tests/lab/test_keeper.py and
bench/keeper.py.

The lab's pillar is served with two guests ``running: true`` on hyp2 (vm3,
the one the faults act on, and vm4, which a person stops with guests.stop);
vm2 is started on hyp2 by hand (guests.start) and vm1 too, then destroyed by
hand (a person's stop). The keepers take the pillar when it is applied.
"""

import contextlib
import re
import time

from lab import image, provider, system, topology
from tests.lab import evacuation as ev
from tests.lab import standins
from tests.lab.takeover import can_take_guests, double_run_watch, healed
from tests.loaders import hv_views
from tests.pillar_cases import lab_pillar

HOST = "hyp2"  # the host the faults act on
OTHER = "hyp1"
KEPT = "vm3"  # running: true, home hyp2
BY_HAND = "vm2"  # started by hand on hyp2 (guests.start)
DESTROYED = "vm1"  # started by hand on hyp2, then destroyed by hand
STOPPED = "vm4"  # running: true, home hyp2, stopped by a person (guests.stop)
WATCHED = (BY_HAND, KEPT)
SAVE_DIR = "/var/lib/libvirt/qemu/save"
MARKS = f"{SAVE_DIR}/.hv-keeper/stopped"
SETTLE = 20  # seconds a guest a person stopped is watched after a fault, to see it stays down


def keeper_pillar(pillar):
    """vm3 and vm4 ``running: true`` with their home on hyp2."""
    for name in (KEPT, STOPPED):
        pillar["hypervisor"]["guests"][name].update(running=True, home=HOST)


def lockspace_joined(lab, host=HOST):
    """``host`` is in libvirt's sanlock lockspace (read straight from sanlock: quick)."""
    out = lab.sh(host, "sanlock client status 2>/dev/null", check=False)
    return any(re.fullmatch(r"s __LIBVIRT__DISKS__:\S+", line.strip()) for line in out.splitlines())


def answers_now(name):
    return bool(standins.ping(ev.PINGER_NS, ev.guest_ip(name), count=1, timeout=1))


@contextlib.contextmanager
def kept_guests(lab):
    """The block runs with the keeper pillar applied, vm2 and vm3 running on hyp2 and
    answering, vm1 destroyed by hand and vm4 stopped with guests.stop. Afterwards the
    lab's own pillar is applied again, no guest runs, no stop mark is left."""
    ev.home_again(lab)
    try:
        with lab.pillar(keeper_pillar):
            ev.apply_guest_settings(lab)
            rc, ret, text = ev.salt_one(lab, HOST, "guests.stop", STOPPED, "timeout=0")
            assert rc == 0 and ret["outcome"] == "stopped", text
            lab.sh(HOST, f"virsh start {DESTROYED} && virsh destroy {DESTROYED}")
            place(lab)
            yield
    finally:
        stop_all(lab)
        ev.apply_guest_settings(lab)  # the lab's own pillar: nothing running: true any more
        lab.sh(OTHER, f"rm -f {MARKS}/*.json", check=False)
        ev.home_again(lab)


def stop_all(lab):
    """A person stops every lab guest on both hosts (guests.stop: stop marks), so that
    no keeper keeps any of them, not even one it left down after a crash loop."""
    for host in (HOST, OTHER):
        for name in ev.lab_guests():
            lab.salt(host, "guests.stop", name, "timeout=0", timeout=60)
    time.sleep(3)  # a keeper's look: it forgets what a person stopped


def place(lab):
    """vm2 and vm3 running on hyp2 only, their failover IPs routed there and answering."""
    for name in WATCHED:
        where = ev.running_on(lab, name)
        if where == [OTHER]:
            rc, ret, text = ev.salt_one(lab, OTHER, "guests.migrate", name, f"host={HOST}")
            assert rc == 0, text
        elif not where:
            rc, ret, text = ev.salt_one(lab, HOST, "guests.start", name)
            assert rc == 0 and ret["outcome"] in ("started", "restored", "running"), text
    for name in WATCHED:
        assert ev.running_on(lab, name) == [HOST], name
    rc, ret, text = ev.salt_one(lab, HOST, "guests.follow_failover")
    assert rc == 0, text
    lab.salt(*ev.GROUP, "online.sync_failover")
    for name in WATCHED:
        ev.answers(name)


def recover(lab):
    """After a fault: hyp2's link up, the volumes healed, hyp2 in its lockspace,
    undrained (a fault past the dead time was a takeover: its incident closed, the
    fence's record cleared at the stand-in), and the guests placed again."""
    link(HOST, up=True)
    healed(lab)
    system.wait_for(lambda: can_take_guests(lab, HOST), 180, interval=3, what=f"{HOST} in its lockspace")
    rc, _ret, text = ev.salt_one(lab, HOST, "guests.undrain")
    assert rc == 0, text
    provider.control("POST", "/clear")
    assert lab.salt(HOST, "takeover.open_against")[1][HOST] == []
    place(lab)


def link(host, up):
    system.run("ip", "-n", topology.SWITCH_NS, "link", "set", f"r-{host}", "up" if up else "down")


def brick_ports(lab, volume="sanlock"):
    """The TCP ports of ``volume``'s bricks, as glusterd on hyp2 reports them."""
    out = lab.sh(HOST, f"gluster volume status {volume} --xml")
    return sorted({int(p) for p in re.findall(r"<port>(\d+)</port>", out) if int(p) > 0})


@contextlib.contextmanager
def lease_volume_cut(lab):
    """hyp2's client loses every brick of the lease volume (its TCP to their ports
    dropped), the private link and every other volume untouched; put back after."""
    rule = f"OUTPUT -p tcp -m multiport --dports {','.join(map(str, brick_ports(lab)))} -j DROP"
    lab.sh(HOST, f"iptables -I {rule}")
    try:
        yield
    finally:
        lab.sh(HOST, f"while iptables -D {rule} 2>/dev/null; do :; done", check=False)


def after_fault(lab, fault_end, bound=180):
    """From ``fault_end`` (monotonic), until each watched guest answers ping: seconds to
    hyp2's lockspace back (None if a takeover came first) and to each guest answering."""
    times, lockspace = {}, None
    deadline = fault_end + bound
    while len(times) < len(WATCHED):
        now = time.monotonic()
        assert now < deadline, f"after {bound}s: answered {times}, lockspace back {lockspace}"
        if lockspace is None and lockspace_joined(lab):
            lockspace = now - fault_end
        for name in WATCHED:
            if name not in times and answers_now(name):
                times[name] = time.monotonic() - fault_end
        time.sleep(0.3)
    if lockspace is None:
        with contextlib.suppress(AssertionError):
            system.wait_for(lambda: lockspace_joined(lab), 60, interval=0.5, what="the lockspace")
            lockspace = time.monotonic() - fault_end
    return lockspace, times


def cut(lab, seconds):
    """hyp2's private link cut for ``seconds``, vm2 and vm3 running there, sampled every
    0.5 s on both hosts. Returns the figures; the guests end where they run then."""
    with double_run_watch(lab, WATCHED) as watch:
        link(HOST, up=False)
        try:
            time.sleep(seconds)
        finally:
            link(HOST, up=True)
        up = time.monotonic()
        lockspace, answered = after_fault(lab, up)
    where = {name: ev.running_on(lab, name) for name in WATCHED}
    taken = lab.salt(HOST, "takeover.open_against")[1][HOST] != []
    return {
        "cut": seconds,
        "lockspace": lockspace,
        "answered": answered,
        "where": where,
        "taken_over": taken,
        "doubles": watch.doubles,
        "samples": watch.samples,
        # The keepers started the kept guests some seconds ago: those a person stopped stay down.
        "person_stopped_running": {n: w for n in (DESTROYED, STOPPED) if (w := ev.running_on(lab, n))},
    }


def timings():
    """sanlock's renewal-fail and dead times in the lab (its pillar over its release's
    defaults; seconds): 16 and 26 on Debian 13, 16 and 76 on Debian 12."""
    sanlock = hv_views.build(lab_pillar(), image.parameters(), "hyp1")["timings"]
    return sanlock["renewal_fail"], sanlock["host_dead"]


REJOIN = 20  # seconds a cut host takes to renew again once the link is back (gluster, then sanlock)


def a_death(cut):
    """Whether a cut of ``cut`` seconds may look like a death to the others: the cut host
    renews again only some REJOIN seconds after the link is back, and the others hold it
    dead once its last renewal is older than the dead time (always on Debian 13, where
    a cut long enough for sanlock to give the lockspace up is one: 16 s against 26 s)."""
    return cut + REJOIN >= timings()[1]


def short_cut():
    """Seconds of a cut that sanlock gives the lockspace up for: midway between the
    renewal-fail and dead times, at most 30 s (21 s on Debian 13, 30 s on Debian 12).
    On Debian 12 the others do not hold it for a death; on Debian 13 they may
    (``a_death``)."""
    renewal_fail, dead = timings()
    return min(30, (renewal_fail + dead) // 2)


def line(result):
    """One cut's figures, as the test and the benchmark print them."""
    lockspace = "not rejoined" if result["lockspace"] is None else f"{result['lockspace']:.1f} s"
    answered = ", ".join(f"{n} {s:.1f} s" for n, s in sorted(result["answered"].items()))
    how = f"taken over by {OTHER}" if result["taken_over"] else f"restarted on {HOST} by its keeper"
    return (
        f"{result['cut']} s cut of {HOST}'s private link: {how}; after the link came back, lockspace"
        f" {lockspace}, answering: {answered}; {len(result['doubles'])} double runs in"
        f" {result['samples']} samples"
    )
