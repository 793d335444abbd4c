"""The keeper's decisions (B1), one look at a time, with the lab's settings
view and the rule of ``_utils/keeper_rule.py``: what a lifecycle event makes of
a guest, when it is started again and where, what it never does (undo a
person's stop, start a guest whose lease another host holds, start anything
while this host may not take guests), the crash-loop bound, the record it
publishes on the shared volume (a temporary directory here).

libvirt's events, sanlock and the guests module are what the lab tests drive
for real (tests/lab/test_keeper.py); here they are fakes with the shapes the
lab's libvirt 9 and the other modules give: the event sequences below are
those recorded in the lab (``virsh destroy``: SHUTDOWN/host then
STOPPED/destroyed; sanlock's kill: SHUTDOWN/host then STOPPED/shutdown;
``kill -9``: STOPPED/failed)."""

import time
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.event

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

keeper = load("_modules", "keeper")
guests = load("_modules", "guests")
sanlock = load("_modules", "sanlock")
hypervisor_pillar = load("_modules", "hypervisor_pillar")
online = load("_modules", "online")
hv_libvirt_events = load("_utils", "hv_libvirt_events")
kr = load("_utils", "keeper_rule")
hv_runtime = load("_utils", "hv_runtime")
RUNNING, SHUT_OFF = (1, 1), (5, 0)


@pytest.fixture
def hv(tmp_path):
    pillar = lab_pillar()
    pillar["hypervisor"]["guests"]["vm1"]["running"] = True  # home hyp1
    pillar["hypervisor"]["keeper"] = {"max_restarts": 2}
    hv = hv_views.build(pillar, layered_parameters("Debian"), "hyp2")
    hv["evacuation"]["state_dir"] = str(tmp_path / "state")
    shared = tmp_path / "save/.hv-keeper"
    hv["keeper"].update(dir=str(shared), hosts_dir=str(shared / "hosts"), stopped_dir=str(shared / "stopped"))
    hv["takeover"]["incidents_dir"] = str(tmp_path / "save/.hv-incidents")
    hv["settings_cache"] = None
    return hv


