"""The pillar docs/hetzner.md shows is valid: its YAML blocks (the credentials, a cluster
with a private NIC, one on a vSwitch), in a Hetzner cluster's pillar (the lab's other
settings), pass the validator on every host."""

import re

import pytest
import yaml

from tests.loaders import REPO, hv_validate, layered_parameters
from tests.pillar_cases import as_seen_by, hetzner_pillar


def blocks(page):
    text = (REPO / "docs" / page).read_text()
    return [yaml.safe_load(b) for b in re.findall(r"^ *```yaml\n(.*?)^ *```", text, re.M | re.S)]


def _docs_pillar(credentials, cluster):
    pillar = hetzner_pillar()
    pillar["hetzner"] = credentials["hetzner"]
    pillar["hypervisor"]["hosts"] = cluster["hypervisor"]["hosts"]
    pillar["hypervisor"]["failover"] = {"provider": "hetzner"}
    pillar["hypervisor"]["tunnels"] = cluster["hypervisor"].get("tunnels", {})
    del pillar["hypervisor"]["guests"]
    return pillar


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
def test_the_hetzner_page_shows_a_valid_pillar(family):
    credentials, cluster, _vswitch = blocks("hetzner.md")
    assert cluster["hypervisor"]["failover"] == {"provider": "hetzner"}
    pillar = _docs_pillar(credentials, cluster)
    for host in pillar["hypervisor"]["hosts"]:
        assert hv_validate.validate(as_seen_by(pillar, host), layered_parameters(family), host) == []


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
def test_the_hetzner_page_shows_a_valid_vswitch(family):
    """The vSwitch's pillar: each host's private network VLAN 4000 of its public NIC, VXLAN
    with the guests at 1350, valid; without tunnels:guest_mtu, refused on each host."""
    credentials, _cluster, vswitch = blocks("hetzner.md")
    assert vswitch["hypervisor"]["tunnels"] == {"transport": "vxlan", "guest_mtu": 1350}
    for host in vswitch["hypervisor"]["hosts"].values():
        assert host["rpn"]["vlan"] == 4000 and host["rpn"]["mtu"] == 1400 and "mac" not in host["rpn"]
    pillar = _docs_pillar(credentials, vswitch)
    for host in pillar["hypervisor"]["hosts"]:
        assert hv_validate.validate(as_seen_by(pillar, host), layered_parameters(family), host) == []
    del pillar["hypervisor"]["tunnels"]["guest_mtu"]
    errors = hv_validate.validate(pillar, layered_parameters(family), "hyp1")
    assert [e for e in errors if "set tunnels:guest_mtu: 1350" in e] == errors
    assert len(errors) == len(pillar["hypervisor"]["hosts"])
