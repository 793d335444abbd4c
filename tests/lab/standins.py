"""Stand-in guests: network namespaces on this machine plugged into a lab host's
guest bridge, where a real guest's NIC would be.

A stand-in is namespace ``<PREFIX>g-<name>`` with one veth pair: ``eth0`` inside
it, ``g-<name>`` in the host's network namespace (``/run/netns/<PREFIX><host>``,
the one its container shares) and enslaved to the bridge there. It only ever
gets lab addresses, and a default route only through a gateway inside the lab.

    with standin(hyp1.netns, "brwan", "a", "203.0.113.101/24") as a, \\
         standin(hyp2.netns, "brwan", "b", "203.0.113.102/24") as b:
        assert ping(a.ns, b.ip)
        assert arping(a.ns, "eth0", b.ip) == [b.mac]

Also: ``iperf3_server`` / ``iperf3_client`` for throughput between namespaces,
and the pure parsers of ping, arping and ``iperf3 -J`` output.
"""

import contextlib
import dataclasses
import functools
import ipaddress
import json
import re
import signal
import subprocess
import time

from lab import system
from lab.topology import PREFIX

IFNAMSIZ = 15  # longest Linux interface name
IPERF3_PORT = 5201


@dataclasses.dataclass(frozen=True)
class StandIn:
    """A stand-in guest as created: where it is plugged and what it answers with."""

    name: str
    ns: str  # its own network namespace
    host_netns: str
    bridge: str
    port: str  # the veth end on the host's bridge
    cidr: str  # "203.0.113.101/24"
    mac: str  # eth0's MAC, lower case
    iface: str = "eth0"

    @property
    def ip(self):
        return self.cidr.split("/")[0]


def standin_ns(name):
    return f"{PREFIX}g-{name}"


def host_port(name):
    port = f"g-{name}"
    if len(port) > IFNAMSIZ or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"stand-in name {name!r}: up to {IFNAMSIZ - 2} letters, digits, '_', '.', '-'")
    return port


def _ns(ns, *cmd, check=True):
    return system.run("ip", "-n", ns, *cmd, check=check)


def _exec(ns, *cmd, check=False, timeout=None):
    return system.run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)


# The only addresses the lab uses (RFC 5737): nothing outside is ever reachable.
LAB_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def _lab_only(address):
    ip = ipaddress.ip_interface(address).ip
    return any(ip in net for net in LAB_NETWORKS)


def remove(host_netns, name):
    """Delete stand-in ``name``: kill what runs in its namespace (by PID), delete
    the namespace and the host-side veth end. Missing pieces are fine."""
    ns = standin_ns(name)
    if ns in system.netns_list():
        system.kill_and_wait(system.netns_pids(ns))
        system.run("ip", "netns", "del", ns, check=False)
    # Deleting the namespace destroys the pair; this covers a half-made one.
    if host_netns in system.netns_list():
        _ns(host_netns, "link", "del", host_port(name), check=False)


@contextlib.contextmanager
def standin(host_netns, bridge, name, address_cidr, gateway=None, mtu=None):
    """Plug a stand-in guest ``name`` into ``bridge`` of the host whose network
    namespace is ``host_netns``; yield a :class:`StandIn`; remove it afterwards.

    ``gateway`` (a lab address) becomes an onlink default route via eth0;
    ``mtu`` is set on both veth ends. A leftover of an interrupted run with the
    same name is removed first.
    """
    ns, port = standin_ns(name), host_port(name)
    for what, address in (("address", address_cidr), ("gateway", gateway)):
        if address and not _lab_only(address):
            raise ValueError(f"stand-in {what} {address}: not a documentation-range (lab-only) address")
    remove(host_netns, name)
    try:
        system.run("ip", "netns", "add", ns)
        _ns(ns, "link", "set", "lo", "up")
        # Both ends created straight in their namespaces (this machine has an eth0).
        veth = ["ip", "link", "add", port, "netns", host_netns, "type", "veth"]
        system.run(*veth, "peer", "name", "eth0", "netns", ns)
        if mtu:
            _ns(ns, "link", "set", "eth0", "mtu", str(mtu))
            _ns(host_netns, "link", "set", port, "mtu", str(mtu))
        _ns(host_netns, "link", "set", port, "master", bridge)
        _ns(host_netns, "link", "set", port, "up")
        _ns(ns, "addr", "add", address_cidr, "dev", "eth0")
        _ns(ns, "link", "set", "eth0", "up")
        if gateway:
            _ns(ns, "route", "add", "default", "via", gateway, "dev", "eth0", "onlink")
        info = json.loads(system.run("ip", "-n", ns, "-j", "link", "show", "eth0", capture=True))
        yield StandIn(
            name=name,
            ns=ns,
            host_netns=host_netns,
            bridge=bridge,
            port=port,
            cidr=address_cidr,
            mac=info[0]["address"].lower(),
        )
    finally:
        remove(host_netns, name)


# ---------------------------------------------------------------- ping


@dataclasses.dataclass(frozen=True)
class Ping:
    """What one ping run reports. True when at least one reply came back."""

    transmitted: int
    received: int
    rtt_avg: float | None  # milliseconds; None without replies
    rtt_min: float | None = None
    rtt_max: float | None = None
    output: str = ""

    def __bool__(self):
        return self.received > 0

    @property
    def loss(self):
        return 1.0 - self.received / self.transmitted if self.transmitted else 1.0


