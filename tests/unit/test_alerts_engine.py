"""The alerts engine (issue 25, _engines/hv_alerts.py) over the real record: events
recorded by the hv_events runner (Salt's nodegroup matching, the file trimmed by
rewriting), read past the engine's cursor, sent to a real webhook on 127.0.0.1 (a 500
tried again, a 400 given up, the cursor past both), rate-limited (100 events: at most
burst + 1 summary), the cursor across a trim and across a restart (a second engine over
the same cachedir sends only what is new), the status checks, and no secret in an
alert, a log line or the engine's state (a recognisable fake token everywhere it could
leak). Mail against a real local SMTP relay (tests/unit/alert_servers.py): STARTTLS with
a certificate made here, a login, a transient 421 tried again, a refusal given up, a
relay without STARTTLS never given the password."""

import json
import logging
import os
import stat
import time

import pytest

from tests.loaders import load
from tests.unit.alert_servers import Relay, Webhook, certificates
from tests.unit.master_opts import master_opts

engine = load("_engines", "hv_alerts")
hv_events = load("_runners", "hv_events")

FAKE_TOKEN = "alerts-FAKE-token-Zq81xW"
PASSWORD = "alerts-FAKE-password-Kp3v"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The webhook is on 127.0.0.1: no proxy from the environment in between."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def opts(tmp_path):
    return master_opts(tmp_path)


@pytest.fixture
def configure_loader_modules(opts):
    return {hv_events: {"__opts__": opts}}


@pytest.fixture
def hook():
    server = Webhook()
    yield server
    server.close()


class Clock:
    """The engine's time: real unless set (the rate limit's tests move it)."""

    def __init__(self):
        self.now = None

    def __call__(self):
        return time.time() if self.now is None else self.now


