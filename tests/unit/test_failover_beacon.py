"""The hv_failover beacon (_beacons/hv_failover.py) as plain Python, over a
fake ``online.routed_ips`` (the dicts the real one returns) and a fake clock.

validate: a list of one-key mappings with positive numbers. beacon: the first
poll fires only when the API's set differs from what proxy ARP answers for; a
later change fires once (``added``/``removed`` against the previous poll); no
change fires nothing; a failed poll fires nothing and is logged once per kind
of failure, and once more when polling works again; while the API's set and
proxy ARP still disagree, the event fires again (``resync``) ``resync`` s
after the last one, not before."""

import logging
import types
from unittest.mock import call, create_autospec

import pytest

from tests.loaders import load

hv_failover = load("_beacons", "hv_failover")
online = load("_modules", "online")
IP1, IP2, IP3 = "203.0.113.101", "203.0.113.102", "203.0.113.103"
CONFIG = [{"interval": 1}, {"timeout": 2}, {"resync": 60}]
FAILED = "hv_failover: polling the provider failed: {}"
AGAIN = "hv_failover: polling the provider works again"


class Api:
    """online.routed_ips on a fake host: ``ips`` the API routes here, ``answered``
    the proxyarp file's IPs, ``fault`` (kind, comment) for a failed poll."""

    def __init__(self):
        self.ips, self.answered, self.fault = [], [], None

    def routed_ips(self, timeout=None):
        ret = {"result": True, "ips": list(self.ips), "answered": list(self.answered)}
        ret.update(kind=None, comment="")
        if self.fault:
            kind, comment = self.fault
            ret.update(result=False, ips=[], kind=kind, comment=comment)
        return ret


class Clock:
    """time.monotonic for the beacon: moved by the tests."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


@pytest.fixture
def api():
    return Api()


@pytest.fixture
def routed(api):
    return create_autospec(online.routed_ips, side_effect=api.routed_ips)


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(hv_failover, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture(autouse=True)
def dunders(monkeypatch, routed, clock):
    context = {}
    monkeypatch.setattr(hv_failover, "__salt__", {"online.routed_ips": routed}, raising=False)
    monkeypatch.setattr(hv_failover, "__context__", context, raising=False)
    return context


@pytest.fixture
def logged(caplog):
    """The beacon's log records so far, as (level, message)."""
    caplog.set_level(logging.DEBUG, logger=hv_failover.log.name)
    return lambda: [(r.levelname, r.getMessage()) for r in caplog.records if r.name == hv_failover.log.name]


def poll(config=CONFIG):
    return hv_failover.beacon(config)


def event(ips, added=(), removed=(), resync=False):
    return [{"ips": ips, "added": list(added), "removed": list(removed), "resync": resync}]


# ------------------------------------------------------------------- validate


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        [],
        [{"interval": 10}],
        [{"interval": 0.5}, {"timeout": 0.2}, {"resync": 30.5}],
    ],
)
def test_validate_accepts(config):
    assert hv_failover.validate(config) == (True, "valid beacon configuration")


@pytest.mark.parametrize(
    "config",
    [
        {"interval": 10},
        None,
        "interval: 10",
        ({"interval": 10},),
        ["interval"],
        [None],
        [["ab"]],
        [{"interval": 1}, "x"],
    ],
)
def test_validate_wants_a_list_of_mappings(config):
    assert hv_failover.validate(config) == (
        False,
        "hv_failover: the configuration must be a list of mappings",
    )


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ([{"interval": 0}], "interval"),
        ([{"interval": -1}], "interval"),
        ([{"interval": 10}, {"timeout": 0}], "timeout"),
        ([{"timeout": -0.5}], "timeout"),
        ([{"resync": 0}], "resync"),
        ([{"resync": True}], "resync"),
        ([{"interval": False}], "interval"),
        ([{"timeout": True}], "timeout"),
        ([{"timeout": "5"}], "timeout"),
        ([{"resync": None}], "resync"),
        ([{"interval": [10]}], "interval"),
    ],
)
def test_validate_refuses_a_bad_number(config, key):
    assert hv_failover.validate(config) == (
        False,
        f"hv_failover: {key} must be a positive number of seconds",
    )


# ------------------------------------------------------------------- beacon


def test_first_poll_agreeing_with_proxyarp_fires_nothing(api, routed, dunders):
    api.ips = api.answered = [IP1, IP2]
    assert poll() == []
    assert routed.call_args_list == [call(timeout=2)]
    assert dunders["hv_failover.ips"] == [IP1, IP2]


def test_first_poll_with_nothing_anywhere_fires_nothing(api):
    assert poll() == []


def test_first_poll_differing_from_proxyarp_fires(api):
    api.ips, api.answered = [IP2, IP1], [IP1, IP3]
    assert poll() == event([IP1, IP2], added=[IP2], removed=[IP3])


def test_first_poll_when_proxyarp_answers_for_nothing(api):
    api.ips = [IP1]
    assert poll() == event([IP1], added=[IP1])


def test_first_poll_when_the_api_routes_nothing_here(api):
    api.answered = [IP1, IP2]
    assert poll() == event([], removed=[IP1, IP2])


def test_a_change_fires_once(api, clock):
    api.ips = api.answered = [IP1]
    assert poll() == []
    api.ips = [IP1, IP2]
    clock.now += 1
    assert poll() == event([IP1, IP2], added=[IP2])
    # The sync catches up: proxy ARP answers for the new set; nothing more.
    api.answered = [IP1, IP2]
    for _ in range(3):
        clock.now += 100
        assert poll() == []
    api.ips = [IP2]
    clock.now += 1
    assert poll() == event([IP2], removed=[IP1])


