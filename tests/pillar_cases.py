"""Malformed pillars, each with the pillar key its refusal must name.

Shared by the unit tests (the validator alone) and the lab tests (a real
``state.apply`` through the master, on both hosts, which must change nothing).
Each case mutates a copy of the lab's embedded default pillar.
"""

import copy
from pathlib import Path

import yaml

PILLAR_DIR = Path(__file__).resolve().parent.parent / "pillar"


def lab_pillar():
    """The embedded default pillar as both hosts see it."""
    data = {}
    for name in ("hypervisor", "online"):
        data.update(yaml.safe_load((PILLAR_DIR / f"{name}.sls").read_text()))
    return data


def _parent(pillar, path):
    """The mapping or list that holds the last key of ``path``."""
    node = pillar
    for key in path[:-1]:
        node = node[key]
    return node


def _set(path, value):
    return lambda p: _parent(p, path).__setitem__(path[-1], value)


def _delete(path):
    return lambda p: _parent(p, path).__delitem__(path[-1])


def _rename(path, new):
    return lambda p: _parent(p, path).__setitem__(new, _parent(p, path).pop(path[-1]))


H1 = ("hypervisor", "hosts", "hyp1")

# (case id, mutation, the pillar key the error must name)
CASES = [
    ("missing-domain", _delete(("hypervisor", "domain")), "hypervisor:domain"),
    ("bad-domain", _set(("hypervisor", "domain"), "not a domain"), "hypervisor:domain"),
    ("missing-host-id", _delete((*H1, "host_id")), "hypervisor:hosts:hyp1:host_id"),
    (
        "duplicate-host-id",
        _set(("hypervisor", "hosts", "hyp2", "host_id"), 1),
        "hypervisor:hosts:hyp2:host_id",
    ),
    ("host-id-zero", _set((*H1, "host_id"), 0), "hypervisor:hosts:hyp1:host_id"),
    ("host-id-too-big", _set((*H1, "host_id"), 2001), "hypervisor:hosts:hyp1:host_id"),
    ("host-id-not-int", _set((*H1, "host_id"), "one"), "hypervisor:hosts:hyp1:host_id"),
    ("peer-not-in-cluster", _set((*H1, "peer"), "hyp9"), "hypervisor:hosts:hyp1:peer"),
    ("peer-is-self", _set((*H1, "peer"), "hyp1"), "hypervisor:hosts:hyp1:peer"),
    (
        "bad-public-ip",
        _set((*H1, "public", "address"), "203.0.113.300"),
        "hypervisor:hosts:hyp1:public:address",
    ),
    (
        "rpn-cidr-without-prefix",
        _set((*H1, "rpn", "address"), "198.51.100.11"),
        "hypervisor:hosts:hyp1:rpn:address",
    ),
    ("rpn-bad-cidr", _set((*H1, "rpn", "address"), "198.51.100.11/40"), "hypervisor:hosts:hyp1:rpn:address"),
    ("bad-mac", _set((*H1, "rpn", "mac"), "02:00:c6:33:64"), "hypervisor:hosts:hyp1:rpn:mac"),
    ("mtu-too-small", _set((*H1, "rpn", "mtu"), 100), "hypervisor:hosts:hyp1:rpn:mtu"),
    ("mtu-too-big", _set((*H1, "rpn", "mtu"), 9001), "hypervisor:hosts:hyp1:rpn:mtu"),
    ("misspelled-host-key", _rename((*H1, "host_id"), "hostid"), "hypervisor:hosts:hyp1:hostid"),
    ("misspelled-top-key", _rename(("hypervisor", "bridges"), "bridgez"), "hypervisor:bridgez"),
    (
        "bridge-name-too-long",
        _set(("hypervisor", "bridges", "wan", "name"), "br-wan-public-01"),
        "hypervisor:bridges:wan:name",
    ),
    (
        "same-port-twice",
        _set(("hypervisor", "bridges", "lan", "vpn_port"), 1195),
        "hypervisor:bridges:wan:vpn_port",
    ),
    (
        "port-out-of-range",
        _set(("hypervisor", "bridges", "lan", "vpn_port"), 70000),
        "hypervisor:bridges:lan:vpn_port",
    ),
    (
        "same-bridge-twice",
        _set(("hypervisor", "bridges", "lan", "name"), "brwan"),
        "hypervisor:bridges:wan:name",
    ),
    ("token-outside-its-key", _set(("hypervisor", "api_token"), "abc"), "hypervisor:api_token"),
    (
        "token-value-elsewhere",
        _set(("hypervisor", "domain"), "lab-fake-token-not-a-secret"),
        "hypervisor:domain",
    ),
    ("single-host", _delete(("hypervisor", "hosts", "hyp2")), "hypervisor:hosts"),
    (
        "duplicate-rpn-address",
        _set(("hypervisor", "hosts", "hyp2", "rpn", "address"), "198.51.100.11/24"),
        "hypervisor:hosts:hyp2:rpn:address",
    ),
    ("bad-admin-name", _set(("hypervisor", "admins", 0, "name"), "Root User"), "hypervisor:admins:0:name"),
    (
        "bad-ssh-key",
        _set(("hypervisor", "admins", 0, "ssh_keys"), ["not a key"]),
        "hypervisor:admins:0:ssh_keys:0",
    ),
    ("unknown-sysctl-override", _set(("hypervisor", "sysctl"), {"setings": {}}), "hypervisor:sysctl:setings"),
    (
        "ksm-value-not-int",
        _set(("hypervisor", "ksm"), {"settings": {"KSM_SLEEP_MSEC": "fast"}}),
        "hypervisor:ksm:settings:KSM_SLEEP_MSEC",
    ),
    (
        "bad-host-uuid-source",
        _set(("hypervisor", "libvirt", "host_uuid_source"), "dmi"),
        "hypervisor:libvirt:host_uuid_source",
    ),
    ("bad-api-url", _set(("online", "api_url"), "ftp//nowhere"), "online:api_url"),
    ("dhcp-not-bool", _set((*H1, "rpn", "dhcp"), "yes please"), "hypervisor:hosts:hyp1:rpn:dhcp"),
    (
        "gluster-lvm-without-vg",
        _set(("hypervisor", "gluster"), {"bricks": {"type": "lvm"}}),
        "hypervisor:gluster:bricks:vg",
    ),
    (
        "gluster-arbiter-unknown",
        _set(("hypervisor", "gluster"), {"arbiter": "arb9"}),
        "hypervisor:gluster:arbiter",
    ),
    (
        "gluster-volume-relative-mount",
        _set(("hypervisor", "gluster"), {"volumes": {"vmstore": {"mount": "images"}}}),
        "hypervisor:gluster:volumes:vmstore:mount",
    ),
    (
        "gluster-two-volumes-one-mount",
        _set(
            ("hypervisor", "gluster"),
            {"volumes": {"extra": {"mount": "/var/lib/libvirt/images", "size": "1G"}}},
        ),
        "hypervisor:gluster:volumes:vmstore:mount",
    ),
    ("pool-relative-path", _set(("hypervisor", "pools", "iso", "path"), "iso"), "hypervisor:pools:iso:path"),
]


def case_pillar(mutation):
    pillar = copy.deepcopy(lab_pillar())
    mutation(pillar)
    return pillar
