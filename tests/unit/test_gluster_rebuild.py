"""F28's guards, without gluster: the rebuild refuses a node that is not one to
rebuild, a brick it could write onto the wrong file system, a brick of another
volume, a marking while the node's brick runs; its waits end with a message
naming what they waited for. The whole rebuild runs in tests/lab/test_rebuild.py."""

import errno
import os
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import lab_pillar

gluster = load("_modules", "gluster")
gluster_rebuild = load("_modules", "gluster_rebuild")
OLD_UUID = "a03f277c-8862-407b-b91c-6e39be206d38"
NEW_UUID = "5b7e1d0f-2c4a-4e8b-9f61-0a3c5d7e9b12"
VOLUME_ID = "6d1d8a2c-3b4e-4f5a-9b8c-7d6e5f4a3b2c"
OTHER_ID = bytes.fromhex("00112233445566778899aabbccddeeff")


def peer(host, uuid, connected=True, state="Peer in Cluster"):
    return {"uuid": uuid, "hostname": host, "hostnames": [host], "connected": connected, "state": state}


def brick_process(host, online=True):
    return {"hostname": host, "path": "/mnt/bricks/vmstore/brick", "peer_uuid": "", "online": online}


def volumes(hyp2_brick="/mnt/bricks/vmstore/brick"):
    bricks = [{"name": "hyp1:/mnt/bricks/vmstore/brick"}, {"name": f"hyp2:{hyp2_brick}"}]
    return {"vmstore": {"id": VOLUME_ID, "status": "Started", "bricks": bricks, "options": {}}}


def layout(brick_root, devices=True):
    """hyp2's settings from the lab pillar (the real views), its bricks under ``brick_root``:
    on their block devices as in the lab (vmstore on /dev/hvlab-vmstore), else, with
    ``devices`` false, plain directories."""
    pillar = lab_pillar()
    pillar["hypervisor"].setdefault("gluster", {})["brick_root"] = str(brick_root)
    if not devices:
        del pillar["hypervisor"]["hosts"]["hyp2"]["bricks"]
    return hv_views.build(pillar, layered_parameters("Debian"), "hyp2")


@pytest.fixture
def salt_mods():
    names = (
        "peer_status",
        "peer_probe",
        "volume_info",
        "volume_status",
        "volume_start",
        "volume_sync",
        "volume_get",
        "heal",
        "heal_info",
        "heal_granular",
        "split_brain",
        "node_uuid",
    )
    mods = {f"gluster.{name}": create_autospec(getattr(gluster, name)) for name in names}
    mods["hypervisor_pillar.settings"] = create_autospec(hypervisor_pillar.settings)
    mods["cmd.run_all"] = create_autospec(salt.modules.cmdmod.run_all)
    return mods


@pytest.fixture
def configure_loader_modules(salt_mods):
    return {gluster_rebuild: {"__salt__": salt_mods, "__grains__": {"id": "hyp2"}}}


@pytest.fixture
def xattrs(monkeypatch):
    """Extended attributes kept in a dict: ``trusted.*`` needs root and a file
    system that keeps them, which a test's tmp_path may not be."""
    store = {}

    def getxattr(path, key):
        if (str(path), key) not in store:
            raise OSError(errno.ENODATA, "No data available", str(path))
        return store[(str(path), key)]

    def setxattr(path, key, value):
        store[(str(path), key)] = value

    monkeypatch.setattr(os, "getxattr", getxattr)
    monkeypatch.setattr(os, "setxattr", setxattr)
    return store


# ---------------------------------------------------------------- rebuild_check


def test_rebuild_check_refuses_a_node_the_source_does_not_know(salt_mods):
    salt_mods["gluster.peer_status"].return_value = [peer("hyp3", OLD_UUID)]
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.rebuild_check("hyp1")
    assert str(exc.value) == "hyp1 does not know hyp2: this is not a rebuild, refusing"
    salt_mods["gluster.peer_status"].assert_called_once_with(remote_host="hyp1")


def test_rebuild_check_refuses_a_healthy_node(salt_mods):
    salt_mods["gluster.peer_status"].return_value = [peer("hyp2", OLD_UUID)]
    salt_mods["gluster.node_uuid"].return_value = OLD_UUID
    salt_mods["gluster.volume_info"].return_value = volumes()
    salt_mods["gluster.volume_status"].return_value = [brick_process("hyp1"), brick_process("hyp2")]
    salt_mods["gluster.heal_info"].return_value = [
        {"name": "hyp1:/mnt/bricks/vmstore/brick", "status": "Connected", "entries": 0, "files": []}
    ]
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.rebuild_check("hyp1")
    assert str(exc.value) == (
        "hyp2 is healthy (hyp1 sees it connected as a03f277c-8862-407b-b91c-6e39be206d38, "
        "every brick of it online, nothing to heal): refusing to rebuild it"
    )


