"""The cluster status view (B3), pure: each host's part, the shared facts and
the hosts and guests of the lab pillar's real settings put together; the problems it names (a host that
does not answer, a failed part, a host that cannot take guests, a guest on two
hosts, a wanted guest down with no save file, a running guest with a save
file, failover routing and proxy ARP that disagree, an IP routed outside the
cluster, a gluster peer disconnected, a volume stopped or in split-brain, a
host without quorum, another host's sanlock lease seen failing or dead, an
open takeover incident, a fence that failed, a guest of an incident not
started); the arbiter, whose guest-side parts are never a problem; the age of
a part from the mine; the table. The takeover's parts have the shapes
``takeover.quorum``, ``takeover.peers`` and ``takeover.incidents`` document."""

import datetime

from tests.loaders import hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar, lab_pillar_without_arbiter

cv = load("_utils", "cluster_view")
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)
IP1, IP2 = "203.0.113.101", "203.0.113.102"


HOST_IDS = {"hyp1": 1, "hyp2": 2}


def quorum(ok=True):
    """``takeover.quorum`` of a host that sees the 3 gluster nodes (or only itself)."""
    if ok:
        return {"quorum": True, "connected": 3, "of": 3, "lockspace": True,
                "reason": "sees 3 of the 3 gluster nodes, lockspace joined"}  # fmt: skip
    return {"quorum": False, "connected": 1, "of": 3, "lockspace": True,
            "reason": "sees 1 of the 3 gluster nodes: not a majority"}  # fmt: skip


def leases(host, state="live", silent=2.0):
    """``takeover.peers`` of ``host``: the other host's lease (generation 3) in ``state``."""
    other = "hyp2" if host == "hyp1" else "hyp1"
    row = {"name": f"uuid.{other}", "generation": 3, "timestamp": 41872, "io_timeout": 10}
    return {other: dict(row, host_id=HOST_IDS[other], state=state, silent=silent)}


def incident(host="hyp1", by="hyp2", closed=None, **extra):
    """A ``takeover.incidents`` record: ``host`` taken over by ``by``, done."""
    record = {
        "host": host,
        "host_id": HOST_IDS[host],
        "generation": 3,
        "detected": "2024-05-01T11:50:00+00:00",
        "by": by,
        "guests": {"vm1": {"outcome": "started", "host": by, "at": "2024-05-01T11:50:02+00:00"}},
        "failover": {"moved": [IP1], "at": "2024-05-01T11:50:04+00:00"},
        "fence": {
            "result": True,
            "comment": f"{host}: rescue boot set, reboot sent",
            "image": "debian-12",
            "server_id": 1001,
            "at": "2024-05-01T11:50:06+00:00",
        },
        "done": "2024-05-01T11:50:06+00:00",
        "closed": closed,
    }
    record.update(extra)
    return record


def part(host, guests=None, saved=(), proxyarp=(), drained=False, ready=True, **extra):
    out = {
        "host": host,
        "time": "2024-05-01T12:00:00+00:00",
        "drained": {"drained": drained, "since": None, "reason": "operator" if drained else None},
        "guests": dict(guests or {}),
        "saved": sorted(saved),
        "sanlock": {
            "can_take_guests": ready,
            "reason": "lockspace __LIBVIRT__DISKS__ joined as host 1"
            if ready
            else "the sanlock daemon is not running",
            "lockspaces": ["__LIBVIRT__DISKS__"],
            "leases_held": [],
        },
        "proxyarp": list(proxyarp),
        "quorum": quorum(),
        "sanlock_hosts": leases(host),
        "keeper": keeper(host),
    }
    out.update(extra)
    return out


def keeper(host, guests=None, acting=None, lockspace=True):
    """``keeper.status`` of ``host``: the guests its keeper keeps, and what it does about them."""
    return {
        "enabled": True,
        "host": host,
        "at": "2024-05-01T12:00:00+00:00",
        "lockspace": lockspace,
        "drained": False,
        "evacuating": False,
        "guests": dict(guests or {}),
        "acting": dict(acting or {}),
    }


def down(why, state="down", restarts=()):
    return {"state": state, "since": "2024-05-01T11:59:30+00:00", "why": why, "restarts": list(restarts)}


