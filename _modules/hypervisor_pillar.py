"""
Validate the cluster pillar and give the states their settings (F1).

Every state file imports ``map.jinja``, which calls :func:`settings`; when the
pillar is wrong it raises, the render fails and ``state.apply`` stops before a
single state has run, with one line per problem naming the pillar key (and,
for a conflict, the other key too). No line shows a secret.

The checks are plain Python (:func:`validate`), importable without Salt, so
the unit tests drive them directly. The pillar is documented in
``pillar.example`` at the top of the repository.
"""

import copy
import difflib
import hashlib
import importlib.util
import ipaddress
import logging
import os
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import yaml

try:
    from salt.exceptions import CommandExecutionError
except ImportError:  # the pure functions work without Salt
    CommandExecutionError = ValueError

log = logging.getLogger(__name__)

__virtualname__ = "hypervisor_pillar"

TOKEN_KEY = ("online", "api_token")
SECRET_NAME = re.compile(r"(token|api_?key|secret|passw(or)?d|passphrase|private_?key|credential)", re.I)
# PEM and OpenSSH private keys, also pasted without their BEGIN line; PuTTY's.
PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----|b3BlbnNzaC1rZXktdjE|PuTTY-User-Key-File")
SECRET_MIN = 6  # shorter secrets are not searched for: they would match innocent text
SHOWN_MAX = 60  # the longest value a message echoes
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# Names the kernel and udev give NICs (and bonds, VLANs, loopback). A bridge
# named so would make systemd-networkd take that NIC over.
NIC_NAME = re.compile(r"^(eth\d+|en[a-zA-Z]\w*|(wl|ww|ib)\w+|em\d+|p\d+p\d+\w*|(bond|vlan)\d+|lo)$|\.\d+$")
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
NETWORK_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
SSH_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-\S+@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( .*)?$"
)
SYSCTL_NAME = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")
SAFE_PATH = re.compile(r"^[A-Za-z0-9._+@/-]+$")
# Directories a path from pillar may be under but never be (nor /usr/<anything>).
SYSTEM_DIRS = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32"}
SYSTEM_DIRS |= {"/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp"}
SYSTEM_DIRS |= {"/usr", "/var", "/var/cache", "/var/lib", "/var/log", "/var/run", "/var/spool", "/var/tmp"}
USR_DIR = re.compile(r"^/usr/[^/]+$")
VG_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_+.-]{0,62}$")
HOST_ID_RANGE = (1, 2000)  # sanlock host ids
MTU_RANGE = (576, 9000)
PORT_RANGE = (1, 65535)
PREFIX_RANGE = (8, 32)
VNI_RANGE = (1, 16777215)
TRANSPORTS = ("vxlan", "openvpn")
VXLAN_MIN_MTU = 1550  # a guest's 1500-byte frame plus VXLAN's 50 bytes
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
ROLLBACK_RANGE = (30, 900)  # seconds (firewall:rollback_after)
PROVIDERS = ("online",)  # failover:provider: whose API routes the failover IPs
# failover:<key>: (least, most), in seconds unless named otherwise.
FAILOVER_RANGES = {
    "poll_interval": (1, 3600),
    "request_timeout": (1, 120),
    "retries": (0, 10),  # a count
    "move_spacing": (0, 600),
    "confirm_timeout": (1, 3600),
    "confirm_interval": (1, 60),
}
MOVE_BUDGET_RANGES = {"moves": (1, 100), "window": (60, 7 * 86400)}
HOST_UUID_SOURCES = ("smbios", "machine-id")
NODEGROUP = "hypervisors"  # the master's nodegroup of the cluster's hosts (master.d/hypervisor.conf)
# Maps of the defaults whose keys are free-form (any sysctl, any boolean, …).
OPEN_MAPS = {("sysctl", "settings"), ("selinux", "booleans")}
# What the lists of strings among the defaults hold, where not names.
LIST_ITEMS = {
    ("firewall", "trusted"): "IPv4 addresses or networks",
    ("firewall", "monitoring_sources"): "IPv4 addresses or networks",
    ("failover", "garp_command"): "command arguments (strings)",
}
# Parts of the defaults checked by a function of their own (below).
CUSTOM = {
    ("gluster", "volumes"),
    ("gluster", "bricks"),
    ("pools",),
    ("takeover", "enabled"),
    ("keeper", "dir"),
}
BRICK_TYPES = ("directory", "lvm", "device")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SIZE = re.compile(r"^[0-9]+[KMGT]$")
GLUSTER_OPTION = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
LEASE_VOLUME = "sanlock"  # the volume holding sanlock's lease directory (F14)
SAVE_VOLUME = "save"  # the shared save volume (F17)
PING_TIMEOUT = "network.ping-timeout"
GLUSTER_PING_TIMEOUT = 42  # gluster's own default, for a volume that sets none
QUORUM_TYPE = "cluster.quorum-type"
QUORUM_OFF = ("none", "fixed")  # client quorum off, or a fixed count that a cut can still meet
# sanlock:<key>: (least, most), seconds. Every host of a lockspace uses the same io_timeout.
SANLOCK_RANGES = {"io_timeout": (1, 60), "watchdog_fire_timeout": (10, 300), "kill_grace": (0, 60)}
TAKEOVER_RANGES = {"poll_interval": (1, 30)}  # seconds
# keeper:<key>: (least, most); seconds, but max_restarts (a count).
KEEPER_RANGES = {
    "poll_interval": (1, 30),
    "max_restarts": (1, 100),
    "restart_window": (60, 86400),
    "stop_timeout": (0, 3600),
}
IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$")
# The keys of each part of the cluster description (pillar.example has them
# all), and those required; where no *_REQUIRED is given, every key is.
CLUSTER_KEYS = ("domain", "hosts", "bridges", "admins", "guests")
CLUSTER_REQUIRED = ("domain", "hosts")
HOST_KEYS = ("role", "host_id", "peer", "online_server_id", "public", "failover_ips", "rpn", "bricks")
HOST_REQUIRED = ("host_id", "peer", "public", "rpn")
# hosts:<name>:role. An arbiter carries no guest: it holds the third, metadata-only
# brick of every volume (replica 3 arbiter 1), which gives gluster a majority.
ROLES = ("hypervisor", "arbiter")
ARBITER_REQUIRED = ("public", "rpn")
# What an arbiter must not have, and why.
ARBITER_REFUSED = {
    "host_id": "an arbiter joins no sanlock lockspace (its brick already gives the lease volume its"
    " majority, and a host id would need libvirt and sanlock there): remove it",
    "peer": "an arbiter has no peer: it carries no guest to migrate; remove it",
    "failover_ips": "an arbiter carries no guest, so no failover IP: list them under a hypervisor",
    "online_server_id": "nothing of an arbiter is moved or fenced through the provider's API: remove it",
}
# Keys that are read no more, and what replaces them.
RETIRED = {
    ("hypervisor", "gluster", "arbiter"): "is no longer read: the arbiter is a host's role now; set"
    " hypervisor:hosts:<name>:role: arbiter on that host instead",
}
PUBLIC_KEYS = ("interface", "address", "prefix", "gateway", "dhcp")
PUBLIC_REQUIRED = ("interface", "address", "gateway")
RPN_KEYS = ("interface", "mac", "address", "dhcp", "mtu")
RPN_REQUIRED = ("interface", "mac", "address")
BRIDGE_KEYS = ("name", "vpn_port", "vni", "public")
BRIDGE_REQUIRED = ("name", "vpn_port")
ADMIN_KEYS = ("name", "ssh_keys")
ADMIN_REQUIRED = ("name",)
ONLINE_KEYS = ("api_url", "api_token", "allow_http")
VOLUME_KEYS = ("mount", "size", "options")
VOLUME_REQUIRED = ("mount", "size")
POOL_KEYS = ("path",)
BRICKS_KEYS = ("type", "vg", "devices")  # hypervisor:gluster:bricks, and a host's own bricks
# hypervisor:guests:<name> (F26).
GUEST_KEYS = ("home", "memory", "vcpus", "virt_type", "running", "disk", "nics", "failover_ips", "boot")
GUEST_REQUIRED = ("home", "memory", "disk")
GUEST_DEFAULTS = {
    "vcpus": 1,
    "virt_type": "kvm",
    "running": True,
    "nics": [],
    "failover_ips": [],
    "boot": None,
}
GUEST_RANGES = {"memory": (32, 1048576), "vcpus": (1, 64)}  # MiB, count
VIRT_TYPES = ("kvm", "qemu")  # qemu: TCG, without /dev/kvm
DISK_KEYS = ("pool", "size")
NIC_KEYS = ("bridge", "mac")
BOOT_KEYS = ("kernel", "initrd", "cmdline")
BOOT_DEFAULTS = {"initrd": None, "cmdline": ""}
GUEST_MAC_PREFIX = "52:54:00"
# evacuation:<key>: (least, most); seconds, but parallel (guests) and bandwidth (MiB/s, 0: unlimited).
EVACUATION_RANGES = {
    "parallel": (1, 16),
    "migrate_timeout": (10, 3600),
    "peer_timeout": (1, 60),
    "stop_timeout": (60, 3600),
    "bandwidth": (0, 100000),
    "max_downtime": (10, 10000),  # milliseconds
}
UNIT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
DEFAULT_BRIDGES = {
    "wan": {"name": "brwan", "vpn_port": 1195, "public": True},
    "lan": {"name": "brlan", "vpn_port": 1194},
}
PUBLIC_DEFAULTS = {"prefix": 24, "dhcp": False}
RPN_DEFAULTS = {"dhcp": True, "mtu": 9000}


def __virtual__():
    return __virtualname__


def _key(*path):
    return ":".join(str(p) for p in path)


def _named(path):
    """Another key, as a message names it."""
    return f"pillar key '{_key(*path)}'"


