"""A running guest's backup (B9, ``_utils/hv_backup_jobs.py``): the calls to libvirt in
their order. libvirt's test driver (``test:///default``) has no backup API
(``virDomainBackupBegin``, ``virDomainGetJobStats``, ``virDomainAbortJob``: "not
supported by the connection driver"), so the domain here is a
``create_autospec(libvirt.virDomain)``: the real methods' signatures, the answers a
qemu domain gives (the job's stats as libvirt-python returns them). A real qemu backup
runs in the lab, later: these tests hold the sequence (freeze, begin, thaw at once, poll
the job, its completed stats) and every way it ends."""

from unittest.mock import call, create_autospec

import libvirt
import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import load

jobs = load("_utils", "hv_backup_jobs")
hv_backup = load("_utils", "hv_backup")
XML = hv_backup.backup_xml(["vda"], "vda", "/srv/hv-backups/vm1/20261207T030000Z.qcow2.partial")
RUNNING = {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP}
NONE = {"type": libvirt.VIR_DOMAIN_JOB_NONE}
COMPLETED = {
    "type": libvirt.VIR_DOMAIN_JOB_COMPLETED,
    "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP,
    "disk_total": 16 << 20,
    "disk_processed": 16 << 20,
    "success": True,
}
FAILED = {
    "type": libvirt.VIR_DOMAIN_JOB_FAILED,
    "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP,
    "errmsg": "No space left on device",
}


class Clock:
    """A monotonic clock that moves only when the code sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def domain(stats, freeze=2):
    """A qemu domain whose ``jobStats()`` answers ``stats`` in turn (and, with the
    COMPLETED flag, the last of them), its agent freezing ``freeze`` file systems (an
    exception: refusing)."""
    dom = create_autospec(libvirt.virDomain, instance=True)
    dom.name.return_value = "vm1"
    current, completed = list(stats[:-1]), stats[-1]

    def job_stats(flags=0):
        if flags & libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED:
            return completed
        return current.pop(0) if current else NONE

    dom.jobStats.side_effect = job_stats
    dom.abortJob.side_effect = lambda *args: current.clear()  # the job ends, cancelled
    if isinstance(freeze, Exception):
        dom.fsFreeze.side_effect = freeze
    else:
        dom.fsFreeze.return_value = freeze
    dom.fsThaw.return_value = freeze if isinstance(freeze, int) else 0
    dom.backupBegin.return_value = 0
    return dom


def push(dom, agent="connected", freeze=True, timeout=600, left_frozen=None):
    clock = Clock()
    return jobs.push(dom, XML, agent, freeze, timeout, left_frozen, sleep=clock.sleep, clock=clock), clock


def names(dom):
    """The domain's method calls, by name, in order."""
    return [c[0] for c in dom.mock_calls]


def test_with_a_connected_agent_the_guest_is_frozen_for_the_jobs_start_only():
    dom = domain([RUNNING, RUNNING, NONE, COMPLETED])
    result, clock = push(dom)
    assert names(dom) == [
        "fsFreeze",
        "backupBegin",
        "fsThaw",
        "jobStats",
        "jobStats",
        "jobStats",
        "jobStats",
    ]
    assert dom.backupBegin.call_args == call(XML, None, 0)
    assert dom.jobStats.call_args_list[-1] == call(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    assert result == {
        "frozen": True,
        "note": "2 file systems frozen by the guest agent",
        "thawed": True,
        "stats": COMPLETED,
    }
    assert clock.now == 2 * jobs.POLL


@pytest.mark.parametrize(
    ("agent", "freeze", "note"),
    [
        (None, True, "no guest agent channel: crash-consistent"),
        ("disconnected", True, "its guest agent is not connected: crash-consistent"),
        ("connected", False, "freezing is off (hypervisor:backups:freeze): crash-consistent"),
    ],
)
def test_without_an_agent_to_freeze_the_backup_is_crash_consistent(agent, freeze, note):
    dom = domain([COMPLETED])
    result, _clock = push(dom, agent=agent, freeze=freeze)
    assert names(dom) == ["backupBegin", "jobStats", "jobStats"]
    assert (result["frozen"], result["note"], result["thawed"]) == (False, note, None)


def test_an_agent_that_does_not_freeze_leaves_a_crash_consistent_backup():
    dom = domain([COMPLETED], freeze=libvirt.libvirtError("Guest agent is not responding"))
    result, _clock = push(dom, agent="unknown")
    assert names(dom) == ["fsFreeze", "backupBegin", "jobStats", "jobStats"]
    assert result["frozen"] is False and "Guest agent is not responding" in result["note"]


def test_a_backup_libvirt_refuses_to_begin_thaws_the_guest_at_once():
    dom = domain([COMPLETED])
    dom.backupBegin.side_effect = libvirt.libvirtError("another backup job is already running")
    with pytest.raises(CommandExecutionError, match="libvirt did not begin the backup: another backup"):
        push(dom)
    assert names(dom) == ["fsFreeze", "backupBegin", "fsThaw"]


def test_a_job_that_fails_says_why():
    dom = domain([RUNNING, FAILED])
    with pytest.raises(CommandExecutionError, match="the backup job failed: No space left on device"):
        push(dom, agent=None)
    assert "abortJob" in names(dom)  # at an end already: libvirt says so, and that is all


def test_a_job_past_its_timeout_is_aborted():
    dom = domain([RUNNING] * 1000 + [COMPLETED])
    with pytest.raises(CommandExecutionError, match="ran longer than 5 s: aborted"):
        push(dom, agent=None, timeout=5)
    assert names(dom).count("abortJob") == 1
    assert names(dom)[-2:] == ["abortJob", "jobStats"]  # it ended at once


def test_a_job_libvirt_loses_sight_of_is_aborted():
    dom = domain([COMPLETED])
    dom.jobStats.side_effect = libvirt.libvirtError("Unable to read from monitor: Connection reset by peer")
    with pytest.raises(CommandExecutionError, match="cannot tell how the backup job stands: Unable to read"):
        push(dom, agent=None)
    assert "abortJob" in names(dom)


def test_a_thaw_that_fails_is_tried_again_and_reported(monkeypatch):
    monkeypatch.setattr(jobs, "THAW_PAUSE", 0)
    dom = domain([COMPLETED])
    dom.fsThaw.side_effect = libvirt.libvirtError("Guest agent is not responding")
    told = []
    result, _clock = push(dom, left_frozen=lambda: told.append("frozen"))
    assert (result["frozen"], result["thawed"], told) == (True, False, ["frozen"])
    assert names(dom).count("fsThaw") == jobs.THAW_TRIES


def test_qemu_img_commands_give_every_format():
    """A guest's raw disk is never probed for another format; a backup is read as qcow2."""
    argvs = []

    def run(argv):
        argvs.append(argv)
        return {"retcode": 0, "stdout": '{"format": "qcow2"}', "stderr": ""}

    jobs.copy(run, "/d/vm1.img", "/b/x.qcow2.partial")
    assert jobs.info(run, "/b/x.qcow2") == {"format": "qcow2"}
    jobs.convert_out(run, "/b/x.qcow2", "/d/new.img.partial", "raw")
    assert argvs == [
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "/d/vm1.img", "/b/x.qcow2.partial"],
        ["qemu-img", "info", "--output=json", "-f", "qcow2", "/b/x.qcow2"],
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", "/b/x.qcow2", "/d/new.img.partial"],
    ]
    with pytest.raises(CommandExecutionError, match="qemu-img convert failed: No space left"):
        jobs.copy(lambda argv: {"retcode": 1, "stdout": "", "stderr": "No space left on device"}, "/a", "/b")
