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
    names = [p["hostname"] for p in gluster.parse_peers(xml("pool_list"))]
    assert sorted(names) == ["hyp2", "localhost"]


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
    nodes = gluster.parse_volume_status(xml("volume_status_vmstore"))
    bricks = [n for n in nodes if n["path"].startswith("/")]
    assert [(n["hostname"], n["online"]) for n in bricks] == [("hyp1", True), ("hyp2", True)]
    assert all(n["pid"] > 0 for n in bricks)
    assert any(n["hostname"] == "Self-heal Daemon" for n in nodes)


def test_heal_info_clean():
    bricks = gluster.parse_heal_info(xml("heal_info_vmstore"))
    assert [(b["name"], b["status"], b["entries"]) for b in bricks] == [
        ("hyp1:/mnt/bricks/vmstore/brick", "Connected", 0),
        ("hyp2:/mnt/bricks/vmstore/brick", "Connected", 0),
    ]


def test_split_brain_clean():
    assert all(b["entries"] == 0 for b in gluster.parse_heal_info(xml("split_brain_vmstore")))


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
