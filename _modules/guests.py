"""
The guests of this host through libvirt-python (F20, F25, F26, B2, B4): list
them, live-migrate them to another host over the private network, save them
onto the shared save volume (F17), restore them, evacuate the host, drain and
undrain it.

The promise: after any call, each guest it touched runs on exactly one host or
is saved on shared storage, and the return says which, guest by guest. A
migration that fails leaves the guest running here (libvirt rolls it back),
and it is then saved instead. sanlock's disk leases are the guard against a
guest running twice: a start or restore where the guest runs elsewhere is
refused by sanlock, and reported as such.

Every step fires an event under ``hv/evacuation/`` (B4). Settings come from the
pillar; with the master unreachable (``salt-call --local``, the shutdown unit)
from the copy the states keep in ``<state_dir>/settings.json`` (no secrets:
without the pillar, no failover IP can be moved, and the return says so).
"""

import concurrent.futures
import contextlib
import contextvars
import json
import logging
import os
import socket
import threading
import time

import hv_incidents
import hv_runtime

try:
    import libvirt

    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

try:
    from salt.exceptions import CommandExecutionError
except ImportError:
    CommandExecutionError = RuntimeError

log = logging.getLogger(__name__)

__virtualname__ = "guests"
URI = "qemu:///system"
EVENTS = "hv/evacuation"
DRAIN_MARK = "drained"
LAST_RESULT = "last.json"
SAVE_SUFFIX = ".save"
PROGRESS_EVERY = 5  # seconds between two progress events of one migration
LOCKSPACE_WAIT = 180  # seconds resume() waits at boot for the host to join its lockspace
EVACUATING_MARK = "evacuating"  # while an evacuation runs here: the keeper starts nothing here
STATES = {
    0: "no state",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutting down",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}
ACTIVE = ("running", "blocked", "paused", "shutting down", "suspended")


def __virtual__():
    if not HAS_LIBVIRT:
        return (False, "libvirt-python is not installed")
    # libvirt prints every error on stderr by default; they are raised and reported here.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return __virtualname__


# ------------------------------------------------------------------ settings, events


def _settings(settings_cache=None):
    """The cluster settings: the pillar's, else (master unreachable) the settings copy."""
    return hv_runtime.settings(__pillar__, lambda: __salt__["hypervisor_pillar.settings"](), settings_cache)


def _event(tag, data):
    """Fire ``hv/evacuation/<tag>`` (B4) and log it: the journal keeps it when the bus cannot."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data, level=logging.INFO)


def _state_path(hv, name):
    return os.path.join(hv["evacuation"]["state_dir"], name)


def _publish():
    """Refresh this host's part of the status view in the mine (``cluster.local``),
    when the cluster module is there."""
    if "cluster.local" in __salt__:
        try:
            hv_runtime.publish(__salt__)
        except Exception as exc:  # the mine lags until its next update
            log.warning("guests: refreshing the mine failed: %s", exc)


# ------------------------------------------------------------------ libvirt


def _open(uri=URI):
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"libvirt ({uri}): {exc}") from None


def _host_uri(hv, host):
    """The libvirt URI of cluster host ``host``, over ssh on the RPN (F20)."""
    ip = hv["hosts"][host]["rpn"]["ip"]
    return f"qemu+ssh://{hv['migration']['user']}@{ip}/system?no_tty=1"


def _reachable(hv, host):
    """None when ``host`` answers on its SSH port over the RPN within ``peer_timeout``,
    else why not. (A host that answers there but cannot take the guest fails the
    migration itself, and the guest is saved instead.)"""
    ip, port = hv["hosts"][host]["rpn"]["ip"], hv["firewall"]["ssh_port"]
    try:
        socket.create_connection((ip, port), timeout=hv["evacuation"]["peer_timeout"]).close()
    except OSError as exc:
        return f"{host} ({ip}) does not answer over the private network: {exc}"
    return None


def _state(dom):
    return STATES.get(dom.state()[0], "unknown")


def _domains(conn):
    return {dom.name(): dom for dom in conn.listAllDomains()}


def _remote_state(hv, host, name):
    """The guest's state on ``host`` ("absent" when not defined there), or None if unknown."""
    try:
        conn = libvirt.open(URI if host == __grains__["id"] else _host_uri(hv, host))
    except libvirt.libvirtError:
        return None
    try:
        return _state(conn.lookupByName(name))
    except libvirt.libvirtError:
        return "absent"
    finally:
        conn.close()


def list_local():
    """
    Every guest libvirt knows on this host: ``{name: {"state", "persistent"}}``.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors guests.list_local
    """
    conn = _open()
    try:
        return {
            name: {"state": _state(dom), "persistent": bool(dom.isPersistent())}
            for name, dom in sorted(_domains(conn).items())
        }
    finally:
        conn.close()


def where(name, settings_cache=None):
    """
    Guest ``name``'s state on every host that carries guests (this one through
    libvirt here, the others over ssh on the RPN): ``{host: state}``, with
    ``"absent"`` where it is not defined and ``"unknown"`` where the host does
    not answer.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.where vm1
    """
    hv = _settings(settings_cache)
    out = {}
    for host in hv["tunnels"]["members"]:
        if host != __grains__["id"] and _reachable(hv, host):
            out[host] = "unknown"
            continue
        out[host] = _remote_state(hv, host, name) or "unknown"
    return out


def _running(conn):
    return sorted(name for name, dom in _domains(conn).items() if _state(dom) in ACTIVE)


# ------------------------------------------------------------------ save, restore


def _save_dir(hv):
    return hv["evacuation"]["save_dir"]


def saved(settings_cache=None):
    """
    The guests saved on the shared save volume (F17): ``{name: path}``.
    Either host may restore them (``guests.restore``).

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.saved
    """
    directory = _save_dir(_settings(settings_cache))
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {
        n[: -len(SAVE_SUFFIX)]: os.path.join(directory, n) for n in sorted(names) if n.endswith(SAVE_SUFFIX)
    }


def _save(hv, conn, name):
    """Save running guest ``name`` to the shared volume; the guest stops. Returns the path.
    Written under a temporary name first: a save that fails leaves no file that looks whole."""
    path = os.path.join(_save_dir(hv), name + SAVE_SUFFIX)
    partial = f"{path}.partial"
    if os.path.exists(path):
        raise CommandExecutionError(f"{path} exists already: an older save of {name} was never restored")
    _writable(partial)
    dom = conn.lookupByName(name)
    try:
        dom.saveFlags(partial, None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
    except libvirt.libvirtError as exc:
        _resume_if_paused(dom)
        raise CommandExecutionError(f"saving {name} to {path} failed: {exc}") from None
    os.replace(partial, path)
    return path


def _writable(path):
    """Raise unless ``path`` can be created now. Checked before a save: libvirt pauses the
    guest first, and one whose save failed on lost storage may not run again (its lease)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(path)
    except OSError as exc:
        raise CommandExecutionError(f"the save volume cannot be written ({path}): {exc}") from None


def _resume_if_paused(dom):
    """A failed save or migration may leave the guest paused here: let it run again."""
    try:
        if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
            log.warning("guests: %s was left paused by a failed operation: resumed", dom.name())
    except libvirt.libvirtError as exc:
        log.error("guests: %s is paused and cannot be resumed: %s", dom.name(), exc)


def save(name, settings_cache=None):
    """
    Save running guest ``name`` onto the shared save volume; it stops here and
    either host can restore it. A person's save: the guest stays saved (its stop
    mark, see ``guests.stop``: no keeper, boot or undrain restores it) until
    ``guests.restore`` or ``guests.start``. Returns ``{"guest", "outcome": "saved", "path"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.save vm1
    """
    hv = _settings(settings_cache)
    _mark_stopped(hv, name, "save")
    conn = _open()
    try:
        path = _save(hv, conn, name)
    except CommandExecutionError:
        _clear_stop_mark(hv, name)
        raise
    finally:
        conn.close()
    _event("guest/saved", {"guest": name, "host": hv["me"]["name"], "path": path})
    return {"guest": name, "outcome": "saved", "path": path}


def _restore(hv, conn, name):
    """Restore guest ``name`` from its save file here; the file is removed once the guest runs
    (a second restore of it would roll its disk back). sanlock refuses where it runs elsewhere."""
    path = os.path.join(_save_dir(hv), name + SAVE_SUFFIX)
    if not os.path.exists(path):
        raise CommandExecutionError(f"{name} has no save file ({path})")
    try:
        conn.restoreFlags(path, None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"restoring {name} from {path} failed: {exc}") from None
    os.unlink(path)
    return path


def restore(name, settings_cache=None):
    """
    Restore saved guest ``name`` on this host (refused by sanlock where it runs
    elsewhere: its save file is then stale and stays). Returns ``{"guest",
    "outcome": "restored", "host"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp2 guests.restore vm1
    """
    hv = _settings(settings_cache)
    _clear_stop_mark(hv, name)
    conn = _open()
    try:
        _restore(hv, conn, name)
    finally:
        conn.close()
    _event("guest/restored", {"guest": name, "host": hv["me"]["name"]})
    return {"guest": name, "outcome": "restored", "host": hv["me"]["name"]}


# ------------------------------------------------------------------ migration


def _flags(evacuation):
    flags = (
        libvirt.VIR_MIGRATE_LIVE
        | libvirt.VIR_MIGRATE_PEER2PEER
        | libvirt.VIR_MIGRATE_PERSIST_DEST
        | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
    )
    if evacuation["auto_converge"]:
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if evacuation["postcopy"]:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    return flags


def _params(hv, host):
    """Migration data straight to the destination's RPN address, never its public one."""
    params = {libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{hv['hosts'][host]['rpn']['ip']}"}
    if hv["evacuation"]["bandwidth"]:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(hv["evacuation"]["bandwidth"])
    return params


def _watch(dom, name, host, deadline, done):
    """Progress events while a migration runs; abort it past its deadline."""
    last = 0.0
    while not done.wait(1):
        if time.monotonic() > deadline:
            log.warning("guests: migration of %s to %s ran out of time: aborting it", name, host)
            try:
                dom.abortJob()
            except libvirt.libvirtError as exc:
                log.warning("guests: aborting the migration of %s: %s", name, exc)
            return
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            try:
                stats = dom.jobStats()
            except libvirt.libvirtError:
                continue
            _event(
                "guest/progress",
                {"guest": name, "to": host, "memory_remaining": stats.get("memory_remaining")},
            )


def _migrate(hv, name, host, uri=URI):
    """Live-migrate ``name`` from ``uri`` to ``host``; return the outcome (never raises).

    Outcomes: ``migrated`` (runs on ``host`` only), ``failed`` (still runs at the
    source: libvirt rolled the migration back), ``unknown`` (neither side shows it
    running: an operator must look; not expected, libvirt keeps one side).
    """
    start = time.monotonic()
    conn = _open(uri)
    done = threading.Event()
    try:
        dom = conn.lookupByName(name)
        _event("guest/migrating", {"guest": name, "to": host})
        deadline = time.monotonic() + hv["evacuation"]["migrate_timeout"]
        watcher = threading.Thread(
            target=contextvars.copy_context().run, args=(_watch, dom, name, host, deadline, done), daemon=True
        )
        watcher.start()
        error = None
        try:
            if hv["evacuation"].get("max_downtime"):
                dom.migrateSetMaxDowntime(int(hv["evacuation"]["max_downtime"]), 0)
            dom.migrateToURI3(_host_uri(hv, host), _params(hv, host), _flags(hv["evacuation"]))
        except libvirt.libvirtError as exc:
            error = str(exc)
        finally:
            done.set()
        if error:
            _resume_if_paused(dom)
        here = _state(dom) if name in _domains(conn) else "absent"
    finally:
        conn.close()
    seconds = round(time.monotonic() - start, 2)
    if here not in ACTIVE and _remote_state(hv, host, name) == "running":
        return {"outcome": "migrated", "host": host, "seconds": seconds}
    if here in ACTIVE:
        return {"outcome": "failed", "why": error or "the guest still runs here", "seconds": seconds}
    return {
        "outcome": "unknown",
        "why": error or f"not running here ({here}) nor on {host}",
        "seconds": seconds,
    }


def migrate(name, host=None, settings_cache=None):
    """
    Live-migrate running guest ``name`` to ``host`` (default: this host's peer)
    over the private network: peer to peer, shared storage (no disk copy),
    options from ``hypervisor:evacuation``. A failed migration leaves the guest
    running here. Returns ``{"guest", "outcome", "host"|"why", "seconds"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.migrate vm1
        salt hyp1 guests.migrate vm1 host=hyp3
    """
    hv = _settings(settings_cache)
    host = host or hv["me"]["peer"]
    _check_target(hv, host)
    why = _reachable(hv, host)
    if why:
        raise CommandExecutionError(why)
    result = dict(_migrate(hv, name, host), guest=name)
    _event(f"guest/{result['outcome']}", dict(result, source=hv["me"]["name"]))
    if result["outcome"] != "migrated":
        __context__["retcode"] = 1
    return result


def _check_target(hv, host):
    me = hv["me"]["name"]
    if host == me or host not in hv["hosts"] or host not in hv["tunnels"]["members"]:
        members = ", ".join(h for h in hv["tunnels"]["members"] if h != me)
        raise CommandExecutionError(f"{host} cannot take guests from {me} (hosts that can: {members})")


# ------------------------------------------------------------------ evacuation


def _evacuate_one(hv, name, host, why_not):
    """Migrate ``name`` to ``host`` (unless ``why_not``), else save it; never raises."""
    result = {"outcome": "failed", "why": why_not}
    if not why_not:
        result = _migrate(hv, name, host)
        if result["outcome"] in ("migrated", "unknown"):
            return result
    conn = _open()
    try:
        path = _save(hv, conn, name)
        return {"outcome": "saved", "path": path, "why": result.get("why")}
    except CommandExecutionError as exc:
        return {"outcome": "running", "host": hv["me"]["name"], "why": f"{result.get('why')}; {exc}"}
    finally:
        conn.close()


def _guest_of_ip(hv):
    return {ip: name for name, guest in hv.get("guests", {}).items() for ip in guest.get("failover_ips", [])}


def _follow_failover(hv, results, host):
    """Move the failover IPs the API routes to this host to where their guests went
    (IPs of no guest, or of a saved one: to ``host``); confirmed moves (online.failover_move)."""
    me = hv["me"]["name"]
    if hv.get("offline") or "online.server_info" not in __salt__:
        return {
            "moved": {},
            "failed": {},
            "comment": "not moved: no pillar here (master unreachable), and"
            " the API token lives in the pillar only; `salt <host> guests.follow_failover` moves them",
        }
    routed, error = _routed_to(me)
    if error:
        return {"moved": {}, "failed": {"*": error}, "comment": error}
    owners = _guest_of_ip(hv)
    wanted = {}
    for ip in routed:
        if ip not in hv["failover"]["ips"]:
            continue  # not a cluster failover IP: not ours to move
        outcome = results.get(owners.get(ip), {})
        if outcome.get("outcome") == "running":
            continue  # its guest is still here: the IP stays
        dest = outcome.get("host", host) if outcome.get("outcome") == "migrated" else host
        wanted.setdefault(dest, []).append(ip)
    return _move_ips(wanted)


def _routed_to(host):
    """(the failover IPs the API routes to ``host``, None) or ([], why they are unknown)."""
    try:
        return __salt__["online.server_info"](host)["failover_ips"], None
    except Exception as exc:  # the guests have moved; the IPs' failure is reported, not raised
        return [], f"the provider's API cannot say which failover IPs {host} has: {exc}"


def _move_ips(wanted):
    """``{host: [ips]}``: one confirmed move per destination (online.failover_move)."""
    moved, failed = {}, {}
    for dest, ips in sorted(wanted.items()):
        ret = __salt__["online.failover_move"](",".join(ips), dest, wait=True)
        for ip in ips:
            if ret.get("result"):
                moved[ip] = dest
            else:
                failed[ip] = ret.get("comment")
    return {"moved": moved, "failed": failed, "comment": ""}


def _target_for(hv, host):
    return host or hv["me"]["peer"]


@contextlib.contextmanager
def _evacuating(hv):
    """The evacuating mark for the block: the keeper starts no guest here meanwhile
    (it would bring back what the evacuation just saved or moved)."""
    path = _state_path(hv, EVACUATING_MARK)
    try:
        hv_runtime.write_json(path, {"since": hv_runtime.now(), "pid": os.getpid()})
    except OSError as exc:
        log.warning("guests: could not mark the evacuation: %s", exc)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def evacuating(settings_cache=None):
    """
    Whether an evacuation runs on this host now (its process alive): ``{"evacuating",
    "since", "pid"}``. The keeper starts no guest here meanwhile.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.evacuating
    """
    hv = _settings(settings_cache)
    try:
        with open(_state_path(hv, EVACUATING_MARK), encoding="utf-8") as handle:
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


def _evacuate(hv, reason, host):
    with _evacuating(hv):
        return _evacuate_guests(hv, reason, host)


def _evacuate_guests(hv, reason, host):
    me = hv["me"]["name"]
    start = time.monotonic()
    conn = _open()
    try:
        names = _running(conn)
    finally:
        conn.close()
    _event("started", {"host": me, "to": host, "reason": reason, "guests": names})
    why_not = _reachable(hv, host) if names else None
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=hv["evacuation"]["parallel"]) as pool:
        # Each task in a copy of this context: Salt's dunders (__salt__, __grains__) live there.
        futures = {
            pool.submit(contextvars.copy_context().run, _evacuate_one, hv, name, host, why_not): name
            for name in names
        }
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except Exception as exc:  # a bug must not hide the other guests' outcomes
                results[name] = {"outcome": "unknown", "why": f"{type(exc).__name__}: {exc}"}
            _event(f"guest/{results[name]['outcome']}", dict(results[name], guest=name, source=me))
    failover = _follow_failover(hv, results, host)
    ret = {
        "host": me,
        "to": host,
        "reason": reason,
        "guests": dict(sorted(results.items())),
        "failover": failover,
        "seconds": round(time.monotonic() - start, 2),
        "result": all(r["outcome"] in ("migrated", "saved") for r in results.values())
        and not failover["failed"],
    }
    _event("done", {k: ret[k] for k in ("host", "to", "reason", "guests", "seconds", "result")})
    try:
        hv_runtime.write_json(_state_path(hv, LAST_RESULT), dict(ret, at=hv_runtime.now()))
    except OSError as exc:
        log.warning("guests: could not record the evacuation: %s", exc)
    return ret


def evacuate(reason="operator", host=None, settings_cache=None):
    """
    Move every running guest off this host: live migration to ``host``
    (default: the peer), ``evacuation:parallel`` at a time, each bounded by
    ``migrate_timeout``; a guest that cannot migrate (peer unreachable, the
    migration failed or ran out of time) is saved onto the shared save volume.
    Then the failover IPs routed here follow their guests (confirmed API moves).

    Returns ``{"host", "to", "reason", "guests": {name: {"outcome": "migrated"
    (with "host") | "saved" (with "path") | "running" (it could be neither:
    still here, with "why")}}, "failover": {"moved", "failed", "comment"},
    "seconds", "result"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.evacuate
    """
    hv = _settings(settings_cache)
    host = _target_for(hv, host)
    _check_target(hv, host)
    ret = _evacuate(hv, reason, host)
    if not ret["result"]:
        __context__["retcode"] = 1
    if not hv.get("offline"):
        _publish()
    return ret


# ------------------------------------------------------------------ drain, start, resume


def drained(settings_cache=None):
    """
    Whether this host is drained (takes no guests): ``{"drained", "since", "reason",
    "guests"}`` (``guests``: those the drain moved away).
    The mark is a file in ``evacuation:state_dir``: it survives a reboot.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors guests.drained
    """
    hv = _settings(settings_cache)
    try:
        with open(_state_path(hv, DRAIN_MARK), encoding="utf-8") as handle:
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


def drain(host=None, reason="operator"):
    """
    B2: mark this host as taking no guests (the mark survives a reboot), then
    evacuate it (``guests.evacuate``): every guest away, the failover IPs along.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.drain
    """
    hv = _settings()
    host = _target_for(hv, host)
    _check_target(hv, host)
    mark = {"since": hv_runtime.now(), "reason": reason, "guests": []}
    hv_runtime.write_json(_state_path(hv, DRAIN_MARK), mark)
    _event("drained", {"host": hv["me"]["name"], "reason": reason})
    ret = _evacuate(hv, "drain", host)
    mark["guests"] = sorted(n for n, r in ret["guests"].items() if r["outcome"] in ("migrated", "saved"))
    hv_runtime.write_json(_state_path(hv, DRAIN_MARK), mark)
    if not ret["result"]:
        __context__["retcode"] = 1
    _publish()
    return dict(ret, drained=True)


def _start(hv, conn, name):
    """Start guest ``name`` here, or restore it if saved; the outcome (never raises)."""
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return {"outcome": "failed", "why": f"{name} is not defined here"}
    if _state(dom) in ACTIVE:
        return {"outcome": "running", "host": hv["me"]["name"], "why": "already running here"}
    try:
        if os.path.exists(os.path.join(_save_dir(hv), name + SAVE_SUFFIX)):
            _restore(hv, conn, name)
            return {"outcome": "restored", "host": hv["me"]["name"]}
        dom.create()
        return {"outcome": "started", "host": hv["me"]["name"]}
    except (libvirt.libvirtError, CommandExecutionError) as exc:
        text = str(exc)
        if "held by another host" in text or "Failed to acquire lock" in text:
            return {"outcome": "elsewhere", "why": "runs on another host (sanlock holds its lease there)"}
        if _still_active(dom):  # started here meanwhile (the boot's resume and the keeper)
            return {"outcome": "running", "host": hv["me"]["name"], "why": "already running here"}
        return {"outcome": "failed", "why": text}


def _still_active(dom):
    try:
        return _state(dom) in ACTIVE
    except libvirt.libvirtError:
        return False


def start(name, settings_cache=None, keeper=False):
    """
    Start guest ``name`` on this host (restored from its save file when it has
    one). Refused by sanlock where it runs on another host; refused on a
    drained host. A person's start: it clears the guest's stop mark (see
    ``guests.stop``), and the keeper counts the guest's restarts afresh
    (``keeper``: the call is the keeper's own, or the takeover's: no person
    decided, the mark stays). Returns ``{"guest", "outcome", ...}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.start vm1
    """
    hv = _settings(settings_cache)
    if drained(settings_cache)["drained"]:
        raise CommandExecutionError(f"{hv['me']['name']} is drained: `guests.undrain` first")
    if not keeper:
        _clear_stop_mark(hv, name)
    conn = _open()
    try:
        result = dict(_start(hv, conn, name), guest=name)
    finally:
        conn.close()
    _event(f"guest/{result['outcome']}", result)
    if result["outcome"] not in ("started", "restored", "running"):
        __context__["retcode"] = 1
    _publish()
    return result


def _stop_mark_path(hv, name):
    directory = (hv.get("keeper") or {}).get("stopped_dir")
    return os.path.join(directory, f"{name}.json") if directory else None


def _mark_stopped(hv, name, verb):
    """A person stops (or saves) pillar guest ``name``: recorded on the shared volume, so
    that no keeper, highstate or boot starts it until ``guests.start`` (whatever
    ``running`` says, here or in a keeper's newer pillar)."""
    path = _stop_mark_path(hv, name)
    if path is None or name not in hv.get("guests", {}):
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


def _clear_stop_mark(hv, name):
    path = _stop_mark_path(hv, name)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def stop_mark(name, settings_cache=None):
    """
    The record of a person's stop of guest ``name`` (``guests.stop``, ``guests.save``):
    ``{"guest", "verb", "host", "at"}``, or None. While it exists, no keeper,
    highstate, boot or undrain starts the guest.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.stop_mark vm1
    """
    path = _stop_mark_path(_settings(settings_cache), name)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"guest": name, "verb": "stop", "host": None, "at": None}


def stop(name, timeout=None, settings_cache=None):
    """
    A person stops guest ``name`` here: libvirt asks it to shut down, and
    destroys it after ``timeout`` seconds (default ``keeper:stop_timeout``; 0:
    at once). A stop mark on the shared volume (``guests.stop_mark``) keeps it
    down, ``running: true`` or not: no keeper, highstate, boot or undrain starts
    it until ``guests.start``. Returns ``{"guest", "outcome": "stopped", "how"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.stop vm1
        salt hyp1 guests.stop vm1 timeout=0
    """
    hv = _settings(settings_cache)
    wait = int((hv.get("keeper") or {}).get("stop_timeout", 120) if timeout is None else timeout)
    conn = _open()
    try:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            raise CommandExecutionError(f"{name} is not defined here") from None
        _mark_stopped(hv, name, "stop")  # first: no keeper may start it once it is down
        if _state(dom) not in ACTIVE:
            return {"guest": name, "outcome": "stopped", "how": "it was not running here"}
        how = _shut_down(dom, wait)
    finally:
        conn.close()
    _event("guest/stopped", {"guest": name, "host": hv["me"]["name"], "how": how})
    _publish()
    return {"guest": name, "outcome": "stopped", "how": how}


def _shut_down(dom, wait):
    """Ask the guest to shut down, wait up to ``wait`` seconds, then destroy it."""
    if wait > 0:
        with contextlib.suppress(libvirt.libvirtError):
            dom.shutdown()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _state(dom) not in ACTIVE:
                return "shut down"
            time.sleep(1)
    try:
        dom.destroy()
    except libvirt.libvirtError as exc:
        if _state(dom) in ACTIVE:
            raise CommandExecutionError(f"{dom.name()} could not be destroyed: {exc}") from None
    return "destroyed" if wait == 0 else f"destroyed (no shutdown within {wait} s)"


def _wait_for_lockspace(timeout):
    deadline = time.monotonic() + timeout
    while not __salt__["sanlock.status"]()["can_take_guests"]:
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def resume(settings_cache=None, wait=LOCKSPACE_WAIT):
    """
    At boot (the F25 unit's start): unless this host is drained, restore every
    guest saved on the shared volume, then start the guests whose home is here
    (``running: true``). Waits for the host's sanlock lockspace first; sanlock
    refuses any guest that runs elsewhere. Returns ``{"guests": {name: outcome}}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.resume
    """
    hv = _settings(settings_cache)
    me = hv["me"]["name"]
    if not drained(settings_cache)["drained"]:
        _hold_if_taken_over(hv, settings_cache)
    if drained(settings_cache)["drained"]:
        return {"host": me, "drained": True, "guests": {}}
    if not _wait_for_lockspace(wait):
        raise CommandExecutionError(f"{me} did not join its sanlock lockspace in {wait}s: no guest started")
    wanted = sorted(saved(settings_cache))
    wanted += sorted(
        n for n, g in hv.get("guests", {}).items() if g["home"] == me and g["running"] and n not in wanted
    )
    wanted = [n for n in wanted if stop_mark(n, settings_cache) is None]  # a person keeps it down
    conn = _open()
    try:
        results = {name: _start(hv, conn, name) for name in wanted}
    finally:
        conn.close()
    for name, result in results.items():
        _event(f"guest/{result['outcome']}", dict(result, guest=name))
    return {"host": me, "drained": False, "guests": results}


def _hold_if_taken_over(hv, settings_cache=None):
    """A host whose guests another host took over (an open incident against
    it, ``takeover.open_against``) holds: it takes no guests until undrained."""
    try:
        against = hv_incidents.open_against(hv)
    except OSError as exc:
        log.warning("guests: cannot read the takeover incidents: %s", exc)
        return
    if against:
        hold(
            reason=f"taken over by {against[0]['by']} (incident of {against[0]['detected']})",
            settings_cache=settings_cache,
        )


def hold(reason="operator", settings_cache=None):
    """
    Mark this host drained without moving anything (a host whose guests were
    taken over while it was dead holds so when it comes back): it takes no
    guests until ``guests.undrain``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.hold reason="disk replacement"
    """
    hv = _settings(settings_cache)
    if drained(settings_cache)["drained"]:
        return drained(settings_cache)
    hv_runtime.write_json(
        _state_path(hv, DRAIN_MARK), {"since": hv_runtime.now(), "reason": reason, "guests": []}
    )
    _event("drained", {"host": hv["me"]["name"], "reason": reason})
    return drained(settings_cache)


def _bring_back(hv, name, me):
    """Migrate ``name`` from whichever member runs it to this host; restore it if saved."""
    conn = _open()
    try:
        if os.path.exists(os.path.join(_save_dir(hv), name + SAVE_SUFFIX)):
            return _start(hv, conn, name)
    finally:
        conn.close()
    for host in hv["tunnels"]["members"]:
        if host != me and _remote_state(hv, host, name) in ACTIVE:
            src = {**hv, "me": hv["hosts"][host]}
            return _migrate(src, name, me, uri=_host_uri(hv, host))
    conn = _open()
    try:
        return _start(hv, conn, name)
    finally:
        conn.close()


def undrain(guests=None):
    """
    B2: clear the drain mark, then bring back here the guests the drain moved
    away and those whose home is this host (``running: true``), or only
    ``guests`` (a comma-separated list): live-migrated back from the host that
    runs them, restored if saved, started if down. Their failover IPs, and this
    host's own, come back too.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.undrain
        salt hyp1 guests.undrain guests=vm1,vm2
    """
    hv = _settings()
    me = hv["me"]["name"]
    moved_away = drained()["guests"]
    taken = _close_incidents(hv)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_state_path(hv, DRAIN_MARK))
    _event("undrained", {"host": me})
    if guests:
        names = [n.strip() for n in (guests.split(",") if isinstance(guests, str) else guests) if n.strip()]
        unknown = [n for n in names if n not in hv.get("guests", {})]
        if unknown:
            raise CommandExecutionError(f"not guests of the cluster pillar: {', '.join(unknown)}")
    else:
        home = {
            n
            for n, g in hv.get("guests", {}).items()
            if g["home"] == me and g["running"] and stop_mark(n) is None  # a person keeps it down
        }
        names = sorted(home | set(moved_away) | set(taken))
    results = {}
    for name in names:
        results[name] = _bring_back(hv, name, me)
        _event(f"guest/{results[name]['outcome']}", dict(results[name], guest=name))
    ret = {"host": me, "drained": False, "guests": results}
    ret["failover"] = _follow_failover_home(hv, results)
    if any(r["outcome"] in ("failed", "unknown") for r in results.values()) or ret["failover"]["failed"]:
        __context__["retcode"] = 1
    _publish()
    return ret


def _close_incidents(hv):
    """Close the takeover incidents against this host; the guests taken from it."""
    taken = {name for r in hv_incidents.open_against(hv) for name in r.get("guests", {})}
    hv_incidents.close(hv, None, __salt__["event.send"], log)
    return sorted(taken)


def _follow_failover_home(hv, results):
    """Bring here the failover IPs of the guests now running here (``results``), and this
    host's own (its pillar ``failover_ips``) unless their guest runs on another host."""
    me = hv["me"]["name"]
    if "online.failover_move" not in __salt__ or "online" not in __pillar__:
        return {"moved": {}, "failed": {}, "comment": "no provider API settings: nothing moved"}
    routed, error = _routed_to(me)
    if error:
        return {"moved": {}, "failed": {"*": error}, "comment": error}
    owners = _guest_of_ip(hv)
    here = {name for name, result in results.items() if result.get("host") == me}
    wanted = {ip for name in here for ip in hv["guests"][name].get("failover_ips", [])}
    for ip, home in hv["failover"]["ips"].items():
        owner = owners.get(ip)
        if home == me and (owner is None or owner in here or _runs_nowhere(hv, owner)):
            wanted.add(ip)
    ips = sorted(wanted - set(routed))
    return _move_ips({me: ips} if ips else {})


def _runs_nowhere(hv, name):
    """True when no host that carries guests runs ``name`` (or answers otherwise)."""
    others = [host for host in hv["tunnels"]["members"] if host != hv["me"]["name"]]
    return name not in _running_here() and not any(_remote_state(hv, h, name) in ACTIVE for h in others)


def _running_here():
    conn = _open()
    try:
        return _running(conn)
    finally:
        conn.close()


def follow_failover():
    """
    Move each guest's failover IPs to the host where the guest runs, where the
    API routes them elsewhere (after an evacuation that could not reach the
    API or the master). Run it on any host.

    CLI Example:

    .. code-block:: bash

        salt hyp2 guests.follow_failover
    """
    hv = _settings()
    me = hv["me"]["name"]
    here = {n for n, g in list_local().items() if g["state"] in ACTIVE}
    results = {n: {"outcome": "running", "host": me} for n in here if n in hv.get("guests", {})}
    return _follow_failover_home(hv, results)