class Host:
    """hyp2 as the keeper sees it: libvirt's guests and events, sanlock, the guests module."""

    def __init__(self, hv):
        self.hv = hv
        self.doms = {name: SHUT_OFF for name in hv["guests"]}
        self.queued = []
        self.lockspace = True
        self.drained = False
        self.evacuating = False
        self.rows = {1: {"generation": 1, "state": "live"}, 2: {"generation": 1, "state": "live"}}
        self.no_view = False
        self.leases = {}
        self.refuse = {}
        self.broken = {}
        self.calls = []
        self.routed_here = None  # failover IPs the beacon's last poll saw routed here (None: stale)
        self.follow_fails = None  # what guests.follow_failover raises

    # the libvirt source
    def domains(self):
        return dict(self.doms)

    def capacity(self):
        running = [n for n, state in self.doms.items() if state == RUNNING]
        return {"memory": 4096, "cpus": 2, "used_memory": 128 * len(running), "used_vcpus": len(running)}

    def drain(self):
        out, self.queued = self.queued, []
        return out

    def event(self, name, *pairs):
        self.queued += [(name, event, detail) for event, detail in pairs]

    def run(self, name):
        self.doms[name] = RUNNING
        self.event(name, (kr.EVENT_STARTED, 0))

    def stop(self, name, *pairs):
        self.doms[name] = SHUT_OFF
        self.event(name, *pairs)

    # the other modules
    def host_status(self, **_kw):
        if self.no_view:
            raise keeper.CommandExecutionError("sanlock: lockspace not found")
        return self.rows

    def start(self, name, settings_cache=None, keeper=False):
        self.calls.append(("guests.start", name, keeper))
        if name in self.refuse:
            return {"guest": name, "outcome": "elsewhere", "why": self.refuse[name]}
        if name in self.broken:
            return {"guest": name, "outcome": "failed", "why": self.broken[name]}
        self.run(name)
        return {"guest": name, "outcome": "started", "host": "hyp2"}

    def follow_failover(self):
        """Moves here the IPs of the guests running here (what the real one does)."""
        self.calls.append(("guests.follow_failover",))
        if self.follow_fails:
            raise keeper.CommandExecutionError(self.follow_fails)
        running = [n for n, state in self.doms.items() if state == RUNNING]
        owed = [ip for n in running for ip in self.hv["guests"][n]["failover_ips"]]
        moved = [ip for ip in owed if ip not in (self.routed_here or [])]
        if self.routed_here is not None:
            self.routed_here = sorted({*self.routed_here, *moved})
        return {"moved": dict.fromkeys(moved, "hyp2"), "failed": {}, "comment": ""}

    def last_poll(self):
        if self.routed_here is None:
            return {"result": False, "ips": [], "kind": "stale"}
        return {"result": True, "ips": list(self.routed_here), "kind": None}

    def funcs(self):
        """The other modules, each fake behind the real function's signature."""

        def fake(real, answer):
            return create_autospec(real, side_effect=answer)

        return {
            "sanlock.status": fake(sanlock.status, lambda: {"can_take_guests": self.lockspace}),
            "sanlock.host_status": fake(sanlock.host_status, self.host_status),
            "sanlock.guest_lease": fake(sanlock.guest_lease, lambda path: self.leases.get(path)),
            "guests.drained": fake(guests.drained, lambda **kw: {"drained": self.drained, "reason": None}),
            "guests.evacuating": fake(guests.evacuating, lambda **kw: {"evacuating": self.evacuating}),
            "guests.start": fake(guests.start, self.start),
            "guests.follow_failover": fake(guests.follow_failover, self.follow_failover),
            "online.last_poll": fake(online.last_poll, self.last_poll),
            "cmd.run": create_autospec(salt.modules.cmdmod.run, return_value="running"),
            "event.send": fake(
                salt.modules.event.send, lambda tag, data: self.calls.append(("event", tag, data))
            ),
            "hypervisor_pillar.settings": fake(hypervisor_pillar.settings, lambda: self.hv),
        }

    def source(self):
        """This fake host as the keeper's libvirt source: a LibvirtEvents spec."""
        source = create_autospec(hv_libvirt_events.LibvirtEvents, instance=True)
        source.domains.side_effect = self.domains
        source.drain.side_effect = self.drain
        source.capacity.side_effect = self.capacity
        return source

    def started(self):
        return [c[1] for c in self.calls if c[0] == "guests.start"]

    def events(self, tag=None):
        return [
            (c[1].rsplit("/", 1)[-1], c[2])
            for c in self.calls
            if c[0] == "event" and (tag is None or tag in c[1])
        ]


@pytest.fixture
def host(hv):
    return Host(hv)


@pytest.fixture
def configure_loader_modules(host):
    return {keeper: {"__salt__": host.funcs(), "__pillar__": {"hypervisor": {}}}}


@pytest.fixture
def look(hv, host):
    watcher = keeper._keeper(hv, host.source())

    def one():
        return watcher.step([])

    one.watcher = watcher
    return one


def test_a_guest_started_by_hand_and_killed_is_started_again(host, look):
    host.run("vm2")
    assert look()["guests"]["vm2"]["state"] == "running"
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))  # kill -9
    record = look()
    assert host.started() == ["vm2"] and record["guests"]["vm2"]["state"] == "running"
    assert [c[2] for c in host.calls if c[0] == "guests.start"] == [True]  # the keeper's own start
    started = dict(host.events("keeper/started"))["started"]
    assert started["why"] == "qemu died (killed, or crashed)" and started["restarts"] == 1


def test_killed_by_sanlock_it_waits_for_the_lockspace(host, look):
    host.run("vm2")
    look()
    host.lockspace = False
    host.stop("vm2", (kr.EVENT_SHUTDOWN, kr.SHUTDOWN_HOST), (kr.EVENT_STOPPED, kr.STOPPED_SHUTDOWN))
    record = look()
    assert host.started() == [] and record["guests"]["vm2"]["why"] == kr.SANLOCK_KILL
    assert record["acting"]["vm2"] == "waits for hyp2: is not in its sanlock lockspace"
    look()
    assert host.started() == []
    host.lockspace = True
    look()
    assert host.started() == ["vm2"]


