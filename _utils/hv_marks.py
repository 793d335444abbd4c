"""
hv_marks: the marks that keep guests where they are. This host's own, in
``evacuation:state_dir`` (they survive a reboot): the drain mark (the host
takes no guests), the evacuating mark (an evacuation runs: the keeper starts
nothing here) and the last evacuation's result. A person's stop marks, on the
shared volume (``keeper:stopped_dir``): no keeper, highstate, boot or undrain
starts such a guest until ``guests.start``. Plain Python.
"""

import contextlib
import json
import logging
import os

import hv_runtime
from hv_runtime import CommandExecutionError

log = logging.getLogger(__name__)

DRAIN_MARK = "drained"
EVACUATING_MARK = "evacuating"  # while an evacuation runs here: the keeper starts nothing here
LAST_RESULT = "last.json"


def state_path(hv, name):
    return os.path.join(hv["evacuation"]["state_dir"], name)


# ------------------------------------------------------------------ drain


def locked(hv):
    """This host's marks, changed by one at a time (B10): the takeover's hold and an
    operator's undrain never interleave, so an undrain is never undone by the watcher."""
    return hv_runtime.locked(state_path(hv, "marks.lock"))


def drained(hv):
    """``{"drained", "since", "reason", "guests"}`` (``guests``: those the drain moved
    away); a mark that is not whole still drains."""
    try:
        with open(state_path(hv, DRAIN_MARK), encoding="utf-8") as handle:
            mark = json.load(handle)
    except FileNotFoundError:
        return {"drained": False, "since": None, "reason": None, "guests": []}
    except ValueError:
        mark = {}
    return {
        "drained": True,
        "since": mark.get("since"),
        "reason": mark.get("reason"),
        "guests": mark.get("guests", []),
    }


def mark_drained(hv, reason, guests=(), since=None):
    """Write the drain mark (``guests``: those the drain moved away; ``since``: default
    now); returns it."""
    mark = {"since": since or hv_runtime.now(), "reason": reason, "guests": sorted(guests)}
    hv_runtime.write_json(state_path(hv, DRAIN_MARK), mark)
    return mark


def clear_drained(hv):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state_path(hv, DRAIN_MARK))


# ------------------------------------------------------------------ evacuation


@contextlib.contextmanager
def evacuating_mark(hv):
    """The evacuating mark for the block: the keeper starts no guest here meanwhile
    (it would bring back what the evacuation just saved or moved)."""
    path = state_path(hv, EVACUATING_MARK)
    try:
        hv_runtime.write_json(path, {"since": hv_runtime.now(), "pid": os.getpid()})
    except OSError as exc:
        log.warning("guests: could not mark the evacuation: %s", exc)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def evacuating(hv):
    """``{"evacuating", "since", "pid"}``: the mark, while its process is alive."""
    try:
        with open(state_path(hv, EVACUATING_MARK), encoding="utf-8") as handle:
            mark = json.load(handle)
    except (OSError, ValueError):
        return {"evacuating": False, "since": None, "pid": None}
    pid = mark.get("pid")
    try:
        os.kill(int(pid), 0)
        alive = True
    except (OSError, TypeError, ValueError):
        alive = False  # the evacuating process died: the mark is stale
    return {"evacuating": alive, "since": mark.get("since"), "pid": pid}


def record_evacuation(hv, ret):
    """Keep the last evacuation's result (a failure to is logged, never raised)."""
    try:
        hv_runtime.write_json(state_path(hv, LAST_RESULT), dict(ret, at=hv_runtime.now()))
    except OSError as exc:
        log.warning("guests: could not record the evacuation: %s", exc)


def last_evacuation(hv):
    """The last evacuation's result as :func:`record_evacuation` kept it (``{"host", "to",
    "reason", "guests", "failover", "seconds", "result", "at"}``), or None when this host has
    none; raises ValueError for a record that is not whole, OSError when it cannot be read."""
    try:
        with open(state_path(hv, LAST_RESULT), encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    if not isinstance(record, dict):
        raise ValueError(f"{state_path(hv, LAST_RESULT)} is not an evacuation's record")
    return record


# ------------------------------------------------------------------ a person's stops


def stop_mark_path(hv, name):
    return os.path.join(hv["keeper"]["stopped_dir"], f"{name}.json")


def mark_stopped(hv, name, verb):
    """A person stops (or saves) pillar guest ``name``: recorded on the shared volume, so
    that no keeper, highstate or boot starts it until ``guests.start`` (whatever
    ``running`` says, here or in a keeper's newer pillar)."""
    path = stop_mark_path(hv, name)
    if name not in hv["guests"]:
        return None
    mark = {"guest": name, "verb": verb, "host": hv["me"]["name"], "at": hv_runtime.now()}
    try:
        hv_runtime.write_json(path, mark)
    except OSError as exc:
        raise CommandExecutionError(
            f"the stop of {name} cannot be recorded ({path}: {exc}): a keeper could start it"
            " again; nothing was stopped"
        ) from None
    return mark


def clear_stop_mark(hv, name):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stop_mark_path(hv, name))


def stop_mark(hv, name):
    """``{"guest", "verb", "host", "at"}`` of a person's stop of ``name``, or None; a mark
    that is not whole still counts."""
    try:
        with open(stop_mark_path(hv, name), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"guest": name, "verb": "stop", "host": None, "at": None}