class _Errors(list):
    """Lines ``pillar key 'a:b': message``, each once, that never show a secret.

    Every line has ``secrets`` redacted (case-insensitively: some checks
    lowercase). A key refused for holding a secret (:meth:`hide`) gets that
    line only: no other check may echo its value.
    """

    def __init__(self, secrets=()):
        super().__init__()
        found = sorted({s for s in secrets if len(s) >= SECRET_MIN}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, found)), re.I) if found else None
        self._hidden = set()

    def redact(self, text):
        return self._secrets.sub("<redacted>", text) if self._secrets else text

    def show(self, value):
        """``value`` as a message may echo it: secrets redacted, at most SHOWN_MAX characters."""
        if isinstance(value, str) and PRIVATE_KEY.search(value):
            return "<a private key>"
        text = repr(self.redact(value)) if isinstance(value, str) else self.redact(repr(value))
        return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"

    def add(self, path, message):
        if any(tuple(path[: len(hidden)]) == hidden for hidden in self._hidden):
            return
        line = self.redact(f"pillar key '{_key(*path)}': {message}")
        if line not in self:
            self.append(line)

    def hide(self, path, message):
        """Refuse the secret at ``path`` with ``message``, and say nothing else about that key."""
        self.add(path, message)
        self._hidden.add(tuple(path))


def _unknown_keys(errors, path, data, allowed):
    for key in data:
        if path + (key,) in RETIRED:
            errors.add(path + (key,), RETIRED[path + (key,)])
        elif key not in allowed:
            close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.add(path + (key,), f"unknown key{hint}")


def _require_mapping(errors, path, value):
    if not isinstance(value, dict):
        errors.add(path, f"must be a mapping, got {type(value).__name__}")
        return False
    return True


def _int_in_range(errors, path, value, bounds):
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, f"must be an integer, got {errors.show(value)}")
    elif not low <= value <= high:
        errors.add(path, f"{value} is out of range {low}..{high}")


def _match(errors, path, value, pattern, what):
    if not isinstance(value, str) or not pattern.fullmatch(value):  # "$" alone would allow a final "\n"
        errors.add(path, f"{errors.show(value)} is not {what}")


def _ipv4(errors, path, value, with_prefix):
    try:
        if not isinstance(value, str):
            raise ValueError
        if with_prefix:
            if "/" not in value:
                raise ValueError
            ipaddress.IPv4Interface(value)
        else:
            ipaddress.IPv4Address(value)
    except ValueError:
        form = "an IPv4 address with prefix length (a.b.c.d/nn)" if with_prefix else "an IPv4 address"
        errors.add(path, f"{errors.show(value)} is not {form}")


def _required(errors, path, data, keys):
    for key in keys:
        if key not in data:
            errors.add(path + (key,), "is required but missing")


def _check_host(errors, name, host, names):
    path = ("hypervisor", "hosts", name)
    if not _require_mapping(errors, path, host):
        return
    _unknown_keys(errors, path, host, HOST_KEYS)
    role = host.get("role", "hypervisor")
    if role not in ROLES:
        errors.add(path + ("role",), f"{errors.show(role)} is not one of {', '.join(ROLES)}")
    _required(errors, path, host, ARBITER_REQUIRED if role == "arbiter" else HOST_REQUIRED)
    if role == "arbiter":
        for key in sorted(set(host) & set(ARBITER_REFUSED)):
            errors.add(path + (key,), ARBITER_REFUSED[key])
    if "host_id" in host:
        _int_in_range(errors, path + ("host_id",), host["host_id"], HOST_ID_RANGE)
    if "peer" in host:
        peer = host["peer"]
        if peer == name:
            errors.add(path + ("peer",), "a host cannot be its own peer")
        elif peer not in names:
            hosts = ", ".join(map(str, names))
            errors.add(path + ("peer",), f"{errors.show(peer)} is not a host of the cluster ({hosts})")
    if "online_server_id" in host:
        _int_in_range(errors, path + ("online_server_id",), host["online_server_id"], (1, 10**9))
    if host.get("public") is not None:
        _check_public(errors, path + ("public",), host["public"])
    if host.get("failover_ips") is not None:
        _check_failover_list(errors, path + ("failover_ips",), host["failover_ips"])
    if host.get("rpn") is not None:
        _check_rpn(errors, path + ("rpn",), host["rpn"])
    if host.get("bricks") is not None:
        _check_bricks(errors, path + ("bricks",), host["bricks"])


def _check_public(errors, path, public):
    if not _require_mapping(errors, path, public):
        return
    _unknown_keys(errors, path, public, PUBLIC_KEYS)
    _required(errors, path, public, PUBLIC_REQUIRED)
    if "interface" in public:
        _match(errors, path + ("interface",), public["interface"], IFNAME, "an interface name")
    for key in ("address", "gateway"):
        if key in public:
            _ipv4(errors, path + (key,), public[key], with_prefix=False)
    if "prefix" in public:
        _int_in_range(errors, path + ("prefix",), public["prefix"], PREFIX_RANGE)
    if "dhcp" in public and not isinstance(public["dhcp"], bool):
        errors.add(path + ("dhcp",), f"must be true or false, got {errors.show(public['dhcp'])}")
    _check_gateway(errors, path, public)


def _check_rpn(errors, path, rpn):
    if not _require_mapping(errors, path, rpn):
        return
    _unknown_keys(errors, path, rpn, RPN_KEYS)
    _required(errors, path, rpn, RPN_REQUIRED)
    if "interface" in rpn:
        _match(errors, path + ("interface",), rpn["interface"], IFNAME, "an interface name")
    if "mac" in rpn:
        mac = rpn["mac"].lower() if isinstance(rpn["mac"], str) else rpn["mac"]
        _match(errors, path + ("mac",), mac, MAC, "a MAC address (aa:bb:cc:dd:ee:ff)")
    if "address" in rpn:
        _ipv4(errors, path + ("address",), rpn["address"], with_prefix=True)
    if "dhcp" in rpn and not isinstance(rpn["dhcp"], bool):
        errors.add(path + ("dhcp",), f"must be true or false, got {errors.show(rpn['dhcp'])}")
    if "mtu" in rpn:
        _int_in_range(errors, path + ("mtu",), rpn["mtu"], MTU_RANGE)


def _check_unique(errors, hosts, getter, label):
    """No two hosts share the value at ``label``; the second is refused, naming the first."""
    seen = {}
    for name in sorted(hosts, key=str):
        try:
            value = getter(hosts[name])
        except (KeyError, TypeError, AttributeError):
            continue
        if isinstance(value, str):
            value = value.split("/")[0].lower()
        elif isinstance(value, bool) or not isinstance(value, int):
            continue
        if value in seen:
            other = ("hypervisor", "hosts", seen[value], *label)
            errors.add(
                ("hypervisor", "hosts", name, *label),
                f"{errors.show(value)} is already used by host {errors.show(seen[value])} ({_named(other)})",
            )
        else:
            seen[value] = name


def _rpn_network(host):
    """The host's RPN address as an IPv4Interface, or None when it is not one."""
    try:
        address = host["rpn"]["address"]
        return ipaddress.IPv4Interface(address) if "/" in address else None
    except (KeyError, TypeError, ValueError):
        return None


def _check_rpn_subnet(errors, hosts):
    """RPN addresses are host addresses of one subnet, the first host's."""
    first = None
    for name in sorted(hosts, key=str):
        address = _rpn_network(hosts[name])
        if address is None:
            continue
        path = ("hypervisor", "hosts", name, "rpn", "address")
        net = address.network
        if net.prefixlen < 31 and address.ip in (net.network_address, net.broadcast_address):
            kind = "network" if address.ip == net.network_address else "broadcast"
            errors.add(path, f"{address} is the {kind} address of {net}, not a host's address")
        if first is None:
            first = (path, net)
        elif net != first[1]:
            errors.add(path, f"{address} is not in {first[1]}, the RPN subnet of {_named(first[0])}")


def _check_hosts(errors, hosts, minion_id):
    path = ("hypervisor", "hosts")
    if not _require_mapping(errors, path, hosts):
        return
    names = sorted(hosts, key=str)
    for name in names:
        if not isinstance(name, str) or not HOSTNAME.fullmatch(name):
            errors.add(path + (name,), f"{errors.show(name)} is not a valid host name")
    if len(names) < 2:
        errors.add(path, f"a cluster needs at least 2 hosts, got {len(names)}")
    for name in names:
        _check_host(errors, name, hosts[name], names)
    _check_unique(errors, hosts, lambda h: h["host_id"], ("host_id",))
    _check_unique(errors, hosts, lambda h: h["online_server_id"], ("online_server_id",))
    _check_unique(errors, hosts, lambda h: h["public"]["address"], ("public", "address"))
    _check_unique(errors, hosts, lambda h: h["rpn"]["address"], ("rpn", "address"))
    _check_unique(errors, hosts, lambda h: h["rpn"]["mac"], ("rpn", "mac"))
    _check_rpn_subnet(errors, hosts)
    _check_roles(errors, hosts)
    if minion_id is not None and minion_id not in hosts:
        errors.add(
            path,
            f"has no entry for this minion {errors.show(minion_id)} (hosts: {', '.join(map(str, names))}):"
            f" add it, or take it out of the master's nodegroup '{NODEGROUP}' (master.d/hypervisor.conf)",
        )


def _arbiters(hosts):
    """The hosts whose role is arbiter, by name."""
    if not isinstance(hosts, dict):
        return []
    return [
        n for n in sorted(hosts, key=str) if isinstance(hosts[n], dict) and hosts[n].get("role") == "arbiter"
    ]


def _arbiter(hosts):
    """The arbiter's name, or None (a second one is refused by _check_roles)."""
    return next(iter(_arbiters(hosts)), None)


def _check_roles(errors, hosts):
    """At most one arbiter; with one, exactly two other hosts, neither paired with it."""
    arbiters = _arbiters(hosts)
    if not arbiters:
        return
    first = ("hypervisor", "hosts", arbiters[0], "role")
    for name in arbiters[1:]:
        errors.add(
            ("hypervisor", "hosts", name, "role"), f"only one host can be the arbiter, and {_named(first)} is"
        )
    others = len(hosts) - len(arbiters)
    if others != 2:
        errors.add(
            first,
            "an arbiter makes every volume replica 3 arbiter 1 (two data bricks and its own): it needs"
            f" exactly two other hosts, this cluster has {others}",
        )
    for name in sorted(hosts, key=str):
        peer = hosts[name].get("peer") if isinstance(hosts[name], dict) else None
        if name not in arbiters and isinstance(peer, str) and peer in arbiters:
            errors.add(
                ("hypervisor", "hosts", name, "peer"),
                f"{errors.show(peer)} is the arbiter, which carries no guest: pair this host with another",
            )


