"""
The guests of this host through libvirt-python (F20, F25, F26, B2, B4): list
them, live-migrate them to another host over the private network, save them
onto the shared save volume (F17), restore them, evacuate the host, drain and
undrain it.

The promise: after any call, each guest it touched runs on exactly one host or
is saved on shared storage, and the return says which, guest by guest. A
migration that fails leaves the guest running here (libvirt rolls it back),
and it is then saved instead. sanlock's disk leases are the guard against a
guest running twice: a start or restore where the guest runs elsewhere is
refused by sanlock, and reported as such.

Every step fires an event under ``hv/evacuation/`` (B4). Settings come from the
pillar; with the master unreachable (``salt-call --local``, the shutdown unit)
from the copy the states keep in ``<state_dir>/settings.json`` (no secrets:
without the pillar, no failover IP can be moved, and the return says so).

This module is the Salt-facing part; the work is done in ``_utils/``:
``hv_domains`` (libvirt here and on the other hosts), ``hv_saves`` (the save
volume), ``hv_migration``, ``hv_evacuation`` (guests away and back),
``hv_marks`` (drain, evacuating and stop marks), ``hv_failover_plan`` (which
failover IPs follow which guest) and ``hv_incidents`` (the takeover's).
"""

import logging
import time

import hv_domains
import hv_evacuation
import hv_failover_plan
import hv_incidents
import hv_marks
import hv_migration
import hv_runtime
import hv_saves
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "guests"
EVENTS = "hv/evacuation"
LOCKSPACE_WAIT = 180  # seconds resume() waits at boot for the host to join its lockspace


def __virtual__():
    if hv_domains.libvirt is None:
        return (False, "libvirt-python is not installed")
    # libvirt prints every error on stderr by default; they are raised and reported here.
    hv_domains.libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return __virtualname__


# ------------------------------------------------------------------ settings, events


def _settings(settings_cache=None):
    """The cluster settings: the pillar's, else (master unreachable) the settings copy."""
    return hv_runtime.settings(__pillar__, lambda: __salt__["hypervisor_pillar.settings"](), settings_cache)


