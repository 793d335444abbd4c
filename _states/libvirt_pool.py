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

WANTED = {"defined": True, "active": True, "autostart": True}
VERBS = {"defined": "define", "active": "start", "autostart": "autostart"}


def __virtual__():
    if "libvirt_pool.info" in __salt__:
        return __virtualname__
    return (False, "the libvirt_pool execution module is not available")


def _status(info):
    """What ``running`` looks at, from ``libvirt_pool.info`` (None: not defined)."""
    if not info:
        return {"defined": False, "active": False, "autostart": False}
    return {"defined": True, "active": info["active"], "autostart": info["autostart"]}


def running(name, path):
    """Ensure ``dir`` pool ``name`` at ``path`` is defined, active and autostarted."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        current = __salt__["libvirt_pool.info"](name)
        if current and current["path"] != path:
            ret["result"] = False
            ret["comment"] = f"pool {name} exists with path {current['path']}, not {path}: left as it is"
            return ret
        old = _status(current)
        if old == WANTED:
            ret["comment"] = f"pool {name} is defined, active and autostarted"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": old, "new": dict(WANTED)}
            todo = [VERBS[key] for key, value in old.items() if not value]
            ret["comment"] = f"would {', '.join(todo)} pool {name}"
            return ret
        done = __salt__["libvirt_pool.ensure_running"](name, path)
        new = _status(__salt__["libvirt_pool.info"](name))
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"old": old, "new": new}
    if new != WANTED:
        ret["result"] = False
        missing = ", ".join(key for key, value in new.items() if not value)
        ret["comment"] = f"pool {name}: {', '.join(done) or 'nothing done'}; still not {missing}"
    else:
        ret["comment"] = f"pool {name}: {', '.join(done)}"
    return ret
