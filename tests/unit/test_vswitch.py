"""A Hetzner vSwitch as the private network (hosts:<h>:rpn:vlan: a VLAN of the public NIC,
MTU 1400) and the guests' MTU that follows (tunnels:guest_mtu): the validator's rules and
messages, the views (the host's rpn, the networkd files and their contexts, the guests'
NICs), the files as salt://network/files renders them, the guest XML; and at the default
guest_mtu 1500, nothing new anywhere (a cluster without these keys keeps its files)."""

import copy
from xml.etree import ElementTree as ET

import pytest

from tests.loaders import hv_validate, hv_views, layered_parameters, load
from tests.pillar_cases import as_seen_by, case_pillar, lab_pillar, to_vswitch
from tests.unit.test_network_render import keyfile, render, section, sections

guest_xml = load("_utils", "guest_xml")
NETWORKD = "/etc/systemd/network"
SOURCES = "salt://network/files/networkd"
MTU = ("hypervisor", "tunnels", "guest_mtu")


def vswitch(guest_mtu=1350, **changes):
    """The lab's cluster (hyp1, hyp2, arb1) on a vSwitch: VLAN 4000, the link vlan4000;
    ``changes``: hyp1's rpn keys set (None: removed)."""

    def mutate(pillar):
        to_vswitch(pillar, guest_mtu)
        rpn = pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]
        for key, value in changes.items():
            if value is None:
                rpn.pop(key, None)
            else:
                rpn[key] = value

    return case_pillar(mutate)


def errors(pillar, host="hyp1", family="Debian"):
    return hv_validate.validate(as_seen_by(pillar, host), layered_parameters(family), host)


def settings(pillar, host="hyp1", family="Debian"):
    return hv_views.build(as_seen_by(pillar, host), layered_parameters(family), host)


# ------------------------------------------------------------------ the validator


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
@pytest.mark.parametrize("host", ["hyp1", "hyp2", "arb1"])
def test_a_vswitch_with_the_guests_at_1350_is_valid(host, family):
    assert errors(vswitch(), host, family) == []


def test_vxlan_over_a_vswitch_without_guest_mtu_names_each_host_and_what_fits():
    """The arbiter joins no tunnel: its 1400 is no matter."""
    pillar = vswitch(guest_mtu=None)
    assert errors(pillar) == [
        f"pillar key 'hypervisor:hosts:{host}:rpn:mtu': host {host}'s RPN MTU is 1400 (the default"
        " with rpn:vlan): tunnels:transport vxlan needs 1550 there, the guests' 1500-byte frames"
        " (tunnels:guest_mtu) and VXLAN's 50 bytes; set tunnels:guest_mtu: 1350 (the guests then"
        " get that MTU), raise rpn:mtu, or use openvpn"
        for host in ("hyp1", "hyp2")
    ]


def test_a_guest_mtu_one_byte_too_big_for_the_vswitch():
    pillar = vswitch(guest_mtu=1351)
    pillar["hypervisor"]["hosts"]["hyp2"]["rpn"]["mtu"] = 1500  # room for 1450: hyp2 passes
    assert errors(pillar) == [
        "pillar key 'hypervisor:hosts:hyp1:rpn:mtu': host hyp1's RPN MTU is 1400 (the default with"
        " rpn:vlan): tunnels:transport vxlan needs 1401 there, the guests' 1351-byte frames"
        " (tunnels:guest_mtu) and VXLAN's 50 bytes; set tunnels:guest_mtu: 1350 (the guests then"
        " get that MTU), raise rpn:mtu, or use openvpn"
    ]


def test_an_rpn_too_small_for_any_guest_mtu_suggests_none():
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["rpn"]["mtu"] = 600
    assert errors(pillar) == [
        "pillar key 'hypervisor:hosts:hyp2:rpn:mtu': host hyp2's RPN MTU is 600: tunnels:transport"
        " vxlan needs 1550 there, the guests' 1500-byte frames (tunnels:guest_mtu) and VXLAN's 50"
        " bytes; raise rpn:mtu, or use openvpn"
    ]


