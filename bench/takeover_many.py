"""P4 among three hosts (B8); prints figures, asserts nothing.

    .venv/bin/python -m bench.takeover_many [--runs 3]

hyp1 of the three-host lab (tests/lab/many.py: hyp1, hyp2, hyp3, no arbiter)
crashes with vm1..vm4 running: seconds until all four run on the two survivors
(hyp1's incident assigns them by room) and until the last answers ping on its
failover IP, how they were spread, and whether each IP was moved to the host its
guest runs on. Where each guest runs is sampled all along: a guest on two hosts
is a double run (goal: 0). Each run ends with hyp1 booted again, undrained and
its guests stopped. Boots the three-host lab when it is not up (and takes it down
at the end). tests/lab/test_many_hosts.py runs one pass of it.
"""

import argparse
import statistics
import sys
import time
from functools import partial

from bench import takeover
from lab.topology import RELEASE, RELEASES
from tests.lab import many
from tests.lab.watch import DoubleRunWatch

TAKEOVER_BOUND = 240  # seconds: sanlock's dead time, the assignment, four TCG guests booting
IPS_BOUND = 150  # s after the guests answer: a keeper moves what the takeover could not (45 s, then a minute)
CAN_TAKE = "salt {host} sanlock.status: can_take_guests"


def watching(hosts, names):
    """The double-run watch (tests/lab/watch.py) over ``names`` on ``hosts``."""
    return DoubleRunWatch(lambda: many.running(hosts, names))


def start(host, names):
    """Start ``names`` on ``host`` and wait until each that has a failover IP answers ping."""
    for name in names:
        rc, ret = many.salt(host, "guests.start", name)
        outcome = (ret.get(host) or {}).get("outcome") if isinstance(ret.get(host), dict) else ret
        assert rc == 0 and outcome in ("started", "restored"), ret
    for name in names:
        if name not in many.QUIET:
            many.wait_for(lambda name=name: many.answers(name), 90, 0.5, f"{name} to answer ping")


def can_take_guests(host):
    rc, ret = many.salt(host, "sanlock.status", timeout=60)
    return rc == 0 and isinstance(ret.get(host), dict) and ret[host].get("can_take_guests") is True


def put_back(hosts, victim=None):
    """The lab as before a run, and checked so: ``victim`` booted again if it is down,
    every host in its lockspace, undrained (its incidents closed), every guest stopped,
    no save file, every failover IP routed to hyp1 again, the volumes healing."""
    if victim and not many.sh(victim, "echo up").strip():
        many.lab("revive", victim, timeout=300, check=True)
    for host in hosts:
        many.link(host, up=True)
    for host in hosts:
        many.wait_for(lambda host=host: can_take_guests(host), 240, 3, CAN_TAKE.format(host=host))
    for host in hosts:
        many.salt(host, "guests.undrain")  # what it brings back is stopped below
    every = [*many.GUESTS, *many.QUIET, many.BIG]
    for host in hosts:
        many.sh(host, " ; ".join(f"virsh -q destroy {name} >/dev/null 2>&1" for name in every))
    many.sh("hyp1", "rm -f /var/lib/libvirt/qemu/save/*.save /var/lib/libvirt/qemu/save/*.partial")
    many.lab("api", "POST", "/clear", check=True)
    for name in many.GUESTS:
        body = f'{{"ip": "{many.guest_ip(name)}", "destination": "{many.public_ip("hyp1")}"}}'
        many.lab("api", "POST", "/route", body, check=True)
    many.salt("-N", "hypervisors", "online.sync_failover")
    for volume in ("vmstore", "sanlock", "save"):
        many.salt("hyp2", "gluster.heal", volume)
    assert not any(many.running(hosts, every).values()), many.running(hosts, every)
    _, drained = many.salt("-N", "hypervisors", "guests.drained")
    _, held = many.salt("-N", "hypervisors", "takeover.open_against")
    assert not any((drained.get(h) or {}).get("drained") for h in hosts) and not any(
        held.get(h) for h in hosts
    ), (
        drained,
        held,
    )


def _seen(survivors, names):
    """Where the guests run, where the API routes their IPs, each survivor's proxy ARP routes."""
    routes = many.api_routes()
    ips = {n: routes.get(many.guest_ip(n)) for n in names}
    listed = {h: many.sh(h, "ip -4 route show scope link").split() for h in survivors}
    guest_ips = [many.guest_ip(n) for n in names]
    proxied = {h: [ip for ip in guest_ips if ip in words] for h, words in listed.items()}
    return f"running: {many.running(survivors, names)}, API routes: {ips}, proxy ARP routes: {proxied}"


