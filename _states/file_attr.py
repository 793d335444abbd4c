"""
Linux file attributes (chattr) on a directory.

.. code-block:: yaml

    libvirt-autostart-dir-immutable:
      file_attr.immutable:
        - name: /etc/libvirt/qemu/autostart

F8: an immutable autostart directory makes ``virsh autostart`` fail instead of
starting a guest behind the cluster's back.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "file_attr"


def __virtual__():
    return __virtualname__


def _immutable(name):
    # file.lsattr lists a directory's entries, not the directory: lsattr -d.
    ret = __salt__["cmd.run_all"](["lsattr", "-d", name], python_shell=False, ignore_retcode=True)
    if ret["retcode"] != 0:
        raise CommandExecutionError(f"lsattr -d {name}: {ret['stderr'].strip()}")
    return "i" in ret["stdout"].split()[0]


def immutable(name):
    """Ensure ``name`` carries the immutable attribute (``chattr +i``)."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        if _immutable(name):
            ret["comment"] = f"{name} is immutable"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": "mutable", "new": "immutable"}
            ret["comment"] = f"{name} would be made immutable"
            return ret
        __salt__["file.chattr"](name, operator="add", attributes="i")
        done = _immutable(name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["result"] = done
    ret["changes"] = {"old": "mutable", "new": "immutable"} if done else {}
    ret["comment"] = f"{name} made immutable" if done else f"chattr +i {name} did not take"
    return ret
