"""Guest backups' settings (B9): ``hypervisor:backups`` and a guest's ``backup`` opt-out,
the view the backup module reads, the targets the validator takes. The refusals, one
mutation each, are in ``tests/pillar_cases.py``."""

import re

import pytest
import yaml

from tests import pillar_cases
from tests.loaders import REPO, hv_validate, hv_views, layered_parameters


@pytest.fixture(scope="module")
def params():
    return layered_parameters("Debian")


def test_backups_are_off_by_default_and_would_take_every_guest(params):
    pillar = pillar_cases.lab_pillar()
    del pillar["hypervisor"]["backups"]  # the lab's own: enabled, to a directory of its hosts
    backups = hv_views.build(pillar, params, "hyp1")["backups"]
    assert backups == {
        "enabled": False,
        "target": {"path": ""},
        "keep": 7,
        "schedule": "*-*-* 03:00:00",
        "guests": ["vm1", "vm2", "vm3", "vm4"],
        "freeze": True,
        "timeout": 21600,
        "state_dir": "/var/lib/hv-backup",
        "last_dir": "/var/lib/hv-backup/last",
        "unit": "hv-backup",
    }


def test_the_guests_listed_or_every_guest_but_those_that_opt_out(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["guests"]["vm1"]["backup"] = False
    pillar["hypervisor"]["backups"] = {"enabled": True, "target": {"path": "/srv/hv-backups"}, "keep": 3}
    cfg = hv_views.build(pillar, params, "hyp1")
    assert cfg["backups"]["guests"] == ["vm2", "vm3", "vm4"] and cfg["backups"]["keep"] == 3
    assert cfg["guests"]["vm1"]["backup"] is False and cfg["guests"]["vm2"]["backup"] is True
    pillar["hypervisor"]["backups"]["guests"] = ["vm4", "vm2"]
    assert hv_views.build(pillar, params, "hyp1")["backups"]["guests"] == ["vm4", "vm2"]


@pytest.mark.parametrize(
    "path",
    [
        "/srv/hv-backups",
        "/mnt/backup/hv",  # a backup disk's mount
        "/var/lib/libvirt/sanlock-old",  # beside a volume's mount, not on it
        "/srv/backups/hv",  # on a gluster volume of the operator's own, below
    ],
)
def test_targets_away_from_the_disks_and_the_clusters_volumes_are_taken(params, path):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"].setdefault("gluster", {}).setdefault("volumes", {})["backup"] = {
        "mount": "/srv/backups",
        "size": "100G",
    }
    pillar["hypervisor"]["hosts"]["hyp2"]["bricks"]["devices"]["backup"] = "/dev/hvlab-backup"
    pillar["hypervisor"]["backups"] = {"enabled": True, "target": {"path": path}}
    assert hv_validate.validate(pillar, params, "hyp1") == []


def test_a_target_may_be_set_while_backups_are_off(params):
    """By hand (``guest_backup.run``) before the schedule is on."""
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["backups"] = {"target": {"path": "/srv/hv-backups"}}
    assert hv_validate.validate(pillar, params, "hyp1") == []


def test_the_backups_page_shows_a_valid_pillar(params):
    """docs/backups.md's YAML block, over the lab's pillar (its vm1 the page's)."""
    text = (REPO / "docs" / "backups.md").read_text()
    (block,) = [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)]
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["backups"] = block["hypervisor"]["backups"]
    pillar["hypervisor"]["guests"]["vm1"].update(block["hypervisor"]["guests"]["vm1"])
    assert hv_validate.validate(pillar, params, "hyp1") == []
    assert "vm1" not in hv_views.build(pillar, params, "hyp1")["backups"]["guests"]
