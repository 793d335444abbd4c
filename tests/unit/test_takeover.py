"""The takeover module's decisions (B1, B6): who may act (quorum), which guests
a dead host ran (its disk leases), the incident that only one host can open
(an exclusive file on the shared volume: a temporary directory here), the
order guests, IPs, fence, and at most one fence per incident.

gluster, sanlock, libvirt and the provider API are what the lab tests drive
for real; here the other modules' answers are recorded fakes behind the real
functions' signatures, and the settings are the lab pillar's real view."""

import json
import os
from unittest.mock import create_autospec

import pytest
import salt.modules.event

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

takeover = load("_modules", "takeover")
hv_runtime = load("_utils", "hv_runtime")
hv_incidents = load("_utils", "hv_incidents")
gluster = load("_modules", "gluster")
sanlock = load("_modules", "sanlock")
guests = load("_modules", "guests")
online = load("_modules", "online")
hypervisor_pillar = load("_modules", "hypervisor_pillar")


def view(host, tmp_path, pillar=None):
    """``host``'s settings from the lab pillar (the real views), its shared directories
    (incidents, the keeper's records) in a temporary directory."""
    hv = hv_views.build(pillar or lab_pillar(), layered_parameters("Debian"), host)
    hv["takeover"]["incidents_dir"] = str(tmp_path / "inc")
    hv["keeper"]["hosts_dir"] = str(tmp_path / "keeper/hosts")
    hv["keeper"]["stopped_dir"] = str(tmp_path / "keeper/stopped")
    hv["evacuation"]["state_dir"] = str(tmp_path / "state" / host)
    return hv


@pytest.fixture
def hv(tmp_path):
    """hyp2, the survivor: hyp1 is the host that dies."""
    return view("hyp2", tmp_path)


class Cluster:
    """What the other modules answer: a dead hyp1 (generation 3) that ran vm1 and vm2."""

    def __init__(self, hv):
        self.hv = hv
        self.calls = []
        self.connected = {"hyp1": False, "arb1": True}
        self.peer_state = "dead"
        self.drained = False
        self.refuse = set()
        self.fences = []  # online.fence's answers, in turn (empty: it fences)
        self.capacity = {}  # host: what its libvirt reports (default FREE)
        owned = {"vm1": (1, 3), "vm2": (1, 3), "vm3": (2, 1)}
        self.leases = {
            self.lease(n): {"held": True, "owner_host_id": h, "generation": g} for n, (h, g) in owned.items()
        }

    def lease(self, name):
        """The sanlock resource of guest ``name``'s disk."""
        return takeover.lease_name(self.hv["guests"][name]["disk_path"])

    def funcs(self):
        """The fakes, each behind the real function's signature (a call the real one
        would refuse fails here too)."""

        def fake(real, ret, name=None):
            def call(*args, **kwargs):
                if name:
                    self.calls.append((name, args, kwargs))
                return ret(*args, **kwargs) if callable(ret) else ret

            return create_autospec(real, side_effect=call)

        def routed(host=None):
            return {"failover_ips": ["203.0.113.101", "198.51.100.250"]}

        return {
            "hypervisor_pillar.settings": fake(hypervisor_pillar.settings, lambda: self.hv),
            "gluster.peer_status": fake(
                gluster.peer_status,
                lambda remote_host=None: [{"hostname": h, "connected": c} for h, c in self.connected.items()],
            ),
            "sanlock.status": fake(sanlock.status, {"can_take_guests": True, "reason": "joined"}),
            "sanlock.host_status": fake(
                sanlock.host_status,
                lambda **kw: {
                    1: {"generation": 3, "timestamp": 500, "state": self.peer_state, "silent": 80.0}
                },
            ),
            "sanlock.leases": fake(sanlock.leases, lambda: self.leases),
            "guests.drained": fake(guests.drained, lambda **kw: {"drained": self.drained}),
            "guests.hold_if_taken_over": fake(
                guests.hold_if_taken_over, {"drained": True}, "guests.hold_if_taken_over"
            ),
            "guests.start": fake(guests.start, self._start, "guests.start"),
            "online.server_info": fake(online.server_info, routed),
            "online.failover_move": fake(online.failover_move, {"result": True}, "online.failover_move"),
            "online.fence": fake(online.fence, self._fence, "online.fence"),
            "event.send": fake(salt.modules.event.send, True, "event.send"),
        }

    def _start(self, name, settings_cache=None, keeper=False):
        if name in self.refuse:
            return {"outcome": "elsewhere", "why": "sanlock holds its lease there"}
        self.leases[self.lease(name)].update(owner_host_id=2, generation=1)
        return {"outcome": "started", "host": "hyp2"}

    def _fence(self, host, reason=None, image=None):
        answer = self.fences.pop(0) if self.fences else {"result": True, "may_have_rebooted": True}
        return answer() if callable(answer) else dict(answer, server_id=1001, image="debian-12")

    def called(self, name):
        return [c for c in self.calls if c[0] == name]

    def events(self):
        return [c[1][0] for c in self.called("event.send")]


