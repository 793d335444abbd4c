"""A bare server's first run: the lab image holds a provider's Debian (13, or 12
with LAB_RELEASE=bookworm) and
a salt-minion, nothing of the product; the first state.apply installs it all
(packages, the modules' Python libraries) and every custom module loads."""

import re
import subprocess

import pytest

from lab import image
from tests.lab.conftest import ARBITERS, GROUP, HYPERVISORS, failed

pytestmark = pytest.mark.lab
HOSTS = HYPERVISORS + ARBITERS
# The libvirt sanlock plugin's package is named by the release (pkgs:sanlock).
PRODUCT = ["libvirt-daemon-system", "qemu-system-x86", "glusterfs-server"]
PRODUCT += image.product_packages_of("sanlock")
CUSTOM_MODULES = {
    "gluster",
    "gluster_brick",
    "gluster_rebuild",
    "hypervisor_pillar",
    "libvirt_pool",
    "sanlock",
}


def _installed(root, package):
    proc = subprocess.run(
        ["dpkg-query", f"--root={root}", "-W", "-f=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.endswith("install ok installed")


def test_the_image_is_bare(lab):  # the lab's session built the image if it was not cached
    rootfs = image.image_dir() / "rootfs"
    assert rootfs.is_dir()
    assert [p for p in PRODUCT if _installed(rootfs, p)] == []
    assert (rootfs / "opt/salt/bin/salt-minion").exists(), "the minion is installed as on a real server"
    site = next((rootfs / "opt/salt/lib").glob("python3*/site-packages"))
    assert not list(site.glob("libvirt*")), "the image's minion already has libvirt-python"


def test_first_apply_succeeded_on_every_host(lab):
    if lab.booted:  # this session booted the bare hosts: its first apply is the first run
        assert lab.first_apply_rc == 0, lab.first_apply_text
        for host in HOSTS:
            assert f"Summary for {host}" in lab.first_apply_text
        clean = re.findall(r"^Failed: +0$", lab.first_apply_text, re.M)
        assert len(clean) == len(HOSTS), lab.first_apply_text
    rc, data, text = lab.apply()
    assert rc == 0 and all(failed(data[h]) == [] for h in HOSTS), text


@pytest.mark.parametrize("host", HYPERVISORS)
def test_the_states_installed_the_product(lab, host):
    """dpkg's log on the host shows the product installed there, after boot."""
    log = lab.sh(host, "grep ' install ' /var/log/dpkg.log")
    for package in PRODUCT:
        assert f" install {package}:" in log, f"{package} was not installed by the states on {host}"
    pip = lab.sh(host, "/opt/salt/bin/python -m pip show libvirt-python")
    assert "Version: 12.8.0" in pip, pip
    # In the minion's own venv, of the release's Python (3.13 on Debian 13, 3.11 on 12).
    assert re.search(r"^Location: /opt/salt/lib/python3\.\d+/site-packages$", pip, re.M), pip
    python = lab.sh(host, "/opt/salt/bin/python -c 'import sys; print(sys.version_info[:2])'").strip()
    assert python == str(image.PYTHONS[image.RELEASE]), python


@pytest.mark.parametrize("host", ARBITERS)
def test_the_arbiter_got_gluster_and_nothing_of_the_guests(lab, host):
    log = lab.sh(host, "grep ' install ' /var/log/dpkg.log")
    assert " install glusterfs-server:" in log
    for package in ("libvirt-daemon-system", "qemu-system-x86", "sanlock"):
        assert f" install {package}:" not in log, f"{package} on the arbiter {host}"


def test_every_custom_module_loads(lab):
    rc, data, text = lab.salt(*GROUP, "sys.list_modules")
    assert rc == 0, text
    for host in HOSTS:
        assert set(data[host]) >= CUSTOM_MODULES, f"{host}: {sorted(CUSTOM_MODULES - set(data[host]))}"
