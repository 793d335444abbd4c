"""
keeper_rule: which guests the cluster keeps running, why a guest stopped, and
which host starts a kept guest that runs nowhere (B1). Plain Python, no Salt:
each host's keeper (``_modules/keeper.py``), the takeover and the status view
apply this one rule; they import it (``import keeper_rule``).

The rule (docs/keeper.md):

- The cluster keeps a pillar guest running when it is ``running: true`` and no
  person stopped it (``guests.stop``, ``guests.save``: a stop mark on the shared
  volume), or when a host's keeper saw it run there and nobody stopped it since.
- A person stops a guest with ``guests.stop``, ``virsh destroy``, ``virsh
  shutdown`` or a shutdown from inside it; a migration or a save moves it. For a
  ``running: true`` guest only the stop mark counts: the pillar is a person's
  decision too, and it stands until ``guests.start`` or a pillar change.
- Anything else that stops a kept guest is a fault: sanlock's kill when the
  host loses its leases, qemu killed or crashed, the guest crashed, the host or
  libvirtd stopping under it.
- A kept guest that runs nowhere is started by one host: where it last ran,
  once that host may take guests again; when that host is dead by sanlock, by
  the survivor that takes it over (the takeover, with a majority); when that
  host is drained, shutting down or gone cleanly (or it never ran: a
  ``running: true`` guest), by its home, else by the first other host in name
  order that may take guests. sanlock's lease is the proof: a start it refuses
  is tried again, never forced.
- A guest restarted ``max_restarts`` times within ``restart_window`` seconds
  after faults of its own (qemu or its kernel dying) that stops so again is
  left down until a person starts it (a crash loop). Its host's faults (a lost
  lockspace, a crash, a start that its lease storage or a dying qemu failed) do
  not count: each time the host is back, so is the guest.
- A guest that is not in the pillar is not the cluster's: it is defined on one
  host only; the keepers and the takeover leave it alone.
"""

import os

from hv_runtime import read_json

# libvirt's lifecycle events (virDomainEventType) and their details, by number:
# the keeper receives them from libvirt-python; the unit tests need no libvirt.
EVENT_STARTED = 2
EVENT_RESUMED = 4
EVENT_STOPPED = 5
EVENT_SHUTDOWN = 6
STOPPED_SHUTDOWN = 0
STOPPED_DESTROYED = 1
STOPPED_CRASHED = 2
STOPPED_MIGRATED = 3
STOPPED_SAVED = 4
STOPPED_FAILED = 5
STOPPED_FROM_SNAPSHOT = 6
SHUTDOWN_GUEST = 1  # the guest powered off (from inside, or asked by virsh shutdown)
SHUTDOWN_HOST = 2  # qemu got a signal from the host (sanlock's kill, a person's kill)
STARTED_MIGRATED = 1  # an incoming migration begins (paused): the guest is not here yet
STARTED_RESTORED = 2
RESUMED_MIGRATED = 1  # an incoming migration ended: the guest runs here now
# virDomainState: a guest paused while a migration comes in (PAUSED, PAUSED_MIGRATION),
# or while its qemu is launched (PAUSED, PAUSED_STARTING_UP): an incoming migration's
# too, for a tenth of a second, before its STARTED/migrated event.
STATE_PAUSED = 3
PAUSED_MIGRATION = 2
PAUSED_STARTING_UP = 11
# virDomainShutoffReason: why libvirt says a shut-off domain stopped (for a
# stop the keeper did not see happen: it was not running then).
SHUTOFF_UNKNOWN = 0
SHUTOFF_SHUTDOWN = 1
SHUTOFF_DESTROYED = 2
SHUTOFF_CRASHED = 3
SHUTOFF_MIGRATED = 4
SHUTOFF_SAVED = 5
SHUTOFF_FAILED = 6
SHUTOFF_FROM_SNAPSHOT = 7
SHUTOFF_DAEMON = 8

# Why a guest stopped: a fault of its own (qemu, its kernel), a fault of its host (sanlock's
# kill when the host lost its leases, the host or libvirtd stopping under it), a person, a move.
# Only a guest's own faults (and a person's stops undone for the pillar) count toward the
# crash-loop bound: a host whose link flaps is sanlock's and the takeover's to bound.
FAULT, HOST_FAULT, PERSON, MOVED = "fault", "host", "person", "moved"
# An entry of a keeper's record: the guest runs on that host, is down there by
# a fault (or by a person, when it is running: true), or was left down (a crash loop).
RUNNING, DOWN, GAVE_UP = "running", "down", "gave_up"
SIGNAL = "qemu was ended by a signal from the host"
SANLOCK_KILL = "killed by sanlock: this host lost its lease storage"


