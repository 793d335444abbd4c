"""sanlock.lockspace_joined: joined as this host already, refused when the
daemon is down or the lockspace is joined under another host id, predicted
under test=True, joined and read back otherwise; a join or leave under way is
waited for (on a fake clock), and one still under way at the timeout fails the
state as such; a join that did not end joined reports no change. The
execution module is replaced by specs of its real functions (the daemon
itself: see tests/lab)."""

import types
from unittest.mock import call, create_autospec

import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

sanlock = load("_modules", "sanlock")
sanlock_states = load("_states", "sanlock")
# The lockspace sanlock/lockspace.sls hands the state on hyp2 (host id 2): the real view's.
LOCKSPACE = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp2")["sanlock"]["lockspace"]
NAME, HOST_ID, PATH = LOCKSPACE["name"], LOCKSPACE["host_id"], LOCKSPACE["path"]
DAEMON = "993f69ff-769c-43e2-84af-acc2c89c470a.hyp2"


def status(*lockspaces, daemon=DAEMON, error=None):
    """What sanlock.status returns (its readiness keys do not matter to the state)."""
    out = {
        "daemon": daemon,
        "lockspaces": list(lockspaces),
        "resources": [],
        "can_take_guests": False,
        "reason": "",
    }
    if error is not None:
        out["error"] = error
    return out


def lockspace(host_id=2, state="joined", name=NAME):
    return {"name": name, "host_id": host_id, "path": PATH, "offset": 0, "state": state}


