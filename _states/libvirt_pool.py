"""
libvirt ``dir`` storage pools, defined, started and autostarted (F16).

.. code-block:: yaml

    libvirt-pool-iso-running:
      libvirt_pool.running:
        - name: iso
        - path: /var/lib/libvirt/images/iso

A pool that exists with another target path is reported, never redefined.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "libvirt_pool"


def __virtual__():
    if "libvirt_pool.info" in __salt__:
        return __virtualname__
    return (False, "the libvirt_pool execution module is not available")


def running(name, path):
    """Ensure ``dir`` pool ``name`` at ``path`` is defined, active and autostarted."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        current = __salt__["libvirt_pool.info"](name)
        if current and current["path"] != path:
            ret["result"] = False
            ret["comment"] = f"pool {name} exists with path {current['path']}, not {path}: left as it is"
            return ret
        todo = []
        if not current:
            todo = ["defined", "started", "autostart"]
        else:
            todo += [] if current["active"] else ["started"]
            todo += [] if current["autostart"] else ["autostart"]
        if not todo:
            ret["comment"] = f"pool {name} is defined, active and autostarted"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"would": todo}
            ret["comment"] = f"pool {name} would be: {', '.join(todo)}"
            return ret
        done = __salt__["libvirt_pool.ensure_running"](name, path)
        after = __salt__["libvirt_pool.info"](name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"done": done}
    ret["result"] = bool(after and after["active"] and after["autostart"])
    ret["comment"] = f"pool {name}: {', '.join(done)}"
    return ret
