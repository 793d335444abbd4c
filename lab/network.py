"""The lab's networks: namespaces joined by veth pairs to a switch namespace.

Only documentation-range addresses are assigned, only inside these namespaces,
and no namespace gets a route out: lab traffic never leaves the lab.
"""

from . import system
from .topology import MASTER_IP, MASTER_NS, PREFIX, PUBLIC_PREFIXLEN, RPN_MTU, SWITCH_NS


def _ns(ns, *cmd):
    system.run("ip", "-n", ns, *cmd)


def up(hosts):
    """Create the switch, the master's namespace and one namespace per host."""
    for ns in [SWITCH_NS, MASTER_NS] + [h.netns for h in hosts]:
        system.run("ip", "netns", "add", ns)
        _ns(ns, "link", "set", "lo", "up")
    _ns(SWITCH_NS, "link", "add", "pub", "type", "bridge")
    _ns(SWITCH_NS, "link", "add", "rpn", "mtu", str(RPN_MTU), "type", "bridge")
    for bridge in ("pub", "rpn"):
        _ns(SWITCH_NS, "link", "set", bridge, "up")

    _plug("m-master", "pub", MASTER_NS, "eth0")
    _ns(MASTER_NS, "addr", "add", f"{MASTER_IP}/{PUBLIC_PREFIXLEN}", "dev", "eth0")
    _ns(MASTER_NS, "link", "set", "eth0", "up")
    for host in hosts:
        _plug(f"p-{host.name}", "pub", host.netns, host.public_if)
        _ns(host.netns, "addr", "add", f"{host.public_ip}/{PUBLIC_PREFIXLEN}", "dev", host.public_if)
        _ns(host.netns, "link", "set", host.public_if, "up")
        # The RPN side is left bare (no address, MTU 1500): the states configure it.
        _plug(f"r-{host.name}", "rpn", host.netns, host.rpn_if, mac=host.rpn_mac, mtu=RPN_MTU)


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
    return names
