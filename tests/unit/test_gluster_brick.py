"""gluster_brick, without a disk: the probe reads ``blkid -p -o export`` (run
as an argument list, never through a shell) and calls a device blank only on
blkid's "nothing found"; format_xfs refuses anything else; the states keep XFS,
format only what is blank (predicting it under test=True), refuse any other
signature, and create a brick directory only on its mounted file system.
The probe reads nothing but a block device (os.stat is faked for the stand-in
device; a missing path, a file, a directory and a character device are real),
and blkid's exit 2 is blank only when blkid says nothing (it also exits 2 when
it cannot read the device). blkid's outputs are util-linux 2.38's; the real
devices are in tests/lab."""

import os
import stat
import types
from unittest.mock import call, create_autospec

import pytest
import salt.modules.cmdmod
from salt.exceptions import CommandExecutionError

from tests.loaders import load

gluster_brick = load("_modules", "gluster_brick")
gluster_brick_states = load("_states", "gluster_brick")
RUN_KWARGS = {"python_shell": False, "ignore_retcode": True, "output_loglevel": "debug"}
XFS_UUID = "3f1c5a0e-8b1d-4c55-9d0f-2a7e6b9c1d44"
EXT4_UUID = "592f24d6-0cdc-404b-a31c-f463556bfc1b"


def blkid(retcode=0, stdout="", stderr=""):
    return {"pid": 4242, "retcode": retcode, "stdout": stdout, "stderr": stderr}


def xfs_export(device, label="vmstore"):
    return f"DEVNAME={device}\nLABEL={label}\nUUID={XFS_UUID}\nBLOCK_SIZE=512\nTYPE=xfs\nUSAGE=filesystem\n"


def ext4_export(device):
    return f"DEVNAME={device}\nUUID={EXT4_UUID}\nVERSION=1.0\nBLOCK_SIZE=1024\nTYPE=ext4\nUSAGE=filesystem\n"


# What os.stat says of a block device (brw-rw----).
BLOCK_DEVICE = types.SimpleNamespace(st_mode=stat.S_IFBLK | 0o660)


@pytest.fixture
def device(tmp_path):
    """The stand-in block device: a path where nothing is; only os_stat makes it one."""
    return str(tmp_path / "hvlab-vmstore")


@pytest.fixture
def os_stat(monkeypatch, device):
    """os.stat as the module sees it: ``device`` is a block device, any other path is real."""
    real_stat = os.stat
    mock = create_autospec(
        os.stat,
        side_effect=lambda path, *a, **k: BLOCK_DEVICE if path == device else real_stat(path, *a, **k),
    )
    monkeypatch.setattr(gluster_brick, "os", types.SimpleNamespace(stat=mock, path=os.path))
    return mock


@pytest.fixture
def salt_mods():
    return {
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all),
        "gluster_brick.probe": create_autospec(gluster_brick.probe),
        "gluster_brick.format_xfs": create_autospec(gluster_brick.format_xfs),
        "gluster_brick.is_mounted": create_autospec(gluster_brick.is_mounted),
    }


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(salt_mods, opts):
    return {
        gluster_brick: {"__salt__": {"cmd.run_all": salt_mods["cmd.run_all"]}},
        gluster_brick_states: {"__salt__": salt_mods, "__opts__": opts},
    }


def probe_call(device):
    return call(["blkid", "-p", "-o", "export", device], **RUN_KWARGS)


# ---------------------------------------------------------------- probe