class Clock:
    """time.monotonic and time.sleep for the state: sleeping moves the clock."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(
        sanlock_states, "time", types.SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep)
    )
    return fake


@pytest.fixture
def salt_mods():
    return {
        "sanlock.status": create_autospec(sanlock.status),
        "sanlock.join_lockspace": create_autospec(sanlock.join_lockspace, return_value=True),
    }


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(salt_mods, opts):
    return {sanlock_states: {"__salt__": salt_mods, "__opts__": opts}}


def test_joined_as_this_host(salt_mods, clock):
    salt_mods["sanlock.status"].return_value = status(lockspace(name="lvm_vg0", host_id=1), lockspace())
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {},
        "result": True,
        "comment": "lockspace __LIBVIRT__DISKS__ is joined as host 2",
    }
    salt_mods["sanlock.join_lockspace"].assert_not_called()
    assert clock.sleeps == []


def test_daemon_down(salt_mods, clock):
    salt_mods["sanlock.status"].return_value = status(
        daemon=None, error="sanlock client status: exit code 254, no output"
    )
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": "the sanlock daemon is not running: sanlock client status: exit code 254, no output",
    }
    salt_mods["sanlock.join_lockspace"].assert_not_called()


def test_joined_as_another_host_id(salt_mods, clock):
    salt_mods["sanlock.status"].return_value = status(lockspace(host_id=1))
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": "lockspace __LIBVIRT__DISKS__ is joined as host 1, not 2",
    }
    salt_mods["sanlock.join_lockspace"].assert_not_called()


def test_missing_test_mode_predicts_and_does_not_join(salt_mods, opts, clock):
    opts["test"] = True
    salt_mods["sanlock.status"].return_value = status(lockspace(name="lvm_vg0"))
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {"old": "not joined", "new": "joined as host 2"},
        "result": None,
        "comment": "lockspace __LIBVIRT__DISKS__ is not joined: would join it as host 2",
    }
    salt_mods["sanlock.join_lockspace"].assert_not_called()


def test_missing_is_joined_and_read_back(salt_mods, clock):
    salt_mods["sanlock.status"].side_effect = [status(), status(lockspace())]
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {"old": "not joined", "new": "joined as host 2"},
        "result": True,
        "comment": "lockspace __LIBVIRT__DISKS__ rejoined as host 2",
    }
    assert salt_mods["sanlock.join_lockspace"].call_args_list == [call(NAME, 2, PATH, io_timeout=None)]
    assert salt_mods["sanlock.status"].call_count == 2


def test_the_read_back_waits_for_the_join_to_settle(salt_mods, clock):
    salt_mods["sanlock.status"].side_effect = [status(), status(lockspace(state="ADD")), status(lockspace())]
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {"old": "not joined", "new": "joined as host 2"},
        "result": True,
        "comment": "lockspace __LIBVIRT__DISKS__ rejoined as host 2",
    }
    assert clock.sleeps == [1]


def test_join_failure_is_reported(salt_mods, clock):
    salt_mods["sanlock.status"].return_value = status()
    salt_mods["sanlock.join_lockspace"].side_effect = CommandExecutionError(
        f"sanlock client add_lockspace -s {NAME}:2:{PATH}:0: "
        "exit code 254, add_lockspace\nadd_lockspace done -2"
    )
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": "lockspace __LIBVIRT__DISKS__ is not joined and joining failed: "
        f"sanlock client add_lockspace -s {NAME}:2:{PATH}:0: "
        "exit code 254, add_lockspace\nadd_lockspace done -2",
    }
    salt_mods["sanlock.join_lockspace"].assert_called_once_with(NAME, 2, PATH, io_timeout=None)


def test_a_join_under_way_is_waited_for(salt_mods, clock):
    salt_mods["sanlock.status"].side_effect = [
        status(lockspace(state="ADD")),
        status(lockspace(state="ADD")),
        status(lockspace()),
    ]
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {},
        "result": True,
        "comment": "lockspace __LIBVIRT__DISKS__ is joined as host 2",
    }
    assert clock.sleeps == [1, 1]
    salt_mods["sanlock.join_lockspace"].assert_not_called()


def test_a_leave_under_way_is_waited_for_then_joined(salt_mods, clock):
    salt_mods["sanlock.status"].side_effect = [
        status(lockspace(state="REM")),
        status(),
        status(lockspace()),
    ]
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {"old": "not joined", "new": "joined as host 2"},
        "result": True,
        "comment": "lockspace __LIBVIRT__DISKS__ rejoined as host 2",
    }
    assert clock.sleeps == [1]
    salt_mods["sanlock.join_lockspace"].assert_called_once_with(NAME, 2, PATH, io_timeout=None)


def test_the_wait_ends_at_the_timeout(salt_mods, clock):
    salt_mods["sanlock.status"].return_value = status(lockspace(host_id=1, state="ADD"))
    ret = sanlock_states.lockspace_joined(NAME, HOST_ID, PATH, timeout=5)
    assert ret == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": "lockspace __LIBVIRT__DISKS__ is joined as host 1, not 2",
    }
    assert clock.sleeps == [1] * 6
    salt_mods["sanlock.join_lockspace"].assert_not_called()


@pytest.mark.parametrize(("flag", "doing"), [("ADD", "joined"), ("REM", "left")])
def test_a_join_or_leave_still_under_way_at_the_timeout_fails(salt_mods, clock, flag, doing):
    salt_mods["sanlock.status"].return_value = status(lockspace(state=flag))
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH, timeout=5) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": f"lockspace __LIBVIRT__DISKS__ is still being {doing} after 5s",
    }
    assert clock.sleeps == [1] * 6
    salt_mods["sanlock.join_lockspace"].assert_not_called()


def test_a_join_that_is_not_read_back_changes_nothing(salt_mods, clock):
    salt_mods["sanlock.status"].side_effect = [status(), status()]
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": "lockspace __LIBVIRT__DISKS__ not joined as host 2",
    }
    assert salt_mods["sanlock.join_lockspace"].call_args_list == [call(NAME, 2, PATH, io_timeout=None)]
    assert clock.sleeps == []


def test_a_join_still_under_way_at_the_timeout_changes_nothing(salt_mods, clock):
    salt_mods["sanlock.status"].side_effect = [status()] + [status(lockspace(state="ADD"))] * 7
    assert sanlock_states.lockspace_joined(NAME, HOST_ID, PATH, timeout=5) == {
        "name": NAME,
        "changes": {},
        "result": False,
        "comment": "lockspace __LIBVIRT__DISKS__ not joined as host 2",
    }
    assert salt_mods["sanlock.join_lockspace"].call_args_list == [call(NAME, 2, PATH, io_timeout=None)]
    assert clock.sleeps == [1] * 6
