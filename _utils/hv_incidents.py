"""
hv_incidents: the takeover's incidents (B1, B6), one JSON file per dead host and
generation in ``takeover:incidents_dir``, on a shared volume with client quorum.
Only one host can create an incident (an exclusive create: only on the majority
side, and only once); an open incident against a host keeps it from taking
guests until ``guests.undrain`` closes it. Plain Python: the takeover opens and
updates incidents, the guests module reads and closes them, the keeper reads
them. Events go under ``hv/takeover/``.

Each file has one writer, so no host's write undoes another's (B10): the record
``<host>-g<generation>.json`` is written by the host that created it alone (one
takeover pass at a time there), whole (temporary file, fsync, rename); closing
creates ``<host>-g<generation>.closed`` beside it (exclusively), which readers
merge in as ``closed``.
"""

import json
import os
import socket
import time

import hv_runtime

EVENTS = "hv/takeover"
BROKEN_AFTER = 60  # seconds: a record still not whole after this was torn by a crash


def _path(hv, host, generation, suffix=".json"):
    return os.path.join(hv["takeover"]["incidents_dir"], f"{host}-g{generation}{suffix}")


def _closed_path(record_path):
    return record_path[: -len(".json")] + ".closed"


def _read(path):
    """The record at ``path`` with its close merged in (None: missing or not whole)."""
    record = hv_runtime.read_json(path)
    if record is not None and os.path.exists(_closed_path(path)):
        record["closed"] = (hv_runtime.read_json(_closed_path(path)) or {}).get("closed") or "yes"
    return record


def claim(hv, host, row, send, log):
    """The incident record for ``host``'s death (``row``: its sanlock ``host_id`` and
    ``generation``): created here, exclusively (event ``dead``), or read when this host
    created it before. None when another host owns it."""
    path = _path(hv, host, row["generation"])
    record = {
        "host": host,
        "host_id": row["host_id"],
        "generation": row["generation"],
        "detected": hv_runtime.now(),
        "by": hv["me"]["name"],
        "guests": {},
        "failover": None,
        "fence": None,
        "closed": None,
    }
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if not _create(path, record):
        existing = _read(path)
        # A record left empty or torn by a crash no longer blocks the takeover (B10).
        retried = existing is None and _set_aside_if_broken(path, log) and _create(path, record)
        if not retried:
            return existing if existing and existing.get("by") == hv["me"]["name"] else None
    data = {k: record[k] for k in ("host", "host_id", "generation", "detected", "by")}
    hv_runtime.fire(send, log, f"{EVENTS}/dead", data)
    return record


def _create(path, record):
    """Create ``path`` whole with ``record``, or not at all when it exists: written and synced
    under a name of this host's own, then hard-linked in place (atomic, exclusive)."""
    tmp = f"{path}.{socket.gethostname()}.{os.getpid()}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _set_aside_if_broken(path, log):
    """Move a record that is not whole (empty, torn) aside, as ``<path>.broken-<time>``, for a
    person to read; True when it was. Only a file older than BROKEN_AFTER seconds counts: a
    record being created is never taken for a broken one."""
    try:
        if time.time() - os.stat(path).st_mtime < BROKEN_AFTER or hv_runtime.read_json(path) is not None:
            return False
        aside = f"{path}.broken-{int(time.time())}"
        os.rename(path, aside)
    except FileNotFoundError:
        return True  # another host set it aside already: the name is free
    log.warning("takeover: %s is not a whole incident record: set aside as %s", path, aside)
    return True


def read(hv, host, generation):
    """The incident against ``host`` for its death at ``generation`` (None: none, or not
    whole yet)."""
    return _read(_path(hv, host, generation))


def save(hv, record):
    """Write ``record`` back whole; only the host that created it does (its close is a
    file of its own, never written here)."""
    hv_runtime.write_json(_path(hv, record["host"], record["generation"]), dict(record, closed=None))


def every(hv):
    """Every incident on record, newest first (a missing directory: none). Raises
    OSError when the volume does not answer."""
    directory = hv["takeover"]["incidents_dir"]
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]
    except FileNotFoundError:
        return []
    records = [r for r in (_read(os.path.join(directory, n)) for n in names) if r]
    return sorted(records, key=lambda r: r.get("detected", ""), reverse=True)


def open_against(hv, host=None):
    """The incidents against ``host`` (default: this host) not closed yet."""
    host = host or hv["me"]["name"]
    return [r for r in every(hv) if r["host"] == host and not r.get("closed")]


def close(hv, host, send, log):
    """Close the open incidents against ``host`` (None: this host), event ``closed``;
    returns their names (``<host>-g<generation>``)."""
    closed = []
    for record in open_against(hv, host):
        mark = {"closed": hv_runtime.now(), "by": hv["me"]["name"]}
        _create(_path(hv, record["host"], record["generation"], ".closed"), mark)  # False: closed already
        closed.append(f"{record['host']}-g{record['generation']}")
    if closed:
        hv_runtime.fire(
            send, log, f"{EVENTS}/closed", {"host": host or hv["me"]["name"], "incidents": closed}
        )
    return closed
