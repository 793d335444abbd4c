"""sysctl_live.applied on a directory standing in for /proc/sys.

The read-only branch (a container's vm.*) is exercised for real in the lab
(tests/lab/test_host_build.py); here: write, predict, skip, already right.
"""

import pytest

from tests.loaders import load

SETTINGS = {"vm.swappiness": 0, "net.ipv6.conf.all.disable_ipv6": 1}


@pytest.fixture
def state():
    module = load("_states", "sysctl_live")
    module.__opts__ = {"test": False}
    return module


@pytest.fixture
def proc_sys(tmp_path):
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "swappiness").write_text("60\n")
    (tmp_path / "net/ipv6/conf/all").mkdir(parents=True)
    (tmp_path / "net/ipv6/conf/all/disable_ipv6").write_text("0\n")
    return tmp_path


def test_writes_what_differs(state, proc_sys):
    ret = state.applied("k", SETTINGS, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": True,
        "changes": {
            "net.ipv6.conf.all.disable_ipv6": {"old": "0", "new": "1"},
            "vm.swappiness": {"old": "60", "new": "0"},
        },
        "comment": "set net.ipv6.conf.all.disable_ipv6, vm.swappiness",
    }
    assert (proc_sys / "vm/swappiness").read_text() == "0"


def test_test_mode_predicts_and_touches_nothing(state, proc_sys):
    state.__opts__["test"] = True
    ret = state.applied("k", SETTINGS, root=str(proc_sys))
    assert ret["result"] is None
    assert ret["changes"]["vm.swappiness"] == {"old": "60", "new": "0"}
    assert ret["comment"] == "would set net.ipv6.conf.all.disable_ipv6, vm.swappiness"
    assert (proc_sys / "vm/swappiness").read_text() == "60\n"


def test_already_right_is_no_change(state, proc_sys):
    state.applied("k", SETTINGS, root=str(proc_sys))
    ret = state.applied("k", SETTINGS, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": True,
        "changes": {},
        "comment": "live kernel settings already correct",
    }


def test_missing_knob_is_reported_not_failed(state, proc_sys):
    ret = state.applied("k", {"vm.no_such_knob": 1}, root=str(proc_sys))
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert ret["warnings"] == ["not in this kernel, skipped: vm.no_such_knob"]
