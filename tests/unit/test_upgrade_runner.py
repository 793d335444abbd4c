"""The rolling upgrade runner (issue 25) against a stand-in for the master's LocalClient:
``create_autospec`` of the real ``salt.client.LocalClient``, so that every call is checked
against the real ``cmd`` signature, each answered from a script per (target, function) as
``cmd(..., full_return=True)`` answers (a host that does not answer is absent from the
reply). The clock is a stand-in too: a wait's deadline passes in no time.

The tests assert the calls in their order, the events on the master's bus and the return:
the dry run asks and touches nothing; a run goes host by host (fewest running guests first,
the arbiter last), reboots where the kernel or gluster changed and waits for a new boot id,
the lockspace, quorum and heal 0 before it undrains, and checks the cluster again before the
next host; a host with nothing to upgrade is skipped (a run started again); it refuses an
unhealthy cluster; it stops at the first host that does not come back healthy, leaving that
host drained and the hosts after it untouched.

The real run, on the lab's hosts with a lab apt repository that serves a bumped package (a
kernel-named one for the reboot), is a lab test to come (tests/lab)."""

import contextlib
import sys
from unittest.mock import create_autospec

import pytest
import salt.client
import salt.config
import salt.exceptions
import salt.loader
import salt.runners.cache
import salt.runners.event
import salt.runners.pillar

from tests.loaders import REPO, load
from tests.pillar_cases import lab_pillar
from tests.unit.test_upgrade_plan import arbiter_part, brick, local_part, shared

runner = load("_runners", "upgrade")
NO_ANSWER = object()
VOLUMES = ("sanlock", "save", "vmstore")
HEALED = [brick("hyp1:/b"), brick("hyp2:/b"), brick("arb1:/b")]
SURVEY = [("hypervisors", "cluster.local"), ("hyp1", "cluster.shared")] + [
    ("hyp1", "gluster.heal_info", v) for v in VOLUMES
]


class Error(str):
    """An answer that is an error: its message, retcode 1 (a module that raised)."""


