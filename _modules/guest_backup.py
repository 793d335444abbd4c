"""
Guest disk backups and restores (B9), the Salt face: ``guest_backup.run``,
``run_all`` (what the schedule will call), ``backups``, ``last``, ``restore``.

A guest that runs here is backed up while it runs, by libvirt's backup job
(push mode), frozen first through its guest agent when it has a connected one
(else crash-consistent, and the manifest says so). A guest that runs nowhere is
copied by ``qemu-img`` here, only when every host that carries guests answers
that it does not run it and no live host holds its sanlock disk lease; the copy
is dropped if its disk changed meanwhile. Either is written to
``<target>/<guest>/<UTC stamp>.qcow2.partial``, renamed once whole, and its
manifest (with the sha256) written last; a failure leaves no complete-looking
backup and removes its partial. Retention runs after a success only.

Each run fires ``hv/backup/started``, then ``hv/backup/done`` or
``hv/backup/failed`` (B4: no path outside the target, no secret), and leaves
the guest's last result in ``<backups:state_dir>/last/<guest>.json`` for the
metrics. A restore writes a backup (its checksum checked first) into a new
disk file, never over an existing one, never a guest's disk; it fires
``hv/backup/restore/...``. The layout and the decisions are
``_utils/hv_backup.py``'s, the libvirt job and ``qemu-img`` are
``_utils/hv_backup_jobs.py``'s. Settings come from the pillar (the settings
copy of the shutdown units has no backup settings).
"""

import contextlib
import errno
import logging
import os
import time

import hv_backup
import hv_backup_jobs
import hv_domains
import hv_runtime
import keeper_rule
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "guest_backup"
EVENTS = "hv/backup"
RESTORE_FORMATS = ("raw", "qcow2")  # raw: what the cluster's guests use (guest_xml)
LOCK = ".lock"  # in <target>/<guest>/: one run or restore of a guest at a time


def __virtual__():
    if hv_domains.libvirt is None:
        return (False, "libvirt-python is not installed")
    hv_domains.libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return __virtualname__


# ------------------------------------------------------------------ settings, events, records


def _settings():
    hv = hv_runtime.settings(__pillar__, lambda: __salt__["hypervisor_pillar.settings"]())
    if "backups" not in hv:
        raise CommandExecutionError(
            "backups need the cluster pillar (the settings copy has none): run it with the master reachable"
        )
    return hv


def _event(tag, data):
    """Fire ``hv/backup/<tag>`` (B4) and log it: the journal keeps it when the bus cannot."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data, level=logging.INFO)


def _run(argv):
    return __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True, output_loglevel="debug")


def _target(hv):
    target = hv["backups"]["target"]["path"]
    if not target:
        raise CommandExecutionError("no backup target: set hypervisor:backups:target:path")
    return target


def _record_path(hv, name):
    return os.path.join(hv["backups"]["last_dir"], f"{name}.json")


def _record(hv, name, result, started, seconds, **facts):
    """Keep guest ``name``'s last result (a failure to is logged, never raised)."""
    path = _record_path(hv, name)
    record = hv_backup.last_record(
        name,
        hv["me"]["name"],
        result,
        started,
        hv_runtime.now(),
        round(seconds, 1),
        previous=hv_runtime.read_json(path),
        **facts,
    )
    try:
        hv_runtime.write_json(path, record)
    except OSError as exc:
        log.warning("backup: could not record %s's last result: %s", name, exc)
    return record


