"""
sanlock: the lockspaces this host joined and who holds each disk lease (F14, B3).

libvirt's sanlock plugin keeps one lease file per guest disk in the lease
directory on the shared ``sanlock`` volume. ``leases`` reads those files with
``sanlock direct dump`` and reports, for each, whether it is held and by
which host id, as every host sees the same files. ``status`` is this host's
own view (``sanlock client status``). The parsers are plain functions of the
command output, unit-tested on outputs captured from the lab.
"""

import hashlib
import logging
import os
import shutil
import time

import hv_sanlock_time
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "sanlock"
LEASE_DIR = "/var/lib/libvirt/sanlock"
LOCKSPACE_FILE = "__LIBVIRT__DISKS__"
LIBVIRT_CONF = "/etc/libvirt/qemu-sanlock.conf"
REJOIN_SERVICE = "hv-sanlock-rejoin"


def __virtual__():
    # Loaded even where sanlock is not installed yet (a bare or reinstalled
    # host): status() then says so, and leave() has nothing to do.
    return __virtualname__


def parse_client_status(text):
    """``sanlock client status``: the daemon, joined lockspaces, held resources."""
    out = {"daemon": None, "lockspaces": [], "resources": []}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "daemon":
            out["daemon"] = rest.strip()
        elif kind == "s":
            spec, _, flag = rest.strip().partition(" ")
            name, host_id, path, offset = spec.split(":")[:4]
            out["lockspaces"].append(
                {
                    "name": name,
                    "host_id": int(host_id),
                    "path": path,
                    "offset": int(offset),
                    # ADD while joining, REM while leaving; empty when joined.
                    "state": flag.strip() or "joined",
                }
            )
        elif kind == "r":
            spec, _, pid = rest.partition(" p ")
            lockspace, name, path, offset, lver = spec.strip().split(":")[:5]
            out["resources"].append(
                {
                    "lockspace": lockspace,
                    "name": name,
                    "path": path,
                    "offset": int(offset),
                    "lver": int(lver),
                    "pid": int(pid) if pid.strip().isdigit() else None,
                }
            )
    return out


