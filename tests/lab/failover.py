"""Moving a failover IP at the lab's provider stand-in, and seeing who answers ARP
for it on the public segment: shared by tests/lab/test_failover.py and
bench/failover_move.py. The lab is the one the environment names (HVLAB_PILLAR:
lab/topology.py), Online's or Hetzner's stand-in alike.

The public gateway's namespace (hvlab-gw) plays the provider's router: the
host whose MAC answers its ARP request for a failover IP is the one the
traffic reaches.
"""

import json
import subprocess
import time

import yaml

from lab import provider, system, topology
from tests.lab import standins

ROUTER_NS = topology.GATEWAY_NS


def _hosts():
    return yaml.safe_load(topology.PILLAR.read_text())["hypervisor"]["hosts"]


def public_ip(host):
    return _hosts()[host]["public"]["address"]


def public_mac(host):
    """The MAC of the host's public NIC, as the segment sees it."""
    iface = _hosts()[host]["public"]["interface"]
    link = json.loads(system.run("ip", "-n", topology.PREFIX + host, "-j", "link", "show", iface).stdout)
    return link[0]["address"].lower()


def route(ip, host):
    """Route ``ip`` to ``host`` at the stand-in now (as the provider does once a
    move takes effect); returns the stand-in's time of the change."""
    return provider.control("POST", "/route", {"ip": ip, "destination": public_ip(host)})["time"]


def routed_to(ip):
    """The public address the stand-in routes ``ip`` to now (Online's stand-in tells
    ``{"destination", "mac"}`` per IP, Robot's the address alone)."""
    route = provider.control("GET", "/state")["failovers"][ip]
    return route["destination"] if isinstance(route, dict) else route


def answering(ip, timeout=0.3):
    """The MACs that answer the router's ARP request for ``ip`` within ``timeout``
    seconds ([] when none). The hosts answer proxy ARP at once (no random
    delay on their public NIC: sysctl proxy_delay 0), so a short wait is enough
    and keeps a measured time precise."""
    return standins.arping(ROUTER_NS, "eth0", ip, count=1, timeout=timeout)


def wait_answered_by(ip, host, since, timeout=30):
    """Seconds from ``since`` (time.time()) until only ``host`` answers for ``ip``."""
    mac = public_mac(host)
    system.wait_for(lambda: answering(ip) == [mac], timeout, interval=0.05, what=f"{host} to answer for {ip}")
    return time.time() - since


class ArpCapture:
    """tcpdump of the ARP frames the router's namespace sees, while the block runs."""

    def __init__(self, path):
        self.path = path
        self.proc = None

    def __enter__(self):
        with open(self.path, "w") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", ROUTER_NS, "tcpdump", "-l", "-nn", "-e", "-i", "eth0", "arp"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        system.wait_for(lambda: "listening on" in self.path.read_text(), 10, what="tcpdump to listen")
        return self

    def __exit__(self, *exc):
        system.kill_and_wait([self.proc.pid], sig=15, timeout=5)
        self.proc.wait()

    def gratuitous(self, ip):
        """The source MACs of gratuitous ARP requests for ``ip`` (who-has ip tell ip)."""
        return [
            line.split()[1].lower()
            for line in self.path.read_text().splitlines()
            if f"who-has {ip} " in line and f"tell {ip}," in line
        ]
