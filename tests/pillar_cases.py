"""Malformed pillars, each with the pillar key its refusal must name.

Shared by the unit tests (the validator alone, every case) and the lab tests
(a real ``state.apply`` through the master, on every host, which must change
nothing: :func:`one_per_section` of them, each run costing the lab 5 s).
Each case is one mutation of a copy of the lab's embedded default pillar (which
has an arbiter, arb1); a case about a cluster without one takes it out first.
:func:`token_placements` pastes the API token into each string of it in turn.
"""

import copy
from pathlib import Path

import yaml

PILLAR_DIR = Path(__file__).resolve().parent.parent / "pillar"


def lab_pillar(host=None):
    """The embedded default pillar (hosts hyp1, hyp2 and arb1, the arbiter) as the guest
    hosts see it, or as ``host`` does (the arbiter gets no ``online``: :func:`as_seen_by`)."""
    data = {}
    for name in ("hypervisor", "online"):
        data.update(yaml.safe_load((PILLAR_DIR / f"{name}.sls").read_text()))
    return as_seen_by(data, host) if host else data


def as_seen_by(pillar, host):
    """``pillar`` as the pillar top gives it to ``host``: an arbiter gets no provider part
    (only the nodegroup guest_hosts gets online.sls and hetzner.sls, pillar/top.sls), and
    no host gets the master's alerts part (alerts.sls: the nodegroup alerts_master alone)."""
    hosts = pillar.get("hypervisor", {}).get("hosts", {})
    pillar = {k: v for k, v in pillar.items() if k != "alerts"}
    if isinstance(hosts.get(host), dict) and hosts[host].get("role") == "arbiter":
        return {k: v for k, v in pillar.items() if k not in ("online", "hetzner")}
    return pillar


# A Hetzner cluster's API part (the lab's Robot stand-in; not a secret).
HETZNER = {
    "api_url": "http://203.0.113.1:8081",
    "user": "#ws+LabRobot1",
    "password": "lab-robot-password-not-a-secret",
    "allow_http": True,
}


def to_hetzner(pillar):
    """The lab's pillar as a Hetzner cluster's: failover:provider hetzner, the ``hetzner``
    part in place of ``online``, each host's server number at Robot."""
    pillar["hypervisor"].setdefault("failover", {})["provider"] = "hetzner"
    pillar.pop("online", None)
    pillar["hetzner"] = copy.deepcopy(HETZNER)
    for host in pillar["hypervisor"]["hosts"].values():
        if "online_server_id" in host:
            host["hetzner_server_number"] = 300 + host.pop("online_server_id") % 1000


def hetzner_pillar():
    return case_pillar(to_hetzner)


def to_vswitch(pillar, guest_mtu=None):
    """Every host's private network a Hetzner vSwitch: VLAN 4000 on its public NIC, the link
    vlan4000 (no MAC, the VLAN's default MTU 1400, no DHCP); ``guest_mtu``: tunnels:guest_mtu."""
    for host in pillar["hypervisor"]["hosts"].values():
        host["rpn"] = {"interface": "vlan4000", "vlan": 4000, "address": host["rpn"]["address"]}
    if guest_mtu is not None:
        pillar["hypervisor"].setdefault("tunnels", {})["guest_mtu"] = guest_mtu


def _vswitch(guest_mtu=None):
    return lambda pillar: to_vswitch(pillar, guest_mtu)


def _no_arbiter(pillar):
    """Take the arbiter (every host whose role is arbiter) out of the cluster: two hosts,
    replica 2 volumes without client quorum, takeover off (auto)."""
    hosts = pillar["hypervisor"]["hosts"]
    for name in [n for n, host in hosts.items() if host.get("role") == "arbiter"]:
        del hosts[name]


def lab_pillar_without_arbiter():
    """The lab's pillar without its arbiter, arb1: the two-host cluster (replica 2)."""
    return case_pillar(_no_arbiter)


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


def _put(path, value):
    """Set ``path`` to ``value``, adding the mappings on the way that the pillar lacks."""

    def mutate(pillar):
        node = pillar
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[path[-1]] = value

    return mutate


def _key(*path):
    return ":".join(str(k) for k in path)


def _hosts(**hosts):
    """Add ``hosts`` (name: its pillar) to the cluster."""
    return lambda p: p["hypervisor"]["hosts"].update(copy.deepcopy(hosts))


def _both(*mutations):
    """One case that needs more than one change (e.g. an arbiter, then what it allows)."""

    def mutate(pillar):
        for mutation in mutations:
            mutation(pillar)

    return mutate


