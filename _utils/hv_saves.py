"""
hv_saves: guests saved onto the shared save volume (F17) and started from it.
A save file is written under a temporary name first (a save that fails leaves
no file that looks whole) and removed once its guest runs again (a second
restore would roll its disk back). sanlock refuses a restore or a start where
the guest runs on another host. Plain Python.
"""

import contextlib
import logging
import os
import time

import hv_domains
from hv_domains import CommandExecutionError, libvirt

SAVE_SUFFIX = ".save"
TAKEN_SUFFIX = ".restoring"  # a save being restored: no longer listed, never restored twice
STALE_MARGIN = 2  # seconds: a disk written after its guest's save by more than this moved on
# libvirt's network filter runs ebtables; with the nf_tables backend a rule change that
# races another one fails the start, leaving the guest down and its save whole: try again.
FIREWALL_RACE = "Failed to run firewall command"
FIREWALL_TRIES = 3
FIREWALL_PAUSE = 1.0  # seconds between tries
log = logging.getLogger(__name__)


def save_path(hv, name):
    return os.path.join(hv["evacuation"]["save_dir"], name + SAVE_SUFFIX)


def has_save(hv, name):
    return os.path.exists(save_path(hv, name))


def saved(hv):
    """The guests saved on the shared save volume: ``{name: path}``."""
    directory = hv["evacuation"]["save_dir"]
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {
        n[: -len(SAVE_SUFFIX)]: os.path.join(directory, n) for n in sorted(names) if n.endswith(SAVE_SUFFIX)
    }


def _writable(path):
    """Raise unless ``path`` can be created now. Checked before a save: libvirt pauses the
    guest first, and one whose save failed on lost storage may not run again (its lease)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(path)
    except OSError as exc:
        raise CommandExecutionError(f"the save volume cannot be written ({path}): {exc}") from None


def save(hv, conn, name):
    """Save running guest ``name`` to the shared volume; the guest stops. Returns the path."""
    path = save_path(hv, name)
    partial = f"{path}.partial"
    if os.path.exists(path):
        raise CommandExecutionError(f"{path} exists already: an older save of {name} was never restored")
    _writable(partial)
    dom = conn.lookupByName(name)
    try:
        dom.saveFlags(partial, None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
    except libvirt.libvirtError as exc:
        hv_domains.resume_if_paused(dom)
        raise CommandExecutionError(f"saving {name} to {path} failed: {exc}") from None
    os.replace(partial, path)
    return path


def restore(hv, conn, name):
    """Restore guest ``name`` from its save file here. The file is renamed first, so that no
    later start can restore it again (even if removing it fails: a save volume that lost its
    quorum is read-only), and put back if the restore fails. A save older than the guest's
    disk (the guest ran since) is refused and set aside. Returns the path."""
    path = save_path(hv, name)
    if not os.path.exists(path):
        raise CommandExecutionError(f"{name} has no save file ({path})")
    _refuse_if_stale(hv, name, path)
    taken = f"{path}{TAKEN_SUFFIX}"
    try:
        os.rename(path, taken)
    except OSError as exc:
        raise CommandExecutionError(f"{path} cannot be taken for the restore: {exc}") from None
    try:
        _past_firewall_races(name, lambda: conn.restoreFlags(taken, None, libvirt.VIR_DOMAIN_SAVE_RUNNING))
    except libvirt.libvirtError as exc:
        with contextlib.suppress(OSError):
            os.rename(taken, path)
        raise CommandExecutionError(f"restoring {name} from {path} failed: {exc}") from None
    try:
        os.unlink(taken)
    except OSError as exc:  # never restored again: its name is no save's any more
        log.warning("guests: %s restored; %s stays (%s): remove it", name, taken, exc)
    return path


def _past_firewall_races(name, call):
    """``call()``, tried again when libvirt's network filter lost a race on its ebtables
    rules (the guest did not start: nothing runs twice); any other error is raised at once."""
    for attempt in range(1, FIREWALL_TRIES + 1):
        try:
            return call()
        except libvirt.libvirtError as exc:
            if FIREWALL_RACE not in str(exc) or attempt == FIREWALL_TRIES:
                raise
            log.warning("guests: %s: the network filter failed (%s); trying again", name, exc)
            time.sleep(FIREWALL_PAUSE)


def _refuse_if_stale(hv, name, path):
    """Raise, setting the save aside, when the guest's disk changed after the save was made:
    its memory would run over a disk that moved on (B10)."""
    disk = (hv.get("guests", {}).get(name) or {}).get("disk_path")
    try:
        stale = bool(disk) and os.path.getmtime(disk) > os.path.getmtime(path) + STALE_MARGIN
    except OSError:
        return  # no disk to compare with: libvirt's own start says what is missing
    if stale:
        aside = f"{path}.stale-{int(time.time())}"
        with contextlib.suppress(OSError):
            os.rename(path, aside)
        raise CommandExecutionError(
            f"{name}'s save file is older than its disk ({disk}): the guest ran since it was saved;"
            f" the save is set aside as {aside}; start {name} from its disk (guests.start)"
        )


def start(hv, conn, name):
    """Start guest ``name`` here, or restore it if saved; the outcome (never raises):
    ``started``, ``restored``, ``running`` (already), ``elsewhere`` (sanlock holds its
    lease on another host) or ``failed``, with ``host`` or ``why``."""
    me = hv["me"]["name"]
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return {"outcome": "failed", "why": f"{name} is not defined here"}
    if hv_domains.state(dom) in hv_domains.ACTIVE:
        return {"outcome": "running", "host": me, "why": "already running here"}
    try:
        if has_save(hv, name):
            restore(hv, conn, name)
            return {"outcome": "restored", "host": me}
        _past_firewall_races(name, dom.create)
        return {"outcome": "started", "host": me}
    except (libvirt.libvirtError, CommandExecutionError, OSError) as exc:
        text = str(exc)
        if "held by another host" in text or "Failed to acquire lock" in text:
            return {"outcome": "elsewhere", "why": "runs on another host (sanlock holds its lease there)"}
        if hv_domains.still_active(dom):  # started here meanwhile (the boot's resume and the keeper)
            return {"outcome": "running", "host": me, "why": "already running here"}
        return {"outcome": "failed", "why": text}
