"""
The disk lockspace this host must have joined before it can take a guest (F14).

.. code-block:: yaml

    sanlock-lockspace-joined:
      sanlock.lockspace_joined:
        - name: __LIBVIRT__DISKS__
        - host_id: 1
        - path: /var/lib/libvirt/sanlock/__LIBVIRT__DISKS__

libvirtd joins it when it starts; sanlock drops it when its storage was lost
too long and does not come back by itself. This state joins it when missing
(waiting while a join is under way), so a highstate is green only on a host
that can take guests.
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "sanlock"


def __virtual__():
    if "sanlock.status" in __salt__:
        return __virtualname__
    return (False, "the sanlock execution module is not available")


def _lockspace(name):
    state = __salt__["sanlock.status"]()
    found = next((ls for ls in state["lockspaces"] if ls["name"] == name), None)
    return state, found


def _settled(name, timeout):
    """The lockspace once no join or leave is under way (None if not listed)."""
    deadline = time.monotonic() + timeout
    while True:
        state, found = _lockspace(name)
        if found is None or found["state"] == "joined" or time.monotonic() > deadline:
            return state, found
        time.sleep(1)


def lockspace_joined(name, host_id, path, io_timeout=None, timeout=300):
    """Ensure lockspace ``name`` is joined as ``host_id`` with its file at ``path``
    (with ``io_timeout`` seconds, when given: every host of it must use the same)."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        state, found = _settled(name, timeout)
        if state["daemon"] is None:
            ret["result"] = False
            ret["comment"] = f"the sanlock daemon is not running: {state.get('error', '')}".strip()
            return ret
        if found and found["state"] == "joined" and found["host_id"] == int(host_id):
            ret["comment"] = f"lockspace {name} is joined as host {host_id}"
            return ret
        if found and found["host_id"] != int(host_id):
            ret["result"] = False
            ret["comment"] = f"lockspace {name} is joined as host {found['host_id']}, not {host_id}"
            return ret
        if found:
            ret["result"] = False
            doing = "joined" if found["state"] == "ADD" else "left"
            ret["comment"] = f"lockspace {name} is still being {doing} after {timeout}s"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": "not joined", "new": f"joined as host {host_id}"}
            ret["comment"] = f"lockspace {name} is not joined: would join it as host {host_id}"
            return ret
        __salt__["sanlock.join_lockspace"](name, host_id, path, io_timeout=io_timeout)
        _state, found = _settled(name, timeout)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = f"lockspace {name} is not joined and joining failed: {exc}"
        return ret
    joined = bool(found and found["state"] == "joined")
    ret["result"] = joined
    ret["changes"] = {"old": "not joined", "new": f"joined as host {host_id}"} if joined else {}
    ret["comment"] = f"lockspace {name} {'re' if joined else 'not '}joined as host {host_id}"
    return ret
