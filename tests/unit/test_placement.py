"""Placement by capacity, pure: a host's room from its published capacity and the
``placement`` settings, and where guests go (largest first, onto the roomiest host,
apart from their anti_affinity group while another host has room)."""

import random

import pytest

from tests.loaders import load

hv_placement = load("_utils", "hv_placement")

CAPACITY = {"memory": 9216, "cpus": 4, "used_memory": 2048, "used_vcpus": 3}


def guest(memory, vcpus=1, anti_affinity=None):
    return {"memory": memory, "vcpus": vcpus, "anti_affinity": anti_affinity}


def test_room_with_the_defaults():
    # (9216 - 1024) * 100% - 2048 = 6144 MiB; 4 CPUs * 4 - 3 = 13 vCPUs
    assert hv_placement.room(CAPACITY, hv_placement.DEFAULTS) == {"memory": 6144, "vcpus": 13}
    assert hv_placement.room(CAPACITY, {}) == {"memory": 6144, "vcpus": 13}


def test_room_with_other_ratios():
    settings = {"reserve_memory": 2048, "memory_ratio": 75, "vcpu_ratio": 2}
    # int((9216 - 2048) * 75 / 100) - 2048 = 5376 - 2048; 4 * 2 - 3
    assert hv_placement.room(CAPACITY, settings) == {"memory": 3328, "vcpus": 5}


def test_room_goes_negative_when_overcommitted_and_reserve_exceeds_memory():
    small = {"memory": 512, "cpus": 1, "used_memory": 100, "used_vcpus": 6}
    assert hv_placement.room(small, hv_placement.DEFAULTS) == {"memory": -100, "vcpus": -2}


@pytest.mark.parametrize(
    "capacity",
    [
        None,
        "8192",
        {**CAPACITY, "memory": True},
        {**CAPACITY, "used_vcpus": False},
        {**CAPACITY, "cpus": -1},
        {**CAPACITY, "used_memory": "2048"},
        {**CAPACITY, "memory": 9216.0},
        {key: value for key, value in CAPACITY.items() if key != "cpus"},
        {},
    ],
)
def test_malformed_capacity_has_no_room(capacity):
    assert hv_placement.room(capacity, hv_placement.DEFAULTS) is None


def test_fits_needs_both_memory_and_vcpus():
    free = {"memory": 2048, "vcpus": 2}
    assert hv_placement.fits(guest(2048, 2), free)
    assert not hv_placement.fits(guest(2049, 1), free)
    assert not hv_placement.fits(guest(1024, 3), free)


def test_equal_guests_spread_evenly_over_equal_hosts():
    guests = {f"vm{i}": guest(1024) for i in range(4)}
    rooms = {"hyp1": {"memory": 8192, "vcpus": 16}, "hyp2": {"memory": 8192, "vcpus": 16}}
    result = hv_placement.plan(guests, rooms)
    assert result["unplaced"] == {}
    assert result["targets"] == {"vm0": "hyp1", "vm1": "hyp2", "vm2": "hyp1", "vm3": "hyp2"}


def test_largest_guest_goes_first_onto_the_roomiest_host():
    guests = {"small": guest(1024), "big": guest(6144)}
    rooms = {"hyp1": {"memory": 4096, "vcpus": 8}, "hyp2": {"memory": 7168, "vcpus": 8}}
    # Smallest first would put "small" on hyp2 and leave "big" nowhere.
    result = hv_placement.plan(guests, rooms)
    assert result == {"targets": {"big": "hyp2", "small": "hyp1"}, "unplaced": {}}


def test_anti_affinity_pair_ends_on_different_hosts():
    guests = {"db1": guest(1024, anti_affinity="db"), "db2": guest(1024, anti_affinity="db")}
    # hyp1 stays roomier after db1, yet db2 goes to hyp2, away from db1.
    rooms = {"hyp1": {"memory": 16384, "vcpus": 16}, "hyp2": {"memory": 4096, "vcpus": 16}}
    targets = hv_placement.plan(guests, rooms)["targets"]
    assert targets == {"db1": "hyp1", "db2": "hyp2"}


def test_anti_affinity_counts_the_groups_already_running():
    guests = {"db2": guest(1024, anti_affinity="db")}
    rooms = {"hyp1": {"memory": 16384, "vcpus": 16}, "hyp2": {"memory": 4096, "vcpus": 16}}
    result = hv_placement.plan(guests, rooms, groups={"hyp1": {"db", "web"}})
    assert result["targets"] == {"db2": "hyp2"}


