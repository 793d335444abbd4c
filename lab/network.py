"""The lab's networks: namespaces joined by veth pairs to a switch namespace.

A host's private network is a cable of its own to the switch's ``rpn`` bridge.
A vSwitch (``rpn:vlan``: a VLAN on the public cable) cannot be built here: this
machine's kernel has no 802.1Q VLANs (CONFIG_VLAN_8021Q unset, no modules), so
a lab pillar that names one is refused (lab/topology.py) and a private cable at
the vSwitch's MTU stands in for it.

Only documentation-range addresses are assigned, only inside these namespaces,
and no namespace gets a route out: lab traffic never leaves the lab.
"""

from pathlib import Path

from . import system
from .topology import (
    ADMIN_IP,
    ADMIN_NS,
    GATEWAY_IP,
    GATEWAY_NS,
    MASTER_IP,
    MASTER_NS,
    PREFIX,
    PUBLIC_PREFIXLEN,
    RPN_MTU,
    STATE,
    STRANGER_IP,
    STRANGER_NS,
    SWITCH_NS,
)

# Plain machines on the public segment besides the hosts: (namespace, switch port, address).
PUBLIC_MACHINES = (
    (MASTER_NS, "m-master", MASTER_IP),
    (ADMIN_NS, "pub-admin", ADMIN_IP),
    (STRANGER_NS, "pub-stranger", STRANGER_IP),
    (GATEWAY_NS, "pub-gw", GATEWAY_IP),
)


def _ns(ns, *cmd):
    system.run("ip", "-n", ns, *cmd)


def up(hosts):
    """Create the switch, the master's namespace, the other public machines'
    (admin, stranger, gateway) and one namespace per host."""
    for ns in [SWITCH_NS] + [m[0] for m in PUBLIC_MACHINES] + [h.netns for h in hosts]:
        system.run("ip", "netns", "add", ns)
        _ns(ns, "link", "set", "lo", "up")
    _ns(SWITCH_NS, "link", "add", "pub", "type", "bridge")
    _ns(SWITCH_NS, "link", "add", "rpn", "mtu", str(RPN_MTU), "type", "bridge")
    for bridge in ("pub", "rpn"):
        _ns(SWITCH_NS, "link", "set", bridge, "up")

    for ns, port, address in PUBLIC_MACHINES:
        _plug(port, "pub", ns, "eth0")
        _ns(ns, "addr", "add", f"{address}/{PUBLIC_PREFIXLEN}", "dev", "eth0")
        _ns(ns, "link", "set", "eth0", "up")
    # The gateway the pillar names answers on the segment but forwards nothing
    # (and, like every lab namespace, has no route out).
    for key in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"):
        _sysctl(GATEWAY_NS, key, "0")
    _log_namespaced_drops()
    for host in hosts:
        _plug_host(host)


def plug(host):
    """A host added to the running lab (``python -m lab grow``): its namespace and cables."""
    system.run("ip", "netns", "add", host.netns)
    _ns(host.netns, "link", "set", "lo", "up")
    _plug_host(host)


def _plug_host(host):
    _plug(f"p-{host.name}", "pub", host.netns, host.public_if)
    _ns(host.netns, "addr", "add", f"{host.public_ip}/{PUBLIC_PREFIXLEN}", "dev", host.public_if)
    _ns(host.netns, "link", "set", host.public_if, "up")
    # The RPN side is left bare (no address, MTU 1500): the states configure it.
    _plug(f"r-{host.name}", "rpn", host.netns, host.rpn_if, mac=host.rpn_mac, mtu=RPN_MTU)


def private(host, joined):
    """``host`` on its private network or cut off from it (the other hosts; its
    public side untouched): its RPN cable in or out of the switch."""
    _ns(SWITCH_NS, "link", "set", f"r-{host.name}", "up" if joined else "down")


def cable(host, plugged):
    """Plug ``host``'s two cables (public and RPN) into the switch, or pull them:
    a pulled host is silent, as a server that lost its power is."""
    for port in (f"p-{host.name}", f"r-{host.name}"):
        _ns(SWITCH_NS, "link", "set", port, "up" if plugged else "down")


def _sysctl(ns, key, value):
    """Set a per-namespace ``/proc/sys`` value (``key`` as a path below it)."""
    system.run("ip", "netns", "exec", ns, "sh", "-c", f'echo {value} > "/proc/sys/{key}"')


def _plug(port, bridge, ns, ifname, mac=None, mtu=None):
    """A veth pair: ``port`` on the switch's ``bridge``, ``ifname`` inside ``ns``."""
    peer = ["name", ifname] + (["address", mac] if mac else []) + ["netns", ns]
    system.run("ip", "link", "add", port, "netns", SWITCH_NS, "type", "veth", "peer", *peer)
    if mtu:
        _ns(SWITCH_NS, "link", "set", port, "mtu", str(mtu))
    _ns(SWITCH_NS, "link", "set", port, "master", bridge)
    _ns(SWITCH_NS, "link", "set", port, "up")


def down():
    """Kill whatever still runs in a lab namespace, then delete the namespaces."""
    names = [n for n in system.netns_list() if n.startswith(PREFIX)]
    for name in names:
        system.kill_and_wait(system.netns_pids(name))
    for name in names:
        system.run("ip", "netns", "del", name, check=False)
    if NF_LOG_MARK.exists():
        NF_LOG_ALL_NETNS.write_text("0\n")
        NF_LOG_MARK.unlink()
    return names


NF_LOG_ALL_NETNS = Path("/proc/sys/net/netfilter/nf_log_all_netns")
NF_LOG_MARK = STATE / "nf_log_all_netns.set"


def _log_namespaced_drops():
    """The kernel drops LOG lines from network namespaces other than the first
    unless nf_log_all_netns is 1: the hosts' firewall logs (F21) need it. Set
    for the lab's lifetime (restored by down()) only when it was 0."""
    if NF_LOG_ALL_NETNS.read_text().strip() == "0":
        STATE.mkdir(parents=True, exist_ok=True)
        NF_LOG_MARK.touch()
        NF_LOG_ALL_NETNS.write_text("1\n")