def _host_interfaces(hosts):
    """The public and RPN interface names of every host that gets the bridges (not the
    arbiter: it carries no guest, so no bridge), with their pillar key."""
    found = {}
    for name in _members(hosts) if isinstance(hosts, dict) else ():
        for side in ("public", "rpn"):
            nic = hosts[name].get(side) if isinstance(hosts[name], dict) else None
            if isinstance(nic, dict) and isinstance(nic.get("interface"), str):
                found.setdefault(nic["interface"], ("hypervisor", "hosts", name, side, "interface"))
    return found


def _check_bridge_name(errors, path, name, nics):
    """An interface name that no physical NIC has or could have."""
    takeover = "systemd-networkd would take that NIC over as the bridge and cut the host off"
    if isinstance(name, str) and len(name) > 15:
        errors.add(path, f"{errors.show(name)} is longer than 15 characters (Linux IFNAMSIZ)")
    elif not isinstance(name, str) or not IFNAME.fullmatch(name):
        _match(errors, path, name, IFNAME, "an interface name")
    elif name in nics:
        errors.add(path, f"{errors.show(name)} is the NIC of {_named(nics[name])}: {takeover}")
    elif NIC_NAME.search(name):
        errors.add(path, f"{errors.show(name)} is named like a NIC (eth0, enp3s0, …): {takeover}")


def _check_bridges(errors, bridges, hosts):
    path = ("hypervisor", "bridges")
    if not _require_mapping(errors, path, bridges):
        return
    nics = _host_interfaces(hosts)
    names, ports, vnis, publics = {}, {}, {}, []
    for net, bridge in sorted(bridges.items(), key=lambda item: str(item[0])):
        bpath = path + (net,)
        _match(errors, bpath, net, NETWORK_NAME, "a network name ([a-z][a-z0-9]*, at most 12 characters)")
        if not _require_mapping(errors, bpath, bridge):
            continue
        _unknown_keys(errors, bpath, bridge, BRIDGE_KEYS)
        _required(errors, bpath, bridge, BRIDGE_REQUIRED)
        _check_bridge_vni(errors, bpath, bridge, vnis)
        _check_bridge_public(errors, bpath, bridge, publics)
        name = bridge.get("name")
        if name is not None:
            _check_bridge_name(errors, bpath + ("name",), name, nics)
        if isinstance(name, str) and name in names:
            other = _named((*path, names[name], "name"))
            errors.add(bpath + ("name",), f"{errors.show(name)} is already the bridge of {other}")
        elif isinstance(name, str):
            names[name] = net
        port = bridge.get("vpn_port")
        if port is not None:
            _int_in_range(errors, bpath + ("vpn_port",), port, PORT_RANGE)
        if isinstance(port, int) and port in ports:
            other = _named((*path, ports[port], "vpn_port"))
            errors.add(bpath + ("vpn_port",), f"port {port} is already used by {other}")
        elif isinstance(port, int):
            ports[port] = net


def _check_admins(errors, admins):
    path = ("hypervisor", "admins")
    if not isinstance(admins, list):
        errors.add(path, f"must be a list, got {type(admins).__name__}")
        return
    seen = {}
    for index, admin in enumerate(admins):
        apath = path + (index,)
        if not _require_mapping(errors, apath, admin):
            continue
        _unknown_keys(errors, apath, admin, ADMIN_KEYS)
        _required(errors, apath, admin, ADMIN_REQUIRED)
        name = admin.get("name")
        if name is not None:
            _match(errors, apath + ("name",), name, USERNAME, "a valid user name")
        if isinstance(name, str) and name in seen:
            other = _named((*path, seen[name], "name"))
            errors.add(apath + ("name",), f"user {errors.show(name)} is already listed by {other}")
        elif isinstance(name, str):
            seen[name] = index
        keys = admin.get("ssh_keys", [])
        if not isinstance(keys, list):
            errors.add(apath + ("ssh_keys",), "must be a list of public keys")
            continue
        for kindex, key in enumerate(keys):
            _match(errors, apath + ("ssh_keys", kindex), key, SSH_KEY, "an SSH public key line")


def _check_overrides(errors, path, value, default):
    """Keys layered over the defaults must exist there and keep their type; paths stay safe paths."""
    if isinstance(default, dict):
        if not _require_mapping(errors, path, value) or path[1:] in CUSTOM:
            return
        if path[1:] in OPEN_MAPS:
            for key, item in value.items():
                if path[1:] == ("sysctl", "settings"):
                    _match(errors, path + (key,), key, SYSCTL_NAME, "a sysctl name")
                if isinstance(item, (dict, list)):
                    errors.add(path + (key,), "must be a single value")
            return
        _unknown_keys(errors, path, value, list(default))
        for key, item in value.items():
            if key in default:
                _check_overrides(errors, path + (key,), item, default[key])
    elif path[1:] in CUSTOM:
        return
    elif isinstance(default, list):
        numbers = bool(default) and all(isinstance(v, int) for v in default)  # e.g. a list of ports
        kind, what = (int, "integers") if numbers else (str, LIST_ITEMS.get(path[1:], "names"))
        if not isinstance(value, list) or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in value
        ):
            errors.add(path, f"must be a list of {what}")
    elif isinstance(default, str) and default.startswith("/"):
        _path(errors, path, value)
    elif isinstance(default, bool) or isinstance(value, bool):
        if type(value) is not type(default):
            errors.add(path, f"must be {type(default).__name__}, got {errors.show(value)}")
    elif isinstance(default, int):
        if not isinstance(value, int):
            errors.add(path, f"must be an integer, got {errors.show(value)}")
    elif isinstance(value, (dict, list)):
        errors.add(path, "must be a single value")


def _path(errors, path, value, under="/"):
    """An absolute path under ``under``, normalised, of safe characters only, not a system directory."""
    if not isinstance(value, str) or not value.startswith(under):
        where = "an absolute path" if under == "/" else f"a path under {under}"
        errors.add(path, f"{errors.show(value)} is not {where}")
    elif not SAFE_PATH.fullmatch(value):
        errors.add(path, f"{errors.show(value)} has characters other than letters, digits, '._+@-' and '/'")
    elif os.path.normpath(value) != value or "//" in value:
        errors.add(path, f"{errors.show(value)} is not a normal path (no '.', '..', '//' or trailing '/')")
    elif value in SYSTEM_DIRS or USR_DIR.fullmatch(value):
        errors.add(path, f"{errors.show(value)} is a system directory")


def _check_volumes(errors, volumes):
    path = ("hypervisor", "gluster", "volumes")
    mounts = {}
    for name, volume in sorted(volumes.items(), key=lambda item: str(item[0])):
        vpath = (*path, name)
        _match(errors, vpath, name, NAME, "a volume name ([a-z][a-z0-9_-]*)")
        if not _require_mapping(errors, vpath, volume):
            continue
        _unknown_keys(errors, vpath, volume, VOLUME_KEYS)
        _required(errors, vpath, volume, VOLUME_REQUIRED)
        mount = volume.get("mount")
        if mount is not None:
            _path(errors, (*vpath, "mount"), mount)
        if isinstance(mount, str) and mount in mounts:
            other = _named((*path, mounts[mount], "mount"))
            errors.add((*vpath, "mount"), f"{errors.show(mount)} is already the mount of {other}")
        elif isinstance(mount, str):
            mounts[mount] = name
        if "size" in volume:
            _match(errors, (*vpath, "size"), volume["size"], SIZE, "a size like 800G")
        options = volume.get("options", {})
        if _require_mapping(errors, (*vpath, "options"), options):
            for key, value in options.items():
                _match(errors, (*vpath, "options", key), key, GLUSTER_OPTION, "a gluster option name")
                if isinstance(value, (dict, list)):
                    errors.add((*vpath, "options", key), "must be a single value")
                elif key == PING_TIMEOUT and _seconds(value) is None:
                    errors.add(
                        (*vpath, "options", key), f"{errors.show(value)} is not a number of seconds above 0"
                    )