H1 = ("hypervisor", "hosts", "hyp1")
H2 = ("hypervisor", "hosts", "hyp2")
GLUSTER = ("hypervisor", "gluster")
MOUNT = (*GLUSTER, "volumes", "vmstore", "mount")
BRIDGES = ("hypervisor", "bridges")
TUNNELS = ("hypervisor", "tunnels")
FIREWALL = ("hypervisor", "firewall")
VM1 = ("hypervisor", "guests", "vm1")
VM2 = ("hypervisor", "guests", "vm2")
EVACUATION = ("hypervisor", "evacuation")
SANLOCK = ("hypervisor", "sanlock")
TAKEOVER = ("hypervisor", "takeover")
KEEPER = ("hypervisor", "keeper")
METRICS = ("hypervisor", "metrics")
BACKUPS = ("hypervisor", "backups")
LEASE_OPTIONS = (*GLUSTER, "volumes", "sanlock", "options")
# A third host for the lab's cluster: its arbiter (hosts:<name>:role), valid as it is.
ARB1 = {
    "role": "arbiter",
    "public": {"interface": "eth0", "address": "203.0.113.13", "gateway": "203.0.113.254"},
    "rpn": {"interface": "eth1", "mac": "02:00:c6:33:64:0d", "address": "198.51.100.13/24"},
}
ARB2 = {
    "role": "arbiter",
    "public": {"interface": "eth0", "address": "203.0.113.15", "gateway": "203.0.113.254"},
    "rpn": {"interface": "eth1", "mac": "02:00:c6:33:64:0f", "address": "198.51.100.15/24"},
}
# A third host that carries guests.
HYP3 = {
    "host_id": 3,
    "peer": "hyp1",
    "online_server_id": 1003,
    "public": {"interface": "eth0", "address": "203.0.113.14", "gateway": "203.0.113.254"},
    "rpn": {"interface": "eth1", "mac": "02:00:c6:33:64:0e", "address": "198.51.100.14/24"},
}
TOKEN = lab_pillar()["online"]["api_token"]
# A made-up private key (split so that secret scanners do not flag this file).
PRIVATE_KEY = (
    "-----BEGIN OPENSSH " + "PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBmYWtlLWtleS1mb3ItdGVzdHMtb25seS1ub3QtcmVhbAAAAAAAAAAAAA==\n"
    "-----END OPENSSH " + "PRIVATE KEY-----\n"
)
# The brick devices the lab gives hyp2 (bricks:type device).
HYP2_DEVICES = {"vmstore": "/dev/hvlab-vmstore", "sanlock": "/dev/hvlab-sanlock", "save": "/dev/hvlab-save"}

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
    ("token-value-elsewhere", _set(("hypervisor", "domain"), TOKEN), "hypervisor:domain"),
    ("token-in-rpn-mac", _set((*H1, "rpn", "mac"), TOKEN), "hypervisor:hosts:hyp1:rpn:mac"),
    ("secret-named-host-key", _set((*H1, "password"), "hunter2-hunter2"), "hypervisor:hosts:hyp1:password"),
    (
        "private-key-as-ssh-key",
        _set(("hypervisor", "admins", 0, "ssh_keys"), [PRIVATE_KEY]),
        "hypervisor:admins:0:ssh_keys:0",
    ),
    (
        "private-key-as-pool-path",
        _set(("hypervisor", "pools", "iso", "path"), PRIVATE_KEY),
        "hypervisor:pools:iso:path",
    ),
    # hyp1 alone: the arbiter goes too (beside it, its own refusal would name arb1's role).
    ("single-host", _both(_no_arbiter, _delete(H2)), "hypervisor:hosts"),
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
    ("plain-http-api-url", _set(("online", "allow_http"), False), "online:api_url"),
    ("allow-http-not-bool", _set(("online", "allow_http"), "yes"), "online:allow_http"),
    (
        "failover-provider-unknown",
        _put(("hypervisor", "failover", "provider"), "ovh"),
        "hypervisor:failover:provider",
    ),
    (
        "failover-poll-zero",
        _set(("hypervisor", "failover", "poll_interval"), 0),
        "hypervisor:failover:poll_interval",
    ),
    ("failover-retries-many", _put(("hypervisor", "failover", "retries"), 50), "hypervisor:failover:retries"),
    (
        "failover-budget-no-moves",
        _put(("hypervisor", "failover", "move_budget", "moves"), 0),
        "hypervisor:failover:move_budget:moves",
    ),
    (
        "failover-budget-window-text",
        _put(("hypervisor", "failover", "move_budget", "window"), "1h"),
        "hypervisor:failover:move_budget:window",
    ),
    (
        "failover-garp-not-strings",
        _put(("hypervisor", "failover", "garp_command"), ["arping", 1]),
        "hypervisor:failover:garp_command",
    ),
    (
        "failover-unknown-key",
        _put(("hypervisor", "failover", "poll_intervall"), 5),
        "hypervisor:failover:poll_intervall",
    ),
    ("server-id-missing", _delete((*H2, "online_server_id")), "hypervisor:hosts:hyp2:online_server_id"),
    ("dhcp-not-bool", _set((*H1, "rpn", "dhcp"), "yes please"), "hypervisor:hosts:hyp1:rpn:dhcp"),
    (
        "gluster-lvm-without-vg",
        _set(("hypervisor", "gluster"), {"bricks": {"type": "lvm"}}),
        "hypervisor:gluster:bricks:vg",
    ),
    ("host-role-unknown", _set((*H2, "role"), "witness"), "hypervisor:hosts:hyp2:role"),
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
    (
        "duplicate-online-server-id",
        _set((*H2, "online_server_id"), 1001),
        "hypervisor:hosts:hyp2:online_server_id",
    ),
    (
        "rpn-other-subnet",
        _set((*H2, "rpn", "address"), "198.51.101.12/24"),
        "hypervisor:hosts:hyp2:rpn:address",
    ),
    (
        "rpn-network-address",
        _set((*H1, "rpn", "address"), "198.51.100.0/24"),
        "hypervisor:hosts:hyp1:rpn:address",
    ),
    (
        "rpn-broadcast-address",
        _set((*H1, "rpn", "address"), "198.51.100.255/24"),
        "hypervisor:hosts:hyp1:rpn:address",
    ),
    (
        "bridge-is-a-host-nic",
        _set(("hypervisor", "bridges", "wan", "name"), "eth1"),
        "hypervisor:bridges:wan:name",
    ),
    (
        "bridge-named-like-a-nic",
        _set(("hypervisor", "bridges", "lan", "name"), "enp3s0"),
        "hypervisor:bridges:lan:name",
    ),
    ("host-bricks-bad-type", _set((*H2, "bricks"), {"type": "zfs"}), "hypervisor:hosts:hyp2:bricks:type"),
    ("host-bricks-unknown-key", _set((*H2, "bricks"), {"typ": "device"}), "hypervisor:hosts:hyp2:bricks:typ"),
    ("host-bricks-lvm-without-vg", _set((*H2, "bricks"), {"type": "lvm"}), "hypervisor:hosts:hyp2:bricks:vg"),
    (
        "host-bricks-device-missing",
        _set((*H2, "bricks"), {"type": "device", "devices": {"vmstore": "/dev/hvlab-vmstore"}}),
        "hypervisor:hosts:hyp2:bricks:devices:sanlock",
    ),
    (
        "host-bricks-same-device-twice",
        _set(
            (*H2, "bricks"), {"type": "device", "devices": dict(HYP2_DEVICES, sanlock="/dev/hvlab-vmstore")}
        ),
        "hypervisor:hosts:hyp2:bricks:devices:vmstore",
    ),
    (
        "host-brick-device-shell",
        _set((*H2, "bricks"), {"type": "device", "devices": dict(HYP2_DEVICES, save="/dev/sdb;reboot")}),
        "hypervisor:hosts:hyp2:bricks:devices:save",
    ),
    (
        "brick-device-outside-dev",
        _set(GLUSTER, {"bricks": {"type": "device", "devices": dict(HYP2_DEVICES, vmstore="/tmp/vmstore")}}),
        "hypervisor:gluster:bricks:devices:vmstore",
    ),
    (
        "bad-vg-name",
        _set(GLUSTER, {"bricks": {"type": "lvm", "vg": "-main vg"}}),
        "hypervisor:gluster:bricks:vg",
    ),
    ("mount-shell-injection", _put(MOUNT, "/var/lib/x;touch /tmp/pwn"), _key(*MOUNT)),
    ("mount-dot-dot", _put(MOUNT, "/var/lib/libvirt/../../../etc/cron.d"), _key(*MOUNT)),
    ("mount-root", _put(MOUNT, "/"), _key(*MOUNT)),
    ("mount-etc", _put(MOUNT, "/etc"), _key(*MOUNT)),
    ("mount-with-space", _put(MOUNT, "/var/lib/libvirt/my images"), _key(*MOUNT)),
    ("mount-trailing-slash", _put(MOUNT, "/var/lib/libvirt/images/"), _key(*MOUNT)),
    (
        "pool-path-command",
        _set(("hypervisor", "pools", "iso", "path"), "/var/lib/libvirt/images/$(reboot)"),
        "hypervisor:pools:iso:path",
    ),
    (
        "pool-path-usr-dir",
        _set(("hypervisor", "pools", "iso", "path"), "/usr/lib"),
        "hypervisor:pools:iso:path",
    ),
    ("brick-root-system-dir", _set(GLUSTER, {"brick_root": "/var/lib"}), "hypervisor:gluster:brick_root"),
    (
        "override-path-relative",
        _set(("hypervisor", "sysctl"), {"file": "90-hv.conf"}),
        "hypervisor:sysctl:file",
    ),
    (
        "override-path-double-slash",
        _set(("hypervisor", "hosts_file"), "/etc//hosts"),
        "hypervisor:hosts_file",
    ),
    ("public-gateway-missing", _delete((*H1, "public", "gateway")), "hypervisor:hosts:hyp1:public:gateway"),
    (
        "public-gateway-outside-subnet",
        _set((*H1, "public", "gateway"), "198.51.100.254"),
        "hypervisor:hosts:hyp1:public:gateway",
    ),
    (
        "public-gateway-is-own-address",
        _set((*H2, "public", "gateway"), "203.0.113.12"),
        "hypervisor:hosts:hyp2:public:gateway",
    ),
    ("public-prefix-too-long", _set((*H1, "public", "prefix"), 33), "hypervisor:hosts:hyp1:public:prefix"),
    ("public-dhcp-not-bool", _set((*H1, "public", "dhcp"), "no"), "hypervisor:hosts:hyp1:public:dhcp"),
    (
        "failover-ip-invalid",
        _set((*H1, "failover_ips"), ["203.0.113.300"]),
        "hypervisor:hosts:hyp1:failover_ips:0",
    ),
    (
        "failover-ip-not-a-list",
        _set((*H1, "failover_ips"), "203.0.113.101"),
        "hypervisor:hosts:hyp1:failover_ips",
    ),
    (
        "failover-ip-on-two-hosts",
        _set((*H2, "failover_ips"), ["203.0.113.101"]),
        "hypervisor:hosts:hyp2:failover_ips:0",
    ),
    (
        "failover-ip-is-a-host-address",
        _set((*H1, "failover_ips"), ["203.0.113.12"]),
        "hypervisor:hosts:hyp1:failover_ips:0",
    ),
    (
        "failover-ip-without-public-bridge",
        _set((*BRIDGES, "wan", "public"), False),
        "hypervisor:hosts:hyp1:failover_ips",
    ),
    ("two-public-bridges", _set((*BRIDGES, "lan", "public"), True), "hypervisor:bridges:wan:public"),
    ("bridge-public-not-bool", _set((*BRIDGES, "wan", "public"), "yes"), "hypervisor:bridges:wan:public"),
    ("bridge-vni-zero", _set((*BRIDGES, "lan", "vni"), 0), "hypervisor:bridges:lan:vni"),
    ("bridge-vni-too-big", _set((*BRIDGES, "lan", "vni"), 16777216), "hypervisor:bridges:lan:vni"),
    ("same-vni-twice", _set((*BRIDGES, "lan", "vni"), 101), "hypervisor:bridges:wan:vni"),
    ("tunnels-unknown-transport", _put((*TUNNELS, "transport"), "gre"), "hypervisor:tunnels:transport"),
    ("tunnels-vxlan-port-zero", _put((*TUNNELS, "vxlan_port"), 0), "hypervisor:tunnels:vxlan_port"),
    ("tunnels-unknown-key", _put((*TUNNELS, "mode"), "vxlan"), "hypervisor:tunnels:mode"),
    ("vxlan-on-a-1500-byte-rpn", _set((*H2, "rpn", "mtu"), 1500), "hypervisor:hosts:hyp2:rpn:mtu"),
    # A Hetzner vSwitch as the private network: a VLAN of the public NIC, MTU 1400.
    ("vxlan-on-a-vswitch-without-guest-mtu", _vswitch(), "hypervisor:hosts:hyp1:rpn:mtu"),
    (
        "guest-mtu-above-the-vswitch",
        _vswitch(1351),
        "hypervisor:hosts:hyp1:rpn:mtu",
    ),
    ("guest-mtu-too-big", _put((*TUNNELS, "guest_mtu"), 8951), "hypervisor:tunnels:guest_mtu"),
    ("guest-mtu-not-int", _put((*TUNNELS, "guest_mtu"), "1350"), "hypervisor:tunnels:guest_mtu"),
    (
        "vswitch-with-a-mac",
        _both(_vswitch(1350), _set((*H1, "rpn", "mac"), "02:00:c6:33:64:0b")),
        "hypervisor:hosts:hyp1:rpn:mac",
    ),
    (
        "vlan-id-too-big",
        _both(_vswitch(1350), _set((*H1, "rpn", "vlan"), 4095)),
        "hypervisor:hosts:hyp1:rpn:vlan",
    ),
    ("vlan-id-zero", _both(_vswitch(1350), _set((*H1, "rpn", "vlan"), 0)), "hypervisor:hosts:hyp1:rpn:vlan"),
    (
        "vlan-id-text",
        _both(_vswitch(1350), _set((*H1, "rpn", "vlan"), "4000")),
        "hypervisor:hosts:hyp1:rpn:vlan",
    ),
    (
        "vlan-link-with-a-dot",
        _both(_vswitch(1350), _set((*H1, "rpn", "interface"), "eth0.4000")),
        "hypervisor:hosts:hyp1:rpn:interface",
    ),
    (
        "vlan-link-is-the-public-nic",
        _both(_vswitch(1350), _set((*H1, "rpn", "interface"), "eth0")),
        "hypervisor:hosts:hyp1:rpn:interface",
    ),
    (
        "vlan-without-address",
        _both(_vswitch(1350), _delete((*H1, "rpn", "address"))),
        "hypervisor:hosts:hyp1:rpn:address",
    ),
    ("firewall-missing", _delete(FIREWALL), "hypervisor:firewall:trusted"),
    ("firewall-trusted-empty", _set((*FIREWALL, "trusted"), []), "hypervisor:firewall:trusted"),
    (
        "firewall-trusted-not-a-list",
        _set((*FIREWALL, "trusted"), "203.0.113.1"),
        "hypervisor:firewall:trusted",
    ),
    (
        "firewall-trusted-invalid",
        _set((*FIREWALL, "trusted"), ["203.0.113.1", "203.0.113.0/33"]),
        "hypervisor:firewall:trusted:1",
    ),
    (
        "firewall-trusted-host-bits",
        _set((*FIREWALL, "trusted"), ["203.0.113.1/24"]),
        "hypervisor:firewall:trusted:0",
    ),
    (
        "firewall-monitoring-source-invalid",
        _put((*FIREWALL, "monitoring_sources"), ["zabbix.lab.example"]),
        "hypervisor:firewall:monitoring_sources:0",
    ),
    ("firewall-ssh-port-too-big", _put((*FIREWALL, "ssh_port"), 65536), "hypervisor:firewall:ssh_port"),
    ("firewall-ssh-port-not-int", _put((*FIREWALL, "ssh_port"), "ssh"), "hypervisor:firewall:ssh_port"),
    (
        "firewall-outbound-port-zero",
        _put((*FIREWALL, "outbound_tcp"), [80, 0]),
        "hypervisor:firewall:outbound_tcp:1",
    ),
    (
        "firewall-master-ports-names",
        _put((*FIREWALL, "master_ports"), ["salt"]),
        "hypervisor:firewall:master_ports",
    ),
    ("firewall-log-level", _put((*FIREWALL, "log_level"), "loud"), "hypervisor:firewall:log_level"),
    (
        "firewall-rollback-too-soon",
        _put((*FIREWALL, "rollback_after"), 10),
        "hypervisor:firewall:rollback_after",
    ),
    (
        "firewall-rollback-too-late",
        _put((*FIREWALL, "rollback_after"), 901),
        "hypervisor:firewall:rollback_after",
    ),
    (
        "firewall-probe-not-bool",
        _put((*FIREWALL, "probe_ssh_from_master"), "yes"),
        "hypervisor:firewall:probe_ssh_from_master",
    ),
    ("firewall-config-dir-etc", _put((*FIREWALL, "config_dir"), "/etc"), "hypervisor:firewall:config_dir"),
    ("metrics-enabled-not-bool", _put((*METRICS, "enabled"), "yes"), "hypervisor:metrics:enabled"),
    ("metrics-unknown-key", _put((*METRICS, "port"), 9100), "hypervisor:metrics:port"),
    ("metrics-interval-too-short", _put((*METRICS, "interval"), 5), "hypervisor:metrics:interval"),
    ("metrics-port-is-ssh", _put((*METRICS, "listen_port"), 22), "hypervisor:metrics:listen_port"),
    ("metrics-port-is-glusterd", _put((*METRICS, "listen_port"), 24007), "hypervisor:metrics:listen_port"),
    ("metrics-port-is-a-brick", _put((*METRICS, "listen_port"), 49200), "hypervisor:metrics:listen_port"),
    (
        "metrics-textfile-dir-in-etc",
        _put((*METRICS, "textfile_dir"), "/etc/prometheus"),
        "hypervisor:metrics:textfile_dir",
    ),
    (
        "metrics-packaged-dir-relative",
        _put((*METRICS, "packaged_textfile_dir"), "var/lib/x"),
        "hypervisor:metrics:packaged_textfile_dir",
    ),
    (
        "migration-bad-user",
        _put(("hypervisor", "migration", "user"), "Root User"),
        "hypervisor:migration:user",
    ),
    ("guests-not-a-mapping", _set(("hypervisor", "guests"), ["vm1"]), "hypervisor:guests"),
    ("guest-bad-name", _rename(VM1, "VM 1"), "hypervisor:guests:VM 1"),
    ("guest-unknown-key", _set((*VM1, "cpus"), 2), "hypervisor:guests:vm1:cpus"),
    ("guest-home-missing", _delete((*VM1, "home")), "hypervisor:guests:vm1:home"),
    ("guest-home-unknown", _set((*VM1, "home"), "hyp9"), "hypervisor:guests:vm1:home"),
    ("guest-memory-too-small", _set((*VM1, "memory"), 16), "hypervisor:guests:vm1:memory"),
    ("guest-memory-with-unit", _set((*VM1, "memory"), "128M"), "hypervisor:guests:vm1:memory"),
    ("guest-vcpus-too-many", _set((*VM1, "vcpus"), 65), "hypervisor:guests:vm1:vcpus"),
    ("guest-virt-type-unknown", _set((*VM1, "virt_type"), "xen"), "hypervisor:guests:vm1:virt_type"),
    ("guest-running-not-bool", _set((*VM1, "running"), "yes"), "hypervisor:guests:vm1:running"),
    ("guest-disk-missing", _delete((*VM1, "disk")), "hypervisor:guests:vm1:disk"),
    ("guest-disk-unknown-pool", _set((*VM1, "disk", "pool"), "customer9"), "hypervisor:guests:vm1:disk:pool"),
    ("guest-disk-bad-size", _set((*VM1, "disk", "size"), "16MB"), "hypervisor:guests:vm1:disk:size"),
    (
        "guest-nic-unknown-bridge",
        _set((*VM1, "nics", 0, "bridge"), "dmz"),
        "hypervisor:guests:vm1:nics:0:bridge",
    ),
    (
        "guest-nic-bad-mac",
        _set((*VM1, "nics", 0, "mac"), "52:54:00:zz:00:01"),
        "hypervisor:guests:vm1:nics:0:mac",
    ),
    (
        "guest-nic-multicast-mac",
        _set((*VM1, "nics", 0, "mac"), "01:00:5e:00:00:01"),
        "hypervisor:guests:vm1:nics:0:mac",
    ),
    (
        "guest-same-mac-twice",
        _set((*VM1, "nics"), [{"bridge": "wan", "mac": "52:54:00:00:00:01"}] * 2),
        "hypervisor:guests:vm1:nics:1:mac",
    ),
    (
        "guest-failover-ip-not-the-clusters",
        _set((*VM1, "failover_ips"), ["203.0.113.105"]),
        "hypervisor:guests:vm1:failover_ips:0",
    ),
    (
        "guest-failover-ip-on-two-guests",
        _set((*VM2, "failover_ips"), ["203.0.113.101"]),
        "hypervisor:guests:vm2:failover_ips:0",
    ),
    (
        "guest-failover-ip-without-public-nic",
        _set((*VM1, "nics"), [{"bridge": "lan"}]),
        "hypervisor:guests:vm1:nics",
    ),
    (
        "guest-boot-relative-kernel",
        _set((*VM1, "boot", "kernel"), "vmlinuz"),
        "hypervisor:guests:vm1:boot:kernel",
    ),
    ("guest-boot-without-kernel", _delete((*VM1, "boot", "kernel")), "hypervisor:guests:vm1:boot:kernel"),
    (
        "guest-boot-cmdline-two-lines",
        _set((*VM1, "boot", "cmdline"), "console=ttyS0\ninit=/bin/sh"),
        "hypervisor:guests:vm1:boot:cmdline",
    ),
    ("evacuation-parallel-zero", _put((*EVACUATION, "parallel"), 0), "hypervisor:evacuation:parallel"),
    (
        "evacuation-migrate-timeout-short",
        _put((*EVACUATION, "migrate_timeout"), 5),
        "hypervisor:evacuation:migrate_timeout",
    ),
    (
        "evacuation-stop-timeout-long",
        _put((*EVACUATION, "stop_timeout"), 7200),
        "hypervisor:evacuation:stop_timeout",
    ),
    (
        "evacuation-bandwidth-negative",
        _put((*EVACUATION, "bandwidth"), -1),
        "hypervisor:evacuation:bandwidth",
    ),
    (
        "evacuation-max-downtime-zero",
        _put((*EVACUATION, "max_downtime"), 0),
        "hypervisor:evacuation:max_downtime",
    ),
    (
        "evacuation-postcopy-not-bool",
        _put((*EVACUATION, "postcopy"), "yes"),
        "hypervisor:evacuation:postcopy",
    ),
    (
        "evacuation-state-dir-system",
        _put((*EVACUATION, "state_dir"), "/var/lib"),
        "hypervisor:evacuation:state_dir",
    ),
    ("evacuation-bad-unit", _put((*EVACUATION, "unit"), "hv evacuate"), "hypervisor:evacuation:unit"),
    ("evacuation-unknown-key", _put((*EVACUATION, "paralel"), 2), "hypervisor:evacuation:paralel"),
    # A dead host (issue 11): the arbiter as a host role, sanlock's timings, the takeover.
    ("gluster-arbiter-old-key", _put((*GLUSTER, "arbiter"), "hyp2"), "hypervisor:gluster:arbiter"),
    ("two-arbiters", _hosts(arb1=ARB1, arb2=ARB2), "hypervisor:hosts:arb2:role"),
    ("arbiter-with-host-id", _hosts(arb1=dict(ARB1, host_id=3)), "hypervisor:hosts:arb1:host_id"),
    ("arbiter-with-peer", _hosts(arb1=dict(ARB1, peer="hyp1")), "hypervisor:hosts:arb1:peer"),
    (
        "arbiter-with-failover-ips",
        _hosts(arb1=dict(ARB1, failover_ips=["203.0.113.105"])),
        "hypervisor:hosts:arb1:failover_ips",
    ),
    ("sanlock-io-timeout-zero", _put((*SANLOCK, "io_timeout"), 0), "hypervisor:sanlock:io_timeout"),
    (
        "lease-ping-timeout-too-long",
        _put((*LEASE_OPTIONS, "network.ping-timeout"), "42"),
        _key(*LEASE_OPTIONS, "network.ping-timeout"),
    ),
    ("sanlock-kill-grace-too-long", _put((*SANLOCK, "kill_grace"), 60), "hypervisor:sanlock:kill_grace"),
    (
        "sanlock-watchdog-fire-timeout-fixed",
        _put((*SANLOCK, "watchdog_fire_timeout"), 90),
        "hypervisor:sanlock:watchdog_fire_timeout",
    ),
    (
        "takeover-without-arbiter",
        _both(_no_arbiter, _put((*TAKEOVER, "enabled"), True)),
        "hypervisor:takeover:enabled",
    ),
    ("takeover-poll-zero", _put((*TAKEOVER, "poll_interval"), 0), "hypervisor:takeover:poll_interval"),
    (
        "lease-quorum-off-with-takeover",
        _both(_hosts(arb1=ARB1), _put((*LEASE_OPTIONS, "cluster.quorum-type"), "none")),
        _key(*LEASE_OPTIONS, "cluster.quorum-type"),
    ),
    # Guests that come back (issue 19): the keeper's look, its crash-loop bound, its records.
    ("keeper-max-restarts-zero", _put((*KEEPER, "max_restarts"), 0), "hypervisor:keeper:max_restarts"),
    ("keeper-window-too-short", _put((*KEEPER, "restart_window"), 10), "hypervisor:keeper:restart_window"),
    ("keeper-poll-not-a-number", _put((*KEEPER, "poll_interval"), "2s"), "hypervisor:keeper:poll_interval"),
    ("keeper-stop-timeout-negative", _put((*KEEPER, "stop_timeout"), -1), "hypervisor:keeper:stop_timeout"),
    ("keeper-dir-not-shared", _put((*KEEPER, "dir"), "/var/lib/hv-keeper"), "hypervisor:keeper:dir"),
    ("keeper-dir-relative", _put((*KEEPER, "dir"), "keeper"), "hypervisor:keeper:dir"),
    ("keeper-enabled-not-bool", _put((*KEEPER, "enabled"), "yes"), "hypervisor:keeper:enabled"),
    ("keeper-bad-unit", _put((*KEEPER, "unit"), "hv keeper"), "hypervisor:keeper:unit"),
    ("keeper-unknown-key", _put((*KEEPER, "max_restart"), 3), "hypervisor:keeper:max_restart"),
    # Guest disk backups (issue 25, B9): a target away from the disks, the guests listed.
    ("guest-backup-not-bool", _set((*VM1, "backup"), "no"), "hypervisor:guests:vm1:backup"),
    ("backups-enabled-without-target", _put(BACKUPS, {"enabled": True}), _key(*BACKUPS, "target", "path")),
    (
        "backups-target-relative",
        _put((*BACKUPS, "target"), {"path": "backups"}),
        _key(*BACKUPS, "target", "path"),
    ),
    (
        "backups-target-in-a-pool",
        _put((*BACKUPS, "target"), {"path": "/var/lib/libvirt/images/customer1/backups"}),
        _key(*BACKUPS, "target", "path"),
    ),
    (
        "backups-target-on-the-disks-volume",
        _put((*BACKUPS, "target"), {"path": "/var/lib/libvirt/images/backups"}),
        _key(*BACKUPS, "target", "path"),
    ),
    (
        "backups-target-on-the-save-volume",
        _put((*BACKUPS, "target"), {"path": "/var/lib/libvirt/qemu/save/backups"}),
        _key(*BACKUPS, "target", "path"),
    ),
    (
        "backups-target-above-the-volumes",
        _put((*BACKUPS, "target"), {"path": "/var/lib/libvirt"}),
        _key(*BACKUPS, "target", "path"),
    ),
    ("backups-target-not-a-mapping", _put((*BACKUPS, "target"), "/srv/hv-backups"), _key(*BACKUPS, "target")),
    (
        "backups-target-host-not-yet",
        _put((*BACKUPS, "target", "host"), "hyp2"),
        _key(*BACKUPS, "target", "host"),
    ),
    ("backups-keep-zero", _put((*BACKUPS, "keep"), 0), _key(*BACKUPS, "keep")),
    ("backups-bad-schedule", _put((*BACKUPS, "schedule"), "daily; reboot"), _key(*BACKUPS, "schedule")),
    ("backups-unknown-guest", _put((*BACKUPS, "guests"), ["vm9"]), _key(*BACKUPS, "guests", 0)),
    (
        "backups-guest-opted-out",
        _both(_set((*VM1, "backup"), False), _put((*BACKUPS, "guests"), ["vm2", "vm1"])),
        _key(*BACKUPS, "guests", 1),
    ),
    ("backups-state-dir-system", _put((*BACKUPS, "state_dir"), "/var/lib"), _key(*BACKUPS, "state_dir")),
    ("backups-timeout-short", _put((*BACKUPS, "timeout"), 10), _key(*BACKUPS, "timeout")),
    # A second provider (issue 24): each key belongs to one provider.
    ("hetzner-part-with-online-provider", _put(("hetzner",), HETZNER), "hetzner"),
    (
        "online-part-with-hetzner-provider",
        _both(to_hetzner, _put(("online",), {"api_token": "x" * 12})),
        "online",
    ),
    (
        "hetzner-number-with-online-provider",
        _put((*H1, "hetzner_server_number"), 5),
        _key(*H1, "hetzner_server_number"),
    ),
    (
        "online-id-with-hetzner-provider",
        _both(to_hetzner, _put((*H1, "online_server_id"), 5)),
        _key(*H1, "online_server_id"),
    ),
    (
        "hetzner-number-missing",
        _both(to_hetzner, _delete((*H2, "hetzner_server_number"))),
        _key(*H2, "hetzner_server_number"),
    ),
    (
        "hetzner-number-zero",
        _both(to_hetzner, _set((*H2, "hetzner_server_number"), 0)),
        _key(*H2, "hetzner_server_number"),
    ),
    (
        "hetzner-number-shared",
        _both(to_hetzner, _set((*H2, "hetzner_server_number"), 301)),
        _key(*H2, "hetzner_server_number"),
    ),
    ("hetzner-password-empty", _both(to_hetzner, _set(("hetzner", "password"), "")), "hetzner:password"),
    ("hetzner-user-not-text", _both(to_hetzner, _set(("hetzner", "user"), 42)), "hetzner:user"),
    ("hetzner-plain-http", _both(to_hetzner, _set(("hetzner", "allow_http"), False)), "hetzner:api_url"),
    ("hetzner-unknown-key", _both(to_hetzner, _put(("hetzner", "login"), "x")), "hetzner:login"),
    (
        "hetzner-password-elsewhere",
        _both(to_hetzner, _set(("hypervisor", "domain"), HETZNER["password"])),
        "hypervisor:domain",
    ),
]

