"""The rolling upgrade's plan and checks (issue 25), pure: the order (fewest running guests
first, name order among equals, the arbiter last; ``hosts=`` keeps that order), the reboot
decided from what ``pkg.upgrade`` changed (each OS family's globs, or the pillar's), a host
with nothing to upgrade skipped, the deadlines, and what keeps a host from being upgraded
or stops the run: the status view's health (a host silent or drained, its lockspace or
quorum lost, a lease failing, a peer disconnected, a volume stopped or in split-brain, an
open incident) and the heal counts (a brick not connected reads 0 entries: not healed),
a drain that left a guest here, an undrain that brought one not back."""

import copy

import cluster_view
import hv_upgrade
import pytest

from tests.loaders import hv_schema, hv_views, layered_parameters
from tests.pillar_cases import lab_pillar, many_hosts_pillar

SETTINGS = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")
DEBIAN = hv_schema.defaults("Debian")["upgrade"]["reboot_packages"]
REDHAT = hv_schema.defaults("RedHat")["upgrade"]["reboot_packages"]


# ------------------------------------------------------------------ the order


def test_fewest_running_guests_first_then_the_arbiter():
    assert hv_upgrade.order(SETTINGS["hosts"], {"hyp1": 3, "hyp2": 1}) == ["hyp2", "hyp1", "arb1"]
    assert hv_upgrade.order(SETTINGS["hosts"], {"hyp1": 1, "hyp2": 1}) == ["hyp1", "hyp2", "arb1"]
    assert hv_upgrade.order(SETTINGS["hosts"], {}) == ["hyp1", "hyp2", "arb1"]  # none counted: 0 each


def test_eight_hosts_without_an_arbiter_by_their_guests():
    pillar = many_hosts_pillar(8, arbiter=False)
    hosts = hv_views.build(pillar, layered_parameters("Debian"), "hyp1")["hosts"]
    running = {f"hyp{n}": 8 - n % 3 for n in range(1, 9)}
    order = hv_upgrade.order(hosts, running)
    assert sorted(order) == sorted(hosts) and len(order) == 8
    assert [running[h] for h in order] == sorted(running.values())
    assert order[:3] == ["hyp2", "hyp5", "hyp8"]  # 6 running guests each, by name


def test_only_the_hosts_named_in_the_same_order():
    assert hv_upgrade.order(SETTINGS["hosts"], {"hyp1": 3}, "arb1,hyp1") == ["hyp1", "arb1"]
    assert hv_upgrade.order(SETTINGS["hosts"], {}, ["arb1"]) == ["arb1"]
    assert hv_upgrade.order(SETTINGS["hosts"], {}, "") == ["hyp1", "hyp2", "arb1"]
    with pytest.raises(ValueError, match=r"not hosts of the cluster: hyp9 \(its hosts: arb1, hyp1, hyp2\)"):
        hv_upgrade.order(SETTINGS["hosts"], {}, "hyp1, hyp9")


# ------------------------------------------------------------------ the reboot


# What Salt's aptpkg.upgrade returns: every package whose version changed (installed: old "").
DEBIAN_CHANGES = {
    "curl": {"old": "7.88.1-10+deb12u5", "new": "7.88.1-10+deb12u6"},
    "libcurl4": {"old": "7.88.1-10+deb12u5", "new": "7.88.1-10+deb12u6"},
    "linux-image-6.1.0-21-amd64": {"old": "", "new": "6.1.90-1"},
    "linux-image-amd64": {"old": "6.1.85-1", "new": "6.1.90-1"},
}


def test_a_new_kernel_reboots_the_host():
    decision = hv_upgrade.reboot("auto", hv_upgrade.changed(DEBIAN_CHANGES), DEBIAN)
    assert decision == {
        "reboot": True,
        "why": "changed: linux-image-6.1.0-21-amd64, linux-image-amd64",
        "packages": ["linux-image-6.1.0-21-amd64", "linux-image-amd64"],
    }


