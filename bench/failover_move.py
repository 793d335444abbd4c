"""P1: how soon a failover IP moved at the provider is answered by its new
host, on a running lab (``make lab`` first). Prints each move, the median and
the maximum, beside the seed's floor; it asserts nothing.

    .venv/bin/python -m bench.failover_move [--moves 6] [--ip 203.0.113.101]

Each move routes the IP to the other host at the API stand-in (the instant
the provider's change takes effect) and then ARP-pings the IP from the public
gateway's namespace (the provider's router) until only the new host's MAC
answers. What runs in between is the real path: the new host's hv_failover
beacon (failover:poll_interval, 1 s in the lab), its event, the master's
reactor, online.sync_failover on every host (API read, proxyarp rewritten,
Shorewall reload, gratuitous ARP). The IP ends on the host it started on.
"""

import argparse
import statistics
import sys
import time

from lab import __main__ as labctl
from lab import topology
from tests.lab.failover import public_ip, route, routed_to, wait_answered_by
from tests.pillar_cases import lab_pillar

# The seed: failover_updater.pl from cron every minute, then a 90 s sleep
# before it rewrites proxyarp and reloads Shorewall.
SEED_CRON, SEED_SLEEP = 60, 90


def main(argv=None):
    cluster = lab_pillar()["hypervisor"]
    default_ip = next(ip for h in cluster["hosts"].values() for ip in h.get("failover_ips") or [])
    parser = argparse.ArgumentParser(prog="python -m bench.failover_move")
    parser.add_argument("--moves", type=int, default=6)
    parser.add_argument("--ip", default=default_ip)
    args = parser.parse_args(argv)
    if not labctl.healthy(topology.hosts()):
        print("the lab is not up: run make lab first", file=sys.stderr)
        return 1
    hosts = sorted(name for name, host in cluster["hosts"].items() if host.get("role") != "arbiter")[:2]
    start = next((h for h in hosts if public_ip(h) == routed_to(args.ip)), hosts[0])
    order = [hosts[(hosts.index(start) + 1 + i) % 2] for i in range(args.moves)]
    if order[-1] != start:
        order.append(start)
    took = []
    for target in order:
        time.sleep(2)  # let the previous move settle (the beacon's last poll, the syncs)
        since = route(args.ip, target)
        took.append(wait_answered_by(args.ip, target, since, timeout=60))
        print(f"move {len(took)}: {args.ip} -> {target}: answered by {target} after {took[-1]:.2f} s")
    print(
        f"P1 over {len(took)} moves: median {statistics.median(took):.2f} s, max {max(took):.2f} s"
        f" (goal: median <= 3 s); the seed: {SEED_CRON} s cron + {SEED_SLEEP} s sleep,"
        f" {SEED_SLEEP} to {SEED_CRON + SEED_SLEEP} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
