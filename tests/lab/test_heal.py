"""R7: one host's gluster down while the other writes; the heal afterwards;
and a split-brain made on purpose, reported by the gluster module."""

import time

import pytest

pytestmark = pytest.mark.lab
IMAGES = "/var/lib/libvirt/images"


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {what}")
        time.sleep(1)


def heal_entries(lab, volume):
    rc, data, text = lab.salt("hyp1", "gluster.heal_info", volume)
    assert rc == 0, text
    return {b["name"].split(":")[0]: (b["status"], b["entries"]) for b in data["hyp1"]}


def test_survivor_keeps_working_and_the_heal_completes(lab):
    before = lab.sh("hyp1", f"head -c 8M /dev/urandom | tee {IMAGES}/r7-old.bin | sha256sum").split()[0]
    try:
        # hyp2's gluster goes down: glusterd and its brick processes.
        lab.sh("hyp2", "systemctl stop glusterd && pkill -x glusterfsd; true")
        wait(lambda: heal_entries(lab, "vmstore")["hyp2"][0] != "Connected", 30, "hyp2's brick seen down")
        # hyp1 keeps reading and writing.
        assert lab.sh("hyp1", f"sha256sum {IMAGES}/r7-old.bin").split()[0] == before
        written = lab.sh("hyp1", f"head -c 16M /dev/urandom | tee {IMAGES}/r7-new.bin | sha256sum").split()[0]
        assert lab.sh("hyp1", f"sha256sum {IMAGES}/r7-new.bin").split()[0] == written
        assert heal_entries(lab, "vmstore")["hyp1"][1] >= 1, "no pending heal recorded on hyp1"
        # hyp2 returns: its bricks restart, the heal completes.
        lab.sh("hyp2", "systemctl start glusterd")
        wait(lambda: heal_entries(lab, "vmstore")["hyp2"][0] == "Connected", 60, "hyp2's brick back")
        lab.salt("hyp1", "gluster.heal", "vmstore")
        wait(lambda: all(e == 0 for _, e in heal_entries(lab, "vmstore").values()), 120, "heal to finish")
        brick = "/mnt/bricks/vmstore/brick"
        assert lab.sh("hyp2", f"sha256sum {brick}/r7-new.bin").split()[0] == written
    finally:
        lab.sh("hyp2", "systemctl start glusterd", check=False)
        lab.sh("hyp1", f"rm -f {IMAGES}/r7-old.bin {IMAGES}/r7-new.bin", check=False)


def brick_pid(lab, host, volume):
    rc, data, text = lab.salt("hyp1", "gluster.volume_status", volume)
    assert rc == 0, text
    return next(n["pid"] for n in data["hyp1"] if n["hostname"] == host and n["path"].startswith("/"))


def test_split_brain_made_on_purpose_is_reported(lab):
    """On a throw-away volume: each brick gets a write the other misses."""
    volume, mnt = "sbtest", "/mnt/sbtest"
    bricks = [f"{h}:/mnt/bricks/{volume}/brick" for h in ("hyp1", "hyp2")]
    for host in ("hyp1", "hyp2"):
        lab.sh(host, f"mkdir -p /mnt/bricks/{volume}/brick")
    rc, _, text = lab.salt("hyp1", "gluster.volume_create", volume, f"bricks={bricks}", "force=True")
    assert rc == 0, text
    try:
        # No healing behind our back, and writes allowed with one brick.
        for option in ("self-heal-daemon", "data-self-heal", "metadata-self-heal", "entry-self-heal"):
            lab.salt("hyp1", "gluster.volume_set", volume, f"cluster.{option}", "off")
        lab.salt("hyp1", "gluster.volume_set", volume, "cluster.quorum-type", "none")
        lab.salt("hyp1", "gluster.volume_start", volume)
        lab.sh("hyp1", f"mkdir -p {mnt} && mount -t glusterfs localhost:/{volume} {mnt} && echo v0 > {mnt}/f")
        lab.sh("hyp2", f"kill {brick_pid(lab, 'hyp2', volume)}")
        lab.sh("hyp1", f"echo v1-only-on-hyp1 > {mnt}/f")
        lab.salt("hyp1", "gluster.volume_start", volume, "force=True")
        time.sleep(3)
        lab.sh("hyp1", f"kill {brick_pid(lab, 'hyp1', volume)}")
        lab.sh("hyp1", f"echo v2-only-on-hyp2 > {mnt}/f")
        lab.salt("hyp1", "gluster.volume_start", volume, "force=True")
        time.sleep(3)
        rc, data, text = lab.salt("hyp1", "gluster.split_brain", volume)
        assert rc == 0, text
        assert sum(b["entries"] for b in data["hyp1"]) >= 1, text
        assert any("/f" in b["files"] for b in data["hyp1"]), text
    finally:
        lab.sh("hyp1", f"umount -l {mnt}", check=False)
        lab.sh(
            "hyp1",
            f"gluster --mode=script volume stop {volume} force; gluster --mode=script volume delete {volume}",
            check=False,
        )
        for host in ("hyp1", "hyp2"):
            lab.sh(host, f"rm -rf /mnt/bricks/{volume}", check=False)
