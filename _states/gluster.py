"""
GlusterFS states: peers, volumes, their start and their options (F13).

Each state reads the current state through the ``gluster`` execution module,
returns at once when it is already right, predicts without touching anything
under ``test=True``, acts, then reads again. None of them ever deletes or
replaces a volume or a brick: a volume that exists with other bricks is a
failure to look at, not something to "fix".

.. code-block:: yaml

    gluster-peer-hyp2-peered:
      gluster.peered:
        - name: hyp2

    gluster-volume-vmstore-present:
      gluster.volume_present:
        - name: vmstore
        - bricks: [hyp1:/mnt/bricks/vmstore/brick, hyp2:/mnt/bricks/vmstore/brick]
        - replica: 2
        - force: true
"""

import logging
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "gluster"
# A probed host is a member once both glusterds agree: then it has every volume's
# definition too (a volume set or started before that fails staging on it).
IN_CLUSTER = "Peer in Cluster"
JOIN_TIMEOUT = 60  # seconds for a probed host to reach IN_CLUSTER


def __virtual__():
    if "gluster.volume_info" in __salt__:
        return __virtualname__
    return (False, "the gluster execution module is not available")


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _names(peer):
    """A peer's names, each also without its domain: a host that probed this one
    is listed by the name this one resolved it to (``hyp1.lab.example``)."""
    return {n for h in (peer["hostname"], *peer["hostnames"]) for n in (h, h.split(".")[0])}


def _find(peers, name):
    return next((p for p in peers if name in _names(p)), None)


def _member(peer):
    return peer is not None and peer["connected"] and peer["state"] == IN_CLUSTER


def _joined(name, timeout=JOIN_TIMEOUT):
    """``name``'s entry once it is a connected member (or the last seen after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        peer = _find(__salt__["gluster.peer_status"](), name)
        if _member(peer) or time.monotonic() > deadline:
            return peer
        time.sleep(1)


def peered(name, probe=True):
    """
    Ensure ``name`` is a connected member of this node's trusted pool ("Peer in
    Cluster": it then knows every volume, so the volume states that follow can
    set options on it).

    probe
        Probe ``name`` when it is not (the one host that grows the pool), then
        wait until it is a member. False: only wait for ``name`` to have added
        this node (a pool grows from one member: two hosts probing at once can
        make two pools).
    """
    ret = _ret(name)
    try:
        peer = _find(__salt__["gluster.peer_status"](), name)
        if _member(peer):
            ret["comment"] = f"{name} is already a peer ({peer['state']})"
            return ret
        if peer:
            ret["result"] = None if __opts__["test"] else False
            ret["comment"] = f"{name} is a peer but not a connected member yet ({peer['state']})"
            return ret
        if not probe:
            ret["result"] = None if __opts__["test"] else False
            ret["comment"] = f"{name} has not added this host to its trusted pool yet (it probes the others)"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": None, "new": {"peer": name, "state": IN_CLUSTER}}
            ret["comment"] = f"would probe {name}"
            return ret
        __salt__["gluster.peer_probe"](name)
        peer = _joined(name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if peer is None:
        ret["result"] = False
        ret["comment"] = f"probed {name}, but it is not in the peer list"
        return ret
    ret["changes"] = {"old": None, "new": {"peer": name, "state": peer["state"]}}
    if not _member(peer):
        ret["result"] = False
        ret["comment"] = (
            f"probed {name}, still not a connected member after {JOIN_TIMEOUT}s ({peer['state']})"
        )
        return ret
    ret["comment"] = f"probed {name}"
    return ret


def _same_bricks(have, wanted, arbiter):
    """Whether a volume's bricks are the wanted ones: in any order, but the arbiter's last."""
    if arbiter and (not have or not wanted or have[-1] != wanted[-1]):
        return False
    return sorted(have) == sorted(wanted)


def _one_copy_more(current, have, wanted, replica, arbiter):
    """The brick to add when the volume only lacks one more copy (B8: a third host or an
    arbiter joins a two-host cluster): one replica set, every brick it has wanted, one
    missing, the arbiter's (when wanted) the one missing. Else None."""
    missing = [b for b in wanted if b not in have]
    grows = (
        current["replica"] == int(replica) - 1
        and len(have) == current["replica"]
        and len(missing) == 1
        and set(have) <= set(wanted)
        and current["arbiter"] == 0
        and (not int(arbiter) or missing[0] == wanted[-1])
    )
    return missing[0] if grows else None


def _layout(info):
    return {
        "bricks": [b["name"] for b in info["bricks"]],
        "replica": info["replica"],
        "arbiter": info["arbiter"],
    }


