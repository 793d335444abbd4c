"""peer_keys.published: no change while the mine holds this host's keys, a
prediction under test=True with nothing sent, mine.send otherwise (read back;
a send that failed or did not land fails the state). peer_keys.received: at
once when the peer's entry has the keys, a prediction without waiting under
test=True, polling every ``interval`` seconds until it arrives (on a fake
clock), and after ``timeout`` a failure naming each missing key, the host and
what to run there. peer_keys.agreed: a value every peer that published it
shares, or a failure naming each peer that differs. The execution module is replaced by specs of its real
functions (the mine itself: see tests/lab)."""

import types
from unittest.mock import call, create_autospec

import pytest
import salt.modules.mine
from salt.exceptions import CommandExecutionError

from tests.loaders import load

peer_keys = load("_modules", "peer_keys")
peer_keys_states = load("_states", "peer_keys")
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDrcbScsYQXxRV16QkqECQzPOstqOYwKBPLqL3XgC+Pu root@hyp1"
MIGRATION_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKkjiWCaOZiRp7IEHE60g3jTZdIsjK2U1nHKESIxMyWi hv-migration@hyp1"
)
FINGERPRINT = ":".join(["CD"] * 32)
MINE = {"host_key": HOST_KEY, "migration_key": MIGRATION_KEY, "tunnel_fingerprint": FINGERPRINT}
PATHS = {"migration_key": "/root/.ssh/id_ed25519_hv.pub", "tunnel_cert": "/etc/openvpn/hv/tls/host.crt"}
ALL = ["host_key", "migration_key", "tunnel_fingerprint"]


