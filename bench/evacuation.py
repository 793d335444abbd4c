"""P2 and P3 on a running lab (``make lab`` first); prints figures, asserts nothing.

    .venv/bin/python -m bench.evacuation [--runs 3]

P2: ``guests.evacuate`` of hyp1 with 1 guest, then with 4 (live migrations,
``evacuation:parallel`` at a time, then their failover IPs moved and
confirmed): the time of each and the ratio 4 over 1 (goal <= 1.5). P3: one live
migration of vm1 under a ping every 100 ms from the public segment: packets
lost (goal <= 1). Each run starts the guests on hyp1 and ends with them
stopped and their IPs routed home again.
"""

import argparse
import statistics
import sys
import time

from bench import lab_up
from tests.lab import evacuation as ev


def evacuation_time(lab, names):
    """Seconds ``guests.evacuate`` took on hyp1 (as it reports them) with ``names`` running."""
    with ev.guests_on(lab, "hyp1", names):
        rc, ret, text = ev.salt_one(lab, "hyp1", "guests.evacuate")
        outcomes = {n: g["outcome"] for n, g in ret["guests"].items()}
        if rc != 0 or set(outcomes.values()) != {"migrated"}:
            raise RuntimeError(f"evacuation did not migrate every guest: {text}")
        return ret["seconds"], ret["failover"]["moved"]


def lost_packets(lab):
    with ev.guests_on(lab, "hyp1", ["vm1"]), ev.ContinuousPing(ev.guest_ip("vm1")) as pinger:
        time.sleep(2)
        rc, ret, text = ev.salt_one(lab, "hyp1", "guests.migrate", "vm1")
        time.sleep(2)
    if rc != 0:
        raise RuntimeError(text)
    return pinger.lost, pinger.result.transmitted, ret["seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.evacuation")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    lab = lab_up.lab_or_none()
    if lab is None:
        return 1
    four = sorted(ev.lab_guests())[:4]
    one_s, four_s, losses = [], [], []
    for run in range(1, args.runs + 1):
        seconds, moved = evacuation_time(lab, four[:1])
        one_s.append(seconds)
        print(f"run {run}: 1 guest evacuated in {seconds:.2f} s ({len(moved)} failover IP moved)")
        seconds, moved = evacuation_time(lab, four)
        four_s.append(seconds)
        print(f"run {run}: 4 guests evacuated in {seconds:.2f} s ({len(moved)} failover IPs moved)")
        lost, sent, took = lost_packets(lab)
        losses.append(lost)
        print(f"run {run}: live migration of vm1 in {took:.2f} s, {lost} of {sent} pings (100 ms) lost")
    ratio = statistics.median(four_s) / statistics.median(one_s)
    print(
        f"P2: median 1 guest {statistics.median(one_s):.2f} s, 4 guests {statistics.median(four_s):.2f} s,"
        f" ratio {ratio:.2f} (goal <= 1.5)"
    )
    print(
        f"P3: packets lost at 100 ms during one live migration: median {statistics.median(losses)}, max"
        f" {max(losses)} (goal <= 1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
