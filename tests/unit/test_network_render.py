"""The network files as salt://network/files renders them from the views
(hv.me.public, hv.me.rpn, hv.tunnels.vxlan) hv_views builds for the
lab's hyp1, with two and with three hypervisors:
the public NIC static (Address + Gateway) or DHCP; the RPN .network listing
each VXLAN link; each VXLAN .netdev with VNI, Local and DestinationPort and
no Remote; its .network a port of its bridge with one all-zero FDB entry per
other host; NetworkManager's keyfiles (EL, rendered only): hv-public, and a
vxlan port of the bridge whose single remote is the first other host."""

import configparser

import jinja2
import pytest

from tests.loaders import REPO, hv_views, layered_parameters
from tests.pillar_cases import HYP3, case_pillar, lab_pillar

FILES = REPO / "salt" / "network" / "files"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FILES)), keep_trailing_newline=True)


def settings(pillar, family="Debian", host="hyp1"):
    """hyp1's settings as the states get them (hv_views's views)."""
    return hv_views.build(pillar, layered_parameters(family), host)


# The lab's hyp1: its public side, its RPN; its VXLAN links (one per bridge, sorted
# by net: lan, VNI 102; wan, VNI 101) to hyp2 alone (the arbiter joins no tunnel),
# then in a cluster of three hypervisors (hyp3 added, the arbiter taken out).
LAB = settings(lab_pillar())
PUBLIC = LAB["me"]["public"]
RPN = LAB["me"]["rpn"]
TWO_HOSTS = LAB["tunnels"]["vxlan"]


def _three_hypervisors(pillar):
    hosts = pillar["hypervisor"]["hosts"]
    del hosts["arb1"]
    hosts["hyp3"] = dict(HYP3)


THREE_HOSTS = settings(case_pillar(_three_hypervisors))["tunnels"]["vxlan"]


def render(path, **context):
    return ENV.get_template(path).render(**context)


def sections(text):
    """An INI file as [(section, {key: [values]})], repeated sections and keys kept."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            out.append((line.strip("[]"), {}))
        else:
            key, _, value = line.partition("=")
            out[-1][1].setdefault(key, []).append(value)
    return out


def section(text, name):
    (found,) = [values for title, values in sections(text) if title == name]
    return found


def test_every_file_says_it_is_managed():
    for path in sorted(FILES.rglob("*.jinja")):
        assert path.read_text().startswith("# Managed by Salt ("), path


# ------------------------------------------------------------------ networkd


def test_public_static():
    text = render("networkd/public.network.jinja", public=PUBLIC)
    assert section(text, "Match") == {"Name": ["eth0"]}
    assert section(text, "Network") == {
        "Address": ["203.0.113.11/24"],
        "Gateway": ["203.0.113.254"],
        "LinkLocalAddressing": ["no"],
        "IPv6AcceptRA": ["no"],
    }


def test_public_dhcp_has_no_static_address():
    text = render("networkd/public.network.jinja", public=dict(PUBLIC, dhcp=True))
    network = section(text, "Network")
    assert network["DHCP"] == ["ipv4"]
    assert "Address" not in network and "Gateway" not in network


@pytest.mark.parametrize("links", [TWO_HOSTS, THREE_HOSTS], ids=["two-hosts", "three-hosts"])
def test_rpn_lists_each_vxlan_link(links):
    text = render("networkd/rpn.network.jinja", rpn=RPN, vxlans=[link["ifname"] for link in links])
    assert section(text, "Network")["VXLAN"] == ["vxlan", "vxwan"]
    assert section(text, "Match") == {"MACAddress": ["02:00:c6:33:64:0b"]}
    assert section(text, "Link") == {"MTUBytes": ["9000"]}


def test_rpn_without_vxlan_links():
    text = render("networkd/rpn.network.jinja", rpn=RPN, vxlans=[])
    assert "VXLAN" not in section(text, "Network")


@pytest.mark.parametrize("links", [TWO_HOSTS, THREE_HOSTS], ids=["two-hosts", "three-hosts"])
def test_vxlan_netdev(links):
    link = links[1]
    text = render("networkd/vxlan.netdev.jinja", link=link)
    assert section(text, "NetDev") == {"Name": ["vxwan"], "Kind": ["vxlan"], "MTUBytes": ["1500"]}
    assert section(text, "VXLAN") == {
        "VNI": ["101"],
        "Local": ["198.51.100.11"],
        "DestinationPort": ["4789"],
    }


def test_vxlan_network_two_hosts():
    text = render("networkd/vxlan.network.jinja", link=TWO_HOSTS[0])
    assert sections(text) == [
        ("Match", {"Name": ["vxlan"]}),
        ("Link", {"RequiredForOnline": ["no"]}),
        ("Network", {"Bridge": ["brlan"], "LinkLocalAddressing": ["no"], "IPv6AcceptRA": ["no"]}),
        ("BridgeFDB", {"MACAddress": ["00:00:00:00:00:00"], "Destination": ["198.51.100.12"]}),
    ]


def test_vxlan_network_three_hosts_one_fdb_entry_per_remote():
    text = render("networkd/vxlan.network.jinja", link=THREE_HOSTS[1])
    fdb = [values for title, values in sections(text) if title == "BridgeFDB"]
    assert fdb == [
        {"MACAddress": ["00:00:00:00:00:00"], "Destination": ["198.51.100.12"]},
        {"MACAddress": ["00:00:00:00:00:00"], "Destination": ["198.51.100.14"]},
    ]
    assert section(text, "Network")["Bridge"] == ["brwan"]


# ------------------------------------------------------------------ NetworkManager (EL)


def keyfile(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


def test_nm_public_static():
    text = render("networkmanager/public.nmconnection.jinja", id="hv-public", public=PUBLIC)
    assert keyfile(text) == {
        "connection": {
            "id": "hv-public",
            "type": "ethernet",
            "interface-name": "eth0",
            "autoconnect": "true",
        },
        "ipv4": {"method": "manual", "address1": "203.0.113.11/24,203.0.113.254"},
        "ipv6": {"method": "disabled"},
    }


def test_nm_public_dhcp():
    text = render("networkmanager/public.nmconnection.jinja", id="hv-public", public=dict(PUBLIC, dhcp=True))
    assert keyfile(text)["ipv4"] == {"method": "auto"}


def test_nm_vxlan_two_hosts():
    text = render("networkmanager/vxlan.nmconnection.jinja", id="hv-vxwan", link=TWO_HOSTS[1], parent="eth1")
    assert keyfile(text) == {
        "connection": {
            "id": "hv-vxwan",
            "type": "vxlan",
            "interface-name": "vxwan",
            "master": "brwan",
            "slave-type": "bridge",
            "autoconnect": "true",
        },
        "vxlan": {
            "id": "101",
            "local": "198.51.100.11",
            "remote": "198.51.100.12",
            "parent": "eth1",
            "destination-port": "4789",
        },
        "ethernet": {"mtu": "1500"},
    }
    assert "none for this cluster" in text


def test_nm_vxlan_three_hosts_first_remote_and_the_rest_named_in_the_todo():
    text = render(
        "networkmanager/vxlan.nmconnection.jinja", id="hv-vxwan", link=THREE_HOSTS[1], parent="eth1"
    )
    assert keyfile(text)["vxlan"]["remote"] == "198.51.100.12"
    assert "TODO(EL, three or more hosts)" in text
    assert "bridge fdb append 00:00:00:00:00:00 dev vxwan dst 198.51.100.14 self permanent" in text
    assert "dst 198.51.100.12" not in text