# Strings the lab pillar leaves to the defaults, where a token could be pasted too.
DEFAULTED_STRINGS = [
    MOUNT,
    (*GLUSTER, "brick_root"),
    (*TAKEOVER, "rescue_image"),
    (*GLUSTER, "bricks", "vg"),
    (*GLUSTER, "bricks", "devices", "vmstore"),
    (*GLUSTER, "volumes", "save", "options", "network.ping-timeout"),
    (*H2, "bricks", "devices", "sanlock"),
    ("hypervisor", "sysctl", "file"),
    ("hypervisor", "hosts_file"),
    (*TUNNELS, "transport"),
    (*FIREWALL, "log_level"),
    ("hypervisor", "migration", "user"),
    (*EVACUATION, "state_dir"),
    (*EVACUATION, "unit"),
    (*KEEPER, "dir"),
    (*KEEPER, "unit"),
]


def _strings(data, path=()):
    """The path of every string in ``data``."""
    if isinstance(data, str):
        yield path
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield from _strings(value, (*path, key))


def token_placements():
    """(description, mutation, key): the API token pasted, in turn, into each string of the pillar.

    Every string of the lab pillar but the token's own, then DEFAULTED_STRINGS.
    """
    for path in [p for p in _strings(lab_pillar()) if p != ("online", "api_token")] + DEFAULTED_STRINGS:
        yield f"token-in-{_key(*path)}", _put(path, TOKEN), _key(*path)


