"""The keeper rule (B1), pure: why a guest stopped (libvirt's lifecycle events
and shutoff reasons, as the lab's libvirt 9 sends them: ``virsh destroy`` is a
SHUTDOWN from the host then a STOPPED/DESTROYED; sanlock's kill and a person's
``kill`` a SHUTDOWN from the host then a STOPPED/SHUTDOWN; ``kill -9`` a
STOPPED/FAILED), the crash-loop bound, a lease's holder against the hosts'
generations, and which host starts a kept guest that runs nowhere."""

import pytest

from tests.loaders import load

kr = load("_utils", "keeper_rule")
hv_runtime = load("_utils", "hv_runtime")
MEMBERS = ["hyp1", "hyp2", "hyp3"]
ABLE = {"lockspace": True, "drained": False, "evacuating": False, "stopping": False, "held": False}


@pytest.mark.parametrize(
    ("detail", "shutdown", "lost", "kind", "words"),
    [
        (kr.STOPPED_DESTROYED, kr.SHUTDOWN_HOST, False, kr.PERSON, "destroyed"),
        (kr.STOPPED_SHUTDOWN, kr.SHUTDOWN_HOST, True, kr.HOST_FAULT, "killed by sanlock"),
        (kr.STOPPED_SHUTDOWN, kr.SHUTDOWN_HOST, False, kr.FAULT, "signal from the host"),
        (kr.STOPPED_SHUTDOWN, kr.SHUTDOWN_GUEST, False, kr.PERSON, "from inside the guest"),
        (kr.STOPPED_SHUTDOWN, None, False, kr.PERSON, "does not say who"),
        (kr.STOPPED_FAILED, None, False, kr.FAULT, "qemu died"),
        (kr.STOPPED_FAILED, None, True, kr.HOST_FAULT, "killed by sanlock"),
        (kr.STOPPED_CRASHED, None, False, kr.FAULT, "the guest crashed"),
        (kr.STOPPED_MIGRATED, None, False, kr.MOVED, "migrated"),
        (kr.STOPPED_SAVED, None, False, kr.MOVED, "saved"),
        (kr.STOPPED_FROM_SNAPSHOT, None, False, kr.PERSON, "snapshot"),
    ],
)
def test_why_a_guest_stopped(detail, shutdown, lost, kind, words):
    got_kind, why = kr.stop_kind(detail, shutdown, lost)
    assert got_kind == kind and words in why


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (kr.SHUTOFF_DESTROYED, kr.PERSON),
        (kr.SHUTOFF_SHUTDOWN, kr.PERSON),
        (kr.SHUTOFF_MIGRATED, kr.MOVED),
        (kr.SHUTOFF_SAVED, kr.MOVED),
        (kr.SHUTOFF_CRASHED, kr.FAULT),
        (kr.SHUTOFF_FAILED, kr.FAULT),
        (kr.SHUTOFF_DAEMON, kr.HOST_FAULT),
        (kr.SHUTOFF_UNKNOWN, kr.HOST_FAULT),  # libvirtd or the host restarted under it
        (None, kr.HOST_FAULT),
    ],
)
def test_a_stop_the_keeper_did_not_see(reason, kind):
    assert kr.unseen_stop_kind(reason)[0] == kind


def test_the_crash_loop_bound():
    now = 10_000.0
    assert kr.recent([now - 700, now - 100, now - 5], now, 600) == [now - 100, now - 5]
    assert kr.may_restart([now - 100, now - 5], now, 3, 600)
    assert not kr.may_restart([now - 200, now - 100, now - 5], now, 3, 600)
    assert kr.may_restart([now - 900, now - 800, now - 700], now, 3, 600)  # outside the window


HOST_IDS = {1: "hyp1", 2: "hyp2"}


@pytest.mark.parametrize(
    ("lease", "rows", "expected"),
    [
        (None, {}, (None, None)),  # never ran with its lease
        ({"held": False, "owner_host_id": 2, "generation": 4}, {}, (None, None)),
        (
            {"held": True, "owner_host_id": 2, "generation": 4},
            {2: {"generation": 4, "state": "live"}},
            ("hyp2", "live"),
        ),
        (
            {"held": True, "owner_host_id": 2, "generation": 4},
            {2: {"generation": 4, "state": "fail"}},
            ("hyp2", "fail"),
        ),
        # hyp2 joined again since (a new generation): the lease is stale, takeable
        (
            {"held": True, "owner_host_id": 2, "generation": 3},
            {2: {"generation": 4, "state": "live"}},
            (None, None),
        ),
        (
            {"held": True, "owner_host_id": 2, "generation": 4},
            {2: {"generation": 4, "state": "dead"}},
            (None, None),
        ),
        ({"held": True, "owner_host_id": 2, "generation": 4}, {}, (None, None)),
    ],
)
def test_who_holds_a_lease(lease, rows, expected):
    assert kr.lease_holder(lease, HOST_IDS, rows) == expected