def parse_direct_dump(text):
    """``sanlock direct dump FILE``: one row per lease (timestamp 0: not held)."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        rows.append(
            {
                "offset": int(fields[0]),
                "lockspace": fields[1],
                "resource": fields[2],
                "timestamp": int(fields[3]),
                "owner": int(fields[4]),
                "generation": int(fields[5]),
                "held": int(fields[3]) != 0,
            }
        )
    return rows


def parse_host_status(text):
    """``sanlock client host_status -D``: each host id's delta lease as this
    host last read it (``last_live``: this host's monotonic clock when that
    host's timestamp last moved)."""
    hosts, current = {}, None
    for line in text.splitlines():
        if line.startswith("lockspace "):
            continue
        fields = line.split()
        if len(fields) == 3 and fields[1] == "timestamp" and not line.startswith(" "):
            current = hosts.setdefault(int(fields[0]), {"timestamp": int(fields[2])})
        elif current is not None and "=" in line:
            key, _, value = line.strip().partition("=")
            current[key] = int(value) if value.lstrip("-").isdigit() else value
    return hosts


def _run(*args):
    if shutil.which("sanlock") is None:
        raise CommandExecutionError("sanlock is not installed (package sanlock)")
    ret = __salt__["cmd.run_all"](["sanlock", *args], python_shell=False, ignore_retcode=True)
    if ret["retcode"] != 0:
        said = (ret["stderr"] or ret["stdout"]).strip() or "no output"
        raise CommandExecutionError(f"sanlock {' '.join(args)}: exit code {ret['retcode']}, {said}")
    return ret["stdout"]


def parse_libvirt_conf(text):
    """``qemu-sanlock.conf``: the lockspace libvirt joins, or None when unset."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.strip().startswith("#"):
            values[key.strip()] = value.split("#", 1)[0].strip().strip('"')
    if "disk_lease_dir" not in values or "host_id" not in values:
        return None
    return {
        "name": LOCKSPACE_FILE,
        "host_id": int(values["host_id"]),
        "path": os.path.join(values["disk_lease_dir"], LOCKSPACE_FILE),
    }


def _readiness(state, wanted):
    """Whether a guest can start here as far as sanlock goes, and why (not)."""
    if wanted is None:
        return False, f"libvirt's sanlock plugin is not configured ({LIBVIRT_CONF})"
    if state["daemon"] is None:
        return False, "the sanlock daemon is not running"
    for lockspace in state["lockspaces"]:
        if lockspace["name"] != wanted["name"]:
            continue
        if lockspace["host_id"] != wanted["host_id"]:
            return False, f"joined as host {lockspace['host_id']}, configured as host {wanted['host_id']}"
        if lockspace["state"] != "joined":
            return (
                False,
                f"lockspace {wanted['name']} is being {'joined' if lockspace['state'] == 'ADD' else 'left'}",
            )
        return True, f"lockspace {wanted['name']} joined as host {wanted['host_id']}"
    return False, (
        f"lockspace {wanted['name']} is not joined: no guest can start here until it is "
        f"(its file {wanted['path']} must answer)"
    )


def libvirt_lockspace():
    """
    The disk lockspace libvirt's sanlock plugin uses here (name, host id, path),
    read from its configuration; None when not configured.

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.libvirt_lockspace
    """
    try:
        with open(LIBVIRT_CONF, encoding="utf-8") as handle:
            return parse_libvirt_conf(handle.read())
    except FileNotFoundError:
        return None


def status():
    """
    This host's sanlock daemon: the lockspaces it joined (with its host id),
    the resources (disk leases) its processes hold, and plainly whether this
    host can take a guest (``can_take_guests``, with the ``reason``).

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors sanlock.status
    """
    try:
        state = parse_client_status(_run("client", "status"))
    except CommandExecutionError as exc:
        state = {"daemon": None, "lockspaces": [], "resources": [], "error": str(exc)}
    state["can_take_guests"], state["reason"] = _readiness(state, libvirt_lockspace())
    return state


def join_lockspace(name, host_id, path, io_timeout=None):
    """
    Join lockspace ``name`` as ``host_id`` (its file at ``path``, offset 0),
    with ``io_timeout`` seconds (default: the daemon's); returns once joined.
    Takes about 20 s, longer if this host id's previous lease (a crashed
    daemon's) must first expire.

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.join_lockspace __LIBVIRT__DISKS__ 1 /var/lib/libvirt/sanlock/__LIBVIRT__DISKS__
    """
    timeout = ("-o", str(int(io_timeout))) if io_timeout else ()
    _run("client", "add_lockspace", *timeout, "-s", f"{name}:{int(host_id)}:{path}:0")
    return True


def host_status(watchdog_fire_timeout, lockspace=LOCKSPACE_FILE):
    """
    Every host id of ``lockspace`` as this host's sanlock sees it: its
    timestamp, generation, io_timeout, seconds since it last renewed
    (``silent``) and its ``state``: ``free``, ``live``, ``fail`` or ``dead``.

    CLI Example:

    .. code-block:: bash

        salt hyp2 sanlock.host_status 60
    """
    rows = parse_host_status(_run("client", "host_status", "-s", lockspace, "-D"))
    now = time.monotonic()
    return {
        host_id: {
            "name": row.get("owner_name", ""),
            "generation": row.get("owner_generation", 0),
            "timestamp": row["timestamp"],
            "io_timeout": row.get("io_timeout"),
            "silent": round(now - row.get("last_live", 0), 1) if row["timestamp"] else None,
            "state": hv_sanlock_time.host_state(row, now, watchdog_fire_timeout),
        }
        for host_id, row in sorted(rows.items())
    }


def leave():
    """
    Stop this host's use of sanlock cleanly (before its storage is rebuilt,
    F28): the rejoin service and libvirtd stop, every lockspace is left (its
    host lease released where the storage still answers, so that a new daemon
    may join at once), then the daemon stops. Refused while a process (a
    guest) holds a lease; nothing to do where sanlock is not installed.

    CLI Example:

    .. code-block:: bash

        salt hyp2 sanlock.leave
    """
    state = status()
    if state["resources"]:
        held = ", ".join(r["name"] for r in state["resources"])
        raise CommandExecutionError(f"leases are held here ({held}): stop or move the guests first")
    stopped, left, forced = [], [], False
    for unit in (REJOIN_SERVICE, "libvirtd", "sanlock"):
        if unit == "sanlock" and state["daemon"] is not None:
            left, forced = _leave_lockspaces(state["lockspaces"])
        if __salt__["service.available"](unit) and __salt__["service.status"](unit):
            __salt__["service.stop"](unit)
            stopped.append(unit)
    return {"left": left, "forced": forced, "stopped": stopped}


def _leave_lockspaces(lockspaces):
    """Remove each lockspace, then shut the daemon down (forced if a removal
    failed: a lockspace whose storage is gone cannot be left cleanly)."""
    left = []
    for ls in lockspaces:
        try:
            _run("client", "rem_lockspace", "-s", f"{ls['name']}:{ls['host_id']}:{ls['path']}:{ls['offset']}")
            left.append(ls["name"])
        except CommandExecutionError as exc:
            log.warning("leaving lockspace %s: %s", ls["name"], exc)
    forced = len(left) < len(lockspaces)
    _run("client", "shutdown", "-f", "1" if forced else "0", "-w", "1")
    return left, forced


def leases(lease_dir=LEASE_DIR):
    """
    Every disk lease in ``lease_dir``: held or not, and the owner's host id.

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.leases
    """
    out = {}
    for name in sorted(os.listdir(lease_dir)):
        if name == LOCKSPACE_FILE or name.startswith("."):
            continue
        for row in parse_direct_dump(_run("direct", "dump", os.path.join(lease_dir, name))):
            out[row["resource"]] = {
                "held": row["held"],
                "owner_host_id": row["owner"],
                "generation": row["generation"],
            }
    return out


def lease_name(disk_path):
    """
    The sanlock resource libvirt names after a guest disk (``auto_disk_leases``:
    the MD5 of its path); its lease file in the lease directory has that name.

    CLI Example:

    .. code-block:: bash

        salt-call sanlock.lease_name /var/lib/libvirt/images/customer1/vm1.img
    """
    return hashlib.md5(disk_path.encode(), usedforsecurity=False).hexdigest()


def guest_lease(disk_path, lease_dir=LEASE_DIR):
    """
    The disk lease of the guest whose disk is ``disk_path``: ``{"held",
    "owner_host_id", "generation"}`` (a crashed or cut-off holder leaves its
    lease held on disk: compare the generation with ``host_status``), or None
    when the guest never ran with its lease (no lease file).

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.guest_lease /var/lib/libvirt/images/customer1/vm1.img
    """
    path = os.path.join(lease_dir, lease_name(disk_path))
    if not os.path.exists(path):
        return None
    for row in parse_direct_dump(_run("direct", "dump", path)):
        return {"held": row["held"], "owner_host_id": row["owner"], "generation": row["generation"]}
    return None


def hosts(lease_dir=LEASE_DIR):
    """
    The hosts registered in the disk lockspace, by host id, with their last
    renewal timestamp (a host whose timestamp stops moving is gone) and their
    generation (one more each time the host joins again).

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.hosts
    """
    rows = parse_direct_dump(_run("direct", "dump", os.path.join(lease_dir, LOCKSPACE_FILE)))
    return {
        row["owner"]: {
            "name": row["resource"],
            "timestamp": row["timestamp"],
            "generation": row["generation"],
        }
        for row in rows
    }
