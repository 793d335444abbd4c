"""
hv_failover_files: the failover code's files on this host: Shorewall's proxyarp
file (parsed, rendered), the move history (``<state_dir>/moves.json``), the last
poll of the provider (``<state_dir>/last-poll.json``), and the locks; every write
atomic (temporary file, fsync, rename).

Plain Python (imported by ``_modules/online.py`` and its sibling utils).
"""

import contextlib
import json
import logging
import os
import tempfile

from hv_failover_base import normal_ip, sorted_ips
from hv_runtime import locked, try_locked  # noqa: F401 (the failover code's locks: moves, sync)

log = logging.getLogger(__name__)

PROXYARP_FILE = "proxyarp"
HISTORY_FILE = "moves.json"
POLL_FILE = "last-poll.json"
POLL_HEARTBEAT = 30  # seconds: an unchanged poll's outcome is recorded again this often
MOVES_LOCK = "moves.lock"
SYNC_LOCK = "sync.lock"
HISTORY_MAX = 200  # moves kept in moves.json (the budget's window needs far fewer)
HEADER = (
    "# Managed by Salt (online.sync_failover): local changes are overwritten.\n"
    "# F22: this host answers ARP on its public NIC for the failover IPs the provider's\n"
    "# API routes to it, and routes them to the guests' bridge; on the guests' bridge it\n"
    "# answers only for the hosts' public gateways (INTERFACE -). See man shorewall-proxyarp.\n"
    "#ADDRESS\tINTERFACE\tEXTERNAL\tHAVEROUTE\tPERSISTENT\n"
)


def proxyarp_path(hv):
    return os.path.join(hv["firewall"]["config_dir"], PROXYARP_FILE)


def parse_proxyarp(text):
    """The failover IPs of a Shorewall proxyarp file (first column), sorted: not the
    gateways' lines (no INTERFACE: answered on the bridge, routed nowhere new)."""
    ips = []
    for line in (text or "").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and normal_ip(fields[0]) and fields[1:2] != ["-"]:
            ips.append(normal_ip(fields[0]))
    return sorted_ips(ips)


def answered(path):
    """The addresses of the proxyarp file at ``path`` (none when there is no file)."""
    raw = read_bytes(path)
    return parse_proxyarp(raw.decode("utf-8", "replace")) if raw is not None else []


def render(ips, bridge, interface, gateways=()):
    """The proxyarp file for ``ips``: routed to ``bridge``, answered on ``interface``; and
    each of ``gateways`` answered on ``bridge`` (when there is one) for the guests there.
    The bridge answers for nothing else (its ``proxyarp=0`` in Shorewall's interfaces):
    with the bridges joined between the hosts, another host answering for a guest's IP
    would take the guest's traffic in a loop."""
    lines = [f"{ip}\t{bridge}\t{interface}\tNo\tYes\n" for ip in sorted_ips(ips)]
    if bridge != "-":
        lines += [f"{gateway}\t-\t{bridge}\tYes\tYes\n" for gateway in sorted_ips(gateways)]
    return HEADER + "".join(lines)


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomic(path, data, mode, durable=True):
    """Write ``data`` (bytes) to ``path``: a temporary file in the same directory, fsync, rename
    (``durable`` False: no fsync, for a record that may be lost with a crash)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if not durable:
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def restore(path, previous):
    """Put back the bytes ``path`` held (None: there was no file)."""
    if previous is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        write_atomic(path, previous, 0o644)


def load_history(path):
    """This host's moves (``[{"time", "ips", "to"}]``); an unreadable file counts as none."""
    raw = read_bytes(path)
    if raw is None:
        return []
    try:
        moves = json.loads(raw)["moves"]
        return [
            m for m in moves if isinstance(m.get("time"), (int, float)) and isinstance(m.get("ips"), list)
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("online: %s is not a move history: starting a new one", path)
        return []


def save_history(path, moves):
    write_atomic(path, json.dumps({"moves": moves[-HISTORY_MAX:]}, indent=1).encode(), 0o600)


def save_poll(path, when, ips, kind):
    """Record a poll that reached the provider: when, the IPs it routes here (sorted), and
    the kind of error (None: it answered). No message: nothing of the API's words. The
    beacon polls every second or so: an outcome like the one recorded is written again
    only every POLL_HEARTBEAT seconds, and never synced to disk (a record for the metrics,
    not a journal: the beacon's loop must not wait on the disk). Returns whether it wrote."""
    ips = sorted_ips(ips)
    last = load_poll(path)
    if last and (last["ips"], last["kind"]) == (ips, kind) and 0 <= when - last["time"] < POLL_HEARTBEAT:
        return False
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_atomic(path, json.dumps({"time": when, "ips": ips, "kind": kind}).encode(), 0o600, durable=False)
    return True


def load_poll(path):
    """The last recorded poll (``{"time", "ips", "kind"}``), or None (none, or unreadable)."""
    raw = read_bytes(path)
    if raw is None:
        return None
    try:
        poll = json.loads(raw)
        ips = [normal_ip(ip) for ip in poll["ips"]]
        if not isinstance(poll["time"], (int, float)) or None in ips:
            raise ValueError("bad fields")
        kind = poll["kind"] if isinstance(poll["kind"], str) else None
        return {"time": float(poll["time"]), "ips": sorted_ips(ips), "kind": kind}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("online: %s is not a poll's record: taken for none", path)
        return None