MIGRATED_AWAY = (MOVED, "migrated to another host")
SAVED_AWAY = (MOVED, "saved onto the save volume")
SNAPSHOT = (PERSON, "reverted to a snapshot")
# STOPPED's details whose reading needs nothing more.
STOPPED_KINDS = {
    STOPPED_DESTROYED: (PERSON, "destroyed (virsh destroy or guests.stop)"),
    STOPPED_CRASHED: (FAULT, "the guest crashed"),
    STOPPED_MIGRATED: MIGRATED_AWAY,
    STOPPED_SAVED: SAVED_AWAY,
    STOPPED_FROM_SNAPSHOT: SNAPSHOT,
}
# The shutoff reasons of a stop the keeper did not see (it, or libvirtd, was not running).
UNSEEN_KINDS = {
    SHUTOFF_DESTROYED: (PERSON, "destroyed while the keeper was not watching"),
    SHUTOFF_SHUTDOWN: (
        PERSON,
        "shut down while the keeper was not watching (libvirt does not say who asked)",
    ),
    SHUTOFF_MIGRATED: MIGRATED_AWAY,
    SHUTOFF_SAVED: SAVED_AWAY,
    SHUTOFF_FROM_SNAPSHOT: SNAPSHOT,
    SHUTOFF_CRASHED: (FAULT, "qemu died while the keeper was not watching"),
    SHUTOFF_FAILED: (FAULT, "qemu died while the keeper was not watching"),
    SHUTOFF_DAEMON: (HOST_FAULT, "libvirtd stopped it"),
}


def stop_kind(detail, shutdown_detail=None, lockspace_lost=False):
    """``(kind, why)`` of a STOPPED lifecycle event: ``fault``, ``host``, ``person`` or ``moved``.
    ``shutdown_detail``: the SHUTDOWN event's detail seen since the guest started
    (libvirt sends one before the stop when qemu shuts down by itself);
    ``lockspace_lost``: this host had lost its sanlock lockspace then."""
    if detail in STOPPED_KINDS:
        return STOPPED_KINDS[detail]
    if detail == STOPPED_SHUTDOWN and shutdown_detail == SHUTDOWN_HOST:
        return (HOST_FAULT, SANLOCK_KILL) if lockspace_lost else (FAULT, f"{SIGNAL} (a kill, not libvirt's)")
    if detail == STOPPED_SHUTDOWN and shutdown_detail == SHUTDOWN_GUEST:
        return PERSON, "shut down from inside the guest, or by virsh shutdown"
    if detail == STOPPED_SHUTDOWN:
        return PERSON, "shut down (libvirt does not say who asked)"
    if detail == STOPPED_FAILED:
        return (HOST_FAULT, SANLOCK_KILL) if lockspace_lost else (FAULT, "qemu died (killed, or crashed)")
    return PERSON, f"stopped (libvirt's detail {detail})"


def unseen_stop_kind(reason):
    """``(kind, why)`` of a guest found shut off that the keeper last saw running,
    from libvirt's shutoff reason (the keeper or libvirtd was not running then)."""
    default = (
        HOST_FAULT,
        "this host or libvirtd stopped while it ran (a crash, a reboot without evacuation)",
    )
    return UNSEEN_KINDS.get(reason, default)


def arrived(event, detail):
    """``(whether the guest now runs here, how it came)`` for a STARTED or RESUMED event:
    an incoming migration counts once it ended (RESUMED/MIGRATED), not when it begins."""
    if event == EVENT_RESUMED:
        return detail == RESUMED_MIGRATED, "migrated here"
    if event == EVENT_STARTED and detail != STARTED_MIGRATED:
        return True, "restored here" if detail == STARTED_RESTORED else "started here"
    return False, ""


def incoming(state, reason):
    """Whether libvirt's ``(state, reason)`` says the guest is not here yet: a migration
    coming in, or a qemu being launched (a start's own event follows; a killed incoming
    migration's qemu must not be taken for a guest that ran here and crashed)."""
    return state == STATE_PAUSED and reason in (PAUSED_MIGRATION, PAUSED_STARTING_UP)


# ------------------------------------------------------------------ crash loops

# libvirt's words when a start fails on this host's side: its lease storage (sanlock's
# lockspace or lease directory unreachable), or the killed qemu still holding the disk's
# lock while it exits. The host's fault, like a lost lockspace, never the guest's.
HOST_TROUBLE = (
    "Lock Driver error",
    "Failed to acquire lock",
    "Transport endpoint is not connected",
    'Failed to get "write" lock',
)


def host_trouble(why):
    """Whether a failed start's message says this host's side failed it (not counted)."""
    return any(words in str(why or "") for words in HOST_TROUBLE)


def recent(restarts, now, window):
    """The restart times (epoch seconds) within the last ``window`` seconds."""
    return [t for t in restarts or [] if now - t < window]


def may_restart(restarts, now, max_restarts, window):
    """Whether another restart is allowed: fewer than ``max_restarts`` in the window."""
    return len(recent(restarts, now, window)) < max_restarts


