"""F28: a reinstalled hypervisor brought back by the orchestration, data kept.

The "reinstall" wipes hyp2's gluster state (/var/lib/glusterd) and its bricks;
glusterd then starts with a new identity, as on a freshly installed server.
"""

import pytest

pytestmark = pytest.mark.lab
ORCH = ("state.orchestrate", "orch.rebuild_node")
DATA = "/var/lib/libvirt/images/f28-data.bin"


def orchestrate(lab, node, source):
    return lab.run(*ORCH, f'pillar={{"node": "{node}", "source": "{source}"}}')


def test_refuses_a_healthy_node(lab):
    before = lab.sh("hyp2", "cat /var/lib/glusterd/glusterd.info")
    rc, _data, text = orchestrate(lab, "hyp2", "hyp1")
    assert rc != 0, text
    assert "is healthy" in text and "refusing to rebuild it" in text
    assert lab.sh("hyp2", "cat /var/lib/glusterd/glusterd.info") == before


def test_rebuilt_node_rejoins_and_heals(lab):
    written = lab.sh("hyp1", f"head -c 32M /dev/urandom | tee {DATA} | sha256sum").split()[0]
    old_uuid = lab.sh("hyp2", "sed -n 's/^UUID=//p' /var/lib/glusterd/glusterd.info").strip()
    # The reinstall: nothing gluster left on hyp2 but the package.
    lab.sh(
        "hyp2",
        "sanlock client shutdown -f 1 >/dev/null 2>&1; systemctl stop libvirtd sanlock;"
        " umount -l /var/lib/libvirt/images /var/lib/libvirt/sanlock /var/lib/libvirt/qemu/save;"
        " systemctl stop glusterd; pkill -x glusterfsd; pkill -x glusterfs; sleep 1;"
        " rm -rf /var/lib/glusterd/* /mnt/bricks/*/brick; systemctl start glusterd",
    )
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
        assert lab.sh("hyp2", "systemctl is-active sanlock libvirtd").split() == ["active", "active"]
    finally:
        lab.sh("hyp1", f"rm -f {DATA}", check=False)
