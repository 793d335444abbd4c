"""The lab never deletes through a mount (run as root, like the lab: it
bind-mounts real directories under a temporary tree)."""

import signal
import subprocess

import pytest

from lab import system


@pytest.fixture
def tree(tmp_path):
    """A tree to delete, with a directory of precious files bind-mounted inside it."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep me")
    doomed = tmp_path / "doomed"
    (doomed / "sub" / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "--bind", precious, doomed / "sub" / "mnt"], check=True)
    yield doomed, precious
    subprocess.run(["umount", doomed / "sub" / "mnt"], check=False, capture_output=True)


def test_mounts_under_sees_the_bind_mount(tree):
    doomed, _precious = tree
    assert system.mounts_under(doomed) == [str(doomed / "sub" / "mnt")]


def test_a_mount_that_cannot_be_unmounted_stops_the_removal(tree):
    doomed, precious = tree
    busy = subprocess.Popen(["sleep", "60"], cwd=doomed / "sub" / "mnt")  # keeps the mount busy
    try:
        with pytest.raises(RuntimeError, match="still mounted below it"):
            system.remove_tree(doomed)
    finally:
        busy.kill()
        busy.wait()
    assert (precious / "data").read_text() == "keep me"
    assert doomed.exists()


def test_a_free_mount_is_unmounted_first_and_nothing_behind_it_is_deleted(tree):
    doomed, precious = tree
    system.remove_tree(doomed)
    assert not doomed.exists()
    assert (precious / "data").read_text() == "keep me"


def test_stop_pid_file_stops_the_process_and_removes_the_file(tmp_path):
    proc = subprocess.Popen(["sleep", "60"])
    pid_file = tmp_path / "sleep.pid"
    pid_file.write_text(f"{proc.pid}\n")
    system.stop_pid_file(pid_file)
    assert proc.wait(timeout=5) == -signal.SIGTERM
    assert not pid_file.exists()
    system.stop_pid_file(pid_file)  # nothing left to stop: no error
