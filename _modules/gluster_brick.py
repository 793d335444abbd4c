"""
The file systems under gluster bricks (F13): probe, format when blank, check mounted.

A brick of type ``device`` or ``lvm`` is an XFS file system mounted at
``<brick_root>/<volume>``; the brick is its ``brick`` subdirectory. A device
is formatted only when ``blkid -p`` finds no signature at all on it: a device
that carries a file system, a partition table, an LVM or RAID member … is
never formatted here, whatever it holds.
"""

import logging
import os
import stat

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "gluster_brick"

BLKID_NOTHING_FOUND = 2
BLKID_AMBIVALENT = 8


def __virtual__():
    return __virtualname__


def parse_blkid_export(text):
    """``blkid -p -o export``: ``{"TYPE": "xfs", "LABEL": …}``."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _run(cmd):
    return __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True, output_loglevel="debug")


def probe(device):
    """
    What is on ``device``: ``{"blank": bool, "type": "xfs"|…|None, "found": {...}}``.

    ``blank`` only when the low-level probe finds no signature of any kind.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_brick.probe /dev/sdb
    """
    try:
        mode = os.stat(device).st_mode
    except FileNotFoundError:
        raise CommandExecutionError(f"{device} does not exist") from None
    if not stat.S_ISBLK(mode):
        raise CommandExecutionError(f"{device} is not a block device")
    ret = _run(["blkid", "-p", "-o", "export", device])
    # blkid also exits 2 when it cannot read the device (and says so): not blank.
    if ret["retcode"] == BLKID_NOTHING_FOUND and not ret["stderr"].strip():
        return {"blank": True, "type": None, "found": {}}
    if ret["retcode"] == BLKID_AMBIVALENT:
        return {"blank": False, "type": "several signatures", "found": {}}
    if ret["retcode"] != 0:
        raise CommandExecutionError(f"blkid -p {device}: {(ret['stderr'] or ret['stdout']).strip()}")
    found = parse_blkid_export(ret["stdout"])
    kind = found.get("TYPE") or (f"{found['PTTYPE']} partition table" if "PTTYPE" in found else "unknown")
    return {"blank": False, "type": kind, "found": found}


def format_xfs(device, label):
    """
    Make the brick file system (XFS, ``-i size=512``) on a blank ``device``;
    refuse a device that carries anything. Returns the type found after.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_brick.format_xfs /dev/sdb vmstore
    """
    found = probe(device)
    if not found["blank"]:
        raise CommandExecutionError(f"{device} carries {found['type']}: it is never formatted")
    ret = _run(["mkfs.xfs", "-q", "-i", "size=512", "-L", label, device])
    if ret["retcode"] != 0:
        raise CommandExecutionError(f"mkfs.xfs {device}: {(ret['stderr'] or ret['stdout']).strip()}")
    return probe(device)["type"]


def is_mounted(path):
    """
    Whether ``path`` is a mount point (a brick file system that is there).

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_brick.is_mounted /mnt/bricks/vmstore
    """
    return os.path.ismount(path)