@pytest.fixture
def cluster(hv, monkeypatch):
    """The cluster's answers; each survivor's libvirt reports 8 GiB, 2 CPUs, nothing running
    (``capacity``: a host's own, or None for one that does not answer)."""
    cluster = Cluster(hv)
    domains = takeover.hv_domains
    monkeypatch.setattr(domains, "capacity", lambda hv, host, me: cluster.capacity.get(host, FREE))
    monkeypatch.setattr(domains, "reachable", lambda hv, host: None)
    return cluster


FREE = {"memory": 8192, "cpus": 2, "used_memory": 0, "used_vcpus": 0, "running": []}


@pytest.fixture
def configure_loader_modules(cluster):
    return {takeover: {"__salt__": cluster.funcs(), "__pillar__": {"hypervisor": {}, "online": {}}}}


def test_a_dead_peer_is_taken_over_once(cluster, hv):
    ret = takeover.check()
    record = ret["incidents"]["hyp1"]
    assert [c[1][0] for c in cluster.called("guests.start")] == ["vm1", "vm2"]  # not vm3: hyp2's own
    assert {n: g["outcome"] for n, g in record["guests"].items()} == {"vm1": "started", "vm2": "started"}
    moves = cluster.called("online.failover_move")
    assert [(c[1][0], c[1][1]) for c in moves] == [("203.0.113.101", "hyp2")]  # not an IP outside the cluster
    assert [c[1][0] for c in cluster.called("online.fence")] == ["hyp1"]
    assert record["done"] and record["by"] == "hyp2" and record["generation"] == 3
    assert cluster.events() == [
        "hv/takeover/dead",
        "hv/takeover/assigned",
        "hv/takeover/guest/started",
        "hv/takeover/guest/started",
        "hv/takeover/failover/moved",
        "hv/takeover/fenced",
        "hv/takeover/done",
    ]
    path = os.path.join(hv["takeover"]["incidents_dir"], "hyp1-g3.json")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    takeover.check()  # the next look: nothing more
    assert len(cluster.called("online.fence")) == 1 and len(cluster.called("online.failover_move")) == 1
    assert len(cluster.called("guests.start")) == 2


def test_no_quorum_no_takeover_no_fence(cluster):
    cluster.connected = {"hyp1": False, "arb1": False}
    ret = takeover.check()
    assert ret["quorum"]["quorum"] is False and "1 of the 3" in ret["quorum"]["reason"]
    assert ret["incidents"] == {} and cluster.calls == []


@pytest.mark.parametrize("state", ["live", "fail", "free", "unknown"])
def test_only_a_dead_peer_is_taken_over(cluster, state):
    cluster.peer_state = state
    assert takeover.check()["incidents"] == {}
    assert not cluster.called("guests.start") and not cluster.called("online.fence")


def test_an_incident_another_host_opened_is_left_to_it(cluster, hv):
    directory = hv["takeover"]["incidents_dir"]
    os.makedirs(directory)
    with open(os.path.join(directory, "hyp1-g3.json"), "w", encoding="utf-8") as handle:
        json.dump(
            {"host": "hyp1", "generation": 3, "by": "hyp3", "detected": "2026-11-27T00:00:00+00:00"}, handle
        )
    # No share of it is this host's (hyp3 wrote no assignment yet): nothing started here.
    assert takeover.check()["incidents"]["hyp1"] == {"host": "hyp1", "by": "hyp3", "started": {}}
    assert cluster.calls == []


def test_a_refused_start_waits_and_holds_back_ips_and_fence(cluster):
    cluster.refuse = {"vm2"}
    record = takeover.check()["incidents"]["hyp1"]
    assert record["guests"]["vm2"]["outcome"] == "elsewhere" and not record.get("done")
    assert not cluster.called("online.fence") and not cluster.called("online.failover_move")
    cluster.refuse = set()
    record = takeover.check()["incidents"]["hyp1"]
    assert record["guests"]["vm2"]["outcome"] == "started" and record["done"]
    assert len(cluster.called("online.fence")) == 1


