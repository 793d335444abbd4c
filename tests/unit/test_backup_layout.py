"""Guest backups (B9), the plain part (``_utils/hv_backup.py``): names and layout under
the target, what counts as complete, retention among incomplete and foreign files,
paths that would leave ``<target>/<guest>/`` refused, libvirt's backup XML, the
restore's choices, whether a stopped guest may be copied. Files under a temporary
directory."""

import datetime
import json
import os
import xml.etree.ElementTree as ET

import libvirt
import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import load

hv_backup = load("_utils", "hv_backup")
SHA = "ab" * 32


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "backups"
    path.mkdir()
    return str(path)


def make(target, guest, name, image=True, manifest=True, partial=False, changes=None):
    """Backup ``name`` of ``guest`` as a run leaves it: the image, its manifest (with
    ``changes``), a partial image."""
    files = hv_backup.paths(target, guest, name)
    os.makedirs(files["dir"], exist_ok=True)
    if image:
        with open(files["image"], "wb") as handle:
            handle.write(b"QFI\xfb" + name.encode())
    if partial:
        with open(files["partial"], "wb") as handle:
            handle.write(b"half")
    if manifest:
        data = hv_backup.manifest(
            guest,
            name,
            host="hyp1",
            source="/var/lib/libvirt/images/customer1/vm1.img",
            source_bytes=16 << 20,
            size=9,
            started=hv_backup.stamp_time(name),
            finished=hv_backup.stamp_time(name),
            method="copy",
            frozen=False,
            note=None,
            digest=SHA,
        )
        data.update(changes or {})
        with open(files["manifest"], "w", encoding="utf-8") as handle:
            json.dump(data, handle)
    return files


# ------------------------------------------------------------------ names