class Script:
    """LocalClient.cmd's answers, per (target, function): each call takes the next of its
    answers, the last one repeats; an answer may be a function of the call's arguments.
    Every call is recorded as (target, function, *arguments)."""

    def __init__(self):
        self.answers, self.calls, self.kwargs, self.timeouts = {}, [], [], []

    def on(self, tgt, fun, *answers):
        self.answers[(tgt, fun)] = list(answers)
        return self

    def __call__(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", full_return=False, kwarg=None, **_):
        assert full_return and timeout
        assert tgt_type == ("nodegroup" if tgt == "hypervisors" else "glob")
        self.calls.append((tgt, fun, *arg))
        self.kwargs.append(kwarg)
        self.timeouts.append(timeout)
        queue = self.answers[(tgt, fun)]
        value = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(value, Exception):
            raise value
        if callable(value):
            value = value(*arg)
        if tgt == "hypervisors":  # the nodegroup: {host: part} of those that answer
            return {h: {"ret": part, "retcode": 0} for h, part in value.items() if part is not NO_ANSWER}
        if value is NO_ANSWER:
            return {}
        return {
            tgt: {"ret": str(value), "retcode": 1}
            if isinstance(value, Error)
            else {"ret": value, "retcode": 0}
        }

    def of(self, *hosts):
        """The calls to ``hosts``."""
        return [c for c in self.calls if c[0] in hosts]


class Clock:
    """time.monotonic and time.sleep: a sleep moves the clock on at once."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def healthy(**changed):
    """The cluster.local parts of a healthy cluster (hyp1 runs two guests, hyp2 one)."""
    parts = {
        "hyp1": local_part("hyp1", {"vm1": "running", "vm2": "running"}),
        "hyp2": local_part("hyp2", {"vm3": "running"}),
        "arb1": arbiter_part(),
    }
    parts.update(changed)
    return parts


def drained_ret(host, guests):
    return {
        "host": host,
        "guests": guests,
        "failover": {"moved": {}, "failed": {}, "comment": ""},
        "result": True,
        "drained": True,
    }


def undrained_ret(host, guests):
    return {"host": host, "drained": False, "guests": guests, "failover": {"moved": {}, "failed": {}}}


def heal(*_volume):
    return HEALED


JOINED = {"can_take_guests": True, "reason": "lockspace __LIBVIRT__DISKS__ joined as host 2"}
NOT_JOINED = {"can_take_guests": False, "reason": "lockspace __LIBVIRT__DISKS__ is being joined"}
QUORUM = {"quorum": True, "connected": 3, "of": 3, "lockspace": True, "reason": "sees 3 of the 3"}
KERNEL = {"linux-image-6.1.0-21-amd64": {"old": "", "new": "6.1.90-1"}, "curl": {"old": "1", "new": "2"}}


def script_healthy():
    """A healthy cluster whose three hosts each have something to upgrade: hyp2 a kernel,
    hyp1 curl alone, arb1 gluster."""
    return (
        Script()
        .on("hypervisors", "cluster.local", healthy())
        .on("hyp1", "cluster.shared", shared())
        .on("hyp1", "gluster.heal_info", heal)
        .on("hyp2", "gluster.heal_info", heal)
        .on("hyp2", "pkg.list_upgrades", {"linux-image-6.1.0-21-amd64": "6.1.90-1", "curl": "2"})
        .on("hyp1", "pkg.list_upgrades", {"curl": "2"})
        .on("arb1", "pkg.list_upgrades", {"glusterfs-common": "11.1-5"})
        .on("hyp2", "guests.drain", drained_ret("hyp2", {"vm3": {"outcome": "migrated", "host": "hyp1"}}))
        .on(
            "hyp2",
            "guests.drained",
            {"drained": True, "since": "now", "reason": runner.REASON, "guests": ["vm3"]},
        )
        .on("hyp2", "pkg.upgrade", KERNEL)
        .on("hyp2", "file.read", "aaaa\n", "bbbb\n")
        .on("hyp2", "system.reboot", NO_ANSWER)
        .on("hyp2", "test.ping", NO_ANSWER, NO_ANSWER, True)
        .on("hyp2", "sanlock.status", NOT_JOINED, JOINED)
        .on("hyp2", "takeover.quorum", QUORUM)
        .on("hyp2", "guests.undrain", undrained_ret("hyp2", {"vm3": {"outcome": "migrated", "host": "hyp2"}}))
        .on(
            "hyp1",
            "guests.drain",
            drained_ret(
                "hyp1",
                {
                    "vm1": {"outcome": "migrated", "host": "hyp2"},
                    "vm2": {"outcome": "saved", "path": "/save/vm2", "why": "no host can take it: 8 GiB"},
                },
            ),
        )
        .on(
            "hyp1", "guests.drained", {"drained": True, "since": "now", "reason": runner.REASON, "guests": []}
        )
        .on("hyp1", "pkg.upgrade", {"curl": {"old": "1", "new": "2"}})
        .on("hyp1", "sanlock.status", JOINED)
        .on("hyp1", "takeover.quorum", QUORUM)
        .on(
            "hyp1",
            "guests.undrain",
            undrained_ret("hyp1", {"vm1": {"outcome": "migrated"}, "vm2": {"outcome": "restored"}}),
        )
        .on("arb1", "pkg.upgrade", {"glusterfs-common": {"old": "11.1-4", "new": "11.1-5"}})
        .on("arb1", "file.read", "cccc\n", "cccc\n", "dddd\n")
        .on("arb1", "system.reboot", "")
        .on("arb1", "test.ping", True)
    )


@pytest.fixture
def script():
    return script_healthy()


@pytest.fixture
def client(monkeypatch, script):
    fake = create_autospec(salt.client.LocalClient, instance=True)
    fake.cmd.side_effect = script
    monkeypatch.setattr(runner.salt.client, "get_local_client", lambda conf: contextlib.nullcontext(fake))
    return fake


@pytest.fixture
def clock(monkeypatch):
    made = Clock()
    monkeypatch.setattr(runner, "time", made)
    return made


@pytest.fixture
def events():
    return create_autospec(salt.runners.event.send, return_value=True)


@pytest.fixture
def configure_loader_modules(tmp_path, events):
    grains = {h: {"id": h, "os_family": "Debian"} for h in ("arb1", "hyp1", "hyp2")}
    return {
        runner: {
            "__salt__": {
                "pillar.show_pillar": create_autospec(
                    salt.runners.pillar.show_pillar, side_effect=lab_pillar
                ),
                "cache.grains": create_autospec(salt.runners.cache.grains, return_value=grains),
                "event.send": events,
            },
            "__opts__": {"conf_file": "/etc/salt/master", "cachedir": str(tmp_path)},
        }
    }


def tags(events):
    return [c.args[0] for c in events.call_args_list]


def sent(events, tag):
    return next(c.args[1] for c in events.call_args_list if c.args[0] == tag)


def heal_from(host):
    return [(host, "gluster.heal_info", v) for v in VOLUMES]


# ------------------------------------------------------------------ the dry run


def test_the_dry_run_shows_the_plan_and_touches_nothing(client, script, events, clock):
    ret = runner.rolling(dry_run=True)
    assert script.calls == [
        *SURVEY,
        ("hyp2", "pkg.list_upgrades"),
        ("hyp1", "pkg.list_upgrades"),
        ("arb1", "pkg.list_upgrades"),
    ]
    assert ret["result"] is True and ret["dry_run"] is True and ret["health"] == []
    assert ret["order"] == ["hyp2", "hyp1", "arb1"]  # hyp2 runs 1 guest, hyp1 2
    assert [hv_line(e) for e in ret["plan"]] == [
        "hyp2 (1 guest running): 2 packages to upgrade, then a reboot (changed: linux-image-6.1.0-21-amd64)",
        "hyp1 (2 guests running): 1 package to upgrade, no reboot"
        " (no package of upgrade:reboot_packages changed)",
        "arb1 (the arbiter): 1 package to upgrade, then a reboot (changed: glusterfs-common)",
    ]
    assert ret["comment"] == "dry run, nothing touched; the cluster is healthy"
    assert events.call_count == 0 and clock.now == 1000.0


def hv_line(entry):
    return runner.hv_upgrade.plan_line(entry)


def test_the_dry_run_of_an_unhealthy_cluster_says_a_run_would_refuse(client, script, events):
    script.on("hypervisors", "cluster.local", healthy(hyp1=local_part("hyp1", drained=True)))
    ret = runner.rolling(dry_run=True, hosts="hyp1")
    assert ret["result"] is False and [e["host"] for e in ret["plan"]] == ["hyp1"]
    assert ret["comment"] == (
        "dry run, nothing touched; the cluster is NOT healthy, a run would refuse:"
        " hyp1: drained: drained since 2026-12-07T11:00:00+00:00 (x)"
    )
    assert events.call_count == 0


def test_the_dry_run_does_not_wait_for_a_host_that_does_not_answer(client, script, events):
    script.on("hypervisors", "cluster.local", healthy(arb1=NO_ANSWER))
    ret = runner.rolling(dry_run=True)
    assert ("arb1", "pkg.list_upgrades") not in script.calls and ret["result"] is False
    assert ret["health"] == ["arb1: answers: no answer"]
    assert ret["plan"][-1]["error"] == "pkg.list_upgrades: not asked: it did not answer cluster.local"
    assert ret["comment"].endswith(
        "; pkg.list_upgrades failed: arb1: pkg.list_upgrades: not asked: it did not answer cluster.local"
    )


# ------------------------------------------------------------------ a whole run


def test_a_run_goes_host_by_host_and_reboots_where_the_kernel_or_gluster_changed(
    client, script, events, clock
):
    ret = runner.rolling()
    hyp2 = [
        ("hyp2", "guests.drain"),
        ("hyp2", "guests.drained"),
        ("hyp2", "pkg.upgrade"),
        ("hyp2", "file.read", runner.BOOT_ID),
        ("hyp2", "system.reboot"),
        ("hyp2", "test.ping"),  # down
        ("hyp2", "test.ping"),  # down
        ("hyp2", "test.ping"),
        ("hyp2", "file.read", runner.BOOT_ID),  # a new boot id: it rebooted
        ("hyp2", "sanlock.status"),  # being joined
        ("hyp2", "sanlock.status"),
        ("hyp2", "takeover.quorum"),
        *heal_from("hyp1"),  # read from another host
        ("hyp2", "guests.undrain"),
    ]
    hyp1 = [  # curl only: no reboot
        ("hyp1", "guests.drain"),
        ("hyp1", "guests.drained"),
        ("hyp1", "pkg.upgrade"),
        ("hyp1", "sanlock.status"),
        ("hyp1", "takeover.quorum"),
        *heal_from("hyp2"),
        ("hyp1", "guests.undrain"),
    ]
    arb1 = [  # no drain, no lockspace; its effect on quorum is read on a host with guests
        ("arb1", "pkg.upgrade"),
        ("arb1", "file.read", runner.BOOT_ID),
        ("arb1", "system.reboot"),
        ("arb1", "test.ping"),
        ("arb1", "file.read", runner.BOOT_ID),  # still the old boot id: not down yet
        ("arb1", "test.ping"),
        ("arb1", "file.read", runner.BOOT_ID),
        ("hyp1", "takeover.quorum"),
        *heal_from("hyp1"),
    ]
    plan = [("hyp2", "pkg.list_upgrades"), ("hyp1", "pkg.list_upgrades"), ("arb1", "pkg.list_upgrades")]
    # The cluster checked before each host: the plan took a while, the last host may have left a trace.
    assert script.calls == [*SURVEY, *plan, *SURVEY, *hyp2, *SURVEY, *hyp1, *SURVEY, *arb1]
    assert ret["result"] is True and ret["comment"] == "every host upgraded or skipped: hyp2, hyp1, arb1"
    assert {h: r["outcome"] for h, r in ret["hosts"].items()} == {
        "hyp2": "done",
        "hyp1": "done",
        "arb1": "done",
    }
    assert list(ret["hosts"]["hyp2"]["steps"]) == [
        "drain",
        "upgrade",
        "reboot",
        "back",
        "lockspace",
        "quorum",
        "heal",
        "undrain",
        "done",
    ]
    assert ret["hosts"]["hyp1"]["steps"]["drain"] == {
        "guests": {"vm1": "migrated", "vm2": "saved"},
        "saved": {"vm2": "no host can take it: 8 GiB"},  # it fit nowhere: saved, and said
    }
    assert ret["hosts"]["hyp2"]["steps"]["back"] == {"seconds": 20}
    assert ret["hosts"]["hyp2"]["changes"] == KERNEL
    # What was asked: the drain's reason, Debian's dist-upgrade.
    asked = dict(zip(script.calls, script.kwargs, strict=True))
    assert asked[("hyp2", "guests.drain")] == {"reason": "rolling upgrade"}
    assert asked[("hyp2", "pkg.upgrade")] == {"dist_upgrade": True}
    # Each action within its step's deadline (the settings' defaults), a question within 30 s.
    deadlines = dict(zip(script.calls, script.timeouts, strict=True))
    assert [deadlines[("hyp2", f)] for f in ("guests.drain", "pkg.upgrade", "guests.undrain")] == [
        1800,
        3600,
        1800,
    ]
    assert (deadlines[("hyp2", "pkg.list_upgrades")], deadlines[("hyp2", "test.ping")]) == (600, 30)
    host_steps = [t for t in tags(events) if t.startswith("hv/upgrade/host/")]
    assert tags(events)[0] == "hv/upgrade/started" and tags(events)[-1] == "hv/upgrade/done"
    assert host_steps[:9] == [f"hv/upgrade/host/{s}" for s in ret["hosts"]["hyp2"]["steps"]]
    assert sent(events, "hv/upgrade/started") == {
        "order": ["hyp2", "hyp1", "arb1"],
        "reboot": "auto",
        "plan": {
            "hyp2": {
                "action": "upgrade",
                "reboot": True,
                "reboot_why": "changed: linux-image-6.1.0-21-amd64",
            },
            "hyp1": {
                "action": "upgrade",
                "reboot": False,
                "reboot_why": "no package of upgrade:reboot_packages changed",
            },
            "arb1": {"action": "upgrade", "reboot": True, "reboot_why": "changed: glusterfs-common"},
        },
    }
    assert sent(events, "hv/upgrade/host/upgrade") == {
        "host": "hyp2",
        "packages": ["curl", "linux-image-6.1.0-21-amd64"],
        "reboot": True,
        "why": "changed: linux-image-6.1.0-21-amd64",
    }
    assert "hv/upgrade/stopped" not in tags(events)


def test_reboot_never_and_always(client, script, events, clock):
    ret = runner.rolling(reboot="never", hosts="hyp2")
    assert ret["result"] is True and "system.reboot" not in [c[1] for c in script.calls]
    assert ret["hosts"]["hyp2"]["steps"]["upgrade"]["why"] == "reboot=never"
    script.on("hyp1", "pkg.list_upgrades", {})
    script.on("hyp1", "pkg.upgrade", {})
    script.on("hyp1", "file.read", "eeee\n", "ffff\n")
    script.on("hyp1", "system.reboot", "")
    script.on("hyp1", "test.ping", True)
    script.calls.clear()
    ret = runner.rolling(reboot="ALWAYS", hosts=["hyp1"])
    assert ret["result"] is True and ("hyp1", "system.reboot") in script.calls  # nothing to upgrade, rebooted
    assert runner.rolling(reboot="sometimes") == {
        "result": False,
        "comment": "reboot=sometimes: one of auto, always, never",
    }


def test_a_run_started_again_skips_the_hosts_with_nothing_to_upgrade(client, script, events, clock):
    script.on("hyp2", "pkg.list_upgrades", {}).on("arb1", "pkg.list_upgrades", {})
    ret = runner.rolling()
    assert {h: r["outcome"] for h, r in ret["hosts"].items()} == {
        "hyp2": "skipped",
        "hyp1": "done",
        "arb1": "skipped",
    }
    assert script.of("hyp2", "arb1") == [
        ("hyp2", "pkg.list_upgrades"),
        ("arb1", "pkg.list_upgrades"),
    ] + heal_from("hyp2")  # hyp1's heal, read there
    assert "hv/upgrade/host/skipped" in tags(events) and sent(events, "hv/upgrade/host/skipped") == {
        "host": "hyp2",
        "why": "nothing to upgrade",
    }


# ------------------------------------------------------------------ refused


@pytest.mark.parametrize(
    ("changed", "shared_facts", "heal_answer", "saw"),
    [
        (
            {"hyp2": local_part("hyp2", drained=True)},
            shared(),
            HEALED,
            "hyp2: drained: drained since 2026-12-07T11:00:00+00:00 (x)",
        ),
        ({"hyp1": local_part("hyp1", quorum=False)}, shared(), HEALED, "hyp1: quorum: r"),
        ({"arb1": NO_ANSWER}, shared(), HEALED, "arb1: answers: no answer"),
        (
            {},
            shared(),
            [brick("hyp1:/b", entries=3), brick("hyp2:/b"), brick("arb1:/b")],
            "heal: sanlock: 3 entries to heal on hyp1:/b; heal: save: 3 entries to heal on hyp1:/b;"
            " heal: vmstore: 3 entries to heal on hyp1:/b",
        ),
        (
            {},
            shared(incidents=[{"host": "hyp2", "by": "hyp1", "detected": "2026-12-07T10:00:00+00:00"}]),
            HEALED,
            "incidents: hyp2 was taken over by hyp1 at 2026-12-07T10:00:00+00:00, the incident is open"
            " (undrain hyp2 when repaired)",
        ),
    ],
    ids=["drained", "quorum-lost", "a-host-silent", "heal-not-0", "open-incident"],
)
def test_an_unhealthy_cluster_is_refused_and_nothing_touched(
    client, script, events, changed, shared_facts, heal_answer, saw
):
    script.on("hypervisors", "cluster.local", healthy(**changed)).on("hyp1", "cluster.shared", shared_facts)
    script.on("hyp1", "gluster.heal_info", heal_answer)
    ret = runner.rolling()
    assert script.calls == SURVEY
    assert (
        ret["result"] is False
        and ret["comment"] == f"refused, nothing touched: the cluster is not healthy: {saw}"
    )
    assert tags(events) == ["hv/upgrade/stopped"]
    assert sent(events, "hv/upgrade/stopped") == {"step": "start", "refused": True, "reason": ret["comment"]}


def test_refused_an_unknown_host_bad_deadlines_and_a_second_run(client, script, events, tmp_path):
    assert runner.rolling(hosts="hyp3")["comment"] == (
        "refused, nothing touched: not hosts of the cluster: hyp3 (its hosts: arb1, hyp1, hyp2)"
    )
    ret = runner.rolling(timeouts={"heal": 1})
    assert (
        ret["comment"]
        == "refused, nothing touched: timeouts:heal: 1 is not a number of seconds in 60..604800"
    )
    with runner.hv_runtime.try_locked(str(tmp_path / runner.LOCK)) as held:
        assert held
        assert runner.rolling(dry_run=True) == {
            "result": False,
            "comment": "another rolling upgrade runs on this master: nothing touched",
        }
    assert {c[1] for c in script.calls} == {"cluster.local", "cluster.shared", "gluster.heal_info"}


def test_a_plan_that_cannot_be_made_is_refused(client, script, events):
    script.on("hyp1", "pkg.list_upgrades", Error("E: Could not get lock /var/lib/dpkg/lock-frontend"))
    ret = runner.rolling()
    assert ret["result"] is False and ret["comment"] == (
        "refused, nothing touched: the plan is not complete:"
        " hyp1: pkg.list_upgrades: E: Could not get lock /var/lib/dpkg/lock-frontend"
    )
    assert [c[1] for c in script.calls[len(SURVEY) :]] == ["pkg.list_upgrades"] * 3


# ------------------------------------------------------------------ stopped


def test_it_stops_at_the_first_host_that_does_not_come_back_healthy_leaving_it_drained(
    client, script, events, clock
):
    script.on("hyp2", "sanlock.status", NOT_JOINED)  # never joined again
    ret = runner.rolling(timeouts={"lockspace": 120})
    assert ret["result"] is False
    assert ret["stopped"] == {
        "host": "hyp2",
        "step": "lockspace",
        "check": "sanlock.status on hyp2: can_take_guests",
        "saw": "lockspace __LIBVIRT__DISKS__ is being joined",
        "waited": 120,
        "left": "hyp2 is left drained: `salt hyp2 guests.undrain` once it is repaired",
    }
    assert ret["comment"] == (
        "stopped at hyp2, step lockspace after 120 s: sanlock.status on hyp2: can_take_guests:"
        " saw lockspace __LIBVIRT__DISKS__ is being joined. hyp2 is left drained:"
        " `salt hyp2 guests.undrain` once it is repaired; no other host was touched after it."
        " Run again once it is healthy."
    )
    # hyp2 drained and not undrained; hyp1 and arb1 only listed (the plan).
    assert ("hyp2", "guests.drain") in script.calls and ("hyp2", "guests.undrain") not in script.calls
    assert script.of("hyp1", "arb1") == [
        *SURVEY[1:],
        ("hyp1", "pkg.list_upgrades"),
        ("arb1", "pkg.list_upgrades"),
        *SURVEY[1:],
    ]
    assert script.calls.count(("hyp2", "sanlock.status")) == 13  # every 10 s for 120 s
    assert {h: r["outcome"] for h, r in ret["hosts"].items()} == {
        "hyp2": "stopped",
        "hyp1": "untouched",
        "arb1": "untouched",
    }
    assert tags(events) == [
        "hv/upgrade/started",
        "hv/upgrade/host/drain",
        "hv/upgrade/host/upgrade",
        "hv/upgrade/host/reboot",
        "hv/upgrade/host/back",
        "hv/upgrade/stopped",
    ]
    assert sent(events, "hv/upgrade/stopped") == dict(ret["stopped"], reason=ret["comment"])


@pytest.mark.parametrize(
    "silent",
    [NO_ANSWER, salt.exceptions.SaltClientError("the master's client failed")],
    ids=["none", "raised"],
)
def test_a_host_that_does_not_answer_after_its_reboot_stops_the_run(client, script, events, clock, silent):
    script.on("hyp2", "test.ping", silent)
    ret = runner.rolling()
    assert (ret["stopped"]["step"], ret["stopped"]["saw"], ret["stopped"]["waited"]) == (
        "back",
        "no answer",
        900,
    )
    assert ret["stopped"]["check"] == "test.ping on hyp2, then a boot id other than aaaa"
    assert script.calls[-1] == ("hyp2", "test.ping") and ("hyp1", "guests.drain") not in script.calls


def test_a_drain_that_left_a_guest_stops_before_the_upgrade(client, script, events, clock):
    guests = {"vm3": {"outcome": "running", "host": "hyp2", "why": "migration failed; save failed"}}
    script.on("hyp2", "guests.drain", dict(drained_ret("hyp2", guests), result=False))
    ret = runner.rolling()
    assert ret["stopped"]["step"] == "drain" and ret["stopped"]["saw"] == (
        "still here: vm3 running (migration failed; save failed)"
    )
    assert ret["stopped"]["left"] == "hyp2 is left drained: `salt hyp2 guests.undrain` once it is repaired"
    assert script.calls[-1] == ("hyp2", "guests.drain") and ("hyp2", "pkg.upgrade") not in script.calls


def test_a_failed_upgrade_stops_the_run(client, script, events, clock):
    script.on("hyp2", "pkg.upgrade", Error("ERROR: Problem encountered upgrading packages"))
    ret = runner.rolling()
    assert ret["stopped"] == {
        "host": "hyp2",
        "step": "upgrade",
        "check": "pkg.upgrade on hyp2",
        "saw": "ERROR: Problem encountered upgrading packages",
        "waited": None,
        "left": "hyp2 is left drained: `salt hyp2 guests.undrain` once it is repaired",
    }
    assert script.calls[-1] == ("hyp2", "pkg.upgrade")


def test_the_heal_that_does_not_end_stops_the_run(client, script, events, clock):
    def slow(volume):
        return (
            [brick("hyp1:/b"), brick("hyp2:/b", entries=7), brick("arb1:/b")]
            if volume == "vmstore"
            else HEALED
        )

    script.on("hyp1", "gluster.heal_info", *[heal] * 6, slow)  # the two surveys', then never healed
    ret = runner.rolling(timeouts={"heal": 60})
    assert (
        ret["stopped"]["step"] == "heal" and ret["stopped"]["saw"] == "vmstore: 7 entries to heal on hyp2:/b"
    )
    assert ret["stopped"]["check"] == (
        "gluster.heal_info of every volume from hyp1: every brick connected, 0 entries to heal"
    )
    assert ("hyp2", "guests.undrain") not in script.calls


def test_the_cluster_checked_again_before_the_next_host(client, script, events, clock):
    incident = {"host": "hyp2", "by": "hyp1", "detected": "2026-12-07T10:00:00+00:00"}
    script.on("hyp1", "cluster.shared", shared(), shared(), shared(incidents=[incident]))
    ret = runner.rolling()
    assert ret["hosts"]["hyp2"]["outcome"] == "done" and ret["hosts"]["hyp1"]["outcome"] == "untouched"
    assert ret["stopped"]["step"] == "health" and ret["stopped"]["host"] == "hyp1"
    assert ret["stopped"]["left"] == "hyp1 was not touched"
    assert script.calls[-len(SURVEY) :] == SURVEY and ("hyp1", "guests.drain") not in script.calls


def test_an_undrain_whose_guests_did_not_all_come_back_stops_the_run(client, script, events, clock):
    script.on(
        "hyp2", "guests.undrain", undrained_ret("hyp2", {"vm3": {"outcome": "failed", "why": "no room"}})
    )
    ret = runner.rolling()
    assert (ret["stopped"]["step"], ret["stopped"]["saw"]) == ("undrain", "not back: vm3 failed (no room)")
    assert ret["stopped"]["left"] == "hyp2 is undrained (its drain mark cleared), not all came back"


# ------------------------------------------------------------------ the loader


def test_salt_loads_the_runner_with_its_utils(tmp_path, monkeypatch):
    utils_dir = str(REPO / "_utils")
    monkeypatch.setattr(sys, "path", [path for path in sys.path if path != utils_dir])
    for name in ("hv_upgrade", "cluster_view", "hv_views", "hv_runtime"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    opts = salt.config.master_config(None)
    opts.update(extension_modules=str(tmp_path), runner_dirs=[str(REPO / "_runners")], utils_dirs=[utils_dir])
    functions = salt.loader.runner(opts, utils=salt.loader.utils(opts))
    assert "upgrade.rolling" in functions
    module = sys.modules[functions["upgrade.rolling"].__module__]
    assert module.hv_upgrade.__file__ == str(REPO / "_utils" / "hv_upgrade.py")
