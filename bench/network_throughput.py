"""TCP throughput and round trip between two stand-in guests on the public
(wan) bridge of two lab hosts, across the tunnel that joins that bridge, on a
running lab (``make lab`` first). Prints Mbit/s each way and the ping RTT; it
asserts nothing.

    .venv/bin/python -m bench.network_throughput [--transport vxlan|openvpn] [--seconds 10] [--pings 20]

It measures the transport the hosts carry now: the tunnel port found on the
bridge of each host (a vxlan device: vxlan; a tap: openvpn). That must agree
with the transport the served pillar asks for (or with ``--transport``):
otherwise the states were not applied since the switch, and it stops.
``--both`` (``make bench-network``) compares them: it serves the lab's pillar
with transport vxlan, then openvpn, applies and measures each, prints the
ratio, and serves and applies the lab's own pillar again.

A stand-in is a network namespace on this machine with a veth port on the
host's bridge (tests/lab/standins.py), so the figures include that veth hop on
each side, and both hosts share this machine's CPUs: they compare transports,
they are not a hardware figure. The stand-ins know each other's MAC (static
neighbour entries) so that the hosts' proxy ARP on the bridge cannot take the
path off the tunnel.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

from lab import __main__ as labctl
from lab import master, system, topology
from tests import pillar_cases
from tests.lab import standins
from tests.loaders import hv_schema

# What each tunnel port on a guest bridge means (``ip -d`` link kind).
TRANSPORT_OF_KIND = {"vxlan": "vxlan", "tun": "openvpn"}
DEFAULT_TRANSPORT = hv_schema.BY_KEY["tunnels:transport"].default


def tunnel_ports(links):
    """``ip -d -j link show master BRIDGE`` output -> [(ifname, transport)] of its
    tunnel ports (veths and other ports are not tunnels)."""
    ports = []
    for link in links:
        kind = (link.get("linkinfo") or {}).get("info_kind")
        if kind in TRANSPORT_OF_KIND:
            ports.append((link["ifname"], TRANSPORT_OF_KIND[kind]))
    return ports


def carried_transport(host, bridge):
    """(transport, port) of the tunnel on ``bridge`` of ``host``; raises when
    there is none or more than one kind."""
    proc = system.run("ip", "-n", host.netns, "-d", "-j", "link", "show", "master", bridge, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{host.name} ({host.netns}): no bridge {bridge}: {proc.stderr.strip()}")
    ports = tunnel_ports(json.loads(proc.stdout or "[]"))
    kinds = {transport for _, transport in ports}
    if len(kinds) != 1:
        found = ", ".join(f"{name} ({t})" for name, t in ports) or "none"
        raise RuntimeError(f"{host.name}: expected one kind of tunnel port on {bridge}, found: {found}")
    return ports[0][1], ",".join(name for name, _ in ports)


def pillar_transport(served=None):
    """The transport the master's pillar asks for: the override (tests and the
    lead switch transports there) in front of the lab's pillar file."""
    served = served or [master.PILLAR_OVERRIDE / "hypervisor.sls", topology.PILLAR]
    for path in map(Path, served):
        if path.exists():
            cluster = (yaml.safe_load(path.read_text()) or {}).get("hypervisor") or {}
            return (cluster.get("tunnels") or {}).get("transport", DEFAULT_TRANSPORT), path
    return DEFAULT_TRANSPORT, None


