"""Shared storage (F13, F16, F17) and disk leases (F14, F15, R4) on the live lab."""

import pytest

from lab import image
from tests.lab.guests import state, throwaway_guest
from tests.loaders import hv_views
from tests.pillar_cases import lab_pillar

pytestmark = pytest.mark.lab
HOSTS = ("hyp1", "hyp2")
SETTINGS = hv_views.build(lab_pillar(), image.parameters(), "hyp1")
VOLUMES = SETTINGS["gluster"]["volumes"]


def test_file_written_on_hyp1_reads_back_identical_on_hyp2(lab):
    path = "/var/lib/libvirt/images/replication-check.bin"
    try:
        written = lab.sh("hyp1", f"head -c 64M /dev/urandom > {path} && sha256sum {path}").split()[0]
        assert lab.sh("hyp2", f"stat -c %s {path}").strip() == str(64 * 2**20)
        assert lab.sh("hyp2", f"sha256sum {path}").split()[0] == written
    finally:
        lab.sh("hyp1", f"rm -f {path}", check=False)


def test_volumes_have_the_pillar_options(lab):
    """The pillar's options, client quorum, and auth.allow: the hosts' RPN addresses and
    the loopback alone (B10)."""
    rc, data, text = lab.salt("hyp1", "gluster.volume_info")
    assert rc == 0, text
    info = data["hyp1"]
    assert sorted(info) == sorted(VOLUMES)
    for name, volume in VOLUMES.items():
        assert info[name]["status"] == "Started"
        assert [b["name"] for b in info[name]["bricks"]] == volume["bricks"]
        for option, value in volume["options"].items():
            assert info[name]["options"].get(option) == value, (name, option)
        rpn = sorted(h["rpn"]["address"].split("/")[0] for h in lab_pillar()["hypervisor"]["hosts"].values())
        assert sorted(info[name]["options"]["auth.allow"].split(",")) == sorted(["127.0.0.1", *rpn])


@pytest.mark.parametrize("host", HOSTS)
def test_every_volume_mounted_and_ordered_before_libvirtd(lab, host):
    for name, volume in VOLUMES.items():
        source = lab.sh(host, f"findmnt -n -o SOURCE,FSTYPE {volume['mount']}").split()
        assert source == [f"localhost:/{name}", "fuse.glusterfs"]
    requires = lab.sh(host, "systemctl show -p RequiresMountsFor libvirtd sanlock")
    for volume in VOLUMES.values():
        assert requires.count(volume["mount"]) == 2
    after = lab.sh(host, "systemctl show -p After libvirtd")
    assert "var-lib-libvirt-images.mount" in after and "sanlock.service" in after


@pytest.mark.parametrize("host", HOSTS)
def test_pools_defined_running_autostarted(lab, host):
    out = lab.sh(host, "virsh -q pool-list --all")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    for name in SETTINGS["pools"]:
        assert rows[name] == ["active", "yes"]
    assert lab.sh(host, "virsh pool-dumpxml iso | grep '<path>'").strip() == (
        "<path>/var/lib/libvirt/images/iso</path>"
    )


@pytest.mark.parametrize("host", HOSTS)
def test_sanlock_lockspace_with_this_hosts_id(lab, host):
    host_id = SETTINGS["hosts"][host]["host_id"]
    status = lab.sh(host, "sanlock client status")
    assert f"s __LIBVIRT__DISKS__:{host_id}:/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__:0" in status
    assert lab.sh(host, "stat -c '%G %a' /var/lib/libvirt/sanlock").strip() == "sanlock 770"


@pytest.mark.parametrize("host", HOSTS)
def test_stale_lease_cleanup_timer(lab, host):
    assert lab.sh(host, "systemctl is-enabled hv-sanlock-cleanup.timer").strip() == "enabled"
    assert lab.sh(host, "systemctl is-active hv-sanlock-cleanup.timer").strip() == "active"
    props = lab.sh(host, "systemctl show -p RandomizedDelayUSec hv-sanlock-cleanup.timer").strip()
    assert props == "RandomizedDelayUSec=30min"


# sanlock's CLI acquires a lease, then runs a command holding it; -243 is
# SANLK_ACQUIRE_IDLIVE: the lease is held by another host, which is alive.
ACQUIRE = (
    "systemd-run --wait --pipe --quiet"
    " sanlock client command -r {lockspace}:{name}:{path}:{offset} -c /bin/true"
)
HELD_BY_A_LIVE_HOST = "acquire done -243"


def test_a_guest_never_runs_on_both_hosts(lab):
    """R4: while hyp1 runs the guest, hyp2 can neither start it nor take its disk
    lease, 5 times out of 5; once hyp1 has stopped it, hyp2 starts it.

    Over gluster, hyp2's start is stopped first by qemu's own image lock (the
    lock travels through the FUSE mount); the sanlock lease is the barrier that
    also holds when hyp1 is cut off rather than cleanly running, so it is
    checked on its own: hyp2 asks sanlock for the very lease libvirt holds.
    """
    with throwaway_guest(lab, "leasetest") as name:
        lab.sh("hyp1", f"virsh -q start {name}")
        assert state(lab, "hyp1", name) == "running"
        rc, data, text = lab.salt("hyp1", "sanlock.status")
        assert rc == 0, text
        held = data["hyp1"]["resources"]
        assert len(held) == 1 and held[0]["lockspace"] == "__LIBVIRT__DISKS__", text
        rc, data, text = lab.salt("hyp2", "sanlock.leases")
        assert rc == 0, text
        rc, joined, hosts_text = lab.salt("hyp1", "sanlock.hosts")
        assert rc == 0, hosts_text
        generation = joined["hyp1"]["1"]["generation"]  # hyp1's current one (it joins again after a reboot)
        assert data["hyp2"][held[0]["name"]] == {
            "held": True,
            "owner_host_id": 1,
            "generation": generation,
        }, text
        for attempt in range(5):
            out = lab.sh("hyp2", f"virsh -q start {name} 2>&1; echo rc=$?", check=False)
            assert "rc=1" in out and state(lab, "hyp2", name) == "shut off", (attempt, out)
            taken = lab.sh("hyp2", f"{ACQUIRE.format(**held[0])} 2>&1; echo rc=$?", check=False)
            assert HELD_BY_A_LIVE_HOST in taken and "rc=1" in taken, (attempt, taken)
        lab.sh("hyp1", f"virsh -q destroy {name}")
        lab.sh("hyp2", f"virsh -q start {name}")
        assert state(lab, "hyp2", name) == "running"
        rc, data, text = lab.salt("hyp1", "sanlock.leases")
        assert rc == 0 and data["hyp1"][held[0]["name"]]["owner_host_id"] == 2, text


def test_saved_on_hyp1_restores_on_hyp2(lab):
    """F17: the save volume is shared, and the lease follows the guest."""
    with throwaway_guest(lab, "savetest") as name:
        lab.sh("hyp1", f"virsh -q start {name}")
        saved = f"/var/lib/libvirt/qemu/save/{name}.save"
        lab.sh("hyp1", f"virsh -q save {name} {saved}")
        assert state(lab, "hyp1", name) == "shut off"
        lab.sh("hyp2", f"virsh -q restore {saved}")
        assert state(lab, "hyp2", name) == "running"
        assert state(lab, "hyp1", name) == "shut off"
