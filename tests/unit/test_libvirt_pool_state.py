"""libvirt_pool.running: already right, predicted under test=True, done and
read back, another path left alone, libvirt's error reported. The execution
module is replaced by specs of its real functions (libvirtd: see tests/lab)."""

from unittest.mock import call, create_autospec

import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

libvirt_pool = load("_modules", "libvirt_pool")
libvirt_pool_states = load("_states", "libvirt_pool")
# The iso pool's path as libvirt/pools.sls hands it over (the real view of the lab pillar).
PATH = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")["pools"]["iso"]["path"]


def pool(path=PATH, active=True, autostart=True):
    return {"name": "iso", "type": "dir", "path": path, "active": active, "autostart": autostart}


@pytest.fixture
def salt_mods():
    return {
        "libvirt_pool.info": create_autospec(libvirt_pool.info),
        "libvirt_pool.ensure_running": create_autospec(libvirt_pool.ensure_running),
    }


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(salt_mods, opts):
    return {libvirt_pool_states: {"__salt__": salt_mods, "__opts__": opts}}


def test_already_right(salt_mods):
    salt_mods["libvirt_pool.info"].return_value = pool()
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {},
        "result": True,
        "comment": "pool iso is defined, active and autostarted",
    }
    salt_mods["libvirt_pool.ensure_running"].assert_not_called()


def test_missing_pool_test_mode_predicts_and_calls_nothing(salt_mods, opts):
    opts["test"] = True
    salt_mods["libvirt_pool.info"].return_value = None
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {
            "old": {"defined": False, "active": False, "autostart": False},
            "new": {"defined": True, "active": True, "autostart": True},
        },
        "result": None,
        "comment": "would define, start, autostart pool iso",
    }
    salt_mods["libvirt_pool.ensure_running"].assert_not_called()


def test_inactive_pool_test_mode_predicts_the_start_only(salt_mods, opts):
    opts["test"] = True
    salt_mods["libvirt_pool.info"].return_value = pool(active=False)
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {
            "old": {"defined": True, "active": False, "autostart": True},
            "new": {"defined": True, "active": True, "autostart": True},
        },
        "result": None,
        "comment": "would start pool iso",
    }
    salt_mods["libvirt_pool.ensure_running"].assert_not_called()


def test_missing_pool_is_defined_started_autostarted_and_read_back(salt_mods):
    salt_mods["libvirt_pool.info"].side_effect = [None, pool()]
    salt_mods["libvirt_pool.ensure_running"].return_value = ["defined", "started", "autostart"]
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {
            "old": {"defined": False, "active": False, "autostart": False},
            "new": {"defined": True, "active": True, "autostart": True},
        },
        "result": True,
        "comment": "pool iso: defined, started, autostart",
    }
    salt_mods["libvirt_pool.ensure_running"].assert_called_once_with("iso", PATH)
    assert salt_mods["libvirt_pool.info"].call_args_list == [call("iso"), call("iso")]


def test_read_back_not_active_fails(salt_mods):
    salt_mods["libvirt_pool.info"].side_effect = [None, pool(active=False)]
    salt_mods["libvirt_pool.ensure_running"].return_value = ["defined", "started", "autostart"]
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {
            "old": {"defined": False, "active": False, "autostart": False},
            "new": {"defined": True, "active": False, "autostart": True},
        },
        "result": False,
        "comment": "pool iso: defined, started, autostart; still not active",
    }


def test_other_path_is_left_alone(salt_mods):
    salt_mods["libvirt_pool.info"].return_value = pool(path="/srv/iso")
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {},
        "result": False,
        "comment": "pool iso exists with path /srv/iso, not /var/lib/libvirt/images/iso: left as it is",
    }
    salt_mods["libvirt_pool.ensure_running"].assert_not_called()


def test_libvirt_error_is_reported(salt_mods):
    salt_mods["libvirt_pool.info"].return_value = None
    salt_mods["libvirt_pool.ensure_running"].side_effect = CommandExecutionError(
        "libvirt: cannot create directory '/var/lib/libvirt/images/iso': Permission denied"
    )
    assert libvirt_pool_states.running("iso", PATH) == {
        "name": "iso",
        "changes": {},
        "result": False,
        "comment": "libvirt: cannot create directory '/var/lib/libvirt/images/iso': Permission denied",
    }
