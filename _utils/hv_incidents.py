"""
hv_incidents: the takeover's incidents (B1, B6), one JSON file per dead host and
generation in ``takeover:incidents_dir``, on a shared volume with client quorum.
Only one host can create an incident (an exclusive create: only on the majority
side, and only once); an open incident against a host keeps it from taking
guests until ``guests.undrain`` closes it. Plain Python: the takeover opens and
updates incidents, the guests module reads and closes them, the keeper reads
them. Events go under ``hv/takeover/``.
"""

import json
import os

import hv_runtime

EVENTS = "hv/takeover"


def _path(hv, host, generation):
    return os.path.join(hv["takeover"]["incidents_dir"], f"{host}-g{generation}.json")


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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        record = hv_runtime.read_json(path)
        return record if record and record.get("by") == hv["me"]["name"] else None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    data = {k: record[k] for k in ("host", "host_id", "generation", "detected", "by")}
    hv_runtime.fire(send, log, f"{EVENTS}/dead", data)
    return record


def save(hv, record):
    """Write ``record`` back whole (its file is the incident's own)."""
    hv_runtime.write_json(_path(hv, record["host"], record["generation"]), record)


def every(hv):
    """Every incident on record, newest first (a missing directory: none). Raises
    OSError when the volume does not answer."""
    directory = hv["takeover"]["incidents_dir"]
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".json")]
    except FileNotFoundError:
        return []
    records = [r for r in (hv_runtime.read_json(os.path.join(directory, n)) for n in names) if r]
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
        record["closed"] = hv_runtime.now()
        save(hv, record)
        closed.append(f"{record['host']}-g{record['generation']}")
    if closed:
        hv_runtime.fire(
            send, log, f"{EVENTS}/closed", {"host": host or hv["me"]["name"], "incidents": closed}
        )
    return closed
