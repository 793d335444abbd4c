"""The sanlock module's parsers, on outputs captured from the lab."""

from pathlib import Path

import hv_sanlock_time

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


def test_host_status_rows():
    rows = sanlock.parse_host_status(text("host_status_two_hosts"))
    assert sorted(rows) == [1, 2]
    assert rows[1]["timestamp"] == 41872 and rows[1]["last_live"] == 41874
    assert rows[1]["owner_generation"] == 1 and rows[1]["io_timeout"] == 10
    assert rows[2]["owner_name"].endswith(".hyp2")


def test_host_states_follow_sanlocks_timings():
    """io_timeout 10: live until 80 s without renewal, then fail, dead from 140 s
    (8 x io_timeout + the watchdog fire timeout); a host that left is free."""
    row = sanlock.parse_host_status(text("host_status_two_hosts"))[1]
    seen = row["last_live"]
    state = hv_sanlock_time.host_state
    assert state(row, seen + 79, 60) == "live"
    assert state(row, seen + 80, 60) == "fail"
    assert state(row, seen + 139, 60) == "fail"
    assert state(row, seen + 140, 60) == "dead"
    assert state(row, seen + 100, 20) == "dead"
    assert state(dict(row, timestamp=0), seen + 500, 60) == "free"
