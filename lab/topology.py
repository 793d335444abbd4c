"""What the lab looks like, read from the embedded default pillar.

The lab hosts, their MACs and addresses come from ``pillar/hypervisor.sls`` so
that the lab and the pillar can never disagree.
"""

import dataclasses
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("HVLAB_DIR", "/var/lib/hvlab"))
PREFIX = "hvlab-"
SWITCH_NS = PREFIX + "sw"
MASTER_NS = PREFIX + "master"
MASTER_IP = "203.0.113.1"
PUBLIC_PREFIXLEN = 24
RPN_MTU = 9000


@dataclasses.dataclass(frozen=True)
class Host:
    """One lab hypervisor."""

    name: str
    public_if: str
    public_ip: str
    rpn_if: str
    rpn_mac: str

    @property
    def netns(self):
        return PREFIX + self.name


def hosts(pillar_file=REPO / "pillar" / "hypervisor.sls"):
    """The lab hosts, in name order."""
    data = yaml.safe_load(pillar_file.read_text())["hypervisor"]["hosts"]
    return [
        Host(
            name=name,
            public_if=h["public"]["interface"],
            public_ip=h["public"]["address"],
            rpn_if=h["rpn"]["interface"],
            rpn_mac=h["rpn"]["mac"],
        )
        for name, h in sorted(data.items())
    ]
