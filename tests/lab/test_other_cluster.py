"""A cluster whose hosts are not named hyp*: a second lab, booted next to the
first from another pillar (hosts kvm-a and kvm-b, three bridges, another
private subnet), with the one documented setting that names the hosts (the
master's nodegroup) following it, and gluster over TLS. Both hosts converge
from the bare image and can take a guest."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lab import image
from tests.lab.conftest import report
from tests.pillar_cases import lab_pillar

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
STATE = Path("/var/lib/hvlab-other")
HOSTS = ("kvm-a", "kvm-b")
BRIDGES = {"wan": ("brout", 1195), "lan": ("brin", 1194), "dmz": ("brdmz", 1196)}
# Where the release's glusterfs reads its TLS files (gluster:tls_dir).
TLS_DIR = image.parameters()["gluster"]["tls_dir"]


def other_pillar():
    lab = lab_pillar()["hypervisor"]
    hosts = {}
    for index, name in enumerate(HOSTS, start=1):
        hosts[name] = {
            "host_id": index,
            "peer": HOSTS[2 - index],
            "online_server_id": 2000 + index,
            "public": {
                "interface": "eth0",
                "address": f"203.0.113.{20 + index}",
                "gateway": "203.0.113.254",
            },
            "rpn": {
                "interface": "eth1",
                "mac": f"02:00:c0:00:02:{20 + index:02x}",
                "address": f"192.0.2.{20 + index}/24",
                "dhcp": False,
                "mtu": 9000,
            },
        }
    return {
        "hypervisor": {
            "domain": "other.example",
            "hosts": hosts,
            "bridges": {net: {"name": name, "vpn_port": port} for net, (name, port) in BRIDGES.items()},
            "admins": lab["admins"],
            "libvirt": lab["libvirt"],
            "sanlock": lab["sanlock"],
            "pools": {"iso": {"path": "/var/lib/libvirt/images/iso"}},
            "firewall": lab["firewall"],
            # B10: this cluster is built with gluster over TLS (management and I/O).
            "gluster": {"tls": True},
        }
    }


def other_lab(*args, timeout=900):
    env = dict(
        os.environ,
        HVLAB_DIR=str(STATE),
        HVLAB_PREFIX="hvlb-",
        HVLAB_PILLAR=str(STATE / "cluster.sls"),
    )
    cmd = [sys.executable, "-m", "lab", *args]
    return subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def other():  # in the session beside the main lab's (make test-many)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "cluster.sls").write_text(yaml.safe_dump(other_pillar()))
    start = time.monotonic()
    up = other_lab("up")
    report(f"second lab (kvm-a, kvm-b) up from the bare image in {time.monotonic() - start:.0f}s")
    try:
        yield up
    finally:
        down = other_lab("down", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr
        shutil.rmtree(STATE)


def test_boots_and_converges_from_the_bare_image(other):
    assert other.returncode == 0, other.stdout + other.stderr
    for host in HOSTS:
        assert f"Summary for {host}" in other.stdout
    assert len(re.findall(r"^Failed: +0$", other.stdout, re.M)) == len(HOSTS), other.stdout


def test_the_nodegroup_names_the_hosts(other):
    proc = other_lab("salt", "-N", "hypervisors", "test.ping", "--out=json", "--static", timeout=120)
    assert json.loads(proc.stdout) == {host: True for host in HOSTS}, proc.stdout + proc.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_its_own_bridges_subnet_and_names(other, host):
    bridges = other_lab("shell", host, "ip", "-br", "link", "show", "type", "bridge").stdout
    names = sorted(line.split()[0] for line in bridges.splitlines())
    assert names == sorted(name for name, _port in BRIDGES.values())
    hosts_file = other_lab("shell", host, "cat", "/etc/hosts").stdout
    assert "192.0.2.21" in hosts_file and "kvm-a.other.example" in hosts_file
    assert "192.0.2.22" in hosts_file and "kvm-b.other.example" in hosts_file
    rpn = other_lab("shell", host, "ip", "-br", "addr", "show", "eth1").stdout
    assert f"192.0.2.{21 + HOSTS.index(host)}/24" in rpn


def test_every_host_can_take_a_guest(other):
    proc = other_lab("salt", "-N", "hypervisors", "sanlock.status", "--out=json", "--static", timeout=120)
    status = json.loads(proc.stdout)
    for host in HOSTS:
        assert status[host]["can_take_guests"], status[host]["reason"]


def test_gluster_runs_over_tls(other):
    """B10: glusterd and every brick with TLS on, each host's own certificate trusted by
    both, the volumes' data readable across the hosts (the lease volume: sanlock's
    lockspace above joined over it)."""
    for host in HOSTS:
        files = other_lab("shell", host, "ls", f"{TLS_DIR}/glusterfs.pem", f"{TLS_DIR}/glusterfs.ca",
                          "/var/lib/glusterd/secure-access").stdout  # fmt: skip
        assert files.count("\n") == 3, files
        ca = other_lab("shell", host, "grep", "-c", "BEGIN CERTIFICATE", f"{TLS_DIR}/glusterfs.ca").stdout
        assert ca.strip() == str(len(HOSTS)), ca
    get = other_lab("shell", "kvm-a", "gluster", "volume", "get", "vmstore", "all").stdout
    options = dict(line.split(None, 1) for line in get.splitlines()[2:] if line.strip())
    assert (options["client.ssl"].strip(), options["server.ssl"].strip()) == ("on", "on"), get
    assert options["auth.ssl-allow"].strip() == ",".join(HOSTS), get
    status = other_lab("shell", "kvm-a", "gluster", "volume", "status", "vmstore").stdout
    assert status.count(" Y ") >= len(HOSTS), status
    path = "/var/lib/libvirt/images/tls-check"
    other_lab("shell", "kvm-a", "sh", "-c", f"echo over-tls > {path}")
    try:
        assert other_lab("shell", "kvm-b", "cat", path).stdout.strip() == "over-tls"
    finally:
        other_lab("shell", "kvm-a", "rm", "-f", path)
