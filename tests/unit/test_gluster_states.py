"""The gluster states' logic: no change when right, honest test=True, never
touching an existing volume with other bricks. The execution module is
replaced by specs of its real functions (daemons: see tests/lab)."""

from unittest.mock import create_autospec

import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar, lab_pillar_without_arbiter, many_hosts_pillar

gluster = load("_modules", "gluster")
gluster_states = load("_states", "gluster")
# vmstore's bricks as gluster/volumes.sls hands them over in the two-host cluster (the real view).
TWO_HOSTS = hv_views.build(lab_pillar_without_arbiter(), layered_parameters("Debian"), "hyp1")
BRICKS = TWO_HOSTS["gluster"]["volumes"]["vmstore"]["bricks"]
HYP2 = {
    "uuid": "u2",
    "hostname": "hyp2",
    "hostnames": ["hyp2"],
    "connected": True,
    "state": "Peer in Cluster",
}


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
def salt_mods():
    names = (
        "volume_info", "volume_create", "volume_add_brick", "volume_start", "volume_set", "peer_status",
        "peer_probe",
    )  # fmt: skip
    return {f"gluster.{name}": create_autospec(getattr(gluster, name)) for name in names}


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(salt_mods, opts):
    return {gluster_states: {"__salt__": salt_mods, "__opts__": opts}}


