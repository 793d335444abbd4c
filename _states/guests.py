"""
The cluster's guests as the pillar describes them (F26): each guest's disk
file and its libvirt definition, on every host that carries guests.

.. code-block:: yaml

    guests-vm1-disk-present:
      guests.disk_present:
        - name: vm1

    guests-vm1-defined:
      guests.defined:
        - name: vm1

Settings come from ``hypervisor_pillar.settings`` (``guests:<name>``). A disk
is created once, sparse, and never resized or touched again. A definition is
compared by the fingerprint it carries (``_utils/guest_xml.py``) and defined
again when the pillar changed it; a guest is never undefined nor
autostarted here. libvirt is reached through the guests execution module
(``guests.definition``, ``guests.define``, ``guests.start``...); an error
there fails the state with its message.

``guests.running`` starts a guest of ``running: true`` on its home host only,
unless that host is drained, a person stopped the guest (``guests.stop``: its
stop mark) or the guest runs on another host already (where an evacuation or
a drain put it; sanlock refuses a second start anyway). Between two runs, the
keeper (``_modules/keeper.py``) keeps it running.

.. code-block:: yaml

    guests-vm1-running:
      guests.running:
        - name: vm1
"""

import errno
import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "guests"
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def __virtual__():
    if "guests.definition" not in __salt__:
        return (False, "the guests execution module is not loaded (libvirt-python)")
    return __virtualname__


def _guest(name):
    """The settings view of guest ``name``, None when the pillar has no such guest."""
    return __salt__["hypervisor_pillar.settings"]()["guests"].get(name)


def _bytes(size):
    """``16M`` and the like, in bytes."""
    return int(size[:-1]) * UNITS[size[-1]]


def _failed(ret, exc):
    """The state fails with the execution module's message (never a traceback)."""
    ret.update(result=False, comment=str(exc) or type(exc).__name__)
    return ret


def disk_present(name):
    """Ensure guest ``name``'s disk file exists: created sparse (0600) of the pillar's size
    when absent; an existing file is left as it is, whatever its size."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        guest = _guest(name)
    except CommandExecutionError as exc:
        return _failed(ret, exc)
    if guest is None:
        ret.update(result=False, comment=f"no guest {name} in pillar hypervisor:guests")
        return ret
    path, size = guest["disk_path"], guest["disk"]["size"]
    if os.path.exists(path):
        ret["comment"] = f"disk {path} is present (never resized)"
        return ret
    if __opts__["test"]:
        ret.update(result=None, changes={"created": path}, comment=f"would create disk {path} ({size})")
        return ret
    try:
        # O_EXCL: the file is on shared storage, and the host that loses a race leaves it alone.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            ret["comment"] = f"disk {path} is present (created by another host)"
            return ret
        ret.update(result=False, comment=f"cannot create disk {path}: {exc.strerror}")
        return ret
    try:
        os.ftruncate(fd, _bytes(size))
    except OSError as exc:
        os.unlink(path)  # not left empty: the next run would find it present
        ret.update(result=False, comment=f"cannot size disk {path} to {size}: {exc.strerror}")
        return ret
    finally:
        os.close(fd)
    ret.update(changes={"created": path}, comment=f"disk {path} created ({size}, sparse)")
    return ret


def _define(guest, current):
    """Define the guest from the pillar (test: say so); return (result, changes, comment).
    ``current``: its definition here (``guests.definition``), None when it has none."""
    name, wanted = guest["name"], guest["fingerprint"]
    if current is None:
        changes, done, note = {"defined": name}, "defined", ""
    else:
        changes, done = {"redefined": {"old": current["fingerprint"], "new": wanted}}, "defined again"
        note = " (it runs: it takes the new definition at its next start)" if current["active"] else ""
    if __opts__["test"]:
        return None, changes, f"guest {name} would be {done}{note}"
    got = __salt__["guests.define"](name)["fingerprint"]
    if got != wanted:
        return False, changes, f"guest {name} {done}, but libvirt holds fingerprint {got}, not {wanted}"
    return True, changes, f"guest {name} {done}{note}"


def defined(name):
    """Ensure guest ``name`` is defined in libvirt as the pillar says (its fingerprint).

    A domain of that name with another UUID is another machine: reported, left alone.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        guest = _guest(name)
        if guest is None:
            ret.update(result=False, comment=f"no guest {name} in pillar hypervisor:guests")
            return ret
        current = __salt__["guests.definition"](name)
        if current is not None and current["uuid"] != guest["uuid"]:
            ret.update(
                result=False,
                comment=f"a domain {name} with UUID {current['uuid']} exists, not the pillar's guest"
                f" ({guest['uuid']}): left as it is",
            )
            return ret
        if current is not None and current["fingerprint"] == guest["fingerprint"]:
            ret["comment"] = f"guest {name} is defined as the pillar says"
            return ret
        ret["result"], ret["changes"], ret["comment"] = _define(guest, current)
    except CommandExecutionError as exc:
        return _failed(ret, exc)
    return ret


def running(name):
    """Ensure guest ``name`` runs where the cluster decides: started here when this host is
    its ``home``, it is ``running: true``, this host is not drained and no other host runs it."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        return _running(ret, name)
    except CommandExecutionError as exc:
        return _failed(ret, exc)


def _running(ret, name):
    guest = _guest(name)
    me = __grains__["id"]
    if guest is None:
        ret.update(result=False, comment=f"no guest {name} in pillar hypervisor:guests")
        return ret
    if not guest["running"] or guest["home"] != me:
        why = "running: false" if not guest["running"] else f"its home is {guest['home']}"
        ret["comment"] = f"{name} is not started here ({why})"
        return ret
    if __salt__["guests.drained"]()["drained"]:
        ret["comment"] = f"{me} is drained: {name} is not started here (guests.undrain)"
        return ret
    mark = __salt__["guests.stop_mark"](name)
    if mark:
        ret["comment"] = (
            f"{name} was stopped by a person (guests.{mark.get('verb')} at {mark.get('at')}):"
            " kept down until guests.start"
        )
        return ret
    states = __salt__["guests.where"](name)
    if states.get(me) == "running":
        ret["comment"] = f"{name} runs here"
        return ret
    elsewhere = sorted(h for h, state in states.items() if h != me and state == "running")
    if elsewhere:
        ret["comment"] = f"{name} runs on {', '.join(elsewhere)}: left there (guests.undrain brings it home)"
        return ret
    if __opts__["test"]:
        ret.update(result=None, comment=f"{name} would be started here", changes={"started": name})
        return ret
    started = __salt__["guests.start"](name)
    if started["outcome"] in ("started", "restored"):
        ret.update(changes={started["outcome"]: name}, comment=f"{name} {started['outcome']} here")
    elif started["outcome"] in ("running", "elsewhere"):
        ret["comment"] = f"{name}: {started.get('why')}"
    else:
        ret.update(result=False, comment=f"{name} could not be started here: {started.get('why')}")
    return ret
