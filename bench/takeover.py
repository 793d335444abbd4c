"""P4 on a running lab (``make lab`` first); prints figures, asserts nothing.

    .venv/bin/python -m bench.takeover [--runs 3]

P4: hyp1 crashes (cables pulled, its init killed) with vm1 and vm2 running:
seconds from the crash to the last of them answering ping on its failover IP
through hyp2 (sanlock holds hyp1 dead, hyp2 starts them and moves their IPs).
While it runs, where each guest runs is sampled every 0.5 s: a guest on both
hosts is a double run (goal: 0). Each run ends with hyp1 booted again,
undrained and its guests stopped. Beside the peers' figures (HA-NOTES.md).
"""

import argparse
import statistics
import sys

from lab import __main__ as labctl
from lab import topology
from tests.lab import evacuation as ev
from tests.lab import takeover as to
from tests.lab.conftest import Lab
from tests.pillar_cases import lab_pillar

ANCHORS = "Proxmox VE HA ~120 s, oVirt ~150 s, sanlock defaults alone 140 s"


def one_run(lab, names):
    with ev.guests_on(lab, "hyp1", names), to.comes_back(lab), to.DoubleRunWatch(lab, names) as watch:
        seconds = to.crash_until_taken_over(lab, names)
    return seconds, len(watch.doubles), watch.samples


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.takeover")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    hosts = topology.hosts()
    if not labctl.healthy(hosts):
        print("the lab is not up: run make lab first", file=sys.stderr)
        return 1
    lab = Lab(hosts)
    sanlock = lab_pillar()["hypervisor"].get("sanlock", {})
    io_timeout = sanlock.get("io_timeout", 2)
    floor = 8 * io_timeout + sanlock.get("watchdog_fire_timeout", 60)
    times, doubles = [], 0
    for run in range(1, args.runs + 1):
        seconds, double, samples = one_run(lab, ["vm1", "vm2"])
        times.append(seconds)
        doubles += double
        print(
            f"run {run}: hyp1 crashed with 2 guests; both answered on hyp2 after {seconds:.1f} s,"
            f" {double} double runs in {samples} samples"
        )
    print(
        f"P4: median {statistics.median(times):.1f} s, max {max(times):.1f} s over {len(times)} runs,"
        f" {doubles} double runs (goal <= 45 s, 0). sanlock's own floor here: 8 x io_timeout ({io_timeout})"
        f" + watchdog fire timeout = {floor} s. Peers: {ANCHORS}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
