"""
hv_events: the cluster's record of evacuation, takeover and keeper steps (B4),
kept on the master.

The reactor (``master.d/reactor.conf``) calls :func:`record` for every
``hv/evacuation/...``, ``hv/takeover/...`` and ``hv/keeper/...`` event a host
fires; :func:`recent` reads them back. One JSON document per line in
``<cachedir>/hv-events.jsonl``, mode 0600; the file is cut to its last ``KEEP``
lines when it grows past twice that.
"""

import json
import logging
import os
import time

log = logging.getLogger(__name__)

__virtualname__ = "hv_events"
FILE = "hv-events.jsonl"
KEEP = 5000
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
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    if len(lines) > 2 * KEEP:
        tmp = f"{path}.tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
            out.writelines(lines[-KEEP:])
        os.replace(tmp, path)


def record(tag, data):
    """
    Append event ``tag`` with its payload ``data`` to the record (called by the reactor).

    CLI Example:

    .. code-block:: bash

        salt-run hv_events.record hv/evacuation/started '{"id": "hyp1", "data": {}}'
    """
    entry = dict(_clean(data), tag=str(tag), recorded=time.time())
    path = _path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
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
