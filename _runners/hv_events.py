"""
hv_events: the cluster's record of evacuation, takeover and keeper steps (B4),
kept on the master.

The reactor (``master.d/reactor.conf``) calls :func:`record` for every
``hv/evacuation/...``, ``hv/takeover/...`` and ``hv/keeper/...`` event a host
fires; :func:`recent` reads them back. One JSON document per line in
``<cachedir>/hv-events.jsonl``, mode 0600. Only the cluster's minions (the
master's nodegroup) are recorded, under the minion id the master verified, and
a payload is cut to ``MAX_BYTES`` (B10). The file is cut to its last ``KEEP``
lines once it passes ``TRIM_BYTES``, under a lock that every writer takes.
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


def _capped(entry):
    """The entry as one JSON line; a payload over MAX_BYTES is replaced by its size."""
    line = json.dumps(entry, sort_keys=True, default=str)
    if len(line) <= MAX_BYTES:
        return line
    kept = {k: entry[k] for k in ("minion", "stamp", "tag", "recorded")}
    return json.dumps(dict(kept, truncated=len(line)), sort_keys=True, default=str)


def record(tag, data):
    """
    Append event ``tag`` with its payload ``data`` to the record (called by the reactor),
    when the minion the master verified (``data["id"]``) is one of the cluster's; returns
    whether it was recorded.

    CLI Example:

    .. code-block:: bash

        salt-run hv_events.record hv/evacuation/started '{"id": "hyp1", "data": {}}'
    """
    entry = dict(_clean(data), tag=str(tag)[:200], recorded=time.time())
    if entry["minion"] not in _cluster_minions():
        log.warning("hv_events: %s from %r, not a minion of the cluster: not recorded", tag, entry["minion"])
        return False
    path = _path()
    with _locked(path):
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