def part(hook, **over):
    """An alerts part with the webhook (plain http: the local stand-in), its token in the
    URL's path and in the header."""
    alerts = {
        "webhook": {"url": f"{hook.url}/{FAKE_TOKEN}", "token": FAKE_TOKEN, "allow_http": True},
        "send": {"timeout": 5, "retries": 2},
        "label": "lab",
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(alerts.get(key), dict):
            alerts[key] = dict(alerts[key], **value)
        else:
            alerts[key] = value
    return alerts


def alerter(opts, alerts, status=None, clock=None):
    """An engine whose master's pillar is ``{"alerts": alerts}`` (a list: changed by the test)."""
    return engine.Alerter(
        opts, pillar=lambda: {"alerts": alerts[0]}, status=status, clock=clock or Clock(), backoff=0
    )


def record(tag, sender="hyp2", **payload):
    """``tag`` fired by ``sender``, through the reactor's recorder."""
    event = {"id": sender, "_stamp": "2026-05-28T20:26:40.123456", "data": payload, "jid": "1"}
    assert hv_events.record(tag, event)


def dead(host="hyp1", generation=3):
    record(
        "hv/takeover/dead",
        host=host,
        host_id=1,
        generation=generation,
        detected="2026-05-28T20:26:40+00:00",
        by="hyp2",
    )


def fenced(host="hyp1"):
    record(
        "hv/fence/done",
        host=host,
        server_id=1001,
        image="debian-12",
        reason="taken over by hyp2",
        rescue=True,
        rebooted=True,
        may_have_rebooted=True,
        comment=f"{host} (server 1001) fenced",
    )


def kinds(hook):
    return [b["kind"] for b in hook.bodies()]


# ------------------------------------------------------------ record to webhook


def test_recorded_events_are_sent_once(opts, hook):
    alerts = [part(hook)]
    one = alerter(opts, alerts)
    dead()
    record("hv/takeover/guest/started", guest="vm1", host="hyp2", **{"from": "hyp1"})
    fenced()
    record("hv/keeper/down", sender="hyp1", guest="vm3", host="hyp1", why="crashed", kind="crash")
    one.tick()
    assert kinds(hook) == ["takeover", "fence_done"]
    request = hook.requests[0]
    assert request["path"].endswith(f"/hooks/T00/B00/{FAKE_TOKEN}")
    assert request["headers"]["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    body = hook.bodies()[0]
    assert body["text"].startswith("[lab] CRITICAL takeover: hyp1 was taken for dead")
    assert FAKE_TOKEN not in json.dumps(hook.bodies())
    one.tick()
    assert len(hook.requests) == 2


def test_a_500_is_tried_again_and_a_400_given_up(opts, hook, caplog):
    caplog.set_level(logging.INFO)
    one = alerter(opts, [part(hook)])
    hook.script = [500, 200]
    dead()
    one.tick()
    assert len(hook.requests) == 2 and kinds(hook) == ["takeover", "takeover"]
    assert "sent takeover (hyp1) by webhook http://127.0.0.1:" in caplog.text
    assert "HTTP 200 after 1 retry" in caplog.text
    hook.script = [400]
    fenced()
    one.tick()
    assert len(hook.requests) == 3
    assert "gave up fence_done (hyp1) by webhook" in caplog.text and "HTTP 400" in caplog.text
    one.tick()  # given up is done with: the cursor is past it
    assert len(hook.requests) == 3


def test_a_5xx_that_lasts_is_given_up_after_the_retries(opts, hook, caplog):
    one = alerter(opts, [part(hook, send={"retries": 2})])
    hook.script = [503, 503, 503, 503]
    dead()
    one.tick()
    assert len(hook.requests) == 3  # one try and two retries
    assert "HTTP 503 after 2 retries" in caplog.text
    one.tick()
    assert len(hook.requests) == 3 and hook.script == [503]


def test_a_redirect_is_not_followed(opts, hook, caplog):
    one = alerter(opts, [part(hook)])
    hook.script = [302]
    dead()
    one.tick()
    assert len(hook.requests) == 1 and "a redirect, not followed" in caplog.text


def test_a_webhook_that_does_not_answer_is_given_up(opts, hook, caplog):
    alerts = part(hook, send={"retries": 1})
    alerts["webhook"]["url"] = f"http://127.0.0.1:9/{FAKE_TOKEN}"  # discard: nothing listens
    one = alerter(opts, [alerts])
    dead()
    one.tick()
    assert "gave up takeover (hyp1) by webhook http://127.0.0.1:9/…: no connection" in caplog.text
    assert FAKE_TOKEN not in caplog.text


# -------------------------------------------------------------- rate and dedup


def test_100_events_give_at_most_burst_plus_one_alerts(opts, hook):
    clock = Clock()
    clock.now = time.time() - 5  # the engine's first start: before the events
    one = alerter(opts, [part(hook, rate={"burst": 5, "per_seconds": 60})], clock=clock)
    for index in range(100):
        record(
            "hv/evacuation/guest/unplaced", sender="hyp1", guest=f"vm{index}", source="hyp1", why="no room"
        )
    clock.now += 10
    one.tick()
    assert len(hook.requests) == 5
    clock.now += 30
    one.tick()
    assert len(hook.requests) == 5
    clock.now += 31
    one.tick()
    assert len(hook.requests) == 6
    summary = hook.bodies()[-1]
    assert summary["kind"] == "suppressed"
    assert summary["summary"].startswith(
        "95 alerts suppressed by the rate limit (alerts:rate): 95 guest_unplaced"
    )
    clock.now += 3600
    one.tick()
    assert len(hook.requests) == 6


def test_the_critical_go_first_within_a_pass(opts, hook):
    one = alerter(opts, [part(hook, rate={"burst": 1, "per_seconds": 3600})])
    record("hv/failover/error", sender="hyp1", op="sync", error="HTTP 503")
    dead()
    one.tick()
    assert kinds(hook) == ["takeover"]


def test_a_fence_failure_said_twice_is_one_alert(opts, hook):
    one = alerter(opts, [part(hook)])
    record("hv/fence/failed", host="hyp1", server_id=1001, comment="HTTP 503", may_have_rebooted=False)
    record("hv/takeover/fence/failed", host="hyp1", result=False, comment="HTTP 503", attempts=1)
    one.tick()
    assert kinds(hook) == ["fence_failed"]


def test_only_the_kinds_set_are_sent(opts, hook):
    one = alerter(opts, [part(hook, kinds=["fence_done"])])
    dead()
    fenced()
    one.tick()
    assert kinds(hook) == ["fence_done"]


# ------------------------------------------------------------ cursor, restarts


def test_the_first_start_begins_at_that_moment(opts, hook):
    dead()
    one = alerter(opts, [part(hook)])
    one.tick()
    assert hook.requests == []
    fenced()
    one.tick()
    assert kinds(hook) == ["fence_done"]


def test_the_first_start_is_past_a_line_recorded_later_than_its_clock(opts, hook):
    dead()  # recorded now: the engine's clock says an hour ago (set back since)
    clock = Clock()
    clock.now = time.time() - 3600
    one = alerter(opts, [part(hook)], clock=clock)
    one.tick()
    assert hook.requests == []
    fenced()
    one.tick()
    assert kinds(hook) == ["fence_done"]


def test_a_restarted_engine_sends_only_what_is_new(opts, hook):
    """The master restarted: a second engine over the same cachedir resumes from the
    cursor the first left; what was recorded meanwhile (and not sent) is sent, once."""
    alerts = [part(hook)]
    first = alerter(opts, alerts)
    dead("hyp1")
    first.tick()
    assert [b["host"] for b in hook.bodies()] == ["hyp1"]
    dead("hyp3", 5)
    fenced("hyp3")  # recorded, not yet sent when the master stops
    second = alerter(opts, alerts)
    second.tick()
    assert [(b["kind"], b["host"]) for b in hook.bodies()[1:]] == [
        ("takeover", "hyp3"),
        ("fence_done", "hyp3"),
    ]
    first.tick()  # a stale engine reads the state again: nothing twice
    second.tick()
    assert len(hook.requests) == 3


def test_the_cursor_holds_across_a_trim(opts, hook, monkeypatch):
    monkeypatch.setattr(hv_events, "KEEP", 4)
    monkeypatch.setattr(hv_events, "TRIM_BYTES", 1500)
    one = alerter(opts, [part(hook, dedup_seconds=0, rate={"burst": 50})])
    for index in range(6):
        record("hv/failover/error", sender="hyp1", op="sync", error=f"error {index}")
    one.tick()
    assert len(hook.requests) == 6
    path = opts["cachedir"] + "/hv-events.jsonl"
    for index in range(6, 12):
        record("hv/failover/error", sender="hyp1", op="sync", error=f"error {index}")
    with open(path) as handle:
        assert len(handle.readlines()) < 12  # trimmed, by rewriting the file
    one.tick()
    assert [b["summary"].rsplit(" ", 1)[1] for b in hook.bodies()] == [str(i) for i in range(12)]


def test_a_crash_after_a_send_does_not_send_it_again(opts, hook, monkeypatch):
    """The cursor moves once a batch is done; what was sent before a crash is in the dedup
    state already (written after each send)."""
    one = alerter(opts, [part(hook)])
    dead()
    fenced()
    sent = []
    real = engine.post_webhook

    def crash_on_the_second(*args, **kwargs):
        if sent:
            raise SystemExit("the master stops")
        sent.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "post_webhook", crash_on_the_second)
    with pytest.raises(SystemExit):
        one.tick()
    monkeypatch.setattr(engine, "post_webhook", real)
    alerter(opts, [part(hook)]).tick()
    assert kinds(hook) == ["takeover", "fence_done"]


# ---------------------------------------------------------- settings and off


def test_without_settings_nothing_is_sent_and_the_record_is_read_past(opts, hook):
    alerts = [None]
    one = alerter(opts, alerts)
    dead()
    one.tick()
    alerts[0] = {"enabled": False, **part(hook)}
    fenced()
    one.tick()
    alerts[0] = part(hook)
    one._compiled = None  # the pillar compiled again (every minute)
    record("hv/fence/failed", host="hyp1", comment="HTTP 503")
    one.tick()
    assert kinds(hook) == ["fence_failed"]


def test_wrong_settings_hold_the_record_until_they_are_right(opts, hook, caplog):
    alerts = [part(hook, rate={"burst": 0})]
    one = alerter(opts, alerts)
    dead()
    one.tick()
    one.tick()
    assert hook.requests == []
    said = [r.getMessage() for r in caplog.records if "alerts wait" in r.getMessage()]
    assert said == [
        "hv_alerts: pillar key 'alerts:rate:burst': 0 is out of range 1..100: alerts wait until it is right"
    ]
    alerts[0] = part(hook)
    one._compiled = None
    one.tick()
    assert kinds(hook) == ["takeover"]


def test_a_pillar_that_does_not_render_holds_the_record(opts, hook, caplog):
    alerts = [part(hook)]
    one = engine.Alerter(opts, pillar=lambda: {"_errors": ["Rendering SLS 'alerts' failed"]}, backoff=0)
    dead()
    one.tick()
    assert hook.requests == [] and "has rendering errors: salt-run pillar.show_pillar" in caplog.text
    one._pillar, one._compiled = (lambda: {"alerts": alerts[0]}), None
    one.tick()
    assert kinds(hook) == ["takeover"]


# ---------------------------------------------------------------- the checks


def view(split_brain=0, drained=False, since=None, incidents=()):
    return {
        "hosts": {
            "hyp1": {"up": True, "drained": drained, "drained_since": since, "drain_reason": "operator"}
        },
        "volumes": {"vmstore": {"status": "Started", "heal_entries": 0, "split_brain": split_brain}},
        "incidents": list(incidents),
        "problems": [],
    }


def incident(host="hyp1", generation=3):
    return {
        "host": host,
        "generation": generation,
        "detected": "2026-05-28T20:26:40+00:00",
        "by": "hyp2",
        "closed": None,
    }


def test_the_status_is_checked_at_start_then_every_check_interval(opts, hook):
    clock = Clock()
    clock.now = time.time()
    views = [view(split_brain=4, incidents=[incident("hyp3", 9)])]
    asked = []

    def status():
        asked.append(clock.now)
        return views[0]

    one = alerter(opts, [part(hook, check_interval=60)], status=status, clock=clock)
    one.tick()
    assert sorted(kinds(hook)) == ["split_brain", "takeover"]  # the incident: open, never alerted
    clock.now += 30
    one.tick()
    assert len(asked) == 1
    views[0] = view(split_brain=0, drained=True, since="2026-01-01T00:00:00+00:00")
    clock.now += 31
    one.tick()
    assert kinds(hook)[2:] == ["drained_too_long", "split_brain_cleared"]
    clock.now += 60
    one.tick()
    assert len(hook.requests) == 4 and len(asked) == 3


def test_a_takeover_alerted_from_its_event_is_not_alerted_again_by_the_check(opts, hook):
    one = alerter(opts, [part(hook)], status=lambda: view(incidents=[incident("hyp1", 3)]))
    dead("hyp1", 3)
    one.tick()
    assert kinds(hook) == ["takeover"]
    restarted = alerter(opts, [part(hook)], status=lambda: view(incidents=[incident("hyp1", 3)]))
    restarted.tick()
    assert len(hook.requests) == 1


def test_a_status_check_that_fails_is_logged_and_the_rest_goes_on(opts, hook, caplog):
    def status():
        raise RuntimeError(f"LocalClient: {FAKE_TOKEN} no master")

    one = alerter(opts, [part(hook)], status=status)
    dead()
    one.tick()
    assert kinds(hook) == ["takeover"] and "the status check failed: RuntimeError" in caplog.text
    assert FAKE_TOKEN not in caplog.text


# ------------------------------------------------------------------ no secret


def test_no_secret_in_an_alert_a_log_line_or_the_state(opts, hook, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    alerts = part(hook)
    alerts["mail"] = {
        "host": "127.0.0.1",
        "port": 9,  # nothing listens: given up
        "tls": "starttls",
        "user": "relay-user",
        "password": PASSWORD,
        "from": "hv@example.net",
        "to": ["ops@example.net"],
    }
    alerts["send"]["retries"] = 0
    one = alerter(opts, [alerts], status=lambda: view(split_brain=1, incidents=[incident("hyp3", 2)]))
    record("hv/failover/error", sender="hyp1", op="sync", error=f"the hook said {FAKE_TOKEN}; pw {PASSWORD}")
    record(
        "hv/evacuation/guest/unplaced",
        sender="hyp1",
        guest="vm1",
        source="hyp1",
        why="x",
        api_token=FAKE_TOKEN,
    )
    hook.script = [400]
    one.tick()
    assert len(hook.requests) == 4
    state = (tmp_path / "hv-alerts.json").read_text()
    assert stat.S_IMODE(os.stat(tmp_path / "hv-alerts.json").st_mode) == 0o600
    for text in (caplog.text, state, json.dumps(hook.bodies())):
        assert FAKE_TOKEN not in text and PASSWORD not in text
    assert "gave up failover_error (hyp1) by mail via 127.0.0.1:9: no answer" in caplog.text


# ------------------------------------------------------------------------ mail


@pytest.fixture
def tls(tmp_path):
    return certificates(tmp_path)


def mail_part(relay, ca_file=None, **over):
    mail = {
        "host": "127.0.0.1",
        "port": relay.port,
        "tls": "starttls",
        "user": "relay-user",
        "password": PASSWORD,
        "from": "hv-alerts@example.net",
        "to": ["ops@example.net", "oncall@example.net"],
        "ca_file": str(ca_file) if ca_file else "",
    }
    mail.update(over)
    return {"mail": mail, "send": {"timeout": 5, "retries": 2}, "label": "lab"}


def test_mail_with_starttls_and_a_login(opts, tls, caplog):
    caplog.set_level(logging.INFO)
    ca_file, context = tls
    relay = Relay(context, password=PASSWORD)
    try:
        one = alerter(opts, [mail_part(relay, ca_file)])
        dead()
        one.tick()
    finally:
        relay.close()
    (message,) = relay.messages
    assert message["tls"] and message["login"] == "relay-user"
    assert message["to"] == ["ops@example.net", "oncall@example.net"]
    text = message["data"].decode()
    assert "Subject: [lab] CRITICAL takeover: hyp1" in text and "hyp1 was taken for dead" in text
    assert relay.logins == [("relay-user", PASSWORD, True)]
    assert PASSWORD not in caplog.text and "sent takeover (hyp1) by mail via 127.0.0.1" in caplog.text


def test_mail_tried_again_after_a_421_and_given_up_on_a_550(opts, tls, caplog):
    caplog.set_level(logging.INFO)
    ca_file, context = tls
    relay = Relay(context, password=PASSWORD)
    relay.script = ["421", "ok", "550"]
    try:
        one = alerter(opts, [mail_part(relay, ca_file)])
        dead()
        one.tick()
        assert len(relay.messages) == 1 and "sent after 1 retries" in caplog.text
        fenced()
        one.tick()
    finally:
        relay.close()
    assert len(relay.messages) == 1 and "the relay refused every recipient" in caplog.text


def test_no_password_to_a_relay_without_starttls(opts, caplog):
    relay = Relay(None, password=PASSWORD)  # offers AUTH in clear, no STARTTLS
    try:
        one = alerter(opts, [mail_part(relay)])
        dead()
        one.tick()
    finally:
        relay.close()
    assert relay.messages == [] and relay.logins == [] and "AUTH" not in relay.commands
    assert "the relay offers no STARTTLS: not sent" in caplog.text


def test_a_relay_whose_certificate_is_not_trusted(opts, tls, caplog):
    _ca_file, context = tls
    relay = Relay(context, password=PASSWORD)
    try:
        one = alerter(opts, [mail_part(relay)])  # the system's CAs: not this test's
        dead()
        one.tick()
    finally:
        relay.close()
    assert relay.messages == [] and relay.logins == [] and "TLS failed" in caplog.text


def test_mail_in_clear_without_a_login_to_a_local_relay(opts):
    relay = Relay(None)
    try:
        part_ = mail_part(relay, tls="none")
        del part_["mail"]["user"], part_["mail"]["password"]
        one = alerter(opts, [part_])
        dead()
        one.tick()
    finally:
        relay.close()
    (message,) = relay.messages
    assert not message["tls"] and message["login"] is None


# ----------------------------------------------------------- the master's config


def test_the_engine_loads_through_salts_loader(opts, tmp_path):
    """As the master loads it: engines_dirs, its rules imported from utils_dirs."""
    import salt.config
    import salt.loader

    from tests.loaders import REPO

    opts.update(engines_dirs=[str(REPO / "_engines")], utils_dirs=[str(REPO / "_utils")])
    salt.config.insert_system_path(opts, opts["utils_dirs"])
    utils = salt.loader.utils(opts)
    engines = salt.loader.engines(opts, {}, {}, utils)
    start = engines["hv_alerts.start"]
    assert start.__globals__["rules"].__file__ == str(REPO / "_utils" / "hv_alerts.py")


def test_master_d_alerts_conf_adds_the_engine_and_the_masters_nodegroup(tmp_path):
    """master.d/alerts.conf beside hypervisor.conf, as install copies them: Salt merges the
    nodegroups of both."""
    import shutil

    import salt.config

    from tests.loaders import REPO

    (tmp_path / "master.d").mkdir()
    for name in ("hypervisor.conf", "reactor.conf", "alerts.conf"):
        shutil.copy(REPO / "master.d" / name, tmp_path / "master.d" / name)
    (tmp_path / "master").write_text(f"root_dir: {tmp_path}\n")
    config = salt.config.master_config(str(tmp_path / "master"))
    assert config["engines"] == [{"hv_alerts": {"interval": 5}}]
    assert config["engines_dirs"] == ["/srv/hypervisor/_engines"]
    assert set(config["nodegroups"]) == {"hypervisors", "guest_hosts", "alerts_master"}
    assert config["nodegroups"]["alerts_master"] == "L@salt_master"
    assert any("hv/fence/*" in entry for entry in config["reactor"])


def test_start_compiles_the_masters_own_pillar_and_checks_the_status(opts, hook, tmp_path, monkeypatch):
    """The engine as the master starts it: its settings from the pillar Salt compiles for
    the master's id (pillar/top.sls, the nodegroup alerts_master, a cluster's own
    alerts.sls in front of the checkout's), the status from the cluster.status runner."""
    from tests.loaders import REPO

    own = tmp_path / "hypervisor-pillar"
    own.mkdir()
    url = f"{hook.url}/{FAKE_TOKEN}"
    (own / "alerts.sls").write_text(f"alerts:\n  webhook:\n    url: {url}\n    allow_http: true\n")
    opts.update(
        id="hvlab_master",
        file_roots={"base": [str(REPO / "salt")]},
        pillar_roots={"base": [str(own), str(REPO / "pillar")]},
        nodegroups=dict(opts["nodegroups"], alerts_master="L@hvlab_master"),
    )
    asked = []

    def status(timeout):
        asked.append(timeout)
        return {"outputter": "hv_status", "data": view(incidents=[incident("hyp1", 4)])}

    class Stop(Exception):
        pass

    def sleep(seconds):
        raise Stop(seconds)

    monkeypatch.setattr(engine, "__opts__", opts, raising=False)
    monkeypatch.setattr(engine, "__runners__", {"cluster.status": status}, raising=False)
    monkeypatch.setattr(engine.time, "sleep", sleep)
    with pytest.raises(Stop):
        engine.start(interval=7)
    assert asked == [engine.STATUS_TIMEOUT]
    assert [(b["kind"], b["host"], b["event"]) for b in hook.bodies()] == [("takeover", "hyp1", "status")]
