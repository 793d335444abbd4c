"""B8: which hosts hold bricks and make the majority (hv_layout), the layouts of 2 to 8 hosts
that carry guests the validator accepts, and those it refuses, each for its one reason."""

import pytest

from tests import pillar_cases as pc
from tests.loaders import hv_layout, hv_validate, hv_views, layered_parameters


@pytest.fixture
def params():
    return layered_parameters("Debian")


LAYOUTS = [(count, arbiter) for count in range(2, 9) for arbiter in (False, True)]


def _hosts(count, arbiter):
    hosts = {f"hyp{n}": {"host_id": n} for n in range(1, count + 1)}
    return hosts | ({"arb1": {"role": "arbiter"}} if arbiter else {})


@pytest.mark.parametrize(("count", "arbiter"), LAYOUTS)
def test_the_bricks_and_the_majority_of_each_layout(count, arbiter):
    hosts = _hosts(count, arbiter)
    places = 2 if arbiter or count == 2 else 3
    named = [f"hyp{n}" for n in range(1, places + 1)] if count > places else None
    bricks = hv_layout.brick_hosts(hosts, named)
    assert bricks == [f"hyp{n}" for n in range(1, places + 1)] + (["arb1"] if arbiter else [])
    assert hv_layout.has_majority(hosts) is (len(bricks) == 3)
    assert hv_layout.members(hosts) == sorted(f"hyp{n}" for n in range(1, count + 1))
    # Without the names, a layout with more hosts than places has no brick hosts to guess.
    assert (hv_layout.guest_brick_hosts(hosts) is None) is (count > places)


@pytest.mark.parametrize(("count", "arbiter"), LAYOUTS)
def test_every_layout_of_two_to_eight_hosts_is_accepted(params, count, arbiter):
    pillar = pc.many_hosts_pillar(count, arbiter)
    assert hv_validate.validate(pillar, params, "hyp1") == []


@pytest.mark.parametrize(("case", "mutation", "key"), pc.LAYOUT_CASES, ids=[c[0] for c in pc.LAYOUT_CASES])
def test_a_layout_without_a_majority_or_its_brick_hosts_is_refused_for_that_reason(
    params, case, mutation, key
):
    errors = hv_validate.validate(pc.case_pillar(mutation), params, "hyp1")
    assert errors, f"{case} was accepted"
    assert all(e.startswith(f"pillar key '{key}") for e in errors if ":peer'" not in e), errors


def test_the_brick_hosts_refusal_says_what_to_write(params):
    errors = hv_validate.validate(pc.case_pillar(pc.LAYOUT_CASES[2][1]), params, "hyp1")
    assert errors == [
        "pillar key 'hypervisor:gluster:brick_hosts': is required: 4 hosts carry guests and 3 of them hold"
        " the bricks; name them (e.g. hyp1, hyp2, hyp3), so that adding a host never moves a brick"
    ]


def test_takeover_asked_of_two_hosts_names_both_ways_to_a_majority(params):
    pillar = pc.case_pillar(pc._both(pc._no_arbiter, pc._put((*pc.TAKEOVER, "enabled"), True)))
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert any("add a host with role arbiter, or a third host with guests" in e for e in errors), errors


def test_three_hosts_take_over_without_being_asked(params):
    cfg = hv_views.build(pc.many_hosts_pillar(3, False), params, "hyp3")
    assert cfg["takeover"]["enabled"] is True
    assert cfg["gluster"]["brick_hosts"] == ["hyp1", "hyp2", "hyp3"]
    assert cfg["peer"] is None  # hyp3 has no peer: placement chooses where its guests go