@pytest.mark.parametrize(
    ("rpn_mtu", "guest_mtu", "valid"),
    [(9000, 8950, True), (1550, 1500, True), (1549, 1500, False), (1500, 1450, True), (1400, 576, True)],
)
def test_vxlan_needs_the_guest_mtu_and_50_bytes_on_every_rpn(rpn_mtu, guest_mtu, valid):
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["rpn"]["mtu"] = rpn_mtu
    pillar["hypervisor"]["tunnels"] = {"transport": "vxlan", "guest_mtu": guest_mtu}
    assert (errors(pillar) == []) is valid


@pytest.mark.parametrize("guest_mtu", [575, 8951, True, "1350"])
def test_guest_mtu_is_an_integer_in_range(guest_mtu):
    """Refused at its own key alone (not again at every RPN MTU)."""
    pillar = lab_pillar()
    pillar["hypervisor"]["tunnels"] = {"guest_mtu": guest_mtu}
    found = errors(pillar)
    assert len(found) == 1 and found[0].startswith("pillar key 'hypervisor:tunnels:guest_mtu': "), found


def test_openvpn_over_a_vswitch_needs_no_guest_mtu():
    pillar = vswitch(guest_mtu=None)
    pillar["hypervisor"]["tunnels"] = {"transport": "openvpn"}
    assert errors(pillar) == []


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (
            {"mac": "02:00:c6:33:64:0b"},
            "pillar key 'hypervisor:hosts:hyp1:rpn:mac': a VLAN (rpn:vlan) has the public NIC's MAC,"
            " and the states find it by its name (rpn:interface): remove rpn:mac",
        ),
        (
            {"interface": "eth0.4000"},
            "pillar key 'hypervisor:hosts:hyp1:rpn:interface': 'eth0.4000' has a dot: a link named so"
            " needs a slash in its sysctl keys (net.ipv4.conf.<link>.*) and reads as <nic>.<id>; name"
            " the VLAN link without one, e.g. vlan4000",
        ),
        (
            {"interface": "eth0", "vlan": 4001},
            "pillar key 'hypervisor:hosts:hyp1:rpn:interface': 'eth0' is the public NIC"
            " (public:interface): with rpn:vlan it names the VLAN link made on that NIC; choose another"
            " name, e.g. vlan4001",
        ),
        ({"vlan": 4095}, "pillar key 'hypervisor:hosts:hyp1:rpn:vlan': 4095 is out of range 1..4094"),
        ({"vlan": 0}, "pillar key 'hypervisor:hosts:hyp1:rpn:vlan': 0 is out of range 1..4094"),
        ({"vlan": "4000"}, "pillar key 'hypervisor:hosts:hyp1:rpn:vlan': must be an integer, got '4000'"),
        ({"address": None}, "pillar key 'hypervisor:hosts:hyp1:rpn:address': is required but missing"),
    ],
    ids=["mac", "dot", "public-nic", "vlan-4095", "vlan-0", "vlan-text", "no-address"],
)
def test_vswitch_refusals_say_why(changes, line):
    assert errors(vswitch(**changes)) == [line]


def test_without_vlan_the_mac_is_still_required():
    pillar = lab_pillar()
    del pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["mac"]
    assert errors(pillar) == ["pillar key 'hypervisor:hosts:hyp1:rpn:mac': is required but missing"]


def test_a_bridge_may_not_take_the_vlan_links_name():
    pillar = vswitch()
    pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["interface"] = "private"
    pillar["hypervisor"]["bridges"]["lan"]["name"] = "private"
    assert [e for e in errors(pillar) if e.startswith("pillar key 'hypervisor:bridges:lan:name': 'private'")]


# ------------------------------------------------------------------ the views