class Clock:
    """time.monotonic and time.sleep for the state: sleeping moves the clock."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(
        peer_keys_states, "time", types.SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep)
    )
    return fake


@pytest.fixture
def salt_mods():
    mods = {
        "peer_keys.public": create_autospec(peer_keys.public, return_value=dict(MINE)),
        "peer_keys.peer": create_autospec(peer_keys.peer, return_value=None),
        "mine.send": create_autospec(salt.modules.mine.send, return_value=True),
    }
    # get() as the module has it, over the same peer(): its refusal is the state's hint.
    mods["peer_keys.get"] = create_autospec(peer_keys.get, side_effect=_get(mods))
    return mods


def _get(mods):
    def get(name, item):
        entry = mods["peer_keys.peer"](name)
        if not (entry or {}).get(item):
            raise CommandExecutionError(peer_keys._hint(name, item))
        return entry[item]

    return get


@pytest.fixture
def opts():
    return {"test": False, "id": "hyp1"}


@pytest.fixture
def configure_loader_modules(salt_mods, opts):
    return {peer_keys_states: {"__salt__": salt_mods, "__opts__": opts}}


# ------------------------------------------------------------------ published


def test_published_already(salt_mods):
    salt_mods["peer_keys.peer"].return_value = dict(MINE)
    assert peer_keys_states.published("hv_peer_keys", **PATHS) == {
        "name": "hv_peer_keys",
        "changes": {},
        "result": True,
        "comment": "the mine holds this host's keys under hv_peer_keys",
    }
    salt_mods["peer_keys.public"].assert_called_once_with(**PATHS)
    salt_mods["peer_keys.peer"].assert_called_once_with("hyp1")
    salt_mods["mine.send"].assert_not_called()


def test_published_test_mode_predicts_and_sends_nothing(salt_mods, opts):
    opts["test"] = True
    assert peer_keys_states.published("hv_peer_keys", **PATHS) == {
        "name": "hv_peer_keys",
        "changes": {"old": None, "new": MINE},
        "result": None,
        "comment": "would publish this host's keys to the mine under hv_peer_keys",
    }
    salt_mods["mine.send"].assert_not_called()


def test_published_sends_and_reads_back(salt_mods):
    old = dict(MINE, tunnel_fingerprint=None)
    salt_mods["peer_keys.peer"].side_effect = [old, dict(MINE)]
    assert peer_keys_states.published("hv_peer_keys", **PATHS) == {
        "name": "hv_peer_keys",
        "changes": {"old": old, "new": MINE},
        "result": True,
        "comment": "published this host's keys to the mine under hv_peer_keys",
    }
    assert salt_mods["mine.send"].call_args_list == [
        call("hv_peer_keys", mine_function="peer_keys.public", **PATHS)
    ]


def test_published_says_what_is_not_made_yet(salt_mods):
    partial = dict(MINE, host_key=None, tunnel_fingerprint=None)
    salt_mods["peer_keys.public"].return_value = partial
    salt_mods["peer_keys.peer"].side_effect = [None, partial]
    ret = peer_keys_states.published("hv_peer_keys", **PATHS)
    assert ret["result"] is True
    assert ret["comment"] == (
        "published this host's keys to the mine under hv_peer_keys "
        "(not yet made here: host_key, tunnel_fingerprint)"
    )


def test_published_send_failed(salt_mods):
    salt_mods["mine.send"].return_value = False
    assert peer_keys_states.published("hv_peer_keys", **PATHS) == {
        "name": "hv_peer_keys",
        "changes": {},
        "result": False,
        "comment": "mine.send hv_peer_keys failed: see the minion's log",
    }


def test_published_send_that_did_not_land(salt_mods, monkeypatch):
    monkeypatch.setattr(peer_keys_states, "MINE_WAIT", 0.2)
    monkeypatch.setattr(peer_keys_states, "MINE_POLL", 0.05)
    ret = peer_keys_states.published("hv_peer_keys", **PATHS)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert ret["comment"].startswith("mine.send hv_peer_keys returned, but after 0.2 s the mine holds None")
    assert salt_mods["peer_keys.peer"].call_count > 2  # read again until the wait was over


def test_published_waits_for_the_master_to_store_it(salt_mods, monkeypatch):
    """mine.send only fires an event: a loaded master stores the entry a little later."""
    monkeypatch.setattr(peer_keys_states, "MINE_POLL", 0.01)
    salt_mods["peer_keys.peer"].side_effect = [None, None, None, dict(MINE)]
    ret = peer_keys_states.published("hv_peer_keys", **PATHS)
    assert ret["result"] is True and ret["changes"] == {"old": None, "new": MINE}, ret


def test_published_unreadable_keys(salt_mods):
    salt_mods["peer_keys.public"].side_effect = CommandExecutionError("host.crt is not a PEM certificate")
    assert peer_keys_states.published("hv_peer_keys", **PATHS) == {
        "name": "hv_peer_keys",
        "changes": {},
        "result": False,
        "comment": "cannot read this host's keys: host.crt is not a PEM certificate",
    }
    salt_mods["mine.send"].assert_not_called()


# ------------------------------------------------------------------ received


def test_received_at_once(salt_mods, clock):
    salt_mods["peer_keys.peer"].return_value = dict(MINE)
    assert peer_keys_states.received("hyp2", require_keys=ALL) == {
        "name": "hyp2",
        "changes": {},
        "result": True,
        "comment": "hyp2 has published host_key, migration_key, tunnel_fingerprint",
    }
    assert clock.sleeps == []


def test_received_needs_only_what_is_required(salt_mods, clock):
    salt_mods["peer_keys.peer"].return_value = dict(MINE, tunnel_fingerprint=None)
    ret = peer_keys_states.received("hyp2")
    assert (ret["result"], ret["comment"]) == (True, "hyp2 has published host_key, migration_key")


def test_received_test_mode_does_not_wait(salt_mods, opts, clock):
    opts["test"] = True
    salt_mods["peer_keys.peer"].return_value = dict(MINE, migration_key=None)
    assert peer_keys_states.received("hyp2", require_keys=ALL, timeout=120) == {
        "name": "hyp2",
        "changes": {},
        "result": None,
        "comment": "hyp2 has not published migration_key yet: would wait up to 120s for it",
    }
    assert clock.sleeps == []


def test_received_waits_for_the_peer(salt_mods, clock):
    salt_mods["peer_keys.peer"].side_effect = [None, None, dict(MINE, tunnel_fingerprint=None), dict(MINE)]
    ret = peer_keys_states.received("hyp2", require_keys=ALL, timeout=120, interval=2)
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert clock.sleeps == [2, 2, 2]
    assert salt_mods["peer_keys.peer"].call_args_list == [call("hyp2")] * 4


def test_received_mine_unreadable_is_waited_out(salt_mods, clock):
    salt_mods["peer_keys.peer"].side_effect = [CommandExecutionError("no master"), dict(MINE)]
    ret = peer_keys_states.received("hyp2", require_keys=ALL)
    assert ret["result"] is True
    assert clock.sleeps == [2]


def test_received_timeout_names_keys_host_and_command(salt_mods, clock):
    salt_mods["peer_keys.peer"].return_value = dict(MINE, migration_key=None, tunnel_fingerprint=None)
    assert peer_keys_states.received("hyp2", require_keys=ALL, timeout=10, interval=2) == {
        "name": "hyp2",
        "changes": {},
        "result": False,
        "comment": "hyp2 has not published migration_key, tunnel_fingerprint after 10s: "
        "migration_key of hyp2 is missing: run `salt hyp2 state.apply peers.published` "
        "(it makes the key and publishes it); "
        "tunnel_fingerprint of hyp2 is missing: run `salt hyp2 state.apply peers.published` "
        "(it makes the tunnel certificate and publishes its fingerprint)",
    }
    assert clock.sleeps == [2] * 5


def test_received_unknown_key(salt_mods, clock):
    ret = peer_keys_states.received("hyp2", require_keys=["host_key", "root_password"])
    assert ret == {
        "name": "hyp2",
        "changes": {},
        "result": False,
        "comment": "unknown keys ['root_password']: require_keys takes host_key, migration_key, "
        "tunnel_fingerprint, gluster_cert, sanlock_fire_timeout",
    }
    salt_mods["peer_keys.peer"].assert_not_called()


# ------------------------------------------------------------------ agreed

FIRE = "the sanlock watchdog fire timeout (seconds)"


def _entries(salt_mods, entries):
    salt_mods["peer_keys.peer"].side_effect = entries.get


def test_agreed_when_every_peer_that_published_shares_the_value(salt_mods):
    _entries(salt_mods, {"hyp2": dict(MINE, sanlock_fire_timeout=10), "hyp3": dict(MINE)})
    ret = peer_keys_states.agreed(FIRE, "sanlock_fire_timeout", 10, ["hyp2", "hyp3", "hyp4"])
    assert ret == {
        "name": FIRE,
        "changes": {},
        "result": True,
        "comment": f"{FIRE}: 10 here and on every peer that published it (not published yet: hyp3, hyp4)",
    }


def test_agreed_fails_naming_each_peer_that_differs_and_the_fix(salt_mods):
    """A Debian 12 peer (60 s, fixed) beside a Debian 13 host (10 s by default): refused."""
    _entries(
        salt_mods,
        {
            "hyp2": dict(MINE, sanlock_fire_timeout=60),
            "hyp3": dict(MINE, sanlock_fire_timeout=10),
            "hyp4": dict(MINE, sanlock_fire_timeout=30),
        },
    )
    ret = peer_keys_states.agreed(FIRE, "sanlock_fire_timeout", 10, ["hyp2", "hyp3", "hyp4"], fix="Set it.")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == (
        f"{FIRE}: this host's is 10, but hyp2 60, hyp4 30: every host must use the same. Set it."
    )


def test_agreed_refuses_an_unknown_item(salt_mods):
    ret = peer_keys_states.agreed(FIRE, "root_password", 10, ["hyp2"])
    assert ret["result"] is False and ret["comment"].startswith("unknown item 'root_password'")
    salt_mods["peer_keys.peer"].assert_not_called()
