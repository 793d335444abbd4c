"""The gluster module's parsers, on `gluster --xml` outputs captured from the lab."""

from pathlib import Path

import pytest

from tests.loaders import load

gluster = load("_modules", "gluster")
FIXTURES = Path(__file__).parent / "fixtures" / "gluster"


def xml(name):
    return (FIXTURES / f"{name}.xml").read_text()


def test_peer_status():
    assert gluster.parse_peers(xml("peer_status")) == [
        {
            "uuid": "a03f277c-8862-407b-b91c-6e39be206d38",
            "hostname": "hyp2",
            "hostnames": ["hyp2"],
            "connected": True,
            "state": "Peer in Cluster",
        }
    ]


def test_pool_list_includes_this_node():
    assert gluster.parse_peers(xml("pool_list")) == [
        {
            "uuid": "a03f277c-8862-407b-b91c-6e39be206d38",
            "hostname": "hyp2",
            "hostnames": ["hyp2"],
            "connected": True,
            "state": "Peer in Cluster",
        },
        {
            "uuid": "ca15c66f-db8c-492f-ae00-389cb36f4946",
            "hostname": "localhost",
            "hostnames": [],
            "connected": True,
            "state": "",
        },
    ]


def test_volume_info():
    vols = gluster.parse_volume_info(xml("volume_info_all"))
    assert sorted(vols) == ["sanlock", "save", "vmstore"]
    vmstore = vols["vmstore"]
    assert vmstore["status"] == "Started"
    assert vmstore["type"] == "Replicate"
    assert (vmstore["replica"], vmstore["arbiter"]) == (2, 0)
    assert [b["name"] for b in vmstore["bricks"]] == [
        "hyp1:/mnt/bricks/vmstore/brick",
        "hyp2:/mnt/bricks/vmstore/brick",
    ]
    assert vmstore["options"]["network.ping-timeout"] == "5"
    assert vmstore["options"]["cluster.eager-lock"] == "on"
    assert vols["sanlock"]["options"]["network.frame-timeout"] == "10"


def test_missing_volume_raises_with_gluster_message():
    with pytest.raises(gluster.CommandExecutionError, match="gluster: Volume does not exist"):
        gluster.parse_volume_info(xml("volume_info_missing"))


def test_failed_set_carries_gluster_text():
    with pytest.raises(gluster.CommandExecutionError, match=r"no\.such-option does not exist"):
        gluster.parse_root(xml("volume_set_error"))


def test_not_xml_at_all():
    with pytest.raises(gluster.CommandExecutionError, match="Connection failed"):
        gluster.parse_root("Connection failed. Please check if gluster daemon is operational.\n")


def test_volume_status():
    hyp1, hyp2 = "ca15c66f-db8c-492f-ae00-389cb36f4946", "a03f277c-8862-407b-b91c-6e39be206d38"
    brick = "/mnt/bricks/vmstore/brick"
    assert gluster.parse_volume_status(xml("volume_status_vmstore")) == [
        {"hostname": "hyp1", "path": brick, "peer_uuid": hyp1, "online": True, "port": "60657", "pid": 1023},
        {"hostname": "hyp2", "path": brick, "peer_uuid": hyp2, "online": True, "port": "58241", "pid": 1127},
        {
            "hostname": "Self-heal Daemon",
            "path": "localhost",
            "peer_uuid": hyp1,
            "online": True,
            "port": "N/A",
            "pid": 730,
        },
        {
            "hostname": "Self-heal Daemon",
            "path": "hyp2",
            "peer_uuid": hyp2,
            "online": True,
            "port": "N/A",
            "pid": 690,
        },
    ]


def test_heal_info_clean():
    bricks = gluster.parse_heal_info(xml("heal_info_vmstore"))
    assert [(b["name"], b["status"], b["entries"]) for b in bricks] == [
        ("hyp1:/mnt/bricks/vmstore/brick", "Connected", 0),
        ("hyp2:/mnt/bricks/vmstore/brick", "Connected", 0),
    ]


def test_split_brain_clean():
    assert gluster.parse_heal_info(xml("split_brain_vmstore")) == [
        {"name": "hyp1:/mnt/bricks/vmstore/brick", "status": "Connected", "entries": 0, "files": []},
        {"name": "hyp2:/mnt/bricks/vmstore/brick", "status": "Connected", "entries": 0, "files": []},
    ]


def test_glusterd_info():
    text = "UUID=34de250b-fba2-462f-8f68-e19cdee31111\noperating-version=100000\n"
    assert gluster.parse_glusterd_info(text) == "34de250b-fba2-462f-8f68-e19cdee31111"


def test_split_brain_made_in_the_lab():
    bricks = gluster.parse_heal_info(xml("split_brain_sbtest"))
    assert [(b["name"], b["status"], b["entries"]) for b in bricks] == [
        ("hyp1:/mnt/bricks/sbtest/brick", "Connected", 1),
        ("hyp2:/mnt/bricks/sbtest/brick", "Connected", 1),
    ]
    assert bricks[0]["files"] == ["<gfid:286d8b3c-ab4a-4483-9968-bec4fe255c8f>"]
    assert bricks[1]["files"] == ["/f"]