# ------------------------------------------------------------------ who starts a guest


def holder(name, records):
    """``(host, entry)``: the host whose keeper record has guest ``name`` (the newest
    entry when several do: a record not yet rewritten after a move), or ``(None, None)``."""
    found = [
        (entry.get("since") or "", host, entry)
        for host, record in records.items()
        for guest, entry in ((record or {}).get("guests") or {}).items()
        if guest == name
    ]
    if not found:
        return None, None
    _since, host, entry = max(found, key=lambda item: (item[0], item[1]))
    return host, entry


def _takes_guests(host, me, mine, records, lease_states):
    """``(bool, why not)``: whether ``host`` may take a guest now, as ``me`` sees it.
    ``mine``: this host's own facts (lockspace, drained, held, evacuating, stopping)."""
    if host == me:
        for key, why in (
            ("stopping", "is shutting down"),
            ("evacuating", "is evacuating"),
            ("drained", "is drained"),
            ("held", "is held (taken over while away: guests.undrain when repaired)"),
        ):
            if mine.get(key):
                return False, f"{host} {why}"
        if not mine.get("lockspace"):
            return False, f"{host} is not in its sanlock lockspace"
        return True, ""
    state = lease_states.get(host, "unknown")
    if state != "live":
        return False, f"{host}'s host lease is {state}"
    record = records.get(host)
    if record:
        for key, why in (("evacuating", "is evacuating"), ("drained", "is drained")):
            if record.get(key):
                return False, f"{host} {why}"
    return True, ""


def _yields(host, me, mine, records, lease_states, ran_there, takeover_on):
    """Whether a guest whose place is ``host`` is another host's to start: its place is
    drained, evacuating, shutting down or gone cleanly (``free``), rather than failing
    or not seen (``unknown``: this host's view may be what is missing);
    or dead while the guest never ran there (no takeover knows of it), where the cluster
    has a majority (without one, "dead" may be the other side of a partition)."""
    if host == me:
        return any(mine.get(key) for key in ("stopping", "evacuating", "drained", "held"))
    state = lease_states.get(host, "unknown")  # unknown: not seen in the lockspace: wait for it
    if state == "free" or (state == "dead" and not ran_there and takeover_on):
        return True
    record = records.get(host) or {}
    return state == "live" and bool(record.get("drained") or record.get("evacuating"))


def decide(name, guest, me, mine, records, lease_states, marks, members, takeover_on=True):
    """
    What becomes of pillar guest ``name`` (``guest``: its settings, ``home`` and
    ``running``), which runs on no host that ``me`` knows of.

    ``mine``: this host's facts (``lockspace``, ``drained``, ``held``, ``evacuating``,
    ``stopping``); ``records``: every host's keeper record (``me``'s own, live);
    ``lease_states``: each host's sanlock host lease as ``me`` sees it (``live``,
    ``fail``, ``dead``, ``free``, ``unknown``); ``marks``: the stop marks, by guest;
    ``members``: the hosts that carry guests.

    Returns ``{"kept": why the cluster keeps it, or None, "start": the host that
    should start it now, or None, "doing": what happens to it, in words}``.
    """
    mark = marks.get(name)
    if mark:
        who = f"guests.{mark.get('verb', 'stop')} on {mark.get('host', '?')} at {mark.get('at', '?')}"
        return {
            "kept": None,
            "start": None,
            "doing": f"stopped by a person ({who}): kept down until guests.start",
        }
    host, entry = holder(name, records)
    if entry is None and not guest.get("running"):
        return {"kept": None, "start": None, "doing": "not kept: not running: true, and no keeper saw it run"}
    kept = "running: true in the pillar" if guest.get("running") else f"it ran on {host}"
    if entry is not None and entry.get("state") == GAVE_UP:
        return {
            "kept": kept,
            "start": None,
            "doing": f"left down on {host} after too many restarts ({entry.get('why')}):"
            f" guests.start {name} to try again",
        }
    place = host or guest.get("home")
    if place not in members:
        place = None
    ran_there = entry is not None
    if place is not None and not _yields(place, me, mine, records, lease_states, ran_there, takeover_on):
        state = "live" if place == me else lease_states.get(place, "unknown")
        if place == me:
            able, why = _takes_guests(me, me, mine, records, lease_states)
            if able:
                return {"kept": kept, "start": me, "doing": f"{me} starts it"}
            return {"kept": kept, "start": None, "doing": f"waits for {me}: {why.removeprefix(me + ' ')}"}
        if state == "fail":
            return {
                "kept": kept,
                "start": None,
                "doing": f"waits for {place}, whose lease renewals fail: it starts it again once back,"
                " or it is taken over once dead",
            }
        if state == "unknown":
            return {"kept": kept, "start": None, "doing": f"waits for {place}: not seen in the lockspace"}
        if state == "dead":
            if not takeover_on:
                return {
                    "kept": kept,
                    "start": None,
                    "doing": f"{place} is dead and takeover is off (no majority)",
                }
            return {
                "kept": kept,
                "start": None,
                "doing": f"{place} is dead: the takeover starts it elsewhere",
            }
        return {"kept": kept, "start": place, "doing": f"{place} starts it"}
    order = [h for h in dict.fromkeys([guest.get("home"), *sorted(members)]) if h in members and h != place]
    reasons = []
    for candidate in order:
        able, why = _takes_guests(candidate, me, mine, records, lease_states)
        if able:
            left = f" ({place} cannot)" if place else ""
            return {"kept": kept, "start": candidate, "doing": f"{candidate} starts it{left}"}
        reasons.append(why)
    return {"kept": kept, "start": None, "doing": "no host may take it: " + "; ".join(reasons or ["no host"])}


