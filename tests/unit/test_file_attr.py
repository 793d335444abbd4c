"""file_attr.immutable: read with ``lsattr -d`` (the directory itself, not its
entries), predicted under test=True without chattr, set with file.chattr and
read back; a chattr that did not take and an lsattr failure fail the state."""

from unittest.mock import call, create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.file

from tests.loaders import load

file_attr = load("_states", "file_attr")
NAME = "/etc/libvirt/qemu/autostart"
# lsattr -d from e2fsprogs 1.47, on ext4.
MUTABLE = {"pid": 71, "retcode": 0, "stdout": f"--------------e------- {NAME}", "stderr": ""}
IMMUTABLE = {"pid": 72, "retcode": 0, "stdout": f"----i---------e------- {NAME}", "stderr": ""}
LSATTR = call(["lsattr", "-d", NAME], python_shell=False, ignore_retcode=True)


@pytest.fixture
def salt_mods():
    return {
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all),
        "file.chattr": create_autospec(salt.modules.file.chattr, return_value=True),
    }


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(salt_mods, opts):
    return {file_attr: {"__salt__": salt_mods, "__opts__": opts}}


def test_already_immutable(salt_mods):
    salt_mods["cmd.run_all"].return_value = IMMUTABLE
    assert file_attr.immutable(NAME) == {
        "name": NAME,
        "changes": {},
        "result": True,
        "comment": f"{NAME} is immutable",
    }
    assert salt_mods["cmd.run_all"].call_args_list == [LSATTR]
    salt_mods["file.chattr"].assert_not_called()


def test_indexed_directory_flag_is_not_immutable(salt_mods, opts):
    """Capital I (hashed-indexed directory) is not i: the state must still act."""
    opts["test"] = True
    salt_mods["cmd.run_all"].return_value = dict(MUTABLE, stdout=f"----------I---e------- {NAME}")
    assert file_attr.immutable(NAME) == {
        "name": NAME,
        "changes": {"old": "mutable", "new": "immutable"},
        "result": None,
        "comment": f"{NAME} would be made immutable",
    }


def test_test_mode_predicts_and_does_not_chattr(salt_mods, opts):
    opts["test"] = True
    salt_mods["cmd.run_all"].return_value = MUTABLE
    assert file_attr.immutable(NAME) == {
        "name": NAME,
        "changes": {"old": "mutable", "new": "immutable"},
        "result": None,
        "comment": f"{NAME} would be made immutable",
    }
    salt_mods["file.chattr"].assert_not_called()


def test_sets_and_reads_back(salt_mods):
    salt_mods["cmd.run_all"].side_effect = [MUTABLE, IMMUTABLE]
    assert file_attr.immutable(NAME) == {
        "name": NAME,
        "changes": {"old": "mutable", "new": "immutable"},
        "result": True,
        "comment": f"{NAME} made immutable",
    }
    salt_mods["file.chattr"].assert_called_once_with(NAME, operator="add", attributes="i")
    assert salt_mods["cmd.run_all"].call_args_list == [LSATTR, LSATTR]


def test_chattr_that_did_not_take_fails(salt_mods):
    # No CAP_LINUX_IMMUTABLE: chattr prints its error and file.chattr returns False.
    salt_mods["cmd.run_all"].side_effect = [MUTABLE, MUTABLE]
    salt_mods["file.chattr"].return_value = False
    assert file_attr.immutable(NAME) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": f"chattr +i {NAME} did not take",
    }
    salt_mods["file.chattr"].assert_called_once_with(NAME, operator="add", attributes="i")
    assert salt_mods["cmd.run_all"].call_args_list == [LSATTR, LSATTR]


@pytest.mark.parametrize("test_mode", [False, True])
def test_lsattr_failure_fails_and_chattrs_nothing(salt_mods, opts, test_mode):
    opts["test"] = test_mode
    salt_mods["cmd.run_all"].return_value = {
        "pid": 73,
        "retcode": 1,
        "stdout": "",
        "stderr": f"lsattr: No such file or directory while trying to stat {NAME}\n",
    }
    assert file_attr.immutable(NAME) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": f"lsattr -d {NAME}: lsattr: No such file or directory while trying to stat {NAME}",
    }
    salt_mods["file.chattr"].assert_not_called()