def test_the_host_view_of_a_vlan():
    rpn = settings(vswitch())["me"]["rpn"]
    assert rpn == {
        "interface": "vlan4000",
        "vlan": 4000,
        "parent": "eth0",
        "mac": None,
        "address": "198.51.100.11/24",
        "ip": "198.51.100.11",
        "dhcp": False,
        "mtu": 1400,
    }
    own = settings(vswitch(mtu=1450, dhcp=True))["me"]["rpn"]
    assert (own["mtu"], own["dhcp"]) == (1450, True)


def test_the_host_view_of_an_rpn_nic_names_no_vlan():
    rpn = settings(lab_pillar())["me"]["rpn"]
    assert (rpn["vlan"], rpn["parent"], rpn["mac"], rpn["mtu"], rpn["dhcp"]) == (
        None,
        None,
        "02:00:c6:33:64:0b",
        9000,
        False,  # the lab's own; a NIC's default is true
    )


def test_networkd_files_of_a_vswitch():
    hv = settings(vswitch())
    files = hv["network"]["networkd_files"]
    assert files[f"{NETWORKD}/25-hv-vlan4000.netdev"] == {
        "source": f"{SOURCES}/vlan.netdev.jinja",
        "context": {"rpn": hv["me"]["rpn"]},
    }
    assert files[f"{NETWORKD}/10-hv-public.network"]["context"]["vlans"] == ["vlan4000"]
    assert files[f"{NETWORKD}/20-hv-rpn.network"]["context"]["vxlans"] == ["vxlan", "vxwan"]
    for bridge in ("brlan", "brwan"):
        for kind in ("netdev", "network"):
            assert files[f"{NETWORKD}/30-hv-{bridge}.{kind}"]["context"] == {"bridge": bridge, "mtu": 1350}
    assert [link["mtu"] for link in hv["tunnels"]["vxlan"]] == [1350, 1350]
    assert hv["network"]["bridge_mtu"] == 1350
    assert hv["network"]["links"] == ["eth0", "vlan4000", "brlan", "brwan", "vxlan", "vxwan"]


def test_the_arbiter_on_a_vswitch_has_the_vlan_and_no_bridge():
    files = settings(vswitch(), "arb1")["network"]["networkd_files"]
    assert sorted(files) == [
        f"{NETWORKD}/10-hv-public.network",
        f"{NETWORKD}/20-hv-rpn.network",
        f"{NETWORKD}/25-hv-vlan4000.netdev",
    ]


def test_at_guest_mtu_1500_nothing_new():
    """The lab's cluster (an RPN NIC, guest_mtu unset): no VLAN file, the bridges' context as
    before, the VXLAN links at 1500, no NIC MTU, no <mtu> in a guest's XML."""
    hv = settings(lab_pillar())
    files = hv["network"]["networkd_files"]
    assert not [dest for dest in files if "/25-hv-" in dest]
    assert files[f"{NETWORKD}/30-hv-brwan.netdev"]["context"] == {"bridge": "brwan"}
    assert files[f"{NETWORKD}/10-hv-public.network"]["context"]["vlans"] == []
    assert (hv["network"]["bridge_mtu"], [link["mtu"] for link in hv["tunnels"]["vxlan"]]) == (
        None,
        [1500, 1500],
    )
    assert not [nic for guest in hv["guests"].values() for nic in guest["nics"] if "mtu" in nic]
    assert not [name for name, guest in hv["guests"].items() if "<mtu" in guest["xml"]]


def test_guest_mtu_reaches_the_guests_nics():
    hv = settings(vswitch())
    assert {nic["mtu"] for guest in hv["guests"].values() for nic in guest["nics"]} == {1350}
    xml = ET.fromstring(hv["guests"]["vm1"]["xml"])
    assert [nic.find("mtu").attrib for nic in xml.findall("devices/interface")] == [{"size": "1350"}]


# ------------------------------------------------------------------ the files


def test_networkd_vlan_netdev():
    text = render("networkd/vlan.netdev.jinja", rpn=settings(vswitch())["me"]["rpn"])
    assert sections(text) == [
        ("NetDev", {"Name": ["vlan4000"], "Kind": ["vlan"], "MTUBytes": ["1400"]}),
        ("VLAN", {"Id": ["4000"]}),
    ]


