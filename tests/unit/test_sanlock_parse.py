"""The sanlock module's parsers, on outputs captured from the lab."""

from pathlib import Path

from tests.loaders import load

sanlock = load("_modules", "sanlock")
FIXTURES = Path(__file__).parent / "fixtures" / "sanlock"
LEASE = "05dff0f75d152ae7668eb55384788d57"


def text(name):
    return (FIXTURES / f"{name}.txt").read_text()


def test_status_of_a_host_holding_a_lease():
    status = sanlock.parse_client_status(text("client_status_holding"))
    assert status["daemon"].endswith(".hyp1")
    assert status["lockspaces"] == [
        {
            "name": "__LIBVIRT__DISKS__",
            "host_id": 1,
            "path": "/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__",
            "offset": 0,
            "state": "joined",
        }
    ]
    assert status["resources"] == [
        {
            "lockspace": "__LIBVIRT__DISKS__",
            "name": LEASE,
            "path": f"/var/lib/libvirt/sanlock/{LEASE}",
            "offset": 0,
            "lver": 3,
            "pid": 1809,
        }
    ]


def test_status_of_an_idle_host():
    status = sanlock.parse_client_status(text("client_status_idle"))
    assert status["resources"] == []
    assert status["lockspaces"][0]["host_id"] == 2


def test_lease_seen_from_the_other_host():
    rows = sanlock.parse_direct_dump(text("direct_dump_held"))
    assert rows == [
        {
            "offset": 0,
            "lockspace": "__LIBVIRT__DISKS__",
            "resource": LEASE,
            "timestamp": 3135,
            "owner": 1,
            "generation": 1,
            "held": True,
        }
    ]


def test_lockspace_hosts():
    rows = sanlock.parse_direct_dump(text("direct_dump_lockspace"))
    assert [(r["owner"], r["resource"].split(".")[-1], r["offset"]) for r in rows] == [
        (1, "hyp1", 0),
        (2, "hyp2", 512),
    ]