def one_run(victim="hyp1", names=many.GUESTS):
    """One crash of ``victim`` with ``names`` running on it, put back after: ``{"running"
    (seconds to all running on the survivors), "answered" (to the last answering ping),
    "spread" ({host: guests}), "ips_follow" (each IP routed to its guest's host),
    "fence" (what the provider's stand-in recorded for ``victim``: ``{"resets": [types],
    "rescue_booted"}``), "doubles", "samples", "largest_gap" (seconds between two
    samples, at most)}``."""
    hosts = many.names()
    survivors = [h for h in hosts if h != victim]
    start(victim, names)
    resets_before = len(_power(victim)["resets"])
    try:
        with watching(hosts, names) as watch:
            began = time.monotonic()
            many.lab("crash", victim, check=True)
            many.wait_for(
                lambda: all(where for where in many.running(survivors, names).values()),
                TAKEOVER_BOUND,
                0.5,
                f"{names} running on {survivors}",
            )
            running = time.monotonic() - began
            for name in names:
                try:
                    many.wait_for(partial(many.answers, name), TAKEOVER_BOUND, 0.3, f"{name} answering")
                except TimeoutError as exc:  # what a reader needs to tell why
                    raise TimeoutError(f"{exc}; {_seen(survivors, names)}") from None
            answered = time.monotonic() - began
            where = many.running(survivors, names)
        spread = {host: sorted(n for n, hs in where.items() if host in hs) for host in survivors}
        try:  # the takeover moves them; what it could not, the keepers do (keeper:failover_grace)
            many.wait_for(partial(_ips_follow, where, names), IPS_BOUND, 1, "the failover IPs following")
            ips_follow = True
        except TimeoutError:
            ips_follow = False
            print(f"takeover-many: IPs not following after {IPS_BOUND} s: {_seen(survivors, names)}")
        fence = _fence_seen(victim, resets_before)
    finally:
        put_back(hosts, victim)
    return {
        "running": running,
        "answered": answered,
        "spread": spread,
        "ips_follow": ips_follow,
        "fence": fence,
        "doubles": len(watch.doubles),
        "samples": watch.samples,
        "largest_gap": watch.largest_gap,
    }


def _ips_follow(where, names):
    routes = many.api_routes()
    return all(routes[many.guest_ip(n)] == many.public_ip(where[n][0]) for n in names)


def _power(host):
    return many.api("GET", "/state")["power"][str(many.server_number(host))]


def _fence_seen(victim, resets_before, settle=20):
    """The resets the stand-in recorded for ``victim`` since ``resets_before``, once a
    first one is there and ``settle`` s passed with no other (a second would be a defect)."""
    many.wait_for(lambda: len(_power(victim)["resets"]) > resets_before, TAKEOVER_BOUND, 1, "the fence")
    time.sleep(settle)
    power = _power(victim)
    return {
        "resets": [reset["type"] for reset in power["resets"][resets_before:]],
        "rescue_booted": power["running"] == "rescue",
    }


def line(run, result):
    spread = ", ".join(f"{h}: {len(g)}" for h, g in sorted(result["spread"].items()))
    return (
        f"run {run}: hyp1 of 3 crashed with 4 guests; all running on the others after"
        f" {result['running']:.1f} s, all answering after {result['answered']:.1f} s; spread {spread};"
        f" IPs followed: {result['ips_follow']}; fenced: {'+'.join(result['fence']['resets'])} reset"
        f"{' into rescue' if result['fence']['rescue_booted'] else ''};"
        f" {result['doubles']} double runs in {result['samples']} samples"
    )


def summary(results, release=RELEASE):
    """P4 among three hosts over the runs, on ``release``, beside sanlock's floor there."""
    answered = [r["answered"] for r in results]
    running = [r["running"] for r in results]
    dead = takeover.timings(release)["host_dead"]
    return (
        f"P4 among 3 hosts (Debian {RELEASES[release]}): all answering after median"
        f" {statistics.median(answered):.1f} s, max {max(answered):.1f} s; all running after median"
        f" {statistics.median(running):.1f} s over {len(results)} runs;"
        f" {sum(r['doubles'] for r in results)} double runs (goal <= 45 s, 0); sanlock holds a host"
        f" for dead after {dead} s here"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.takeover_many")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with many.up_for_a_bench():
        results = []
        for run in range(1, args.runs + 1):
            results.append(one_run())
            print(line(run, results[-1]), flush=True)
        print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