# What the main lab runs through the real master (tests/lab/test_pillar_refused.py): one
# case of each kind of check the validator makes (a required key, a misspelled key at
# the top and in a host, a value's type and form, a cross-reference, the cluster's
# shape, a secret out of its place, the online part). The unit tests run every case.
LAB_KINDS = (
    "missing-domain",
    "misspelled-top-key",
    "misspelled-host-key",
    "ksm-value-not-int",
    "bad-public-ip",
    "peer-not-in-cluster",
    "single-host",
    "takeover-without-arbiter",
    "token-outside-its-key",
    "bad-api-url",
)


def one_per_kind(cases):
    """The cases named in ``LAB_KINDS``, in that order (a name missing is an error)."""
    by_name = {case[0]: case for case in cases}
    return [by_name[name] for name in LAB_KINDS]


def one_per_section(cases):
    """The first case of each pillar section its key names (``hypervisor:gluster``,
    ``hypervisor:hosts:<h>:rpn``, ``online:api_url``, ...): what the lab runs
    through the real master. The unit tests run every case through the same
    validator; the lab proves the path from the master to a refused run."""
    seen, out = set(), []
    for case in cases:
        parts = case[2].split(":") + ["", "", ""]
        section = (parts[0], parts[1], parts[3] if parts[1] == "hosts" else "")
        if section not in seen:
            seen.add(section)
            out.append(case)
    return out