def volume_present(name, bricks, replica=2, arbiter=0, force=False):
    """
    Ensure volume ``name`` exists with exactly ``bricks`` (in any order, an arbiter's last).

    A volume that only lacks one more copy (a third host or an arbiter joined a
    two-host cluster) gets its new brick (``add-brick``; self-heal fills it).
    An existing volume with other bricks or another layout is reported as a
    failure and left as it is.
    """
    ret = _ret(name)
    wanted = list(bricks)
    try:
        current = __salt__["gluster.volume_info"](name).get(name)
        if current:
            have = [b["name"] for b in current["bricks"]]
            if _same_bricks(have, wanted, int(arbiter)) and (current["replica"], current["arbiter"]) == (
                int(replica),
                int(arbiter),
            ):
                ret["comment"] = f"volume {name} exists with the wanted bricks"
                return ret
            brick = _one_copy_more(current, have, wanted, replica, arbiter)
            if brick is None:
                ret["result"] = False
                ret["comment"] = (
                    f"volume {name} exists with bricks {have} (replica {current['replica']}, "
                    f"arbiter {current['arbiter']}); the pillar wants {wanted} (replica {replica}, "
                    f"arbiter {arbiter}). Not changing an existing volume: reconcile by hand."
                )
                return ret
            return _add_copy(ret, name, current, brick, replica, arbiter, force)
        new = {"bricks": wanted, "replica": int(replica), "arbiter": int(arbiter)}
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": None, "new": new}
            ret["comment"] = f"would create volume {name}"
            return ret
        __salt__["gluster.volume_create"](name, bricks, replica=replica, arbiter=arbiter, force=force)
        created = __salt__["gluster.volume_info"](name).get(name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if not created:
        ret["result"] = False
        ret["comment"] = f"volume {name} was created but is not listed"
        return ret
    ret["changes"] = {"old": None, "new": _layout(created)}
    ret["comment"] = f"created volume {name}"
    return ret


def _add_copy(ret, name, current, brick, replica, arbiter, force):
    """Add ``brick`` to volume ``name`` as its one more copy (test=True: say so)."""
    old = _layout(current)
    new = {"bricks": [*old["bricks"], brick], "replica": int(replica), "arbiter": int(arbiter)}
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"old": old, "new": new}
        ret["comment"] = f"would add brick {brick} to volume {name} (replica {replica}; self-heal fills it)"
        return ret
    try:
        __salt__["gluster.volume_add_brick"](name, [brick], replica, arbiter=arbiter, force=force)
        grown = __salt__["gluster.volume_info"](name).get(name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"old": old, "new": _layout(grown) if grown else new}
    ret["comment"] = f"added brick {brick} to volume {name}: replica {replica}, self-heal fills it"
    return ret


def volume_started(name, start=True):
    """
    Ensure volume ``name`` is started.

    ``start: false``: only check it, on a host that mounts a volume another host
    creates and starts: fails (for the state's ``retry``) until it is started,
    so that a mount never runs before (a glusterfs client that finds no volume
    leaves a dead mount behind, which ``mount.mounted`` takes for mounted).
    """
    ret = _ret(name)
    try:
        current = __salt__["gluster.volume_info"](name).get(name)
        if current and current["status"] == "Started":
            ret["comment"] = f"volume {name} is started"
            return ret
        if not start:
            ret["result"] = None if __opts__["test"] else False
            state = f"is {current['status']}" if current else "does not exist yet"
            ret["comment"] = f"volume {name} {state}: another host creates and starts it"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = {"old": current["status"] if current else None, "new": "Started"}
            ret["comment"] = f"would start volume {name}" + ("" if current else " (once created)")
            return ret
        if not current:
            ret["result"] = False
            ret["comment"] = f"volume {name} does not exist"
            return ret
        __salt__["gluster.volume_start"](name)
        status = __salt__["gluster.volume_info"](name)[name]["status"]
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"old": current["status"], "new": status}
    ret["result"] = status == "Started"
    ret["comment"] = f"started volume {name}" if ret["result"] else f"volume {name} is {status}"
    return ret


def volume_options(name, options):
    """
    Ensure volume ``name`` has ``options`` (``{option: value}``); only those that
    differ are set.
    """
    ret = _ret(name)
    wanted = {str(k): str(v) for k, v in options.items()}
    try:
        current = __salt__["gluster.volume_info"](name).get(name)
        have = current["options"] if current else {}
        differ = {k: v for k, v in wanted.items() if have.get(k) != v}
        if not differ:
            ret["comment"] = f"volume {name} has the wanted options"
            return ret
        changes = {k: {"old": have.get(k), "new": v} for k, v in sorted(differ.items())}
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"] = changes
            ret["comment"] = f"would set {', '.join(sorted(differ))} on {name}"
            return ret
        if not current:
            ret["result"] = False
            ret["comment"] = f"volume {name} does not exist"
            return ret
        for key, value in sorted(differ.items()):
            __salt__["gluster.volume_set"](name, key, value)
        have = __salt__["gluster.volume_info"](name)[name]["options"]
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {k: {"old": c["old"], "new": have.get(k)} for k, c in changes.items()}
    still = sorted(k for k, v in differ.items() if have.get(k) != v)
    if still:
        ret["result"] = False
        ret["comment"] = f"set, but gluster reports other values for {', '.join(still)}"
    else:
        ret["comment"] = f"set {', '.join(sorted(differ))} on {name}"
    return ret