def measure(ends, seconds, pings):
    """iperf3 both ways between the two stand-ins, then ``pings`` pings."""
    a, b = ends
    with standins.iperf3_server(b.ns):
        forward = standins.iperf3_client(a.ns, b.ip, seconds=seconds)
        backward = standins.iperf3_client(a.ns, b.ip, seconds=seconds, reverse=True)
    rtt = standins.ping(a.ns, b.ip, count=pings, timeout=2)
    return forward, backward, rtt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=sorted(set(TRANSPORT_OF_KIND.values())))
    parser.add_argument(
        "--hosts", nargs=2, metavar="HOST", help="default: the first two lab hosts that carry guests"
    )
    parser.add_argument("--bridge", help="default: the pillar's public bridge")
    parser.add_argument("--seconds", type=int, default=10, help="per iperf3 direction")
    parser.add_argument("--pings", type=int, default=20)
    parser.add_argument(
        "--addresses",
        nargs=2,
        default=["192.0.2.201/24", "192.0.2.202/24"],
        metavar="CIDR",
        help="of the two stand-ins (lab-only addresses)",
    )
    parser.add_argument(
        "--both",
        action="store_true",
        help="apply vxlan, then openvpn, measure each, print the ratio, then the lab pillar again",
    )
    args = parser.parse_args(argv)

    by_name = {h.name: h for h in topology.hosts()}
    names = args.hosts or sorted(h.name for h in by_name.values() if h.role != "arbiter")[:2]
    hosts = [by_name[n] for n in names]
    bridge = args.bridge or topology.public_bridge()
    if not bridge:
        parser.error("the pillar has no public bridge: name one with --bridge")

    if args.both:
        figures = {}
        try:
            for transport in ("vxlan", "openvpn"):
                _serve_transport(transport)
                figures[transport] = run(args, hosts, names, bridge, transport, "--both")
        finally:
            master.clear_pillar_override()
            rc = labctl.apply(echo=lambda *_: None)
            print(f"lab pillar served and applied again (exit code {rc})")
        vx, ovpn = figures["vxlan"], figures["openvpn"]
        for i, label in ((0, f"{names[0]} -> {names[1]}"), (1, f"{names[1]} -> {names[0]}")):
            ratio = vx[i].received_mbps / ovpn[i].received_mbps
            print(f"ratio vxlan/openvpn {label}: {ratio:.1f}x")
        return
    if args.transport:
        expected, source = args.transport, "--transport"
    else:
        expected, path = pillar_transport()
        source = f"the pillar ({path})"
    run(args, hosts, names, bridge, expected, source)


def _serve_transport(transport):
    """Serve the lab's pillar with ``tunnels:transport`` set, and apply it."""
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"].setdefault("tunnels", {})["transport"] = transport
    for part in ("hypervisor", "online"):
        (master.PILLAR_OVERRIDE / f"{part}.sls").write_text(yaml.safe_dump({part: pillar[part]}))
    rc = labctl.apply(echo=lambda *_: None)
    if rc != 0:
        raise RuntimeError(f"state.apply with transport {transport} failed (exit code {rc})")


def run(args, hosts, names, bridge, expected, source):
    """Measure the transport the hosts carry, which must be ``expected``; print the figures."""
    carried = [carried_transport(h, bridge) for h in hosts]
    transports = {t for t, _ in carried}
    if transports != {expected}:
        ports = ", ".join(f"{h.name}: {port} ({t})" for h, (t, port) in zip(hosts, carried, strict=True))
        sys.exit(f"{source} says {expected}, the hosts carry {ports}: apply the states first")

    with (
        standins.standin(hosts[0].netns, bridge, "bench1", args.addresses[0]) as a,
        standins.standin(hosts[1].netns, bridge, "bench2", args.addresses[1]) as b,
    ):
        for mine, other in ((a, b), (b, a)):
            system.run(
                "ip", "-n", mine.ns, "neigh", "replace", other.ip, "lladdr", other.mac,
                "dev", mine.iface, "nud", "permanent",
            )  # fmt: skip
        forward, backward, rtt = measure((a, b), args.seconds, args.pings)

    ports = ", ".join(f"{port} on {h.name}" for h, (_, port) in zip(hosts, carried, strict=True))
    print(f"transport {expected} ({ports}); stand-ins on {bridge}, iperf3 TCP {args.seconds} s each way")
    print(f"{'direction':<20} {'Mbit/s':>9} {'retransmits':>12}")
    for label, result in ((f"{names[0]} -> {names[1]}", forward), (f"{names[1]} -> {names[0]}", backward)):
        retrans = "-" if result.retransmits is None else str(result.retransmits)
        print(f"{label:<20} {result.received_mbps:>9.1f} {retrans:>12}")
    if rtt:
        print(
            f"ping {rtt.received}/{rtt.transmitted} answered, rtt avg {rtt.rtt_avg:.3f} ms "
            f"(min {rtt.rtt_min:.3f}, max {rtt.rtt_max:.3f})"
        )
    else:
        print(f"ping 0/{rtt.transmitted} answered")
    avg = f"{rtt.rtt_avg:.3f} ms" if rtt else "no reply"
    print(
        f"summary {expected}: {forward.received_mbps:.1f} / {backward.received_mbps:.1f} Mbit/s, "
        f"rtt avg {avg}"
    )

    return forward, backward, rtt


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