def record(host, guests=None, drained=False, evacuating=False, lockspace=True):
    return {"host": host, "drained": drained, "evacuating": evacuating, "lockspace": lockspace,
            "guests": dict(guests or {})}  # fmt: skip


def entry(state="down", why="qemu died (killed, or crashed)"):
    return {"state": state, "since": "2026-12-06T04:00:00+00:00", "why": why, "restarts": []}


def decide(
    name="vm1", running=False, home="hyp1", me="hyp1", mine=None, records=None, states=None, marks=None
):
    records = records if records is not None else {h: record(h) for h in MEMBERS}
    states = states if states is not None else dict.fromkeys(MEMBERS, "live")
    guest = {"home": home, "running": running}
    return kr.decide(name, guest, me, dict(ABLE, **(mine or {})), records, states, marks or {}, MEMBERS)


def test_a_guest_down_by_a_fault_is_restarted_where_it_ran():
    records = {h: record(h) for h in MEMBERS}
    records["hyp2"]["guests"]["vm1"] = entry()
    assert decide(me="hyp2", records=records) == {
        "kept": "it ran on hyp2",
        "start": "hyp2",
        "doing": "hyp2 starts it",
    }
    assert decide(me="hyp1", records=records)["start"] == "hyp2"  # hyp1 leaves it to hyp2


def test_where_it_ran_without_its_lockspace_it_waits_there():
    records = {h: record(h) for h in MEMBERS}
    records["hyp2"]["guests"]["vm1"] = entry(why=kr.SANLOCK_KILL)
    decision = decide(me="hyp2", mine={"lockspace": False}, records=records)
    assert decision["start"] is None and "waits for hyp2" in decision["doing"]
    # the others see hyp2's renewals fail: they wait too (it comes back, or is taken over)
    states = {"hyp1": "live", "hyp2": "fail", "hyp3": "live"}
    decision = decide(me="hyp1", records=records, states=states)
    assert decision["start"] is None and "renewals fail" in decision["doing"]
    states["hyp2"] = "dead"
    assert "takeover" in decide(me="hyp1", records=records, states=states)["doing"]


def test_a_drained_or_cleanly_gone_host_yields_to_the_home_then_the_first_other():
    records = {h: record(h) for h in MEMBERS}
    records["hyp2"] = record("hyp2", {"vm1": entry()}, drained=True)
    assert decide(me="hyp1", records=records)["start"] == "hyp1"  # its home
    assert decide(me="hyp2", mine={"drained": True}, records=records)["start"] == "hyp1"
    records["hyp1"]["drained"] = True
    assert decide(me="hyp3", records=records)["start"] == "hyp3"  # home drained too: the first other
    records["hyp1"]["drained"] = False
    states = {"hyp1": "live", "hyp2": "free", "hyp3": "live"}  # hyp2 left its lockspace cleanly
    records["hyp2"]["drained"] = False
    assert decide(me="hyp3", records=records, states=states)["start"] == "hyp1"


def test_a_running_true_guest_that_runs_nowhere_goes_home_else_elsewhere():
    assert decide(running=True, me="hyp2")["start"] == "hyp1"
    records = {h: record(h) for h in MEMBERS}
    records["hyp1"]["drained"] = True
    decision = decide(running=True, me="hyp2", records=records)
    assert decision["start"] == "hyp2" and "hyp1 cannot" in decision["doing"]
    states = {"hyp1": "dead", "hyp2": "live", "hyp3": "live"}  # it never ran: no takeover knows it
    assert decide(running=True, me="hyp3", states=states)["start"] == "hyp2"
    guest = {"home": "hyp1", "running": True}  # without a majority, "dead" may be a partition
    no_majority = kr.decide("vm1", guest, "hyp3", ABLE, {}, states, {}, MEMBERS, takeover_on=False)
    assert no_majority["start"] is None and "takeover is off" in no_majority["doing"]
    states["hyp1"] = "fail"  # its home may be back within seconds
    assert decide(running=True, me="hyp2", states=states)["start"] is None


