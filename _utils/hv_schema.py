"""
The pillar's settings, one row per key: the single source of their defaults,
their checks and the pillar reference (docs/pillar.md, made from this table).

Every row is a key under ``hypervisor:`` with its default, its kind, its
bounds, choices or pattern, one line of documentation and, where an OS family
needs another value, that value. The cluster's own description (``domain``,
``hosts``, ``bridges``, ``admins``, ``guests``) has no default: its shape is
checked by the rules in ``hv_rules_*.py``, which also hold every check that
spans two keys.

Plain Python: the execution modules, the runner and the tests import it.
``_utils/hv_reference.py`` prints the reference.
"""

import copy
import hashlib
import re
from typing import NamedTuple

# --------------------------------------------------------------- patterns and ranges
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
IFNAME = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$")  # no leading "-": it would read as an option
# Links the states make (vx<net>, tap<net>) or that other software owns: no bridge may take their name.
RESERVED_LINK = re.compile(r"^(vx|tap)[a-z][a-z0-9]*$|^(virbr\d+|docker\d+|lo|br-[0-9a-f]{12}|veth.*)$")
# Ports the hosts already use (SSH and Salt are settings; these are fixed by the software).
FIXED_PORTS = {24007: "glusterd", 24008: "glusterd's RDMA port", 16509: "libvirtd", 16514: "libvirtd (TLS)"}
BRICK_PORTS = (49152, 60999)  # gluster's brick processes
# libvirt's live migrations (qemu.conf migration_port_min/max): outside the bricks' range
# and the kernel's ephemeral ports, so the firewall opens them to the hosts that carry
# guests alone, never to the arbiter (which reaches the bricks).
MIGRATION_PORTS = (61000, 61063)
# Accounts of the system (and of the services the states install) an admin may not be.
SYSTEM_ACCOUNTS = frozenset(
    [
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "systemd-network",
        "systemd-resolve",
        "systemd-timesync",
        "messagebus",
        "sshd",
        "libvirt-qemu",
        "libvirt-dnsmasq",
        "qemu",
        "gluster",
        "sanlock",
        "openvpn",
        "polkitd",
        "_apt",
        "nogroup",
    ]
)
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
# System files and directories no setting may name (a state would own, rewrite or empty them).
SYSTEM_FILES = frozenset(
    {"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d"}
    | {"/etc/fstab", "/etc/crontab", "/etc/hostname", "/etc/resolv.conf", "/etc/ssh", "/etc/pam.d"}
    | {"/etc/systemd", "/etc/systemd/system", "/etc/salt", "/etc/default", "/etc/sysctl.d", "/root/.ssh"}
)
STATE_DIR = (
    re.compile(r"^/(var/lib|var/local|srv)/[A-Za-z0-9._+@-][A-Za-z0-9._+@/-]*$"),
    "under /var/lib, /var/local or /srv",
)
SCRIPT = (re.compile(r"^/usr/local/s?bin/[A-Za-z0-9._+@-]+$"), "a file in /usr/local/sbin or /usr/local/bin")
VG_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_+.-]{0,62}$")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SIZE = re.compile(r"^[0-9]+[KMGT]$")
GLUSTER_OPTION = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
UNIT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$")
HOST_ID_RANGE = (1, 2000)  # sanlock host ids
MTU_RANGE = (576, 9000)
PORT_RANGE = (1, 65535)
PREFIX_RANGE = (8, 32)
VNI_RANGE = (1, 16777215)
VLAN_RANGE = (1, 4094)  # 802.1Q ids; a Hetzner vSwitch's are 4000..4091
VXLAN_OVERHEAD = 50  # bytes VXLAN adds to a guest's frame on the private network
GUEST_MTU = 1500  # the guests' MTU unless tunnels:guest_mtu says otherwise
GUEST_MTU_RANGE = (MTU_RANGE[0], MTU_RANGE[1] - VXLAN_OVERHEAD)
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
NODEGROUP = "hypervisors"  # the master's nodegroup of the cluster's hosts (master.d/hypervisor.conf)
GUEST_NODEGROUP = "guest_hosts"  # its hosts that carry guests: they alone get online.sls (the token)
OS_FAMILIES = ("Debian", "RedHat")
LEASE_VOLUME = "sanlock"  # the volume holding sanlock's lease directory (F14)
SAVE_VOLUME = "save"  # the shared save volume (F17)
PING_TIMEOUT = "network.ping-timeout"
AUTH_ALLOW = "auth.allow"  # set by the states on every volume: the hosts' RPN addresses
AUTH_OPTIONS = (AUTH_ALLOW, "auth.reject", "auth.ssl-allow", "client.ssl", "server.ssl")  # the states' alone
GLUSTER_PING_TIMEOUT = 42  # gluster's own default, for a volume that sets none
UNIT = (UNIT_NAME, "a systemd unit name (without .service)")
HOST = (HOSTNAME, "a host name of the cluster")
UNIT_FILE = (
    re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}\.(service|socket|target|timer)$"),
    "a systemd unit (name.service)",
)
GROUP = (USERNAME, "a valid group name")
MODE = (re.compile(r"^0?[0-7]{3}$"), "a file mode like 0770")
CALENDAR = (re.compile(r"^[A-Za-z0-9 :*,/.~-]{1,64}$"), "a systemd calendar (daily, Mon *-*-* 03:00)")
TIMESPAN = (re.compile(r"^[0-9]{1,6} ?(us|ms|s|sec|min|m|h|d|w)?$"), "a systemd time span like 30min")
PACKAGE = (re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}$"), "a package name")
PACKAGE_GLOB = (
    re.compile(r"^[A-Za-z0-9*?\[][A-Za-z0-9+._*?\[\]-]{0,127}$"),
    "a package name or a glob (linux-image-*)",
)
REQUIREMENT = (
    re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}((==|>=|<=|~=|!=|<|>)[A-Za-z0-9.*+!_-]{1,40})?$"),
    "a pip requirement (name or name==version)",
)
ARGUMENT = (re.compile(r"^[^\x00-\x1f\x7f]{0,200}$"), "one command argument (no control character)")
ONE_VALUE = re.compile(r"^[^\x00-\x1f\x7f\"'\\\\]{0,200}$")  # a map's value, as files take it
SELINUX_BOOLEAN = (re.compile(r"^[a-z][a-z0-9_]{0,63}$"), "an SELinux boolean name")
VG = (VG_NAME, "an LVM volume group name")
RESCUE_IMAGE = (IMAGE_NAME, 'an image name ("": the API\'s first)')
OPTIONAL_PATH = (re.compile(r"^(/[A-Za-z0-9._+@-][A-Za-z0-9._+@/-]*)?$"), 'an absolute path, or ""')
# The node exporter's textfile directory as Debian's package builds it (its default flag).
DEBIAN_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
METRICS_PORT = 9100  # the node exporter's own default port
# --------------------------------------------------- the cluster description
# hosts:<name>:role. An arbiter carries no guest: it holds the third, metadata-only
# brick of every volume (replica 3 arbiter 1), which gives gluster a majority.
ROLES = ("hypervisor", "arbiter")
DEFAULT_BRIDGES = {
    "wan": {"name": "brwan", "vpn_port": 1195, "public": True},
    "lan": {"name": "brlan", "vpn_port": 1194},
}
PUBLIC_DEFAULTS = {"prefix": 24, "dhcp": False}
RPN_DEFAULTS = {"dhcp": True, "mtu": 9000}
# A private network that is a VLAN on the public NIC (rpn:vlan, a Hetzner vSwitch):
# MTU 1400 and no DHCP server there.
RPN_VLAN_DEFAULTS = {"dhcp": False, "mtu": 1400}