def arbiter_part(host="arb1"):
    """``cluster.local`` on the arbiter: none of the guest-side parts."""
    keys = ("drained", "guests", "saved", "sanlock", "proxyarp", "quorum", "sanlock_hosts", "keeper")
    return dict({"host": host, "time": "2024-05-01T12:00:00+00:00"}, **dict.fromkeys(keys))


def shared(
    routes=None, split_brain=0, connected=True, status="Started", incidents=(), records=None, marks=None
):
    rows = [{"ip": ip, "api_host": host, "destination": None, "proxyarp_hosts": [], "ok": True}
            for ip, host in (routes or {}).items()]  # fmt: skip
    return {
        "host": "hyp1",
        "time": "2024-05-01T12:00:00+00:00",
        "peers": [{"hostname": "hyp2", "connected": connected, "state": "Peer in Cluster"}],
        "volumes": {
            "vmstore": {"status": status, "heal_entries": 0, "split_brain": split_brain},
            "save": {"status": "Started", "heal_entries": 2, "split_brain": 0},
        },
        "lockspace": {1: {"name": "a.hyp1", "timestamp": 10}, 2: {"name": "b.hyp2", "timestamp": 11}},
        "failover": {"ips": rows, "mismatches": 0, "unreported": []},
        "incidents": list(incidents),
        "keeper": {"records": dict(records or {}), "stop_marks": dict(marks or {})},
    }


def settings(pillar):
    """The real settings of ``pillar`` on hyp1, with vm1 kept running and vm2 not (no vm3, vm4)."""
    guests = pillar["hypervisor"]["guests"]
    guests["vm1"]["running"], guests["vm2"]["running"] = True, False
    del guests["vm3"], guests["vm4"]
    return hv_views.build(pillar, layered_parameters("Debian"), "hyp1")


SETTINGS = settings(lab_pillar_without_arbiter())
HOSTS = cv.hosts_config(SETTINGS)
GUESTS = SETTINGS["guests"]
WITH_ARBITER = cv.hosts_config(settings(lab_pillar()))


def test_the_hosts_of_the_settings():
    arbiter = {"arb1": {"arbiter": True}}
    assert cv.hosts_config(SETTINGS) == {"hyp1": {"arbiter": False}, "hyp2": {"arbiter": False}}
    assert cv.hosts_config(settings(lab_pillar())) == dict(cv.hosts_config(SETTINGS), **arbiter)


def assemble(parts, shared_part=None, hosts=HOSTS, guests=GUESTS):
    return cv.assemble(parts, shared_part or shared({IP1: "hyp1"}), hosts, guests, now=NOW)


def healthy():
    return {
        "hyp1": part("hyp1", {"vm1": "running", "vm2": "shut off"}, proxyarp=[IP1]),
        "hyp2": part("hyp2", {"vm2": "shut off"}),
    }


def test_a_healthy_cluster():
    view = assemble(healthy())
    assert view["problems"] == []
    hyp1 = view["hosts"]["hyp1"]
    assert hyp1["up"] and hyp1["source"] == "live" and hyp1["age"] == 0 and hyp1["drained"] is False
    assert hyp1["guests_running"] == ["vm1"] and hyp1["guests_defined"] == ["vm1", "vm2"]
    assert hyp1["failover"] == {"api": [IP1], "proxyarp": [IP1], "mismatch": []}
    assert view["hosts"]["hyp2"]["failover"] == {"api": [], "proxyarp": [], "mismatch": []}
    assert view["guests"] == {
        "vm1": {
            "running_on": ["hyp1"],
            "saved": False,
            "home": "hyp1",
            "wanted_running": True,
            "kept_by": None,
            "stopped_by_person": None,
            "problem": None,
        },
        "vm2": {
            "running_on": [],
            "saved": False,
            "home": "hyp1",
            "wanted_running": False,
            "kept_by": None,
            "stopped_by_person": None,
            "problem": None,
        },
    }
    assert view["volumes"]["vmstore"] == {"status": "Started", "heal_entries": 0, "split_brain": 0}
    assert view["lockspace"][2]["name"] == "b.hyp2"
    assert hyp1["quorum"] == quorum()
    assert hyp1["sanlock_hosts"] == {"hyp2": {"host_id": 2, "generation": 3, "state": "live", "silent": 2.0}}
    assert view["incidents"] == []


