"""The pillar docs/hetzner.md shows is valid: its YAML blocks, in a Hetzner cluster's
pillar (the lab's other settings), pass the validator on every host."""

import re

import yaml

from tests.loaders import REPO, hv_validate, layered_parameters
from tests.pillar_cases import as_seen_by, hetzner_pillar


def blocks(page):
    text = (REPO / "docs" / page).read_text()
    return [yaml.safe_load(b) for b in re.findall(r"^ *```yaml\n(.*?)^ *```", text, re.M | re.S)]


def test_the_hetzner_page_shows_a_valid_pillar():
    credentials, cluster = blocks("hetzner.md")
    pillar = hetzner_pillar()
    pillar["hetzner"] = credentials["hetzner"]
    pillar["hypervisor"]["hosts"] = cluster["hypervisor"]["hosts"]
    pillar["hypervisor"]["failover"] = cluster["hypervisor"]["failover"]
    del pillar["hypervisor"]["guests"]
    for host in pillar["hypervisor"]["hosts"]:
        assert hv_validate.validate(as_seen_by(pillar, host), layered_parameters("Debian"), host) == []
