"""P4 on a running lab (``make lab`` first); prints figures, asserts nothing.

    .venv/bin/python -m bench.takeover [--runs 3]

P4: hyp1 crashes (cables pulled, its init killed) with vm1 and vm2 running:
seconds from the crash to the last of them answering ping on its failover IP
through hyp2 (sanlock holds hyp1 dead, hyp2 starts them and moves their IPs).
While it runs, where each guest runs is sampled every 0.5 s: a guest on both
hosts is a double run (goal: 0). Each run ends with hyp1 booted again,
undrained and its guests stopped. Beside the peers' figures.
"""

import argparse
import statistics
import sys

from bench import lab_up
from tests.lab import evacuation as ev
from tests.lab import takeover as to
from tests.loaders import hv_views, layered_parameters
from tests.pillar_cases import lab_pillar

ANCHORS = "Proxmox VE HA ~120 s, oVirt ~150 s, sanlock defaults alone 140 s"


def one_run(lab, names, before=None, during=None):
    """One crash of hyp1 with ``names`` running on it, put back after: (seconds to the
    last answering on hyp2, double runs, samples). ``before()`` runs once the guests run
    on hyp1, ``during(seconds)`` once they answer on hyp2, hyp1 still down (what
    tests/lab/test_takeover.py looks at; the benchmark passes neither)."""
    with ev.guests_on(lab, "hyp1", names), to.comes_back(lab), to.DoubleRunWatch(lab, names) as watch:
        if before:
            before()
        seconds = to.crash_until_taken_over(lab, names)
        if during:
            during(seconds)
    return seconds, len(watch.doubles), watch.samples


def line(run, seconds, doubles, samples):
    return (
        f"run {run}: hyp1 crashed with 2 guests; both answered on hyp2 after {seconds:.1f} s,"
        f" {doubles} double runs in {samples} samples"
    )


def summary(times, doubles):
    """P4 over the runs (seconds each), beside sanlock's floor and the peers' figures."""
    timings = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")["timings"]
    io_timeout, floor = timings["io_timeout"], timings["host_dead"]
    return (
        f"P4: median {statistics.median(times):.1f} s, max {max(times):.1f} s over {len(times)} runs,"
        f" {doubles} double runs (goal <= 45 s, 0). sanlock's own floor here: 8 x io_timeout ({io_timeout})"
        f" + watchdog fire timeout = {floor} s. Peers: {ANCHORS}."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.takeover")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    lab = lab_up.lab_or_none()
    if lab is None:
        return 1
    times, doubles = [], 0
    for run in range(1, args.runs + 1):
        seconds, double, samples = one_run(lab, ["vm1", "vm2"])
        times.append(seconds)
        doubles += double
        print(line(run, seconds, double, samples))
    print(summary(times, doubles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
