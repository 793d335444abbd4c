"""Where an evacuation sends each guest when no host is named (B8): placement over the other
hosts that answer and are not drained, from the room their libvirt reports. libvirt is what
the lab drives for real; here each host's answer (capacity, running guests, SSH port) is a
recorded fake behind hv_domains' names, and the settings are the real view of a 4-host pillar."""

import json
import os

import pytest

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import many_hosts_pillar

evacuation = load("_utils", "hv_evacuation")
GIB = 1024


@pytest.fixture
def hv(tmp_path):
    pillar = many_hosts_pillar(4, False)
    pillar["hypervisor"]["guests"]["vm1"]["anti_affinity"] = "pair"
    pillar["hypervisor"]["guests"]["vm2"]["anti_affinity"] = "pair"
    hv = hv_views.build(pillar, layered_parameters("Debian"), "hyp1")
    hv["keeper"]["hosts_dir"] = str(tmp_path / "hosts")
    return hv


class Hosts:
    """What each host's libvirt says: hyp1 (this host) runs ``here``; the others' capacity."""

    def __init__(self, monkeypatch, here, others, silent=()):
        self.others = others
        monkeypatch.setattr(evacuation.hv_domains, "connection", self._connection)
        monkeypatch.setattr(evacuation.hv_domains, "sizes", lambda conn: here)
        monkeypatch.setattr(evacuation.hv_domains, "capacity", lambda hv, host, me: self.others.get(host))
        monkeypatch.setattr(
            evacuation.hv_domains,
            "reachable",
            lambda hv, host: f"{host} is silent" if host in silent else None,
        )

    class _connection:
        def __enter__(self):
            return None

        def __exit__(self, *exc):
            return False

        def __init__(self, *args):
            pass


def host(memory_gib, running=(), used=0):
    return {"memory": memory_gib * GIB, "cpus": 2, "used_memory": used, "used_vcpus": len(running),
            "running": list(running)}  # fmt: skip


def test_guests_spread_over_the_roomiest_hosts_and_a_pair_is_kept_apart(hv, monkeypatch):
    here = {
        "vm1": {"memory": 512, "vcpus": 1},
        "vm2": {"memory": 512, "vcpus": 1},
        "vm3": {"memory": 256, "vcpus": 1},
    }
    Hosts(monkeypatch, here, {"hyp2": host(4), "hyp3": host(4), "hyp4": host(3)})
    targets, unplaced = evacuation.plan(hv, sorted(here), None)
    assert unplaced == {}
    assert targets["vm1"] != targets["vm2"]
    assert len(set(targets.values())) >= 2


def test_a_drained_host_an_unanswering_host_and_a_full_host_take_nothing(hv, monkeypatch, tmp_path):
    os.makedirs(hv["keeper"]["hosts_dir"])
    with open(os.path.join(hv["keeper"]["hosts_dir"], "hyp2.json"), "w", encoding="utf-8") as handle:
        json.dump({"host": "hyp2", "drained": True}, handle)
    here = {"vm1": {"memory": 512, "vcpus": 1}, "big": {"memory": 8 * GIB, "vcpus": 1}}
    Hosts(monkeypatch, here, {"hyp2": host(64), "hyp3": host(64), "hyp4": host(4)}, silent={"hyp3"})
    targets, unplaced = evacuation.plan(hv, sorted(here), None)
    assert targets == {"vm1": "hyp4"}
    assert list(unplaced) == ["big"] and "needs 8192 MiB" in unplaced["big"], unplaced


def test_a_named_host_takes_every_guest(hv, monkeypatch):
    Hosts(monkeypatch, {}, {})
    assert evacuation.plan(hv, ["vm1", "vm2"], "hyp3") == ({"vm1": "hyp3", "vm2": "hyp3"}, {})
    assert evacuation.plan(hv, [], None) == ({}, {})


def test_the_ips_of_saved_guests_go_to_the_peer_else_the_first_host_used(hv):
    assert evacuation._default(hv, {"vm1": "hyp3"}) == "hyp3"  # hyp1 of this pillar pairs with hyp2
    assert evacuation._default(hv, {"vm1": "hyp2", "vm2": "hyp3"}) == "hyp2"
    assert evacuation._default(hv, {}) == "hyp2"
    alone = dict(hv, me=dict(hv["me"], peer=None))
    assert evacuation._default(alone, {}) is None
