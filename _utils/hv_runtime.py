"""
hv_runtime: what the guests, takeover, keeper and cluster modules share at run
time, with or without the master: the cluster settings (the pillar's view,
else the settings copy the states keep: no secret), events that the journal
keeps when the event bus cannot take them, "now" as the records write it,
JSON files written whole, this host's locks, and the stamp of the synced code
that the units' long loops end on. Plain Python: the modules import it (``import
hv_runtime``) and hand in what they get from Salt (``__pillar__``,
``__salt__["event.send"]``).
"""

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket

try:
    from salt.exceptions import CommandExecutionError
except ImportError:
    CommandExecutionError = RuntimeError

SETTINGS_CACHE = "/var/lib/hv-evacuation/settings.json"  # evacuation:state_dir's settings copy (F25)
MINE_NAME = "hv_status"  # this host's part of the status view in the mine (cluster.local)


def settings(pillar, pillar_settings, settings_cache=None):
    """The cluster settings: ``pillar_settings()`` (the validated view) where this minion
    has the cluster pillar, marked ``offline: False``; else the settings copy at
    ``settings_cache`` (default: the states' own), marked ``offline: True`` (no secret
    in it: nothing that needs the provider's API can be done)."""
    if "hypervisor" in pillar:
        return dict(pillar_settings(), offline=False, settings_cache=None)
    path = settings_cache or SETTINGS_CACHE
    try:
        with open(path, encoding="utf-8") as handle:
            return dict(json.load(handle), offline=True, settings_cache=path)
    except (OSError, ValueError) as exc:
        raise CommandExecutionError(f"no cluster pillar here and no settings copy at {path}: {exc}") from None


def fire(send, log, tag, data, level=logging.WARNING):
    """Log event ``tag`` with ``data`` (the journal keeps it), then send it on the bus
    (``send``: ``__salt__["event.send"]``); a failed send is logged, never raised: an
    event is a notice, never the reason an action stops."""
    log.log(level, "%s %s", tag, json.dumps(data, sort_keys=True, default=str))
    try:
        send(tag, data)
    except Exception as exc:
        log.warning("could not send the event %s: %s", tag, exc)


def code_stamp(root=None):
    """The synced modules (``extmods/{modules,states,utils}/*.py``, beside this file)
    and their modification times. The keeper and takeover loops run for an hour:
    they compare this stamp after each look and end once ``saltutil.sync_all``
    changed their code, and their units start them again with the new code."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stamp = {}
    for kind in ("modules", "states", "utils"):
        with contextlib.suppress(OSError):
            for entry in os.scandir(os.path.join(root, kind)):
                if entry.name.endswith(".py"):
                    stamp[f"{kind}/{entry.name}"] = entry.stat().st_mtime_ns
    return stamp


def now():
    """UTC now, to the second, as the records write it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def publish(salt):
    """Send this host's part of the status view (``cluster.local``) to the mine
    (``salt``: ``__salt__``); returns what ``mine.send`` returned."""
    return salt["mine.send"](MINE_NAME, mine_function="cluster.local")


def read_text(path):
    """A text file's content, or None when it is missing."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def read_json(path):
    """A JSON file's content, or None when it is missing or not whole."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_json(path, data, mode=0o600):
    """Write ``data`` to ``path`` whole or not at all (a temporary file of this host and
    process, then a rename: several hosts may write in a shared directory)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{socket.gethostname()}.{os.getpid()}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(path):
    """An exclusive flock on ``path`` (made, mode 0600, in a 0700 directory), waited for."""
    with _lock_file(path) as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def try_locked(path):
    """An exclusive flock on ``path`` if nobody holds it: yields True (held) or False (busy)."""
    with _lock_file(path) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


@contextlib.contextmanager
def _lock_file(path):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        yield fd
    finally:
        os.close(fd)