def test_anti_affinity_pair_shares_a_host_when_only_one_has_room():
    guests = {"db1": guest(2048, anti_affinity="db"), "db2": guest(2048, anti_affinity="db")}
    rooms = {"hyp1": {"memory": 8192, "vcpus": 16}, "hyp2": {"memory": 1024, "vcpus": 16}}
    result = hv_placement.plan(guests, rooms)
    assert result == {"targets": {"db1": "hyp1", "db2": "hyp1"}, "unplaced": {}}


def test_guest_too_large_for_any_host_is_unplaced_with_its_needs():
    guests = {"huge": guest(3072), "ok": guest(512)}
    rooms = {"hyp1": {"memory": 600, "vcpus": 8}, "hyp2": {"memory": 1412, "vcpus": 7}}
    result = hv_placement.plan(guests, rooms)
    assert result["targets"] == {"ok": "hyp2"}
    assert result["unplaced"] == {
        "huge": "needs 3072 MiB and 1 vCPU; the roomiest host (hyp2) has 1412 MiB and 7 vCPUs free"
    }


def test_unknown_room_hosts_are_skipped_and_named():
    guests = {"vm1": guest(1024), "vm2": guest(4096)}
    rooms = {"hyp1": None, "hyp2": {"memory": 2048, "vcpus": 4}}
    result = hv_placement.plan(guests, rooms)
    assert result["targets"] == {"vm1": "hyp2"}
    assert "hyp1: capacity unknown" in result["unplaced"]["vm2"]
    assert "4096 MiB" in result["unplaced"]["vm2"]


def test_only_unknown_rooms_place_nothing():
    result = hv_placement.plan({"vm1": guest(512)}, {"hyp3": None, "hyp2": None})
    assert result == {
        "targets": {},
        "unplaced": {"vm1": "no host with known capacity can take it (hyp2, hyp3: capacity unknown)"},
    }


def test_empty_rooms_leave_every_guest_unplaced():
    guests = {"vm1": guest(512), "vm2": guest(1024)}
    result = hv_placement.plan(guests, {})
    assert result["targets"] == {}
    assert result["unplaced"] == dict.fromkeys(guests, "no other host can take guests")


def test_vcpu_limit_alone_can_refuse():
    guests = {"wide": guest(1024, vcpus=8)}
    result = hv_placement.plan(guests, {"hyp1": {"memory": 65536, "vcpus": 4}})
    assert result["targets"] == {}
    assert "8 vCPUs" in result["unplaced"]["wide"]
    assert "(hyp1) has 65536 MiB and 4 vCPUs free" in result["unplaced"]["wide"]


def test_plan_does_not_change_its_inputs():
    rooms = {"hyp1": {"memory": 4096, "vcpus": 8}}
    groups = {"hyp1": {"web"}}
    hv_placement.plan({"vm1": guest(1024, anti_affinity="db")}, rooms, groups)
    assert rooms == {"hyp1": {"memory": 4096, "vcpus": 8}}
    assert groups == {"hyp1": {"web"}}


def shuffled(mapping, rng):
    keys = list(mapping)
    rng.shuffle(keys)
    return {key: mapping[key] for key in keys}


def test_plan_is_the_same_whatever_the_dict_order():
    guests = {
        "a": guest(2048, 2, "db"),
        "b": guest(2048, 2, "db"),
        "c": guest(2048, 2),
        "d": guest(1024, 4, "web"),
        "e": guest(1024, 4, "web"),
        "f": guest(1024, 1),
        "g": guest(9999, 1),
    }
    rooms = {
        "hyp1": {"memory": 4096, "vcpus": 8},
        "hyp2": {"memory": 4096, "vcpus": 8},
        "hyp3": {"memory": 3072, "vcpus": 4},
        "hyp4": None,
    }
    groups = {"hyp3": {"db"}}
    expected = hv_placement.plan(guests, rooms, groups)
    assert expected["targets"] and expected["unplaced"]
    rng = random.Random(7)
    for _ in range(20):
        got = hv_placement.plan(shuffled(guests, rng), shuffled(rooms, rng), groups)
        assert got == expected
        assert list(got["targets"]) == list(expected["targets"])