@pytest.mark.parametrize(
    "package",
    [
        "libvirt-daemon-system",
        "libvirt-daemon-driver-qemu",
        "libvirt0",
        "qemu-system-x86",
        "glusterfs-server",
        "glusterfs-client",
        "libglusterfs0",
        "libgfapi0",
        "sanlock",
        "sanlock:amd64",  # an architecture suffix
        "libvirt-daemon-plugin-sanlock",
    ],
)
def test_libvirt_qemu_gluster_and_sanlock_reboot_a_debian_host(package):
    changes = {"curl": DEBIAN_CHANGES["curl"], package: {"old": "1", "new": "2"}}
    assert hv_upgrade.reboot("auto", hv_upgrade.changed(changes), DEBIAN)["reboot"] is True


@pytest.mark.parametrize(
    "package", ["kernel", "kernel-core", "kernel-modules-core", "libvirt-daemon-kvm", "qemu-kvm-core"]
)
def test_the_el_names_reboot_an_el_host(package):
    assert hv_upgrade.reboot("auto", [package, "bash"], REDHAT)["reboot"] is True
    # Debian's names are others (libvirt-daemon* is both families').
    assert hv_upgrade.reboot("auto", [package, "bash"], DEBIAN)["reboot"] is package.startswith("libvirt")


def test_other_packages_do_not_reboot_always_and_never_decide():
    others = ["curl", "libcurl4", "openssh-server", "qemu-utils"]
    assert hv_upgrade.reboot("auto", others, DEBIAN) == {
        "reboot": False,
        "why": "no package of upgrade:reboot_packages changed",
        "packages": [],
    }
    assert hv_upgrade.reboot("always", others, DEBIAN)["reboot"] is True
    never = hv_upgrade.reboot("never", hv_upgrade.changed(DEBIAN_CHANGES), DEBIAN)
    assert never["reboot"] is False and never["packages"] == [
        "linux-image-6.1.0-21-amd64",
        "linux-image-amd64",
    ]
    assert hv_upgrade.changed("ERROR: not a dict") == []


def test_the_pillar_replaces_the_os_familys_list():
    cluster = copy.deepcopy(lab_pillar()["hypervisor"])
    assert hv_upgrade.reboot_patterns(cluster, "Debian") == DEBIAN
    assert hv_upgrade.reboot_patterns(cluster, "RedHat") == REDHAT
    cluster["upgrade"] = {"reboot_packages": ["libc6", "systemd"]}
    assert hv_upgrade.reboot_patterns(cluster, "Debian") == ["libc6", "systemd"]
    cluster["upgrade"]["reboot_packages"] = []  # no package reboots a host
    assert (
        hv_upgrade.reboot("auto", ["linux-image-amd64"], hv_upgrade.reboot_patterns(cluster, "Debian"))[
            "reboot"
        ]
        is False
    )


def test_reboot_packages_are_names_or_globs_in_the_pillar():
    from tests.loaders import hv_validate

    pillar = lab_pillar()
    pillar["hypervisor"]["upgrade"] = {
        "reboot_packages": ["linux-image-*", "rm -rf /"],
        "timeouts": {"heal": 5},
    }
    errors = hv_validate.validate(pillar, layered_parameters("Debian"), "hyp1")
    assert errors == [
        "pillar key 'hypervisor:upgrade:reboot_packages:1': 'rm -rf /' is not a package name or a glob"
        " (linux-image-*)",
        "pillar key 'hypervisor:upgrade:timeouts:heal': 5 is out of range 60..604800",
    ]


# ------------------------------------------------------------------ the plan


def test_a_plan_entry_says_what_and_whether_a_reboot_follows():
    upgrades = {"linux-image-amd64": "6.1.90-1", "curl": "7.88.1-10+deb12u6"}
    entry = hv_upgrade.plan_entry("hyp2", False, 1, upgrades, "auto", DEBIAN)
    assert entry == {
        "host": "hyp2",
        "role": "guests",
        "running_guests": 1,
        "upgrades": {"curl": "7.88.1-10+deb12u6", "linux-image-amd64": "6.1.90-1"},
        "action": "upgrade",
        "reboot": True,
        "reboot_why": "changed: linux-image-amd64",
        "steps": ["drain", "upgrade", "reboot", "back", "lockspace", "quorum", "heal", "undrain"],
    }
    assert hv_upgrade.plan_line(entry) == (
        "hyp2 (1 guest running): 2 packages to upgrade, then a reboot (changed: linux-image-amd64)"
    )
    arbiter = hv_upgrade.plan_entry("arb1", True, 0, {"curl": "2"}, "auto", DEBIAN)
    assert arbiter["steps"] == ["upgrade", "quorum", "heal"] and not arbiter["reboot"]
    assert hv_upgrade.plan_line(arbiter) == (
        "arb1 (the arbiter): 1 package to upgrade, no reboot (no package of upgrade:reboot_packages changed)"
    )


