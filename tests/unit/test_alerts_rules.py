"""The alerts' rules (issue 25), pure (_utils/hv_alerts.py): each kind from a recorded
event shaped as the modules fire it and the recorder keeps it (the hv_events runner's
own cleaning and cutting), the whitelist (a planted secret-looking field, control and
format characters, an over-long text, a name that is no name), the rate limit (a token
bucket and one summary of what it held back), dedup, the state checks (split-brain and
a long drain, once when they start and once when they clear; an open incident no event
named), the cursor over the record (across a trim), what is sent, and the ``alerts:``
settings (no problem line shows a secret)."""

import email
import email.policy
import fnmatch
import json
import logging
import re
from pathlib import Path

import pytest
import yaml

from tests.loaders import REPO, load

hv_alerts = load("_utils", "hv_alerts")
hv_events = load("_runners", "hv_events")
hv_incidents = load("_utils", "hv_incidents")
hv_failover_fence = load("_utils", "hv_failover_fence")

AT = 1_780_000_000.0  # 2026-05-28T20:26:40+00:00
FAKE_TOKEN = "alerts-FAKE-token-Zq81xW"


def recorded(tag, minion, payload, at=AT):
    """``payload`` fired as ``tag`` by ``minion``, as the master's record keeps it: the
    recorder's own cleaning (Salt's keys dropped, the verified id) and cut to its size."""
    event = {
        "id": minion,
        "_stamp": "2026-05-28T20:26:40.123456",
        "data": payload,
        "jid": "1",
        "cmd": "_minion_event",
    }
    entry = dict(hv_events._clean(event), tag=tag, recorded=at)
    return json.loads(hv_events._capped(entry))


def fired_by_a_claim(tmp_path):
    """What hv_incidents.claim fires when hyp2 opens the incident of hyp1's death."""
    sent = []
    hv = {"takeover": {"incidents_dir": str(tmp_path / "inc")}, "me": {"name": "hyp2"}}
    hv_incidents.claim(hv, "hyp1", {"host_id": 1, "generation": 3}, lambda t, d: sent.append((t, d)), logging)
    ((tag, data),) = sent
    return tag, data


def fence_payload(**over):
    """online.fence's event payload (its FENCE_EVENT_KEYS), with an answer like the stand-in's."""
    ret = fence_return(**over)
    return {k: ret[k] for k in hv_failover_fence.EVENT_KEYS}


def fence_return(**over):
    """What online.fence returns (the takeover keeps some of it)."""
    ret = {
        "result": True,
        "host": "hyp1",
        "server_id": 1001,
        "image": "ubuntu-22.04",
        "reason": "taken over by hyp2: sanlock declared it dead (generation 3)",
        "rescue": True,
        "rebooted": True,
        "may_have_rebooted": True,
        "comment": "hyp1 (server 1001) fenced: the API took its hard reboot into the rescue system",
    }
    ret.update(over)
    return ret


# -------------------------------------------------------------------- each kind


def test_a_takeover(tmp_path):
    tag, data = fired_by_a_claim(tmp_path)
    alert = hv_alerts.from_entry(recorded(tag, "hyp2", data))
    assert alert["kind"] == "takeover" and alert["severity"] == "critical" and alert["host"] == "hyp1"
    assert "taken over by hyp2" in alert["summary"] and "generation 3" in alert["summary"]
    assert alert["incident"] == "hyp1-g3" and alert["at"] == "2026-05-28T20:26:40+00:00"
    assert alert["event"] == "hv/takeover/dead"


def test_a_fence_done_and_the_takeovers_own_word_on_it():
    alert = hv_alerts.from_entry(recorded("hv/fence/done", "hyp2", fence_payload()))
    assert (alert["kind"], alert["severity"], alert["host"]) == ("fence_done", "warning", "hyp1")
    assert "fenced by hyp2" in alert["summary"] and "online.unfence hyp1" in alert["summary"]
    assert "ubuntu-22.04" in alert["summary"]
    fenced = dict(fence_payload(), attempts=1, at="2026-05-28T20:26:40+00:00")
    assert hv_alerts.from_entry(recorded("hv/takeover/fenced", "hyp2", fenced)) is None