def test_a_host_that_does_not_answer():
    parts = healthy()
    del parts["hyp1"]
    view = assemble(parts)
    assert view["hosts"]["hyp1"]["up"] is False
    assert view["hosts"]["hyp1"]["failover"] == {"api": [IP1], "proxyarp": None, "mismatch": []}
    assert view["problems"] == [
        "host hyp1 does not answer",
        f"failover IPs routed to hyp1, which does not answer: {IP1}",
        "guest vm1 is down and has no save file (no answer from hyp1)",
    ]


def test_a_guest_on_two_hosts_and_a_stale_save_file():
    parts = healthy()
    parts["hyp2"]["guests"] = {"vm1": "paused", "vm2": "running"}
    parts["hyp2"]["saved"] = ["vm2"]
    view = assemble(parts)
    assert view["guests"]["vm1"]["running_on"] == ["hyp1", "hyp2"]
    assert "guest vm1 runs on 2 hosts at once: hyp1, hyp2" in view["problems"]
    assert view["guests"]["vm2"]["saved"] is True
    assert view["guests"]["vm2"]["problem"].startswith("runs on hyp2 and has a save file too")


def test_a_saved_guest_is_not_a_problem_and_an_unknown_one_is_listed():
    parts = healthy()
    parts["hyp1"]["guests"] = {"other": "running"}
    parts["hyp2"]["saved"] = ["vm1"]
    view = assemble(parts)
    assert view["problems"] == []
    assert view["guests"]["vm1"]["saved"] and view["guests"]["vm1"]["running_on"] == []
    assert view["guests"]["other"] == {
        "running_on": ["hyp1"], "saved": False, "home": None, "wanted_running": None, "kept_by": None,
        "stopped_by_person": None, "problem": None,
    }  # fmt: skip


def test_a_kept_guest_down_says_why_and_what_the_keeper_does():
    """B1: vm2 (not running: true) ran on hyp2 and was killed by sanlock: the problem says
    since when and why, and what hyp2's keeper does; hyp2's own part (live) wins over
    what it published on the shared volume (older)."""
    parts = healthy()
    parts["hyp1"]["guests"] = {"vm1": "running", "vm2": "shut off"}
    killed = down("killed by sanlock: this host lost its lease storage")
    waits = {"vm2": "waits for hyp2: is not in its sanlock lockspace"}
    parts["hyp2"]["keeper"] = keeper("hyp2", {"vm2": killed}, waits, lockspace=False)
    stale = keeper("hyp2", {"vm2": down("running", state="running")})
    view = assemble(parts, shared({IP1: "hyp1"}, records={"hyp2": stale}))
    assert view["guests"]["vm2"]["kept_by"] == ["hyp2"]
    assert view["problems"] == [
        "guest vm2 is down since 2024-05-01T11:59:30+00:00 on hyp2 (killed by sanlock: this host lost its"
        " lease storage); keeper on hyp2: waits for hyp2: is not in its sanlock lockspace"
    ]
    row = next(line for line in cv.table(view).splitlines() if line.startswith("  vm2 "))
    assert row.split()[4] == "hyp2"  # the KEPT column: hyp2's keeper keeps it


def test_a_guest_left_down_after_a_crash_loop_and_one_a_person_stopped():
    """A guest its keeper gave up on is a problem naming guests.start; a running: true guest
    a person stopped (its stop mark) is no problem, and the table says who stopped it."""
    parts = healthy()
    parts["hyp1"]["guests"] = {"vm1": "shut off", "vm2": "shut off"}
    loop = down("qemu died (killed, or crashed), after 3 restarts", state="gave_up", restarts=[1, 2, 3])
    parts["hyp1"]["keeper"] = keeper("hyp1", {"vm2": loop})
    mark = {"guest": "vm1", "verb": "stop", "host": "hyp1", "at": "2024-05-01T11:00:00+00:00"}
    view = assemble(parts, shared({IP1: "hyp1"}, marks={"vm1": mark}))
    assert view["problems"] == [
        "guest vm2 was left down on hyp1 since 2024-05-01T11:59:30+00:00: it kept stopping (qemu died"
        " (killed, or crashed), after 3 restarts); `guests.start vm2` to try again"
    ]
    assert (
        view["guests"]["vm1"]["wanted_running"] is False
        and view["guests"]["vm1"]["stopped_by_person"] == mark
    )
    assert "no: guests.stop at 2024-05-01T11:00:00+00:00" in cv.table(view)


