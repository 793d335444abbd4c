"""
hv_events: the cluster's record of evacuation, takeover and keeper steps (B4),
kept on the master.

The reactor (``master.d/reactor.conf``) calls :func:`record` for every
``hv/evacuation/...``, ``hv/takeover/...``, ``hv/keeper/...``, ``hv/fence/...``,
``hv/backup/...`` and ``hv/failover/error`` event a host fires; :func:`recent`
reads them back. One JSON document per line in ``<cachedir>/hv-events.jsonl``,
mode 0600. Only the cluster's minions (the master's nodegroup) are recorded,
under the minion id the master verified, and a payload is cut to ``MAX_BYTES``
(B10): a cut one keeps only its short names and its result (``KEPT``). The file
is cut to its last ``KEEP`` lines once it passes ``TRIM_BYTES``, under a lock
that every writer takes.

Each line's ``recorded`` (the master's time, in seconds) is taken under that
lock and is never less than the line before: the file is in ``recorded``
order, which the alerts engine's cursor (``_engines/hv_alerts.py``: a time and
the count of lines already handled at that time) relies on, across trims
(which rewrite the file) and a clock set back.
"""

import contextlib
import fcntl
import json
import logging
import os
import time

import salt.utils.minions

log = logging.getLogger(__name__)

__virtualname__ = "hv_events"
FILE = "hv-events.jsonl"
NODEGROUP = "hypervisors"  # the cluster's hosts (master.d/hypervisor.conf)
KEEP = 5000
TRIM_BYTES = 4 * 1024 * 1024
MAX_BYTES = 4096  # a recorded step's payload, at most
# What a payload cut to its size still keeps, when short and plain: enough for the
# alerts (whose host, which guest, whether an evacuation failed) to say something.
KEPT = ("host", "guest", "generation", "result", "op")
KEPT_MAX = 200  # characters of such a value, at most
# What a recorded payload keeps: Salt's own keys (minion id, stamp) and ours.
DROP = ("_stamp", "cmd", "fun", "fun_args", "jid", "user")


def __virtual__():
    return __virtualname__


def _path():
    return os.path.join(__opts__["cachedir"], FILE)


def _clean(data):
    data = data if isinstance(data, dict) else {"value": data}
    inner = data.get("data") if isinstance(data.get("data"), dict) else {}
    out = {k: v for k, v in inner.items() if k not in DROP}
    out["minion"] = data.get("id")
    out["stamp"] = data.get("_stamp")
    return out


def _trim(path):
    """Keep the last KEEP lines once the file passes TRIM_BYTES (the caller holds the lock)."""
    if os.path.getsize(path) <= TRIM_BYTES:
        return
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    tmp = f"{path}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        out.writelines(lines[-KEEP:])
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path):
    fd = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _cluster_minions():
    """The minions of the master's nodegroup (the accepted keys that match it)."""
    found = salt.utils.minions.CkMinions(__opts__).check_minions(NODEGROUP, "nodegroup")
    return set(found.get("minions", []))


def _short(value):
    """Whether ``value`` is a plain scalar short enough to keep from a cut payload."""
    return isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= KEPT_MAX)


def _capped(entry):
    """The entry as one JSON line; a payload over MAX_BYTES is replaced by its size."""
    line = json.dumps(entry, sort_keys=True, default=str)
    if len(line) <= MAX_BYTES:
        return line
    kept = {k: entry[k] for k in ("minion", "stamp", "tag", "recorded")}
    kept.update({k: entry[k] for k in KEPT if _short(entry.get(k))})
    return json.dumps(dict(kept, truncated=len(line)), sort_keys=True, default=str)


def _last_recorded(path):
    """The ``recorded`` of the file's last line (0: none; the caller holds the lock). A line
    is at most a few MAX_BYTES long: the file's tail holds it."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4 * MAX_BYTES))
            tail = handle.read().splitlines()
    except FileNotFoundError:
        return 0.0
    for line in reversed(tail):
        try:
            return float(json.loads(line).get("recorded") or 0.0)
        except (ValueError, AttributeError, TypeError):
            continue  # a torn or foreign line: the one before it
    return 0.0


def record(tag, data):
    """
    Append event ``tag`` with its payload ``data`` to the record (called by the reactor),
    when the minion the master verified (``data["id"]``) is one of the cluster's; returns
    whether it was recorded.

    CLI Example:

    .. code-block:: bash

        salt-run hv_events.record hv/evacuation/started '{"id": "hyp1", "data": {}}'
    """
    entry = dict(_clean(data), tag=str(tag)[:200])
    if entry["minion"] not in _cluster_minions():
        log.warning("hv_events: %s from %r, not a minion of the cluster: not recorded", tag, entry["minion"])
        return False
    path = _path()
    with _locked(path):
        # Under the lock, never before the last line's: the file stays in recorded order.
        entry["recorded"] = max(time.time(), _last_recorded(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "a", encoding="utf-8") as handle:
            handle.write(_capped(entry) + "\n")
        _trim(path)
    return True


def recent(count=50, tag=None):
    """
    The last ``count`` recorded steps, oldest first (only tags starting with ``tag``).

    CLI Example:

    .. code-block:: bash

        salt-run hv_events.recent 20
        salt-run hv_events.recent tag=hv/evacuation/done
    """
    try:
        with open(_path(), encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
    if tag:
        rows = [r for r in rows if str(r.get("tag", "")).startswith(tag)]
    return rows[-int(count) :]