def test_a_fence_failed_from_online_or_from_the_takeover_is_one_alert_kind():
    comment = (
        "Online API: POST /server/boot/rescue/1001: HTTP 400: Invalid rescue image windows-95:"
        " not fenced (no reboot asked)"
    )
    answer = {
        "result": False,
        "rescue": False,
        "rebooted": False,
        "may_have_rebooted": False,
        "comment": comment,
    }
    one = hv_alerts.from_entry(recorded("hv/fence/failed", "hyp2", fence_payload(**answer)))
    # takeover._fence keeps these keys of online.fence's return, then fires
    # hv/takeover/fence/failed with the host
    ret = fence_return(**answer)
    kept = {k: ret[k] for k in ("result", "comment", "image", "server_id", "may_have_rebooted")}
    two = hv_alerts.from_entry(
        recorded("hv/takeover/fence/failed", "hyp2", dict(kept, attempts=1, host="hyp1"))
    )
    for alert in (one, two):
        assert (alert["kind"], alert["severity"], alert["host"]) == ("fence_failed", "critical", "hyp1")
        assert "Invalid rescue image windows-95" in alert["summary"]
    seen = {}
    assert not hv_alerts.duplicate(seen, one, AT, 600) and hv_alerts.duplicate(seen, two, AT + 3, 600)
    maybe = hv_alerts.from_entry(recorded("hv/fence/failed", "hyp2", fence_payload(result=False)))
    assert "may have been taken" in maybe["summary"]


def test_the_other_steps_are_no_alert():
    for tag in (
        "hv/fence/started",
        "hv/fence/undone",
        "hv/takeover/guest/started",
        "hv/takeover/assigned",
        "hv/takeover/done",
        "hv/evacuation/started",
        "hv/keeper/down",
        "hv/backup/done",
        "hv/failover/proxyarp/updated",
    ):
        assert hv_alerts.from_entry(recorded(tag, "hyp1", {"host": "hyp1", "guest": "vm1"})) is None, tag
    assert hv_alerts.from_entry(None) is None and hv_alerts.from_entry({"tag": 3}) is None


def done(result, guests, **over):
    """hv_evacuation.evacuate's hv/evacuation/done payload."""
    payload = {
        "host": "hyp1",
        "to": None,
        "targets": {n: "hyp2" for n in guests},
        "reason": "shutdown",
        "guests": guests,
        "seconds": 41.2,
        "result": result,
    }
    payload.update(over)
    return payload


def test_an_evacuation_that_failed_names_the_guests_left():
    guests = {
        "vm1": {"outcome": "migrated", "host": "hyp2"},
        "vm2": {"outcome": "running", "host": "hyp1", "why": "migration failed; save volume unreachable"},
        "vm3": {"outcome": "saved", "path": "/srv/save/vm3.save"},
        "vm4": {"outcome": "unknown", "why": "RuntimeError: boom"},
    }
    alert = hv_alerts.from_entry(recorded("hv/evacuation/done", "hyp1", done(False, guests)))
    assert (alert["kind"], alert["severity"], alert["host"]) == ("evacuation_failed", "critical", "hyp1")
    assert alert["summary"] == "the evacuation of hyp1 (shutdown) failed: left vm2 running, vm4 unknown"


def test_an_evacuation_that_moved_every_guest_but_not_the_ips():
    guests = {"vm1": {"outcome": "migrated", "host": "hyp2"}}
    alert = hv_alerts.from_entry(recorded("hv/evacuation/done", "hyp1", done(False, guests)))
    assert "failover IPs did not follow" in alert["summary"]
    assert hv_alerts.from_entry(recorded("hv/evacuation/done", "hyp1", done(True, guests))) is None