def test_rebuild_check_accepts_a_node_with_a_new_identity(salt_mods):
    salt_mods["gluster.peer_status"].return_value = [peer("hyp2", OLD_UUID, connected=False)]
    salt_mods["gluster.node_uuid"].return_value = NEW_UUID
    assert gluster_rebuild.rebuild_check("hyp1") == {"recorded": OLD_UUID, "current": NEW_UUID}


# ---------------------------------------------------------------- rejoin


def test_rejoin_syncs_only_what_the_handshake_did_not_import(salt_mods, monkeypatch):
    monkeypatch.setattr(gluster_rebuild, "HANDSHAKE_SECONDS", 0)
    here = {"vmstore": {}}
    salt_mods["gluster.peer_status"].return_value = [peer("hyp1", OLD_UUID)]
    salt_mods["gluster.volume_info"].side_effect = lambda name=None, remote_host=None: (
        {"sanlock": {}, "vmstore": {}} if remote_host == "hyp1" else dict(here)
    )
    salt_mods["gluster.volume_sync"].side_effect = lambda host, name="all": here.update({name: {}})
    assert gluster_rebuild.rejoin("hyp1") == {"volumes": ["sanlock", "vmstore"], "synced": ["sanlock"]}
    salt_mods["gluster.peer_probe"].assert_called_once_with("hyp1")
    salt_mods["gluster.volume_sync"].assert_called_once_with("hyp1", "sanlock")


def test_rejoin_stops_at_once_when_rejected(salt_mods):
    salt_mods["gluster.peer_status"].return_value = [peer("hyp1", OLD_UUID, state="Peer Rejected")]
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.rejoin("hyp1")
    assert str(exc.value) == "hyp1 rejects this node (Peer Rejected)"
    salt_mods["gluster.volume_sync"].assert_not_called()


# ---------------------------------------------------------------- prepare_bricks


def test_prepare_bricks_refuses_an_unmounted_brick_device(salt_mods, tmp_path, xattrs, monkeypatch):
    brick_dir = tmp_path / "vmstore"
    brick_dir.mkdir()
    salt_mods["hypervisor_pillar.settings"].return_value = layout(tmp_path)
    salt_mods["gluster.volume_info"].return_value = volumes(f"{brick_dir}/brick")
    monkeypatch.setattr(os.path, "ismount", create_autospec(os.path.ismount, return_value=False))
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.prepare_bricks()
    assert str(exc.value) == (
        f"the brick file system of vmstore (/dev/hvlab-vmstore) is not mounted on {brick_dir}: "
        "apply gluster.bricks first"
    )
    assert list(brick_dir.iterdir()) == []
    assert xattrs == {}


def test_prepare_bricks_refuses_a_brick_the_settings_do_not_know(salt_mods, tmp_path, xattrs):
    salt_mods["hypervisor_pillar.settings"].return_value = layout(tmp_path, devices=False)
    salt_mods["gluster.volume_info"].return_value = volumes("/srv/old/vmstore")
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.prepare_bricks()
    assert str(exc.value) == (
        "gluster lists /srv/old/vmstore as this host's brick of vmstore, "
        "but this host's settings do not know it: refusing"
    )
    assert list(tmp_path.iterdir()) == []


def test_prepare_bricks_refuses_a_brick_of_another_volume(salt_mods, tmp_path, xattrs):
    brick = tmp_path / "vmstore" / "brick"
    brick.mkdir(parents=True)
    xattrs[(str(brick), "trusted.glusterfs.volume-id")] = OTHER_ID
    salt_mods["hypervisor_pillar.settings"].return_value = layout(tmp_path, devices=False)
    salt_mods["gluster.volume_info"].return_value = volumes(str(brick))
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.prepare_bricks()
    assert str(exc.value) == (
        f"{brick} belongs to another volume (00112233445566778899aabbccddeeff), not vmstore"
    )
    assert xattrs == {(str(brick), "trusted.glusterfs.volume-id"): OTHER_ID}
    assert list(brick.iterdir()) == []


