"""Restoring a guest from its save file (F17, B10): the file is taken (renamed) before the
restore and put back when it fails; a leftover is never restored twice; a save older than
the guest's disk is refused and set aside. libvirt's connection is a spec of the real class."""

import os
from unittest.mock import create_autospec

import hv_saves
import libvirt
import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, layered_parameters
from tests.pillar_cases import lab_pillar


@pytest.fixture
def hv(tmp_path):
    view = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")
    view["evacuation"]["save_dir"] = str(tmp_path / "save")
    (tmp_path / "save").mkdir()
    disk = tmp_path / "vm1.img"
    disk.write_text("disk")
    os.utime(disk, (1000, 1000))
    view["guests"]["vm1"]["disk_path"] = str(disk)
    return view


def saved(hv, mtime=2000):
    path = hv_saves.save_path(hv, "vm1")
    with open(path, "w") as handle:
        handle.write("memory")
    os.utime(path, (mtime, mtime))
    return path


def conn(fails=False):
    fake = create_autospec(libvirt.virConnect, instance=True)
    if fails:
        fake.restoreFlags.side_effect = libvirt.libvirtError("no room")
    return fake


def test_a_restore_takes_the_file_first_and_removes_it(hv):
    path = saved(hv)
    c = conn()
    assert hv_saves.restore(hv, c, "vm1") == path
    c.restoreFlags.assert_called_once_with(path + ".restoring", None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
    assert os.listdir(hv["evacuation"]["save_dir"]) == [] and hv_saves.saved(hv) == {}


def test_a_failed_restore_puts_the_file_back(hv):
    path = saved(hv)
    with pytest.raises(CommandExecutionError, match=r"restoring vm1 from .* failed: no room"):
        hv_saves.restore(hv, conn(fails=True), "vm1")
    assert hv_saves.saved(hv) == {"vm1": path}


def test_a_leftover_of_a_restore_is_no_save_any_more(hv):
    path = saved(hv)
    os.rename(path, path + ".restoring")
    assert hv_saves.saved(hv) == {} and not hv_saves.has_save(hv, "vm1")


def test_a_save_older_than_the_disk_is_refused_and_set_aside(hv):
    path = saved(hv, mtime=500)  # the disk (mtime 1000) was written after: the guest ran since
    c = conn()
    with pytest.raises(CommandExecutionError, match="older than its disk"):
        hv_saves.restore(hv, c, "vm1")
    c.restoreFlags.assert_not_called()
    names = os.listdir(hv["evacuation"]["save_dir"])
    assert len(names) == 1 and names[0].startswith("vm1.save.stale-") and not os.path.exists(path)


RACE = (
    "internal error: Failed to run firewall command ebtables --concurrent -t nat -A libvirt-J-vnet13"
    " -p 0x800 -j ACCEPT: ebtables v1.8.11 (nf_tables):  RULE_DELETE failed (No such file or directory)"
)


def test_a_restore_that_lost_a_firewall_race_is_tried_again(hv, monkeypatch):
    monkeypatch.setattr(hv_saves, "FIREWALL_PAUSE", 0)
    path = saved(hv)
    c = conn()
    c.restoreFlags.side_effect = [libvirt.libvirtError(RACE), None]
    assert hv_saves.restore(hv, c, "vm1") == path
    assert c.restoreFlags.call_count == 2 and hv_saves.saved(hv) == {}


def test_a_firewall_race_that_persists_fails_and_keeps_the_save(hv, monkeypatch):
    monkeypatch.setattr(hv_saves, "FIREWALL_PAUSE", 0)
    path = saved(hv)
    c = conn()
    c.restoreFlags.side_effect = libvirt.libvirtError(RACE)
    with pytest.raises(CommandExecutionError, match="Failed to run firewall command"):
        hv_saves.restore(hv, c, "vm1")
    assert c.restoreFlags.call_count == hv_saves.FIREWALL_TRIES and hv_saves.saved(hv) == {"vm1": path}


def test_other_restore_errors_are_not_tried_again(hv):
    saved(hv)
    c = conn(fails=True)
    with pytest.raises(CommandExecutionError, match="no room"):
        hv_saves.restore(hv, c, "vm1")
    c.restoreFlags.assert_called_once()


def test_a_start_that_lost_a_firewall_race_is_tried_again(hv, monkeypatch):
    monkeypatch.setattr(hv_saves, "FIREWALL_PAUSE", 0)
    c = conn()
    dom = create_autospec(libvirt.virDomain, instance=True)
    dom.state.return_value = [libvirt.VIR_DOMAIN_SHUTOFF, 0]
    dom.create.side_effect = [libvirt.libvirtError(RACE), 0]
    c.lookupByName.return_value = dom
    assert hv_saves.start(hv, c, "vm1") == {"outcome": "started", "host": "hyp1"}
    assert dom.create.call_count == 2
