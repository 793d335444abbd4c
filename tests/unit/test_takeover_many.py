"""Takeover among many hosts (B8): the host that opens a dead host's incident assigns its
guests to the survivors by room before any start, starts its own share, and the share of
another survivor only after the grace; another survivor starts its share from the incident;
a guest that fits nowhere is reported, never started; each failover IP goes where its guest
runs. The fakes are test_takeover's (real function signatures), on a five-host pillar."""

import datetime

import pytest

from tests.loaders import load
from tests.pillar_cases import many_hosts_pillar
from tests.unit.test_takeover import FREE, Cluster, takeover, view

plan = load("_utils", "hv_takeover_plan")
hv_incidents = load("_utils", "hv_incidents")


def pillar():
    """Five hosts, no arbiter; hyp1 runs vm1 and vm2 (an anti-affinity pair) and vm3."""
    data = many_hosts_pillar(5, False)
    guests = data["hypervisor"]["guests"]
    guests["vm1"]["anti_affinity"] = guests["vm2"]["anti_affinity"] = "pair"
    guests["vm3"]["home"] = "hyp1"
    return data


class Many(Cluster):
    """hyp1 (host id 1, generation 3) is dead and held vm1, vm2, vm3; hyp2..hyp5 renew."""

    def __init__(self, hv):
        super().__init__(hv)
        self.leases[self.lease("vm3")].update(owner_host_id=1, generation=3)
        self.connected = {h: h != "hyp1" for h in ("hyp1", "hyp2", "hyp3", "hyp4", "hyp5")}
        me = hv["me"]["name"]
        self.me_id = hv["hosts"][me]["host_id"]

    def funcs(self):
        funcs = super().funcs()
        rows = {1: {"generation": 3, "timestamp": 500, "state": "dead", "silent": 80.0}}
        rows |= {n: {"generation": 1, "timestamp": 900, "state": "live", "silent": 1.0} for n in (2, 3, 4, 5)}
        del rows[self.me_id]
        funcs["sanlock.host_status"].side_effect = lambda **kw: rows
        return funcs

    def _start(self, name, settings_cache=None, keeper=False):
        if name in self.refuse:
            return {"outcome": "elsewhere", "why": "sanlock holds its lease there"}
        self.leases[self.lease(name)].update(owner_host_id=self.me_id, generation=1)
        return {"outcome": "started", "host": self.hv["me"]["name"]}


def survivor(name, tmp_path, monkeypatch, capacity=None):
    hv = view(name, tmp_path, pillar())
    cluster = Many(hv)
    cluster.capacity = capacity or {}
    monkeypatch.setattr(
        takeover.hv_domains, "capacity", lambda hv, host, me: cluster.capacity.get(host, FREE)
    )
    monkeypatch.setattr(takeover.hv_domains, "reachable", lambda hv, host: None)
    takeover.__salt__ = cluster.funcs()
    takeover.__pillar__ = {"hypervisor": {}, "online": {}}
    return hv, cluster


@pytest.fixture
def configure_loader_modules():
    return {takeover: {"__salt__": {}, "__pillar__": {}}}


def test_the_opener_assigns_before_any_start_and_starts_only_its_share(tmp_path, monkeypatch):
    roomy = dict(FREE, memory=16384)
    hv, cluster = survivor("hyp2", tmp_path, monkeypatch, {"hyp3": roomy, "hyp4": roomy, "hyp5": roomy})
    record = takeover.check()["incidents"]["hyp1"]
    assigned = record["assigned"]
    assert sorted(assigned) == ["vm1", "vm2", "vm3"] and record["unplaced"] == {}
    assert assigned["vm1"] != assigned["vm2"]  # the pair apart
    assert "hyp2" not in assigned.values()  # the others have more room
    assert cluster.called("guests.start") == [] and not record.get("done")
    events = cluster.events()
    assert events[:2] == ["hv/takeover/dead", "hv/takeover/assigned"]
    saved = hv_incidents.read(hv, "hyp1", 3)
    assert saved["assigned"] == assigned  # on the shared volume for the others to read


def test_another_survivor_starts_its_share_from_the_incident(tmp_path, monkeypatch):
    _hv, _ = survivor("hyp2", tmp_path, monkeypatch, {"hyp2": dict(FREE, memory=1200)})
    opened = takeover.check()["incidents"]["hyp1"]
    share = sorted(n for n, h in opened["assigned"].items() if h == "hyp4")
    assert share
    _hv4, cluster4 = survivor("hyp4", tmp_path, monkeypatch)
    ret = takeover.check()["incidents"]["hyp1"]
    assert ret["by"] == "hyp2" and sorted(ret["started"]) == share
    assert [c[1][0] for c in cluster4.called("guests.start")] == share
    assert not cluster4.called("online.failover_move") and not cluster4.called("online.fence")


