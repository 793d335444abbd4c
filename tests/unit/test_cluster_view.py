"""The cluster status view (B3), pure: each host's part, the shared facts and
the pillar's hosts and guests put together; the problems it names (a host that
does not answer, a failed part, a host that cannot take guests, a guest on two
hosts, a wanted guest down with no save file, a running guest with a save
file, failover routing and proxy ARP that disagree, an IP routed outside the
cluster, a gluster peer disconnected, a volume stopped or in split-brain);
the age of a part from the mine; the table."""

import datetime

from tests.loaders import load

cv = load("_utils", "cluster_view")
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)
IP1, IP2 = "203.0.113.101", "203.0.113.102"


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
    }
    out.update(extra)
    return out


def shared(routes=None, split_brain=0, connected=True, status="Started"):
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
    }


HOSTS = {"hyp1": {"arbiter": False}, "hyp2": {"arbiter": False}}
GUESTS = {"vm1": {"home": "hyp1", "running": True}, "vm2": {"home": "hyp1", "running": False}}


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
            "problem": None,
        },
        "vm2": {"running_on": [], "saved": False, "home": "hyp1", "wanted_running": False, "problem": None},
    }
    assert view["volumes"]["vmstore"] == {"status": "Started", "heal_entries": 0, "split_brain": 0}
    assert view["lockspace"][2]["name"] == "b.hyp2"


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
        "running_on": ["hyp1"], "saved": False, "home": None, "wanted_running": None, "problem": None
    }  # fmt: skip


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
    ]


def test_a_host_that_cannot_take_guests_unless_it_is_the_arbiter():
    parts = healthy()
    parts["hyp2"] = part("hyp2", ready=False)
    assert assemble(parts)["problems"] == ["host hyp2 cannot take guests: the sanlock daemon is not running"]
    hosts = cv.hosts_config({"hosts": {"hyp1": {}, "hyp2": {"role": "arbiter"}}})
    assert hosts == {"hyp1": {"arbiter": False}, "hyp2": {"arbiter": True}}
    assert assemble(parts, hosts=hosts)["problems"] == []


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
        "  HOST  UP   DRAINED         SANLOCK  RUNNING  DEFINED  SOURCE",
        "  hyp1  yes  no              ok       vm1      2        live",
        "  hyp2  yes  yes (operator)  ok       -        0        mine, 90 s old",
        "",
        "Volumes",
        "  VOLUME   STATUS   TO HEAL  SPLIT-BRAIN",
        "  save     Started  2        0",
        "  vmstore  Started  0        0",
        "",
        "Guests",
        "  GUEST  HOME  RUNNING ON  SAVED  PROBLEM",
        "  vm1    hyp1  hyp1        no     -",
        "  vm2    hyp1  -           no     -",
        "",
        "Failover IPs",
        "  HOST  API ROUTES HERE  PROXY ARP      MISMATCH",
        f"  hyp1  {IP1}    {IP1}  -",
        "  hyp2  -                -              -",
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
    assert "  hyp2  no   ?        ?        -        -        -" in text
    assert "  hyp1  yes  no       error    vm1      2        live" in text
    assert "  ?       error: no host answered cluster.shared" in text
    assert "Failover IPs\n  error: no host answered cluster.shared" in text
    assert "  - host hyp2 does not answer" in text


def test_is_view():
    assert cv.is_view(assemble(healthy()))
    assert not cv.is_view({"hyp1": True}) and not cv.is_view("text") and not cv.is_view(None)
