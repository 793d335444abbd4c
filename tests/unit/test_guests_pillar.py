"""F25, F26: the guests and evacuation views of the settings, and the guest checks
that need more than one mutation of the lab pillar (pillar_cases has the others)."""

import uuid

import pytest

from tests import pillar_cases
from tests.loaders import hv_schema, hv_validate, hv_views, layered_parameters, load

guest_xml = load("_utils", "guest_xml")


@pytest.fixture(scope="module")
def params():
    return layered_parameters("Debian")


def build(params, pillar=None, host="hyp1"):
    return hv_views.build(pillar or pillar_cases.lab_pillar(), params, host)


def test_lab_guest_view(params):
    vm1 = build(params)["guests"]["vm1"]
    xml = vm1.pop("xml")
    assert vm1 == {
        "name": "vm1",
        "home": "hyp1",
        "memory": 128,
        "vcpus": 1,
        "virt_type": "qemu",
        "running": False,
        "disk": {"pool": "customer1", "size": "16M"},
        "disk_path": "/var/lib/libvirt/images/customer1/vm1.img",
        # B10: on the public bridge, bound to its MAC and its failover IP.
        "nics": [
            {
                "bridge": "brwan",
                "net": "wan",
                "mac": vm1["nics"][0]["mac"],
                "filter": "clean-traffic",
                "ips": ["203.0.113.101"],
            }
        ],
        "failover_ips": ["203.0.113.101"],
        "anti_affinity": None,
        "backup": True,
        "boot": {
            "kernel": "/opt/hvlab-guest/vmlinuz",
            "initrd": "/opt/hvlab-guest/initrd.img",
            "cmdline": "console=ttyS0 panic=-1 hvlab.ip=203.0.113.101 hvlab.gw=203.0.113.254",
        },
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, "vm1.lab.example")),
        "fingerprint": guest_xml.fingerprint(xml),
    }
    assert xml == guest_xml.render(vm1)


def test_every_host_sees_the_same_guests(params):
    """Same UUID, MAC and definition on both hosts: a guest can migrate between them."""
    assert build(params, host="hyp1")["guests"] == build(params, host="hyp2")["guests"]
    assert sorted(build(params)["guests"]) == ["vm1", "vm2", "vm3", "vm4"]