def rpn_defaults(rpn):
    """The defaults of a host's ``rpn`` mapping: a VLAN's (with ``vlan``) or a NIC's."""
    return RPN_VLAN_DEFAULTS if isinstance(rpn, dict) and "vlan" in rpn else RPN_DEFAULTS


GUEST_DEFAULTS = {
    "vcpus": 1,
    "virt_type": "kvm",
    "running": True,
    "nics": [],
    "failover_ips": [],
    "boot": None,
    "anti_affinity": None,  # guests of one group run on different hosts while they can (B8)
    "backup": True,  # false: left out of the scheduled backups (B9)
}
BOOT_DEFAULTS = {"initrd": None, "cmdline": ""}
GUEST_MAC_PREFIX = "52:54:00"


def default_mac(guest, index):
    """A NIC's MAC when the pillar gives none: 52:54:00 and 3 bytes of sha256("<guest>:<index>")."""
    digest = hashlib.sha256(f"{guest}:{index}".encode()).hexdigest()
    return ":".join([GUEST_MAC_PREFIX, digest[0:2], digest[2:4], digest[4:6]])


QUORUM_TYPE = "cluster.quorum-type"


class Row(NamedTuple):
    """One pillar key under ``hypervisor:`` (hv_schema_alerts.ALERT_ROWS: under the master's ``alerts:``).

    kind: int, bool, str, path, names (a list of names), ints (a list of
    integers, each within ``bounds``), sources (IPv4 addresses or networks),
    args (command arguments), map (free keys, single values), fixed (the
    default's keys only, each of the default's type), rule (checked by a
    named rule only) or secret (a non-empty string no message shows: the
    alerts' credentials). ``pillar=False`` marks what only the OS family sets
    (OS_DEFAULTS holds each family's own values).
    """

    key: str
    default: object
    kind: str
    doc: str
    bounds: tuple = None
    choices: tuple = None
    pattern: tuple = None  # (compiled pattern, what a value must be)
    pillar: bool = True


def _names(text):
    return text.split()