def _event(tag, data):
    """Fire ``hv/evacuation/<tag>`` (B4) and log it: the journal keeps it when the bus cannot."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data, level=logging.INFO)


def _publish():
    """Refresh this host's part of the status view in the mine (``cluster.local``),
    when the cluster module is there."""
    if "cluster.local" in __salt__:
        try:
            hv_runtime.publish(__salt__)
        except Exception as exc:  # the mine lags until its next update
            log.warning("guests: refreshing the mine failed: %s", exc)


# ------------------------------------------------------------------ what runs where


def list_local():
    """
    Every guest libvirt knows on this host: ``{name: {"state", "persistent"}}``.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors guests.list_local
    """
    return hv_domains.list_local()


def where(name, settings_cache=None):
    """
    Guest ``name``'s state on every host that carries guests (this one through
    libvirt here, the others over ssh on the RPN): ``{host: state}``, with
    ``"absent"`` where it is not defined and ``"unknown"`` where the host does
    not answer.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.where vm1
    """
    return hv_domains.where(_settings(settings_cache), name, __grains__["id"])


def definition(name):
    """
    Guest ``name`` as libvirt defines it here (F26): ``{"uuid", "fingerprint" (its
    persistent definition's; None without one), "active"}``, or None when unknown.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.definition vm1
    """
    return hv_domains.definition(name)


def define(name):
    """
    Define guest ``name`` here as the pillar describes it (F26: nothing is started; a
    running guest takes it at its next start). Returns it as ``guests.definition`` does.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.define vm1
    """
    guest = _settings()["guests"].get(name)
    if guest is None or "xml" not in guest:  # the settings copy has no definitions
        raise CommandExecutionError(f"no guest {name} in pillar hypervisor:guests")
    return hv_domains.define(guest["xml"])


# ------------------------------------------------------------------ save, restore


def saved(settings_cache=None):
    """
    The guests saved on the shared save volume (F17): ``{name: path}``.
    Either host may restore them (``guests.restore``).

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.saved
    """
    return hv_saves.saved(_settings(settings_cache))


def save(name, settings_cache=None):
    """
    Save running guest ``name`` onto the shared save volume; it stops here and
    either host can restore it. A person's save: the guest stays saved (its stop
    mark, see ``guests.stop``: no keeper, boot or undrain restores it) until
    ``guests.restore`` or ``guests.start``. Returns ``{"guest", "outcome": "saved", "path"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.save vm1
    """
    hv = _settings(settings_cache)
    hv_marks.mark_stopped(hv, name, "save")
    with hv_domains.connection() as conn:
        try:
            path = hv_saves.save(hv, conn, name)
        except CommandExecutionError:
            hv_marks.clear_stop_mark(hv, name)
            raise
    _event("guest/saved", {"guest": name, "host": hv["me"]["name"], "path": path})
    return {"guest": name, "outcome": "saved", "path": path}


def restore(name, settings_cache=None):
    """
    Restore saved guest ``name`` on this host (refused by sanlock where it runs
    elsewhere: its save file is then stale and stays). Returns ``{"guest",
    "outcome": "restored", "host"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp2 guests.restore vm1
    """
    hv = _settings(settings_cache)
    hv_marks.clear_stop_mark(hv, name)
    with hv_domains.connection() as conn:
        hv_saves.restore(hv, conn, name)
    _event("guest/restored", {"guest": name, "host": hv["me"]["name"]})
    return {"guest": name, "outcome": "restored", "host": hv["me"]["name"]}


# ------------------------------------------------------------------ migration, evacuation


def migrate(name, host=None, settings_cache=None):
    """
    Live-migrate running guest ``name`` to ``host`` (default: where placement puts
    it: the roomiest other host, its anti-affinity group apart) over the private
    network: peer to peer, shared storage (no disk copy), options from
    ``hypervisor:evacuation``. A failed migration leaves the guest running here.
    Returns ``{"guest", "outcome", "host"|"why", "seconds"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.migrate vm1
        salt hyp1 guests.migrate vm1 host=hyp3
    """
    hv = _settings(settings_cache)
    host = hv_evacuation.target(hv, host)
    if host is None:
        targets, unplaced = hv_evacuation.plan(hv, [name], None)
        if name in unplaced:
            raise CommandExecutionError(f"no host can take {name}: {unplaced[name]}")
        host = targets[name]
    why = hv_domains.reachable(hv, host)
    if why:
        raise CommandExecutionError(why)
    result = dict(hv_migration.migrate(hv, name, host, _event, __grains__["id"]), guest=name)
    _event(f"guest/{result['outcome']}", dict(result, source=hv["me"]["name"]))
    if result["outcome"] != "migrated":
        __context__["retcode"] = 1
    return result


def _follow_failover(hv, results, host):
    """Move the failover IPs the API routes to this host to where their guests went
    (IPs of no guest, or of a saved one: to ``host``); confirmed moves (online.failover_move)."""
    if hv.get("offline") or "online.server_info" not in __salt__:
        return {
            "moved": {},
            "failed": {},
            "comment": "not moved: no pillar here (master unreachable), and"
            " the API token lives in the pillar only; `salt <host> guests.follow_failover` moves them",
        }
    routed, error = hv_failover_plan.routed_to(__salt__, hv["me"]["name"])
    if error:
        return {"moved": {}, "failed": {"*": error}, "comment": error}
    return hv_failover_plan.move(__salt__, hv_failover_plan.after_evacuation(hv, routed, results, host))


def evacuating(settings_cache=None):
    """
    Whether an evacuation runs on this host now (its process alive): ``{"evacuating",
    "since", "pid"}``. The keeper starts no guest here meanwhile.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.evacuating
    """
    return hv_marks.evacuating(_settings(settings_cache))


def evacuate(reason="operator", host=None, settings_cache=None):
    """
    Move every running guest off this host: live migration to ``host``
    (default: where placement puts each: by room, anti-affinity groups apart),
    ``evacuation:parallel`` at a time, each bounded by
    ``migrate_timeout``; a guest that cannot migrate (peer unreachable, the
    migration failed or ran out of time) or that no host has room for is saved
    onto the shared save volume.
    Then the failover IPs routed here follow their guests (confirmed API moves).

    Returns ``{"host", "to", "reason", "guests": {name: {"outcome": "migrated"
    (with "host") | "saved" (with "path") | "running" (it could be neither:
    still here, with "why")}}, "failover": {"moved", "failed", "comment"},
    "seconds", "result"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.evacuate
    """
    hv = _settings(settings_cache)
    host = hv_evacuation.target(hv, host)
    ret = hv_evacuation.evacuate(hv, reason, host, _event, _follow_failover)
    if not ret["result"]:
        __context__["retcode"] = 1
    if not hv.get("offline"):
        _publish()
    return ret


# ------------------------------------------------------------------ drain, start, resume


def drained(settings_cache=None):
    """
    Whether this host is drained (takes no guests): ``{"drained", "since", "reason",
    "guests"}`` (``guests``: those the drain moved away).
    The mark is a file in ``evacuation:state_dir``: it survives a reboot.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors guests.drained
    """
    return hv_marks.drained(_settings(settings_cache))


def drain(host=None, reason="operator"):
    """
    B2: mark this host as taking no guests (the mark survives a reboot), then
    evacuate it (``guests.evacuate``): every guest away, the failover IPs along.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.drain
    """
    hv = _settings()
    host = hv_evacuation.target(hv, host)
    mark = hv_marks.mark_drained(hv, reason)
    _event("drained", {"host": hv["me"]["name"], "reason": reason})
    ret = hv_evacuation.evacuate(hv, "drain", host, _event, _follow_failover)
    away = [n for n, r in ret["guests"].items() if r["outcome"] in ("migrated", "saved")]
    hv_marks.mark_drained(hv, reason, away, since=mark["since"])
    if not ret["result"]:
        __context__["retcode"] = 1
    _publish()
    return dict(ret, drained=True)


def start(name, settings_cache=None, keeper=False):
    """
    Start guest ``name`` on this host (restored from its save file when it has
    one). Refused by sanlock where it runs on another host; refused on a
    drained host. A person's start: it clears the guest's stop mark (see
    ``guests.stop``), and the keeper counts the guest's restarts afresh
    (``keeper``: the call is the keeper's own, or the takeover's: no person
    decided, the mark stays). Returns ``{"guest", "outcome", ...}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.start vm1
    """
    hv = _settings(settings_cache)
    if hv_marks.drained(hv)["drained"]:
        raise CommandExecutionError(f"{hv['me']['name']} is drained: `guests.undrain` first")
    if not keeper:
        hv_marks.clear_stop_mark(hv, name)
    with hv_domains.connection() as conn:
        result = dict(hv_saves.start(hv, conn, name), guest=name)
    _event(f"guest/{result['outcome']}", result)
    if result["outcome"] not in ("started", "restored", "running"):
        __context__["retcode"] = 1
    _publish()
    return result


def stop_mark(name, settings_cache=None):
    """
    The record of a person's stop of guest ``name`` (``guests.stop``, ``guests.save``):
    ``{"guest", "verb", "host", "at"}``, or None. While it exists, no keeper,
    highstate, boot or undrain starts the guest.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.stop_mark vm1
    """
    return hv_marks.stop_mark(_settings(settings_cache), name)


def stop(name, timeout=None, settings_cache=None):
    """
    A person stops guest ``name`` here: libvirt asks it to shut down, and
    destroys it after ``timeout`` seconds (default ``keeper:stop_timeout``; 0:
    at once). A stop mark on the shared volume (``guests.stop_mark``) keeps it
    down, ``running: true`` or not: no keeper, highstate, boot or undrain starts
    it until ``guests.start``. Returns ``{"guest", "outcome": "stopped", "how"}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.stop vm1
        salt hyp1 guests.stop vm1 timeout=0
    """
    hv = _settings(settings_cache)
    wait = int(hv["keeper"]["stop_timeout"] if timeout is None else timeout)
    with hv_domains.connection() as conn:
        try:
            dom = conn.lookupByName(name)
        except hv_domains.libvirt.libvirtError:
            raise CommandExecutionError(f"{name} is not defined here") from None
        hv_marks.mark_stopped(hv, name, "stop")  # first: no keeper may start it once it is down
        if hv_domains.state(dom) not in hv_domains.ACTIVE:
            return {"guest": name, "outcome": "stopped", "how": "it was not running here"}
        how = hv_domains.shut_down(dom, wait)
    _event("guest/stopped", {"guest": name, "host": hv["me"]["name"], "how": how})
    _publish()
    return {"guest": name, "outcome": "stopped", "how": how}


def _wait_for_lockspace(timeout):
    deadline = time.monotonic() + timeout
    while not __salt__["sanlock.status"]()["can_take_guests"]:
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def resume(settings_cache=None, wait=LOCKSPACE_WAIT):
    """
    At boot (the F25 unit's start): unless this host is drained, restore every
    guest saved on the shared volume, then start the guests whose home is here
    (``running: true``). Waits for the host's sanlock lockspace first; sanlock
    refuses any guest that runs elsewhere. Returns ``{"guests": {name: outcome}}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.resume
    """
    hv = _settings(settings_cache)
    me = hv["me"]["name"]
    if not hv_marks.drained(hv)["drained"]:
        _hold_if_taken_over(hv)
    if hv_marks.drained(hv)["drained"]:
        return {"host": me, "drained": True, "guests": {}}
    if not _wait_for_lockspace(wait):
        raise CommandExecutionError(f"{me} did not join its sanlock lockspace in {wait}s: no guest started")
    wanted = sorted(hv_saves.saved(hv))
    wanted += sorted(
        n for n, g in hv["guests"].items() if g["home"] == me and g["running"] and n not in wanted
    )
    wanted = [n for n in wanted if hv_marks.stop_mark(hv, n) is None]  # a person keeps it down
    with hv_domains.connection() as conn:
        results = {name: hv_saves.start(hv, conn, name) for name in wanted}
    for name, result in results.items():
        _event(f"guest/{result['outcome']}", dict(result, guest=name))
    return {"host": me, "drained": False, "guests": results}


def _hold_if_taken_over(hv):
    """A host whose guests another host took over (an open incident against
    it, ``takeover.open_against``) holds: it takes no guests until undrained.
    Decided under the marks' lock, which an undrain takes too."""
    with hv_marks.locked(hv):
        try:
            against = hv_incidents.open_against(hv)
        except OSError as exc:
            log.warning("guests: cannot read the takeover incidents: %s", exc)
            return
        if against:
            _hold(hv, f"taken over by {against[0]['by']} (incident of {against[0]['detected']})")


def hold_if_taken_over(settings_cache=None):
    """
    Hold this host (drained, nothing moved) when another host took its guests over and
    the incident is still open; what the takeover watcher runs at each look. Returns the
    drain mark.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.hold_if_taken_over
    """
    hv = _settings(settings_cache)
    _hold_if_taken_over(hv)
    return hv_marks.drained(hv)


def _hold(hv, reason):
    if not hv_marks.drained(hv)["drained"]:
        hv_marks.mark_drained(hv, reason)
        _event("drained", {"host": hv["me"]["name"], "reason": reason})
    return hv_marks.drained(hv)


def hold(reason="operator", settings_cache=None):
    """
    Mark this host drained without moving anything (a host whose guests were
    taken over while it was dead holds so when it comes back): it takes no
    guests until ``guests.undrain``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.hold reason="disk replacement"
    """
    return _hold(_settings(settings_cache), reason)


def undrain(guests=None):
    """
    B2: clear the drain mark, then bring back here the guests the drain moved
    away and those whose home is this host (``running: true``), or only
    ``guests`` (a comma-separated list): live-migrated back from the host that
    runs them, restored if saved, started if down. Their failover IPs, and this
    host's own, come back too.

    CLI Example:

    .. code-block:: bash

        salt hyp1 guests.undrain
        salt hyp1 guests.undrain guests=vm1,vm2
    """
    hv = _settings()
    me = hv["me"]["name"]
    with hv_marks.locked(hv):  # the takeover watcher's hold waits: it sees the incidents closed
        moved_away = hv_marks.drained(hv)["guests"]
        taken = _close_incidents(hv)
        hv_marks.clear_drained(hv)
    _event("undrained", {"host": me})
    if guests:
        names = [n.strip() for n in (guests.split(",") if isinstance(guests, str) else guests) if n.strip()]
        unknown = [n for n in names if n not in hv["guests"]]
        if unknown:
            raise CommandExecutionError(f"not guests of the cluster pillar: {', '.join(unknown)}")
    else:
        home = {
            n
            for n, g in hv["guests"].items()
            if g["home"] == me
            and g["running"]
            and hv_marks.stop_mark(hv, n) is None  # a person keeps it down
        }
        names = sorted(home | set(moved_away) | set(taken))
    results = {}
    for name in names:
        results[name] = hv_evacuation.bring_back(hv, name, _event)
        _event(f"guest/{results[name]['outcome']}", dict(results[name], guest=name))
    ret = {"host": me, "drained": False, "guests": results}
    ret["failover"] = _follow_failover_home(hv, results)
    if any(r["outcome"] in ("failed", "unknown") for r in results.values()) or ret["failover"]["failed"]:
        __context__["retcode"] = 1
    _publish()
    return ret


def _close_incidents(hv):
    """Close the takeover incidents against this host; the guests taken from it."""
    taken = {name for r in hv_incidents.open_against(hv) for name in r.get("guests", {})}
    hv_incidents.close(hv, None, __salt__["event.send"], log)
    return sorted(taken)


def _follow_failover_home(hv, results):
    """Bring here the failover IPs of the guests now running here (``results``), and this
    host's own (its pillar ``failover_ips``) unless their guest runs on another host."""
    me = hv["me"]["name"]
    if "online.failover_move" not in __salt__ or not hv["failover"].get("configured"):
        return {"moved": {}, "failed": {}, "comment": "no provider API settings: nothing moved"}
    routed, error = hv_failover_plan.routed_to(__salt__, me)
    if error:
        return {"moved": {}, "failed": {"*": error}, "comment": error}
    ips = hv_failover_plan.back_home(hv, routed, results, lambda name: hv_domains.runs_nowhere(hv, name))
    return hv_failover_plan.move(__salt__, {me: ips} if ips else {})


def follow_failover():
    """
    Move each guest's failover IPs to the host where the guest runs, where the
    API routes them elsewhere (after an evacuation that could not reach the
    API or the master). Run it on any host.

    CLI Example:

    .. code-block:: bash

        salt hyp2 guests.follow_failover
    """
    hv = _settings()
    me = hv["me"]["name"]
    here = {n for n, g in list_local().items() if g["state"] in hv_domains.ACTIVE}
    results = {n: {"outcome": "running", "host": me} for n in here if n in hv["guests"]}
    return _follow_failover_home(hv, results)