def test_past_the_grace_the_opener_starts_a_share_left_alone(tmp_path, monkeypatch):
    hv, cluster = survivor("hyp2", tmp_path, monkeypatch, {"hyp2": dict(FREE, memory=1200)})
    record = takeover.check()["incidents"]["hyp1"]
    others = sorted(n for n, h in record["assigned"].items() if h != "hyp2")
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=plan.ASSIGNEE_GRACE + 1)
    record["assigned_at"] = earlier.isoformat(timespec="seconds")
    hv_incidents.save(hv, record)
    record = takeover.check()["incidents"]["hyp1"]
    assert sorted(c[1][0] for c in cluster.called("guests.start")) == sorted(record["assigned"])
    assert set(others) <= set(record["guests"]) and record["done"]


def test_a_guest_no_survivor_has_room_for_is_reported_and_never_started(tmp_path, monkeypatch):
    full = dict(FREE, memory=1100)  # 76 MiB of room after the reserve: not one 128 MiB guest
    _hv, cluster = survivor(
        "hyp2", tmp_path, monkeypatch, {h: full for h in ("hyp2", "hyp3", "hyp4", "hyp5")}
    )
    record = takeover.check()["incidents"]["hyp1"]
    assert sorted(record["unplaced"]) == ["vm1", "vm2", "vm3"] and record["assigned"] == {}
    assert "needs 128 MiB" in record["unplaced"]["vm1"]
    assert cluster.called("guests.start") == []
    assert cluster.events().count("hv/takeover/guest/unplaced") == 3


def test_a_drained_opener_assigns_to_the_others_and_takes_none(tmp_path, monkeypatch):
    _hv, cluster = survivor("hyp2", tmp_path, monkeypatch)
    cluster.drained = True
    record = takeover.check()["incidents"]["hyp1"]
    assert record["assigned"] and "hyp2" not in record["assigned"].values() and not record.get("refused")
    assert cluster.called("guests.start") == []


def test_each_failover_ip_goes_to_the_host_its_guest_started_on():
    record = {"guests": {"vm1": {"outcome": "started", "host": "hyp3"}, "vm2": {"outcome": "elsewhere"}}}
    owners = {"203.0.113.101": "vm1", "203.0.113.102": "vm2"}
    cluster_ips = {"203.0.113.101": "hyp1", "203.0.113.102": "hyp1", "203.0.113.103": "hyp1"}
    routed = ["203.0.113.103", "203.0.113.101", "203.0.113.102", "192.0.2.9"]
    assert plan.ips_by_host(routed, cluster_ips, owners, record, "hyp2") == {
        "hyp3": ["203.0.113.101"],
        "hyp2": ["203.0.113.102", "203.0.113.103"],  # a guest not started, an IP of no guest
    }


def test_survivors_are_the_live_hosts_not_drained():
    peers = {
        "hyp1": {"state": "dead"},
        "hyp3": {"state": "live"},
        "hyp4": {"state": "fail"},
        "hyp5": {"state": "live"},
    }
    assert plan.survivors("hyp2", peers, {"hyp5": {"drained": True}}) == ["hyp2", "hyp3"]


def test_the_opener_alone_takes_a_share_left_alone_and_only_past_the_grace():
    record = {"by": "hyp2", "assigned": {"vm1": "hyp2", "vm2": "hyp3"}, "guests": {}}
    assert plan.mine(record, "hyp2", ["vm1", "vm2"], 5) == ["vm1"]
    assert plan.mine(record, "hyp2", ["vm1", "vm2"], plan.ASSIGNEE_GRACE) == ["vm1", "vm2"]
    assert plan.mine(record, "hyp3", ["vm1", "vm2"], 999) == ["vm2"]
    assert plan.mine(record, "hyp4", ["vm1", "vm2"], 999) == []


def test_two_dead_hosts_are_both_taken_over_and_nothing_goes_to_either(tmp_path, monkeypatch):
    """hyp4 (no brick) dies beside hyp1: the brick hosts hyp2 and hyp3 still make a majority."""
    _hv, cluster = survivor("hyp2", tmp_path, monkeypatch)
    cluster.connected["hyp4"] = False
    cluster.leases[cluster.lease("vm4")] = {"held": True, "owner_host_id": 4, "generation": 2}
    funcs = cluster.funcs()
    rows = funcs["sanlock.host_status"].side_effect()
    rows[4] = {"generation": 2, "timestamp": 500, "state": "dead", "silent": 80.0}
    funcs["sanlock.host_status"].side_effect = lambda **kw: rows
    takeover.__salt__ = funcs
    incidents = takeover.check()["incidents"]
    assert sorted(incidents) == ["hyp1", "hyp4"]
    assert sorted(incidents["hyp1"]["assigned"]) == ["vm1", "vm2", "vm3"]
    assert list(incidents["hyp4"]["assigned"]) == ["vm4"]
    targets = {*incidents["hyp1"]["assigned"].values(), *incidents["hyp4"]["assigned"].values()}
    assert targets <= {"hyp2", "hyp3", "hyp5"}, targets