DEBIAN_PKGS = {
    "admin_tools": _names(
        "acpid bash-completion htop iftop iptraf-ng iputils-ping man-db openssh-client patch pbzip2"
        " pciutils procps rsync screen strace sysstat tcpdump vim wget"
    ),
    # e2fsprogs: chattr and lsattr (libvirt.autostart); no longer "required" in Debian 13.
    "virt": _names("bridge-utils e2fsprogs libvirt-clients libvirt-daemon-system qemu-system-x86 qemu-utils"),
    "ksm": _names("ksmtuned logrotate"),
    "network": _names("arping iproute2 openvpn"),
    "firewall": _names("shorewall iptables"),
    "gluster": _names("glusterfs-server glusterfs-client xfsprogs lvm2"),
    "sanlock": _names("sanlock libvirt-sanlock"),
    # Installed only where hypervisor:metrics:enabled (salt/metrics/).
    "metrics": _names("prometheus-node-exporter"),
}
REDHAT_PKGS = {
    "admin_tools": _names(
        "acpid bash-completion htop iftop iptraf-ng iputils man-db openssh-clients patch pbzip2"
        " pciutils procps-ng rsync screen strace sysstat tcpdump vim-enhanced wget"
    ),
    "virt": _names("e2fsprogs libvirt qemu-kvm policycoreutils-python-utils"),
    "ksm": _names("qemu-kvm-common logrotate"),
    "network": _names("iproute NetworkManager openvpn"),
    "firewall": _names("shorewall iptables-nft"),
    "gluster": _names("glusterfs-server glusterfs-fuse xfsprogs lvm2"),
    "sanlock": _names("sanlock libvirt-daemon-driver-lock-sanlock"),
    # EPEL's build of Fedora's package (epel-release: repo_packages).
    "metrics": _names("golang-github-prometheus-node-exporter"),
}
# The packages whose change reboots a host in a rolling upgrade (upgrade.rolling, B9):
# the kernel, libvirt, qemu, gluster (the daemons, the FUSE client and their libraries)
# and sanlock. On Debian a new kernel ABI is a new package (linux-image-<abi>-amd64).
DEBIAN_REBOOT = _names(
    "linux-image-* libvirt-daemon* libvirt0 qemu-system-* glusterfs-* libglusterfs* libgf*"
    " sanlock libsanlock* libvirt-sanlock"
)
REDHAT_REBOOT = _names(
    "kernel kernel-core kernel-modules* libvirt-daemon* libvirt-libs qemu-kvm* glusterfs*"
    " libgfapi* libglusterfs* sanlock sanlock-lib"
)
# Every volume's bricks give a silent client (a dead or cut-off host) up within
# seconds (TCP keepalive and user timeout; gluster's own default waits 42 s to
# hours), so that the locks it held do not block the host that takes over.
_KEEPALIVE = {
    "network.ping-timeout": "5",
    "cluster.heal-timeout": "60",
    "server.tcp-user-timeout": "5",
    "server.keepalive-time": "2",
    "server.keepalive-interval": "1",
    "server.keepalive-count": "3",
}
VOLUMES = {
    "vmstore": {
        "mount": "/var/lib/libvirt/images",
        "size": "800G",
        "options": {
            **_KEEPALIVE,
            "network.frame-timeout": "300",
            "performance.stat-prefetch": "off",
            "performance.io-cache": "off",
            "performance.read-ahead": "off",
            "network.remote-dio": "enable",
            "cluster.eager-lock": "on",
        },
    },
    # Every host renews its lease in one file: no eager lock (it outlives its write
    # and would block the others' renewals while a cut host holds it).
    "sanlock": {
        "mount": "/var/lib/libvirt/sanlock",
        "size": "10G",
        "options": {**_KEEPALIVE, "network.frame-timeout": "10", "cluster.eager-lock": "off"},
    },
    "save": {
        "mount": "/var/lib/libvirt/qemu/save",
        "size": "50G",
        "options": {**_KEEPALIVE, "network.frame-timeout": "300"},
    },
}
KSM_SETTINGS = {
    "KSM_MONITOR_INTERVAL": 10,
    "KSM_SLEEP_MSEC": 5,
    "KSM_NPAGES_BOOST": 600,
    "KSM_NPAGES_DECAY": -200,
    "KSM_NPAGES_MIN": 64,
    "KSM_NPAGES_MAX": 4094,
    "KSM_THRES_COEF": 45,
    "KSM_THRES_CONST": 9144,
    "LOGFILE": "/var/log/ksmtuned.log",
    "DEBUG": 1,
}
_SYSCTL = {
    "vm.swappiness": 0,
    "vm.vfs_cache_pressure": 10000,
    "net.ipv6.conf.all.disable_ipv6": 1,
    "net.ipv6.conf.default.disable_ipv6": 1,
}
_COMPETING = _names("firewalld ufw nftables iptables ip6tables netfilter-persistent")
_UNITS_OFF = ["libvirtd-tcp.socket", "libvirtd-tls.socket", "libvirt-guests.service"]
_VIRT_SOCKETS = ["virtqemud.socket", "virtqemud-ro.socket", "virtqemud-admin.socket"]
_SELINUX = {
    "rsync_export_all_ro": True,
    "virt_use_fusefs": True,
    "virt_use_sanlock": True,
    "sanlock_use_fusefs": True,
}

