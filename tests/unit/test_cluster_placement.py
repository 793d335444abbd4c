"""The status view's placement (B8): each host's room from the capacity its keeper publishes,
and where a drain would send each of its guests, over three hosts; its table rows."""

from tests.loaders import load

cluster_placement = load("_utils", "cluster_placement")
cluster_view = load("_utils", "cluster_view")
LIMITS = {"reserve_memory": 1024, "memory_ratio": 100, "vcpu_ratio": 4}
GUESTS = {
    "vm1": {"memory": 512, "vcpus": 1, "anti_affinity": "pair"},
    "vm2": {"memory": 512, "vcpus": 1, "anti_affinity": "pair"},
    "big": {"memory": 6144, "vcpus": 2},
}


def record(memory, running=(), drained=False):
    used = sum(GUESTS[n]["memory"] for n in running)
    vcpus = sum(GUESTS[n]["vcpus"] for n in running)
    return {
        "drained": drained,
        "guests": {name: {"state": "running"} for name in running},
        "capacity": {"memory": memory, "cpus": 2, "used_memory": used, "used_vcpus": vcpus},
    }


def test_each_host_shows_its_room_and_where_a_drain_sends_its_guests():
    records = {
        "hyp1": record(8192, ["vm1", "vm2", "big"]),
        "hyp2": record(4096),
        "hyp3": record(4096),
    }
    view = cluster_placement.view(records, ["hyp1", "hyp2", "hyp3"], GUESTS, LIMITS)
    assert view["hyp1"]["room"] == {"memory": 8192 - 1024 - 7168, "vcpus": 8 - 4}
    assert view["hyp2"]["room"] == {"memory": 3072, "vcpus": 8}
    drain = view["hyp1"]["on_drain"]
    assert drain["targets"]["vm1"] != drain["targets"]["vm2"]  # the pair apart
    assert list(drain["unplaced"]) == ["big"] and "needs 6144 MiB" in drain["unplaced"]["big"]
    assert view["hyp2"]["on_drain"] == {"targets": {}, "unplaced": {}}


def test_a_drained_host_takes_nothing_and_an_unknown_capacity_shows_as_unknown():
    records = {"hyp1": record(8192, ["vm1"]), "hyp2": record(4096, drained=True), "hyp3": {"guests": {}}}
    view = cluster_placement.view(records, ["hyp1", "hyp2", "hyp3"], GUESTS, LIMITS)
    assert view["hyp1"]["on_drain"]["targets"] == {}
    assert "capacity unknown" in view["hyp1"]["on_drain"]["unplaced"]["vm1"]
    rows = cluster_placement.rows(view)
    assert rows[0] == ["hyp1", "6656 MiB", "7", "vm1: fits nowhere"]
    assert rows[2] == ["hyp3", "unknown", "unknown", "-"]


def test_the_table_has_a_placement_section_when_the_limits_are_known():
    shared = {"keeper": {"records": {"hyp1": record(8192, ["vm1"]), "hyp2": record(4096)}}}
    hosts = {"hyp1": {"arbiter": False}, "hyp2": {"arbiter": False}, "arb1": {"arbiter": True}}
    view = cluster_view.assemble({}, shared, hosts, GUESTS, placement=LIMITS)
    assert sorted(view["placement"]) == ["hyp1", "hyp2"]  # not the arbiter
    text = cluster_view.table(view)
    assert "Placement" in text and "vm1>hyp2" in text
    assert "placement" not in cluster_view.assemble({}, shared, hosts, GUESTS)
