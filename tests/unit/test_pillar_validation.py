"""F1: the validator on its own — every malformed case refused, naming its key."""

import pytest

from tests import pillar_cases
from tests.loaders import hypervisor_pillar, layered_parameters


@pytest.fixture(scope="module")
def params():
    return layered_parameters("Debian")


def test_lab_pillar_is_valid_for_both_hosts(params):
    for host in ("hyp1", "hyp2"):
        assert hypervisor_pillar.validate(pillar_cases.lab_pillar(), params, host) == []


def test_enough_malformed_cases():
    assert len(pillar_cases.CASES) >= 20


@pytest.mark.parametrize(
    ("case", "mutation", "key"), pillar_cases.CASES, ids=[c[0] for c in pillar_cases.CASES]
)
def test_malformed_pillar_names_the_key(params, case, mutation, key):
    errors = hypervisor_pillar.validate(pillar_cases.case_pillar(mutation), params, "hyp1")
    assert errors, f"{case} was accepted"
    assert any(f"pillar key '{key}'" in e for e in errors), errors


def test_build_refuses_with_every_problem(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["host_id"] = 0
    pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["mtu"] = 1
    with pytest.raises(Exception, match="nothing was changed") as err:
        hypervisor_pillar.build(pillar, params, "hyp1")
    assert "hypervisor:hosts:hyp1:host_id" in str(err.value)
    assert "hypervisor:hosts:hyp1:rpn:mtu" in str(err.value)


def test_minion_not_in_cluster(params):
    errors = hypervisor_pillar.validate(pillar_cases.lab_pillar(), params, "hyp7")
    assert errors == ["pillar key 'hypervisor:hosts': has no entry for this minion 'hyp7'"]


def test_misspelled_key_gets_a_suggestion(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["adress"] = pillar["hypervisor"]["hosts"]["hyp1"]["rpn"].pop(
        "address"
    )
    errors = hypervisor_pillar.validate(pillar, params, "hyp1")
    assert "pillar key 'hypervisor:hosts:hyp1:rpn:adress': unknown key (did you mean 'address'?)" in errors


def test_build_derives_this_host_and_its_peer(params):
    cfg = hypervisor_pillar.build(pillar_cases.lab_pillar(), params, "hyp2")
    assert cfg["me"]["name"] == "hyp2"
    assert cfg["peer"]["name"] == "hyp1"
    assert cfg["peer"]["rpn"]["ip"] == "198.51.100.11"
    assert cfg["me"]["fqdn"] == "hyp2.lab.example"
    # Pillar overrides the defaults; untouched defaults stay.
    assert cfg["libvirt"]["host_uuid_source"] == "machine-id"
    assert cfg["libvirt"]["group"] == "libvirt"
    assert cfg["sysctl"]["settings"]["vm.swappiness"] == 0


def test_default_bridges_when_pillar_names_none(params):
    pillar = pillar_cases.lab_pillar()
    del pillar["hypervisor"]["bridges"]
    cfg = hypervisor_pillar.build(pillar, params, "hyp1")
    assert {b["name"] for b in cfg["bridges"].values()} == {"brwan", "brlan"}


def test_sysctl_override_merges_into_defaults(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["sysctl"] = {"settings": {"vm.swappiness": 1, "net.core.somaxconn": 4096}}
    cfg = hypervisor_pillar.build(pillar, params, "hyp1")
    assert cfg["sysctl"]["settings"]["vm.swappiness"] == 1
    assert cfg["sysctl"]["settings"]["net.core.somaxconn"] == 4096
    assert cfg["sysctl"]["settings"]["vm.vfs_cache_pressure"] == 10000


def _with_arbiter():
    pillar = pillar_cases.lab_pillar()
    hosts = pillar["hypervisor"]["hosts"]
    hosts["arb1"] = {
        "host_id": 3,
        "peer": "hyp1",
        "public": {"interface": "eth0", "address": "203.0.113.13"},
        "rpn": {"interface": "eth1", "mac": "02:00:c6:33:64:0d", "address": "198.51.100.13/24"},
    }
    pillar["hypervisor"]["gluster"] = {"arbiter": "arb1"}
    return pillar


def test_arbiter_makes_replica_3_arbiter_1(params):
    cfg = hypervisor_pillar.build(_with_arbiter(), params, "hyp1")
    vmstore = cfg["gluster"]["volumes"]["vmstore"]
    assert (vmstore["replica"], vmstore["arbiter"]) == (3, 1)
    assert vmstore["bricks"] == [
        "hyp1:/mnt/bricks/vmstore/brick",
        "hyp2:/mnt/bricks/vmstore/brick",
        "arb1:/mnt/bricks/vmstore/brick",
    ]
    assert cfg["gluster"]["data_hosts"] == ["hyp1", "hyp2"]
    assert cfg["gluster"]["leader"] == "hyp1"


def test_two_hosts_make_replica_2(params):
    vmstore = hypervisor_pillar.build(pillar_cases.lab_pillar(), params, "hyp2")["gluster"]["volumes"][
        "vmstore"
    ]
    assert (vmstore["replica"], vmstore["arbiter"]) == (2, 0)
    assert vmstore["options"]["network.ping-timeout"] == "5"