def test_an_evacuation_whose_record_was_cut_still_says_it_failed():
    guests = {f"vm{i:02}": {"outcome": "running", "why": "x" * 150} for i in range(40)}
    entry = recorded("hv/evacuation/done", "hyp1", done(False, guests))
    assert entry["truncated"] and "guests" not in entry  # the recorder cut it
    alert = hv_alerts.from_entry(entry)
    assert alert["kind"] == "evacuation_failed" and "too long to keep" in alert["summary"]
    assert hv_alerts.from_entry(recorded("hv/evacuation/done", "hyp1", done(True, guests))) is None


def test_a_long_list_of_guests_left_is_cut():
    guests = {f"vm{i:02}": {"outcome": "running"} for i in range(12)}
    alert = hv_alerts.from_entry(recorded("hv/evacuation/done", "hyp1", done(False, guests)))
    assert alert["summary"].endswith("vm07 running and 4 more")


def test_a_guest_that_fits_nowhere():
    evac = hv_alerts.from_entry(
        recorded("hv/evacuation/guest/unplaced", "hyp1", {"guest": "vm9", "source": "hyp1", "why": "no room"})
    )
    assert (evac["kind"], evac["severity"], evac["host"], evac["guest"]) == (
        "guest_unplaced",
        "warning",
        "hyp1",
        "vm9",
    )
    assert "save volume" in evac["summary"]
    why = "needs 16384 MiB, 2 vCPUs: hyp3 has 2048 MiB free"
    taken = hv_alerts.from_entry(
        recorded("hv/takeover/guest/unplaced", "hyp2", {"guest": "vm9", "from": "hyp1", "why": why})
    )
    assert (taken["kind"], taken["severity"], taken["host"]) == ("guest_unplaced", "critical", "hyp1")
    assert taken["summary"] == f"vm9 of the dead host hyp1 fits on no survivor: not started ({why})"


def test_a_failover_provider_error():
    error = (
        "Online API: GET /server/1001: HTTP 401 (the API token is refused: check online:api_token):"
        " invalid_token"
    )
    alert = hv_alerts.from_entry(recorded("hv/failover/error", "hyp1", {"op": "sync", "error": error}))
    assert (alert["kind"], alert["severity"], alert["host"]) == ("failover_error", "warning", "hyp1")
    assert alert["summary"] == f"the failover provider failed for hyp1 (sync): {error}"


def test_a_backup_or_restore_that_failed_and_a_guest_left_frozen():
    payload = {
        "guest": "vm1",
        "host": "hyp1",
        "backup": "20260528T202640Z",
        "seconds": 3.2,
        "why": "no space",
    }
    failed = hv_alerts.from_entry(recorded("hv/backup/failed", "hyp1", payload))
    assert (failed["kind"], failed["severity"], failed["guest"]) == ("backup_failed", "warning", "vm1")
    assert failed["summary"] == "the backup of vm1 on hyp1 failed: no space"
    restore = hv_alerts.from_entry(recorded("hv/backup/restore/failed", "hyp1", payload))
    assert restore["summary"].startswith("the restore of vm1")
    frozen = hv_alerts.from_entry(recorded("hv/backup/thaw_failed", "hyp1", {"guest": "vm1", "host": "hyp1"}))
    assert frozen["severity"] == "critical" and "virsh domfsthaw vm1" in frozen["summary"]


def test_every_tag_an_alert_needs_is_recorded_by_the_reactor():
    reactions = yaml.safe_load((REPO / "master.d" / "reactor.conf").read_text())["reactor"]
    recorded_globs = [
        glob
        for entry in reactions
        for glob, files in entry.items()
        if any("evacuation_record.sls" in f for f in files)
    ]
    for tag in hv_alerts.tags():
        assert any(fnmatch.fnmatch(tag, glob) for glob in recorded_globs), tag


def test_every_kind_has_a_rule_or_a_check():
    made = {"split_brain", "drained_too_long"}
    for tag in hv_alerts.tags():
        entry = {
            "tag": tag,
            "minion": "hyp1",
            "host": "hyp1",
            "guest": "vm1",
            "result": False,
            "recorded": AT,
        }
        made.add(hv_alerts.from_entry(entry)["kind"])
    assert made == set(hv_alerts.KINDS)