def parse_ping(text):
    """iputils ping's summary lines -> :class:`Ping`."""
    counts = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", text)
    if not counts:
        raise ValueError(f"no ping summary in: {text!r}")
    rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/[\d.]+ ms", text)
    low, avg, high = (float(v) for v in rtt.groups()) if rtt else (None, None, None)
    return Ping(int(counts.group(1)), int(counts.group(2)), avg, low, high, text)


def ping(ns, addr, count=3, timeout=2, interval=0.2, size=None):
    """Ping ``addr`` from namespace ``ns``: ``count`` requests, ``interval`` s apart,
    each reply awaited up to ``timeout`` s (so at most ``count * interval + timeout``
    s in all); ``size``: that many bytes of data, don't-fragment set. Returns a
    :class:`Ping` (falsy: no reply)."""
    sized = ("-M", "do", "-s", size) if size else ()
    proc = _exec(
        ns,
        "ping", "-n", "-q", "-c", count, "-i", interval, "-W", timeout, *sized, addr,
        timeout=count * interval + timeout + 10,
    )  # fmt: skip
    return parse_ping(proc.stdout + proc.stderr)


# ---------------------------------------------------------------- arping

_MAC = r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}"
# arping (Thomas Habets): "60 bytes from 02:00:c6:33:64:0b (203.0.113.11): index=0 time=..."
# iputils arping: "Unicast reply from 203.0.113.11 [02:00:C6:33:64:0B]  0.712ms"
_REPLY = re.compile(rf"bytes from ({_MAC}) \(|reply from \S+ \[({_MAC})\]", re.IGNORECASE)


def _normal_mac(mac):
    return ":".join(f"{int(part, 16):02x}" for part in mac.split(":"))


def parse_arping(text):
    """The MACs that answered, lower case, each once, in the order they first did."""
    macs = []
    for match in _REPLY.finditer(text):
        mac = _normal_mac(match.group(1) or match.group(2))
        if mac not in macs:
            macs.append(mac)
    return macs


@functools.cache
def _arping_iface_flag():
    """``-i`` for arping (Habets, Debian package arping), ``-I`` for iputils-arping."""
    proc = system.run("arping", "--help", check=False)
    return "-i" if "habets" in (proc.stdout + proc.stderr).lower() else "-I"


def arping(ns, iface, addr, count=2, timeout=3):
    """ARP-ping ``addr`` out of ``iface`` in namespace ``ns``: the MACs that answered
    (several when more than one machine claims the address; [] when none)."""
    proc = _exec(
        ns, "arping", "-c", count, "-w", timeout, _arping_iface_flag(), iface, addr, timeout=timeout + 10
    )
    return parse_arping(proc.stdout)


# ---------------------------------------------------------------- iperf3


@dataclasses.dataclass(frozen=True)
class Throughput:
    """One iperf3 TCP test, as the client reports it (``iperf3 -J``)."""

    sent_mbps: float  # Mbit/s (10^6 bits per second) the sender pushed
    received_mbps: float  # Mbit/s that arrived: the figure to quote
    retransmits: int | None
    seconds: float
    reverse: bool


def parse_iperf3(text):
    """``iperf3 -J`` output -> :class:`Throughput`; raises with iperf3's own error."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RuntimeError(f"iperf3 gave no JSON: {text.strip()[:500]!r}") from exc
    if data.get("error"):
        raise RuntimeError(f"iperf3: {data['error']}")
    end = data.get("end") or {}
    sent, received = end.get("sum_sent"), end.get("sum_received")
    if not sent or not received:
        raise RuntimeError(f"iperf3 JSON without end.sum_sent/sum_received: {text.strip()[:500]!r}")
    return Throughput(
        sent_mbps=sent["bits_per_second"] / 1e6,
        received_mbps=received["bits_per_second"] / 1e6,
        retransmits=sent.get("retransmits"),
        seconds=float(received.get("seconds") or sent.get("seconds") or 0.0),
        reverse=bool(data.get("start", {}).get("test_start", {}).get("reverse")),
    )


def _listening(ns, port):
    out = _exec(ns, "ss", "-Hltn", f"sport = :{port}").stdout
    return bool(out.strip())


@contextlib.contextmanager
def iperf3_server(ns, port=IPERF3_PORT, timeout=10):
    """An iperf3 server in namespace ``ns`` until the block ends (stopped by its PID).
    Yields the PID."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "iperf3", "-s", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _listening(ns, port):
            if proc.poll() is not None:
                raise RuntimeError(f"iperf3 server in {ns} exited: {proc.stderr.read().strip()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"iperf3 server in {ns} not listening on {port} after {timeout}s")
            time.sleep(0.1)
        yield proc.pid  # `ip netns exec` execs iperf3: same PID
    finally:
        if proc.poll() is None:
            system.kill_and_wait([proc.pid], sig=signal.SIGTERM, timeout=5)
            system.kill_and_wait([proc.pid])
        proc.wait()
        proc.stderr.close()


def iperf3_client(ns, server, seconds=10, reverse=False, port=IPERF3_PORT):
    """A TCP test from namespace ``ns`` to an iperf3 server at ``server``;
    ``reverse``: the server sends. Returns a :class:`Throughput`."""
    cmd = ["iperf3", "-J", "-c", server, "-p", port, "-t", seconds] + (["-R"] if reverse else [])
    proc = _exec(ns, *cmd, timeout=seconds + 30)
    return parse_iperf3(proc.stdout)