def test_probe_reads_xfs(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(stdout=xfs_export(device))
    assert gluster_brick.probe(device) == {
        "blank": False,
        "type": "xfs",
        "found": {
            "DEVNAME": device,
            "LABEL": "vmstore",
            "UUID": XFS_UUID,
            "BLOCK_SIZE": "512",
            "TYPE": "xfs",
            "USAGE": "filesystem",
        },
    }
    assert os_stat.call_args_list == [call(device)]
    assert salt_mods["cmd.run_all"].call_args_list == [probe_call(device)]


def test_probe_reads_another_file_system(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(stdout=ext4_export(device))
    assert gluster_brick.probe(device) == {
        "blank": False,
        "type": "ext4",
        "found": {
            "DEVNAME": device,
            "UUID": EXT4_UUID,
            "VERSION": "1.0",
            "BLOCK_SIZE": "1024",
            "TYPE": "ext4",
            "USAGE": "filesystem",
        },
    }


def test_probe_names_a_partition_table(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(
        stdout=f"DEVNAME={device}\nPTUUID=8d3c1e6a-41f2-4b7c-9a55-0e2d6f1b3c77\nPTTYPE=gpt\n"
    )
    assert gluster_brick.probe(device) == {
        "blank": False,
        "type": "gpt partition table",
        "found": {"DEVNAME": device, "PTUUID": "8d3c1e6a-41f2-4b7c-9a55-0e2d6f1b3c77", "PTTYPE": "gpt"},
    }


def test_probe_a_signature_without_a_type_is_not_blank(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(stdout=f"DEVNAME={device}\nUSAGE=other\n")
    assert gluster_brick.probe(device) == {
        "blank": False,
        "type": "unknown",
        "found": {"DEVNAME": device, "USAGE": "other"},
    }


def test_probe_blank_is_blkid_exit_2(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(retcode=2)
    assert gluster_brick.probe(device) == {"blank": True, "type": None, "found": {}}
    assert salt_mods["cmd.run_all"].call_args_list == [probe_call(device)]


def test_probe_several_signatures_is_blkid_exit_8(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(
        retcode=8,
        stderr=f"blkid: {device}: ambivalent result (probably more filesystems on the device, "
        "use wipefs(8) to see more details)\n",
    )
    assert gluster_brick.probe(device) == {"blank": False, "type": "several signatures", "found": {}}


def test_probe_other_blkid_failure_raises_its_message(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(retcode=4, stderr="blkid: invalid argument\n")
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.probe(device)
    assert str(exc.value) == f"blkid -p {device}: blkid: invalid argument"


def test_probe_an_unreadable_device_is_not_blank(salt_mods, device, os_stat):
    """blkid exits 2 ("nothing found") also when it cannot open the device, and says why."""
    salt_mods["cmd.run_all"].return_value = blkid(
        retcode=2, stderr=f"blkid: error: {device}: Permission denied\n"
    )
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.probe(device)
    assert str(exc.value) == f"blkid -p {device}: blkid: error: {device}: Permission denied"
    assert salt_mods["cmd.run_all"].call_args_list == [probe_call(device)]


def test_probe_missing_device_runs_nothing(salt_mods, tmp_path):
    missing = str(tmp_path / "sdz")
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.probe(missing)
    assert str(exc.value) == f"{missing} does not exist"
    salt_mods["cmd.run_all"].assert_not_called()


@pytest.fixture(params=["file", "directory", "character device"])
def not_a_block_device(request, tmp_path):
    """A real path that exists and is no block device (a typo'd brick device, /dev/null …)."""
    if request.param == "character device":
        return os.devnull
    path = tmp_path / "hvlab-vmstore"
    if request.param == "file":
        path.write_bytes(b"\0" * 4096)
    else:
        path.mkdir()
    return str(path)


def test_probe_refuses_what_is_not_a_block_device_and_runs_nothing(salt_mods, not_a_block_device):
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.probe(not_a_block_device)
    assert str(exc.value) == f"{not_a_block_device} is not a block device"
    salt_mods["cmd.run_all"].assert_not_called()


# ---------------------------------------------------------------- format_xfs


def test_format_xfs_formats_a_blank_device_and_probes_again(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].side_effect = [
        blkid(retcode=2),
        blkid(),  # mkfs.xfs -q prints nothing
        blkid(stdout=xfs_export(device)),
    ]
    assert gluster_brick.format_xfs(device, "vmstore") == "xfs"
    assert os_stat.call_args_list == [call(device), call(device)]
    assert salt_mods["cmd.run_all"].call_args_list == [
        probe_call(device),
        call(["mkfs.xfs", "-q", "-i", "size=512", "-L", "vmstore", device], **RUN_KWARGS),
        probe_call(device),
    ]


@pytest.mark.parametrize(
    ("answer", "carries"),
    [
        (lambda d: blkid(stdout=ext4_export(d)), "ext4"),
        (lambda d: blkid(stdout=xfs_export(d)), "xfs"),
        (lambda d: blkid(stdout=f"DEVNAME={d}\nPTUUID=8d3c1e6a\nPTTYPE=gpt\n"), "gpt partition table"),
        (lambda d: blkid(retcode=8), "several signatures"),
    ],
    ids=["ext4", "xfs", "gpt", "ambivalent"],
)
def test_format_xfs_refuses_a_device_that_is_not_blank(salt_mods, device, os_stat, answer, carries):
    salt_mods["cmd.run_all"].return_value = answer(device)
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.format_xfs(device, "vmstore")
    assert str(exc.value) == f"{device} carries {carries}: it is never formatted"
    assert salt_mods["cmd.run_all"].call_args_list == [probe_call(device)]


def test_format_xfs_never_formats_a_device_it_cannot_read(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].return_value = blkid(
        retcode=2, stderr=f"blkid: error: {device}: Permission denied\n"
    )
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.format_xfs(device, "vmstore")
    assert str(exc.value) == f"blkid -p {device}: blkid: error: {device}: Permission denied"
    assert salt_mods["cmd.run_all"].call_args_list == [probe_call(device)]


def test_format_xfs_refuses_what_is_not_a_block_device_and_runs_nothing(salt_mods, not_a_block_device):
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.format_xfs(not_a_block_device, "vmstore")
    assert str(exc.value) == f"{not_a_block_device} is not a block device"
    salt_mods["cmd.run_all"].assert_not_called()


def test_format_xfs_reports_mkfs_failure(salt_mods, device, os_stat):
    salt_mods["cmd.run_all"].side_effect = [
        blkid(retcode=2),
        blkid(retcode=1, stderr=f"mkfs.xfs: cannot open {device}: Device or resource busy\n"),
    ]
    with pytest.raises(CommandExecutionError) as exc:
        gluster_brick.format_xfs(device, "vmstore")
    assert str(exc.value) == f"mkfs.xfs {device}: mkfs.xfs: cannot open {device}: Device or resource busy"
    assert salt_mods["cmd.run_all"].call_args_list == [
        probe_call(device),
        call(["mkfs.xfs", "-q", "-i", "size=512", "-L", "vmstore", device], **RUN_KWARGS),
    ]


# ---------------------------------------------------------------- is_mounted


@pytest.mark.parametrize("mounted", [True, False])
def test_is_mounted_asks_the_kernel(monkeypatch, mounted):
    ismount = create_autospec(os.path.ismount, return_value=mounted)
    monkeypatch.setattr(os.path, "ismount", ismount)
    assert gluster_brick.is_mounted("/mnt/bricks/vmstore") is mounted
    ismount.assert_called_once_with("/mnt/bricks/vmstore")


# ---------------------------------------------------------------- formatted


def test_formatted_keeps_xfs(salt_mods):
    salt_mods["gluster_brick.probe"].return_value = {"blank": False, "type": "xfs", "found": {"TYPE": "xfs"}}
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {},
        "result": True,
        "comment": "/dev/hvlab-vmstore already carries XFS: kept as it is",
    }
    salt_mods["gluster_brick.probe"].assert_called_once_with("/dev/hvlab-vmstore")
    salt_mods["gluster_brick.format_xfs"].assert_not_called()


def test_formatted_test_mode_predicts_and_calls_nothing(salt_mods, opts):
    opts["test"] = True
    salt_mods["gluster_brick.probe"].return_value = {"blank": True, "type": None, "found": {}}
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {"old": "blank", "new": "xfs"},
        "result": None,
        "comment": "/dev/hvlab-vmstore is blank: would be formatted XFS (label vmstore)",
    }
    salt_mods["gluster_brick.format_xfs"].assert_not_called()


def test_formatted_formats_a_blank_device(salt_mods):
    salt_mods["gluster_brick.probe"].return_value = {"blank": True, "type": None, "found": {}}
    salt_mods["gluster_brick.format_xfs"].return_value = "xfs"
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {"old": "blank", "new": "xfs"},
        "result": True,
        "comment": "/dev/hvlab-vmstore formatted XFS (label vmstore)",
    }
    salt_mods["gluster_brick.format_xfs"].assert_called_once_with("/dev/hvlab-vmstore", "vmstore")


def test_formatted_fails_when_mkfs_ran_but_the_device_does_not_read_back_as_xfs(salt_mods):
    salt_mods["gluster_brick.probe"].return_value = {"blank": True, "type": None, "found": {}}
    salt_mods["gluster_brick.format_xfs"].return_value = "unknown"
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {"old": "blank", "new": "unknown"},
        "result": False,
        "comment": "mkfs.xfs ran on /dev/hvlab-vmstore, which reads back as unknown",
    }
    salt_mods["gluster_brick.format_xfs"].assert_called_once_with("/dev/hvlab-vmstore", "vmstore")


@pytest.mark.parametrize("test_mode", [False, True])
def test_formatted_refuses_another_signature_and_touches_nothing(salt_mods, opts, test_mode):
    opts["test"] = test_mode
    salt_mods["gluster_brick.probe"].return_value = {
        "blank": False,
        "type": "ext4",
        "found": {"TYPE": "ext4", "UUID": EXT4_UUID},
    }
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {},
        "result": False,
        "comment": "/dev/hvlab-vmstore carries ext4, not XFS: never formatted by Salt. If it is really "
        "free, wipe it yourself (wipefs -a) and apply again",
    }
    salt_mods["gluster_brick.format_xfs"].assert_not_called()


def test_formatted_reports_a_probe_error(salt_mods):
    salt_mods["gluster_brick.probe"].side_effect = CommandExecutionError("/dev/hvlab-vmstore does not exist")
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {},
        "result": False,
        "comment": "/dev/hvlab-vmstore does not exist",
    }
    salt_mods["gluster_brick.format_xfs"].assert_not_called()


def test_formatted_reports_a_format_error(salt_mods):
    salt_mods["gluster_brick.probe"].return_value = {"blank": True, "type": None, "found": {}}
    salt_mods["gluster_brick.format_xfs"].side_effect = CommandExecutionError(
        "mkfs.xfs /dev/hvlab-vmstore: Device or resource busy"
    )
    assert gluster_brick_states.formatted("/dev/hvlab-vmstore", "vmstore") == {
        "name": "/dev/hvlab-vmstore",
        "changes": {},
        "result": False,
        "comment": "mkfs.xfs /dev/hvlab-vmstore: Device or resource busy",
    }


# ---------------------------------------------------------------- ready


@pytest.fixture
def brick(tmp_path):
    """<brick_root>/vmstore (the mount point, present) and its brick directory (not yet)."""
    mount_point = tmp_path / "vmstore"
    mount_point.mkdir()
    return mount_point / "brick", mount_point


def test_ready_creates_the_brick_on_the_mounted_file_system(salt_mods, brick):
    path, mount_point = brick
    salt_mods["gluster_brick.is_mounted"].return_value = True
    assert gluster_brick_states.ready(str(path), mount_point=str(mount_point)) == {
        "name": str(path),
        "changes": {"old": None, "new": str(path)},
        "result": True,
        "comment": f"brick directory {path} created",
    }
    assert path.is_dir()
    salt_mods["gluster_brick.is_mounted"].assert_called_once_with(str(mount_point))


def test_ready_keeps_a_present_brick(salt_mods, brick):
    path, mount_point = brick
    path.mkdir()
    salt_mods["gluster_brick.is_mounted"].return_value = True
    assert gluster_brick_states.ready(str(path), mount_point=str(mount_point)) == {
        "name": str(path),
        "changes": {},
        "result": True,
        "comment": f"brick directory {path} is present",
    }


def test_ready_refuses_an_unmounted_file_system_and_creates_nothing(salt_mods, brick):
    path, mount_point = brick
    salt_mods["gluster_brick.is_mounted"].return_value = False
    assert gluster_brick_states.ready(str(path), mount_point=str(mount_point)) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{mount_point} should be the mount point of the brick file system and is not: "
        "nothing is created under it (it would land on the root file system)",
    }
    assert list(mount_point.iterdir()) == []


