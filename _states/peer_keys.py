"""
The keys hosts exchange through the Salt mine (F19, F20).

.. code-block:: yaml

    peers-published-keys-in-mine:
      peer_keys.published:
        - name: hv_peer_keys
        - migration_key: /root/.ssh/id_ed25519_hv.pub
        - tunnel_cert: /etc/openvpn/hv/tls/host.crt

    peers-hyp2-keys-received:
      peer_keys.received:
        - name: hyp2
        - require_keys: [host_key, migration_key, tunnel_fingerprint]
        - timeout: 120

``published`` sends this host's keys (``peer_keys.public``) to the mine when
the mine holds anything else. ``received`` waits until a peer's entry has the
keys this host needs: on a first run both hosts publish, then each waits for
the other, so one simultaneous highstate converges. Neither changes the host;
the states that use the keys read them through slots once ``received`` passed.
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "peer_keys"
MINE_NAME = "hv_peer_keys"
ITEMS = ("host_key", "migration_key", "tunnel_fingerprint", "gluster_cert", "sanlock_fire_timeout")
# Made with gluster:tls only, given on hosts with sanlock only: their absence is no news.
OPTIONAL = ("gluster_cert", "sanlock_fire_timeout")
MINE_WAIT = 30  # seconds a sent entry may take to show in the master's mine (a loaded master)
MINE_POLL = 1


def __virtual__():
    if "peer_keys.public" in __salt__:
        return __virtualname__
    return (False, "the peer_keys execution module is not available")


def _entry(name):
    """The mine's entry for ``name`` (None when absent or the mine cannot be read)."""
    try:
        return __salt__["peer_keys.peer"](name)
    except CommandExecutionError:
        return None


def _settled_entry(name, wanted):
    """The mine's entry for ``name`` once it is ``wanted``, or as it is after MINE_WAIT s:
    mine.send fires an event the minion forwards to the master, it does not wait for it."""
    deadline = time.monotonic() + MINE_WAIT
    while True:
        entry = _entry(name)
        if entry == wanted or time.monotonic() >= deadline:
            return entry
        time.sleep(MINE_POLL)


def _why(name, item):
    """What ``peer_keys.get`` says about a missing item: which host, what to run there."""
    try:
        __salt__["peer_keys.get"](name, item)
    except CommandExecutionError as exc:
        return str(exc)
    return f"{item} of {name} arrived just now"


def _missing(entry, required):
    return [item for item in required if not (entry or {}).get(item)]


def published(
    name=MINE_NAME,
    host_key=None,
    migration_key=None,
    tunnel_cert=None,
    gluster_cert=None,
    sanlock_fire_timeout=None,
):
    """Ensure the mine holds this host's keys (``peer_keys.public``) under ``name``."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    paths = {
        key: value
        for key, value in (
            ("host_key", host_key),
            ("migration_key", migration_key),
            ("tunnel_cert", tunnel_cert),
            ("gluster_cert", gluster_cert),
            ("sanlock_fire_timeout", sanlock_fire_timeout),
        )
        if value is not None
    }
    try:
        wanted = __salt__["peer_keys.public"](**paths)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = f"cannot read this host's keys: {exc}"
        return ret
    me = __opts__["id"]
    current = _entry(me)
    absent = [item for item in ITEMS if not wanted.get(item) and item not in OPTIONAL]
    note = f" (not yet made here: {', '.join(absent)})" if absent else ""
    if current == wanted:
        ret["comment"] = f"the mine holds this host's keys under {name}{note}"
        return ret
    changes = {"old": current, "new": wanted}
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = changes
        ret["comment"] = f"would publish this host's keys to the mine under {name}{note}"
        return ret
    sent = __salt__["mine.send"](name, mine_function="peer_keys.public", **paths)
    if not sent:
        ret["result"] = False
        ret["comment"] = f"mine.send {name} failed: see the minion's log"
        return ret
    after = _settled_entry(me, wanted)
    if after != wanted:
        ret["result"] = False
        ret["comment"] = (
            f"mine.send {name} returned, but after {MINE_WAIT} s the mine holds {after}"
            " (the master's mine is off?)"
        )
        return ret
    ret["changes"] = {"old": current, "new": after}
    ret["comment"] = f"published this host's keys to the mine under {name}{note}"
    return ret


def received(name, require_keys=("host_key", "migration_key"), timeout=120, interval=2):
    """Wait (up to ``timeout`` seconds) until peer ``name`` published ``require_keys``."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    required = list(require_keys)
    unknown = [item for item in required if item not in ITEMS]
    if unknown:
        ret["result"] = False
        ret["comment"] = f"unknown keys {unknown}: require_keys takes {', '.join(ITEMS)}"
        return ret
    missing = _missing(_entry(name), required)
    if missing and __opts__["test"]:
        ret["result"] = None
        ret["comment"] = (
            f"{name} has not published {', '.join(missing)} yet: would wait up to {timeout}s for it"
        )
        return ret
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        time.sleep(interval)
        missing = _missing(_entry(name), required)
    if missing:
        ret["result"] = False
        hints = "; ".join(_why(name, item) for item in missing)
        ret["comment"] = f"{name} has not published {', '.join(missing)} after {timeout}s: {hints}"
        return ret
    ret["comment"] = f"{name} has published {', '.join(required)}"
    return ret


def agreed(name, item, value, peers, fix=""):
    """Ensure every host of ``peers`` that published ``item`` published ``value`` too
    (``name`` says what it is, ``fix`` what to do when they differ). A peer that has not
    published it yet is not judged. Changes nothing."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if item not in ITEMS:
        ret["result"] = False
        ret["comment"] = f"unknown item {item!r}: agreed takes {', '.join(ITEMS)}"
        return ret
    seen = {peer: (_entry(peer) or {}).get(item) for peer in peers}
    others = {peer: found for peer, found in sorted(seen.items()) if found is not None and found != value}
    if others:
        ret["result"] = False
        theirs = ", ".join(f"{peer} {found}" for peer, found in others.items())
        ret["comment"] = f"{name}: this host's is {value}, but {theirs}: every host must use the same. {fix}"
        return ret
    silent = sorted(peer for peer, found in seen.items() if found is None)
    ret["comment"] = f"{name}: {value} here and on every peer that published it"
    if silent:
        ret["comment"] += f" (not published yet: {', '.join(silent)})"
    return ret