def test_failover_mismatch_and_an_ip_routed_elsewhere():
    parts = healthy()
    parts["hyp2"]["proxyarp"] = [IP1]
    view = assemble(parts, shared({IP1: "hyp1", IP2: None}))
    assert view["hosts"]["hyp2"]["failover"] == {"api": [], "proxyarp": [IP1], "mismatch": [IP1]}
    assert view["problems"] == [
        f"failover IPs of hyp2: the API routes none there, its proxy ARP answers for {IP1}",
        f"failover IP {IP2} is routed to no cluster host (nowhere)",
    ]


def test_failed_parts_and_shared_facts():
    parts = healthy()
    parts["hyp2"]["guests"] = {"error": "guests.list_local is not available here (saltutil.sync_modules)"}
    parts["hyp2"]["proxyarp"] = {"error": "no such file"}
    facts = shared({IP1: "hyp1"}, split_brain=3, connected=False)
    facts["failover"] = {"error": "the provider's API answered 503"}
    facts["volumes"]["save"] = {"status": "Stopped", "error": "gluster: Volume save is not started"}
    view = assemble(parts, facts)
    assert view["hosts"]["hyp2"]["errors"] == {
        "guests": "guests.list_local is not available here (saltutil.sync_modules)",
        "proxyarp": "no such file",
    }
    assert view["hosts"]["hyp1"]["failover"] == {"api": None, "proxyarp": [IP1], "mismatch": []}
    assert view["problems"] == [
        "host hyp2: guests: guests.list_local is not available here (saltutil.sync_modules)",
        "host hyp2: proxyarp: no such file",
        "failover: the provider's API answered 503",
        "gluster peer hyp2 is not connected (Peer in Cluster)",
        "volume save is Stopped",
        "volume save: gluster: Volume save is not started",
        "volume vmstore: 3 entries in split-brain",
    ]


def test_a_whole_answer_that_failed_and_no_shared_facts():
    parts = healthy()
    parts["hyp2"] = {"error": "'cluster.local' is not available."}
    view = assemble(parts, {"error": "no host answered cluster.shared"})
    assert view["hosts"]["hyp2"]["up"] is True
    assert view["hosts"]["hyp2"]["errors"] == {"cluster.local": "'cluster.local' is not available."}
    assert view["volumes"] == {"error": "no host answered cluster.shared"}
    assert view["problems"] == [
        "host hyp2: cluster.local: 'cluster.local' is not available.",
        "peers: no host answered cluster.shared",
        "volumes: no host answered cluster.shared",
        "lockspace: no host answered cluster.shared",
        "failover: no host answered cluster.shared",
        "incidents: no host answered cluster.shared",
        "keeper: no host answered cluster.shared",
    ]


def test_a_host_that_cannot_take_guests_unless_it_is_the_arbiter():
    parts = healthy()
    parts["hyp2"] = part("hyp2", ready=False)
    assert assemble(parts)["problems"] == ["host hyp2 cannot take guests: the sanlock daemon is not running"]
    hosts = cv.hosts_config({"hosts": {"hyp1": {}, "hyp2": {"role": "arbiter"}}})
    assert hosts == {"hyp1": {"arbiter": False}, "hyp2": {"arbiter": True}}
    assert assemble(parts, hosts=hosts)["problems"] == []


