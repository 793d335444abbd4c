"""
A mount point that hides nothing (F13: gluster volumes mounted over directories).

.. code-block:: yaml

    gluster-mount-vmstore-point-safe:
      mount_point.free:
        - name: /var/lib/libvirt/images

Mounting over a directory that holds files hides them: the state fails
instead, and says what to do.
"""

import os

__virtualname__ = "mount_point"


def __virtual__():
    return __virtualname__


def free(name):
    """``name`` is already a mount point, or missing, or an empty directory."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if os.path.ismount(name):
        ret["comment"] = f"{name} is a mount point"
    elif not os.path.exists(name) or (os.path.isdir(name) and not os.listdir(name)):
        ret["comment"] = f"{name} holds nothing: a mount there hides nothing"
    else:
        ret["result"] = False
        ret["comment"] = f"{name} holds files and is not a mount point: move them away first"
    return ret
