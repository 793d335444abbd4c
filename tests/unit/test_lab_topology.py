"""lab/topology.py: the lab's hosts come from a cluster pillar; one it cannot build
(a vSwitch: no 802.1Q in this machine's kernel) is refused before anything is made."""

import pytest
import yaml

from lab import topology
from tests.lab.many import many_pillar


def test_the_three_host_labs_hosts_come_from_its_pillar(tmp_path):
    path = tmp_path / "cluster.sls"
    path.write_text(yaml.safe_dump(many_pillar()))
    hosts = topology.hosts(path)
    assert [(h.name, h.rpn_if, h.role) for h in hosts] == [
        ("hyp1", "eth1", "hypervisor"),
        ("hyp2", "eth1", "hypervisor"),
        ("hyp3", "eth1", "hypervisor"),
    ]
    assert len({h.rpn_mac for h in hosts}) == 3


def test_a_vswitch_is_refused_with_the_reason(tmp_path):
    pillar = many_pillar()
    for host in pillar["hypervisor"]["hosts"].values():
        host["rpn"] = {"interface": "vlan4000", "vlan": 4000, "address": host["rpn"]["address"]}
    path = tmp_path / "cluster.sls"
    path.write_text(yaml.safe_dump(pillar))
    with pytest.raises(SystemExit, match=r"hyp1, hyp2, hyp3 name rpn:vlan.*no 802.1Q VLANs"):
        topology.hosts(path)
