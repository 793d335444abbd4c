"""mount_point.free: a mount over a directory must hide nothing. A mount point
(already mounted), a missing path and an empty directory pass; a directory
holding files fails, saying what to do."""

import os
from unittest.mock import create_autospec

import pytest

from tests.loaders import load

mount_point = load("_states", "mount_point")


@pytest.fixture
def configure_loader_modules():
    return {mount_point: {"__opts__": {"test": False}}}


@pytest.fixture
def ismount(monkeypatch):
    """os.path.ismount, answering False unless a test says otherwise."""
    mock = create_autospec(os.path.ismount, return_value=False)
    monkeypatch.setattr(os.path, "ismount", mock)
    return mock


@pytest.fixture
def full_dir(tmp_path):
    path = tmp_path / "images"
    path.mkdir()
    (path / "guest1.qcow2").write_bytes(b"QFI\xfb")
    return path


def test_a_mount_point_passes_whatever_it_shows(ismount, full_dir):
    ismount.return_value = True
    assert mount_point.free(str(full_dir)) == {
        "name": str(full_dir),
        "changes": {},
        "result": True,
        "comment": f"{full_dir} is a mount point",
    }
    ismount.assert_called_once_with(str(full_dir))


def test_a_missing_path_passes(ismount, tmp_path):
    path = tmp_path / "sanlock"
    assert mount_point.free(str(path)) == {
        "name": str(path),
        "changes": {},
        "result": True,
        "comment": f"{path} holds nothing: a mount there hides nothing",
    }
    assert not path.exists()


def test_an_empty_directory_passes(ismount, tmp_path):
    path = tmp_path / "save"
    path.mkdir()
    assert mount_point.free(str(path)) == {
        "name": str(path),
        "changes": {},
        "result": True,
        "comment": f"{path} holds nothing: a mount there hides nothing",
    }


def test_a_directory_holding_files_fails_and_keeps_them(ismount, full_dir):
    assert mount_point.free(str(full_dir)) == {
        "name": str(full_dir),
        "changes": {},
        "result": False,
        "comment": f"{full_dir} holds files and is not a mount point: move them away first",
    }
    assert [p.name for p in full_dir.iterdir()] == ["guest1.qcow2"]


def test_a_directory_holding_only_a_hidden_entry_fails(ismount, tmp_path):
    path = tmp_path / "images"
    (path / ".glusterfs").mkdir(parents=True)
    assert mount_point.free(str(path)) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{path} holds files and is not a mount point: move them away first",
    }
