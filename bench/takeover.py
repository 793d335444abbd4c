"""P4 on a running lab (``make lab`` first); prints figures, asserts nothing.

    .venv/bin/python -m bench.takeover [--runs 3]

P4: hyp1 crashes (cables pulled, its init killed) with vm1 and vm2 running:
seconds from the crash to the last of them answering ping on its failover IP
through hyp2 (sanlock holds hyp1 dead, hyp2 starts them and moves their IPs),
and beside it the seconds until both run on hyp2 (the rest is the lab's TCG
guests booting).
While it runs, where each guest runs is sampled every 0.5 s: a guest on both
hosts is a double run (goal: 0). Each run ends with hyp1 booted again,
undrained and its guests stopped. Beside the peers' figures.
"""

import argparse
import statistics
import sys

from bench import lab_up
from lab import image
from lab.topology import RELEASE, RELEASES
from tests.lab import evacuation as ev
from tests.lab import takeover as to
from tests.loaders import hv_views
from tests.pillar_cases import lab_pillar

ANCHORS = "Proxmox VE HA ~120 s, oVirt ~150 s, sanlock defaults alone 140 s"
# What a takeover may take beyond sanlock's dead time and two looks of the watcher:
# the fence, the lab's TCG test guests started, their IPs moved and their first answer
# to ping, on the 2-core lab machine shared with everything else (seen: 8-24 s).
GUEST_START_ALLOWANCE = 40


def timings(release=RELEASE):
    """The lab hosts' sanlock timings on ``release`` (the pillar over its defaults)."""
    return hv_views.build(lab_pillar(), image.parameters(release), "hyp1")["timings"]


def bound():
    """Seconds a takeover may take in the lab, from its configuration: sanlock's dead time,
    two looks of the takeover watcher, and the guests' start (GUEST_START_ALLOWANCE)."""
    poll = lab_pillar()["hypervisor"].get("takeover", {}).get("poll_interval")
    poll = poll or image.parameters()["takeover"]["poll_interval"]
    return timings()["takeover_after"] + 2 * poll + GUEST_START_ALLOWANCE


def one_run(lab, names, before=None, during=None):
    """One crash of hyp1 with ``names`` running on it, put back after: (seconds to the
    last answering on hyp2, double runs, samples, seconds to all running there).
    ``before()`` runs once the guests run on hyp1, ``during(seconds)`` once they
    answer on hyp2, hyp1 still down (what tests/lab/test_takeover.py looks at; the
    benchmark passes neither)."""
    with ev.guests_on(lab, "hyp1", names), to.comes_back(lab), to.double_run_watch(lab, names) as watch:
        if before:
            before()
        running, seconds = to.crash_until_taken_over(lab, names)
        if during:
            during(seconds)
    return seconds, len(watch.doubles), watch.samples, running


def line(run, seconds, doubles, samples, running=None):
    both = "" if running is None else f" (both running there after {running:.1f} s)"
    return (
        f"run {run}: hyp1 crashed with 2 guests; both answered on hyp2 after {seconds:.1f} s{both},"
        f" {doubles} double runs in {samples} samples"
    )


def summary(times, doubles, release=RELEASE, running=()):
    """P4 over the runs (seconds each to both answering; ``running``: to both running) on
    ``release``, beside sanlock's floor and the peers'."""
    sanlock = timings(release)
    started = (
        f"; running on hyp2: median {statistics.median(running):.1f} s, max {max(running):.1f} s"
        if running
        else ""
    )
    return (
        f"P4 (Debian {RELEASES[release]}): median {statistics.median(times):.1f} s, max {max(times):.1f} s"
        f" over {len(times)} runs, {doubles} double runs (goal <= 45 s, 0){started}. sanlock's own"
        f" floor here: 8 x io_timeout ({sanlock['io_timeout']}) + watchdog fire timeout"
        f" ({sanlock['watchdog_fire_timeout']}) = {sanlock['host_dead']} s. Peers: {ANCHORS}."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.takeover")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    lab = lab_up.lab_or_none()
    if lab is None:
        return 1
    times, doubles, running = [], 0, []
    for run in range(1, args.runs + 1):
        seconds, double, samples, started = one_run(lab, ["vm1", "vm2"])
        times.append(seconds)
        running.append(started)
        doubles += double
        print(line(run, seconds, double, samples, started))
    print(summary(times, doubles, running=running))
    return 0


if __name__ == "__main__":
    sys.exit(main())