def test_what_is_not_kept():
    assert decide()["kept"] is None  # running: false, no keeper saw it run
    mark = {"guest": "vm1", "verb": "stop", "host": "hyp1", "at": "2026-12-06T04:00:00+00:00"}
    decision = decide(running=True, marks={"vm1": mark})
    assert decision["kept"] is None and "guests.stop on hyp1" in decision["doing"]
    records = {h: record(h) for h in MEMBERS}
    records["hyp1"]["guests"]["vm1"] = entry(state="gave_up")
    decision = decide(running=True, records=records)
    assert decision["start"] is None and "guests.start vm1" in decision["doing"]


def test_no_host_may_take_it():
    records = {h: record(h, drained=True) for h in MEMBERS}
    decision = decide(running=True, me="hyp1", mine={"drained": True}, records=records)
    assert decision["start"] is None and decision["doing"].startswith("no host may take it")


def test_the_newest_record_of_a_guest_is_its_holder():
    records = {"hyp1": record("hyp1", {"vm1": entry("running")}), "hyp2": record("hyp2", {"vm1": entry()})}
    records["hyp2"]["guests"]["vm1"]["since"] = "2026-12-06T05:00:00+00:00"
    assert kr.holder("vm1", records)[0] == "hyp2"
    assert kr.holder("vm9", records) == (None, None)


def test_records_are_written_whole(tmp_path):
    path = tmp_path / "hosts" / "hyp1.json"
    hv_runtime.write_json(str(path), {"host": "hyp1"})
    (tmp_path / "hosts" / "hyp2.json").write_text("{not whole")
    assert kr.read_dir(str(tmp_path / "hosts")) == {"hyp1": {"host": "hyp1"}}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert kr.read_dir(str(tmp_path / "nowhere")) == {}


def test_a_record_from_the_shared_volume_is_kept_to_what_the_rule_reads(tmp_path):
    """Another host wrote it: only the pillar's guests, the rule's states, values of the
    right type; nothing else reaches a decision."""
    guests = {"vm1": {}, "vm2": {}}
    junk = {
        "host": "hyp2",
        "drained": "yes",  # not true: not drained
        "lockspace": True,
        "guests": {
            "vm1": {
                "state": "down",
                "since": 5,
                "why": "qemu died",
                "restarts": [1.5, "x", True],
                "extra": 1,
            },
            "vm2": {"state": "exploded"},
            "vm9": {"state": "down"},  # not the cluster's
        },
        "acting": {"vm1": "hyp2 starts it", "vm2": ["not", "text"]},
        "capacity": {"memory": 4096, "cpus": True, "used_memory": 0, "used_vcpus": 0},
        "rm -rf": "/",
    }
    hv_runtime.write_json(str(tmp_path / "hosts" / "hyp2.json"), junk)
    hv_runtime.write_json(str(tmp_path / "hosts" / "intruder.json"), junk)
    (tmp_path / "hosts" / "hyp1.json").write_text("[1, 2]")
    records = kr.read_records(str(tmp_path / "hosts"), ["hyp1", "hyp2"], guests)
    assert set(records) == {"hyp2"}  # not a host of the cluster, or not a record: not read
    hyp2 = records["hyp2"]
    assert hyp2["drained"] is False and hyp2["lockspace"] is True and "rm -rf" not in hyp2
    assert hyp2["guests"] == {
        "vm1": {"state": "down", "since": None, "why": "qemu died", "restarts": [1.5], "counted": True}
    }
    assert hyp2["acting"] == {"vm1": "hyp2 starts it"}
    assert hyp2["capacity"] is None  # a bool is no CPU count
    hv_runtime.write_json(
        str(tmp_path / "stopped" / "vm1.json"), {"guest": "vm1", "verb": ["stop"], "at": "now"}
    )
    hv_runtime.write_json(str(tmp_path / "stopped" / "vm9.json"), {"guest": "vm9"})
    assert kr.read_marks(str(tmp_path / "stopped"), guests) == {
        "vm1": {"guest": "vm1", "verb": None, "host": None, "at": "now"}
    }


@pytest.mark.parametrize(
    ("why", "host_side"),
    [
        (
            "libvirt: Lock Driver error : Unable to create lockspace /x: Transport endpoint is not connected",
            True,
        ),
        ('qemu-system-x86_64: -device {...}: Failed to get "write" lock', True),
        ("Failed to acquire lock: No space left on device", True),
        ("Cannot access storage file '/var/lib/libvirt/images/vm2.img': No such file or directory", False),
        (None, False),
    ],
)
def test_a_start_failed_on_this_hosts_side_is_told_apart(why, host_side):
    assert kr.host_trouble(why) is host_side