def test_existing_volume_with_other_bricks_is_left_alone(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volume(bricks=["hyp1:/old", "hyp2:/old"])
    ret = gluster_states.volume_present("vmstore", BRICKS, replica=2)
    assert ret == {
        "name": "vmstore",
        "changes": {},
        "result": False,
        "comment": "volume vmstore exists with bricks ['hyp1:/old', 'hyp2:/old'] (replica 2, arbiter 0); "
        "the pillar wants ['hyp1:/mnt/bricks/vmstore/brick', 'hyp2:/mnt/bricks/vmstore/brick'] "
        "(replica 2, arbiter 0). "
        "Not changing an existing volume: reconcile by hand.",
    }
    salt_mods["gluster.volume_create"].assert_not_called()


# B8: the same two-host cluster grown by a third host that carries guests, or by an arbiter.
GROWN = {
    "third host": (many_hosts_pillar(3, False), 0),
    "arbiter": (lab_pillar(), 1),
}


@pytest.mark.parametrize("grown", list(GROWN))
@pytest.mark.parametrize("test_mode", [True, False])
def test_a_two_brick_volume_gets_its_third_brick_and_nothing_else(salt_mods, opts, grown, test_mode):
    pillar, arbiter = GROWN[grown]
    wanted = hv_views.build(pillar, layered_parameters("Debian"), "hyp1")["gluster"]["volumes"]["vmstore"]
    assert (wanted["replica"], wanted["arbiter"]) == (3, arbiter)
    new = [b for b in wanted["bricks"] if b not in BRICKS]
    after = dict(volume(bricks=wanted["bricks"], replica=3)["vmstore"], arbiter=arbiter)
    salt_mods["gluster.volume_info"].side_effect = [volume(), {"vmstore": after}]
    opts["test"] = test_mode
    ret = gluster_states.volume_present("vmstore", wanted["bricks"], replica=3, arbiter=arbiter, force=True)
    assert ret["changes"] == {
        "old": {"bricks": BRICKS, "replica": 2, "arbiter": 0},
        "new": {"bricks": [*BRICKS, *new], "replica": 3, "arbiter": arbiter},
    }
    assert ret["result"] is (None if test_mode else True) and new[0] in ret["comment"], ret
    if test_mode:
        salt_mods["gluster.volume_add_brick"].assert_not_called()
    else:
        salt_mods["gluster.volume_add_brick"].assert_called_once_with(
            "vmstore", new, 3, arbiter=arbiter, force=True
        )
    salt_mods["gluster.volume_create"].assert_not_called()


def test_a_volume_that_would_lose_or_swap_a_brick_is_left_alone(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volume()
    three = [
        "hyp1:/mnt/bricks/vmstore/brick",
        "hyp3:/mnt/bricks/vmstore/brick",
        "hyp4:/mnt/bricks/vmstore/brick",
    ]
    ret = gluster_states.volume_present("vmstore", three, replica=3)
    assert ret["result"] is False and "reconcile by hand" in ret["comment"]
    salt_mods["gluster.volume_add_brick"].assert_not_called()


def test_bricks_in_another_order_are_the_same_volume(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volume()
    assert gluster_states.volume_present("vmstore", BRICKS[::-1])["result"] is True


def test_present_volume_is_no_change(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volume()
    assert gluster_states.volume_present("vmstore", BRICKS) == {
        "name": "vmstore",
        "changes": {},
        "result": True,
        "comment": "volume vmstore exists with the wanted bricks",
    }


def test_test_mode_predicts_creation_and_creates_nothing(salt_mods, opts):
    opts["test"] = True
    salt_mods["gluster.volume_info"].return_value = {}
    assert gluster_states.volume_present("vmstore", BRICKS, force=True) == {
        "name": "vmstore",
        "changes": {"old": None, "new": {"bricks": BRICKS, "replica": 2, "arbiter": 0}},
        "result": None,
        "comment": "would create volume vmstore",
    }
    salt_mods["gluster.volume_create"].assert_not_called()


def test_creates_then_reads_back(salt_mods):
    salt_mods["gluster.volume_info"].side_effect = [{}, volume(status="Created")]
    assert gluster_states.volume_present("vmstore", BRICKS, force=True) == {
        "name": "vmstore",
        "changes": {"old": None, "new": {"bricks": BRICKS, "replica": 2, "arbiter": 0}},
        "result": True,
        "comment": "created volume vmstore",
    }
    salt_mods["gluster.volume_create"].assert_called_once_with(
        "vmstore", BRICKS, replica=2, arbiter=0, force=True
    )


def test_only_differing_options_are_set(salt_mods):
    have = {"network.ping-timeout": "5", "network.frame-timeout": "60"}
    after = {"network.ping-timeout": "5", "network.frame-timeout": "300"}
    salt_mods["gluster.volume_info"].side_effect = [volume(options=have), volume(options=after)]
    ret = gluster_states.volume_options("vmstore", {"network.ping-timeout": 5, "network.frame-timeout": 300})
    assert ret == {
        "name": "vmstore",
        "changes": {"network.frame-timeout": {"old": "60", "new": "300"}},
        "result": True,
        "comment": "set network.frame-timeout on vmstore",
    }
    salt_mods["gluster.volume_set"].assert_called_once_with("vmstore", "network.frame-timeout", "300")


def test_options_test_mode(salt_mods, opts):
    opts["test"] = True
    salt_mods["gluster.volume_info"].return_value = volume(options={})
    assert gluster_states.volume_options("vmstore", {"network.ping-timeout": "5"}) == {
        "name": "vmstore",
        "changes": {"network.ping-timeout": {"old": None, "new": "5"}},
        "result": None,
        "comment": "would set network.ping-timeout on vmstore",
    }
    salt_mods["gluster.volume_set"].assert_not_called()


def test_start_then_reads_back(salt_mods):
    salt_mods["gluster.volume_info"].side_effect = [volume(status="Stopped"), volume(status="Started")]
    assert gluster_states.volume_started("vmstore") == {
        "name": "vmstore",
        "changes": {"old": "Stopped", "new": "Started"},
        "result": True,
        "comment": "started volume vmstore",
    }
    salt_mods["gluster.volume_start"].assert_called_once_with("vmstore")


def test_start_reports_gluster_error(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volume(status="Stopped")
    salt_mods["gluster.volume_start"].side_effect = CommandExecutionError("gluster: brick down")
    assert gluster_states.volume_started("vmstore") == {
        "name": "vmstore",
        "changes": {},
        "result": False,
        "comment": "gluster: brick down",
    }


@pytest.mark.parametrize(
    ("info", "why"),
    [({}, "does not exist yet"), (None, "is Stopped")],
    ids=["not-created", "stopped"],
)
def test_waiting_for_another_hosts_start_fails_and_starts_nothing(salt_mods, info, why):
    salt_mods["gluster.volume_info"].return_value = volume(status="Stopped") if info is None else info
    assert gluster_states.volume_started("vmstore", start=False) == {
        "name": "vmstore",
        "changes": {},
        "result": False,
        "comment": f"volume vmstore {why}: another host creates and starts it",
    }
    salt_mods["gluster.volume_start"].assert_not_called()


def test_waiting_for_another_hosts_start_under_test_is_none(salt_mods, opts):
    opts["test"] = True
    salt_mods["gluster.volume_info"].return_value = {}
    ret = gluster_states.volume_started("save", start=False)
    assert (ret["result"], ret["changes"]) == (None, {})


def test_waiting_for_a_started_volume_is_done(salt_mods):
    salt_mods["gluster.volume_info"].return_value = volume(status="Started")
    assert gluster_states.volume_started("vmstore", start=False)["result"] is True
    salt_mods["gluster.volume_start"].assert_not_called()


def test_peer_already_there(salt_mods):
    salt_mods["gluster.peer_status"].return_value = [HYP2]
    assert gluster_states.peered("hyp2") == {
        "name": "hyp2",
        "changes": {},
        "result": True,
        "comment": "hyp2 is already a peer (Peer in Cluster)",
    }
    salt_mods["gluster.peer_probe"].assert_not_called()


def test_peer_test_mode_predicts_and_does_not_probe(salt_mods, opts):
    opts["test"] = True
    salt_mods["gluster.peer_status"].return_value = []
    assert gluster_states.peered("hyp2") == {
        "name": "hyp2",
        "changes": {"old": None, "new": {"peer": "hyp2", "state": "Peer in Cluster"}},
        "result": None,
        "comment": "would probe hyp2",
    }
    salt_mods["gluster.peer_probe"].assert_not_called()


def test_peer_probed_then_read_back(salt_mods):
    salt_mods["gluster.peer_status"].side_effect = [[], [HYP2]]
    assert gluster_states.peered("hyp2") == {
        "name": "hyp2",
        "changes": {"old": None, "new": {"peer": "hyp2", "state": "Peer in Cluster"}},
        "result": True,
        "comment": "probed hyp2",
    }
    salt_mods["gluster.peer_probe"].assert_called_once_with("hyp2")


def test_a_probed_peer_is_waited_for_until_it_is_a_member(salt_mods, monkeypatch):
    """Right after a probe the new host is still joining; a volume option set then
    fails staging on it ("Volume vmstore does not exist"): the state waits."""
    sleeps = []
    monkeypatch.setattr(gluster_states.time, "sleep", sleeps.append)
    joining = dict(HYP2, state="Accepted peer request")
    salt_mods["gluster.peer_status"].side_effect = [[], [joining], [joining], [HYP2]]
    ret = gluster_states.peered("hyp2")
    assert (ret["result"], ret["comment"]) == (True, "probed hyp2")
    assert ret["changes"]["new"]["state"] == "Peer in Cluster" and sleeps == [1, 1]


def test_a_probed_peer_that_never_joins_fails(salt_mods, monkeypatch):
    clock = iter(range(0, 1000, 20))
    monkeypatch.setattr(gluster_states.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(gluster_states.time, "sleep", lambda _s: None)
    joining = dict(HYP2, state="Sent and Received peer request")
    salt_mods["gluster.peer_status"].side_effect = [[]] + [[joining]] * 10
    ret = gluster_states.peered("hyp2")
    assert ret["result"] is False
    assert (
        ret["comment"]
        == "probed hyp2, still not a connected member after 60s (Sent and Received peer request)"
    )


def test_a_connected_peer_still_joining_is_not_yet_done(salt_mods):
    salt_mods["gluster.peer_status"].return_value = [dict(HYP2, state="Accepted peer request")]
    ret = gluster_states.peered("hyp2")
    assert ret["result"] is False and "not a connected member yet (Accepted peer request)" in ret["comment"]
    salt_mods["gluster.peer_probe"].assert_not_called()


def test_peer_probe_fails(salt_mods):
    salt_mods["gluster.peer_status"].return_value = []
    salt_mods["gluster.peer_probe"].side_effect = CommandExecutionError(
        "gluster: Probe returned with Transport endpoint is not connected"
    )
    assert gluster_states.peered("hyp2") == {
        "name": "hyp2",
        "changes": {},
        "result": False,
        "comment": "gluster: Probe returned with Transport endpoint is not connected",
    }


def test_a_host_that_does_not_probe_waits_for_the_leader(salt_mods):
    salt_mods["gluster.peer_status"].return_value = []
    ret = gluster_states.peered("hyp1", probe=False)
    assert ret["result"] is False and "has not added this host" in ret["comment"]
    assert ret["changes"] == {}
    salt_mods["gluster.peer_probe"].assert_not_called()


def test_a_peer_listed_by_its_full_name_is_found(salt_mods):
    """A host the leader probed lists the leader by the name it resolved (its FQDN)."""
    salt_mods["gluster.peer_status"].return_value = [dict(HYP2, hostname="hyp2.lab.example", hostnames=[])]
    assert gluster_states.peered("hyp2", probe=False)["result"] is True
