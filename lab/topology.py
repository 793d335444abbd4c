"""What the lab looks like, read from its pillar.

The lab hosts, their MACs, addresses and brick devices come from the pillar
(``pillar/hypervisor.sls``, or the file named by ``HVLAB_PILLAR``) so that the
lab and the pillar can never disagree. ``HVLAB_DIR`` and ``HVLAB_PREFIX`` give
a second lab its own state directory and namespace names (it shares the image
cache, ``HVLAB_CACHE``).
"""

import dataclasses
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("HVLAB_DIR", "/var/lib/hvlab"))
# The image and test guest caches, shared by every lab on this machine.
CACHE = Path(os.environ.get("HVLAB_CACHE", "/var/lib/hvlab"))
PILLAR = Path(os.environ.get("HVLAB_PILLAR", REPO / "pillar" / "hypervisor.sls"))
PREFIX = os.environ.get("HVLAB_PREFIX", "hvlab-")
# The Debian release of the lab's hosts (``make lab LAB_RELEASE=bookworm``): its
# codename and major version (the grain osmajorrelease).
RELEASES = {"trixie": 13, "bookworm": 12}
RELEASE = os.environ.get("LAB_RELEASE") or "trixie"
if RELEASE not in RELEASES:
    raise SystemExit(f"LAB_RELEASE={RELEASE!r}: the lab knows {', '.join(RELEASES)}")
SWITCH_NS = PREFIX + "sw"
MASTER_NS = PREFIX + "master"
MASTER_IP = "203.0.113.1"
# More machines on the public segment, plugged into the switch like the master:
# a trusted admin workstation, an untrusted stranger, and the public gateway the
# pillar names (it routes nothing: no forwarding, no route out of the lab).
ADMIN_NS = PREFIX + "admin"
ADMIN_IP = "203.0.113.2"
STRANGER_NS = PREFIX + "stranger"
STRANGER_IP = "203.0.113.3"
GATEWAY_NS = PREFIX + "gw"
GATEWAY_IP = "203.0.113.254"
PUBLIC_PREFIXLEN = 24
RPN_MTU = 9000
# A blank device given to every host with device bricks, for tests to use.
SPARE_DEVICE = "/dev/hvlab-spare"


@dataclasses.dataclass(frozen=True)
class Host:
    """One lab host: a hypervisor, or the arbiter."""

    name: str
    public_if: str
    public_ip: str
    rpn_if: str
    rpn_mac: str
    devices: tuple = ()
    role: str = "hypervisor"  # or "arbiter": gluster only, no guests

    @property
    def netns(self):
        return PREFIX + self.name


def _devices(cluster, host):
    """The block devices the host's bricks stand on (type device), and a spare."""
    bricks = dict((cluster.get("gluster") or {}).get("bricks") or {}, **(host.get("bricks") or {}))
    if bricks.get("type") != "device":
        return ()
    return (*sorted(bricks.get("devices", {}).values()), SPARE_DEVICE)


def hosts(pillar_file=None):
    """The lab hosts, in name order."""
    cluster = yaml.safe_load(Path(pillar_file or PILLAR).read_text())["hypervisor"]
    vlans = sorted(name for name, h in cluster["hosts"].items() if "vlan" in h["rpn"])
    if vlans:
        raise SystemExit(
            f"lab pillar: {', '.join(vlans)} name rpn:vlan, a vSwitch: this machine's kernel has no"
            " 802.1Q VLANs (CONFIG_VLAN_8021Q unset, no modules); give the lab hosts a private"
            " cable (rpn:interface and mac) at the vSwitch's MTU instead"
        )
    return [
        Host(
            name=name,
            public_if=h["public"]["interface"],
            public_ip=h["public"]["address"],
            rpn_if=h["rpn"]["interface"],
            rpn_mac=h["rpn"]["mac"],
            devices=_devices(cluster, h),
            role=h.get("role", "hypervisor"),
        )
        for name, h in sorted(cluster["hosts"].items())
    ]


# What the states default to when the pillar names no bridges (DEFAULT_BRIDGES
# in _modules/hypervisor_pillar.py): the wan bridge is the public one.
DEFAULT_BRIDGES = {"wan": {"name": "brwan", "public": True}, "lan": {"name": "brlan", "public": False}}


def bridges(pillar_file=None):
    """The guest bridges: ``{net: {"name": ..., "public": bool}}``."""
    cluster = yaml.safe_load(Path(pillar_file or PILLAR).read_text())["hypervisor"]
    if "bridges" not in cluster:
        return {net: dict(b) for net, b in DEFAULT_BRIDGES.items()}
    return {
        net: {"name": b["name"], "public": bool(b.get("public", False))}
        for net, b in sorted((cluster["bridges"] or {}).items())
    }


def public_bridge(pillar_file=None):
    """The name of the public ("wan") bridge, or None when no bridge is public."""
    return next((b["name"] for b in bridges(pillar_file).values() if b["public"]), None)
