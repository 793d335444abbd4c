"""A host that dies, in the lab with its arbiter (B1, B5, B6, B4; P4, R3, R4, R7).

hyp1 is crashed (cables pulled, its container's init killed: nothing of its
shutdown runs) or cut from the private network while it runs guests; hyp2,
with the arbiter arb1, is the majority. sanlock's timing is the safety: hyp2
may take hyp1's guests only once sanlock holds hyp1 dead (8 x io_timeout +
the watchdog fire timeout: 10 s on Debian 13, 60 s fixed in Debian 12's sanlock 3.8). Every
test puts the lab back: hyp1 booted, undrained, its incident closed.
"""

import time

import pytest

from bench import takeover as takeover_bench
from lab import machines, system
from tests.lab import alerts, scrape
from tests.lab import evacuation as ev
from tests.lab.conftest import report
from tests.lab.takeover import (
    HYP1_SERVER,
    HYP2_SERVER,
    comes_back,
    double_run_watch,
    healed,
    host,
    incidents,
    power,
    qemu_pid,
    revive,
)
from tests.lab.test_evacuation import link, recorded, status

pytestmark = pytest.mark.lab


def test_a_dead_host_is_taken_over_fenced_and_held_until_undrained(lab):
    """B1, B6, P4, one pass of ``make bench-takeover`` (its ``one_run``): hyp1 crashes
    with vm1 and vm2 running and their failover IPs routed to it: both run on hyp2 and
    answer there, never on both hosts (sampled every 0.5 s), the IPs are routed to
    hyp2, the stand-in saw hyp1's server set to rescue and rebooted; hyp2's own guest
    never stopped. Booted again, hyp1 holds (drained) and starts nothing until
    `guests.undrain`, which brings its guests back."""
    names = ["vm1", "vm2"]
    seen = {}

    def before():
        ev.start(lab, "hyp2", ["vm3"])
        seen.update(own=qemu_pid(lab, "hyp2", "vm3"), reboots=power(HYP1_SERVER).get("reboots", 0))
        assert seen["own"]
        seen["since"] = time.time()

    def during(_p4):
        assert qemu_pid(lab, "hyp2", "vm3") == seen["own"], "the survivor's own guest was restarted"
        system.wait_for(
            lambda: power(HYP1_SERVER).get("reboots") == seen["reboots"] + 1, 60, what="the fence"
        )
        assert power(HYP1_SERVER)["boot"] == "rescue"
        steps = {r["tag"] for r in recorded(lab, "hv/takeover/", seen["since"])}
        assert {"hv/takeover/dead", "hv/takeover/guest/started", "hv/takeover/fenced"} <= steps, steps
        # B3: the status view tells it: hyp2's quorum, hyp1 dead to it, the incident.
        view = status(lab)
        assert view["hosts"]["hyp2"]["quorum"]["quorum"] is True, view["hosts"]["hyp2"]
        assert view["hosts"]["hyp2"]["sanlock_hosts"]["hyp1"]["state"] == "dead", view["hosts"]["hyp2"]
        incident = view["incidents"][0]
        assert (incident["host"], incident["by"], incident["closed"]) == ("hyp1", "hyp2", None), incident
        assert {n: g["outcome"] for n, g in incident["guests"].items()} == dict.fromkeys(names, "started")
        assert incident["fence"]["result"] is True and incident["failover"]["moved"], incident
        # B9: hyp2's series say so too (docs/metrics.md).
        hv = scrape.refreshed(lab, "hyp2")["hyp2"]
        assert (hv["hv_incidents_open"], hv["hv_fence_last_success"], hv["hv_quorum"]) == (1, 1, 1), hv
        assert hv["hv_takeover_last_timestamp_seconds"] >= seen["since"] - 1, hv
        assert 0 < hv["hv_takeover_last_duration_seconds"] < time.time() - seen["since"], hv
        assert hv["hv_fence_last_timestamp_seconds"] >= seen["since"] - 1, hv
        here = lab.sh("hyp2", "virsh list --name --state-running").split()
        assert {"vm1", "vm2", "vm3"} <= set(here) and hv["hv_guests_running"] == len(here), (here, hv)
        seen["metrics"] = hv
        # B9: a person hears of it: one takeover and one fence alert at the webhook.
        seen["alerts"] = alerts.wait_for_kinds(seen["since"], {"takeover", "fence_done"}, host="hyp1")

        revive(lab, "hyp1")
        system.wait_for(
            lambda: ev.salt_one(lab, "hyp1", "guests.drained")[1].get("drained") is True,
            120,
            what="hyp1 to hold",
        )
        for name in names:
            assert ev.running_on(lab, name) == ["hyp2"], name
        rc, ret, text = ev.salt_one(lab, "hyp1", "guests.undrain")
        assert rc == 0, text
        for name in names:
            assert ret["guests"][name]["outcome"] == "migrated" and ev.running_on(lab, name) == ["hyp1"], text

    seconds, doubles, samples, running = takeover_bench.one_run(lab, names, before, during)
    report(takeover_bench.line(1, seconds, doubles, samples, running))
    report(takeover_bench.summary([seconds], doubles, running=[running]))
    sent = seen["alerts"]
    assert sorted(a["kind"] for a in sent) == ["fence_done", "takeover"], sent
    report(
        f"B9 alert sent for hyp1's death: {alerts.shown(next(a for a in sent if a['kind'] == 'takeover'))}"
    )
    hv = seen["metrics"]
    report(
        f"B9 metrics after hyp1's death, on hyp2: hv_incidents_open {hv['hv_incidents_open']:.0f},"
        f" hv_takeover_last_duration_seconds {hv['hv_takeover_last_duration_seconds']:.1f},"
        f" hv_fence_last_success {hv['hv_fence_last_success']:.0f},"
        f" hv_guests_running {hv['hv_guests_running']:.0f}"
    )
    assert doubles == 0
    # Within what the configuration allows: sanlock's dead time, two looks, the guests' start.
    assert seconds <= takeover_bench.bound(), (seconds, takeover_bench.bound(), takeover_bench.timings())


