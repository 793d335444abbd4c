"""P2 among three hosts (B8): a drain of six guests spread over the two other hosts,
against a drain of one; prints figures, asserts nothing.

    .venv/bin/python -m bench.drain_many [--runs 1]

On the three-host lab (tests/lab/many.py), hyp1 is drained with vm1 running on it,
then with vm1..vm6 (four with a failover IP, two without a NIC): seconds from
``guests.drain`` to its return (every guest migrated, its failover IPs moved), and
where each went. Each run ends with hyp1 undrained and every guest stopped. Boots the
three-host lab when it is not up (and takes it down at the end).
tests/lab/test_many_hosts.py runs one pass of it.
"""

import argparse
import statistics
import sys
import time

from bench.takeover_many import put_back, start
from tests.lab import many

SIX = (*many.GUESTS, *many.QUIET)


def one_drain(names, host="hyp1"):
    """``names`` started on ``host``, ``host`` drained and put back: ``{"seconds",
    "outcomes" ({guest: outcome}), "spread" ({target: count})}``."""
    hosts = many.names()
    start(host, names)
    try:
        began = time.monotonic()
        rc, ret = many.salt(host, "guests.drain", timeout=900)
        seconds = time.monotonic() - began
        drain = ret.get(host)
        if rc != 0 or not isinstance(drain, dict):
            raise RuntimeError(f"guests.drain on {host}: {ret}")
        outcomes = {name: drain["guests"][name]["outcome"] for name in names}
        spread = {}
        for name in names:
            target = drain["targets"].get(name) or "nowhere"
            spread[target] = spread.get(target, 0) + 1
    finally:
        put_back(hosts)
    return {"seconds": seconds, "outcomes": outcomes, "spread": spread}


def line(run, count, result):
    spread = ", ".join(f"{host}: {n}" for host, n in sorted(result["spread"].items()))
    moved = sum(outcome == "migrated" for outcome in result["outcomes"].values())
    return (
        f"run {run}: drain of {count} guest(s) from hyp1 of 3 in {result['seconds']:.1f} s;"
        f" {moved} of {count} migrated; to {spread}"
    )


def summary(ones, sixes):
    one = statistics.median(r["seconds"] for r in ones)
    six = statistics.median(r["seconds"] for r in sixes)
    return (
        f"P2 among 3 hosts: drain of 1 guest median {one:.1f} s, of 6 guests over 2 targets median"
        f" {six:.1f} s ({six / one:.1f}x for 6x the guests) over {len(ones)} run(s) each"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.drain_many")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    with many.up_for_a_bench():
        ones, sixes = [], []
        for run in range(1, args.runs + 1):
            ones.append(one_drain(["vm1"]))
            print(line(run, 1, ones[-1]), flush=True)
            sixes.append(one_drain(list(SIX)))
            print(line(run, len(SIX), sixes[-1]), flush=True)
        print(summary(ones, sixes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