def test_a_persons_stop_is_never_undone_unless_the_pillar_says_running(host, look):
    host.run("vm2")
    host.run("vm1")  # running: true (its home is hyp1)
    look()
    destroy = ((kr.EVENT_SHUTDOWN, kr.SHUTDOWN_HOST), (kr.EVENT_STOPPED, kr.STOPPED_DESTROYED))
    host.stop("vm2", *destroy)
    look()
    assert "vm2" not in look.watcher.entries and host.started() == []
    assert dict(host.events("released"))["released"]["why"].startswith("destroyed")
    host.stop("vm1", *destroy)  # behind the cluster's back: the pillar stands
    look()
    assert host.started() == ["vm1"]


def test_a_stop_mark_keeps_a_running_true_guest_down_until_a_person_starts_it(hv, host, look):
    host.run("vm1")
    look()
    mark = f"{hv['keeper']['stopped_dir']}/vm1.json"
    hv_runtime.write_json(
        mark, {"guest": "vm1", "verb": "stop", "host": "hyp2", "at": "2026-12-06T04:00:00+00:00"}
    )
    host.stop("vm1", (kr.EVENT_STOPPED, kr.STOPPED_DESTROYED))  # guests.stop
    look()
    look()
    assert host.started() == [] and "vm1" not in look.watcher.entries
    host.run("vm1")  # a person's virsh start: the mark goes
    look()
    assert hv_runtime.read_json(mark) is None


def test_a_crash_loop_is_bounded(host, look):
    host.run("vm2")
    look()
    for _ in range(2):  # max_restarts: 2
        host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
        look()
    assert host.started() == ["vm2", "vm2"]
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    record = look()
    assert host.started() == ["vm2", "vm2"] and record["guests"]["vm2"]["state"] == "gave_up"
    assert dict(host.events("gave_up"))["gave_up"]["restarts"] == 2
    host.run("vm2")  # a person starts it: counted afresh
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    look()
    assert host.started() == ["vm2", "vm2", "vm2"]


def test_a_host_that_keeps_losing_its_leases_does_not_make_a_crash_loop(host, look):
    """sanlock's kills (this host's fault, not the guest's) are not counted: each time
    the lockspace is back, so is the guest (max_restarts: 2 here)."""
    host.run("vm2")
    look()
    for _ in range(4):
        host.lockspace = False
        host.stop("vm2", (kr.EVENT_SHUTDOWN, kr.SHUTDOWN_HOST), (kr.EVENT_STOPPED, kr.STOPPED_SHUTDOWN))
        look()
        host.lockspace = True
        look()
    assert host.started() == ["vm2"] * 4 and look.watcher.entries["vm2"]["state"] == "running"
    assert look.watcher.entries["vm2"]["restarts"] == []


def test_a_guest_that_fails_to_start_is_retried_within_the_bound(host, look):
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    host.broken["vm2"] = "no such file"
    for _ in range(4):
        look()
    assert look.watcher.entries["vm2"]["state"] == "gave_up"
    assert [e["why"] for _tag, e in host.events("failed")] == ["no such file"]


def test_a_start_its_lease_storage_fails_is_retried_without_counting(host, look):
    """The lease volume unreachable (libvirt's lock driver fails the start) after a kill
    taken for a fault: retried until the storage answers, never counted (max_restarts 2)."""
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    host.broken["vm2"] = (
        "internal error: Process exited prior to exec: libvirt: Lock Driver error : Unable to create"
        " lockspace /var/lib/libvirt/sanlock/04325a9f: Transport endpoint is not connected"
    )
    for _ in range(5):
        look()
    assert (
        look.watcher.entries["vm2"]["state"] == "down" and len(look.watcher.entries["vm2"]["restarts"]) == 0
    )
    del host.broken["vm2"]
    look()
    assert look.watcher.entries["vm2"]["state"] == "running" and len(host.started()) == 6
    assert len(look.watcher.entries["vm2"]["restarts"]) == 1  # the fault itself counts, once


