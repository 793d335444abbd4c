"""Guests that come back (B1) on a running lab (``make lab`` first); prints
figures, asserts nothing.

    .venv/bin/python -m bench.keeper [--runs 1] [--cuts 21,50,70]

hyp2 runs vm3 (``running: true``, home hyp2) and vm2 (started by hand); its
private link is cut for each length in turn. For each cut: seconds from the
link coming back to hyp2's lockspace back and to each guest answering ping on
its failover IP, and whether hyp2's keeper restarted them (a cut shorter than
sanlock's dead time, rejoin included) or hyp1 took them over (longer). Where
each guest runs is sampled every 0.5 s on both hosts: a guest on both is a
double run (goal: 0). Then the median and maximum over the cuts, beside
sanlock's renewal-fail and dead times; the goal is a guest answering within
30 s of the lockspace coming back. ``tests/lab/test_keeper.py`` runs one pass
(``measure``, what ``main`` runs).
"""

import argparse
import statistics
import sys

from bench import lab_up
from tests.lab import keeper as kp

# Below sanlock's dead time (kp.short_cut: 30 s on Debian 12, 21 s on 13), then past it.
CUTS = (kp.short_cut(), 50, 70)


def one_pass(lab, cuts=CUTS):
    """Each cut once (the guests placed on hyp2 first, put back after): the results."""
    results = []
    for seconds in cuts:
        try:
            results.append(kp.cut(lab, seconds))
        finally:
            kp.recover(lab)
    return results


def summary(results):
    """The figures over ``results`` (kp.cut's), in one line."""
    renewal_fail, dead = kp.timings()
    answered = [max(r["answered"].values()) for r in results]
    after_lockspace = [
        max(r["answered"].values()) - r["lockspace"]
        for r in results
        if not r["taken_over"] and r["lockspace"] is not None
    ]
    doubles = sum(len(r["doubles"]) for r in results)
    keeper = (
        f"; restarted by the keeper {statistics.median(after_lockspace):.1f} s (median),"
        f" {max(after_lockspace):.1f} s (max) after the lockspace was back (goal <= 30 s)"
        if after_lockspace
        else ""
    )
    return (
        f"link back to both guests answering over {len(results)} cuts: median"
        f" {statistics.median(answered):.1f} s, max {max(answered):.1f} s{keeper}; {doubles} double runs"
        f" (goal 0). sanlock here: renewals fail after {renewal_fail} s, a host is dead after {dead} s."
    )


def measure(lab, runs=1, cuts=CUTS, echo=print):
    """``runs`` passes over ``cuts``, the guests set up first and put back after; each
    cut's line echoed as it ends, then the summary. Returns the results."""
    results = []
    with kp.kept_guests(lab):
        for run in range(1, runs + 1):
            for result in one_pass(lab, cuts):
                results.append(result)
                echo(f"run {run}: {kp.line(result)}")
    echo(summary(results))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.keeper")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cuts", default=",".join(map(str, CUTS)), help="seconds, comma-separated")
    args = parser.parse_args(argv)
    lab = lab_up.lab_or_none()
    if lab is None:
        return 1
    measure(lab, args.runs, [int(c) for c in args.cuts.split(",") if c.strip()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
