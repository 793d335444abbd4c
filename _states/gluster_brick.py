"""
Brick file systems and brick directories (F13).

.. code-block:: yaml

    gluster-brick-vmstore-xfs:
      gluster_brick.formatted:
        - name: /dev/sdb
        - label: vmstore

    gluster-brick-vmstore-ready:
      gluster_brick.ready:
        - name: /mnt/bricks/vmstore/brick
        - mount_point: /mnt/bricks/vmstore

``formatted`` formats a blank device only; a device with XFS is kept as it is,
one with anything else fails the state and is left untouched. ``ready``
creates the brick directory only where the brick file system is mounted.
"""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "gluster_brick"


def __virtual__():
    if "gluster_brick.probe" in __salt__:
        return __virtualname__
    return (False, "the gluster_brick execution module is not available")


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def formatted(name, label):
    """Ensure block device ``name`` carries XFS, formatting it only when blank."""
    ret = _ret(name)
    try:
        found = __salt__["gluster_brick.probe"](name)
        if found["type"] == "xfs":
            ret["comment"] = f"{name} already carries XFS: kept as it is"
            return ret
        if not found["blank"]:
            ret["result"] = False
            ret["comment"] = (
                f"{name} carries {found['type']}, not XFS: never formatted by Salt. If it is really "
                "free, wipe it yourself (wipefs -a) and apply again"
            )
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": "blank", "new": "xfs"}
            ret["comment"] = f"{name} is blank: would be formatted XFS (label {label})"
            return ret
        made = __salt__["gluster_brick.format_xfs"](name, label)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"old": "blank", "new": made}
    ret["result"] = made == "xfs"
    ret["comment"] = (
        f"{name} formatted XFS (label {label})"
        if made == "xfs"
        else f"mkfs.xfs ran on {name}, which reads back as {made}"
    )
    return ret


def ready(name, mount_point=None):
    """Ensure brick directory ``name`` exists; with ``mount_point``, only on
    the mounted brick file system (an unmounted one is refused)."""
    ret = _ret(name)
    mounted = mount_point is None or __salt__["gluster_brick.is_mounted"](mount_point)
    if os.path.isdir(name) and mounted:
        ret["comment"] = f"brick directory {name} is present"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"old": None, "new": name}
        where = "" if mounted else f" once its file system is mounted at {mount_point}"
        ret["comment"] = f"brick directory {name} would be created{where}"
        return ret
    if not mounted:
        ret["result"] = False
        ret["comment"] = (
            f"{mount_point} should be the mount point of the brick file system and is not: "
            f"nothing is created under it (it would land on the root file system)"
        )
        return ret
    os.makedirs(name, exist_ok=True)
    ret["changes"] = {"old": None, "new": name}
    ret["comment"] = f"brick directory {name} created"
    return ret