def extra_host(number):
    """Host ``hyp<number>`` (3 to 9) for a larger cluster: valid beside the lab's, no peer."""
    return {
        "host_id": number,
        "online_server_id": 1000 + number,
        "public": {"interface": "eth0", "address": f"203.0.113.{20 + number}", "gateway": "203.0.113.254"},
        "rpn": {
            "interface": "eth1",
            "mac": f"02:00:c6:33:64:{20 + number:02x}",
            "address": f"198.51.100.{20 + number}/24",
        },
    }


def _grown(count, arbiter):
    """The lab's cluster with ``count`` hosts that carry guests (hyp1..), ``arbiter`` or not,
    the first ones holding the bricks (``gluster:brick_hosts``) when more carry guests than
    there are brick places (three, or two beside the arbiter)."""

    def mutate(pillar):
        if not arbiter:
            _no_arbiter(pillar)
        hosts = pillar["hypervisor"]["hosts"]
        for number in range(3, count + 1):
            hosts[f"hyp{number}"] = extra_host(number)
        for number in range(count + 1, 3):
            del hosts[f"hyp{number}"]
        if count > 2:
            pillar["hypervisor"].setdefault("tunnels", {})["transport"] = "vxlan"
        places = 2 if arbiter else 3
        if count > places:
            pillar["hypervisor"].setdefault("gluster", {})["brick_hosts"] = [
                f"hyp{n}" for n in range(1, places + 1)
            ]

    return mutate