# --------------------------------------------------------------- the whitelist


def test_only_whitelisted_fields_reach_an_alert():
    planted = {
        "guest": "vm9",
        "source": "hyp1",
        "why": "no room\x1b[31m\n\r\tforged line\u202e\u200bend",
        "api_token": FAKE_TOKEN,
        "password": FAKE_TOKEN,
        "pillar": {"online": {"api_token": FAKE_TOKEN}},
        "kind": "takeover",
        "severity": "info",
        "summary": "forged",
    }
    alert = hv_alerts.from_entry(recorded("hv/evacuation/guest/unplaced", "hyp1", planted))
    assert set(alert) <= set(hv_alerts.FIELDS)
    assert FAKE_TOKEN not in json.dumps(alert)
    assert (alert["kind"], alert["severity"]) == ("guest_unplaced", "warning")
    assert "(no room [31m forged line end)" in alert["summary"]  # the escape sequence defused
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u200b" for c in alert["summary"])


def test_a_long_text_is_cut_and_a_summary_is_one_line():
    alert = hv_alerts.from_entry(recorded("hv/failover/error", "hyp1", {"op": "sync", "error": "e" * 3000}))
    assert len(alert["summary"]) <= hv_alerts.SUMMARY_MAX and "e" * hv_alerts.TEXT_MAX not in alert["summary"]
    assert alert["summary"].endswith("…") and "\n" not in alert["summary"]


def test_a_name_that_is_no_name_is_not_shown():
    payload = {"guest": "vm1\n[hv] CRITICAL takeover: hyp3", "source": "hyp1", "why": "no room"}
    alert = hv_alerts.from_entry(recorded("hv/evacuation/guest/unplaced", "hyp1", payload))
    assert alert["guest"] == "?" and "CRITICAL" not in alert["summary"]
    structure = hv_alerts.from_entry(recorded("hv/failover/error", "hyp1", {"op": {"a": 1}, "error": ["x"]}))
    assert structure["summary"] == "the failover provider failed for hyp1 (?): no error given"


def test_a_text_holding_a_secret_or_a_private_key_is_withheld():
    secret = hv_alerts.from_entry(
        recorded("hv/failover/error", "hyp1", {"op": "sync", "error": f"token={FAKE_TOKEN} refused"}),
        secrets=[FAKE_TOKEN, "abc"],
    )
    assert FAKE_TOKEN not in secret["summary"] and "<withheld>" in secret["summary"]
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----"
    private = hv_alerts.from_entry(recorded("hv/failover/error", "hyp1", {"op": "sync", "error": key}))
    assert "PRIVATE" not in private["summary"] and "<withheld>" in private["summary"]
    short = hv_alerts.from_entry(
        recorded("hv/failover/error", "hyp1", {"op": "sync", "error": "abc"}), ["abc"]
    )
    assert short["summary"].endswith("abc")  # a secret shorter than 6 is not searched for


# -------------------------------------------------------------- the rate limit


def distinct(count, at=AT):
    return [
        hv_alerts.alert(
            "guest_unplaced", "warning", f"vm{i} fits nowhere", hv_alerts.iso(at), host="hyp1", guest=f"vm{i}"
        )
        for i in range(count)
    ]


def test_a_burst_of_100_gives_at_most_burst_plus_one_summary():
    limiter, sent = {}, []
    for alert in distinct(100):
        sent += hv_alerts.admit(limiter, alert, AT, burst=5, per=60)
    assert len(sent) == 5 and hv_alerts.flush(limiter, AT + 30, 5, 60) == []
    (summary,) = hv_alerts.flush(limiter, AT + 61, 5, 60)
    assert summary["kind"] == "suppressed" and summary["severity"] == "warning"
    assert summary["summary"].startswith(
        "95 alerts suppressed by the rate limit (alerts:rate): 95 guest_unplaced"
    )
    assert "hosts hyp1" in summary["summary"]
    assert hv_alerts.flush(limiter, AT + 62, 5, 60) == []
    json.loads(json.dumps(limiter))  # a plain dict the engine persists


