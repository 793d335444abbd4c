"""The marks that keep guests where they are (``_utils/hv_marks.py``): this host's
drain and evacuating marks, a person's stop marks on the shared volume; and the
hosts an evacuation may target. Files under a temporary directory."""

import os

import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

marks = load("_utils", "hv_marks")
evacuation = load("_utils", "hv_evacuation")


@pytest.fixture
def hv(tmp_path):
    hv = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")
    hv["evacuation"]["state_dir"] = str(tmp_path / "state")
    hv["keeper"]["stopped_dir"] = str(tmp_path / "save/.hv-keeper/stopped")
    return hv


def test_the_drain_mark_keeps_its_since_and_a_broken_one_still_drains(hv):
    assert marks.drained(hv) == {"drained": False, "since": None, "reason": None, "guests": []}
    first = marks.mark_drained(hv, "disk replacement")
    marks.mark_drained(hv, "disk replacement", ["vm2", "vm1"], since=first["since"])
    assert marks.drained(hv) == {
        "drained": True,
        "since": first["since"],
        "reason": "disk replacement",
        "guests": ["vm1", "vm2"],
    }
    with open(marks.state_path(hv, marks.DRAIN_MARK), "w", encoding="utf-8") as handle:
        handle.write("{")  # cut short
    assert marks.drained(hv)["drained"] is True
    marks.clear_drained(hv)
    marks.clear_drained(hv)  # twice: nothing to clear
    assert marks.drained(hv)["drained"] is False


def test_the_evacuating_mark_lasts_the_block_and_a_dead_process_leaves_none(hv):
    with marks.evacuating_mark(hv):
        now = marks.evacuating(hv)
        assert now["evacuating"] is True and now["pid"] == os.getpid()
    assert marks.evacuating(hv) == {"evacuating": False, "since": None, "pid": None}
    os.makedirs(hv["evacuation"]["state_dir"], exist_ok=True)
    with open(marks.state_path(hv, marks.EVACUATING_MARK), "w", encoding="utf-8") as handle:
        handle.write('{"since": "2026-12-06T04:00:00+00:00", "pid": "gone"}')
    assert marks.evacuating(hv)["evacuating"] is False


def test_a_persons_stop_is_marked_for_pillar_guests_only(hv):
    mark = marks.mark_stopped(hv, "vm1", "stop")
    assert marks.stop_mark(hv, "vm1") == mark and mark["host"] == "hyp1" and mark["verb"] == "stop"
    assert marks.mark_stopped(hv, "not-ours", "stop") is None and marks.stop_mark(hv, "not-ours") is None
    with open(marks.stop_mark_path(hv, "vm1"), "w", encoding="utf-8") as handle:
        handle.write("")  # not whole: it still keeps the guest down
    assert marks.stop_mark(hv, "vm1") == {"guest": "vm1", "verb": "stop", "host": None, "at": None}
    marks.clear_stop_mark(hv, "vm1")
    marks.clear_stop_mark(hv, "vm1")
    assert marks.stop_mark(hv, "vm1") is None


def test_a_stop_that_cannot_be_recorded_stops_nothing(hv, tmp_path):
    (tmp_path / "save").write_text("")  # the shared volume's directory cannot be made
    with pytest.raises(CommandExecutionError, match="a keeper could start it again; nothing was stopped"):
        marks.mark_stopped(hv, "vm1", "save")


def test_an_evacuation_targets_another_host_that_carries_guests(hv):
    assert evacuation.target(hv, None) is None  # placement chooses, guest by guest
    for host in ("hyp1", "arb1", "nowhere"):
        with pytest.raises(CommandExecutionError, match=f"{host} cannot take guests from hyp1"):
            evacuation.target(hv, host)


def test_the_marks_lock_keeps_a_hold_and_an_undrain_apart(hv):
    """While one holds the marks' lock (an undrain closing the incidents and clearing the
    drain), another cannot take it (the takeover watcher's hold waits, then sees them closed)."""
    import fcntl

    with marks.locked(hv):
        fd = os.open(marks.state_path(hv, "marks.lock"), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(marks.state_path(hv, "marks.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once the holder is done
    finally:
        os.close(fd)