def many_hosts_pillar(count, arbiter):
    """A valid pillar of ``count`` (2 to 8) hosts that carry guests, with an arbiter or not."""
    return case_pillar(_grown(count, arbiter))


# Layouts the validator refuses (issue 23), each with the key its refusal names.
LAYOUT_CASES = [
    ("nine-hosts-with-guests", _grown(9, False), "hypervisor:hosts"),
    ("one-host-with-guests", _both(_delete(H2), _hosts(arb1=ARB1)), "hypervisor:hosts"),
    (
        "four-hosts-no-brick-hosts",
        _both(_grown(4, False), _put((*GLUSTER, "brick_hosts"), [])),
        "hypervisor:gluster:brick_hosts",
    ),
    (
        "brick-hosts-the-arbiter",
        _both(_grown(4, True), _put((*GLUSTER, "brick_hosts"), ["hyp1", "arb1"])),
        "hypervisor:gluster:brick_hosts",
    ),
    (
        "brick-hosts-twice",
        _both(_grown(4, False), _put((*GLUSTER, "brick_hosts"), ["hyp1", "hyp1", "hyp2"])),
        "hypervisor:gluster:brick_hosts",
    ),
    (
        "brick-hosts-too-few",
        _both(_grown(5, False), _put((*GLUSTER, "brick_hosts"), ["hyp1", "hyp2"])),
        "hypervisor:gluster:brick_hosts",
    ),
    (
        "brick-hosts-unknown",
        _both(_grown(4, False), _put((*GLUSTER, "brick_hosts"), ["hyp1", "hyp2", "hyp7"])),
        "hypervisor:gluster:brick_hosts",
    ),
    (
        "brick-hosts-bad-name",
        _both(_grown(4, False), _put((*GLUSTER, "brick_hosts"), ["hyp1", "hyp2", "Hyp_3"])),
        "hypervisor:gluster:brick_hosts",
    ),
    (
        "openvpn-three-hosts",
        _both(_grown(3, False), _put((*TUNNELS, "transport"), "openvpn")),
        "hypervisor:tunnels:transport",
    ),
]


def case_pillar(mutation):
    pillar = copy.deepcopy(lab_pillar())
    mutation(pillar)
    return pillar