def _remove(*files):
    """Remove what a failed run or restore left (regular files only)."""
    for path in files:
        if path and os.path.isfile(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.unlink(path)


# ------------------------------------------------------------------ whether a stopped guest may be copied


def _lease_holder(hv, name, disk):
    """``(host, state)`` of a live holder of the guest's disk lease, or ``(None, None)``;
    raises when it cannot be read (no copy while unsure)."""
    try:
        lease = __salt__["sanlock.guest_lease"](disk)
        if not lease or not lease.get("held"):
            return None, None
        rows = __salt__["sanlock.host_status"](watchdog_fire_timeout=hv["timings"]["watchdog_fire_timeout"])
    except Exception as exc:
        raise CommandExecutionError(
            f"cannot read {name}'s disk lease ({exc}): no copy while unsure"
        ) from None
    host_ids = {h["host_id"]: n for n, h in hv["hosts"].items() if h.get("host_id") is not None}
    return keeper_rule.lease_holder(lease, host_ids, rows)


def _copy_refusal(hv, name, disk):
    """Why stopped guest ``name`` may not be copied now, or None (``hv_backup.copy_refusal``:
    every host answers that it does not run it, and no live host holds its disk lease)."""
    states = hv_domains.where(hv, name, hv["me"]["name"])
    why = hv_backup.copy_refusal(name, states)
    return why or hv_backup.copy_refusal(name, states, _lease_holder(hv, name, disk))


def _disk_stat(name, disk):
    try:
        st = os.stat(disk)
    except OSError as exc:
        raise CommandExecutionError(f"{name}'s disk {disk} cannot be read: {exc.strerror}") from None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# ------------------------------------------------------------------ one backup


def _push(hv, name, dom, disk, partial):
    """A running guest: libvirt's backup job into ``partial``."""
    xml = dom.XMLDesc(0)
    disks = hv_backup.domain_disks(xml)
    chosen = hv_backup.disk_of(disks, disk)
    if chosen is None:
        raise CommandExecutionError(
            f"{name} runs here without its disk {disk} (a definition not the pillar's)"
        )
    blocked = hv_backup.unreachable(os.path.dirname(partial))
    if blocked:
        raise CommandExecutionError(
            f"QEMU, which writes a running guest's backup as its own user, cannot pass through"
            f" {blocked}: let others search it (chmod o+x {blocked})"
        )
    job = hv_backup.backup_xml([d["name"] for d in disks], chosen, partial)
    cfg = hv["backups"]

    def left_frozen():
        log.error("backup: %s's file systems may still be frozen: `virsh domfsthaw %s`", name, name)
        _event("thaw_failed", {"guest": name, "host": hv["me"]["name"]})

    done = hv_backup_jobs.push(
        dom, job, hv_backup.agent_state(xml), cfg["freeze"], cfg["timeout"], left_frozen
    )
    return {"method": "backup-api", "frozen": done["frozen"], "note": done["note"]}


def _copy(hv, name, disk, partial):
    """A guest that runs nowhere: ``qemu-img convert`` into ``partial``, refused where it may
    run, dropped when its disk changed meanwhile."""
    why = _copy_refusal(hv, name, disk)
    if why:
        raise CommandExecutionError(why)
    before = _disk_stat(name, disk)
    hv_backup_jobs.copy(_run, disk, partial)
    if _disk_stat(name, disk) != before:
        raise CommandExecutionError(
            f"{name}'s disk changed during the copy (did it start?): the copy is dropped"
        )
    why = _copy_refusal(hv, name, disk)
    if why:
        raise CommandExecutionError(f"{why} (after the copy): the copy is dropped")
    return {"method": "copy", "frozen": False, "note": "stopped: its disk as the guest left it"}


def _make(hv, name, guest, target, stamp, started):
    """Write backup ``stamp`` of ``name``: the image under its partial name, renamed once
    whole, the manifest last; on any failure, nothing of it is left. Returns the manifest."""
    files = hv_backup.paths(target, name, stamp)
    for path in (files["image"], files["manifest"], files["partial"]):
        if os.path.lexists(path):
            raise CommandExecutionError(f"{path} exists already: one backup of {name} per second")
    disk = guest["disk_path"]
    try:
        with hv_domains.connection() as conn:
            try:
                dom = conn.lookupByName(name)
            except hv_domains.libvirt.libvirtError:
                dom = None  # not defined here: it runs nowhere here
            if dom is not None and hv_domains.state(dom) in hv_domains.ACTIVE:
                how = _push(hv, name, dom, disk, files["partial"])
            else:
                how = None
        if how is None:
            how = _copy(hv, name, disk, files["partial"])
        if not os.path.isfile(files["partial"]) or os.path.islink(files["partial"]):
            raise CommandExecutionError("the backup's image was not written")
        os.chmod(files["partial"], 0o600)
        size, digest = os.stat(files["partial"]).st_size, hv_backup.sha256(files["partial"])
        os.rename(files["partial"], files["image"])
        manifest = hv_backup.manifest(
            name,
            stamp,
            host=hv["me"]["name"],
            source=disk,
            source_bytes=_disk_stat(name, disk)[0],
            size=size,
            started=started,
            finished=hv_runtime.now(),
            digest=digest,
            **how,
        )
        hv_runtime.write_json(files["manifest"], manifest)
    except BaseException:
        _remove(files["partial"], files["image"], files["manifest"])
        raise
    return manifest


class Busy(CommandExecutionError):
    """Another backup or restore of the guest holds its lock: nothing was started."""


def _backup(hv, name, force=False):
    """One backup of pillar guest ``name`` here, with its events, record and retention.
    Events: ``started`` once it holds the guest's lock, then ``done`` or ``failed``
    (``failed`` alone when refused before it started: no target, an opt-out)."""
    me = hv["me"]["name"]
    guest = hv["guests"].get(name)
    if guest is None:
        raise CommandExecutionError(f"no guest {name} in pillar hypervisor:guests")
    target = hv["backups"]["target"]["path"]
    stamp, clock = hv_backup.stamp(), time.monotonic()
    started = hv_backup.stamp_time(stamp)
    with contextlib.ExitStack() as stack:
        try:
            if hv["me"]["role"] != "hypervisor":
                raise CommandExecutionError(f"{me} carries no guests")
            if not guest["backup"] and not force:
                raise CommandExecutionError(
                    f"{name} opts out of backups (hypervisor:guests:{name}:backup: false);"
                    " force=True overrides"
                )
            directory = hv_backup.safe_dir(_target(hv), name, create=True)
            if not stack.enter_context(hv_runtime.try_locked(os.path.join(directory, LOCK))):
                raise Busy(f"a backup or restore of {name} runs already: not started")
            _event("started", {"guest": name, "host": me, "backup": stamp})
            manifest = _make(hv, name, guest, target, stamp, started)
        except Busy:
            raise
        except Exception as exc:
            why = str(exc) if isinstance(exc, CommandExecutionError) else f"{type(exc).__name__}: {exc}"
            seconds = time.monotonic() - clock
            shown = hv_backup.redact(why, target)
            _record(hv, name, "failed", started, seconds, backup=stamp, why=shown)
            _event(
                "failed",
                {"guest": name, "host": me, "backup": stamp, "seconds": round(seconds, 1), "why": shown},
            )
            raise CommandExecutionError(f"backup of {name} failed: {why}") from None
        try:
            pruned = hv_backup.prune(target, name, hv["backups"]["keep"])
        except (OSError, CommandExecutionError) as exc:
            pruned = {"deleted": [], "failed": {"*": str(exc)}}
    seconds = time.monotonic() - clock
    facts = {key: manifest[key] for key in ("method", "frozen", "consistency", "bytes")}
    _record(hv, name, "done", started, seconds, backup=stamp, **facts)
    _event(
        "done",
        dict(facts, guest=name, host=me, backup=stamp, seconds=round(seconds, 1), pruned=pruned["deleted"]),
    )
    return dict(
        facts,
        guest=name,
        result=True,
        backup=stamp,
        image=hv_backup.paths(target, name, stamp)["image"],
        note=manifest["note"],
        seconds=round(seconds, 1),
        pruned=pruned["deleted"],
        **({"prune_failed": pruned["failed"]} if pruned["failed"] else {}),
    )


def run(name, force=False):
    """
    Back guest ``name``'s disk up now, from this host: while it runs, if it runs here
    (libvirt's backup job; frozen through its guest agent when it has one), else a copy of
    its stopped disk, refused unless no host runs it, surely. Retention
    (``backups:keep``) follows a success. A guest with ``backup: false`` only with
    ``force=True``. Returns ``{"guest", "result", "backup" (its name, the UTC start),
    "image", "method" (backup-api or copy), "frozen", "consistency", "note", "bytes",
    "seconds", "pruned"}``; raises why it failed (and records it).

    CLI Example:

    .. code-block:: bash

        salt hyp1 guest_backup.run vm1
    """
    return _backup(_settings(), name, force=bool(force))


def run_all():
    """
    The scheduled run (B9): when ``backups:enabled``, back up each guest of
    ``backups:guests`` that runs here, and each that runs nowhere whose home is here;
    those that run on another host are that host's. Returns ``{"enabled", "host",
    "guests": {name: run's return, or {"result": False, "why"}, or {"result": None,
    "skipped"}}, "result"}``.

    CLI Example:

    .. code-block:: bash

        salt -N guest_hosts guest_backup.run_all
    """
    hv = _settings()
    me = hv["me"]["name"]
    if not hv["backups"]["enabled"]:
        return {
            "enabled": False,
            "host": me,
            "guests": {},
            "result": True,
            "comment": "hypervisor:backups is off",
        }
    here = set(hv_domains.running_here())
    results = {}
    for name in hv["backups"]["guests"]:
        if name not in here:
            home = hv["guests"][name]["home"]
            elsewhere = sorted(
                h for h, s in hv_domains.where(hv, name, me).items() if h != me and s in hv_domains.ACTIVE
            )
            if elsewhere or home != me:
                why = (
                    f"runs on {', '.join(elsewhere)}"
                    if elsewhere
                    else f"runs nowhere; its home {home} copies it"
                )
                results[name] = {"result": None, "skipped": why}
                continue
        try:
            results[name] = _backup(hv, name)
        except Busy as exc:  # a run by hand: its own result is on record
            results[name] = {"result": None, "skipped": str(exc)}
        except CommandExecutionError as exc:
            results[name] = {"result": False, "why": str(exc)}
    ok = all(r["result"] is not False for r in results.values())
    if not ok:
        __context__["retcode"] = 1
    return {"enabled": True, "host": me, "guests": results, "result": ok}


# ------------------------------------------------------------------ what there is


def backups(name):
    """
    Guest ``name``'s backups in the target, newest first: ``{"guest", "dir", "backups":
    [{"name", "complete", "why" (what makes it incomplete), "bytes", "finished", "method",
    "consistency"}], "foreign": other files there}``. A guest no longer in the pillar too.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guest_backup.backups vm1
    """
    hv = _settings()
    target = _target(hv)
    scanned = hv_backup.scan(target, name)
    out = []
    for entry in scanned["backups"]:
        manifest = entry["manifest"] or {}
        row = {"name": entry["name"], "complete": entry["complete"], "why": entry["why"]}
        row.update({key: manifest.get(key) for key in ("bytes", "finished", "method", "consistency")})
        out.append(row)
    return {
        "guest": name,
        "dir": hv_backup.guest_dir(target, name),
        "backups": out,
        "foreign": scanned["foreign"],
    }


def last(name=None):
    """
    The last backup result of guest ``name`` (default: every guest's, by name), as the
    metrics read it: ``{"guest", "host", "result" (done or failed), "started",
    "finished", "seconds", "bytes", "backup", "why", "last_success"}``; None when none.

    CLI Example:

    .. code-block:: bash

        salt -N guest_hosts guest_backup.last
        salt hyp1 guest_backup.last vm1
    """
    hv = _settings()
    if name is not None:
        return hv_runtime.read_json(_record_path(hv, name))
    return keeper_rule.read_dir(hv["backups"]["last_dir"])


# ------------------------------------------------------------------ restore


def _link_new(partial, disk):
    """``partial`` becomes ``disk``, which must not exist: a hard link (refused when it
    does), or, where the file system has none, a rename after a last look."""
    try:
        os.link(partial, disk)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if os.path.lexists(disk):
            raise CommandExecutionError(f"{disk} appeared meanwhile: not overwritten") from None
        os.rename(partial, disk)
        return
    os.unlink(partial)


def restore(name, backup=None, disk=None, fmt="raw"):
    """
    Write backup ``backup`` of guest ``name`` (its name, like ``20261207T030000Z``;
    empty or ``latest``: the newest complete one) into the NEW disk file ``disk`` (in
    ``fmt``: raw, the guests' own, or qcow2). Its checksum is checked first; the guest,
    its disk and its definition are not touched: nothing is overwritten, no pillar
    guest's disk path is written. Put it in place by hand (docs/backups.md). Returns
    ``{"guest", "backup", "disk", "format", "bytes", "seconds", "result"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guest_backup.restore vm1 latest /var/lib/libvirt/images/customer1/vm1-restored.img
        salt hyp1 guest_backup.restore vm1 20261207T030000Z /srv/restore/vm1.img
    """
    hv = _settings()
    me, target = hv["me"]["name"], _target(hv)
    if fmt not in RESTORE_FORMATS:
        raise CommandExecutionError(f"format {fmt!r} is not one of {', '.join(RESTORE_FORMATS)}")
    guest_disks = [g["disk_path"] for g in hv["guests"].values()]
    plan = hv_backup.plan_restore(target, name, backup, disk, guest_disks)
    clock = time.monotonic()
    _event("restore/started", {"guest": name, "host": me, "backup": plan["backup"]})
    try:
        with hv_runtime.try_locked(os.path.join(hv_backup.guest_dir(target, name), LOCK)) as held:
            if not held:
                raise CommandExecutionError(f"a backup or restore of {name} runs now: try again after it")
            expected = ((plan["manifest"] or {}).get("checksum") or {}).get("sha256")
            if hv_backup.sha256(plan["image"]) != expected:
                raise CommandExecutionError(f"backup {plan['backup']} of {name} does not match its checksum")
            why = hv_backup.image_refusal(hv_backup_jobs.info(_run, plan["image"]))
            if why:
                raise CommandExecutionError(f"backup {plan['backup']} of {name} is refused: {why}")
            hv_backup_jobs.convert_out(_run, plan["image"], plan["partial"], fmt)
            os.chmod(plan["partial"], 0o600)
            _link_new(plan["partial"], plan["disk"])
    except Exception as exc:
        _remove(plan["partial"])
        why = str(exc) if isinstance(exc, CommandExecutionError) else f"{type(exc).__name__}: {exc}"
        _event(
            "restore/failed",
            {"guest": name, "host": me, "backup": plan["backup"], "why": hv_backup.redact(why, target)},
        )
        raise CommandExecutionError(f"restore of {name} failed: {why}") from None
    seconds = round(time.monotonic() - clock, 1)
    size = os.stat(plan["disk"]).st_size
    _event(
        "restore/done",
        {"guest": name, "host": me, "backup": plan["backup"], "seconds": seconds, "bytes": size},
    )
    return {
        "guest": name,
        "backup": plan["backup"],
        "disk": plan["disk"],
        "format": fmt,
        "bytes": size,
        "seconds": seconds,
        "result": True,
    }