def test_sending_resumes_with_the_summary_first():
    limiter = {}
    for alert in distinct(7):
        hv_alerts.admit(limiter, alert, AT, burst=5, per=60)
    takeover = hv_alerts.alert("takeover", "critical", "hyp1 taken over", hv_alerts.iso(AT), host="hyp1")
    limiter = json.loads(json.dumps(limiter))  # as persisted
    assert hv_alerts.admit(limiter, takeover, AT + 61, 5, 60)[0]["kind"] == "suppressed"  # one token: held
    summary, alert = hv_alerts.admit(limiter, dict(takeover, host="hyp2"), AT + 300, 5, 60)
    assert summary["severity"] == "critical" and alert["host"] == "hyp2"
    assert summary["summary"].startswith("1 alert suppressed by the rate limit (alerts:rate): 1 takeover;")


def test_the_bucket_refills_one_per_period_up_to_its_burst():
    limiter = {}
    alerts = distinct(20)
    assert sum(len(hv_alerts.admit(limiter, a, AT, 3, 10)) for a in alerts[:3]) == 3
    assert hv_alerts.admit(limiter, alerts[3], AT + 10, 3, 10) == [alerts[3]]
    assert hv_alerts.admit(limiter, alerts[4], AT + 10, 3, 10) == []
    later = hv_alerts.admit(limiter, alerts[5], AT + 10_000, 3, 10)  # full again, not more
    assert [a["kind"] for a in later] == ["suppressed", "guest_unplaced"]
    sent = sum(len(hv_alerts.admit(limiter, a, AT + 10_000, 3, 10)) for a in alerts[6:])
    assert sent == 1


def test_dedup_within_the_window_only():
    seen = {}
    one, other = distinct(2)
    assert not hv_alerts.duplicate(seen, one, AT, 600)
    assert hv_alerts.duplicate(seen, one, AT + 599, 600)
    assert not hv_alerts.duplicate(seen, other, AT + 10, 600)  # another guest
    assert not hv_alerts.duplicate(seen, one, AT + 700, 600)
    assert not hv_alerts.duplicate({}, one, AT, 0) and not hv_alerts.duplicate(seen, one, AT + 700, 0)
    json.loads(json.dumps(seen))


# ------------------------------------------------------------- the state checks


def status(volumes=None, hosts=None, incidents=None):
    """The parts of cluster.status's view the checks read (cluster_view.assemble's shape)."""
    return {"volumes": volumes or {}, "hosts": hosts or {}, "incidents": incidents or [], "problems": []}


def host(drained, since=None, reason=None):
    return {"up": drained is not None, "drained": drained, "drained_since": since, "drain_reason": reason}


def test_a_split_brain_is_alerted_once_then_when_it_clears():
    state = {}
    volumes = {
        "vmstore": {"status": "Started", "heal_entries": 3, "split_brain": 2},
        "save": {"split_brain": 0},
    }
    (alert,) = hv_alerts.conditions(status(volumes), state, 14400, AT)
    assert (alert["kind"], alert["severity"], alert["volume"]) == ("split_brain", "critical", "vmstore")
    assert "2 entries in split-brain" in alert["summary"]
    assert hv_alerts.conditions(status(volumes), state, 14400, AT + 60) == []
    assert hv_alerts.conditions(status({"error": "glusterd: no answer"}), state, 14400, AT + 120) == []
    unread = {"vmstore": {"status": None, "split_brain": None, "error": "heal info failed"}}
    assert hv_alerts.conditions(status(unread), state, 14400, AT + 150) == []
    (cleared,) = hv_alerts.conditions(status({"vmstore": {"split_brain": 0}}), state, 14400, AT + 180)
    assert (cleared["kind"], cleared["severity"]) == ("split_brain_cleared", "info")
    assert state == {"conditions": {}}