def test_a_host_cut_from_the_majority_stops_its_guests_and_the_majority_takes_them(lab):
    """R3, R4, R7: hyp1 cut from the private network (from hyp2 and the arbiter)
    while vm1 and vm2 run on it: its writes to the volumes fail (client quorum),
    sanlock stops its guests, hyp2 takes them over and fences hyp1 once (hyp1,
    the minority, fences nobody); sampled every 0.5 s, no guest ever runs on
    both; with the link back, heal ends with no split-brain, and each guest
    runs on exactly one host."""
    names = ["vm1", "vm2"]
    with ev.guests_on(lab, "hyp1", names), comes_back(lab):
        fences = {server: power(server).get("reboots", 0) for server in (HYP1_SERVER, HYP2_SERVER)}
        with double_run_watch(lab, names) as watch:
            link("hyp1", up=False)
            try:
                start = time.monotonic()
                system.wait_for(
                    lambda: not any(ev.state(lab, "hyp1", n) == "running" for n in names),
                    120,
                    what="hyp1 to stop them",
                )
                stopped = time.monotonic() - start
                probe = "timeout 30 sh -c 'echo x > /var/lib/libvirt/images/.cut-probe'; echo rc=$?"
                assert "rc=0" not in lab.sh("hyp1", probe, check=False), "hyp1 could still write, cut off"
                system.wait_for(
                    lambda: all(ev.state(lab, "hyp2", n) == "running" for n in names),
                    180,
                    what="hyp2 to take them",
                )
                taken = time.monotonic() - start
                # B6 fence race: only the majority fences, once per incident.
                once = fences[HYP1_SERVER] + 1
                system.wait_for(lambda: power(HYP1_SERVER).get("reboots") == once, 60, what="the fence")
                time.sleep(10)  # five more passes of the watchers: no second fence, none by hyp1
                assert power(HYP1_SERVER).get("reboots", 0) == once, power(HYP1_SERVER)
                assert power(HYP2_SERVER).get("reboots", 0) == fences[HYP2_SERVER], "the cut host fenced hyp2"
            finally:
                link("hyp1", up=True)
            healed(lab)
            time.sleep(3)  # a few more samples with the link back
        assert watch.doubles == [], watch.doubles
        # the watch looked all along: no double run longer than this went unseen
        assert watch.samples >= 20 and watch.largest_gap < watch.SEEN_WITHIN, watch.summary()
        for name in names:  # before hyp1 comes back (its undrain brings them home)
            assert ev.running_on(lab, name) == ["hyp2"], name
    report(
        f"partition: hyp1's guests stopped by sanlock {stopped:.0f}s into the cut, running on hyp2 at"
        f" {taken:.0f}s; {watch.summary()}; heal: 0 split-brain"
    )


def test_the_arbiters_death_moves_nothing(lab):
    """B5: arb1 crashes: the two hosts keep their quorum (two of three bricks), their
    guests keep running where they are, no incident, no fence; back, it heals."""
    with ev.guests_on(lab, "hyp1", ["vm1"]):
        ev.start(lab, "hyp2", ["vm2"])
        pids = {"vm1": qemu_pid(lab, "hyp1", "vm1"), "vm2": qemu_pid(lab, "hyp2", "vm2")}
        before, reboots = incidents(lab), power(HYP1_SERVER).get("reboots", 0)
        machines.crash(host("arb1"))
        try:
            time.sleep(30)  # gluster gives the brick up after 5 s; the watchers look every 2 s
            for where in ("hyp1", "hyp2"):
                probe = "/var/lib/libvirt/images/.arbiter-test"
                lab.sh(where, f"echo ok > {probe} && rm {probe}")  # still writable: a majority
            assert {"vm1": qemu_pid(lab, "hyp1", "vm1"), "vm2": qemu_pid(lab, "hyp2", "vm2")} == pids
            assert incidents(lab) == before
            assert power(HYP1_SERVER).get("reboots", 0) == reboots
        finally:
            revive(lab, "arb1")
        healed(lab)
