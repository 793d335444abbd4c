"""hv_runtime: the settings a module uses (the pillar's view, else the
settings copy, else a clear error), and events the journal keeps when the bus
refuses them."""

import json
import logging
import os
import sys

import pytest
import salt.config
import salt.loader

from tests.loaders import REPO, load

hv_runtime = load("_utils", "hv_runtime")


def test_settings_from_the_pillar_else_the_copy(tmp_path):
    view = {"me": {"name": "hyp1"}}
    got = hv_runtime.settings({"hypervisor": {}}, lambda: view, str(tmp_path / "unused.json"))
    assert got == {"me": {"name": "hyp1"}, "offline": False, "settings_cache": None}
    copy = tmp_path / "settings.json"
    copy.write_text(json.dumps(view))
    got = hv_runtime.settings({}, lambda: pytest.fail("no pillar here"), str(copy))
    assert got == {"me": {"name": "hyp1"}, "offline": True, "settings_cache": str(copy)}
    with pytest.raises(hv_runtime.CommandExecutionError, match=r"no settings copy at .*missing\.json"):
        hv_runtime.settings({}, dict, str(tmp_path / "missing.json"))


def test_an_event_the_bus_refuses_stays_in_the_journal(caplog):
    sent = []
    log = logging.getLogger("hv.test")
    with caplog.at_level(logging.WARNING, logger="hv.test"):
        hv_runtime.fire(
            lambda tag, data: sent.append((tag, data)), log, "hv/keeper/started", {"guest": "vm1"}
        )
        hv_runtime.fire(lambda tag, data: 1 / 0, log, "hv/keeper/down", {"guest": "vm2"})
    assert sent == [("hv/keeper/started", {"guest": "vm1"})]
    assert (
        'hv/keeper/down {"guest": "vm2"}' in caplog.text
        and "could not send the event hv/keeper/down" in caplog.text
    )


def test_a_json_file_is_written_whole_and_private(tmp_path):
    path = tmp_path / "shared" / "hyp1.json"
    hv_runtime.write_json(str(path), {"host": "hyp1"})
    assert hv_runtime.read_json(str(path)) == {"host": "hyp1"}
    assert oct(path.stat().st_mode & 0o777) == "0o600" and [p.name for p in path.parent.iterdir()] == [
        path.name
    ]
    path.write_text('{"host": ')  # cut short
    assert hv_runtime.read_json(str(path)) is None and hv_runtime.read_json(str(tmp_path / "none")) is None


def test_the_modules_import_the_utils_through_salts_loader(tmp_path, monkeypatch):
    """A module's top-level ``import hv_runtime`` works where Salt loads it: the loader
    puts the utils directories on sys.path while it imports a module (here without
    the path the unit tests add, and without the copies they imported)."""
    utils = str(REPO / "_utils")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != utils])
    for name in [n for n in sys.modules if n.startswith("hv_") or n in ("keeper_rule", "guest_xml")]:
        monkeypatch.delitem(sys.modules, name)
    opts = salt.config.minion_config(None)
    opts.update(
        extension_modules=str(tmp_path), module_dirs=[str(REPO / "_modules")], utils_dirs=[utils], grains={}
    )
    whitelist = ["guests", "takeover", "keeper", "cluster"]
    functions = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), whitelist=whitelist)
    loaded = ("guests.start", "guests.evacuate", "takeover.check", "keeper.watch", "cluster.status")
    assert [fun for fun in loaded if fun in functions] == list(loaded)
    assert utils not in sys.path


def test_the_code_stamp_changes_with_a_synced_module(tmp_path):
    """What the keeper and takeover loops end on: a module of theirs synced anew."""
    for kind, name in (("modules", "keeper.py"), ("utils", "keeper_rule.py"), ("utils", "notes.txt")):
        (tmp_path / kind).mkdir(exist_ok=True)
        (tmp_path / kind / name).write_text("x = 1\n")
    stamp = hv_runtime.code_stamp(str(tmp_path))
    assert sorted(stamp) == ["modules/keeper.py", "utils/keeper_rule.py"]
    assert hv_runtime.code_stamp(str(tmp_path)) == stamp
    (tmp_path / "utils" / "notes.txt").write_text("y\n")
    assert hv_runtime.code_stamp(str(tmp_path)) == stamp
    os.utime(tmp_path / "utils" / "keeper_rule.py", ns=(1, 1))
    assert hv_runtime.code_stamp(str(tmp_path)) != stamp