def test_a_host_with_nothing_to_upgrade_is_skipped_unless_reboot_always():
    skipped = hv_upgrade.plan_entry("hyp1", False, 2, {}, "auto", DEBIAN)
    assert (skipped["action"], skipped["reboot"], skipped["steps"]) == ("skip", False, [])
    assert hv_upgrade.plan_line(skipped) == "hyp1 (2 guests running): skipped, nothing to upgrade"
    again = hv_upgrade.plan_entry("hyp1", False, 2, {}, "always", DEBIAN)
    assert again["action"] == "upgrade" and again["reboot"] and "reboot" in again["steps"]


def test_deadlines_from_the_settings_and_the_argument():
    configured = SETTINGS["upgrade"]["timeouts"]
    assert set(configured) == set(hv_upgrade.WAITS)
    assert hv_upgrade.timeouts(configured) == (configured, [])
    merged, errors = hv_upgrade.timeouts(configured, {"heal": 14400, "back": 1800})
    assert errors == [] and merged == dict(configured, heal=14400, back=1800)
    _merged, errors = hv_upgrade.timeouts(configured, {"heal": 1, "reboot": 60, "back": "soon"})
    assert errors == [
        "timeouts:heal: 1 is not a number of seconds in 60..604800",
        "timeouts:reboot is not a wait (one of drain, upgrade, back, lockspace, quorum, heal, undrain)",
        "timeouts:back: soon is not a number of seconds in 60..7200",
    ]
    assert hv_upgrade.timeouts(configured, "600")[1] == [
        "timeouts must be a mapping of drain, upgrade, back, lockspace, quorum, heal, undrain"
        " to seconds, not 600"
    ]


# ------------------------------------------------------------------ health


def local_part(host, guests=None, drained=False, quorum=True, lockspace=True, peers=None):
    return {
        "host": host,
        "time": "2026-12-07T12:00:00+00:00",
        "drained": {
            "drained": drained,
            "since": "2026-12-07T11:00:00+00:00" if drained else None,
            "reason": "x",
        },
        "guests": guests or {},
        "saved": [],
        "sanlock": {
            "can_take_guests": lockspace,
            "reason": "joined" if lockspace else "lockspace not joined",
        },
        "proxyarp": [],
        "quorum": {
            "quorum": quorum,
            "connected": 3 if quorum else 1,
            "of": 3,
            "lockspace": lockspace,
            "reason": "r",
        },
        "sanlock_hosts": peers or {},
        "keeper": None,
    }


def arbiter_part(host="arb1"):
    return dict({"host": host, "time": "2026-12-07T12:00:00+00:00"}, **dict.fromkeys(cluster_view.HOST_PARTS))


def shared(incidents=(), peers=None, volumes=None):
    return {
        "peers": peers
        or [{"hostname": h, "connected": True, "state": "Peer in Cluster"} for h in ("hyp2", "arb1")],
        "volumes": volumes
        or {
            v: {"status": "Started", "heal_entries": 0, "split_brain": 0}
            for v in ("sanlock", "save", "vmstore")
        },
        "lockspace": {},
        "failover": {"ips": [], "mismatches": 0, "unreported": []},
        "incidents": list(incidents),
        "keeper": None,
    }


def view(parts=None, shared_facts=None):
    parts = parts if parts is not None else healthy_parts()
    return cluster_view.assemble(
        parts, shared_facts or shared(), cluster_view.hosts_config(SETTINGS), SETTINGS["guests"]
    )


def healthy_parts():
    return {
        "hyp1": local_part("hyp1", {"vm1": "running", "vm2": "running"}),
        "hyp2": local_part("hyp2", {"vm3": "running"}),
        "arb1": arbiter_part(),
    }


