"""Guests filtered by libvirt (B10): a hostile guest cannot take another guest's failover IP
nor send with another source address.

vm2 is made hostile for this module (its kernel command line gets ``hvlab.spoof=<vm1's IP>``,
lab/guest.py): every second it claims vm1's IP by gratuitous ARP and pings the public
gateway from it. Both run on hyp1's public bridge. The guests' definitions carry libvirt's
``clean-traffic`` filter with each guest's own IPs (_utils/guest_xml.py).
"""

import re
import subprocess

import pytest

from lab import topology
from tests.lab import evacuation as ev
from tests.lab.standins import ping

pytestmark = pytest.mark.lab
VICTIM, HOSTILE = "vm1", "vm2"
WATCH_SECONDS = 8


def hostile(pillar):
    """vm2 claims vm1's failover IP (a pillar mutation)."""
    boot = pillar["hypervisor"]["guests"][HOSTILE]["boot"]
    boot["cmdline"] += f" hvlab.spoof={ev.guest_ip(VICTIM)}"


def mac_of(lab, host, name):
    out = lab.sh(host, f"virsh -q domiflist {name}")
    return re.search(r"([0-9a-f]{2}(:[0-9a-f]{2}){5})", out).group(1)


def spoofed_at_the_gateway(source, seconds):
    """Echo requests from ``source`` that reach the public gateway in ``seconds``."""
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            topology.GATEWAY_NS,
            "timeout",
            str(seconds),
            "tcpdump",
            "-l",
            "-n",
            "-i",
            "eth0",
        ]
        + ["icmp[icmptype] = icmp-echo and src host", source],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in proc.stdout.splitlines() if "ICMP echo request" in line]


@pytest.fixture(scope="module")
def hostile_guest(lab):
    """vm1 and the hostile vm2 running on hyp1; the lab's own definitions back afterwards."""
    try:
        with lab.pillar(hostile):
            ev.apply_guest_settings(lab)
            with ev.guests_on(lab, "hyp1", [VICTIM, HOSTILE]):
                assert "hvlab.spoof" in lab.sh("hyp1", f"virsh dumpxml {HOSTILE}"), "vm2 is not hostile"
                yield
    finally:
        ev.apply_guest_settings(lab)
    assert "hvlab.spoof" not in lab.sh("hyp1", f"virsh dumpxml {HOSTILE}")


def test_each_guest_nic_carries_its_filter(lab, hostile_guest):
    xml = lab.sh("hyp1", f"virsh dumpxml {VICTIM}")
    assert "<filterref filter='clean-traffic'>" in xml, xml
    assert f"<parameter name='IP' value='{ev.guest_ip(VICTIM)}'/>" in xml, xml


def test_a_guest_cannot_claim_another_guests_ip(lab, hostile_guest):
    """hyp1 learns vm1's MAC for vm1's IP (a ping from outside) and keeps it while vm2
    claims the IP every second; vm1 keeps answering."""
    victim_ip = ev.guest_ip(VICTIM)
    assert ping(ev.PINGER_NS, victim_ip, count=3).received == 3
    bridge = lab.sh("hyp1", f"virsh -q domiflist {VICTIM}").split()[2]
    spoofed_at_the_gateway(victim_ip, WATCH_SECONDS)  # vm2 has had several tries meanwhile
    neighbour = lab.sh("hyp1", f"ip neigh show {victim_ip} dev {bridge}")
    assert mac_of(lab, "hyp1", VICTIM) in neighbour and mac_of(lab, "hyp1", HOSTILE) not in neighbour, (
        neighbour
    )
    assert ping(ev.PINGER_NS, victim_ip, count=3).received == 3


def test_a_guest_cannot_send_with_another_source(lab, hostile_guest):
    """vm2's pings from vm1's IP never leave hyp1; vm2's own address works."""
    assert spoofed_at_the_gateway(ev.guest_ip(VICTIM), WATCH_SECONDS) == []
    assert ping(ev.PINGER_NS, ev.guest_ip(HOSTILE), count=3).received == 3