def test_ready_refuses_a_brick_left_on_the_root_file_system(salt_mods, brick):
    """A brick directory that exists under an unmounted mount point is not the brick."""
    path, mount_point = brick
    path.mkdir()
    salt_mods["gluster_brick.is_mounted"].return_value = False
    assert gluster_brick_states.ready(str(path), mount_point=str(mount_point)) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{mount_point} should be the mount point of the brick file system and is not: "
        "nothing is created under it (it would land on the root file system)",
    }


def test_ready_test_mode_on_a_mounted_file_system_predicts(salt_mods, opts, brick):
    opts["test"] = True
    path, mount_point = brick
    salt_mods["gluster_brick.is_mounted"].return_value = True
    assert gluster_brick_states.ready(str(path), mount_point=str(mount_point)) == {
        "name": str(path),
        "changes": {"old": None, "new": str(path)},
        "result": None,
        "comment": f"brick directory {path} would be created",
    }
    assert not path.exists()


def test_ready_test_mode_before_the_mount_predicts_and_creates_nothing(salt_mods, opts, brick):
    opts["test"] = True
    path, mount_point = brick
    salt_mods["gluster_brick.is_mounted"].return_value = False
    assert gluster_brick_states.ready(str(path), mount_point=str(mount_point)) == {
        "name": str(path),
        "changes": {"old": None, "new": str(path)},
        "result": None,
        "comment": f"brick directory {path} would be created "
        f"once its file system is mounted at {mount_point}",
    }
    assert list(mount_point.iterdir()) == []


def test_ready_plain_directory_brick_needs_no_mount(salt_mods, tmp_path):
    path = tmp_path / "bricks" / "vmstore" / "brick"
    assert gluster_brick_states.ready(str(path)) == {
        "name": str(path),
        "changes": {"old": None, "new": str(path)},
        "result": True,
        "comment": f"brick directory {path} created",
    }
    assert path.is_dir()
    salt_mods["gluster_brick.is_mounted"].assert_not_called()