def test_the_guests_the_dead_hosts_keeper_kept_are_taken_over_too(cluster, hv, tmp_path):
    """B1, one rule: besides the guests whose lease the dead host held, those its keeper
    kept (vm3: down there by a fault, its lease released; vm4: left down after a crash
    loop, not taken; vm5: a person keeps it down) are started here; a kept guest whose
    lease another live host holds (vm6) is that host's."""
    pillar = lab_pillar()
    for name in ("vm5", "vm6"):  # two more of hyp1's guests, like vm4 but without its failover IP
        pillar["hypervisor"]["guests"][name] = dict(pillar["hypervisor"]["guests"]["vm4"], failover_ips=[])
    cluster.hv = hv = view("hyp2", tmp_path, pillar)
    assert hv["guests"]["vm4"]["home"] == "hyp1" and "vm6" in hv["guests"]
    cluster.leases[cluster.lease("vm3")] = {"held": False, "owner_host_id": 1, "generation": 3}
    cluster.leases[cluster.lease("vm6")] = {"held": True, "owner_host_id": 2, "generation": 1}
    entry = {"since": "2026-11-27T00:00:00+00:00", "why": "qemu died (killed, or crashed)", "restarts": []}
    kept = {"vm3": "down", "vm4": "gave_up", "vm5": "down", "vm6": "running"}
    hv_runtime.write_json(
        os.path.join(hv["keeper"]["hosts_dir"], "hyp1.json"),
        {"host": "hyp1", "guests": {name: dict(entry, state=state) for name, state in kept.items()}},
    )
    hv_runtime.write_json(
        os.path.join(hv["keeper"]["stopped_dir"], "vm5.json"), {"guest": "vm5", "verb": "stop"}
    )
    record = takeover.check()["incidents"]["hyp1"]
    assert [c[1][0] for c in cluster.called("guests.start")] == ["vm1", "vm2", "vm3"]
    assert all(c[2]["keeper"] is True for c in cluster.called("guests.start"))  # no person's start
    assert set(record["guests"]) == {"vm1", "vm2", "vm3"}


def test_a_drained_survivor_takes_nothing(cluster):
    cluster.drained = True
    record = takeover.check()["incidents"]["hyp1"]
    assert "drained" in record["refused"] and not cluster.called("guests.start")


def test_a_host_with_an_open_incident_against_it_holds(cluster, tmp_path):
    cluster.hv = hv = view("hyp1", tmp_path)  # hyp1 came back
    directory = hv["takeover"]["incidents_dir"]
    os.makedirs(directory)
    with open(os.path.join(directory, "hyp1-g3.json"), "w", encoding="utf-8") as handle:
        json.dump(
            {"host": "hyp1", "generation": 3, "by": "hyp2", "detected": "2026-11-27T00:00:00+00:00"}, handle
        )
    cluster.peer_state = "live"
    takeover.check()
    assert cluster.called("guests.hold_if_taken_over")  # guests decides, under the marks' lock
    assert takeover.close() == ["hyp1-g3"]
    assert takeover.open_against() == []


def test_disabled_does_nothing(cluster, hv):
    hv["takeover"]["enabled"] = False
    assert takeover.check() == {"enabled": False} and cluster.calls == []


def test_with_every_peer_renewing_quorum_is_not_asked(cluster):
    """The look every 2 s stays cheap: gluster is asked only when a peer stops renewing."""
    cluster.peer_state = "live"
    asked = []
    takeover.__salt__["gluster.peer_status"] = create_autospec(
        gluster.peer_status, side_effect=lambda remote_host=None: asked.append(1) or []
    )
    ret = takeover.check()
    assert ret["quorum"] is None and asked == [] and ret["peers"]["hyp1"]["state"] == "live"


NOTHING_SENT = {
    "result": False,
    "may_have_rebooted": False,
    "comment": "HTTP 503 on the rescue call: not fenced",
}