def test_a_lease_held_by_another_live_host_is_never_started_here(host, look):
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    disk = host.hv["guests"]["vm2"]["disk_path"]
    host.leases[disk] = {"held": True, "owner_host_id": 1, "generation": 1}  # taken over by hyp1
    look()
    assert host.started() == [] and "vm2" not in look.watcher.entries
    assert dict(host.events("elsewhere"))["elsewhere"]["runs_on"] == "hyp1"


def test_a_start_sanlock_refuses_is_retried_without_counting(host, look):
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    host.refuse["vm2"] = "runs on another host (sanlock holds its lease there)"
    for _ in range(4):
        look()
    assert host.started() == ["vm2"] * 4 and look.watcher.entries["vm2"]["state"] == "down"
    assert len(host.events("refused")) == 1  # said once per cause
    del host.refuse["vm2"]
    look()
    assert look.watcher.entries["vm2"]["state"] == "running"


def test_nothing_starts_while_this_host_is_drained_or_evacuating(host, look):
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    for flag in ("drained", "evacuating"):
        setattr(host, flag, True)
        look()
        assert host.started() == [], flag
        setattr(host, flag, False)
    look()
    assert host.started() == ["vm2"]


def test_an_open_incident_against_this_host_starts_nothing(hv, host, look):
    """hyp2 was taken over while away: until guests.undrain closes the incident, its
    keeper starts nothing (its takeover watcher marks it drained within a look)."""
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    incident = {"host": "hyp2", "generation": 1, "by": "hyp1", "detected": "2026-12-06T04:00:00+00:00"}
    hv_runtime.write_json(f"{hv['takeover']['incidents_dir']}/hyp2-g1.json", incident)
    look()
    assert host.started() == []
    hv_runtime.write_json(f"{hv['takeover']['incidents_dir']}/hyp2-g1.json", dict(incident, closed="now"))
    look()
    assert host.started() == ["vm2"]


def test_a_running_true_guest_whose_home_is_drained_runs_here_and_its_ips_follow(hv, host, look):
    """vm1's home hyp1 is drained (its published record says so) and vm1 runs nowhere."""
    hv_runtime.write_json(
        f"{hv['keeper']['hosts_dir']}/hyp1.json", {"host": "hyp1", "drained": True, "guests": {}}
    )
    record = look()
    assert host.started() == ["vm1"] and record["acting"]["vm1"] == "started here"
    assert ("guests.follow_failover",) in host.calls


def test_a_running_true_guest_whose_home_can_take_it_is_left_to_its_home(hv, host, look):
    hv_runtime.write_json(
        f"{hv['keeper']['hosts_dir']}/hyp1.json", {"host": "hyp1", "drained": False, "guests": {}}
    )
    look()
    assert host.started() == []


def test_a_guest_found_shut_off_after_a_crash_of_the_host(hv, host, look, monkeypatch):
    """The record (kept across the reboot) says vm2 ran here; libvirt, started afresh,
    has it shut off for no known reason: a fault, started again."""
    hv_runtime.write_json(
        f"{hv['evacuation']['state_dir']}/keeper.json", {"guests": {"vm2": kr_entry("running")}}
    )
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    watcher = keeper._keeper(hv, host.source())
    watcher.step([])
    assert host.started() == []  # not yet: an event may still be on its way
    clock[0] += keeper.hv_keeper.UNEXPLAINED
    watcher.step([])
    assert host.started() == ["vm2"]
    assert "this host or libvirtd stopped" in dict(host.events("keeper/down"))["down"]["why"]


def test_the_shared_volume_unreadable_starts_nothing(hv, host, look, tmp_path):
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    hosts = tmp_path / "save/.hv-keeper/hosts"
    for child in hosts.iterdir():
        child.unlink()
    hosts.rmdir()
    hosts.write_text("")  # listdir fails: NotADirectoryError, an OSError
    record = look()
    assert host.started() == [] and record["acting"]["vm2"].startswith("waits: the shared volume")


