"""pillar.example is valid and documents every key of the cluster description."""

import yaml

from tests.loaders import REPO, hypervisor_pillar, layered_parameters

EXAMPLE = yaml.safe_load((REPO / "pillar.example").read_text())


def test_example_is_valid_for_each_of_its_hosts():
    params = layered_parameters("Debian")
    for host in EXAMPLE["hypervisor"]["hosts"]:
        assert hypervisor_pillar.validate(EXAMPLE, params, host) == []


def test_example_documents_every_key():
    hv = EXAMPLE["hypervisor"]
    host = hv["hosts"]["hyp1"]
    mod = hypervisor_pillar
    assert set(mod.CLUSTER_KEYS) <= set(hv)
    assert set(mod.HOST_KEYS) == set(host)
    assert set(mod.PUBLIC_KEYS) == set(host["public"])
    assert set(mod.RPN_KEYS) == set(host["rpn"])
    assert all(set(b) == set(mod.BRIDGE_KEYS) for b in hv["bridges"].values())
    assert set(mod.ADMIN_KEYS) == set(hv["admins"][0])
    assert set(mod.ONLINE_KEYS) == set(EXAMPLE["online"])
    # The overridable defaults: every top-level parameter group is shown at least once.
    shown = set(hv) - set(mod.CLUSTER_KEYS)
    assert {"sysctl", "ksm", "libvirt", "pkgs", "gluster", "sanlock", "pools"} <= shown
    assert set(mod.VOLUME_KEYS) == set(hv["gluster"]["volumes"]["vmstore"])
    assert set(mod.POOL_KEYS) == set(hv["pools"]["iso"])


def test_lab_pillar_uses_only_documented_keys():
    lab = yaml.safe_load((REPO / "pillar" / "hypervisor.sls").read_text())["hypervisor"]
    assert set(lab) <= set(EXAMPLE["hypervisor"])