def _seconds(value):
    """A gluster option's whole number of seconds above 0 ("5" or 5), or None."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def _check_bricks(errors, path, bricks):
    """A bricks mapping, the cluster's or a host's own: its keys, type, vg and devices."""
    if not _require_mapping(errors, path, bricks):
        return False
    _unknown_keys(errors, path, bricks, BRICKS_KEYS)
    if "type" in bricks and bricks["type"] not in BRICK_TYPES:
        errors.add((*path, "type"), f"{errors.show(bricks['type'])} is not one of {', '.join(BRICK_TYPES)}")
    if bricks.get("vg"):
        _match(errors, (*path, "vg"), bricks["vg"], VG_NAME, "an LVM volume group name")
    devices = bricks.get("devices") or {}
    if _require_mapping(errors, (*path, "devices"), devices):
        for volume, device in devices.items():
            _path(errors, (*path, "devices", volume), device, under="/dev/")
    return True


def _bricks_key(name, own, *keys):
    """The pillar key of a host's bricks setting: under the host when it sets it, else the cluster's."""
    node = own
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return ("hypervisor", "gluster", "bricks", *keys)
        node = node[key]
    return ("hypervisor", "hosts", name, "bricks", *keys)


def _check_host_bricks(errors, gluster, name, host):
    """A host's bricks (the cluster's, its own on top) have what their type needs, one device per volume."""
    own = host.get("bricks") or {}
    if not isinstance(own, dict):
        return
    bricks = merge(gluster["bricks"], own)
    base = _bricks_key(name, own, "type")[:-1]  # where a missing setting belongs
    devices = bricks.get("devices") if isinstance(bricks.get("devices"), dict) else {}
    if bricks.get("type") == "lvm" and not bricks.get("vg"):
        errors.add((*base, "vg"), "is required when bricks:type is lvm")
    elif bricks.get("type") == "device":
        seen = {}
        for volume in sorted(gluster["volumes"], key=str):
            device, key = devices.get(volume), _bricks_key(name, own, "devices", volume)
            if device is None:
                errors.add((*base, "devices", volume), "is required when bricks:type is device")
            elif isinstance(device, str) and device in seen:
                errors.add(key, f"{errors.show(device)} is already the device of {_named(seen[device])}")
            elif isinstance(device, str):
                seen[device] = key


def _check_gluster(errors, gluster, hosts):
    """Bricks (each host's) and volumes, on the defaults merged with the pillar."""
    path = ("hypervisor", "gluster")
    _path(errors, (*path, "brick_root"), gluster.get("brick_root"))
    if not _require_mapping(errors, (*path, "volumes"), gluster.get("volumes", {})):
        return
    _check_volumes(errors, gluster["volumes"])
    if _check_bricks(errors, (*path, "bricks"), gluster.get("bricks", {})) and isinstance(hosts, dict):
        for name in sorted(hosts, key=str):
            if isinstance(hosts[name], dict):
                _check_host_bricks(errors, gluster, name, hosts[name])


def _check_pools(errors, pools):
    path = ("hypervisor", "pools")
    for name, pool in sorted(pools.items(), key=lambda item: str(item[0])):
        _match(errors, (*path, name), name, NAME, "a pool name ([a-z][a-z0-9_-]*)")
        if _require_mapping(errors, (*path, name), pool):
            _unknown_keys(errors, (*path, name), pool, POOL_KEYS)
            _required(errors, (*path, name), pool, POOL_KEYS)
            if "path" in pool:
                _path(errors, (*path, name, "path"), pool["path"])


# ------------------------------------------------- network, tunnels, firewall, migration
# F19-F22, F27, R5: the public side, failover IPs, bridges' VNIs and the public
# bridge, the tunnels' transport, Shorewall's settings, the migration user.


def _check_gateway(errors, path, public):
    """The public gateway is another address of the subnet public:address/prefix."""
    try:
        if not isinstance(public["address"], str) or not isinstance(public["gateway"], str):
            return
        own = ipaddress.IPv4Interface(
            f"{public['address']}/{public.get('prefix', PUBLIC_DEFAULTS['prefix'])}"
        )
        gateway = ipaddress.IPv4Address(public["gateway"])
    except (KeyError, TypeError, ValueError):
        return  # reported by the check of each key
    if gateway == own.ip:
        errors.add(path + ("gateway",), f"{gateway} is the host's own address (public:address)")
    elif gateway not in own.network:
        errors.add(
            path + ("gateway",), f"{gateway} is not in {own.network}, the subnet of public:address/prefix"
        )


def _check_failover_list(errors, path, ips):
    if not isinstance(ips, list):
        errors.add(path, f"must be a list of IPv4 addresses, got {type(ips).__name__}")
        return
    for index, ip in enumerate(ips):
        _ipv4(errors, path + (index,), ip, with_prefix=False)


def _host_addresses(hosts):
    """Every host's public and RPN address, with its pillar key."""
    found = {}
    for name in sorted(hosts, key=str):
        host = hosts[name] if isinstance(hosts[name], dict) else {}
        for side in ("public", "rpn"):
            address = host.get(side, {}).get("address") if isinstance(host.get(side), dict) else None
            if isinstance(address, str):
                found.setdefault(address.split("/")[0], ("hypervisor", "hosts", name, side, "address"))
    return found


def _check_failover_ips(errors, hosts, bridges):
    """F22: each failover IP on one host only, never a host's own address, and a public bridge for them."""
    owned, seen = _host_addresses(hosts), {}
    # A malformed bridges mapping or public flag is reported by _check_bridges alone.
    public = not isinstance(bridges, dict) or any(
        not isinstance(b, dict) or b.get("public", False) is not False for b in bridges.values()
    )
    for name in sorted(hosts, key=str):
        ips = hosts[name].get("failover_ips") if isinstance(hosts[name], dict) else None
        path = ("hypervisor", "hosts", name, "failover_ips")
        if not isinstance(ips, list):
            continue
        if ips and not public:
            errors.add(
                path, "no bridge is public (bridges:<net>:public: true) to carry the guests' failover IPs"
            )
        for index, ip in enumerate(ips):
            if not isinstance(ip, str):
                continue
            if ip in owned:
                errors.add(path + (index,), f"{errors.show(ip)} is the address of {_named(owned[ip])}")
            elif ip in seen:
                errors.add(path + (index,), f"{errors.show(ip)} is already listed by {_named(seen[ip])}")
            else:
                seen[ip] = path + (index,)


def _check_bridge_vni(errors, path, bridge, vnis):
    """A bridge's VNI (its vpn_port unless given) is 1..16777215 and no other bridge's."""
    key = path + ("vni",) if "vni" in bridge else path + ("vpn_port",)
    vni = bridge.get("vni", bridge.get("vpn_port"))
    if "vni" in bridge:
        _int_in_range(errors, key, vni, VNI_RANGE)
    if isinstance(vni, bool) or not isinstance(vni, int):
        return
    if vni in vnis:
        defaulted = "vpn_port" in (key[-1], vnis[vni][-1])
        hint = " (a bridge's vni defaults to its vpn_port)" if defaulted else ""
        errors.add(key, f"VNI {vni} is already that of {_named(vnis[vni])}{hint}")
    else:
        vnis[vni] = key


def _check_bridge_public(errors, path, bridge, publics):
    """At most one bridge is public (the wan bridge: failover IPs, proxy ARP)."""
    public = bridge.get("public", False)
    if not isinstance(public, bool):
        errors.add(path + ("public",), f"must be true or false, got {errors.show(public)}")
    elif public and publics:
        errors.add(path + ("public",), f"only one bridge can be public, and {_named(publics[0])} is")
    elif public:
        publics.append(path + ("public",))


def _members(hosts):
    """The hosts that carry guests, which the tunnels join: all but the arbiter."""
    return [name for name in sorted(hosts, key=str) if name not in _arbiters(hosts)]


def _check_tunnels(errors, tunnels, hosts):
    """F19: the transport, its port, and room for guests' frames in VXLAN on every member's RPN."""
    path = ("hypervisor", "tunnels")
    transport = tunnels.get("transport")
    if transport not in TRANSPORTS:
        errors.add(path + ("transport",), f"{errors.show(transport)} is not one of {', '.join(TRANSPORTS)}")
    _int_in_range(errors, path + ("vxlan_port",), tunnels.get("vxlan_port"), PORT_RANGE)
    if transport == "openvpn" and isinstance(hosts, dict):
        members = _members(hosts)
        if len(members) != 2:
            errors.add(
                path + ("transport",),
                f"openvpn joins exactly two hosts (a tap per bridge between peers), this cluster has"
                f" {len(members)} that carry guests: use vxlan",
            )
    if transport != "vxlan" or not isinstance(hosts, dict):
        return
    for name in _members(hosts):
        rpn = hosts[name].get("rpn") if isinstance(hosts[name], dict) else None
        mtu = rpn.get("mtu", RPN_DEFAULTS["mtu"]) if isinstance(rpn, dict) else None
        if isinstance(mtu, int) and not isinstance(mtu, bool) and mtu < VXLAN_MIN_MTU:
            errors.add(
                ("hypervisor", "hosts", name, "rpn", "mtu"),
                f"{mtu} is below {VXLAN_MIN_MTU}, the least for tunnels:transport vxlan: guests' 1500-byte"
                " frames would not fit (VXLAN adds 50 bytes); raise rpn:mtu or use openvpn",
            )


def _ipv4_source(errors, path, value):
    """An IPv4 address or network (a.b.c.d or a.b.c.d/nn), as a firewall source."""
    try:
        if isinstance(value, str):
            ipaddress.IPv4Network(value)
            return
    except ValueError as err:
        if "host bits" in str(err):
            network = ipaddress.IPv4Network(value, strict=False)
            errors.add(path, f"{errors.show(value)} has host bits set (did you mean {network}?)")
            return
    errors.add(path, f"{errors.show(value)} is not an IPv4 address or network (a.b.c.d or a.b.c.d/nn)")


def _list_items(value, kind):
    """(index, item) for the items of type ``kind`` of a list; the rest _check_overrides reports."""
    items = value if isinstance(value, list) else []
    return [(i, v) for i, v in enumerate(items) if isinstance(v, kind) and not isinstance(v, bool)]


def _check_firewall(errors, firewall):
    """F21/R5: the sources allowed SSH and monitoring, ports, log level, the dead-man's delay."""
    path = ("hypervisor", "firewall")
    if firewall.get("trusted") == []:
        errors.add(
            path + ("trusted",), "is required: the IPv4 addresses or networks allowed SSH (the master's too)"
        )
    for key in ("trusted", "monitoring_sources"):
        for index, source in _list_items(firewall.get(key), str):
            _ipv4_source(errors, path + (key, index), source)
    for key in ("ssh_port", "monitoring_port"):
        _int_in_range(errors, path + (key,), firewall.get(key), PORT_RANGE)
    for key in ("outbound_tcp", "outbound_udp", "master_ports"):
        for index, port in _list_items(firewall.get(key), int):
            _int_in_range(errors, path + (key, index), port, PORT_RANGE)
    if firewall.get("log_level") not in LOG_LEVELS:
        errors.add(
            path + ("log_level",),
            f"{errors.show(firewall.get('log_level'))} is not a syslog level ({', '.join(LOG_LEVELS)})",
        )
    _int_in_range(errors, path + ("rollback_after",), firewall.get("rollback_after"), ROLLBACK_RANGE)


def _check_network(errors, hv, merged):
    """The checks that span the hosts, bridges and the tunnels, firewall and migration defaults."""
    hosts = hv.get("hosts")
    if isinstance(hosts, dict):
        _check_failover_ips(errors, hosts, hv.get("bridges", DEFAULT_BRIDGES))
    if isinstance(merged.get("tunnels"), dict):
        _check_tunnels(errors, merged["tunnels"], hosts)
    if isinstance(merged.get("firewall"), dict):
        _check_firewall(errors, merged["firewall"])
    if isinstance(merged.get("migration"), dict):
        user = merged["migration"].get("user")
        _match(errors, ("hypervisor", "migration", "user"), user, USERNAME, "a valid user name")


def _walk(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield path + (key,), value
            yield from _walk(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield path + (index,), value
            yield from _walk(value, path + (index,))


def _secrets(pillar):
    """Every value no message may show: the token, values under secret-looking keys, private keys."""
    found = []
    for path, value in _walk(pillar):
        if path == TOKEN_KEY or SECRET_NAME.search(str(path[-1])):
            found += [str(v) for _p, v in _walk([value]) if v is not None and not isinstance(v, (dict, list))]
        elif isinstance(value, str) and PRIVATE_KEY.search(value):
            found += [value, *(line.strip() for line in value.splitlines())]
    return found


def _token(pillar):
    online = pillar.get("online")
    token = online.get("api_token") if isinstance(online, dict) else None
    return token.lower() if isinstance(token, str) and len(token) >= SECRET_MIN else None


def _check_secrets(errors, pillar):
    """A secret outside ``online:api_token`` is refused by its key alone; its value is never shown."""
    token = _token(pillar)
    home = f"'{_key(*TOKEN_KEY)}'"
    for path, value in _walk(pillar):
        text = value if isinstance(value, str) else ""
        if path == TOKEN_KEY:
            continue
        if SECRET_NAME.search(str(path[-1])):
            errors.hide(path, f"looks like a secret: the pillar's one secret is the API token, in {home}")
        elif token and (token in text.lower() or token in str(path[-1]).lower()):
            errors.hide(path, f"holds the API token, which belongs in {home} only")
        elif PRIVATE_KEY.search(text) and path[-2:-1] == ("ssh_keys",):
            errors.hide(path, "is a private key, not a public key line: give its .pub, and replace the pair")
        elif PRIVATE_KEY.search(text):
            errors.hide(path, "is a private key: no private key belongs in the pillar")


def _check_online(errors, online):
    path = ("online",)
    if not _require_mapping(errors, path, online):
        return
    _unknown_keys(errors, path, online, ONLINE_KEYS)
    allow_http = online.get("allow_http", False)
    if not isinstance(allow_http, bool):
        errors.add(path + ("allow_http",), f"must be true or false, got {errors.show(allow_http)}")
    url = online.get("api_url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url)):
        errors.add(path + ("api_url",), f"{errors.show(url)} is not an http(s) URL")
    elif isinstance(url, str) and url.startswith("http://") and allow_http is not True:
        errors.add(
            path + ("api_url",),
            f"{errors.show(url)} is plain http: the token would cross the network in clear; use https://"
            " (plain http only for a local stand-in, with online:allow_http: true)",
        )
    token = online.get("api_token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        errors.add(path + ("api_token",), "must be a non-empty string")


def _check_failover(errors, failover, hosts, online):
    """F22, F24: the provider, the timings and budget in range, and a server id per guest host
    when the provider's API is configured (it routes failover IPs to servers, not to names)."""
    path = ("hypervisor", "failover")
    if failover.get("provider") not in PROVIDERS:
        errors.add(
            path + ("provider",),
            f"{errors.show(failover.get('provider'))} is not one of {', '.join(PROVIDERS)}",
        )
    for key, bounds in FAILOVER_RANGES.items():
        _int_in_range(errors, path + (key,), failover.get(key), bounds)
    budget = failover.get("move_budget")
    if isinstance(budget, dict):
        for key, bounds in MOVE_BUDGET_RANGES.items():
            _int_in_range(errors, path + ("move_budget", key), budget.get(key), bounds)
    if online is None or not isinstance(hosts, dict):
        return
    for name in _members(hosts):
        if isinstance(hosts[name], dict) and "online_server_id" not in hosts[name]:
            errors.add(
                ("hypervisor", "hosts", name, "online_server_id"),
                "is required with the online: API settings: the API routes failover IPs to server ids",
            )


# ---------------------------------------------------------------- guests, evacuation
# F25, F26: the guests the cluster keeps, and how a host is emptied.


def _default_mac(guest, index):
    """A NIC's MAC when the pillar gives none: 52:54:00 and 3 bytes of sha256("<guest>:<index>")."""
    digest = hashlib.sha256(f"{guest}:{index}".encode()).hexdigest()
    return ":".join([GUEST_MAC_PREFIX, digest[0:2], digest[2:4], digest[4:6]])


def _check_guest_disk(errors, path, disk, pools):
    if not _require_mapping(errors, path, disk):
        return
    _unknown_keys(errors, path, disk, DISK_KEYS)
    _required(errors, path, disk, DISK_KEYS)
    pool = disk.get("pool")
    if pool is not None and (not isinstance(pool, str) or pool not in pools):
        names = ", ".join(sorted(map(str, pools)))
        errors.add(path + ("pool",), f"{errors.show(pool)} is not a pool of hypervisor:pools ({names})")
    size = disk.get("size")
    if size is not None:
        _match(errors, path + ("size",), size, SIZE, "a size like 16G")
        if isinstance(size, str) and SIZE.fullmatch(size) and int(size[:-1]) == 0:
            errors.add(path + ("size",), "must be more than 0")


def _check_guest_boot(errors, path, boot):
    """Direct kernel boot: a kernel, optionally an initrd, a one-line command line."""
    if not _require_mapping(errors, path, boot):
        return
    _unknown_keys(errors, path, boot, BOOT_KEYS)
    _required(errors, path, boot, ("kernel",))
    for key in ("kernel", "initrd"):
        if boot.get(key) is not None:
            _path(errors, path + (key,), boot[key])
    cmdline = boot.get("cmdline", "")
    if not isinstance(cmdline, str) or not cmdline.isprintable():
        errors.add(path + ("cmdline",), f"{errors.show(cmdline)} is not one line of text")


def _check_guest_nics(errors, path, name, nics, bridges, macs):
    """Each NIC on a network of hypervisor:bridges, with a unicast MAC no other NIC has."""
    if not isinstance(nics, list):
        errors.add(path, f"must be a list of NICs ({{bridge: <net>, mac: ...}}), got {type(nics).__name__}")
        return
    for index, nic in enumerate(nics):
        npath = path + (index,)
        if not _require_mapping(errors, npath, nic):
            continue
        _unknown_keys(errors, npath, nic, NIC_KEYS)
        _required(errors, npath, nic, ("bridge",))
        net = nic.get("bridge")
        if net is not None and (not isinstance(net, str) or net not in bridges):
            nets = ", ".join(sorted(map(str, bridges)))
            errors.add(
                npath + ("bridge",), f"{errors.show(net)} is not a network of hypervisor:bridges ({nets})"
            )
        mac = nic.get("mac", _default_mac(name, index))
        mac = mac.lower() if isinstance(mac, str) else mac
        if "mac" in nic:
            _match(errors, npath + ("mac",), mac, MAC, "a MAC address (aa:bb:cc:dd:ee:ff)")
        if not isinstance(mac, str) or not MAC.fullmatch(mac):
            continue
        if int(mac[:2], 16) & 1:
            errors.add(npath + ("mac",), f"{errors.show(mac)} is a multicast address, not a NIC's")
        elif mac in macs:
            errors.add(npath + ("mac",), f"{errors.show(mac)} is already the MAC of {_named(macs[mac])}")
        else:
            macs[mac] = npath + ("mac",)


def _check_guest_ips(errors, path, ips, cluster_ips, held):
    """Failover IPs of the cluster (hosts:<host>:failover_ips), each held by one guest."""
    _check_failover_list(errors, path, ips)
    for index, ip in _list_items(ips, str):
        if ip not in cluster_ips:
            errors.add(
                path + (index,),
                f"{errors.show(ip)} is not a failover IP of the cluster (hosts:<host>:failover_ips)",
            )
        elif ip in held:
            errors.add(path + (index,), f"{errors.show(ip)} is already held by {_named(held[ip])}")
        else:
            held[ip] = path + (index,)


def _check_guests(errors, guests, hv, merged):
    """F26: each guest's keys and values; its home a host that carries guests, its disk in a
    pool, its NICs on the bridges, its failover IPs the cluster's and on the public bridge."""
    path = ("hypervisor", "guests")
    if not _require_mapping(errors, path, guests):
        return
    hosts = hv.get("hosts") if isinstance(hv.get("hosts"), dict) else {}
    homes = _members(hosts)
    pools = merged.get("pools") if isinstance(merged.get("pools"), dict) else {}
    bridges = hv.get("bridges", DEFAULT_BRIDGES)
    bridges = bridges if isinstance(bridges, dict) else {}
    public = [n for n, b in bridges.items() if isinstance(b, dict) and b.get("public") is True]
    cluster_ips = {
        ip
        for host in hosts.values()
        if isinstance(host, dict)
        for _i, ip in _list_items(host.get("failover_ips"), str)
    }
    macs, held = {}, {}
    for name, guest in sorted(guests.items(), key=lambda item: str(item[0])):
        gpath = path + (name,)
        _match(errors, gpath, name, NAME, "a guest name ([a-z][a-z0-9_-]*, at most 32 characters)")
        if not _require_mapping(errors, gpath, guest):
            continue
        _unknown_keys(errors, gpath, guest, GUEST_KEYS)
        _required(errors, gpath, guest, GUEST_REQUIRED)
        if "home" in guest and guest["home"] not in homes:
            where = f"({', '.join(homes)})" + (" (not the gluster arbiter)" if _arbiter(hosts) else "")
            errors.add(
                gpath + ("home",), f"{errors.show(guest['home'])} is not a host that carries guests {where}"
            )
        for key, bounds in GUEST_RANGES.items():
            if key in guest:
                _int_in_range(errors, gpath + (key,), guest[key], bounds)
        if "virt_type" in guest and guest["virt_type"] not in VIRT_TYPES:
            errors.add(
                gpath + ("virt_type",),
                f"{errors.show(guest['virt_type'])} is not one of {', '.join(VIRT_TYPES)}",
            )
        if "running" in guest and not isinstance(guest["running"], bool):
            errors.add(gpath + ("running",), f"must be true or false, got {errors.show(guest['running'])}")
        if "disk" in guest:
            _check_guest_disk(errors, gpath + ("disk",), guest["disk"], pools)
        if guest.get("boot") is not None:
            _check_guest_boot(errors, gpath + ("boot",), guest["boot"])
        nics = guest.get("nics", [])
        _check_guest_nics(errors, gpath + ("nics",), name, nics, bridges, macs)
        ips = guest.get("failover_ips", [])
        _check_guest_ips(errors, gpath + ("failover_ips",), ips, cluster_ips, held)
        on_public = isinstance(nics, list) and any(
            isinstance(n, dict) and n.get("bridge") in public for n in nics
        )
        if isinstance(ips, list) and ips and not on_public:
            wan = f"'{public[0]}'" if public else "none is public"
            errors.add(
                gpath + ("nics",), f"a guest holding failover IPs needs a NIC on the public bridge ({wan})"
            )


def _check_evacuation(errors, evacuation):
    """F25: the evacuation's timings, parallelism and bandwidth in range, its unit's name."""
    path = ("hypervisor", "evacuation")
    for key, bounds in EVACUATION_RANGES.items():
        _int_in_range(errors, path + (key,), evacuation.get(key), bounds)
    _match(
        errors, path + ("unit",), evacuation.get("unit"), UNIT_NAME, "a systemd unit name (without .service)"
    )


# ------------------------------------------------------------ a dead host: timings, takeover
# A dead host's leases are free after 8 x io_timeout + the watchdog fire timeout
# without a renewal; the lease volume's gluster must give up on a dead brick well
# before the survivor's own renewals fail; taking over needs a majority (an arbiter).


def _sanlock_ints(sanlock):
    """io_timeout, watchdog_fire_timeout and kill_grace when each is an integer in range, else None."""
    values = [sanlock.get(key) for key in SANLOCK_RANGES]
    valid = all(
        isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        for v, (low, high) in zip(values, SANLOCK_RANGES.values(), strict=True)
    )
    return values if valid else None


def _check_sanlock(errors, sanlock, own):
    """The timings in range; the watchdog fire timeout the OS family's where its sanlock fixes
    it; (c) a cut host's guests are dead before the others may take their leases."""
    path = ("hypervisor", "sanlock")
    for key, bounds in SANLOCK_RANGES.items():
        _int_in_range(errors, path + (key,), sanlock.get(key), bounds)
    if "watchdog_fire_timeout_fixed" in own:
        errors.add(
            path + ("watchdog_fire_timeout_fixed",),
            "is what the OS family's sanlock allows (salt/parameters/os_family), not a pillar setting",
        )
    fixed, wft = sanlock.get("watchdog_fire_timeout_fixed"), sanlock.get("watchdog_fire_timeout")
    if fixed is not None and isinstance(wft, int) and wft != fixed:
        errors.add(
            path + ("watchdog_fire_timeout",),
            f"{errors.show(wft)} s cannot be set: sanlock on this OS family (3.8) has it fixed at {fixed} s",
        )
    values = _sanlock_ints(sanlock)
    if values is None:
        return
    io_timeout, wft, grace = values[0], fixed or values[1], values[2]
    if grace + 2 * io_timeout >= wft:
        errors.add(
            path + ("kill_grace",),
            f"{grace} s + 2 x hypervisor:sanlock:io_timeout ({2 * io_timeout} s) must be below"
            f" hypervisor:sanlock:watchdog_fire_timeout ({wft} s): a cut host's guests must be dead"
            " before the others may take their leases",
        )


def _lease_options(gluster):
    """The lease volume's options (the merged pillar's), or {} where malformed."""
    volume = (
        (gluster.get("volumes") or {}).get(LEASE_VOLUME) if isinstance(gluster.get("volumes"), dict) else None
    )
    options = volume.get("options", {}) if isinstance(volume, dict) else {}
    return options if isinstance(options, dict) else {}


def _check_lease_ping(errors, gluster, io_timeout):
    """(b) gluster gives up on a dead host's brick of the lease volume within half of
    sanlock's renewal-fail time, so that the survivor's own renewals go on."""
    ping = _seconds(_lease_options(gluster).get(PING_TIMEOUT, GLUSTER_PING_TIMEOUT))
    if ping is not None and ping > 4 * io_timeout:
        errors.add(
            ("hypervisor", "gluster", "volumes", LEASE_VOLUME, "options", PING_TIMEOUT),
            f"{ping} s must be at most half of sanlock's renewal-fail time, 8 x hypervisor:sanlock:io_timeout"
            f" ({8 * io_timeout} s): when a host dies, the survivor's own lease renewals would fail while"
            " gluster waits for it",
        )


def _takeover_on(takeover, hosts):
    """Whether the takeover runs: ``auto`` is on with an arbiter."""
    enabled = takeover.get("enabled")
    return bool(_arbiter(hosts)) if enabled == "auto" else enabled is True


def _check_shared_dir(errors, path, value, gluster, what):
    """Empty (derived), or an absolute path under a gluster volume's mount."""
    if value == "":
        return
    volumes = gluster.get("volumes") if isinstance(gluster.get("volumes"), dict) else {}
    mounts = sorted(
        v["mount"] for v in volumes.values() if isinstance(v, dict) and isinstance(v.get("mount"), str)
    )
    before = len(errors)
    _path(errors, path, value)
    if len(errors) == before and not any(value.startswith(f"{mount}/") for mount in mounts):
        errors.add(
            path,
            f"{errors.show(value)} is not under a gluster volume's mount ({', '.join(mounts)}): {what}"
            " must be on shared storage that client quorum protects",
        )


def _check_takeover(errors, takeover, hosts, gluster):
    """A dead host's guests taken over: on only with a majority (an arbiter), the poll interval
    in range, the rescue image a name, the incidents on a gluster volume, and, while on, client
    quorum kept on the lease volume."""
    path = ("hypervisor", "takeover")
    enabled = takeover.get("enabled")
    if enabled != "auto" and not isinstance(enabled, bool):
        errors.add(path + ("enabled",), f"{errors.show(enabled)} is not one of auto, true, false")
    elif enabled is True and not _arbiter(hosts):
        errors.add(
            path + ("enabled",),
            "automatic takeover needs a majority: add a host with role arbiter (replica 2 has no quorum:"
            " a cut private link would let both hosts take the leases)",
        )
    for key, bounds in TAKEOVER_RANGES.items():
        _int_in_range(errors, path + (key,), takeover.get(key), bounds)
    image = takeover.get("rescue_image")
    if image != "" and (not isinstance(image, str) or not IMAGE_NAME.fullmatch(image)):
        errors.add(
            path + ("rescue_image",), f'{errors.show(image)} is not an image name ("": the API\'s first)'
        )
    _check_shared_dir(
        errors, path + ("incidents_dir",), takeover.get("incidents_dir"), gluster, "the incidents"
    )
    _match(
        errors, path + ("unit",), takeover.get("unit"), UNIT_NAME, "a systemd unit name (without .service)"
    )
    quorum = _lease_options(gluster).get(QUORUM_TYPE)
    if _takeover_on(takeover, hosts) and isinstance(quorum, str) and quorum.lower() in QUORUM_OFF:
        errors.add(
            ("hypervisor", "gluster", "volumes", LEASE_VOLUME, "options", QUORUM_TYPE),
            f"{errors.show(quorum)} takes client quorum off the lease volume while takeover is on"
            " (hypervisor:takeover:enabled): a host cut off from the others could still write the leases;"
            " leave it auto",
        )


def _check_keeper(errors, keeper, gluster):
    """B1: the keeper's look interval and crash-loop bound in range, its records on a
    gluster volume, its unit's name."""
    path = ("hypervisor", "keeper")
    for key, bounds in KEEPER_RANGES.items():
        _int_in_range(errors, path + (key,), keeper.get(key), bounds)
    _check_shared_dir(errors, path + ("dir",), keeper.get("dir"), gluster, "what the keepers record")
    _match(errors, path + ("unit",), keeper.get("unit"), UNIT_NAME, "a systemd unit name (without .service)")


def _check_dead_host(errors, hv, merged):
    """sanlock's timings, the lease volume's ping-timeout against them, the takeover settings."""
    gluster = merged.get("gluster") if isinstance(merged.get("gluster"), dict) else {}
    sanlock = merged.get("sanlock")
    if isinstance(sanlock, dict):
        _check_sanlock(errors, sanlock, hv.get("sanlock") if isinstance(hv.get("sanlock"), dict) else {})
        values = _sanlock_ints(sanlock)
        if values is not None:
            _check_lease_ping(errors, gluster, values[0])
    if isinstance(merged.get("takeover"), dict):
        _check_takeover(errors, merged["takeover"], hv.get("hosts"), gluster)


def _check_cluster(errors, hv, defaults, minion_id, online=None):
    """The ``hypervisor`` mapping: the cluster description, then the overrides of the defaults."""
    _unknown_keys(errors, ("hypervisor",), hv, CLUSTER_KEYS + tuple(defaults))
    _required(errors, ("hypervisor",), hv, CLUSTER_REQUIRED)
    if "domain" in hv:
        _match(errors, ("hypervisor", "domain"), hv["domain"], DOMAIN, "a DNS domain")
    if "hosts" in hv:
        _check_hosts(errors, hv["hosts"], minion_id)
    if "bridges" in hv:
        _check_bridges(errors, hv["bridges"], hv.get("hosts"))
    if "admins" in hv:
        _check_admins(errors, hv["admins"])
    for key, value in hv.items():
        if key in defaults:
            _check_overrides(errors, ("hypervisor", key), value, defaults[key])
    merged = merge(defaults, {k: v for k, v in hv.items() if isinstance(v, dict)})
    if isinstance(merged.get("gluster"), dict):
        _check_gluster(errors, merged["gluster"], hv.get("hosts"))
    if isinstance(merged.get("pools"), dict):
        _check_pools(errors, merged["pools"])
    _check_network(errors, hv, merged)
    if isinstance(merged.get("failover"), dict):
        _check_failover(errors, merged["failover"], hv.get("hosts"), online)
    if isinstance(merged.get("evacuation"), dict):
        _check_evacuation(errors, merged["evacuation"])
    _check_dead_host(errors, hv, merged)
    if isinstance(merged.get("keeper"), dict):
        gluster = merged.get("gluster") if isinstance(merged.get("gluster"), dict) else {}
        _check_keeper(errors, merged["keeper"], gluster)
    if "guests" in hv:
        _check_guests(errors, hv["guests"], hv, merged)
    source = (
        (hv.get("libvirt") or {}).get("host_uuid_source") if isinstance(hv.get("libvirt"), dict) else None
    )
    if source is not None and source not in HOST_UUID_SOURCES:
        errors.add(
            ("hypervisor", "libvirt", "host_uuid_source"), f"must be one of {', '.join(HOST_UUID_SOURCES)}"
        )


def validate(pillar, defaults, minion_id=None):
    """Return the list of problems with ``pillar`` (empty when it is valid).

    ``defaults`` is the ``hypervisor`` mapping of the parameters (defaults and
    OS family layered); ``minion_id`` is the host the pillar is rendered for.
    No line shows a secret (the API token, a value under a secret-looking
    key, a private key), and none echoes more than SHOWN_MAX characters of a value.
    """
    errors = _Errors(_secrets(pillar))
    _check_secrets(errors, pillar)
    if "online" in pillar:
        _check_online(errors, pillar["online"])
    hv = pillar.get("hypervisor")
    if hv is None:
        who = f"this minion {errors.show(minion_id)}" if minion_id else "this minion"
        errors.add(
            ("hypervisor",),
            f"{who} has no cluster pillar: it is not in the master's nodegroup '{NODEGROUP}'"
            " (master.d/hypervisor.conf), or the pillar top does not give it hypervisor.sls",
        )
    elif _require_mapping(errors, ("hypervisor",), hv):
        _check_cluster(errors, hv, defaults, minion_id, pillar.get("online"))
    return list(errors)


def merge(base, over):
    """Deep-merge ``over`` into a copy of ``base`` (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build(pillar, defaults, minion_id):
    """Validated settings for ``minion_id``: defaults, then pillar, then views.

    Raises ``CommandExecutionError`` listing every problem when the pillar is wrong.
    """
    errors = validate(pillar, defaults, minion_id)
    if errors:
        raise CommandExecutionError("pillar is invalid, nothing was changed:\n  " + "\n  ".join(errors))
    cfg = merge(defaults, pillar["hypervisor"])
    cfg.setdefault("admins", [])
    cfg.setdefault("guests", {})
    hosts = {name: _host_view(name, host, cfg["domain"]) for name, host in sorted(cfg["hosts"].items())}
    cfg["hosts"] = hosts
    cfg["me"] = hosts[minion_id]
    cfg["peer"] = hosts[cfg["me"]["peer"]] if cfg["me"]["peer"] else None
    arbiter = _arbiter(hosts) or ""
    cfg["gluster"] = dict(cfg["gluster"], arbiter=arbiter)
    cfg["bridges"] = _bridges_view(cfg.get("bridges", DEFAULT_BRIDGES))
    cfg["public_bridge"] = next((dict(b, net=n) for n, b in cfg["bridges"].items() if b["public"]), None)
    # What this host itself has: the arbiter carries no guest (no bridge, no libvirt group).
    guests_here = cfg["me"]["role"] == "hypervisor"
    cfg["local_bridges"] = cfg["bridges"] if guests_here else {}
    cfg["local_public_bridge"] = cfg["public_bridge"] if guests_here else None
    cfg["admin_groups"] = [cfg["libvirt"]["group"]] if guests_here else []
    cfg["tunnels"] = _tunnels_view(cfg["tunnels"], cfg["bridges"], hosts, minion_id)
    cfg["firewall"] = _firewall_view(cfg["firewall"], cfg["tunnels"], cfg["bridges"], hosts, minion_id)
    cfg["firewall"]["api_ports"] = _api_ports(pillar.get("online"), cfg["firewall"]["outbound_tcp"])
    cfg["migration"] = _migration_view(cfg["migration"])
    cfg["failover"] = _failover_view(cfg["failover"], hosts)
    cfg["sysctl"] = dict(cfg["sysctl"], settings=_sysctl_settings(cfg["sysctl"]["settings"], cfg["me"]))
    cfg["gluster"] = _gluster_view(cfg["gluster"], hosts, minion_id)
    cfg["python"] = _python_view(cfg["python"])
    cfg["timings"] = _timings_view(cfg["sanlock"], cfg["gluster"])
    cfg["sanlock"] = _sanlock_view(cfg["sanlock"], cfg["me"], cfg["gluster"])
    cfg["takeover"] = _takeover_view(cfg["takeover"], arbiter, cfg["gluster"])
    cfg["evacuation"] = _evacuation_view(cfg["evacuation"], cfg["gluster"])
    cfg["keeper"] = _keeper_view(cfg["keeper"], cfg["gluster"])
    cfg["guests"] = {name: _guest_view(name, guest, cfg) for name, guest in sorted(cfg["guests"].items())}
    cfg["settings_copy"] = _settings_copy(cfg)
    return cfg


# ------------------------------------------- views: hosts, bridges, tunnels, firewall, migration


def _host_view(name, host, domain):
    """A host with its defaults filled in: names, ``role``, ``peer`` (None on the arbiter), RPN
    ``ip``, public ``cidr``, failover IPs."""
    rpn = dict(RPN_DEFAULTS, **host["rpn"])
    rpn["mac"] = rpn["mac"].lower()
    rpn["ip"] = rpn["address"].split("/")[0]
    public = dict(PUBLIC_DEFAULTS, **host["public"])
    public["cidr"] = f"{public['address']}/{public['prefix']}"
    failover_ips = list(host.get("failover_ips") or [])
    return dict(
        host,
        name=name,
        fqdn=f"{name}.{domain}",
        role=host.get("role", "hypervisor"),
        peer=host.get("peer"),
        rpn=rpn,
        public=public,
        failover_ips=failover_ips,
    )


def _bridges_view(bridges):
    """Every bridge with its ``vni`` (default: its vpn_port) and ``public`` (default false)."""
    return {
        net: dict(bridge, vni=bridge.get("vni", bridge["vpn_port"]), public=bridge.get("public", False))
        for net, bridge in sorted(bridges.items())
    }


def _tunnels_view(tunnels, bridges, hosts, me):
    """F19: the hosts joined (``members``: all but the arbiter) and, on a member, one tunnel per
    bridge of each transport: VXLAN to every other member, OpenVPN to the peer."""
    members = _members(hosts)
    view = dict(tunnels, members=members, vxlan=[], openvpn=[])
    if me not in members:
        return view
    local, peer = hosts[me]["rpn"]["ip"], hosts[hosts[me]["peer"]]
    remotes = [hosts[h]["rpn"]["ip"] for h in members if h != me]
    role = "server" if hosts[me]["host_id"] < peer["host_id"] else "client"
    for net, bridge in sorted(bridges.items()):
        common = {"net": net, "bridge": bridge["name"], "local": local}
        view["vxlan"].append(
            dict(
                common,
                ifname=f"vx{net}",
                vni=bridge["vni"],
                port=tunnels["vxlan_port"],
                remotes=remotes,
                mtu=1500,
            )
        )
        view["openvpn"].append(
            dict(common, dev=f"tap{net}", port=bridge["vpn_port"], remote=peer["rpn"]["ip"], role=role)
        )
    return view


def _firewall_view(firewall, tunnels, bridges, hosts, me):
    """F21: the settings, ``monitoring_sources`` (default: trusted), ``peers_rpn`` (the other
    hosts' RPN addresses), ``rpn_network`` (the RPN subnet) and ``tunnel_udp_ports`` (none on the
    arbiter: it joins no tunnel)."""
    if me not in tunnels["members"]:
        ports = []
    elif tunnels["transport"] == "vxlan":
        ports = [tunnels["vxlan_port"]]
    else:
        ports = sorted(bridge["vpn_port"] for bridge in bridges.values())
    return dict(
        firewall,
        monitoring_sources=list(firewall["monitoring_sources"] or firewall["trusted"]),
        peers_rpn=[hosts[h]["rpn"]["ip"] for h in sorted(hosts) if h != me],
        rpn_network=str(ipaddress.ip_interface(hosts[me]["rpn"]["address"]).network),
        tunnel_udp_ports=ports,
    )


def _sysctl_settings(settings, me):
    """F3, F22: the settings, and the public NIC's proxy ARP answers without the
    kernel's random delay (up to 0.8 s), so a failover IP that arrives is
    answered at once; the pillar may set the key itself. Not for a NIC named
    with a dot (a VLAN): its sysctl name would need a slash."""
    nic = me["public"]["interface"]
    return settings if "." in nic else {f"net.ipv4.neigh.{nic}.proxy_delay": 0, **settings}


def _api_ports(online, outbound_tcp):
    """The provider API's TCP port, when the outbound rules do not already let it out."""
    url = urlsplit(online["api_url"]) if isinstance(online, dict) and online.get("api_url") else None
    if url is None:
        return []
    port = url.port or (443 if url.scheme == "https" else 80)
    return [] if port in outbound_tcp else [port]


def _failover_view(failover, hosts):
    """The failover settings, with ``ips``: each cluster failover IP and its home host (the
    host whose pillar lists it); where the provider routes it now is the API's to say."""
    ips = {ip: name for name, host in hosts.items() for ip in host["failover_ips"]}
    return dict(failover, ips=dict(sorted(ips.items())))


def _settings_copy(cfg):
    """F25, B1: what the guests and takeover modules need when the master cannot be
    reached (the units' settings copy; no secret): the hosts' RPN addresses,
    roles, sanlock host ids and server ids (a dead host id is mapped to its
    host), this host and its peer, the migration user, the SSH port, the
    evacuation, takeover, keeper and timing settings, the hosts that carry guests,
    the guests' home, wish, failover IPs and disk (its sanlock lease is named after
    it). Nothing else, so that unrelated pillar changes leave the copy alone."""
    guest_keys = ("home", "running", "failover_ips", "disk_path")
    host_keys = ("role", "host_id", "online_server_id")
    return {
        "me": {"name": cfg["me"]["name"], "peer": cfg["me"].get("peer")},
        "hosts": {
            name: {"rpn": {"ip": host["rpn"]["ip"]}, **{key: host.get(key) for key in host_keys}}
            for name, host in cfg["hosts"].items()
        },
        "migration": {"user": cfg["migration"]["user"]},
        "firewall": {"ssh_port": cfg["firewall"]["ssh_port"]},
        "evacuation": cfg["evacuation"],
        "takeover": cfg["takeover"],
        "keeper": cfg["keeper"],
        "timings": cfg["timings"],
        "tunnels": {"members": cfg["tunnels"]["members"]},
        "guests": {name: {k: g[k] for k in guest_keys} for name, g in cfg["guests"].items()},
        "failover": {"ips": cfg["failover"]["ips"]},
    }


def _migration_view(migration):
    """F20: the migration user, its home and the key it logs in to the peer with."""
    user = migration["user"]
    home = "/root" if user == "root" else f"/home/{user}"
    return dict(migration, home=home, key=f"{home}/.ssh/id_ed25519_hv")


# ------------------------------------------------------------------ other views


def _sanlock_view(sanlock, me, gluster):
    """The watchdog units on or off, the daemon's options (-w, and -g: the kill grace),
    ``conf_settings`` (sanlock.conf's, where this OS family's sanlock reads the watchdog fire
    timeout), libvirt's lockspace (joined with the cluster's io_timeout; no host id on the arbiter;
    ``client_quorum``: whether the lease volume refuses writes without a majority)."""
    watchdog = [sanlock["watchdog_service"]]
    lease_dir = gluster["volumes"][LEASE_VOLUME]["mount"]
    quorum = str(gluster["volumes"][LEASE_VOLUME]["options"].get(QUORUM_TYPE, "none")).lower()
    fixed = sanlock.get("watchdog_fire_timeout_fixed") is not None
    return dict(
        sanlock,
        watchdog_units=watchdog if sanlock["use_watchdog"] else [],
        watchdog_units_off=[] if sanlock["use_watchdog"] else watchdog,
        daemon_opts=f"-w {1 if sanlock['use_watchdog'] else 0} -g {sanlock['kill_grace']}",
        conf_settings={} if fixed else {"watchdog_fire_timeout": sanlock["watchdog_fire_timeout"]},
        lease_dir=lease_dir,
        lockspace={
            "name": "__LIBVIRT__DISKS__",
            "host_id": me.get("host_id"),
            "path": f"{lease_dir}/__LIBVIRT__DISKS__",
            "io_timeout": sanlock["io_timeout"],
            # The lease volume refuses a write without a majority of its bricks
            # (an arbiter): the rejoin need not wait for the heal to end.
            "client_quorum": quorum == "auto",
        },
    )


def _timings_view(sanlock, gluster):
    """In seconds: sanlock renews its host lease every 2 x io_timeout (``renewal``) and gives it
    up after 8 x io_timeout (``renewal_fail``); a host silent that long and the watchdog fire
    timeout more is dead (``host_dead``): then its leases may be taken (``takeover_after``)."""
    io_timeout, wft = sanlock["io_timeout"], sanlock["watchdog_fire_timeout"]
    options = gluster["volumes"][LEASE_VOLUME]["options"]
    return {
        "io_timeout": io_timeout,
        "renewal": 2 * io_timeout,
        "renewal_fail": 8 * io_timeout,
        "watchdog_fire_timeout": wft,
        "host_dead": 8 * io_timeout + wft,
        "kill_grace": sanlock["kill_grace"],
        "ping_timeout": int(options.get(PING_TIMEOUT, GLUSTER_PING_TIMEOUT)),
        "takeover_after": 8 * io_timeout + wft,
    }


def _takeover_view(takeover, arbiter, gluster):
    """The takeover settings, ``enabled`` resolved (auto: on with an arbiter) and ``incidents_dir``
    (default: ``.hv-incidents`` on the save volume, shared and protected by client quorum)."""
    enabled = bool(arbiter) if takeover["enabled"] == "auto" else takeover["enabled"]
    incidents_dir = takeover["incidents_dir"] or f"{gluster['volumes'][SAVE_VOLUME]['mount']}/.hv-incidents"
    return dict(takeover, enabled=enabled, incidents_dir=incidents_dir)


def _keeper_view(keeper, gluster):
    """B1: the keeper settings, ``dir`` resolved (default: ``.hv-keeper`` on the save volume,
    shared and protected by client quorum), with ``hosts_dir`` (each host's published record)
    and ``stopped_dir`` (a person's stops of ``running: true`` guests)."""
    directory = keeper["dir"] or f"{gluster['volumes'][SAVE_VOLUME]['mount']}/.hv-keeper"
    return dict(keeper, dir=directory, hosts_dir=f"{directory}/hosts", stopped_dir=f"{directory}/stopped")


def _evacuation_view(evacuation, gluster):
    """F25: the settings, with ``save_dir`` (the save volume's mount, F17) and ``settings_cache``
    (the copy of the settings the shutdown unit reads when the master is out of reach)."""
    return dict(
        evacuation,
        save_dir=gluster["volumes"]["save"]["mount"],
        settings_cache=f"{evacuation['state_dir']}/settings.json",
    )


def _guest_xml():
    """The guest_xml utility (_utils/guest_xml.py): Salt's loader gives it to the minion;
    without Salt (unit tests) it is imported from this tree."""
    try:
        return __utils__["guest_xml.render"], __utils__["guest_xml.fingerprint"]
    except NameError:
        path = Path(__file__).resolve().parent.parent / "_utils" / "guest_xml.py"
        spec = importlib.util.spec_from_file_location("guest_xml", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.render, module.fingerprint


def _guest_view(name, guest, cfg):
    """F26: a guest with its defaults, ``uuid`` (the same on every host, for migrations),
    ``disk_path``, NICs by Linux bridge (``bridge``), network (``net``) and MAC, and its
    domain ``xml`` with the ``fingerprint`` embedded in it."""
    view = dict(copy.deepcopy(GUEST_DEFAULTS), **copy.deepcopy(guest), name=name)
    view["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{cfg['domain']}"))
    view["disk_path"] = f"{cfg['pools'][guest['disk']['pool']]['path']}/{name}.img"
    view["nics"] = [
        {
            "bridge": cfg["bridges"][nic["bridge"]]["name"],
            "net": nic["bridge"],
            "mac": nic.get("mac", _default_mac(name, index)).lower(),
        }
        for index, nic in enumerate(view["nics"])
    ]
    view["boot"] = dict(BOOT_DEFAULTS, **view["boot"]) if view["boot"] else None
    render, fingerprint = _guest_xml()
    view["xml"] = render(view)
    view["fingerprint"] = fingerprint(view["xml"])
    return view


def _python_view(python, prefix=sys.prefix, base_prefix=sys.base_prefix):
    """How the libraries the modules import reach the minion's own Python.

    On the system Python (Debian's or EL's own, no venv): OS packages. In a
    venv or Salt's onedir: pip, run by the pip state with the minion's own
    interpreter, after the packages needed to build from source.
    """
    if prefix == base_prefix == "/usr":
        return {"method": "os", "pkgs": python["os_pkgs"], "pip": {}}
    pip = {req.split("==")[0].split(">")[0].split("<")[0].strip(): req for req in python["pip"]}
    return {"method": "pip", "pkgs": python["build_pkgs"], "pip": pip, "prefix": prefix}


def _host_bricks(gluster, host):
    """This host's bricks settings: the cluster's, with the host's own on top."""
    return merge(gluster["bricks"], host.get("bricks") or {})


def _brick_layout(bricks, volumes, brick_root):
    """Per volume, where this host's brick lives and what it stands on.

    ``dir`` is ``<brick_root>/<volume>``; the brick is its ``brick``
    subdirectory, so an unmounted brick file system leaves glusterd nothing to
    write into. ``device`` is the block device holding its XFS file system
    (None for a plain directory); ``lv`` the logical volume to create first.
    """
    layout = {}
    for name, volume in sorted(volumes.items()):
        brick_dir = f"{brick_root}/{name}"
        device = lv = None
        if bricks["type"] == "device":
            device = bricks["devices"][name]
        elif bricks["type"] == "lvm":
            device = f"/dev/{bricks['vg']}/{name}"
            lv = {"vg": bricks["vg"], "name": name, "size": volume["size"]}
        layout[name] = {
            "dir": brick_dir,
            "path": f"{brick_dir}/brick",
            "device": device,
            "lv": lv,
            "label": name[:12],
            # Where the brick file system must be mounted before the brick exists.
            "mount_point": brick_dir if device else None,
        }
    return layout


def _gluster_view(gluster, hosts, me):
    """Add what the states need: members, the host that creates volumes, bricks; with an
    arbiter, client quorum (``cluster.quorum-type: auto``) on every volume unless the pillar
    sets it."""
    arbiter = gluster["arbiter"] or None
    data_hosts = [name for name in sorted(hosts) if name != arbiter]
    members = data_hosts + ([arbiter] if arbiter else [])
    leader = data_hosts[0]
    view = dict(gluster, data_hosts=data_hosts, leader=leader, peers=sorted(hosts))
    view["is_leader"] = me == leader
    view["local_bricks"] = (
        _brick_layout(_host_bricks(gluster, hosts[me]), gluster["volumes"], gluster["brick_root"])
        if me in members
        else {}
    )
    # The states loop over these, one per kind of step: no decisions in Jinja.
    view["brick_lvs"] = {n: b["lv"] for n, b in view["local_bricks"].items() if b["lv"]}
    view["brick_filesystems"] = {n: b for n, b in view["local_bricks"].items() if b["device"]}
    # Bricks on a root file system (type directory) need `volume create … force`.
    view["force_create"] = any(_host_bricks(gluster, hosts[h])["type"] == "directory" for h in members)
    volumes = {}
    for name, volume in sorted(gluster["volumes"].items()):
        brick_dir = f"{gluster['brick_root']}/{name}"
        volumes[name] = dict(
            volume,
            brick_dir=brick_dir,
            bricks=[f"{host}:{brick_dir}/brick" for host in members],
            replica=len(members),
            arbiter=1 if arbiter else 0,
            options={**({QUORUM_TYPE: "auto"} if arbiter else {}), **_options(volume)},
        )
    view["volumes"] = volumes
    # Only the leader creates, starts and tunes the volumes; the other data hosts
    # wait until it has started each before they mount it.
    view["managed_volumes"] = volumes if view["is_leader"] else {}
    view["awaited_volumes"] = {} if view["is_leader"] or me == arbiter else volumes
    return view


def _options(volume):
    """A volume's options as gluster takes them: strings."""
    return {k: str(v) for k, v in volume.get("options", {}).items()}


def _parameters():
    """The defaults layered with this OS family's, read from the state tree."""
    layered = {}
    for path in ("defaults.yaml", f"os_family/{__grains__['os_family']}.yaml"):
        text = __salt__["cp.get_file_str"](f"salt://parameters/{path}")
        if not text:
            raise CommandExecutionError(f"salt://parameters/{path} is missing")
        layered = merge(layered, yaml.safe_load(text)["hypervisor"])
    return layered


def settings(defaults=None, os_defaults=None):
    """
    The validated settings of this host, as ``map.jinja`` uses them.

    defaults
        The ``hypervisor`` mapping of ``parameters/defaults.yaml`` (read from
        the state tree when not given).
    os_defaults
        The ``hypervisor`` mapping of ``parameters/os_family/<family>.yaml``.

    CLI Example:

    .. code-block:: bash

        salt-call hypervisor_pillar.settings
    """
    layered = _parameters() if defaults is None else merge(defaults, os_defaults or {})
    return build(_pillar(), layered, __grains__["id"])


def check():
    """
    Validate this host's pillar; return the list of problems (empty: valid).

    Run it before ``state.apply`` after editing the pillar.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors hypervisor_pillar.check
    """
    return validate(_pillar(), _parameters(), __grains__["id"])


def _pillar():
    """This minion's pillar as a plain dict (Salt hands modules a loader
    context object, which the validator's walk would not descend into)."""
    return dict(__pillar__)