def test_prepare_bricks_marks_an_empty_mounted_brick(salt_mods, tmp_path, xattrs, monkeypatch):
    brick_dir = tmp_path / "vmstore"
    brick_dir.mkdir()
    salt_mods["hypervisor_pillar.settings"].return_value = layout(tmp_path)
    salt_mods["gluster.volume_info"].return_value = volumes(f"{brick_dir}/brick")
    ismount = create_autospec(os.path.ismount, return_value=True)
    monkeypatch.setattr(os.path, "ismount", ismount)
    assert gluster_rebuild.prepare_bricks() == {"vmstore": f"{brick_dir}/brick"}
    ismount.assert_called_once_with(str(brick_dir))
    assert xattrs == {
        (f"{brick_dir}/brick", "trusted.glusterfs.volume-id"): bytes.fromhex(
            "6d1d8a2c3b4e4f5a9b8c7d6e5f4a3b2c"
        )
    }
    assert (brick_dir / "brick" / ".glusterfs").is_dir()


# ---------------------------------------------------------------- mark_for_heal


def test_mark_for_heal_refuses_while_the_node_brick_runs(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volumes()
    salt_mods["gluster.volume_status"].return_value = [brick_process("hyp1"), brick_process("hyp2")]
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.mark_for_heal("hyp2")
    assert str(exc.value) == ("hyp2's bricks of vmstore are running: marking must happen before they start")
    salt_mods["gluster.heal_granular"].assert_not_called()
    salt_mods["cmd.run_all"].assert_not_called()


# ---------------------------------------------------------------- waits


def test_wait_gives_up_naming_what_and_the_last_state():
    def check():
        raise gluster_rebuild._NotYet("hyp2:/mnt/bricks/vmstore/brick (Connected, 3 entries)")

    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild._wait_until(check, 0, "the heal to finish")
    assert str(exc.value) == (
        "gave up waiting for the heal to finish after 0s; "
        "last seen: hyp2:/mnt/bricks/vmstore/brick (Connected, 3 entries)"
    )


def test_wait_returns_the_first_truthy_answer():
    answers = iter([[], [], ["vmstore"]])
    assert gluster_rebuild._wait_until(lambda: next(answers), 5, "volumes", interval=0) == ["vmstore"]


def test_wait_lets_other_errors_through_at_once():
    def check():
        raise CommandExecutionError("hyp1 rejects this node (Peer Rejected)")

    with pytest.raises(CommandExecutionError, match=r"^hyp1 rejects this node \(Peer Rejected\)$"):
        gluster_rebuild._wait_until(check, 60, "hyp1 to take this node in")


def test_bricks_that_stay_offline_end_the_start_with_a_message(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volumes()
    salt_mods["gluster.volume_status"].return_value = [brick_process("hyp1"), brick_process("hyp2", False)]
    with pytest.raises(CommandExecutionError) as exc:
        gluster_rebuild.start_local_bricks(timeout=0)
    assert str(exc.value) == (
        "gave up waiting for this node's bricks to come online after 0s; last seen: offline: vmstore"
    )
    salt_mods["gluster.volume_start"].assert_called_once_with("vmstore", force=True)


def test_heal_and_wait_nudges_an_index_heal_while_entries_remain(salt_mods, monkeypatch):
    """The self-heal daemon retries a failed entry only every cluster.heal-timeout
    (600 s): while entries remain, an index heal starts a crawl every NUDGE_SECONDS."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(gluster_rebuild.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(gluster_rebuild.time, "sleep", lambda s: clock.update(now=clock["now"] + s))
    pending = [{"name": "hyp1:/mnt/bricks/vmstore/brick", "status": "Connected", "entries": 3}]
    answers = iter([pending] * 40 + [[]])
    salt_mods["gluster.volume_info"].return_value = volumes()
    salt_mods["gluster.heal_info"].side_effect = lambda name: next(answers)
    salt_mods["gluster.split_brain"].return_value = []
    salt_mods["gluster.volume_get"].return_value = "on"
    assert gluster_rebuild.heal_and_wait(timeout=600) == {"vmstore": "healed"}
    calls = [c.args + tuple(sorted(c.kwargs.items())) for c in salt_mods["gluster.heal"].call_args_list]
    assert calls[0] == ("vmstore", ("full", True))
    index = [c for c in calls[1:] if c == ("vmstore",)]
    # 40 looks 2 s apart: 80 s of pending entries, an index heal every 30 s.
    assert len(index) == 2, calls
