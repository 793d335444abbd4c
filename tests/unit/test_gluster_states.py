"""The gluster states' logic: no change when right, honest test=True, never
touching an existing volume with other bricks. The execution module is
replaced by specs of its real functions (daemons: see tests/lab)."""

from unittest.mock import create_autospec

import pytest

from tests.loaders import load

module = load("_modules", "gluster")
BRICKS = ["hyp1:/b/vmstore/brick", "hyp2:/b/vmstore/brick"]


def volume(bricks=BRICKS, status="Started", options=None, replica=2):
    return {
        "vmstore": {
            "status": status,
            "replica": replica,
            "arbiter": 0,
            "bricks": [{"name": b} for b in bricks],
            "options": options or {},
        }
    }


@pytest.fixture
def states():
    mod = load("_states", "gluster")
    mod.__opts__ = {"test": False}
    mod.__salt__ = {
        f"gluster.{name}": create_autospec(getattr(module, name))
        for name in (
            "volume_info",
            "volume_create",
            "volume_start",
            "volume_set",
            "peer_status",
            "peer_probe",
        )
    }
    return mod


def test_existing_volume_with_other_bricks_is_left_alone(states):
    states.__salt__["gluster.volume_info"].return_value = volume(bricks=["hyp1:/old", "hyp2:/old"])
    ret = states.volume_present("vmstore", BRICKS, replica=2)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "Not changing an existing volume" in ret["comment"]
    states.__salt__["gluster.volume_create"].assert_not_called()


def test_present_volume_is_no_change(states):
    states.__salt__["gluster.volume_info"].return_value = volume()
    ret = states.volume_present("vmstore", BRICKS)
    assert ret == {
        "name": "vmstore",
        "changes": {},
        "result": True,
        "comment": "volume vmstore exists with the wanted bricks",
    }


def test_test_mode_predicts_creation_and_creates_nothing(states):
    states.__opts__["test"] = True
    states.__salt__["gluster.volume_info"].return_value = {}
    ret = states.volume_present("vmstore", BRICKS, force=True)
    assert ret["result"] is None
    assert ret["changes"] == {"new": {"bricks": BRICKS, "replica": 2, "arbiter": 0}}
    states.__salt__["gluster.volume_create"].assert_not_called()


def test_creates_then_reads_back(states):
    states.__salt__["gluster.volume_info"].side_effect = [{}, volume(status="Created")]
    ret = states.volume_present("vmstore", BRICKS, force=True)
    assert ret["result"] is True and ret["comment"] == "created volume vmstore"
    states.__salt__["gluster.volume_create"].assert_called_once_with(
        "vmstore", BRICKS, replica=2, arbiter=0, force=True
    )


def test_only_differing_options_are_set(states):
    have = {"network.ping-timeout": "5", "network.frame-timeout": "60"}
    after = {"network.ping-timeout": "5", "network.frame-timeout": "300"}
    states.__salt__["gluster.volume_info"].side_effect = [volume(options=have), volume(options=after)]
    ret = states.volume_options("vmstore", {"network.ping-timeout": 5, "network.frame-timeout": 300})
    states.__salt__["gluster.volume_set"].assert_called_once_with("vmstore", "network.frame-timeout", "300")
    assert ret["changes"] == {"network.frame-timeout": {"old": "60", "new": "300"}}
    assert ret["result"] is True


def test_options_test_mode(states):
    states.__opts__["test"] = True
    states.__salt__["gluster.volume_info"].return_value = volume(options={})
    ret = states.volume_options("vmstore", {"network.ping-timeout": "5"})
    assert ret["result"] is None
    assert ret["changes"] == {"network.ping-timeout": {"old": None, "new": "5"}}
    states.__salt__["gluster.volume_set"].assert_not_called()


def test_start_reports_gluster_error(states):
    states.__salt__["gluster.volume_info"].return_value = volume(status="Stopped")
    states.__salt__["gluster.volume_start"].side_effect = module.CommandExecutionError("gluster: brick down")
    ret = states.volume_started("vmstore")
    assert ret["result"] is False and ret["comment"] == "gluster: brick down"


def test_peer_already_there(states):
    states.__salt__["gluster.peer_status"].return_value = [
        {"hostname": "hyp2", "hostnames": ["hyp2"], "connected": True, "state": "Peer in Cluster"}
    ]
    ret = states.peered("hyp2")
    assert ret["result"] is True and ret["changes"] == {}
    states.__salt__["gluster.peer_probe"].assert_not_called()