ROWS = (
    Row("sysctl:file", "/etc/sysctl.d/90-hypervisor.conf", "path", "The sysctl file the settings go to."),
    Row(
        "sysctl:settings", _SYSCTL, "map", "Kernel settings; merged.", pattern=(SYSCTL_NAME, "a sysctl name")
    ),
    Row(
        "competing_firewalls",
        _COMPETING,
        "names",
        "Units stopped and masked: Shorewall is the only firewall.",
        pattern=UNIT,
    ),
    Row(
        "repo_packages",
        [],
        "names",
        "Packages that add the OS family's extra package sources.",
        pattern=PACKAGE,
    ),
    *(
        Row(f"pkgs:{part}", None, "names", f"The packages of the {part} part.", pattern=PACKAGE)
        for part in DEBIAN_PKGS
    ),
    Row("ksm:config_file", "/etc/ksmtuned.conf", "path", "ksmtuned's configuration file."),
    Row("ksm:logrotate_file", "/etc/logrotate.d/ksmtuned", "path", "The logrotate file of ksmtuned's log."),
    Row("ksm:services", ["ksmtuned"], "names", "The KSM units enabled.", pattern=UNIT),
    Row("ksm:settings", KSM_SETTINGS, "fixed", "ksmtuned's knobs (the how-to's tuning); each may be set."),
    Row("libvirt:service", "libvirtd", "str", "libvirt's daemon unit.", pattern=UNIT),
    Row("libvirt:socket", "libvirtd.socket", "str", "libvirt's socket unit.", pattern=UNIT_FILE),
    Row("libvirt:config_file", "/etc/libvirt/libvirtd.conf", "path", "libvirtd's configuration file."),
    Row("libvirt:args_file", "/etc/default/libvirtd", "path", "libvirtd's environment file."),
    Row(
        "libvirt:group",
        "libvirt",
        "str",
        "The group whose members (the admins) may use libvirt.",
        pattern=GROUP,
    ),
    Row("libvirt:socket_mode", "0770", "str", "The mode of libvirt's socket.", pattern=MODE),
    Row(
        "libvirt:host_uuid_source",
        "smbios",
        "str",
        "Where the host UUID comes from.",
        choices=("smbios", "machine-id"),
    ),
    Row(
        "libvirt:autostart_dir", "/etc/libvirt/qemu/autostart", "path", "Emptied: the cluster starts guests."
    ),
    Row(
        "libvirt:units_off",
        _UNITS_OFF,
        "names",
        "No listener; nothing starts guests behind the cluster.",
        pattern=UNIT_FILE,
    ),
    Row("selinux:enabled", False, "bool", "Whether the SELinux booleans are set."),
    Row("selinux:booleans", {}, "map", "SELinux booleans set on.", pattern=SELINUX_BOOLEAN),
    Row(
        "network:backend", "networkd", "str", "How NICs are declared.", choices=("networkd", "networkmanager")
    ),
    Row("network:networkd_dir", "/etc/systemd/network", "path", "systemd-networkd's directory."),
    Row("network:nm_dir", "/etc/NetworkManager/system-connections", "path", "NetworkManager's keyfiles."),
    Row("hosts_file", "/etc/hosts", "path", "The hosts file that names every host (F10)."),
    Row("tunnels:transport", "vxlan", "str", "How the bridges are joined.", choices=("vxlan", "openvpn")),
    Row("tunnels:vxlan_port", 4789, "int", "VXLAN's UDP port.", bounds=PORT_RANGE),
    Row(
        "tunnels:guest_mtu",
        GUEST_MTU,
        "int",
        "The MTU of the guest bridges, their VXLAN links and the guests' NICs; with vxlan,"
        f" every rpn:mtu is at least {VXLAN_OVERHEAD} more (a vSwitch's 1400: 1350).",
        bounds=GUEST_MTU_RANGE,
    ),
    Row("tunnels:openvpn_dir", "/etc/openvpn/hv", "path", "The OpenVPN tunnels' directory."),
    Row(
        "tunnels:openvpn_group",
        "nogroup",
        "str",
        "The group OpenVPN drops to once the tap is up.",
        pattern=GROUP,
    ),
    Row(
        "tunnels:openvpn_join_script",
        "/usr/local/sbin/hv-tunnel-join",
        "path",
        "Joins a tap to its bridge.",
        pattern=SCRIPT,
    ),
    Row("firewall:trusted", [], "sources", "Required: IPv4 addresses/networks allowed SSH (the master too)."),
    Row("firewall:ssh_port", 22, "int", "SSH's port.", bounds=PORT_RANGE),
    Row("firewall:monitoring_port", 10050, "int", "The monitoring agent's port.", bounds=PORT_RANGE),
    Row("firewall:monitoring_sources", [], "sources", "Who may reach the monitoring port; empty: trusted."),
    Row("firewall:wide_sources", False, "bool", "Allow trusted/monitoring networks wider than /8."),
    Row("firewall:log_level", "info", "str", "Shorewall's log level.", choices=LOG_LEVELS),
    Row(
        "firewall:rollback_after", 90, "int", "Seconds before the dead-man restores rules.", bounds=(30, 900)
    ),
    Row("firewall:outbound_tcp", [80, 443], "ints", "TCP ports the host may reach.", bounds=PORT_RANGE),
    Row("firewall:outbound_udp", [53, 123], "ints", "UDP ports the host may reach.", bounds=PORT_RANGE),
    Row("firewall:master_ports", [4505, 4506], "ints", "The Salt master's ports.", bounds=PORT_RANGE),
    Row("firewall:probe_ssh_from_master", True, "bool", "The master must reach SSH after a change."),
    Row("firewall:config_dir", "/etc/shorewall", "path", "Shorewall's directory."),
    Row(
        "firewall:state_dir",
        "/var/lib/hv-safe-apply",
        "path",
        "The safe apply's backups and marks.",
        pattern=STATE_DIR,
    ),
    Row(
        "migration:user", "root", "str", "Who migrations log in as.", pattern=(USERNAME, "a valid user name")
    ),
    Row(
        "failover:provider",
        "online",
        "str",
        "Whose API routes the failover IPs.",
        choices=("online", "hetzner"),
    ),
    Row("failover:poll_interval", 10, "int", "Seconds between two polls of the API.", bounds=(1, 3600)),
    Row("failover:request_timeout", 10, "int", "Seconds per HTTP request.", bounds=(1, 120)),
    Row("failover:retries", 3, "int", "Retries on 429, 5xx and broken connections only.", bounds=(0, 10)),
    Row("failover:move_spacing", 10, "int", "Seconds between two moves made from one host.", bounds=(0, 600)),
    Row("failover:confirm_timeout", 300, "int", "Seconds a move may take to show.", bounds=(1, 3600)),
    Row("failover:confirm_interval", 5, "int", "Seconds between two looks at a move.", bounds=(1, 60)),
    Row("failover:move_budget:moves", 4, "int", "At most this many moves of one IP...", bounds=(1, 100)),
    Row("failover:move_budget:window", 3600, "int", "...in this many seconds.", bounds=(60, 604800)),
    Row(
        "failover:move_budget:total",
        40,
        "int",
        "...and of all IPs from one host in that window (Hetzner Robot allows about 50 switches an hour).",
        bounds=(1, 1000),
    ),
    Row("failover:state_dir", "/var/lib/hv-failover", "path", "The moves' records.", pattern=STATE_DIR),
    Row(
        "failover:garp_command",
        [],
        "args",
        "Gratuitous ARP for an IP that arrives ({ip}, {interface}).",
        pattern=ARGUMENT,
    ),
    Row("gluster:service", "glusterd", "str", "gluster's daemon unit.", pattern=UNIT),
    Row("gluster:brick_root", "/mnt/bricks", "path", "Bricks live under <brick_root>/<volume>."),
    Row(
        "gluster:brick_hosts",
        [],
        "names",
        "The three hosts with guests that hold bricks (required past three without an arbiter).",
        pattern=HOST,
    ),
    Row(
        "gluster:tls",
        False,
        "bool",
        "Management and I/O over TLS (per-node certificates); set it when the cluster is built.",
    ),
    Row(
        "gluster:tls_dir",
        "/etc/ssl",
        "path",
        "Where glusterfs reads glusterfs.pem, .key and .ca: its OpenSSL's directory.",
    ),
    Row(
        "gluster:bricks:type", "directory", "str", "What a brick is.", choices=("directory", "lvm", "device")
    ),
    Row("gluster:bricks:vg", "", "str", "The LVM volume group (bricks:type lvm).", pattern=VG),
    Row("gluster:bricks:devices", {}, "rule", "A block device per volume (bricks:type device)."),
    Row("gluster:volumes", VOLUMES, "rule", "Replicated volumes: mount, size, options."),
    Row(
        "sanlock:use_watchdog", True, "bool", "wdmd resets a host whose leases it cannot renew; false: -w 0."
    ),
    Row("sanlock:lab_without_watchdog", False, "bool", "Lab only: takeover on without a watchdog (unsafe)."),
    Row("sanlock:watchdog_service", "wdmd", "str", "The watchdog daemon's unit.", pattern=UNIT),
    Row("sanlock:io_timeout", 2, "int", "Seconds; renewals every 2 x, failed after 8 x.", bounds=(1, 60)),
    Row(
        "sanlock:watchdog_fire_timeout", 60, "int", "Seconds from failed renewals to reset.", bounds=(10, 300)
    ),
    Row("sanlock:watchdog_fire_timeout_fixed", None, "int", "The OS's sanlock fixes it.", pillar=False),
    Row("sanlock:conf_file", "/etc/sanlock/sanlock.conf", "path", "sanlock's configuration file."),
    Row("sanlock:kill_grace", 10, "int", "Seconds a lease holder gets before SIGKILL (-g).", bounds=(0, 60)),
    Row(
        "sanlock:rejoin_script",
        "/usr/local/sbin/hv-sanlock-rejoin",
        "path",
        "Rejoins libvirt's lockspace.",
        pattern=SCRIPT,
    ),
    Row("sanlock:rejoin_interval", 5, "int", "Seconds between the rejoin script's looks.", bounds=(1, 60)),
    Row("sanlock:defaults_file", "/etc/default/sanlock", "path", "sanlock's environment file."),
    Row(
        "sanlock:cleanup_calendar",
        "daily",
        "str",
        "When virt-sanlock-cleanup runs (a systemd calendar).",
        pattern=CALENDAR,
    ),
    Row(
        "sanlock:cleanup_random_delay",
        "30min",
        "str",
        "Spread of the cleanup's start, per host.",
        pattern=TIMESPAN,
    ),
    Row("evacuation:parallel", 4, "int", "Guests migrated at a time.", bounds=(1, 16)),
    Row("evacuation:migrate_timeout", 120, "int", "Seconds before a save instead.", bounds=(10, 3600)),
    Row("placement:reserve_memory", 1024, "int", "MiB of each host kept from guests.", bounds=(0, 1048576)),
    Row("placement:memory_ratio", 100, "int", "Percent of the rest that guests may use.", bounds=(10, 200)),
    Row("placement:vcpu_ratio", 4, "int", "Guest vCPUs per host CPU, at most.", bounds=(1, 32)),
    Row("evacuation:peer_timeout", 5, "int", "Seconds for the peer's SSH port to answer.", bounds=(1, 60)),
    Row("evacuation:stop_timeout", 600, "int", "Seconds the shutdown unit may take.", bounds=(60, 3600)),
    Row("evacuation:auto_converge", True, "bool", "Throttle a guest whose memory changes too fast."),
    Row(
        "evacuation:postcopy", False, "bool", "Allow post-copy (a guest is lost if the link breaks mid-way)."
    ),
    Row("evacuation:bandwidth", 0, "int", "MiB/s per migration; 0: unlimited.", bounds=(0, 100000)),
    Row("evacuation:max_downtime", 100, "int", "Milliseconds of pause at the end.", bounds=(10, 10000)),
    Row(
        "evacuation:state_dir",
        "/var/lib/hv-evacuation",
        "path",
        "Drain mark, last result, settings copy.",
        pattern=STATE_DIR,
    ),
    Row(
        "evacuation:script",
        "/usr/local/sbin/hv-evacuate",
        "path",
        "The shutdown unit's script.",
        pattern=SCRIPT,
    ),
    Row("evacuation:unit", "hv-evacuate", "str", "The shutdown unit.", pattern=UNIT),
    Row("takeover:enabled", "auto", "rule", "auto: on with an arbiter; true needs one; false: never."),
    Row("takeover:poll_interval", 2, "int", "Seconds between two looks at the lockspace.", bounds=(1, 30)),
    Row("takeover:fence", True, "bool", "Rescue-boot and reboot the dead host's server through the API."),
    Row("takeover:rescue_image", "", "str", '"": the first the API lists.', pattern=RESCUE_IMAGE),
    Row("takeover:incidents_dir", "", "rule", '"": <save mount>/.hv-incidents; else under a mount.'),
    Row(
        "takeover:script",
        "/usr/local/sbin/hv-takeover",
        "path",
        "The takeover unit's script.",
        pattern=SCRIPT,
    ),
    Row("takeover:unit", "hv-takeover", "str", "The takeover unit.", pattern=UNIT),
    Row("keeper:enabled", True, "bool", "Guests come back by themselves (the keeper unit)."),
    Row(
        "keeper:poll_interval", 2, "int", "Seconds between two looks without a libvirt event.", bounds=(1, 30)
    ),
    Row(
        "keeper:max_restarts", 3, "int", "Restarts within restart_window, then left down...", bounds=(1, 100)
    ),
    Row("keeper:restart_window", 600, "int", "...(a crash loop), in seconds.", bounds=(60, 86400)),
    Row("keeper:stop_timeout", 120, "int", "Seconds guests.stop waits before destroying.", bounds=(0, 3600)),
    Row(
        "keeper:failover_grace",
        45,
        "int",
        "Seconds a guest's failover IPs may be routed away from its host; then it moves them (0: never).",
        bounds=(0, 3600),
    ),
    Row("keeper:dir", "", "rule", '"": <save mount>/.hv-keeper; else under a mount.'),
    Row("keeper:script", "/usr/local/sbin/hv-keeper", "path", "The keeper unit's script.", pattern=SCRIPT),
    Row("keeper:unit", "hv-keeper", "str", "The keeper unit.", pattern=UNIT),
    Row("backups:enabled", False, "bool", "Back the guests' disks up on schedule (B9, docs/backups.md)."),
    Row(
        "backups:target:path",
        "",
        "rule",
        "Where: <path>/<guest>/<UTC stamp>.qcow2; required when enabled; not where the disks are.",
    ),
    Row("backups:keep", 7, "int", "Complete backups kept per guest, the newest.", bounds=(1, 365)),
    Row(
        "backups:schedule",
        "*-*-* 03:00:00",
        "str",
        "When the scheduled backups run (a systemd calendar).",
        pattern=CALENDAR,
    ),
    Row(
        "backups:guests",
        [],
        "names",
        "The guests backed up; empty: every guest (but those with backup: false).",
        pattern=(NAME, "a guest name"),
    ),
    Row("backups:freeze", True, "bool", "Freeze a running guest's file systems through its agent."),
    Row("backups:timeout", 21600, "int", "Seconds a backup job may run, then aborted.", bounds=(60, 172800)),
    Row(
        "backups:state_dir",
        "/var/lib/hv-backup",
        "path",
        "Each guest's last result (for the metrics).",
        pattern=STATE_DIR,
    ),
    Row(
        "upgrade:reboot_packages",
        [],
        "names",
        "upgrade.rolling reboots a host when one of these packages (globs) changed.",
        pattern=PACKAGE_GLOB,
    ),
    Row(
        "upgrade:poll_interval",
        10,
        "int",
        "Seconds between two looks while upgrade.rolling waits.",
        bounds=(1, 60),
    ),
    Row("upgrade:timeouts:drain", 1800, "int", "Seconds guests.drain may take.", bounds=(60, 86400)),
    Row("upgrade:timeouts:upgrade", 3600, "int", "Seconds pkg.upgrade may take.", bounds=(60, 86400)),
    Row(
        "upgrade:timeouts:back", 900, "int", "Seconds a rebooted host has to answer again.", bounds=(60, 7200)
    ),
    Row(
        "upgrade:timeouts:lockspace",
        600,
        "int",
        "Seconds for its sanlock lockspace joined.",
        bounds=(30, 7200),
    ),
    Row("upgrade:timeouts:quorum", 600, "int", "Seconds for its quorum.", bounds=(30, 7200)),
    Row(
        "upgrade:timeouts:heal",
        7200,
        "int",
        "Seconds for every volume healed (0 entries).",
        bounds=(60, 604800),
    ),
    Row("upgrade:timeouts:undrain", 1800, "int", "Seconds guests.undrain may take.", bounds=(60, 86400)),
    Row(
        "metrics:enabled",
        False,
        "bool",
        "Write the cluster's metrics for the node exporter's textfile collector (docs/metrics.md).",
    ),
    Row(
        "metrics:textfile_dir",
        DEBIAN_TEXTFILE_DIR,
        "path",
        "The textfile collector's directory: hv.prom is written there.",
        pattern=STATE_DIR,
    ),
    Row(
        "metrics:interval",
        30,
        "int",
        "Seconds between two writes (the minion's scheduler).",
        bounds=(10, 3600),
    ),
    Row(
        "metrics:listen_port",
        METRICS_PORT,
        "int",
        "The node exporter's TCP port, open to firewall:monitoring_sources.",
        bounds=PORT_RANGE,
    ),
    Row("metrics:service", "prometheus-node-exporter", "str", "The node exporter's unit.", pattern=UNIT),
    Row(
        "metrics:args_file",
        "/etc/default/prometheus-node-exporter",
        "path",
        "The node exporter's environment file: its ARGS hold the flags that differ from its defaults.",
    ),
    Row(
        "metrics:packaged_textfile_dir",
        "",
        "str",
        'The textfile directory the package\'s node exporter reads by default ("": unknown, always passed).',
        pattern=OPTIONAL_PATH,
    ),
    Row(
        "pools", {"iso": {"path": "/var/lib/libvirt/images/iso"}}, "rule", "libvirt dir pools: name: {path}."
    ),
    Row(
        "python:pip",
        ["libvirt-python==12.8.0"],
        "names",
        "Installed with pip when Salt has its own Python.",
        pattern=REQUIREMENT,
    ),
    Row("python:os_pkgs", [], "names", "Installed when Salt runs on the system Python.", pattern=PACKAGE),
    Row("python:build_pkgs", [], "names", "What pip needs to build them.", pattern=PACKAGE),
)
# What an OS family has other than the default, by key (pkgs:* has no default).
OS_DEFAULTS = {
    "Debian": {
        **{f"pkgs:{part}": names for part, names in DEBIAN_PKGS.items()},
        "failover:garp_command": ["arping", "-U", "-S", "{ip}", "-c", "1", "-i", "{interface}", "{ip}"],
        "sanlock:watchdog_fire_timeout_fixed": 60,
        "gluster:tls_dir": "/usr/lib/ssl",  # Debian's OpenSSL directory, where its glusterfs looks
        "python:os_pkgs": ["python3-libvirt"],
        "python:build_pkgs": ["gcc", "pkg-config", "libvirt-dev", "python3-dev"],
        "upgrade:reboot_packages": DEBIAN_REBOOT,
        "metrics:packaged_textfile_dir": DEBIAN_TEXTFILE_DIR,
    },
    "RedHat": {
        "tunnels:openvpn_group": "nobody",
        "repo_packages": ["epel-release", "centos-release-gluster10"],
        **{f"pkgs:{part}": names for part, names in REDHAT_PKGS.items()},
        "ksm:services": ["ksm", "ksmtuned"],
        "libvirt:args_file": "/etc/sysconfig/libvirtd",
        "libvirt:units_off": _UNITS_OFF + _VIRT_SOCKETS + ["virtstoraged.socket", "virtnetworkd.socket"],
        "selinux:enabled": True,
        "selinux:booleans": _SELINUX,
        "network:backend": "networkmanager",
        "failover:garp_command": ["arping", "-U", "-c", "1", "-I", "{interface}", "{ip}"],
        "sanlock:defaults_file": "/etc/sysconfig/sanlock",
        "python:os_pkgs": ["python3-libvirt"],
        "python:build_pkgs": ["gcc", "pkgconf-pkg-config", "libvirt-devel", "python3-devel"],
        "upgrade:reboot_packages": REDHAT_REBOOT,
    },
}
# What a major release has other than its family, by key (issue 22: Debian 13 is being
# brought in; each entry says what moved there).
RELEASE_DEFAULTS = {
    ("Debian", 13): {
        # sanlock 3.9 reads watchdog_fire_timeout from sanlock.conf: no longer fixed at 60.
        # The manual's pairing for io_timeout 2 (the default): 10, so a dead host's leases
        # are free 8 x 2 + 10 = 26 s after its last renewal (docs/takeover.md: why). A
        # lease holder that lost its lease gets SIGKILL at once (sanlock's own default
        # below a 30 s fire timeout): on SIGTERM qemu releases its image locks through
        # the cut glusterfs mount, and glusterfs 11 can hang it there for good.
        "sanlock:watchdog_fire_timeout_fixed": None,
        "sanlock:watchdog_fire_timeout": 10,
        "sanlock:kill_grace": 0,
        # trixie's glusterfs reads its TLS files in /etc/ssl again (a Debian patch).
        "gluster:tls_dir": "/etc/ssl",
        # libvirt-sanlock is a transitional package in trixie.
        "pkgs:sanlock": _names("sanlock libvirt-daemon-plugin-sanlock"),
    },
}
BY_KEY = {row.key: row for row in ROWS}
# Each host's private network (hosts:<name>:rpn), for the reference: the cluster description
# has no defaults tree, its rules (hv_rules_hosts) check these keys.
RPN_ROWS = (
    Row(
        "hosts:<name>:rpn:interface",
        None,
        "str",
        "Required: the NIC's name; with vlan, the name of the VLAN link the states make (no dot: vlan4000).",
        pattern=(IFNAME, "an interface name"),
    ),
    Row(
        "hosts:<name>:rpn:mac",
        None,
        "str",
        "Required without vlan: the NIC's MAC, which finds it. Refused with vlan (the VLAN has the"
        " public NIC's).",
        pattern=(MAC, "a MAC address"),
    ),
    Row(
        "hosts:<name>:rpn:address",
        None,
        "str",
        "Required: its IPv4 address/prefix, every host's in one subnet.",
    ),
    Row(
        "hosts:<name>:rpn:dhcp",
        RPN_DEFAULTS["dhcp"],
        "bool",
        f"The provider's DHCP hands the address out; with vlan the default is {RPN_VLAN_DEFAULTS['dhcp']}"
        " (a vSwitch has no DHCP).",
    ),
    Row(
        "hosts:<name>:rpn:mtu",
        RPN_DEFAULTS["mtu"],
        "int",
        f"The link's MTU; with vlan the default is {RPN_VLAN_DEFAULTS['mtu']} (a Hetzner vSwitch's)."
        f" With vxlan, at least tunnels:guest_mtu + {VXLAN_OVERHEAD}.",
        bounds=MTU_RANGE,
    ),
    Row(
        "hosts:<name>:rpn:vlan",
        None,
        "int",
        "The private network is this VLAN of the public NIC (public:interface), a link named"
        " rpn:interface: a Hetzner vSwitch (its ids: 4000..4091). Unset: a NIC of its own.",
        bounds=VLAN_RANGE,
    ),
)
# What a message calls the items of a list of strings, where not names.
LIST_ITEMS = {
    "sources": "IPv4 addresses or networks",
    "args": "command arguments (strings)",
    "names": "names",
}