def test_added_and_removed_are_against_the_previous_poll(api, clock):
    api.ips = api.answered = [IP1]
    assert poll() == []
    api.ips = [IP2, IP3]
    assert poll() == event([IP2, IP3], added=[IP2, IP3], removed=[IP1])
    api.ips = [IP3, IP1]  # proxy ARP still answers for IP1 alone: against the poll, not the file
    clock.now += 1
    assert poll() == event([IP1, IP3], added=[IP1], removed=[IP2])


def test_no_change_fires_nothing(api, routed, clock):
    api.ips = api.answered = [IP1, IP2]
    for _ in range(5):
        assert poll() == []
        clock.now += 1000
    assert routed.call_count == 5


def test_defaults_when_the_config_says_nothing(api, routed, clock):
    api.ips, api.answered = [IP1], []
    assert poll([]) == event([IP1], added=[IP1])
    assert routed.call_args_list == [call()]  # the poll's timeout: routed_ips's, from the settings
    clock.now += 59
    assert poll([]) == []
    clock.now += 1
    assert poll([]) == event([IP1], resync=True)


def test_a_failed_poll_fires_nothing_and_is_logged_once_per_kind(api, logged, clock):
    api.ips = api.answered = [IP1]
    assert poll() == []
    api.fault = ("server", "Online API: GET /server/1001: HTTP 503: Service temporarily unavailable")
    for _ in range(3):
        clock.now += 1
        assert poll() == []
    api.fault = ("timeout", "Online API: GET /server/1001: no answer within 2 s")
    assert poll() == []
    assert poll() == []
    api.fault = (None, "something went wrong")  # no kind: counted as "error"
    assert poll() == []
    assert poll() == []
    assert logged() == [
        ("WARNING", FAILED.format("Online API: GET /server/1001: HTTP 503: Service temporarily unavailable")),
        ("WARNING", FAILED.format("Online API: GET /server/1001: no answer within 2 s")),
        ("WARNING", FAILED.format("something went wrong")),
    ]


def test_polling_works_again(api, logged, dunders, clock):
    api.ips = api.answered = [IP1]
    assert poll() == []
    api.fault = ("connection", "Online API: GET /server/1001: connection failed: Connection refused")
    assert poll() == []
    assert poll() == []
    # The route changed while the API did not answer: reported against the last good poll.
    api.fault, api.ips = None, [IP1, IP2]
    clock.now += 1
    assert poll() == event([IP1, IP2], added=[IP2])
    assert "hv_failover.failure" not in dunders
    assert poll() == []
    assert logged() == [
        ("WARNING", FAILED.format("Online API: GET /server/1001: connection failed: Connection refused")),
        ("WARNING", AGAIN),
    ]
    # A new failure of the same kind is logged again.
    api.fault = ("connection", "Online API: GET /server/1001: connection failed: Connection refused")
    assert poll() == []
    assert logged()[2:] == [
        ("WARNING", FAILED.format("Online API: GET /server/1001: connection failed: Connection refused"))
    ]


def test_a_first_poll_that_fails_leaves_the_comparison_to_the_next(api, logged):
    api.ips, api.answered = [IP1], []
    api.fault = ("config", "no failover provider is configured (no online:api_token in pillar)")
    assert poll() == []
    assert poll() == []
    api.fault = None
    assert poll() == event([IP1], added=[IP1])
    assert logged() == [
        ("WARNING", FAILED.format("no failover provider is configured (no online:api_token in pillar)")),
        ("WARNING", AGAIN),
    ]


def test_resync_fires_again_after_resync_seconds(api, clock):
    api.ips, api.answered = [IP1], []
    assert poll() == event([IP1], added=[IP1])
    # The sync failed: proxy ARP still answers for nothing.
    for step in (1, 30, 28.5):
        clock.now += step
        assert poll() == []
    clock.now += 0.5  # 60 s since the event
    assert poll() == event([IP1], resync=True)
    clock.now += 59
    assert poll() == []
    clock.now += 1
    assert poll() == event([IP1], resync=True)
    # The sync worked this time: nothing more, however long.
    api.answered = [IP1]
    clock.now += 600
    assert poll() == []


def test_a_change_restarts_the_resync_wait(api, clock):
    api.ips, api.answered = [IP1], []
    assert poll() == event([IP1], added=[IP1])
    clock.now += 50
    api.ips = [IP1, IP2]
    assert poll() == event([IP1, IP2], added=[IP2])
    clock.now += 59  # 109 s since the first event, 59 since the last
    assert poll() == []
    clock.now += 1
    assert poll() == event([IP1, IP2], resync=True)


def test_resync_after_an_agreement_that_came_apart(api, clock):
    """No event yet, then proxy ARP changes under the beacon (the API did not)."""
    api.ips = api.answered = [IP1]
    assert poll() == []
    api.answered = []
    clock.now += 1
    assert poll() == event([IP1], resync=True)
    clock.now += 59
    assert poll() == []


def test_resync_uses_the_configured_wait(api, clock):
    config = [{"resync": 5}]
    api.ips, api.answered = [IP2], [IP1]
    assert poll(config) == event([IP2], added=[IP2], removed=[IP1])
    clock.now += 4.9
    assert poll(config) == []
    clock.now += 0.1
    assert poll(config) == event([IP2], resync=True)


def test_failed_polls_do_not_resync(api, clock, logged):
    api.ips, api.answered = [IP1], []
    assert poll() == event([IP1], added=[IP1])
    api.fault = ("timeout", "Online API: GET /server/1001: no answer within 2 s")
    clock.now += 120
    assert poll() == []
    api.fault = None
    assert poll() == event([IP1], resync=True)
