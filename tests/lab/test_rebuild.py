"""F28: a reinstalled hypervisor brought back by the orchestration, data kept.

The "reinstall" wipes hyp2's gluster state (/var/lib/glusterd) and its brick
devices (hyp2's bricks are XFS on block devices: loop devices in the lab);
glusterd then starts with a new identity, as on a freshly installed server.
sanlock and libvirtd are left running on purpose: the orchestration must stop
them cleanly, and after it every host takes a guest again (time printed).
"""

import pytest

from lab import system
from tests.lab.conftest import report
from tests.lab.guests import throwaway_guest
from tests.lab.test_leases import BOUND, start_within

pytestmark = pytest.mark.lab
ORCH = ("state.orchestrate", "orch.rebuild_node")
DATA = "/var/lib/libvirt/images/f28-data.bin"


def orchestrate(lab, node, source):
    return lab.run(*ORCH, f'pillar={{"node": "{node}", "source": "{source}"}}')


def healed(lab):
    """Nothing left to heal on any volume (a node that is behind counts as one to rebuild)."""
    out = lab.sh("hyp1", "for v in $(gluster volume list); do gluster volume heal $v info; done")
    counts = [line.split(":")[1].strip() for line in out.splitlines() if line.startswith("Number of entries")]
    return counts and all(count == "0" for count in counts)


def test_refuses_a_healthy_node(lab):
    # Earlier tests (a private-link cut) may leave heals running: healthy means healed.
    system.wait_for(lambda: healed(lab), 180, interval=3, what="the volumes to be healed")
    before = lab.sh("hyp2", "cat /var/lib/glusterd/glusterd.info")
    rc, _data, text = orchestrate(lab, "hyp2", "hyp1")
    assert rc != 0, text
    said = "\n".join(line for line in text.splitlines() if "ERROR" in line or "omment" in line)
    assert "is healthy" in text and "refusing to rebuild it" in text, said or text
    assert lab.sh("hyp2", "cat /var/lib/glusterd/glusterd.info") == before
    assert lab.sh("hyp2", "systemctl is-active sanlock libvirtd").split() == ["active", "active"]


def test_rebuilt_node_rejoins_and_heals(lab):
    written = lab.sh("hyp1", f"head -c 32M /dev/urandom | tee {DATA} | sha256sum").split()[0]
    old_uuid = lab.sh("hyp2", "sed -n 's/^UUID=//p' /var/lib/glusterd/glusterd.info").strip()
    # The reinstall: nothing gluster left on hyp2 but the package, blank brick devices.
    lab.sh(
        "hyp2",
        "systemctl stop glusterd; pkill -x glusterfsd; sleep 1;"
        " umount /mnt/bricks/vmstore /mnt/bricks/sanlock /mnt/bricks/save;"
        " wipefs -a -q /dev/hvlab-vmstore /dev/hvlab-sanlock /dev/hvlab-save;"
        " sed -i '/mnt.bricks/d' /etc/fstab; rm -rf /var/lib/glusterd/*; systemctl start glusterd",
    )
    assert "TYPE=" not in lab.sh("hyp2", "blkid -p -o export /dev/hvlab-vmstore", check=False)
    # glusterd writes its new identity lazily: none yet, or another one.
    new_uuid = lab.sh("hyp2", "sed -n 's/^UUID=//p' /var/lib/glusterd/glusterd.info 2>/dev/null; true")
    assert new_uuid.strip() != old_uuid
    try:
        rc, _data, text = orchestrate(lab, "hyp2", "hyp1")
        assert rc == 0, text
        assert lab.sh("hyp2", "sed -n 's/^UUID=//p' /var/lib/glusterd/glusterd.info").strip() == old_uuid
        for volume in ("vmstore", "sanlock", "save"):
            rc, heal, text = lab.salt("hyp1", "gluster.heal_info", volume)
            assert rc == 0 and all(b["entries"] == 0 and b["status"] == "Connected" for b in heal["hyp1"]), (
                text
            )
            rc, split, text = lab.salt("hyp1", "gluster.split_brain", volume)
            assert rc == 0 and all(b["entries"] == 0 for b in split["hyp1"]), text
        brick = "/mnt/bricks/vmstore/brick/f28-data.bin"
        assert lab.sh("hyp2", f"sha256sum {brick}").split()[0] == written
        assert lab.sh("hyp2", f"sha256sum {DATA}").split()[0] == written
        for volume in ("vmstore", "sanlock", "save"):
            mount = lab.sh("hyp2", f"findmnt -n -o SOURCE,FSTYPE /mnt/bricks/{volume}").split()
            assert mount == [f"/dev/hvlab-{volume}", "xfs"], f"{volume}'s brick is not on its device"
        assert lab.sh("hyp2", "systemctl is-active sanlock libvirtd").split() == ["active", "active"]
        with throwaway_guest(lab, "f28guest") as name:
            on_hyp2 = start_within(lab, "hyp2", name, BOUND)
            lab.sh("hyp2", f"virsh destroy {name}")
            on_hyp1 = start_within(lab, "hyp1", name, BOUND)
        report(f"after F28 a guest ran on hyp2 in {on_hyp2:.1f}s, then on hyp1 in {on_hyp1:.1f}s")
    finally:
        lab.sh("hyp1", f"rm -f {DATA}", check=False)