def test_a_host_drained_too_long_is_alerted_once_then_when_undrained():
    state = {}
    since = hv_alerts.iso(AT - 5 * 3600)
    (alert,) = hv_alerts.conditions(
        status(hosts={"hyp1": host(True, since, "operator")}), state, 4 * 3600, AT
    )
    assert (alert["kind"], alert["host"]) == ("drained_too_long", "hyp1")
    assert "drained for 5.0 h" in alert["summary"] and "operator" in alert["summary"]
    assert hv_alerts.conditions(status(hosts={"hyp1": host(True, since)}), state, 4 * 3600, AT + 60) == []
    assert hv_alerts.conditions(status(hosts={"hyp1": host(None)}), state, 4 * 3600, AT + 120) == []  # down
    (cleared,) = hv_alerts.conditions(status(hosts={"hyp1": host(False)}), state, 4 * 3600, AT + 180)
    assert cleared["kind"] == "drained_too_long_cleared" and cleared["host"] == "hyp1"
    young = hv_alerts.iso(AT - 600)
    assert hv_alerts.conditions(status(hosts={"hyp2": host(True, young)}), state, 4 * 3600, AT) == []
    assert hv_alerts.conditions(status(hosts={"hyp2": host(False)}), state, 4 * 3600, AT) == []


def test_a_host_drained_again_is_a_new_condition():
    state = {}
    first = hv_alerts.iso(AT - 5 * 3600)
    assert len(hv_alerts.conditions(status(hosts={"hyp1": host(True, first)}), state, 3600, AT)) == 1
    again = hv_alerts.iso(AT + 60)
    assert hv_alerts.conditions(status(hosts={"hyp1": host(True, again)}), state, 3600, AT + 120) == []
    assert len(hv_alerts.conditions(status(hosts={"hyp1": host(True, again)}), state, 3600, AT + 3700)) == 1


def incident(host="hyp1", generation=3, closed=None):
    """cluster_view's incident row."""
    return {
        "host": host,
        "generation": generation,
        "detected": "2026-05-28T20:00:00+00:00",
        "by": "hyp2",
        "guests": {"vm1": {"outcome": "started", "why": None}},
        "failover": {"moved": ["203.0.113.101"], "error": None},
        "fence": {"result": True, "comment": "fenced"},
        "refused": None,
        "unplaced": {},
        "done": "2026-05-28T20:01:00+00:00",
        "closed": closed,
    }


def test_an_open_incident_no_event_named_is_alerted_once():
    state = {}
    view = status(incidents=[incident(), incident("hyp3", 1, closed="2026-05-28T21:00:00+00:00")])
    (alert,) = hv_alerts.open_incidents(view, state)
    assert (alert["kind"], alert["host"], alert["event"]) == ("takeover", "hyp1", "status")
    assert "taken over by hyp2 at 2026-05-28T20:00:00+00:00" in alert["summary"]
    assert alert["at"] == "2026-05-28T20:00:00+00:00"
    assert hv_alerts.open_incidents(view, state) == []
    hv_alerts.note_incident(state, "hyp2-g7")  # a recorded hv/takeover/dead named it
    assert hv_alerts.open_incidents(status(incidents=[incident("hyp2", 7)]), state) == []
    assert hv_alerts.open_incidents(status(incidents={"error": "no host answered"}), state) == []


# ------------------------------------------------------------------ the cursor


def lines(*times):
    return [
        json.dumps({"tag": "hv/keeper/down", "guest": f"vm{i}", "recorded": t}) + "\n"
        for i, t in enumerate(times)
    ]


def test_the_cursor_is_a_time_and_a_count_at_that_time():
    record = lines(1.0, 2.0, 2.0, 2.0, 3.0)
    assert [e["guest"] for _, e in hv_alerts.after_cursor(record, {"recorded": 0, "count": 0})] == [
        "vm0",
        "vm1",
        "vm2",
        "vm3",
        "vm4",
    ]
    after = hv_alerts.after_cursor(record, {"recorded": 2.0, "count": 1})
    assert [(pos, e["guest"]) for pos, e in after] == [
        ((2.0, 2), "vm2"),
        ((2.0, 3), "vm3"),
        ((3.0, 1), "vm4"),
    ]
    assert hv_alerts.after_cursor(record, {"recorded": 3.0, "count": 1}) == []