def test_a_host_without_quorum_and_leases_seen_failing_or_dead():
    parts = healthy()
    parts["hyp1"]["quorum"] = quorum(False)
    parts["hyp1"]["sanlock_hosts"] = leases("hyp1", "fail", 85.0)
    parts["hyp2"]["sanlock_hosts"] = leases("hyp2", "dead", 142.5)
    view = assemble(parts)
    assert view["hosts"]["hyp1"]["quorum"]["quorum"] is False
    assert view["hosts"]["hyp2"]["sanlock_hosts"] == {
        "hyp1": {"host_id": 1, "generation": 3, "state": "dead", "silent": 142.5}
    }
    assert view["problems"] == [
        "host hyp1 has no quorum: sees 1 of the 3 gluster nodes: not a majority",
        "host hyp1 sees the sanlock host lease of hyp2 failing (no renewal for 85 s)",
        "host hyp2 sees the sanlock host lease of hyp1 dead (no renewal for 142.5 s)",
    ]
    parts["hyp1"] = part("hyp1", {"vm1": "running"}, proxyarp=[IP1], ready=False)
    # its lockspace not joined: its quorum lost too, said once
    parts["hyp1"]["quorum"] = dict(quorum(False), lockspace=False, reason="the sanlock daemon is not running")
    assert assemble(parts)["problems"] == [
        "host hyp1 cannot take guests: the sanlock daemon is not running",
        "host hyp2 sees the sanlock host lease of hyp1 dead (no renewal for 142.5 s)",
    ]


def test_free_or_unknown_leases_are_no_problem_and_the_takeover_parts_fail_alone():
    parts = healthy()
    parts["hyp1"]["sanlock_hosts"] = leases("hyp1", "free", None)
    parts["hyp1"]["quorum"] = {"error": "takeover.quorum is not available here (saltutil.sync_modules)"}
    parts["hyp2"]["sanlock_hosts"] = {"error": "sanlock client host_status: exit code 1, no output"}
    parts["hyp2"]["quorum"] = None  # no takeover module there
    view = assemble(parts)
    assert view["hosts"]["hyp2"]["quorum"] is None
    assert view["problems"] == [
        "host hyp1: quorum: takeover.quorum is not available here (saltutil.sync_modules)",
        "host hyp2: sanlock_hosts: sanlock client host_status: exit code 1, no output",
    ]


def test_an_open_incident_until_the_host_is_undrained():
    parts = healthy()
    parts["hyp1"] = part("hyp1", drained=True)
    parts["hyp2"]["guests"] = {"vm1": "running"}
    parts["hyp2"]["proxyarp"] = [IP1]
    view = assemble(parts, shared({IP1: "hyp2"}, incidents=[incident()]))
    assert view["incidents"] == [
        {
            "host": "hyp1",
            "generation": 3,
            "detected": "2024-05-01T11:50:00+00:00",
            "by": "hyp2",
            "guests": {"vm1": {"outcome": "started", "why": None}},
            "failover": {"moved": [IP1], "error": None},
            "fence": {"result": True, "comment": "hyp1: rescue boot set, reboot sent"},
            "refused": None,
            "unplaced": {},
            "done": "2024-05-01T11:50:06+00:00",
            "closed": None,
        }
    ]
    assert view["problems"] == [
        "host hyp1 was taken over by hyp2 at 2024-05-01T11:50:00+00:00: undrain it when repaired"
    ]
    closed = incident(closed="2024-05-01T11:55:00+00:00")
    assert assemble(parts, shared({IP1: "hyp2"}, incidents=[closed]))["problems"] == []


def test_an_incident_with_a_guest_not_started_ips_not_moved_and_a_failed_fence():
    record = incident(
        guests={
            "vm1": {"outcome": "started", "host": "hyp2", "at": "2024-05-01T11:50:02+00:00"},
            "vm3": {
                "outcome": "elsewhere",
                "why": "sanlock holds its lease there",
                "at": "2024-05-01T11:50:02",
            },
        },
        failover={"moved": [], "error": "the provider's API answered 503", "ips": [IP1]},
        fence={"result": False, "comment": "hyp1: the API refused the rescue boot", "at": "2024-05-01T11:51"},
        done=None,
    )
    older = incident(fence={"result": False, "comment": "old"}, closed="2024-04-01T00:00:00+00:00")
    view = assemble(healthy(), shared({IP1: "hyp1"}, incidents=[record, older]))
    assert view["incidents"][0]["guests"]["vm3"] == {
        "outcome": "elsewhere",
        "why": "sanlock holds its lease there",
    }
    assert view["problems"] == [
        "host hyp1 was taken over by hyp2 at 2024-05-01T11:50:00+00:00: undrain it when repaired",
        "guest vm3 of hyp1 was not started on hyp2: elsewhere (sanlock holds its lease there)",
        "the failover IPs of hyp1 were not moved to hyp2: the provider's API answered 503",
        "fencing hyp1 failed: hyp1: the API refused the rescue boot",
    ]  # the closed one is history