def lease_holder(lease, host_ids, host_rows):
    """``(host, state)`` of the host that may run the guest whose disk lease is
    ``lease`` (``sanlock.guest_lease``): its holder, while that host's own lease is
    ``live`` or ``fail`` in the same generation; ``(None, None)`` when the lease is
    free, or stale (its holder joined again since, left, or is dead: takeable).
    ``host_ids``: ``{host id: host name}``; ``host_rows``: ``sanlock.host_status``."""
    if not lease or not lease.get("held"):
        return None, None
    owner = lease.get("owner_host_id")
    row = host_rows.get(owner) or host_rows.get(str(owner))
    if (
        not row
        or row.get("generation") != lease.get("generation")
        or row.get("state") not in ("live", "fail")
    ):
        return None, None
    return host_ids.get(owner, f"host id {owner}"), row["state"]


# ------------------------------------------------------------------ records on the shared volume


def read_dir(directory, suffix=".json"):
    """``{name without suffix: content}`` of the JSON files in ``directory`` (a missing
    directory is empty; a file not whole is left out). Raises OSError when the
    directory cannot be read (its volume does not answer)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    out = {}
    for name in sorted(names):
        if name.endswith(suffix) and not name.startswith("."):
            data = read_json(os.path.join(directory, name))
            if isinstance(data, dict):
                out[name[: -len(suffix)]] = data
    return out


def _text(value):
    return value if isinstance(value, str) else None


def clean_record(data, guests):
    """A keeper record as read from the shared volume (another host wrote it), kept to
    what the rule reads, each value of the type it must have: its ``guests`` and
    ``acting`` only for ``guests`` (the pillar's), the states only the rule's own.
    Anything else in the file is dropped, never acted on."""
    data = data if isinstance(data, dict) else {}
    entries = data.get("guests") if isinstance(data.get("guests"), dict) else {}
    acting = data.get("acting") if isinstance(data.get("acting"), dict) else {}
    clean = {}
    for name, entry in entries.items():
        if name in guests and isinstance(entry, dict) and entry.get("state") in (RUNNING, DOWN, GAVE_UP):
            restarts = entry.get("restarts") if isinstance(entry.get("restarts"), list) else []
            clean[name] = {
                "state": entry["state"],
                "since": _text(entry.get("since")),
                "why": _text(entry.get("why")),
                "restarts": [t for t in restarts if isinstance(t, int | float) and not isinstance(t, bool)],
                "counted": entry.get("counted") is not False,
            }
    return {
        "host": _text(data.get("host")),
        "at": _text(data.get("at")),
        "lockspace": data.get("lockspace") is True,
        "drained": data.get("drained") is True,
        "evacuating": data.get("evacuating") is True,
        "guests": clean,
        "acting": {name: text for name, text in acting.items() if name in guests and isinstance(text, str)},
        "capacity": _capacity(data.get("capacity")),
    }


def _capacity(value):
    """A published capacity (B8: the host's memory and CPUs, its running guests' use),
    four counts, or None."""
    keys = ("memory", "cpus", "used_memory", "used_vcpus")
    if not isinstance(value, dict):
        return None
    counts = {key: value.get(key) for key in keys}
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        return counts
    return None


def read_records(directory, hosts, guests):
    """Every host's published keeper record (``{host: record}``, cleaned: ``clean_record``),
    for the cluster's ``hosts`` only. Raises OSError when the volume does not answer."""
    return {host: clean_record(data, guests) for host, data in read_dir(directory).items() if host in hosts}


def read_marks(directory, guests):
    """The stop marks of the cluster's ``guests``: ``{name: {"guest", "verb", "host", "at"}}``
    (each value text, or None). Raises OSError when the volume does not answer."""
    return {
        name: {key: _text(mark.get(key)) for key in ("guest", "verb", "host", "at")}
        for name, mark in read_dir(directory).items()
        if name in guests
    }