def test_default_macs_are_derived_from_the_name_and_index(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["guests"]["vm1"]["nics"] = [
        {"bridge": "wan"},
        {"bridge": "lan", "mac": "52:54:00:AB:CD:EF"},
    ]
    nics = build(params, pillar)["guests"]["vm1"]["nics"]
    assert nics[0]["mac"] == hv_schema.default_mac("vm1", 0)
    assert nics[0]["mac"].startswith("52:54:00:") and nics[0]["mac"] != hv_schema.default_mac("vm1", 1)
    assert nics[1] == {
        "bridge": "brlan",
        "net": "lan",
        "mac": "52:54:00:ab:cd:ef",
        "filter": "no-mac-spoofing",
        "ips": [],
    }


def test_guest_defaults(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["guests"] = {
        "db": {"home": "hyp2", "memory": 512, "disk": {"pool": "iso", "size": "1G"}}
    }
    db = build(params, pillar)["guests"]["db"]
    assert (db["vcpus"], db["virt_type"], db["running"], db["nics"], db["failover_ips"], db["boot"]) == (
        1,
        "kvm",
        True,
        [],
        [],
        None,
    )
    assert db["disk_path"] == "/var/lib/libvirt/images/iso/db.img"
    assert "<boot dev='hd'/>" in db["xml"]


def test_no_guests(params):
    pillar = pillar_cases.lab_pillar()
    del pillar["hypervisor"]["guests"]
    assert build(params, pillar)["guests"] == {}


def test_evacuation_view(params):
    assert build(params)["evacuation"] == {
        "parallel": 4,
        "migrate_timeout": 120,
        "peer_timeout": 5,
        "stop_timeout": 600,
        "auto_converge": True,
        "postcopy": False,
        "bandwidth": 0,
        "max_downtime": 100,
        "state_dir": "/var/lib/hv-evacuation",
        "script": "/usr/local/sbin/hv-evacuate",
        "unit": "hv-evacuate",
        "save_dir": "/var/lib/libvirt/qemu/save",
        "settings_cache": "/var/lib/hv-evacuation/settings.json",
    }


def test_the_arbiter_is_no_guests_home(params):
    pillar = pillar_cases.case_pillar(pillar_cases._hosts(arb1=pillar_cases.ARB1))
    pillar["hypervisor"]["guests"]["vm2"]["home"] = "arb1"
    assert hv_validate.validate(pillar, params, "hyp1") == [
        "pillar key 'hypervisor:guests:vm2:home': 'arb1' is not a host that carries guests (hyp1, hyp2)"
        " (not the gluster arbiter)"
    ]


def test_a_derived_mac_taken_by_hand_is_refused(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["guests"]["vm2"]["nics"][0]["mac"] = hv_schema.default_mac("vm1", 0)
    assert hv_validate.validate(pillar, params, "hyp1") == [
        f"pillar key 'hypervisor:guests:vm2:nics:0:mac': '{hv_schema.default_mac('vm1', 0)}'"
        " is already the MAC of pillar key 'hypervisor:guests:vm1:nics:0:mac'"
    ]


def test_guest_messages_name_the_choices(params):
    pillar = pillar_cases.lab_pillar()
    vm1 = pillar["hypervisor"]["guests"]["vm1"]
    vm1["disk"]["pool"] = "nowhere"
    vm1["nics"][0]["bridge"] = "dmz"
    assert hv_validate.validate(pillar, params, "hyp1") == [
        "pillar key 'hypervisor:guests:vm1:disk:pool': 'nowhere' is not a pool of hypervisor:pools"
        " (customer1, iso)",
        "pillar key 'hypervisor:guests:vm1:nics:0:bridge': 'dmz' is not a network of hypervisor:bridges"
        " (lan, wan)",
        "pillar key 'hypervisor:guests:vm1:nics': a guest holding failover IPs needs a NIC on the public"
        " bridge ('wan')",
    ]


def test_settings_copy_holds_only_what_the_shutdown_unit_needs(params):
    """F25, B1: the settings copy: no public side, no pillar beyond the guests' placement
    and what the takeover and the keeper need (host ids, server ids, roles, timings, disks)."""
    cfg = build(params)
    offline = cfg["settings_copy"]
    assert sorted(offline) == [
        "evacuation", "failover", "firewall", "gluster", "guests", "hosts", "keeper", "me", "migration",
        "placement", "takeover", "timings", "tunnels",
    ]  # fmt: skip
    assert offline["gluster"] == {"brick_hosts": ["hyp1", "hyp2", "arb1"]}
    assert offline["placement"] == {"reserve_memory": 1024, "memory_ratio": 100, "vcpu_ratio": 4}
    assert offline["me"] == {"name": "hyp1", "peer": "hyp2"}
    assert offline["hosts"]["hyp2"] == {
        "rpn": {"ip": "198.51.100.12"},
        "role": "hypervisor",
        "host_id": 2,
        "server_id": 1002,
    }
    assert (offline["takeover"], offline["timings"]) == (cfg["takeover"], cfg["timings"])
    assert offline["keeper"] == cfg["keeper"]
    assert offline["guests"]["vm1"] == {
        "home": "hyp1",
        "running": False,
        "failover_ips": ["203.0.113.101"],
        "disk_path": "/var/lib/libvirt/images/customer1/vm1.img",  # its sanlock lease is named after it
        "memory": 128,
        "vcpus": 1,
        "anti_affinity": None,
    }
    assert "public" not in str(offline) and "token" not in str(offline)