def test_networkd_public_names_its_vlan():
    hv = settings(vswitch())
    text = render("networkd/public.network.jinja", public=hv["me"]["public"], vlans=["vlan4000"])
    assert section(text, "Match") == {"Name": ["eth0"]}
    assert section(text, "Network")["VLAN"] == ["vlan4000"]
    assert "VLAN" not in section(
        render("networkd/public.network.jinja", public=hv["me"]["public"], vlans=[]), "Network"
    )


def test_networkd_rpn_of_a_vlan_matches_its_name():
    rpn = settings(vswitch())["me"]["rpn"]
    text = render("networkd/rpn.network.jinja", rpn=rpn, vxlans=["vxlan", "vxwan"])
    assert sections(text) == [
        ("Match", {"Name": ["vlan4000"]}),
        ("Link", {"MTUBytes": ["1400"]}),
        (
            "Network",
            {
                "Address": ["198.51.100.11/24"],
                "LinkLocalAddressing": ["no"],
                "IPv6AcceptRA": ["no"],
                "VXLAN": ["vxlan", "vxwan"],
            },
        ),
    ]


def test_networkd_bridge_and_vxlan_at_the_guests_mtu():
    hv = settings(vswitch())
    netdev = render("networkd/bridge.netdev.jinja", bridge="brwan", mtu=1350)
    assert section(netdev, "NetDev") == {"Name": ["brwan"], "Kind": ["bridge"], "MTUBytes": ["1350"]}
    assert "MTUBytes" not in render("networkd/bridge.netdev.jinja", bridge="brwan")
    vxlan = render("networkd/vxlan.netdev.jinja", link=hv["tunnels"]["vxlan"][1])
    assert section(vxlan, "NetDev") == {"Name": ["vxwan"], "Kind": ["vxlan"], "MTUBytes": ["1350"]}


def test_nm_rpn_of_a_vlan_is_a_vlan_connection_on_the_public_nic():
    rpn = settings(vswitch(), family="RedHat")["me"]["rpn"]
    assert keyfile(render("networkmanager/rpn.nmconnection.jinja", id="hv-rpn", rpn=rpn)) == {
        "connection": {"id": "hv-rpn", "type": "vlan", "interface-name": "vlan4000", "autoconnect": "true"},
        "vlan": {"id": "4000", "parent": "eth0"},
        "ethernet": {"mtu": "1400"},
        "ipv4": {"method": "manual", "address1": "198.51.100.11/24"},
        "ipv6": {"method": "disabled"},
    }


def test_nm_rpn_nic_still_found_by_its_mac():
    rpn = settings(lab_pillar(), family="RedHat")["me"]["rpn"]
    assert keyfile(render("networkmanager/rpn.nmconnection.jinja", id="hv-rpn", rpn=rpn))["ethernet"] == {
        "mac-address": "02:00:c6:33:64:0b",
        "mtu": "9000",
    }


@pytest.mark.parametrize(("mtu", "ethernet"), [(1350, {"mtu": "1350"}), (None, None)])
def test_nm_bridge_mtu_only_when_guest_mtu_is_not_1500(mtu, ethernet):
    text = render("networkmanager/bridge.nmconnection.jinja", id="hv-brwan", bridge="brwan", mtu=mtu)
    assert keyfile(text).get("ethernet") == ethernet
    assert keyfile(text)["bridge"] == {"stp": "false"}


def test_guest_xml_mtu_between_the_model_and_the_filter():
    guest = copy.deepcopy(settings(vswitch())["guests"]["vm1"])
    xml = guest_xml.render(guest)
    assert "      <model type='virtio'/>\n      <mtu size='1350'/>\n      <filterref" in xml
    del guest["nics"][0]["mtu"]
    assert "<mtu" not in guest_xml.render(guest)
    assert guest_xml.fingerprint(guest_xml.render(guest)) != guest_xml.fingerprint(xml)
