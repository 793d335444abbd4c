"""F26: a guest's domain XML (_utils/guest_xml.py): what libvirt is given, every
value escaped, and a fingerprint that render() embeds and fingerprint() finds again."""

import copy
from xml.etree import ElementTree as ET

from tests.loaders import load

guest_xml = load("_utils", "guest_xml")
NS = {"hv": guest_xml.NAMESPACE}
GUEST = {
    "name": "vm1",
    "uuid": "7e02d2a0-ee1f-5839-88fa-3605b91d12bf",
    "memory": 128,
    "vcpus": 2,
    "virt_type": "qemu",
    "boot": None,
    "disk_path": "/var/lib/libvirt/images/customer1/vm1.img",
    "nics": [
        {
            "bridge": "brwan",
            "net": "wan",
            "mac": "52:54:00:60:19:c4",
            "filter": "clean-traffic",
            "ips": ["192.0.2.9"],
        },
        {"bridge": "brlan", "net": "lan", "mac": "52:54:00:00:00:02", "filter": "no-mac-spoofing", "ips": []},
    ],
}


def guest(**changes):
    return dict(copy.deepcopy(GUEST), **changes)


def test_domain_from_the_view():
    root = ET.fromstring(guest_xml.render(GUEST))
    assert (root.get("type"), root.findtext("name"), root.findtext("uuid")) == ("qemu", "vm1", GUEST["uuid"])
    assert (root.find("memory").get("unit"), root.findtext("memory"), root.findtext("vcpu")) == (
        "MiB",
        "128",
        "2",
    )
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "pc"}
    assert root.find("os/boot").get("dev") == "hd" and root.find("os/kernel") is None
    assert [root.findtext(e) for e in ("on_poweroff", "on_reboot", "on_crash")] == [
        "destroy",
        "restart",
        "destroy",
    ]
    assert root.find("features/acpi") is not None


def test_raw_disk_without_host_cache_for_live_migration():
    disk = ET.fromstring(guest_xml.render(GUEST)).find("devices/disk")
    assert disk.attrib == {"type": "file", "device": "disk"}
    assert disk.find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "none"}
    assert disk.find("source").get("file") == GUEST["disk_path"]
    assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}


def test_one_bridged_virtio_interface_per_nic_in_order_and_a_serial_console():
    devices = ET.fromstring(guest_xml.render(GUEST)).find("devices")
    assert [
        (
            i.get("type"),
            i.find("mac").get("address"),
            i.find("source").get("bridge"),
            i.find("model").get("type"),
        )
        for i in devices.findall("interface")
    ] == [
        ("bridge", "52:54:00:60:19:c4", "brwan", "virtio"),
        ("bridge", "52:54:00:00:00:02", "brlan", "virtio"),
    ]
    assert devices.find("serial").get("type") == devices.find("console").get("type") == "pty"


def test_direct_kernel_boot():
    boot = {"kernel": "/opt/hvlab-guest/vmlinuz", "initrd": "/opt/hvlab-guest/initrd.img", "cmdline": "a=1 b"}
    os_ = ET.fromstring(guest_xml.render(guest(boot=boot))).find("os")
    assert [(e.tag, e.text) for e in os_][1:] == [
        ("kernel", "/opt/hvlab-guest/vmlinuz"),
        ("initrd", "/opt/hvlab-guest/initrd.img"),
        ("cmdline", "a=1 b"),
    ]
    bare = ET.fromstring(guest_xml.render(guest(boot={"kernel": "/k", "initrd": None, "cmdline": ""})))
    assert [e.tag for e in bare.find("os")] == ["type", "kernel"]


def test_every_value_is_escaped():
    odd = guest(
        name="a<b>&'\"",
        disk_path='/x/it\'s "q" <&>.img',
        boot={"kernel": "/k&<", "initrd": None, "cmdline": "x='1' y=\"2\" <&>"},
        nics=[{"bridge": "br'x\"", "net": "wan", "mac": "52:54:00:00:00:01"}],
    )
    root = ET.fromstring(guest_xml.render(odd))
    assert root.findtext("name") == "a<b>&'\""
    assert root.find("devices/disk/source").get("file") == '/x/it\'s "q" <&>.img'
    assert root.find("devices/interface/source").get("bridge") == "br'x\""
    assert (root.findtext("os/kernel"), root.findtext("os/cmdline")) == ("/k&<", "x='1' y=\"2\" <&>")


def test_the_fingerprint_is_embedded_and_found_again():
    xml = guest_xml.render(GUEST)
    element = ET.fromstring(xml).find("metadata/hv:guest", NS)
    assert element.get("fingerprint") == guest_xml.fingerprint(xml)
    assert len(element.get("fingerprint")) == 64


def test_the_fingerprint_follows_every_setting_and_only_them():
    xml = guest_xml.render(GUEST)
    assert guest_xml.render(copy.deepcopy(GUEST)) == xml
    for change in (
        {"memory": 256},
        {"vcpus": 1},
        {"virt_type": "kvm"},
        {"disk_path": "/srv/vm1.img"},
        {"nics": GUEST["nics"][:1]},
        {"boot": {"kernel": "/k", "initrd": None, "cmdline": ""}},
    ):
        assert guest_xml.fingerprint(guest_xml.render(guest(**change))) != guest_xml.fingerprint(xml), change


def test_each_nic_is_bound_by_its_filter_to_its_mac_and_ips():
    """B10: the public NIC takes clean-traffic with each of the guest's IPs; another NIC
    the filter alone; a view without a filter gets none."""
    interfaces = ET.fromstring(guest_xml.render(GUEST)).findall("devices/interface")
    wan, lan = (i.find("filterref") for i in interfaces)
    assert wan.get("filter") == "clean-traffic"
    assert [(p.get("name"), p.get("value")) for p in wan.findall("parameter")] == [("IP", "192.0.2.9")]
    two = guest(nics=[dict(GUEST["nics"][0], ips=["192.0.2.9", "192.0.2.10"])])
    wan = ET.fromstring(guest_xml.render(two)).find("devices/interface/filterref")
    assert [p.get("value") for p in wan.findall("parameter")] == ["192.0.2.9", "192.0.2.10"]
    assert (lan.get("filter"), lan.findall("parameter")) == ("no-mac-spoofing", [])
    bare = guest(nics=[{"bridge": "brwan", "net": "wan", "mac": "52:54:00:60:19:c4"}])
    assert ET.fromstring(guest_xml.render(bare)).find("devices/interface/filterref") is None