def test_a_healthy_cluster_has_no_problem_and_counts_the_running_guests():
    assert hv_upgrade.health(view(), []) == []
    assert hv_upgrade.running(view()) == {"hyp1": 2, "hyp2": 1, "arb1": 0}


def test_each_host_problem_names_its_check_and_what_it_saw():
    parts = healthy_parts()
    parts["hyp1"] = local_part("hyp1", drained=True)
    parts["hyp2"] = local_part(
        "hyp2", quorum=False, lockspace=False, peers={"hyp1": {"state": "fail", "silent": 9}}
    )
    del parts["arb1"]
    problems = [hv_upgrade.describe(p) for p in hv_upgrade.health(view(parts), [])]
    assert problems == [
        "arb1: answers: no answer",
        "hyp1: drained: drained since 2026-12-07T11:00:00+00:00 (x)",
        "hyp2: lockspace: lockspace not joined",
        "hyp2: quorum: r",
        "hyp2: leases: sees the sanlock host lease of hyp1 fail",
    ]


def test_a_part_that_could_not_be_read_is_a_problem_and_the_arbiters_parts_are_none():
    parts = healthy_parts()
    parts["hyp2"]["quorum"] = {"error": "glusterd: not running"}
    parts["hyp1"] = {"error": "'cluster.local' is not available."}
    problems = [hv_upgrade.describe(p) for p in hv_upgrade.health(view(parts), [])]
    assert problems == [
        "hyp1: cluster.local: could not be read: 'cluster.local' is not available.",
        "hyp2: quorum: could not be read: glusterd: not running",
    ]


def test_shared_problems_storage_and_an_open_incident():
    incident = {"host": "hyp2", "generation": 3, "detected": "2026-12-07T10:00:00+00:00", "by": "hyp1"}
    closed = dict(incident, generation=2, closed="2026-12-06T10:00:00+00:00")
    facts = shared(
        incidents=[incident, closed],
        peers=[{"hostname": "arb1", "connected": False, "state": "Peer in Cluster (Disconnected)"}],
        volumes={
            "vmstore": {"status": "Started", "heal_entries": 0, "split_brain": 2},
            "save": {"status": "Stopped", "heal_entries": 0, "split_brain": 0},
        },
    )
    problems = [
        hv_upgrade.describe(p) for p in hv_upgrade.health(view(shared_facts=facts), ["vmstore: 4 entries"])
    ]
    assert problems == [
        "gluster peers: arb1 is not connected (Peer in Cluster (Disconnected))",
        "volumes: save is Stopped",
        "split-brain: vmstore: 2 entries in split-brain",
        "incidents: hyp2 was taken over by hyp1 at 2026-12-07T10:00:00+00:00, the incident is open"
        " (undrain hyp2 when repaired)",
        "heal: vmstore: 4 entries",
    ]


def test_shared_facts_that_could_not_be_read():
    problems = hv_upgrade.health(view(shared_facts={"error": "no host answered"}), [])
    assert [hv_upgrade.describe(p) for p in problems] == [
        "gluster peers: could not be read: no host answered",
        "volumes: could not be read: no host answered",
        "incidents: could not be read: no host answered",
    ]


# ------------------------------------------------------------------ a host's checks


def brick(name, status="Connected", entries=0):
    return {"name": name, "status": status, "entries": entries, "files": []}


def test_heal_counts_and_a_brick_not_connected():
    healed = [brick("hyp1:/b"), brick("hyp2:/b"), brick("arb1:/b")]
    assert hv_upgrade.heal_problems({"vmstore": (healed, None), "save": (healed, None)}) == []
    # gluster prints "-" for a brick it cannot reach: the parser reads 0 entries there.
    down = [
        brick("hyp1:/b", entries=12),
        brick("hyp2:/b", "Transport endpoint is not connected"),
        brick("arb1:/b"),
    ]
    assert hv_upgrade.heal_problems(
        {"vmstore": (down, None), "save": (None, "no answer"), "sanlock": ([], None)}
    ) == [
        "sanlock: heal info lists no brick ([])",
        "save: heal info: no answer",
        "vmstore: 12 entries to heal on hyp1:/b",
        "vmstore: brick hyp2:/b is Transport endpoint is not connected",
    ]