def test_the_cursor_holds_across_a_trim_and_skips_a_torn_line():
    record = lines(1.0, 2.0, 3.0, 4.0, 5.0)
    trimmed = record[2:] + ['{"tag": "hv/keeper/down", "recor']  # the oldest cut, a line half written
    assert [e["guest"] for _, e in hv_alerts.after_cursor(trimmed, {"recorded": 3.0, "count": 1})] == [
        "vm3",
        "vm4",
    ]


# --------------------------------------------------------------- what is sent


def test_the_webhook_body_and_the_mail_carry_the_alert_alone():
    alert = hv_alerts.from_entry(recorded("hv/fence/done", "hyp2", fence_payload()))
    takeover = dict(
        hv_alerts.alert("takeover", "critical", "x", "2026-05-28T20:26:40+00:00"), incident="hyp1-g3"
    )
    body = hv_alerts.webhook_body(alert, "prod")
    assert body["text"].startswith("[prod] WARNING fence_done: hyp1 was fenced by hyp2")
    assert set(body) == {"text", "label", "kind", "severity", "host", "summary", "at", "event"}
    assert "incident" not in hv_alerts.webhook_body(takeover, "prod")
    msg = hv_alerts.mail_message(alert, "prod", "hv@example.net", ["ops@example.net", "oncall@example.net"])
    parsed = email.message_from_string(msg.as_string(), policy=email.policy.default)
    assert parsed["Subject"] == "[prod] WARNING fence_done: hyp1"
    assert parsed["To"] == "ops@example.net, oncall@example.net" and parsed["Message-ID"].endswith(
        "@example.net>"
    )
    assert alert["summary"] in parsed.get_content() and "host: hyp1" in parsed.get_content()


# ------------------------------------------------------------------- settings


def part(**over):
    base = {
        "webhook": {"url": f"https://hooks.example.net/services/{FAKE_TOKEN}", "token": FAKE_TOKEN},
        "mail": {
            "host": "smtp.example.net",
            "user": "alerts",
            "password": FAKE_TOKEN + "-pw",
            "from": "hv@example.net",
            "to": ["ops@example.net"],
        },
    }
    base.update(over)
    return base


def test_settings_take_the_rows_defaults():
    assert hv_alerts.settings(None) == (None, [])
    cfg, problems = hv_alerts.settings(part(rate={"burst": 2}))
    assert problems == []
    assert cfg["rate"] == {"burst": 2, "per_seconds": 60} and cfg["mail"]["tls"] == "starttls"
    assert cfg["kinds"] == list(hv_alerts.KINDS) and cfg["webhook"]["token_header"] == "Authorization"
    assert cfg["enabled"] is True and cfg["check_interval"] == 60


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"rate": {"burst": 0}}, "pillar key 'alerts:rate:burst': 0 is out of range 1..100"),
        ({"colour": "red"}, "pillar key 'alerts:colour': unknown key"),
        ({"kinds": ["takeover", "smoke"]}, "pillar key 'alerts:kinds:1': 'smoke' is not an alert kind"),
        (
            {"webhook": {"url": "ftp://x", "token": FAKE_TOKEN}},
            "pillar key 'alerts:webhook:url': is not an http(s) URL",
        ),
        (
            {"webhook": {"url": f"http://hooks.example.net/{FAKE_TOKEN}"}},
            "pillar key 'alerts:webhook:url': is plain http",
        ),
        (
            {"webhook": {"token": FAKE_TOKEN}},
            "pillar key 'alerts:webhook:token': is set without alerts:webhook:url",
        ),
        ({"webhook": {"url": 5}}, "pillar key 'alerts:webhook:url': must be a non-empty string"),
        (
            {"mail": {"host": "smtp.example.net"}},
            "pillar key 'alerts:mail:from': is required with alerts:mail:host",
        ),
        (
            {
                "mail": {
                    "host": "smtp.example.net",
                    "from": "a@example.net",
                    "to": ["b@example.net"],
                    "user": "u",
                }
            },
            "pillar key 'alerts:mail': user and password go together",
        ),
        (
            {
                "mail": {
                    "host": "smtp.example.net",
                    "from": "a@example.net",
                    "to": ["b@example.net"],
                    "user": "alerts",
                    "password": FAKE_TOKEN,
                    "tls": "none",
                }
            },
            "pillar key 'alerts:mail:tls': is none with a login",
        ),
        ({"webhook": {}, "mail": {}}, "pillar key 'alerts': alerts are enabled but nothing would carry them"),
        (
            {"mail": {"host": "smtp example", "from": "a@example.net", "to": ["b"]}},
            "'smtp example' is not a host name",
        ),
    ],
)
def test_settings_refuse_naming_the_key_never_the_secret(over, expected):
    _cfg, problems = hv_alerts.settings(part(**over))
    assert any(p.startswith(expected) or expected in p for p in problems), problems
    assert FAKE_TOKEN not in "\n".join(problems)