def test_a_fence_that_reached_no_reboot_is_tried_again_until_it_does(cluster):
    """A 503 on the rescue call (nothing sent): the next pass fences again; once it took, never again."""
    cluster.fences = [NOTHING_SENT, NOTHING_SENT]
    record = takeover.check()["incidents"]["hyp1"]
    assert record["fence"]["result"] is False and "done" not in record
    record = takeover.check()["incidents"]["hyp1"]
    assert (record["fence"]["attempts"], "done" in record) == (2, False)
    record = takeover.check()["incidents"]["hyp1"]
    assert (record["fence"]["result"], record["fence"]["attempts"]) == (True, 3) and record["done"]
    takeover.check()
    assert len(cluster.called("online.fence")) == 3
    assert (
        cluster.events().count("hv/takeover/fence/failed") == 2
        and cluster.events().count("hv/takeover/fenced") == 1
    )


def test_a_fence_whose_reboot_may_have_been_taken_is_never_sent_again(cluster):
    cluster.fences = [{"result": False, "may_have_rebooted": True, "comment": "timeout on the reboot"}]
    record = takeover.check()["incidents"]["hyp1"]
    assert record["fence"]["result"] is False and record["done"]
    takeover.check()
    takeover.check()
    assert len(cluster.called("online.fence")) == 1


def test_fence_tries_are_bounded(cluster):
    cluster.fences = [NOTHING_SENT] * (takeover.FENCE_ATTEMPTS + 5)
    for _ in range(takeover.FENCE_ATTEMPTS + 3):
        record = takeover.check()["incidents"]["hyp1"]
    assert len(cluster.called("online.fence")) == takeover.FENCE_ATTEMPTS and record["done"]


def test_two_passes_at_once_fence_once(cluster):
    """The unit's pass and an operator's takeover.check at the same moment: the second
    finds the first running, says so and does nothing; exactly one fence."""
    import threading

    inside, release = threading.Event(), threading.Event()

    def slow_fence():
        inside.set()
        release.wait(10)
        return {"result": True, "may_have_rebooted": True}

    cluster.fences = [slow_fence]
    first = {}
    thread = threading.Thread(target=lambda: first.update(takeover.check()))
    thread.start()
    assert inside.wait(10)
    second = takeover.check()
    release.set()
    thread.join(10)
    assert "another takeover pass is running" in second["busy"] and second["incidents"] == {}
    assert first["incidents"]["hyp1"]["done"] and len(cluster.called("online.fence")) == 1
    takeover.check()
    assert len(cluster.called("online.fence")) == 1 and len(cluster.called("guests.start")) == 2


def test_a_close_is_never_undone_by_the_owners_save(cluster, hv, tmp_path):
    """hyp1 closes its incident (undrain) while hyp2's pass holds the record it read
    before: hyp2's save comes after, and the incident stays closed."""
    cluster.fences = [NOTHING_SENT]
    record = takeover.check()["incidents"]["hyp1"]
    back = view("hyp1", tmp_path)
    assert hv_incidents.close(back, "hyp1", lambda *a: True, takeover.log) == ["hyp1-g3"]
    hv_incidents.save(hv, record)  # the owner's write of what it read before the close
    assert hv_incidents.open_against(back, "hyp1") == []
    assert hv_incidents.every(hv)[0]["closed"]
    again = takeover.check()["incidents"]["hyp1"]
    assert again["closed"] and len(cluster.called("online.fence")) == 1  # closed: nothing more


@pytest.mark.parametrize(
    ("me", "connected", "quorum"),
    [
        ("hyp4", {"hyp1": True, "hyp2": True, "hyp3": False}, True),  # no brick here: two of three seen
        ("hyp4", {"hyp1": True, "hyp2": False, "hyp3": False, "hyp5": True}, False),  # hyp5 holds none
        ("hyp3", {"hyp1.lab.example": True, "hyp2": False, "hyp4": True}, True),  # itself and hyp1
        ("hyp3", {"hyp1": False, "hyp2": False, "hyp4": True, "hyp5": True}, False),  # the cut-off brick host
    ],
)
def test_the_majority_among_five_hosts_is_the_brick_hosts(tmp_path, me, connected, quorum):
    """B8: past three hosts, the majority is two of the three brick hosts (their client quorum),
    whoever else this host sees."""
    from tests.pillar_cases import many_hosts_pillar

    hv = view(me, tmp_path, many_hosts_pillar(5, False))
    cluster = Cluster(hv)
    cluster.connected = connected
    takeover.__salt__ = cluster.funcs()
    got = takeover._quorum(hv)
    assert (got["quorum"], got["of"]) == (quorum, 3), got