def test_the_record_is_published_for_the_others(hv, host, look):
    host.run("vm2")
    look()
    published = hv_runtime.read_json(f"{hv['keeper']['hosts_dir']}/hyp2.json")
    assert published["guests"]["vm2"]["state"] == "running" and published["host"] == "hyp2"
    assert keeper.status()["guests"]["vm2"]["state"] == "running"
    # B8: with its capacity, for the status view's placement.
    assert published["capacity"] == {"memory": 4096, "cpus": 2, "used_memory": 128, "used_vcpus": 1}


def test_one_keeper_per_host(hv):
    with (
        keeper._only_watcher(hv),
        pytest.raises(keeper.CommandExecutionError, match="another keeper"),
        keeper._only_watcher(hv),
    ):
        pass


def kr_entry(state):
    return {"state": state, "since": "2026-12-06T04:00:00+00:00", "why": "started here", "restarts": []}


def test_an_incoming_migration_counts_once_it_ended(host, look):
    """The lab's libvirt on the destination: STARTED/migrated (paused) at the start,
    RESUMED/migrated at the end; a migration that fails stops it there (STOPPED/failed)."""
    host.doms["vm2"] = (kr.STATE_PAUSED, kr.PAUSED_MIGRATION)
    host.event("vm2", (kr.EVENT_STARTED, kr.STARTED_MIGRATED))
    look()
    assert "vm2" not in look.watcher.entries
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))  # its source keeps it
    look()
    assert "vm2" not in look.watcher.entries and host.started() == []
    host.doms["vm2"] = RUNNING
    host.event("vm2", (kr.EVENT_STARTED, kr.STARTED_MIGRATED), (kr.EVENT_RESUMED, kr.RESUMED_MIGRATED))
    look()
    assert look.watcher.entries["vm2"]["why"] == "migrated here"


def test_an_incoming_migration_killed_while_its_qemu_starts_is_not_kept(host, look):
    """Seen in the lab: the destination's domain is "paused (starting up)" for a tenth
    of a second before its STARTED/migrated event; killed then (STOPPED/failed), it
    is no guest of this host's to restart (its source keeps it, or saved it)."""
    host.doms["vm2"] = (kr.STATE_PAUSED, kr.PAUSED_STARTING_UP)
    look()
    assert "vm2" not in look.watcher.entries
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    look()
    look()
    assert "vm2" not in look.watcher.entries and host.started() == []


def test_a_guest_taken_over_while_this_host_was_away_is_forgotten_here(hv, host, look):
    """hyp2 comes back from a long cut: vm2 (down here by sanlock's kill) runs on hyp1,
    whose keeper says so and whose lease proves it: not hyp2's to start."""
    host.run("vm2")
    look()
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_FAILED))
    host.lockspace = False
    look()
    running = {
        "state": "running",
        "since": "2026-12-06T04:00:00+00:00",
        "why": "started here",
        "restarts": [],
    }
    hv_runtime.write_json(
        f"{hv['keeper']['hosts_dir']}/hyp1.json", {"host": "hyp1", "guests": {"vm2": running}}
    )
    host.leases[hv["guests"]["vm2"]["disk_path"]] = {"held": True, "owner_host_id": 1, "generation": 1}
    host.lockspace = True
    look()
    assert host.started() == [] and "vm2" not in look.watcher.entries
    assert dict(host.events("elsewhere"))["elsewhere"]["runs_on"] == "hyp1"


