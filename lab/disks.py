"""Loop devices standing for the block devices a lab host's pillar names.

A host whose bricks are of type ``device`` gets, for each device path of its
pillar, a sparse file under ``STATE/disks/<host>/`` attached to a free loop
device on this machine and bound into the container at that path; plus one
spare device (topology.SPARE_DEVICE) that tests may write anything to. Loop
devices are this machine's: each one attached here is detached by
``detach_all``, found by its backing file, never by a guess.
"""

import json
from pathlib import Path

from . import system
from .topology import STATE

DISKS = STATE / "disks"
SIZE = "1G"  # sparse; XFS needs 300 MiB at least


def attach(host, fresh=True):
    """Disks for ``host``: ``[(loop device, path in the host), …]``; blank ones when
    ``fresh``, else the ones it had (a host booted again after a power-off)."""
    pairs = []
    folder = DISKS / host.name
    folder.mkdir(parents=True, exist_ok=True)
    for path in host.devices:
        backing = folder / (path.strip("/").replace("/", "_") + ".img")
        kept = [] if fresh else _loops_of(backing)
        if kept and backing.exists():
            pairs.append((kept[0], path))
            continue
        for loop in _loops_of(backing):
            system.run("losetup", "--detach", loop)
        if fresh:
            backing.unlink(missing_ok=True)
        if not backing.exists():
            system.run("truncate", "--size", SIZE, backing)
        loop = system.run("losetup", "--find", "--show", backing, capture=True).strip()
        pairs.append((loop, path))
    return pairs


def _attached():
    out = system.run("losetup", "--list", "--json", "--output", "NAME,BACK-FILE", capture=True)
    rows = json.loads(out or '{"loopdevices": []}')["loopdevices"]
    return [(row["name"], (row.get("back-file") or "").removesuffix(" (deleted)")) for row in rows]


def _loops_of(backing):
    return [name for name, back in _attached() if back == str(backing)]


def detach_all():
    """Detach every loop device backed by a lab disk, then delete the disks."""
    prefix = str(DISKS) + "/"
    for name, back in _attached():
        if back.startswith(prefix):
            system.run("losetup", "--detach", name, check=False)
    system.remove_tree(DISKS)


def loops():
    """The loop devices attached to lab disks now (for status and tests)."""
    prefix = str(DISKS) + "/"
    return {Path(back).name: name for name, back in _attached() if back.startswith(prefix)}