def test_an_incident_the_survivor_refused_and_then_took_over():
    refused = incident(
        guests={}, failover=None, fence=None, done=None, refused="hyp2 is drained: it takes no guests"
    )
    view = assemble(healthy(), shared({IP1: "hyp1"}, incidents=[refused]))
    assert view["incidents"][0]["refused"] == "hyp2 is drained: it takes no guests"
    assert view["problems"] == [
        "host hyp1 died at 2024-05-01T11:50:00+00:00 and was not taken over:"
        " hyp2 is drained: it takes no guests"
    ]
    later = incident(refused="hyp2 is drained: it takes no guests")  # undrained, the next pass took over
    view = assemble(healthy(), shared({IP1: "hyp1"}, incidents=[later]))
    assert view["problems"] == [
        "host hyp1 was taken over by hyp2 at 2024-05-01T11:50:00+00:00: undrain it when repaired"
    ]


def test_incidents_not_read_or_failed():
    facts = shared({IP1: "hyp1"})
    facts["incidents"] = None  # read on the arbiter, or no takeover module
    view = assemble(healthy(), facts)
    assert view["incidents"] is None and view["problems"] == []
    facts["incidents"] = {"error": "[Errno 107] Transport endpoint is not connected"}
    view = assemble(healthy(), facts)
    assert view["problems"] == ["incidents: [Errno 107] Transport endpoint is not connected"]


def test_the_arbiter_parts_are_never_a_problem():
    parts = dict(healthy(), arb1=arbiter_part())
    view = assemble(parts, hosts=WITH_ARBITER)
    assert view["problems"] == []
    assert view["hosts"]["arb1"]["arbiter"] and view["hosts"]["arb1"]["quorum"] is None
    # what an older cluster.local said there (each part tried, and failing): still none
    parts["arb1"] = part(
        "arb1",
        ready=False,
        guests={"error": "libvirt: Failed to connect socket to '/var/run/libvirt/virtqemud-sock'"},
        quorum=dict(quorum(False), lockspace=False, reason="the sanlock daemon is not running"),
        sanlock_hosts={"error": "sanlock is not installed (package sanlock)"},
    )
    assert assemble(parts, hosts=WITH_ARBITER)["problems"] == []
    facts = shared({IP1: "hyp1", IP2: "arb1"})
    assert assemble(parts, facts, hosts=WITH_ARBITER)["problems"] == [
        f"failover IPs routed to the arbiter arb1, which carries no guest: {IP2}"
    ]
    parts["arb1"] = {"error": "'cluster.local' is not available."}
    assert assemble(parts, hosts=WITH_ARBITER)["problems"] == [
        "host arb1: cluster.local: 'cluster.local' is not available."
    ]


def test_a_part_from_the_mine_has_its_age():
    parts = healthy()
    parts["hyp2"] = dict(part("hyp2", time="2024-05-01T11:58:30+00:00", drained=True), source="mine")
    host = assemble(parts)["hosts"]["hyp2"]
    assert (host["source"], host["age"], host["drained"], host["drain_reason"]) == (
        "mine",
        90,
        True,
        "operator",
    )


