"""sysctl_live.applied on a directory standing in for /proc/sys, and on the real
/proc/sys where nothing can be written (a missing key, a read-only key).

Here: write, predict, already right, an unknown key, a refused write, a value
the kernel does not keep. The read-only vm.* of a container is also checked in
the lab (tests/lab/test_host_build.py).
"""

import errno
from pathlib import Path

import pytest

from tests.loaders import load

SETTINGS = {"vm.swappiness": 0, "net.ipv6.conf.all.disable_ipv6": 1}
PERSISTED_ONLY = "is only persisted, by sysctl.config, for a kernel this host owns"


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


def test_writes_what_differs_and_reads_it_back(state, proc_sys):
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


def test_test_mode_predicts_and_touches_nothing(state, proc_sys, monkeypatch):
    state.__opts__["test"] = True
    monkeypatch.setattr(state, "_write", lambda *_: pytest.fail("test mode wrote"))
    ret = state.applied("k", SETTINGS, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": None,
        "changes": {
            "net.ipv6.conf.all.disable_ipv6": {"old": "0", "new": "1"},
            "vm.swappiness": {"old": "60", "new": "0"},
        },
        "comment": "would set net.ipv6.conf.all.disable_ipv6, vm.swappiness",
    }
    assert (proc_sys / "vm/swappiness").read_text() == "60\n"


def test_already_right_is_no_change(state, proc_sys):
    (proc_sys / "vm/swappiness").write_text("0\n")
    ret = state.applied("k", {"vm.swappiness": " 0 "}, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": True,
        "changes": {},
        "comment": "live kernel settings already correct",
    }


@pytest.mark.parametrize("test_mode", [True, False], ids=["test", "apply"])
def test_unknown_key_fails_naming_it(state, proc_sys, test_mode):
    """A typo fails in both modes; the other settings are still predicted or set."""
    state.__opts__["test"] = test_mode
    ret = state.applied("k", {"vm.swapiness": 0, "net.ipv6.conf.all.disable_ipv6": 1}, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": False,
        "changes": {"net.ipv6.conf.all.disable_ipv6": {"old": "0", "new": "1"}},
        "comment": "vm.swapiness: no such kernel setting (did you mean vm.swappiness?); "
        + ("would set" if test_mode else "set")
        + " net.ipv6.conf.all.disable_ipv6",
    }
    assert not (proc_sys / "vm/swapiness").exists()


@pytest.mark.parametrize("test_mode", [True, False], ids=["test", "apply"])
def test_typo_on_the_real_kernel_fails(state, test_mode):
    """The real /proc/sys: a missing key is never written, so nothing real is touched."""
    state.__opts__["test"] = test_mode
    ret = state.applied("k", {"vm.swapiness": 0})
    assert ret == {
        "name": "k",
        "result": False,
        "changes": {},
        "comment": "vm.swapiness: no such kernel setting (did you mean vm.swappiness?)",
    }


@pytest.mark.parametrize("test_mode", [True, False], ids=["test", "apply"])
def test_read_only_key_on_the_real_kernel_is_a_warning(state, test_mode):
    """kernel.ostype exists but is read-only (0444) even for root: never written."""
    state.__opts__["test"] = test_mode
    ostype = Path("/proc/sys/kernel/ostype").read_text().strip()
    ret = state.applied("k", {"kernel.ostype": "Plan9"})
    assert ret == {
        "name": "k",
        "result": True,
        "changes": {},
        "comment": "not writable here: kernel.ostype (persisted only)",
        "warnings": [
            f"kernel.ostype: the running kernel keeps {ostype} (read-only for this host, "
            f"e.g. a container's vm.*); Plan9 {PERSISTED_ONLY}"
        ],
    }


def test_refused_write_is_a_warning(state, proc_sys, monkeypatch):
    """A container's vm.* may look writable and still refuse the write (EROFS)."""

    def refuse(path, value):
        if path.endswith("swappiness"):
            raise OSError(errno.EROFS, "Read-only file system")
        (proc_sys / "net/ipv6/conf/all/disable_ipv6").write_text(value)

    monkeypatch.setattr(state, "_write", refuse)
    ret = state.applied("k", SETTINGS, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": True,
        "changes": {"net.ipv6.conf.all.disable_ipv6": {"old": "0", "new": "1"}},
        "comment": "set net.ipv6.conf.all.disable_ipv6; not writable here: vm.swappiness (persisted only)",
        "warnings": [
            "vm.swappiness: the running kernel keeps 60 (the write was refused: Read-only file system); "
            f"0 {PERSISTED_ONLY}"
        ],
    }


def test_value_the_kernel_does_not_keep_fails(state, proc_sys, monkeypatch):
    """The kernel clamps: the read-back value is the change, and the state fails."""
    monkeypatch.setattr(state, "_write", lambda path, value: Path(path).write_text("100\n"))
    ret = state.applied("k", {"vm.swappiness": 250}, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": False,
        "changes": {"vm.swappiness": {"old": "60", "new": "100"}},
        "comment": "vm.swappiness: wrote 250 but the kernel reads back 100; set vm.swappiness",
    }


def test_value_the_kernel_ignores_fails_without_change(state, proc_sys, monkeypatch):
    monkeypatch.setattr(state, "_write", lambda path, value: None)
    ret = state.applied("k", {"vm.swappiness": 10}, root=str(proc_sys))
    assert ret == {
        "name": "k",
        "result": False,
        "changes": {},
        "comment": "vm.swappiness: wrote 10 but the kernel reads back 60",
    }
