"""The guest_backup execution module (B9): a backup's run, its record, events,
retention and refusals; restores; the scheduled run's choices.

libvirt is its in-process test driver (``test:///default``) where that driver has what
the module uses: domains defined, started or not, their live XML, an agent's
fsFreeze/fsThaw. It has no backup API: a running guest's backup fails there at
``backupBegin``, which shows what a failure leaves (nothing, and the guest thawed); the
success of libvirt's job is driven on a ``create_autospec(libvirt.virDomain)`` (the
sequence itself: ``test_guest_backup_jobs.py``; a real qemu backup runs in the lab,
later). ``qemu-img`` is a stand-in script (a copy, its JSON ``info``, its failures) so
that every run here checks the module's files; where a real ``qemu-img`` is installed,
the last tests make a real qcow2 of a stopped guest's disk and restore it for real. The
other hosts (``hv_domains.where``) and sanlock's lease are the module's inputs, set per
test."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest.mock import create_autospec

import libvirt
import pytest
import salt.modules.cmdmod
import salt.modules.event
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import lab_pillar

module = load("_modules", "guest_backup")
sanlock = load("_modules", "sanlock")
hv_backup = load("_utils", "hv_backup")
TEST_URI = "test:///default"
QEMU_IMG = shutil.which("qemu-img")
DISK = b"guest disk " * 100_000  # about 1 MiB
AGENT = (
    "    <channel type='unix'><source mode='bind'/>"
    "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n"
)
libvirt.registerErrorHandler(lambda _ctx, _error: None, None)

STANDIN = """#!{python}
# qemu-img's stand-in: convert copies the bytes, info says what a plain qcow2 says; a failure
# of convert leaves a half-written output.
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["STANDIN_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("STANDIN_FAIL") == args[0]:
    if args[0] == "convert":  # a half-written output, as a failure may leave
        with open(args[-1], "wb") as half:
            half.write(b"half")
    sys.stderr.write("qemu-img: Could not open '%s': Permission denied\\n" % args[-2])
    sys.exit(1)
if args[0] == "convert":
    shutil.copyfile(args[-2], args[-1])
elif args[0] == "info":
    info = {{"format": "qcow2", "virtual-size": os.path.getsize(args[-1]),
            "format-specific": {{"type": "qcow2", "data": {{}}}}}}
    if os.environ.get("STANDIN_BACKING"):
        info["backing-filename"] = os.environ["STANDIN_BACKING"]
    print(json.dumps(info))
"""


def run_all(cmd, python_shell=False, ignore_retcode=False, output_loglevel="debug", **_kwargs):
    """cmd.run_all as the module calls it: an argument list, really run."""
    assert isinstance(cmd, list) and python_shell is False
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return {"retcode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "pid": 0}


@pytest.fixture
def reachable_dir():
    """A directory every user may pass through down from / (QEMU's user must reach a
    running guest's backup image): pytest's own temporary directories are root's alone."""
    path = tempfile.mkdtemp(prefix="hv-backup-test-", dir="/var/tmp")
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def hv(tmp_path, reachable_dir):
    pillar = lab_pillar()
    pillar["hypervisor"]["pools"]["customer1"]["path"] = str(tmp_path / "customer1")
    pillar["hypervisor"]["backups"] = {"enabled": True, "target": {"path": "/srv/hv-backups"}, "keep": 2}
    view = hv_views.build(pillar, layered_parameters("Debian"), "hyp1")
    view["backups"]["target"]["path"] = os.path.join(reachable_dir, "backups")
    view["backups"]["last_dir"] = str(tmp_path / "state" / "last")
    (tmp_path / "customer1").mkdir()
    os.mkdir(view["backups"]["target"]["path"], 0o711)
    (tmp_path / "customer1" / "vm1.img").write_bytes(DISK)
    return view


@pytest.fixture
def target(hv):
    return hv["backups"]["target"]["path"]


@pytest.fixture
def events():
    return []


@pytest.fixture
def salt_mods(hv, events):
    return {
        "hypervisor_pillar.settings": create_autospec(hypervisor_pillar.settings, return_value=hv),
        "event.send": create_autospec(
            salt.modules.event.send, side_effect=lambda tag, data: events.append((tag, data))
        ),
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all, side_effect=run_all),
        "sanlock.guest_lease": create_autospec(sanlock.guest_lease, return_value=None),
        "sanlock.host_status": create_autospec(sanlock.host_status, return_value={}),
    }


@pytest.fixture
def configure_loader_modules(salt_mods):
    return {module: {"__salt__": salt_mods, "__pillar__": {"hypervisor": {}}, "__context__": {}}}


@pytest.fixture
def conn(monkeypatch):
    monkeypatch.setattr(module.hv_domains, "URI", TEST_URI)
    conn = libvirt.open(TEST_URI)
    yield conn
    for dom in conn.listAllDomains():
        if dom.name() != "test":  # the driver's own
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
    conn.close()


@pytest.fixture
def states(monkeypatch):
    """vm1's state on every host (``hv_domains.where``): shut off everywhere unless a test
    says otherwise."""
    found = {"hyp1": "shut off", "hyp2": "shut off"}
    monkeypatch.setattr(module.hv_domains, "where", lambda _hv, _name, _me: dict(found))
    return found


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """qemu-img's stand-in first on PATH; returns its log (each call's arguments)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    script = directory / "qemu-img"
    script.write_text(STANDIN.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}:{os.environ['PATH']}")
    log = tmp_path / "qemu-img.log"
    monkeypatch.setenv("STANDIN_LOG", str(log))
    log.write_text("")
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def vm1(conn, hv):
    """vm1 defined in the test driver as the pillar says, with a guest agent channel; not running."""
    return conn.defineXML(
        hv["guests"]["vm1"]["xml"].replace("    <serial type='pty'/>\n", AGENT + "    <serial type='pty'/>\n")
    )


def listing(target, guest="vm1"):
    directory = os.path.join(target, guest)
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def tags(events):
    return [tag for tag, _data in events]


# ------------------------------------------------------------------ a stopped guest


def test_a_stopped_guest_is_copied_whole_with_its_manifest_last(hv, target, vm1, states, standin, events):
    ret = module.run("vm1")
    name = ret["backup"]
    assert ret == {
        "guest": "vm1",
        "result": True,
        "backup": name,
        "image": f"{target}/vm1/{name}.qcow2",
        "method": "copy",
        "frozen": False,
        "consistency": "stopped",
        "note": "stopped: its disk as the guest left it",
        "bytes": len(DISK),
        "seconds": ret["seconds"],
        "pruned": [],
    }
    assert listing(target) == [".lock", f"{name}.json", f"{name}.qcow2"]
    assert os.stat(ret["image"]).st_mode & 0o777 == 0o600
    manifest = json.loads(Path(f"{target}/vm1/{name}.json").read_text())
    assert manifest["checksum"]["sha256"] == hv_backup.sha256(ret["image"])
    assert (manifest["source"], manifest["image"], manifest["host"]) == (
        {"disk": hv["guests"]["vm1"]["disk_path"], "bytes": len(DISK)},
        f"{name}.qcow2",
        "hyp1",
    )
    assert standin() == [
        ["convert", "-f", "raw", "-O", "qcow2", hv["guests"]["vm1"]["disk_path"], f"{ret['image']}.partial"]
    ]
    assert tags(events) == ["hv/backup/started", "hv/backup/done"]
    done = events[1][1]
    assert (done["guest"], done["bytes"], done["backup"], done["pruned"]) == ("vm1", len(DISK), name, [])
    assert isinstance(done["seconds"], float) and "/" not in json.dumps(done)
    last = module.last("vm1")
    assert (last["result"], last["bytes"], last["backup"], last["last_success"]["backup"]) == (
        "done",
        len(DISK),
        name,
        name,
    )
    assert module.last() == {"vm1": last}
    assert module.backups("vm1")["backups"] == [
        {
            "name": name,
            "complete": True,
            "why": None,
            "bytes": len(DISK),
            "finished": manifest["finished"],
            "method": "copy",
            "consistency": "stopped",
        }
    ]


def test_retention_follows_a_success_and_only_a_success(hv, target, vm1, states, standin, monkeypatch):
    old = ["20261201T030000Z", "20261202T030000Z", "20261203T030000Z"]
    for name in old:
        files = hv_backup.paths(target, "vm1", name)
        os.makedirs(files["dir"], exist_ok=True)
        open(files["image"], "wb").close()
        with open(files["manifest"], "w") as handle:
            json.dump(
                {"guest": "vm1", "image": f"{name}.qcow2", "checksum": {"sha256": "0" * 64}, "finished": 1},
                handle,
            )
    monkeypatch.setenv("STANDIN_FAIL", "convert")
    with pytest.raises(CommandExecutionError):
        module.run("vm1")
    assert hv_backup.complete(hv_backup.scan(target, "vm1")) == old[::-1]  # keep 2, but it failed
    monkeypatch.delenv("STANDIN_FAIL")
    ret = module.run("vm1")
    assert ret["pruned"] == ["20261202T030000Z", "20261201T030000Z"]
    assert hv_backup.complete(hv_backup.scan(target, "vm1")) == [ret["backup"], "20261203T030000Z"]


def test_a_failed_copy_leaves_nothing_and_says_why_without_the_disks_path(
    hv, target, vm1, states, standin, events, monkeypatch
):
    monkeypatch.setenv("STANDIN_FAIL", "convert")
    with pytest.raises(CommandExecutionError, match="backup of vm1 failed: qemu-img convert failed"):
        module.run("vm1")
    assert listing(target) == [".lock"]
    assert tags(events) == ["hv/backup/started", "hv/backup/failed"]
    why = events[1][1]["why"]
    assert why == "qemu-img convert failed: qemu-img: Could not open '<path>': Permission denied"
    last = module.last("vm1")
    assert (last["result"], last["why"], last["last_success"]) == ("failed", why, None)


@pytest.mark.parametrize(
    ("where", "lease", "why"),
    [
        ({"hyp2": "running"}, None, "vm1 runs on hyp2: its backup is made there"),
        ({"hyp2": "unknown"}, None, r"cannot tell whether vm1 runs on hyp2 \(no answer\)"),
        ({}, {"held": True, "owner_host_id": 2, "generation": 4}, r"disk lease is held by hyp2 \(live\)"),
        ({}, RuntimeError("sanlock is not running"), "cannot read vm1's disk lease"),
    ],
)
def test_a_stopped_guest_is_not_copied_unless_it_surely_runs_nowhere(
    hv, target, vm1, states, standin, salt_mods, where, lease, why
):
    states.update(where)
    if isinstance(lease, Exception):
        salt_mods["sanlock.guest_lease"].side_effect = lease
    else:
        salt_mods["sanlock.guest_lease"].return_value = lease
    salt_mods["sanlock.host_status"].return_value = {2: {"generation": 4, "state": "live"}}
    with pytest.raises(CommandExecutionError, match=why):
        module.run("vm1")
    assert standin() == [] and listing(target) == [".lock"]
    assert module.last("vm1")["result"] == "failed"


def test_a_stale_lease_does_not_keep_a_stopped_guest_from_its_backup(hv, vm1, states, standin, salt_mods):
    """Held on disk by a host that joined again since (another generation): takeable."""
    salt_mods["sanlock.guest_lease"].return_value = {"held": True, "owner_host_id": 2, "generation": 3}
    salt_mods["sanlock.host_status"].return_value = {2: {"generation": 4, "state": "live"}}
    assert module.run("vm1")["method"] == "copy"


def test_a_copy_whose_disk_changed_meanwhile_is_dropped(hv, target, vm1, states, standin, salt_mods):
    disk = hv["guests"]["vm1"]["disk_path"]

    def started_meanwhile(cmd, **kwargs):
        ret = run_all(cmd, **kwargs)
        with open(disk, "ab") as handle:
            handle.write(b"the guest writes")
        return ret

    salt_mods["cmd.run_all"].side_effect = started_meanwhile
    with pytest.raises(CommandExecutionError, match=r"disk changed during the copy \(did it start\?\)"):
        module.run("vm1")
    assert listing(target) == [".lock"]


# ------------------------------------------------------------------ a running guest


def test_a_running_guests_backup_needs_libvirts_job_which_the_test_driver_lacks(
    hv, target, vm1, standin, events
):
    """Through the test driver: its live XML, the agent channel, fsFreeze and fsThaw are
    real; ``backupBegin`` is not supported there: the run fails, the guest is thawed,
    nothing is left, and no copy is tried behind a running guest's back."""
    vm1.create()
    with pytest.raises(CommandExecutionError, match="libvirt did not begin the backup: this function is not"):
        module.run("vm1")
    assert vm1.fsThaw() == 0  # nothing left frozen
    assert listing(target) == [".lock"] and standin() == []
    assert tags(events) == ["hv/backup/started", "hv/backup/failed"]
    assert module.last("vm1")["result"] == "failed"


def test_a_running_guest_is_backed_up_by_libvirts_job(hv, target, vm1, monkeypatch, events):
    """libvirt's side is a ``create_autospec(libvirt.virDomain)`` (the test driver has no
    backup API): its backupBegin writes the file the XML names, as qemu does; the job
    runs, then completes."""
    vm1.create()
    xml = vm1.XMLDesc(0).replace(
        "name='org.qemu.guest_agent.0'", "name='org.qemu.guest_agent.0' state='connected'"
    )
    dom = create_autospec(libvirt.virDomain, instance=True)
    dom.name.return_value = "vm1"
    dom.state.return_value = [libvirt.VIR_DOMAIN_RUNNING, 1]
    dom.XMLDesc.return_value = xml
    dom.fsFreeze.return_value = dom.fsThaw.return_value = 1
    written = {}

    def begin(backup_xml, _checkpoint, _flags):
        path = backup_xml.split("<target file='")[1].split("'")[0]
        with open(path, "wb") as handle:
            handle.write(b"QFI\xfb a qcow2 of vm1")
        written["path"] = path

    dom.backupBegin.side_effect = begin
    stats = [{"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP}]
    completed = {
        "type": libvirt.VIR_DOMAIN_JOB_COMPLETED,
        "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP,
    }
    dom.jobStats.side_effect = lambda flags=0: completed if flags else (stats.pop() if stats else {"type": 0})
    fake = create_autospec(libvirt.virConnect, instance=True)
    fake.lookupByName.return_value = dom
    monkeypatch.setattr(module.hv_domains, "connect", lambda uri=None: fake)
    monkeypatch.setattr(module.hv_backup_jobs, "POLL", 0)
    ret = module.run("vm1")
    assert (ret["method"], ret["frozen"], ret["consistency"], ret["bytes"]) == (
        "backup-api",
        True,
        "filesystem",
        len(b"QFI\xfb a qcow2 of vm1"),
    )
    assert written["path"] == f"{ret['image']}.partial"
    assert [c[0] for c in dom.mock_calls][2:5] == ["fsFreeze", "backupBegin", "fsThaw"]
    assert listing(target) == [".lock", f"{ret['backup']}.json", f"{ret['backup']}.qcow2"]
    assert tags(events) == ["hv/backup/started", "hv/backup/done"] and events[1][1]["frozen"] is True


def test_a_target_qemu_cannot_reach_is_refused_before_libvirt_is_asked(hv, vm1, monkeypatch, events):
    """The lab's first run: a target of mode 0700 made libvirt's job fail in QEMU
    ("Permission denied"). It is refused first, naming the directory and the fix."""
    os.chmod(os.path.dirname(hv["backups"]["target"]["path"]), 0o700)
    vm1.create()
    dom = create_autospec(libvirt.virDomain, instance=True)
    dom.name.return_value = "vm1"
    dom.state.return_value = [libvirt.VIR_DOMAIN_RUNNING, 1]
    dom.XMLDesc.return_value = vm1.XMLDesc(0)
    fake = create_autospec(libvirt.virConnect, instance=True)
    fake.lookupByName.return_value = dom
    monkeypatch.setattr(module.hv_domains, "connect", lambda uri=None: fake)
    with pytest.raises(
        CommandExecutionError, match=r"cannot pass through \S+: let others search it \(chmod o\+x"
    ):
        module.run("vm1")
    assert not dom.backupBegin.called and not dom.fsFreeze.called
    assert tags(events) == ["hv/backup/started", "hv/backup/failed"]


def test_a_guest_left_frozen_is_reported(hv, vm1, monkeypatch, events):
    monkeypatch.setattr(module.hv_backup_jobs, "THAW_PAUSE", 0)
    vm1.create()
    dom = create_autospec(libvirt.virDomain, instance=True)
    dom.name.return_value = "vm1"
    dom.state.return_value = [libvirt.VIR_DOMAIN_RUNNING, 1]
    dom.XMLDesc.return_value = vm1.XMLDesc(0)
    dom.fsThaw.side_effect = libvirt.libvirtError("Guest agent is not responding")
    dom.backupBegin.side_effect = libvirt.libvirtError("no room")
    fake = create_autospec(libvirt.virConnect, instance=True)
    fake.lookupByName.return_value = dom
    monkeypatch.setattr(module.hv_domains, "connect", lambda uri=None: fake)
    with pytest.raises(CommandExecutionError, match="no room"):
        module.run("vm1")
    assert tags(events) == ["hv/backup/started", "hv/backup/thaw_failed", "hv/backup/failed"]


# ------------------------------------------------------------------ refusals


def test_a_guest_that_opts_out_is_backed_up_only_when_forced(hv, target, vm1, states, standin):
    hv["guests"]["vm1"]["backup"] = False
    with pytest.raises(CommandExecutionError, match=r"opts out of backups .*force=True overrides"):
        module.run("vm1")
    assert listing(target) == []
    assert module.run("vm1", force=True)["result"] is True


def test_a_target_that_is_not_there_is_a_failure_on_record(hv, target, vm1, states, standin, events):
    os.rmdir(target)
    with pytest.raises(CommandExecutionError, match=r"does not exist \(not mounted\?\)"):
        module.run("vm1")
    assert not os.path.exists(target) and module.last("vm1")["result"] == "failed"
    assert tags(events) == ["hv/backup/failed"]  # refused before it started


def test_one_backup_of_a_guest_at_a_time(hv, target, vm1, states, standin, events):
    """The second is refused, and is no failure on record: the first one's result will be."""
    lock = os.path.join(hv_backup.safe_dir(target, "vm1", create=True), module.LOCK)
    with module.hv_runtime.try_locked(lock) as held:
        assert held
        with pytest.raises(CommandExecutionError, match="a backup or restore of vm1 runs already"):
            module.run("vm1")
    assert standin() == [] and events == [] and module.last("vm1") is None


def test_a_guest_not_in_the_pillar_is_refused_without_a_record(hv):
    with pytest.raises(CommandExecutionError, match="no guest vm9 in pillar"):
        module.run("vm9")
    assert module.last() == {}


# ------------------------------------------------------------------ the scheduled run


def test_the_scheduled_run_backs_up_what_runs_here_and_what_runs_nowhere_from_home(hv, monkeypatch):
    """vm1 runs here, vm2 (home hyp1) runs nowhere, vm3 (home hyp1) runs on hyp2, vm4
    (home hyp2) runs nowhere: hyp1 backs up vm1 and vm2; vm2's copy fails."""
    hv["guests"]["vm4"]["home"] = "hyp2"
    monkeypatch.setattr(module.hv_domains, "running_here", lambda: ["vm1"])
    places = {"vm2": {}, "vm3": {"hyp2": "running"}, "vm4": {}}
    monkeypatch.setattr(
        module.hv_domains,
        "where",
        lambda _hv, name, _me: {"hyp1": "shut off", "hyp2": "shut off", **places[name]},
    )
    done = []

    def backup(_hv, name, force=False):
        done.append(name)
        if name == "vm2":
            raise CommandExecutionError("backup of vm2 failed: no room")
        return {"guest": name, "result": True}

    monkeypatch.setattr(module, "_backup", backup)
    ret = module.run_all()
    assert done == ["vm1", "vm2"]
    assert ret == {
        "enabled": True,
        "host": "hyp1",
        "guests": {
            "vm1": {"guest": "vm1", "result": True},
            "vm2": {"result": False, "why": "backup of vm2 failed: no room"},
            "vm3": {"result": None, "skipped": "runs on hyp2"},
            "vm4": {"result": None, "skipped": "runs nowhere; its home hyp2 copies it"},
        },
        "result": False,
    }
    assert module.__context__["retcode"] == 1


def test_the_scheduled_run_skips_a_guest_whose_backup_runs_by_hand(hv, monkeypatch):
    monkeypatch.setattr(module.hv_domains, "running_here", lambda: ["vm1", "vm2", "vm3", "vm4"])

    def busy(_hv, name, force=False):
        raise module.Busy(f"a backup or restore of {name} runs already: not started")

    monkeypatch.setattr(module, "_backup", busy)
    ret = module.run_all()
    assert ret["result"] is True and {r["result"] for r in ret["guests"].values()} == {None}


def test_the_scheduled_run_does_nothing_while_backups_are_off(hv, monkeypatch):
    hv["backups"]["enabled"] = False
    monkeypatch.setattr(module, "_backup", lambda *args: pytest.fail("backed up while off"))
    assert module.run_all()["guests"] == {}


# ------------------------------------------------------------------ restore


def test_a_restore_writes_the_backup_into_a_new_file(hv, target, vm1, states, standin, events, tmp_path):
    first = module.run("vm1")
    events.clear()
    disk = str(tmp_path / "customer1" / "vm1-restored.img")
    ret = module.restore("vm1", "latest", disk)
    assert ret == {
        "guest": "vm1",
        "backup": first["backup"],
        "disk": disk,
        "format": "raw",
        "bytes": len(DISK),
        "seconds": ret["seconds"],
        "result": True,
    }
    assert Path(disk).read_bytes() == DISK and os.stat(disk).st_mode & 0o777 == 0o600
    assert not os.path.exists(disk + ".partial")
    assert standin()[-2:] == [
        ["info", "--output=json", "-f", "qcow2", first["image"]],
        ["convert", "-f", "qcow2", "-O", "raw", first["image"], disk + ".partial"],
    ]
    assert tags(events) == ["hv/backup/restore/started", "hv/backup/restore/done"]
    assert "/" not in json.dumps([data for _tag, data in events])
    assert Path(hv["guests"]["vm1"]["disk_path"]).read_bytes() == DISK  # the guest's own: untouched


def test_a_restore_never_overwrites_nor_writes_a_guests_disk(hv, target, vm1, states, standin, tmp_path):
    module.run("vm1")
    calls = len(standin())
    existing = tmp_path / "customer1" / "other.img"
    existing.write_bytes(b"someone's")
    for disk, why in (
        (str(existing), "exists already"),
        (hv["guests"]["vm1"]["disk_path"], "exists already"),
        (hv["guests"]["vm2"]["disk_path"], "is a guest's disk in the pillar"),
        (None, "no disk path given"),
    ):
        with pytest.raises(CommandExecutionError, match=why):
            module.restore("vm1", None, disk)
    with pytest.raises(CommandExecutionError, match="format 'vmdk' is not one of raw, qcow2"):
        module.restore("vm1", None, str(tmp_path / "new.img"), fmt="vmdk")
    assert existing.read_bytes() == b"someone's" and len(standin()) == calls


def test_a_restore_of_a_damaged_backup_is_refused(hv, target, vm1, states, standin, events, tmp_path):
    first = module.run("vm1")
    with open(first["image"], "ab") as handle:
        handle.write(b"bit rot")
    events.clear()
    disk = tmp_path / "new.img"
    with pytest.raises(CommandExecutionError, match="does not match its checksum"):
        module.restore("vm1", first["backup"], str(disk))
    assert not disk.exists() and not os.path.exists(f"{disk}.partial")
    assert tags(events) == ["hv/backup/restore/started", "hv/backup/restore/failed"]


def test_a_backup_that_names_a_backing_file_is_not_restored(
    hv, target, vm1, states, standin, monkeypatch, tmp_path
):
    module.run("vm1")
    monkeypatch.setenv("STANDIN_BACKING", "/etc/shadow")
    with pytest.raises(CommandExecutionError, match="is refused: it names a backing file"):
        module.restore("vm1", None, str(tmp_path / "new.img"))
    assert not (tmp_path / "new.img").exists()


def test_a_failed_restore_leaves_no_partial(hv, target, vm1, states, standin, monkeypatch, tmp_path):
    module.run("vm1")
    monkeypatch.setenv("STANDIN_FAIL", "convert")
    with pytest.raises(CommandExecutionError, match="restore of vm1 failed: qemu-img convert failed"):
        module.restore("vm1", None, str(tmp_path / "new.img"))
    assert [n for n in os.listdir(tmp_path) if n.startswith("new.img")] == []


# ------------------------------------------------------------------ for real (qemu-img: make deps)


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_a_real_qcow2_of_a_stopped_guest_restored_for_real(hv, target, vm1, states, tmp_path, fmt):
    assert QEMU_IMG, "qemu-img is missing: `make deps` installs it (Debian's qemu-utils)"
    disk = hv["guests"]["vm1"]["disk_path"]
    with open(disk, "wb") as handle:  # 16 MiB, sparse, data at both ends
        handle.truncate(16 << 20)
        handle.write(b"boot sector")
        handle.seek((16 << 20) - 5)
        handle.write(b"tail!")
    made = module.run("vm1")
    info = json.loads(
        subprocess.run(
            [QEMU_IMG, "info", "--output=json", made["image"]], capture_output=True, check=True
        ).stdout
    )
    assert (info["format"], info["virtual-size"]) == ("qcow2", 16 << 20)
    restored = str(tmp_path / f"vm1-restored.{fmt}")
    module.restore("vm1", made["backup"], restored, fmt=fmt)
    if fmt == "raw":
        assert Path(restored).read_bytes() == Path(disk).read_bytes()
    compare = subprocess.run(
        [QEMU_IMG, "compare", "-f", "raw", "-F", fmt, disk, restored], capture_output=True
    )
    assert compare.returncode == 0, compare.stdout + compare.stderr