def test_a_webhook_token_under_an_unknown_key_is_not_shown():
    _cfg, problems = hv_alerts.settings(part(webhook={"url": "https://h.example.net/x", "tokn": FAKE_TOKEN}))
    assert problems == ["pillar key 'alerts:webhook:tokn': unknown key (did you mean 'token'?)"]


def test_alerts_turned_off_need_no_channel():
    assert hv_alerts.settings({"enabled": False})[1] == []


def test_the_schema_rows_of_the_alerts_have_limits():
    """As every setting under hypervisor: (tests/unit/test_pillar_reference.py)."""
    for row in load("_utils", "hv_schema_alerts").ALERT_ROWS:
        if row.kind == "str":
            assert row.pattern or row.choices, row.key
        if row.kind == "int":
            assert row.bounds, row.key
        if row.kind == "names":
            assert row.pattern, row.key


def test_the_pillar_reference_lists_every_alert_key():
    text = (REPO / "docs" / "pillar.md").read_text()
    for row in load("_utils", "hv_schema_alerts").ALERT_ROWS:
        assert f"| `alerts:{row.key}` |" in text


def test_the_example_alerts_part_is_valid_and_shows_every_key():
    example = yaml.safe_load(Path(REPO / "pillar.example").read_text())["alerts"]
    assert hv_alerts.settings(example)[1] == []
    shown = set()

    def walk(node, prefix=()):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, (*prefix, key))
            else:
                shown.add(":".join((*prefix, key)))

    walk(example)
    assert shown == {row.key for row in load("_utils", "hv_schema_alerts").ALERT_ROWS}


def test_the_alerts_page_shows_valid_settings():
    text = (REPO / "docs" / "alerts.md").read_text()
    (block,) = [yaml.safe_load(b) for b in re.findall(r"^ *```yaml\n(.*?)^ *```", text, re.M | re.S)]
    assert hv_alerts.settings(block["alerts"])[1] == []


def test_the_sender_the_master_verified_is_the_host_where_it_is_the_subject():
    """A host's payload names another host only where that is another (the dead one, the
    fenced one); where the sender is the subject, the alert names the sender."""
    guests = {"vm1": {"outcome": "running"}}
    evacuated = hv_alerts.from_entry(recorded("hv/evacuation/done", "hyp2", done(False, guests, host="hyp1")))
    unplaced = hv_alerts.from_entry(
        recorded("hv/evacuation/guest/unplaced", "hyp2", {"guest": "vm1", "source": "hyp1", "why": "x"})
    )
    backup = hv_alerts.from_entry(recorded("hv/backup/failed", "hyp2", {"guest": "vm1", "host": "hyp1"}))
    taken = hv_alerts.from_entry(
        recorded("hv/takeover/dead", "hyp2", {"host": "hyp1", "generation": 3, "by": "hyp3"})
    )
    assert [a["host"] for a in (evacuated, unplaced, backup)] == ["hyp2", "hyp2", "hyp2"]
    assert taken["host"] == "hyp1" and "taken over by hyp2" in taken["summary"]
