"""Guest networks for real (F18-F20, F23, R8), with both transports of F19.

Stand-in guests are network namespaces on this machine plugged into a lab
host's bridge (tests/lab/standins.py), where a guest's NIC would be. For each
transport (VXLAN, the default; then OpenVPN over TLS, applied by a pillar
change and taken back afterwards) they reach their twin on the other host
through the join, full-size frames included, and nothing crosses from one
bridge to another.
"""

import time

import pytest

from lab import system, topology
from tests.lab.conftest import report
from tests.lab.standins import arping, ping, standin
from tests.pillar_cases import _put, lab_pillar

pytestmark = pytest.mark.lab
NET = "192.0.2"  # the stand-ins' own addresses, inside their namespaces only
# (network, bridge, last octet on hyp1, on hyp2)
PLUGS = (("wan", "brwan", 11, 12), ("lan", "brlan", 21, 22))
CLUSTER_DAEMONS = ("openvpn", "glusterd", "glusterfsd", "sanlock", "libvirtd", "qemu")


def netns(name):
    return topology.PREFIX + name


def apply_ok(lab, *args):
    rc, data, text = lab.apply(*args)
    assert rc == 0, text
    return data


@pytest.fixture(scope="module", params=["vxlan", "openvpn"])
def transport(request, lab):
    """The lab's bridges joined by ``request.param`` (the lab's pillar says vxlan)."""
    if request.param == "vxlan":
        yield "vxlan"
        return
    with lab.pillar(_put(("hypervisor", "tunnels", "transport"), "openvpn")):
        start = time.monotonic()
        apply_ok(lab)
        report(f"switch to openvpn: state.apply took {time.monotonic() - start:.1f}s")
        yield "openvpn"
    apply_ok(lab)  # back to the lab's pillar: vxlan, the tunnels gone
    for host in ("hyp1", "hyp2"):
        assert lab.sh(host, "systemctl list-units --no-legend 'hv-tunnel@*'").strip() == ""


@pytest.fixture
def standins(transport):
    """Four stand-ins: one per bridge on each host, all in one IPv4 subnet."""
    out = {}
    stack = []
    try:
        for net, bridge, one, two in PLUGS:
            for host, octet in (("hyp1", one), ("hyp2", two)):
                cm = standin(netns(host), bridge, f"{net}{host[-1]}", f"{NET}.{octet}/24")
                out[(net, host)] = cm.__enter__()
                stack.append(cm)
        # The public bridge also hears the hosts' proxy ARP (F22): pin each
        # stand-in's twin so that the join, not a host, carries their traffic.
        for net, *_ in PLUGS:
            one, two = out[(net, "hyp1")], out[(net, "hyp2")]
            for a, b in ((one, two), (two, one)):
                system.run("ip", "-n", a.ns, "neigh", "replace", b.ip, "lladdr", b.mac, "dev", "eth0")
        yield out
    finally:
        for cm in reversed(stack):
            cm.__exit__(None, None, None)


def test_each_bridge_is_joined_across_the_hosts(standins, transport):
    for net in ("wan", "lan"):
        here, there = standins[(net, "hyp1")], standins[(net, "hyp2")]
        # An OpenVPN join is up once its TLS handshake is done, a few seconds
        # after the state.apply that started it: the first reply within 30 s.
        system.wait_for(lambda h=here, t=there: ping(h.ns, t.ip, count=1), 30, what=f"{net} joined")
        result = ping(here.ns, there.ip, count=5)
        assert result, f"{net} over {transport}: {result}"
        report(f"{transport}: {net} stand-in hyp1 -> hyp2 rtt {result.rtt_avg:.2f} ms")


def test_full_size_frames_cross_the_join(standins, transport):
    """MTU-aware: a 1500-byte packet with DF set gets through unfragmented."""
    here, there = standins[("wan", "hyp1")], standins[("wan", "hyp2")]
    proc = system.run(
        "ip",
        "netns",
        "exec",
        here.ns,
        "ping",
        "-c",
        "3",
        "-W",
        "2",
        "-M",
        "do",
        "-s",
        "1472",
        there.ip,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nothing_crosses_between_bridges(standins, transport):
    wan1, wan2 = standins[("wan", "hyp1")], standins[("wan", "hyp2")]
    lan1, lan2 = standins[("lan", "hyp1")], standins[("lan", "hyp2")]
    for a, b in ((wan1, lan1), (wan1, lan2), (lan1, wan2), (lan2, wan2)):
        assert b.mac not in arping(a.ns, "eth0", b.ip), f"{b.name} answered ARP on {a.bridge} ({transport})"
        assert not ping(a.ns, b.ip, count=2), f"{a.name} reached {b.name} across bridges ({transport})"


def test_tunnel_daemons_only_where_the_transport_says(lab, transport):
    for host in ("hyp1", "hyp2"):
        units = lab.sh(host, "systemctl list-units --no-legend --state=running 'hv-tunnel@*'")
        links = lab.sh(host, "ip -o link show type vxlan")
        if transport == "openvpn":
            assert units.count("hv-tunnel@") == 2, units
            assert links.strip() == "", links
        else:
            assert units.strip() == "", units
            assert links.count("vxlan") >= 2 or links.count(": vx") == 2, links


def listening(lab, host):
    """(process, local address) of every listening TCP/UDP socket on ``host``."""
    out = []
    for line in lab.sh(host, "ss -H -lntup").splitlines():
        fields = line.split()
        local = fields[4].rsplit(":", 1)[0].strip("[]")
        proc = fields[-1].split('"')[1] if '"' in fields[-1] else ""
        out.append((proc, local))
    return out


def test_no_cluster_socket_on_the_public_address(lab, transport):
    """R8: OpenVPN, glusterd and bricks, sanlock, libvirt: none bound to the public
    address; those on the wildcard are closed to the public side by the firewall."""
    for host in ("hyp1", "hyp2"):
        public = lab.hosts[host].public_ip
        sockets = listening(lab, host)
        bound = [(p, a) for p, a in sockets if p.startswith(CLUSTER_DAEMONS) and a == public]
        assert bound == [], f"{host}: {bound}"
        if transport == "openvpn":
            vpn = [a for p, a in sockets if p == "openvpn"]
            rpn = lab_pillar()["hypervisor"]["hosts"][host]["rpn"]["address"].split("/")[0]
            assert vpn and all(a == rpn for a in vpn), sockets


def test_migration_keys_work_both_ways_over_the_rpn(lab):
    """F20: virsh over qemu+ssh to the peer, unattended, both ways; the key is
    accepted only from the peer's private address."""
    for here, there in (("hyp1", "hyp2"), ("hyp2", "hyp1")):
        out = lab.sh(here, f"timeout 60 virsh -c 'qemu+ssh://{there}/system?no_tty=1' list --all 2>&1")
        assert "Id" in out and "Name" in out, out
        authorized = lab.sh(there, "cat /root/.ssh/authorized_keys")
        peer_rpn = lab_pillar()["hypervisor"]["hosts"][here]["rpn"]["address"].split("/")[0]
        assert f'from="{peer_rpn}"' in authorized, authorized