def test_table():
    parts = healthy()
    parts["hyp2"] = dict(part("hyp2", time="2024-05-01T11:58:30+00:00", drained=True), source="mine")
    text = cv.table(assemble(parts))
    assert text.splitlines() == [
        "Hosts",
        "  HOST  UP   DRAINED         SANLOCK  QUORUM   HOST LEASES  RUNNING  DEFINED  SOURCE",
        "  hyp1  yes  no              ok       yes 3/3  hyp2 live    vm1      2        live",
        "  hyp2  yes  yes (operator)  ok       yes 3/3  hyp1 live    -        0        mine, 90 s old",
        "",
        "Volumes",
        "  VOLUME   STATUS   TO HEAL  SPLIT-BRAIN",
        "  save     Started  2        0",
        "  vmstore  Started  0        0",
        "",
        "Guests",
        "  GUEST  HOME  RUNNING ON  SAVED  KEPT    PROBLEM",
        "  vm1    hyp1  hyp1        no     pillar  -",
        "  vm2    hyp1  -           no     -       -",
        "",
        "Failover IPs",
        "  HOST  API ROUTES HERE  PROXY ARP      MISMATCH",
        f"  hyp1  {IP1}    {IP1}  -",
        "  hyp2  -                -              -",
        "",
        "Incidents",
        "  (none)",
        "",
        "Problems",
        "  (none)",
    ]


def test_table_of_a_host_down_and_failed_parts():
    parts = healthy()
    del parts["hyp2"]
    parts["hyp1"]["sanlock"] = {"error": "boom"}
    view = assemble(parts, {"error": "no host answered cluster.shared"}, guests={})
    text = cv.table(view)
    assert "  hyp2  no   ?        ?        ?        ?            -        -        -" in text
    assert "  hyp1  yes  no       error    yes 3/3  hyp2 live    vm1      2        live" in text
    assert "  ?       error: no host answered cluster.shared" in text
    assert "Failover IPs\n  error: no host answered cluster.shared" in text
    assert "Incidents\n  error: no host answered cluster.shared" in text
    assert "  - host hyp2 does not answer" in text


def test_table_of_the_takeover():
    hosts = WITH_ARBITER
    parts = {"arb1": arbiter_part(), "hyp2": part("hyp2", {"vm1": "running"}, proxyarp=[IP1])}
    parts["hyp2"]["sanlock_hosts"] = leases("hyp2", "dead", 142.5)
    parts["hyp2"]["quorum"] = dict(
        quorum(), connected=2, reason="sees 2 of the 3 gluster nodes, lockspace joined"
    )
    fence_failed = incident(fence={"result": False, "comment": "the API answered 503"}, done=None)
    older = incident(detected="2024-04-01T08:00:00+00:00", closed="2024-04-01T09:00:00+00:00")
    view = assemble(parts, shared({IP1: "hyp2"}, incidents=[fence_failed, older]), hosts=hosts)
    lines = cv.table(view).splitlines()
    assert lines[:5] == [
        "Hosts",
        "  HOST  UP   DRAINED  SANLOCK  QUORUM   HOST LEASES        RUNNING  DEFINED  SOURCE",
        "  arb1  yes  -        arbiter  -        -                  -        -        live",
        "  hyp1  no   ?        ?        ?        ?                  -        -        -",
        "  hyp2  yes  no       ok       yes 2/3  hyp1 dead 142.5 s  vm1      1        live",
    ]
    start = lines.index("Failover IPs")
    assert lines[start : start + 4] == [
        "Failover IPs",
        "  HOST  API ROUTES HERE  PROXY ARP      MISMATCH",
        "  hyp1  -                ?              -",
        f"  hyp2  {IP1}    {IP1}  -",
    ]  # none of the arbiter's
    start = lines.index("Incidents")
    assert lines[start:] == [
        "Incidents",
        "  HOST  DETECTED                   BY    GUESTS       IPS MOVED      FENCE   STATE",
        f"  hyp1  2024-05-01T11:50:00+00:00  hyp2  vm1 started  {IP1}  failed  open, in progress",
        f"  hyp1  2024-04-01T08:00:00+00:00  hyp2  vm1 started  {IP1}  ok      closed",
        "",
        "Problems",
        "  - host hyp1 does not answer",
        "  - host hyp2 sees the sanlock host lease of hyp1 dead (no renewal for 142.5 s)",
        "  - host hyp1 was taken over by hyp2 at 2024-05-01T11:50:00+00:00: undrain it when repaired",
        "  - fencing hyp1 failed: the API answered 503",
    ]


def test_is_view():
    assert cv.is_view(assemble(healthy()))
    assert not cv.is_view({"hyp1": True}) and not cv.is_view("text") and not cv.is_view(None)
