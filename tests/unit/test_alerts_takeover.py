"""A host's death, end to end on the master's side (issue 25): the takeover module's
real pass (the harness of tests/unit/test_takeover.py: hyp1 dead, hyp2 takes it over)
fires its events, and the fence's (online.fence's hv/fence/started and done, with its
event keys); each goes through the reactor's recorder, and the alerts engine sends one
takeover alert and one fence alert to a real webhook, nothing on the next looks."""

import pytest

from tests.loaders import load
from tests.unit.alert_servers import Webhook
from tests.unit.master_opts import master_opts
from tests.unit.test_takeover import FREE, Cluster, view

engine = load("_engines", "hv_alerts")
hv_events = load("_runners", "hv_events")
hv_failover_fence = load("_utils", "hv_failover_fence")
takeover = load("_modules", "takeover")


class DyingHost(Cluster):
    """The takeover harness whose fence fires what online.fence fires."""

    def _fence(self, host, reason=None, image=None):
        ret = dict(super()._fence(host, reason, image), host=host, reason=reason, rescue=True, rebooted=True)
        ret["comment"] = f"{host} (server 1001) fenced: the API took its hard reboot into the rescue system"
        started = {"host": host, "server_id": 1001, "reason": reason, "comment": f"fencing {host}"}
        self.calls.append(("event.send", ("hv/fence/started", started), {}))
        self.calls.append(
            ("event.send", ("hv/fence/done", {k: ret[k] for k in hv_failover_fence.EVENT_KEYS}), {})
        )
        return ret


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    cluster = DyingHost(view("hyp2", tmp_path))
    monkeypatch.setattr(takeover.hv_domains, "capacity", lambda hv, host, me: FREE)
    monkeypatch.setattr(takeover.hv_domains, "reachable", lambda hv, host: None)
    return cluster


@pytest.fixture
def opts(tmp_path):
    return master_opts(tmp_path / "master")


@pytest.fixture
def configure_loader_modules(cluster, opts):
    return {
        takeover: {"__salt__": cluster.funcs(), "__pillar__": {"hypervisor": {}, "online": {}}},
        hv_events: {"__opts__": opts},
    }


@pytest.fixture
def hook(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = Webhook()
    yield server
    server.close()


def test_a_host_death_sends_one_takeover_and_one_fence_alert(cluster, opts, hook):
    alerts = {"webhook": {"url": hook.url, "allow_http": True}, "label": "lab"}
    alerter = engine.Alerter(opts, pillar=lambda: {"alerts": alerts}, backoff=0)
    reactor = 0

    def look():
        nonlocal reactor
        takeover.check()
        events = [c[1] for c in cluster.calls if c[0] == "event.send"]
        for tag, data in events[reactor:]:  # the reactor records what hyp2 fired
            hv_events.record(tag, {"id": "hyp2", "_stamp": "2026-05-28T20:26:40", "data": data})
        reactor = len(events)
        alerter.tick()

    look()
    assert "hv/takeover/dead" in cluster.events() and "hv/takeover/fenced" in cluster.events()
    assert [(b["kind"], b["host"]) for b in hook.bodies()] == [("takeover", "hyp1"), ("fence_done", "hyp1")]
    look()
    look()
    assert len(hook.requests) == 2