def test_lockspace_and_quorum():
    assert hv_upgrade.lockspace_problem({"can_take_guests": True, "reason": "joined"}) is None
    assert hv_upgrade.lockspace_problem(
        {"can_take_guests": False, "reason": "the sanlock daemon is not running"}
    ) == ("the sanlock daemon is not running")
    assert hv_upgrade.lockspace_problem("ERROR") == "an unexpected answer: ERROR"
    assert hv_upgrade.quorum_problem({"quorum": True}) is None
    assert hv_upgrade.quorum_problem({"quorum": False, "reason": "sees 1 of the 3"}) == "sees 1 of the 3"


def test_a_drain_that_left_a_guest_here_or_the_ips_behind():
    ret = {
        "guests": {
            "vm1": {"outcome": "migrated", "host": "hyp2"},
            "vm2": {"outcome": "saved", "path": "/save/vm2", "why": "no host can take it: 8192 MiB"},
        },
        "failover": {"moved": {}, "failed": {}},
        "result": True,
    }
    assert hv_upgrade.drain_problem(ret) is None
    assert hv_upgrade.saved(ret) == {"vm2": "no host can take it: 8192 MiB"}
    assert hv_upgrade.outcomes(ret) == {"vm1": "migrated", "vm2": "saved"}
    ret["guests"]["vm3"] = {"outcome": "running", "host": "hyp1", "why": "save failed"}
    ret["failover"]["failed"] = {"203.0.113.101": "HTTP 503"}
    assert hv_upgrade.drain_problem(ret) == (
        "still here: vm3 running (save failed); failover IPs not moved: 203.0.113.101: HTTP 503"
    )
    assert hv_upgrade.drain_problem("'guests.drain' is not available.").startswith("an unexpected answer")


def test_an_undrain_that_did_not_bring_a_guest_back():
    ret = {
        "guests": {"vm1": {"outcome": "migrated"}, "vm2": {"outcome": "restored"}},
        "failover": {"failed": {}},
    }
    assert hv_upgrade.undrain_problem(ret) is None
    ret["guests"]["vm3"] = {"outcome": "failed", "why": "no room"}
    assert hv_upgrade.undrain_problem(ret) == "not back: vm3 failed (no room)"


def test_the_answers_of_localclient_with_full_return():
    assert hv_upgrade.answer({"hyp1": {"ret": True, "retcode": 0}}, "hyp1") == (True, None)
    assert hv_upgrade.answer({}, "hyp1") == (None, "no answer")
    assert hv_upgrade.answer({"hyp1": False}, "hyp1") == (None, "no answer")
    error = {"hyp1": {"ret": "ERROR: Problem encountered upgrading packages", "retcode": 1}}
    assert hv_upgrade.answer(error, "hyp1") == (None, "ERROR: Problem encountered upgrading packages")
    drained = {"hyp1": {"ret": {"guests": {}, "result": False}, "retcode": 1}}
    assert hv_upgrade.answer(drained, "hyp1") == ({"guests": {}, "result": False}, None)
    assert hv_upgrade.answer({"hyp1": "odd"}, "hyp1") == (None, "an unexpected answer: odd")


def test_the_upgrades_page_lists_the_defaults_and_shows_a_valid_pillar():
    """docs/upgrades.md names each OS family's reboot_packages as the schema has them, and its
    pillar block passes the validator."""
    import re

    import yaml

    from tests.loaders import REPO, hv_validate

    text = (REPO / "docs" / "upgrades.md").read_text()
    for family, label in (("Debian", "Debian"), ("RedHat", "EL")):
        item = re.search(rf"^- {label}: (.*?)(?=\n- |\n\n)", text, re.M | re.S).group(1)
        listed = re.findall(r"`([^`]+)`", item)
        assert listed == hv_schema.defaults(family)["upgrade"]["reboot_packages"], family
    blocks = [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)]
    (block,) = [b for b in blocks if "hypervisor" in b]  # the other: a stopped run's return
    pillar = lab_pillar()
    pillar["hypervisor"]["upgrade"] = block["hypervisor"]["upgrade"]
    assert hv_validate.validate(pillar, layered_parameters("Debian"), "hyp1") == []
