"""Brick file systems on block devices (hyp2's bricks, loop devices in the lab):
a blank device is formatted and mounted; a device that carries a file system or
any other signature is never formatted, and what it holds is still there."""

import pytest

from lab.topology import SPARE_DEVICE
from tests.lab.conftest import failed

pytestmark = pytest.mark.lab
VOLUMES = ("vmstore", "sanlock", "save")
MNT = "/mnt/hvlab-spare"


def formatted(lab, *extra):
    """``state.single gluster_brick.formatted`` on the spare device of hyp2."""
    _rc, data, text = lab.salt(
        "hyp2", "state.single", "gluster_brick.formatted", f"name={SPARE_DEVICE}", "label=spare", *extra
    )
    assert isinstance(data.get("hyp2"), dict), text
    (ret,) = data["hyp2"].values()
    return ret


def signature(lab):
    return lab.sh("hyp2", f"blkid -p -o export {SPARE_DEVICE}", check=False)


@pytest.fixture
def spare(lab):
    lab.sh("hyp2", f"umount {MNT} 2>/dev/null; wipefs -a -q {SPARE_DEVICE}; mkdir -p {MNT}")
    yield SPARE_DEVICE
    lab.sh("hyp2", f"umount {MNT} 2>/dev/null; wipefs -a -q {SPARE_DEVICE}")


def test_blank_devices_were_formatted_and_mounted_by_the_first_run(lab):
    for volume in VOLUMES:
        device = f"/dev/hvlab-{volume}"
        assert "TYPE=xfs" in lab.sh("hyp2", f"blkid -p -o export {device}")
        assert lab.sh("hyp2", f"findmnt -n -o SOURCE /mnt/bricks/{volume}").strip() == device
        assert lab.sh("hyp2", f"test -d /mnt/bricks/{volume}/brick && echo ok").strip() == "ok"
    assert "/mnt/bricks/vmstore" in lab.sh("hyp2", "cat /etc/fstab")


def test_blank_device_test_mode_predicts_then_formats(lab, spare):
    ret = formatted(lab, "test=True")
    assert (ret["result"], ret["changes"]) == (None, {"old": "blank", "new": "xfs"})
    assert "TYPE=" not in signature(lab), "test=True formatted the device"
    ret = formatted(lab)
    assert (ret["result"], ret["changes"]) == (True, {"old": "blank", "new": "xfs"})
    assert "TYPE=xfs" in signature(lab)


@pytest.mark.parametrize("mkfs", ["mkfs.ext4 -q -F", "mkfs.xfs -q -f"])
def test_device_with_a_file_system_and_data_is_never_formatted(lab, spare, mkfs):
    lab.sh("hyp2", f"{mkfs} {SPARE_DEVICE} && mount {SPARE_DEVICE} {MNT}")
    written = lab.sh("hyp2", f"head -c 1M /dev/urandom | tee {MNT}/keep.bin | sha256sum").split()[0]
    before = signature(lab)
    lab.sh("hyp2", f"umount {MNT}")
    ret = formatted(lab)
    if "xfs" in mkfs:  # already the brick file system: kept as it is
        assert (ret["result"], ret["changes"]) == (True, {}), ret
        assert "already carries XFS" in ret["comment"]
    else:
        assert (ret["result"], ret["changes"]) == (False, {}), ret
        assert "carries ext4" in ret["comment"] and "never formatted" in ret["comment"]
    assert signature(lab) == before
    lab.sh("hyp2", f"mount {SPARE_DEVICE} {MNT}")
    assert lab.sh("hyp2", f"sha256sum {MNT}/keep.bin").split()[0] == written


def test_device_with_any_other_signature_is_never_formatted(lab, spare):
    lab.sh("hyp2", f"pvcreate -q {SPARE_DEVICE}")
    before = signature(lab)
    assert "TYPE=LVM2_member" in before
    ret = formatted(lab)
    assert (ret["result"], ret["changes"]) == (False, {}), ret
    assert "carries LVM2_member" in ret["comment"]
    assert signature(lab) == before


def test_highstate_stays_green_with_device_bricks(lab):
    rc, data, text = lab.apply(target="hyp2")
    assert rc == 0 and failed(data["hyp2"]) == [], text