def path_of(key):
    """A row's key as a tuple."""
    return tuple(key.split(":"))


def _set(tree, path, value):
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = copy.deepcopy(value)


def defaults(os_family, release=None):
    """The ``hypervisor`` defaults for ``os_family`` (Debian or RedHat) and its major
    ``release`` (grain ``osmajorrelease``; None: the family's reference release), as a
    nested mapping: the rows' defaults, the family's, then the release's."""
    if os_family not in OS_FAMILIES:
        raise ValueError(f"OS family {os_family!r} is not supported ({', '.join(OS_FAMILIES)})")
    layered = {**OS_DEFAULTS[os_family], **RELEASE_DEFAULTS.get((os_family, _major(release)), {})}
    tree = {}
    for row in ROWS:
        _set(tree, path_of(row.key), layered.get(row.key, row.default))
    return tree


def _major(release):
    """A major release as an int (the grain may be a string), or None."""
    try:
        return int(release)
    except (TypeError, ValueError):
        return None


def row_at(path):
    """The row of ``path`` (a tuple under ``hypervisor``), or None."""
    return BY_KEY.get(":".join(map(str, path)))


def children(path):
    """The keys one level below ``path`` among the rows (a section's keys), or None when none."""
    depth = len(path)
    found = [p[depth] for p in map(path_of, BY_KEY) if len(p) > depth and p[:depth] == tuple(path)]
    return list(dict.fromkeys(found)) or None