def test_a_backup_is_named_after_its_start_in_utc():
    moment = datetime.datetime(2026, 12, 7, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert hv_backup.stamp(moment) == "20261207T030506Z"
    assert hv_backup.stamp_time("20261207T030506Z") == "2026-12-07T03:05:06+00:00"
    assert hv_backup.STAMP.fullmatch(hv_backup.stamp())


def test_the_layout_under_the_target(target):
    assert hv_backup.paths(target, "vm1", "20261207T030000Z") == {
        "dir": f"{target}/vm1",
        "image": f"{target}/vm1/20261207T030000Z.qcow2",
        "manifest": f"{target}/vm1/20261207T030000Z.json",
        "partial": f"{target}/vm1/20261207T030000Z.qcow2.partial",
    }


@pytest.mark.parametrize("guest", ["..", "../vm1", "vm1/..", "a/b", "", "VM1", None])
def test_a_guest_name_that_would_leave_the_target_is_refused(target, guest):
    with pytest.raises(CommandExecutionError, match="is not a guest name"):
        hv_backup.guest_dir(target, guest)


@pytest.mark.parametrize("name", ["../20261207T030000Z", "20261207T030000Z/..", "latest", "2026-12-07"])
def test_a_backup_name_that_is_no_stamp_is_refused(target, name):
    with pytest.raises(CommandExecutionError, match="is not a backup's name"):
        hv_backup.paths(target, "vm1", name)


@pytest.mark.parametrize("path", ["", "backups", "/srv/backups/", "/srv/../etc", "/srv//backups"])
def test_a_target_that_is_no_absolute_normal_path_is_refused(path):
    with pytest.raises(CommandExecutionError, match="target"):
        hv_backup.guest_dir(path, "vm1")


# ------------------------------------------------------------------ the guest's directory


def test_the_guests_directory_is_made_private_and_only_inside_an_existing_target(target, tmp_path):
    directory = hv_backup.safe_dir(target, "vm1", create=True)
    assert directory == f"{target}/vm1" and os.stat(directory).st_mode & 0o777 == 0o711
    with pytest.raises(CommandExecutionError, match=r"does not exist \(not mounted\?\)"):
        hv_backup.safe_dir(str(tmp_path / "unmounted"), "vm1", create=True)
    assert not os.path.exists(tmp_path / "unmounted")


def test_a_guests_directory_that_is_a_link_out_of_the_target_is_refused(target, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make(str(elsewhere), "vm2", "20261201T030000Z")
    os.symlink(elsewhere / "vm2", f"{target}/vm2")
    for call in (
        lambda: hv_backup.safe_dir(target, "vm2"),
        lambda: hv_backup.scan(target, "vm2"),
        lambda: hv_backup.prune(target, "vm2", 1),
    ):
        with pytest.raises(CommandExecutionError, match="is a symbolic link"):
            call()
    assert sorted(os.listdir(elsewhere / "vm2")) == ["20261201T030000Z.json", "20261201T030000Z.qcow2"]


def test_a_file_in_the_guests_directorys_place_is_refused_a_linked_target_is_followed(target, tmp_path):
    """A target that is itself a link is the operator's choice (a mount elsewhere): followed."""
    with open(f"{target}/vm3", "w") as handle:
        handle.write("not a directory")
    with pytest.raises(CommandExecutionError, match="is not a directory"):
        hv_backup.safe_dir(target, "vm3")
    link = tmp_path / "target-link"
    os.symlink(target, link)
    assert hv_backup.safe_dir(str(link), "vm1", create=True) == f"{link}/vm1"


# ------------------------------------------------------------------ what counts as complete


def test_scan_tells_complete_from_incomplete_and_foreign(target):
    make(target, "vm1", "20261201T030000Z")
    make(target, "vm1", "20261202T030000Z", manifest=False)  # the run died before its manifest
    make(target, "vm1", "20261203T030000Z", image=False, manifest=False, partial=True)  # one running
    make(target, "vm1", "20261204T030000Z", changes={"guest": "vm2"})  # a manifest of another guest
    make(target, "vm1", "20261205T030000Z", changes={"checksum": {}})
    make(target, "vm1", "20261206T030000Z", image=False)
    for name in ("notes.txt", ".lock", "20261207T030000Z.qcow2.json", "20261207T030000Z.img"):
        with open(f"{target}/vm1/{name}", "w") as handle:
            handle.write("x")
    scanned = hv_backup.scan(target, "vm1")
    assert [(b["name"], b["complete"], b["why"]) for b in scanned["backups"]] == [
        ("20261206T030000Z", False, "no image (or not a regular file)"),
        ("20261205T030000Z", False, "its manifest has no checksum"),
        ("20261204T030000Z", False, "its manifest names another guest or image"),
        ("20261203T030000Z", False, "no image (or not a regular file)"),
        ("20261202T030000Z", False, "no manifest (a run that did not finish, or one still running)"),
        ("20261201T030000Z", True, None),
    ]
    assert scanned["backups"][3]["partial"] is True
    assert scanned["foreign"] == [
        ".lock",
        "20261207T030000Z.img",
        "20261207T030000Z.qcow2.json",
        "notes.txt",
    ]
    assert hv_backup.complete(scanned) == ["20261201T030000Z"]


def test_an_image_or_manifest_that_is_a_link_is_not_complete(target, tmp_path):
    outside = make(str(tmp_path / "outside"), "vm1", "20261201T030000Z")
    os.makedirs(f"{target}/vm1")
    os.symlink(outside["image"], f"{target}/vm1/20261201T030000Z.qcow2")
    os.symlink(outside["manifest"], f"{target}/vm1/20261201T030000Z.json")
    make(target, "vm1", "20261202T030000Z", manifest=False)
    os.symlink(outside["manifest"], f"{target}/vm1/20261202T030000Z.json")
    assert hv_backup.complete(hv_backup.scan(target, "vm1")) == []


def test_a_guest_without_a_directory_has_no_backups(target):
    assert hv_backup.scan(target, "vm1") == {"backups": [], "foreign": []}


# ------------------------------------------------------------------ retention


def test_retention_keeps_the_newest_complete_and_never_an_incomplete_one(target):
    for day in range(1, 6):
        make(target, "vm1", f"2026120{day}T030000Z")
    make(target, "vm1", "20261130T030000Z", manifest=False)  # older, incomplete: kept
    make(target, "vm1", "20261206T030000Z", image=False, manifest=False, partial=True)  # running: kept
    with open(f"{target}/vm1/notes.txt", "w") as handle:
        handle.write("the operator's")
    assert hv_backup.to_delete(hv_backup.scan(target, "vm1"), 3) == ["20261202T030000Z", "20261201T030000Z"]
    assert hv_backup.prune(target, "vm1", 3) == {
        "deleted": ["20261202T030000Z", "20261201T030000Z"],
        "failed": {},
    }
    assert sorted(os.listdir(f"{target}/vm1")) == [
        "20261130T030000Z.qcow2",
        "20261203T030000Z.json",
        "20261203T030000Z.qcow2",
        "20261204T030000Z.json",
        "20261204T030000Z.qcow2",
        "20261205T030000Z.json",
        "20261205T030000Z.qcow2",
        "20261206T030000Z.qcow2.partial",
        "notes.txt",
    ]
    assert hv_backup.prune(target, "vm1", 3) == {"deleted": [], "failed": {}}


def test_retention_never_deletes_the_only_complete_backup(target):
    make(target, "vm1", "20261201T030000Z")
    make(target, "vm1", "20261202T030000Z", manifest=False)
    make(target, "vm1", "20261203T030000Z", manifest=False)
    assert hv_backup.to_delete(hv_backup.scan(target, "vm1"), 0) == []
    assert hv_backup.prune(target, "vm1", 0)["deleted"] == []
    make(target, "vm1", "20261204T030000Z")
    assert hv_backup.prune(target, "vm1", 0)["deleted"] == ["20261201T030000Z"]
    assert hv_backup.complete(hv_backup.scan(target, "vm1")) == ["20261204T030000Z"]


def test_retention_touches_no_other_guest(target):
    for guest in ("vm1", "vm2"):
        for day in (1, 2, 3):
            make(target, guest, f"2026120{day}T030000Z")
    hv_backup.prune(target, "vm1", 1)
    assert len(hv_backup.complete(hv_backup.scan(target, "vm2"))) == 3


# ------------------------------------------------------------------ libvirt's XML


DOMAIN = """<domain type='kvm'>
  <name>vm1</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='/var/lib/libvirt/images/customer1/vm1.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/customer1/vm1-data.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    {channel}
  </devices>
</domain>"""
AGENT = (
    "<channel type='unix'><source mode='bind'/>"
    "<target type='virtio' name='org.qemu.guest_agent.0' state='{state}'/></channel>"
)


def test_the_domains_disks_and_the_one_backed_up():
    disks = hv_backup.domain_disks(DOMAIN.format(channel=""))
    assert disks == [
        {"name": "vda", "device": "disk", "source": "/var/lib/libvirt/images/customer1/vm1.img"},
        {"name": "vdb", "device": "disk", "source": "/var/lib/libvirt/images/customer1/vm1-data.img"},
        {"name": "sda", "device": "cdrom", "source": None},
    ]
    assert hv_backup.disk_of(disks, "/var/lib/libvirt/images/customer1/vm1.img") == "vda"
    assert hv_backup.disk_of(disks, "/var/lib/libvirt/images/customer1/vm9.img") is None


def test_the_push_backup_xml_backs_up_one_disk_into_a_qcow2_file():
    xml = hv_backup.backup_xml(
        ["vda", "vdb", "sda"], "vda", "/srv/backups/vm1/20261207T030000Z.qcow2.partial"
    )
    assert xml == (
        "<domainbackup mode='push'>\n"
        "  <disks>\n"
        "    <disk name='vda' backup='yes' type='file'>\n"
        "      <driver type='qcow2'/>\n"
        "      <target file='/srv/backups/vm1/20261207T030000Z.qcow2.partial'/>\n"
        "    </disk>\n"
        "    <disk name='vdb' backup='no'/>\n"
        "    <disk name='sda' backup='no'/>\n"
        "  </disks>\n"
        "</domainbackup>\n"
    )
    root = ET.fromstring(xml)
    assert [d.get("backup") for d in root.iter("disk")] == ["yes", "no", "no"]
    with pytest.raises(CommandExecutionError, match="no disk vdc"):
        hv_backup.backup_xml(["vda"], "vdc", "/srv/backups/x")


def test_quotes_in_the_target_stay_inside_the_attribute():
    xml = hv_backup.backup_xml(["vda"], "vda", "/srv/b'a\"d/x")
    assert ET.fromstring(xml).find("./disks/disk/target").get("file") == "/srv/b'a\"d/x"


@pytest.mark.parametrize(
    ("channel", "state"),
    [
        ("", None),
        (AGENT.format(state="connected"), "connected"),
        (AGENT.format(state="disconnected"), "disconnected"),
        (AGENT.replace(" state='{state}'", ""), "unknown"),
        (AGENT.format(state="connected").replace("guest_agent.0", "other.0"), None),
    ],
)
def test_the_guest_agent_channel(channel, state):
    assert hv_backup.agent_state(DOMAIN.format(channel=channel)) == state


def test_the_active_states_are_hv_domains():
    assert hv_backup.ACTIVE == load("_utils", "hv_domains").ACTIVE


def test_the_job_constants_are_libvirts():
    assert (
        hv_backup.JOB_NONE,
        hv_backup.JOB_BOUNDED,
        hv_backup.JOB_UNBOUNDED,
        hv_backup.JOB_COMPLETED,
        hv_backup.JOB_FAILED,
        hv_backup.JOB_CANCELLED,
        hv_backup.JOB_OPERATION_BACKUP,
    ) == (
        libvirt.VIR_DOMAIN_JOB_NONE,
        libvirt.VIR_DOMAIN_JOB_BOUNDED,
        libvirt.VIR_DOMAIN_JOB_UNBOUNDED,
        libvirt.VIR_DOMAIN_JOB_COMPLETED,
        libvirt.VIR_DOMAIN_JOB_FAILED,
        libvirt.VIR_DOMAIN_JOB_CANCELLED,
        libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP,
    )


def test_how_a_job_stands():
    backup = hv_backup.JOB_OPERATION_BACKUP
    assert hv_backup.job_running({"type": hv_backup.JOB_UNBOUNDED, "operation": backup})
    assert not hv_backup.job_running({"type": hv_backup.JOB_NONE})
    assert not hv_backup.job_running({"type": hv_backup.JOB_UNBOUNDED, "operation": 1})  # a migration
    assert hv_backup.job_outcome({"type": hv_backup.JOB_COMPLETED, "operation": backup}) == (True, None)
    assert hv_backup.job_outcome({"type": hv_backup.JOB_FAILED, "operation": backup, "errmsg": "ENOSPC"}) == (
        False,
        "the backup job failed: ENOSPC",
    )
    assert hv_backup.job_outcome({"type": hv_backup.JOB_CANCELLED, "operation": backup})[1] == (
        "the backup job was cancelled"
    )
    assert hv_backup.job_outcome({"type": hv_backup.JOB_COMPLETED, "operation": 1}) == (
        False,
        "libvirt's last finished job is not the backup",
    )
    assert hv_backup.job_outcome({"type": hv_backup.JOB_NONE})[0] is False


# ------------------------------------------------------------------ a stopped guest's copy


def test_a_stopped_guest_is_copied_only_when_no_host_runs_it_surely():
    quiet = {"hyp1": "shut off", "hyp2": "shut off", "hyp3": "absent"}
    assert hv_backup.copy_refusal("vm1", quiet) is None
    assert hv_backup.copy_refusal("vm1", dict(quiet, hyp2="paused")) == (
        "vm1 runs on hyp2: its backup is made there, by libvirt"
    )
    assert hv_backup.copy_refusal("vm1", dict(quiet, hyp3="unknown")) == (
        "cannot tell whether vm1 runs on hyp3 (no answer): no copy"
    )
    assert "held by hyp2 (fail)" in hv_backup.copy_refusal("vm1", quiet, ("hyp2", "fail"))


# ------------------------------------------------------------------ restore


def test_a_restore_takes_the_newest_complete_backup_by_default(target, tmp_path):
    make(target, "vm1", "20261201T030000Z")
    make(target, "vm1", "20261202T030000Z")
    make(target, "vm1", "20261203T030000Z", manifest=False)
    disk = str(tmp_path / "vm1-restored.img")
    plan = hv_backup.plan_restore(target, "vm1", "latest", disk, [])
    assert (plan["backup"], plan["disk"], plan["partial"]) == ("20261202T030000Z", disk, disk + ".partial")
    assert plan["image"] == f"{target}/vm1/20261202T030000Z.qcow2" and plan["manifest"]["guest"] == "vm1"
    assert hv_backup.plan_restore(target, "vm1", "20261201T030000Z.qcow2", disk, [])["backup"] == (
        "20261201T030000Z"
    )
    with pytest.raises(CommandExecutionError, match="is not complete: no manifest"):
        hv_backup.plan_restore(target, "vm1", "20261203T030000Z", disk, [])
    with pytest.raises(CommandExecutionError, match="has no backup 20261204T030000Z"):
        hv_backup.plan_restore(target, "vm1", "20261204T030000Z", disk, [])
    with pytest.raises(CommandExecutionError, match="vm2 has no complete backup"):
        hv_backup.plan_restore(target, "vm2", None, disk, [])


def test_a_restore_writes_only_a_new_file(target, tmp_path):
    make(target, "vm1", "20261201T030000Z")
    current = tmp_path / "pool" / "vm1.img"
    current.parent.mkdir()
    current.write_bytes(b"the guest's disk")
    os.symlink(tmp_path / "nowhere", tmp_path / "pool" / "dangling.img")
    (tmp_path / "pool" / "half.img.partial").write_bytes(b"")
    lost = str(tmp_path / "pool" / "vm2.img")  # a pillar guest's disk, lost: still its path
    refusals = {
        str(current): "exists already",
        str(tmp_path / "pool" / "dangling.img"): "exists already",
        str(tmp_path / "pool" / "half.img"): "exists already",
        lost: "is a guest's disk in the pillar",
        str(tmp_path / "pool" / "missing" / "x.img"): "is not a directory",
        f"{target}/vm1/restored.img": "is inside the backup target",
        "pool/x.img": "is not an absolute, normal path",
        f"{tmp_path}/pool/../pool/x.img": "is not an absolute, normal path",
        f"{tmp_path}/pool/x y.img": "is not an absolute, normal path",
        "": "no disk path given",
    }
    for disk, why in refusals.items():
        with pytest.raises(CommandExecutionError, match=why):
            hv_backup.plan_restore(target, "vm1", None, disk, [str(current), lost])
    assert current.read_bytes() == b"the guest's disk"


def test_a_backup_image_with_a_backing_or_data_file_is_refused():
    plain = {"format": "qcow2", "virtual-size": 1 << 24, "format-specific": {"type": "qcow2", "data": {}}}
    assert hv_backup.image_refusal(plain) is None
    assert hv_backup.image_refusal(dict(plain, format="raw")) == "it is not a qcow2 image (raw)"
    assert hv_backup.image_refusal(dict(plain, **{"backing-filename": "/etc/shadow"})) == (
        "it names a backing file"
    )
    data_file = {"type": "qcow2", "data": {"data-file": "/dev/sda"}}
    assert hv_backup.image_refusal(dict(plain, **{"format-specific": data_file})) == (
        "it names an external data file"
    )


# ------------------------------------------------------------------ records and events


def test_the_last_record_keeps_the_last_success():
    done = hv_backup.last_record(
        "vm1", "hyp1", "done", "t0", "t1", 12.5, bytes=9, backup="20261201T030000Z", method="copy"
    )
    assert done["last_success"] == {"finished": "t1", "backup": "20261201T030000Z"} and done["bytes"] == 9
    failed = hv_backup.last_record("vm1", "hyp1", "failed", "t2", "t3", 1.0, previous=done, why="no room")
    assert (failed["result"], failed["bytes"], failed["why"]) == ("failed", None, "no room")
    assert failed["last_success"] == done["last_success"]
    assert hv_backup.last_record("vm1", "hyp1", "failed", "t2", "t3", 1.0)["last_success"] is None


def test_an_event_shows_no_path_outside_the_target():
    text = (
        "qemu-img convert failed: Could not open '/var/lib/libvirt/images/customer1/vm1.img':"
        " Permission denied; wrote /srv/backups/vm1/20261201T030000Z.qcow2.partial"
    )
    assert hv_backup.redact(text, "/srv/backups") == (
        "qemu-img convert failed: Could not open '<path>': Permission denied;"
        " wrote /srv/backups/vm1/20261201T030000Z.qcow2.partial"
    )
    assert hv_backup.redact("/srv/backups-old/x", "/srv/backups") == "<path>"


def test_a_directory_qemu_cannot_pass_through_is_named(tmp_path):
    """QEMU opens a running guest's backup image as its own user: every directory down
    to it must let others search it."""
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    for path in (tmp_path / "a", inner):
        os.chmod(path, 0o711)
    assert hv_backup.unreachable(str(inner), top=str(tmp_path)) is None
    os.chmod(tmp_path / "a", 0o700)
    assert hv_backup.unreachable(str(inner), top=str(tmp_path)) == str(tmp_path / "a")
