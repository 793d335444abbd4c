"""
hv_backup_jobs: what a guest backup (B9) does to libvirt and with ``qemu-img``;
the decisions and the layout are ``hv_backup``'s. Plain Python.

A running guest: libvirt's backup API in push mode (``virDomainBackupBegin``):
qemu copies the disk as it was when the job began into a new qcow2 file while
the guest runs on. With a connected guest agent its file systems are frozen
(``fsFreeze``) just around the job's start, and thawed at once: the copy's
point in time is the job's start, so the guest is frozen for that call only.
The job is then polled (``jobStats``) until libvirt records its end, and
aborted past the timeout.

A stopped guest, or a restore: ``qemu-img convert``, formats always given
(a guest's raw disk is never probed for another format). Commands are
argument lists run by ``run`` (``__salt__["cmd.run_all"]``).
"""

import contextlib
import json
import logging
import time

import hv_backup
from hv_domains import CommandExecutionError, libvirt

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between two looks at the backup job
ABORT_WAIT = 60  # seconds an aborted job is waited for
THAW_TRIES = 3
THAW_PAUSE = 1.0


# ------------------------------------------------------------------ a running guest: libvirt's backup API


def freeze(dom):
    """Freeze the guest's file systems through its agent: ``(frozen, note)``; a refusal is
    a note (the backup goes on, crash-consistent), never an error."""
    try:
        count = dom.fsFreeze()
    except libvirt.libvirtError as exc:
        return False, f"the guest agent did not freeze its file systems ({exc}): crash-consistent"
    return True, f"{count} file systems frozen by the guest agent"


def thaw(dom):
    """Thaw the guest's file systems; tried THAW_TRIES times. Whether it answered."""
    tries = THAW_TRIES
    for attempt in range(1, tries + 1):
        try:
            dom.fsThaw()
            return True
        except libvirt.libvirtError as exc:
            log.error("backup: %s: thawing its file systems failed (try %d): %s", dom.name(), attempt, exc)
            if attempt < tries:
                time.sleep(THAW_PAUSE)
    return False


def consistency(agent, freeze_wanted):
    """Whether to freeze, and the note when not: ``agent`` is ``hv_backup.agent_state``."""
    if not freeze_wanted:
        return False, "freezing is off (hypervisor:backups:freeze): crash-consistent"
    if agent is None:
        return False, "no guest agent channel: crash-consistent"
    if agent == "disconnected":
        return False, "its guest agent is not connected: crash-consistent"
    return True, None


def push(dom, xml, agent, freeze_wanted, timeout, left_frozen=None, sleep=time.sleep, clock=time.monotonic):
    """Back the guest up by libvirt's push-mode job ``xml`` (``hv_backup.backup_xml``) and
    wait for its end. Returns ``{"frozen", "note", "thawed" (None: never frozen), "stats"
    (libvirt's completed job)}``; raises why it failed, the job aborted (libvirt removes
    the file it created for a job that did not complete). ``left_frozen()`` is called when
    the guest could not be thawed, whether the job began or not."""
    wanted, note = consistency(agent, freeze_wanted)
    frozen, thawed = False, None
    if wanted:
        frozen, note = freeze(dom)
    try:
        dom.backupBegin(xml, None, 0)
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"libvirt did not begin the backup: {exc}") from None
    finally:
        if frozen:
            thawed = thaw(dom)
            if not thawed and left_frozen is not None:
                left_frozen()
    try:
        stats = wait(dom, timeout, sleep, clock)
    except CommandExecutionError:
        abort(dom, sleep, clock)  # a job libvirt lost sight of may still write: stop it
        raise
    return {"frozen": frozen, "note": note, "thawed": thawed, "stats": stats}


def _stats(dom, flags=0):
    try:
        return dom.jobStats(flags)
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"libvirt cannot tell how the backup job stands: {exc}") from None


def wait(dom, timeout, sleep=time.sleep, clock=time.monotonic):
    """Wait for the backup job of ``dom`` to end: libvirt's completed job stats, or raise why
    it did not complete (past ``timeout`` seconds too: ``push`` then aborts it)."""
    deadline = clock() + timeout
    while hv_backup.job_running(_stats(dom)):
        if clock() > deadline:
            raise CommandExecutionError(f"the backup job ran longer than {timeout} s: aborted")
        sleep(POLL)
    stats = _stats(dom, libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    done, why = hv_backup.job_outcome(stats)
    if not done:
        raise CommandExecutionError(why)
    return stats


def abort(dom, sleep=time.sleep, clock=time.monotonic):
    """Abort the backup job of ``dom`` (if it still runs) and wait up to ABORT_WAIT for its end."""
    with contextlib.suppress(libvirt.libvirtError):
        dom.abortJob()
    deadline = clock() + ABORT_WAIT
    with contextlib.suppress(libvirt.libvirtError, CommandExecutionError):
        while hv_backup.job_running(_stats(dom)) and clock() < deadline:
            sleep(POLL)


# ------------------------------------------------------------------ qemu-img


def _check(ret, what):
    if ret.get("retcode") != 0:
        text = (ret.get("stderr") or ret.get("stdout") or "").strip()
        raise CommandExecutionError(f"{what} failed: {text or 'exit code ' + str(ret.get('retcode'))}")
    return ret


def copy(run, disk, image):
    """Copy a stopped guest's raw ``disk`` into the new qcow2 file ``image``."""
    argv = ["qemu-img", "convert", "-f", "raw", "-O", hv_backup.FORMAT, disk, image]
    _check(run(argv), "qemu-img convert")


def info(run, image):
    """``qemu-img info`` of the qcow2 file ``image`` (JSON, as a mapping)."""
    ret = _check(run(["qemu-img", "info", "--output=json", "-f", hv_backup.FORMAT, image]), "qemu-img info")
    try:
        return json.loads(ret.get("stdout") or "")
    except ValueError:
        raise CommandExecutionError("qemu-img info did not answer in JSON") from None


def convert_out(run, image, disk, fmt):
    """Write backup ``image`` (qcow2) into the new file ``disk`` in format ``fmt``."""
    argv = ["qemu-img", "convert", "-f", hv_backup.FORMAT, "-O", fmt, image, disk]
    _check(run(argv), "qemu-img convert")