def test_without_a_view_of_the_others_leases_their_guests_are_left_to_them(hv, host, look):
    """Just booted, its lockspace not joined yet: hyp2 sees vm2 running on hyp1 in hyp1's
    record but cannot read the leases: it starts nothing of hyp1's (a lab run once saw
    a host just back start the guests its evacuation had moved away)."""
    running = {
        "state": "running",
        "since": "2026-12-06T04:00:00+00:00",
        "why": "migrated here",
        "restarts": [],
    }
    hv_runtime.write_json(
        f"{hv['keeper']['hosts_dir']}/hyp1.json", {"host": "hyp1", "guests": {"vm2": running}}
    )
    host.no_view = True
    look()
    assert host.started() == [] and look.watcher.entries == {}


def test_a_start_that_fails_for_another_hosts_guest_makes_no_claim(hv, host, look):
    """vm2 ran on hyp1, drained: hyp2 tries it and fails (its disk not there yet). Nothing
    on hyp2's record makes vm2 hyp2's: once hyp1 is no longer drained and vm2 is stopped
    there by a person, hyp2 leaves it down."""
    down = {"state": "down", "since": "2026-12-06T04:00:00+00:00", "why": "qemu died", "restarts": []}
    hv_runtime.write_json(
        f"{hv['keeper']['hosts_dir']}/hyp1.json", {"host": "hyp1", "drained": True, "guests": {"vm2": down}}
    )
    host.broken["vm2"] = "Cannot access storage file"
    look()
    assert host.started().count("vm2") == 1 and "vm2" not in look.watcher.entries
    hv_runtime.write_json(f"{hv['keeper']['hosts_dir']}/hyp1.json", {"host": "hyp1", "guests": {}})
    del host.broken["vm2"]
    look()
    assert host.started().count("vm2") == 1  # not tried again: not kept by anyone now


def _follows(host):
    return [c for c in host.calls if c == ("guests.follow_failover",)]


def test_ips_routed_away_from_a_guest_running_here_are_moved_after_the_grace(hv, host, monkeypatch):
    """vm2 runs here, its IP routed elsewhere (a move that failed at its start): moved
    once the grace is over, then not again; a stale poll moves nothing."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    watcher = keeper._keeper(hv, host.source())
    host.run("vm2")
    watcher.step([])  # the poll is stale: nothing known, nothing owed
    assert watcher.owed == {} and _follows(host) == []
    host.routed_here = []
    watcher.step([])
    ip = hv["guests"]["vm2"]["failover_ips"][0]
    assert watcher.owed == {ip: 1000.0} and _follows(host) == []  # within the grace
    clock[0] += hv["keeper"]["failover_grace"]
    watcher.step([])
    assert _follows(host) == [("guests.follow_failover",)] and host.routed_here == [ip]
    assert dict(host.events("keeper/failover"))["failover"] == {
        "host": "hyp2", "owed": [ip], "moved": [ip], "failed": [],
    }  # fmt: skip
    clock[0] += 600
    watcher.step([])
    assert watcher.owed == {} and len(_follows(host)) == 1


def test_a_failed_follow_is_tried_again_a_minute_later_and_a_guest_gone_owes_nothing(hv, host, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    watcher = keeper._keeper(hv, host.source())
    host.run("vm2")
    host.routed_here, host.follow_fails = [], "the API answers 503"
    watcher.step([])
    clock[0] += hv["keeper"]["failover_grace"]
    watcher.step([])
    assert len(_follows(host)) == 1 and dict(host.events("keeper/failover"))["failover"]["moved"] == []
    clock[0] += keeper.hv_keeper.FOLLOW_EVERY - 1
    watcher.step([])
    assert len(_follows(host)) == 1  # not before a minute
    clock[0] += 1
    watcher.step([])
    assert len(_follows(host)) == 2
    host.stop("vm2", (kr.EVENT_STOPPED, kr.STOPPED_SHUTDOWN))
    clock[0] += 600
    watcher.step([])
    assert watcher.owed == {} and len(_follows(host)) == 2


def test_no_grace_means_the_keeper_never_moves_ips(hv, host, monkeypatch):
    hv["keeper"]["failover_grace"] = 0
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    watcher = keeper._keeper(hv, host.source())
    host.run("vm2")
    host.routed_here = []
    for _ in range(3):
        watcher.step([])
        clock[0] += 600
    assert _follows(host) == []
