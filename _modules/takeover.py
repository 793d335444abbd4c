"""
Taking over a dead host's guests (B1, B5, B6, B4): each host that carries
guests watches the others' sanlock host leases. When one is dead by sanlock's
own timing (8 x io_timeout + the watchdog fire timeout without a renewal), a
host that has quorum:

1. opens the incident: a file created exclusively in ``takeover:incidents_dir``
   on a shared volume with client quorum (only one host can, and only on the
   majority side: the cut-off side cannot write there);
2. assigns every guest whose disk lease the dead host held to a survivor by
   room (B8, ``_utils/hv_takeover_plan.py``), written into the incident before
   any start; each survivor starts its share at its next look, this host its
   own and, after a grace, any share left alone (sanlock refuses a start while
   it is unsafe: the lease is the proof; a refusal is tried again); a guest
   that fits nowhere is reported, not started;
3. moves the failover IPs the API routes to the dead host to the hosts their
   guests now run on (confirmed moves, ``online.failover_move``);
4. fences the dead host through the API (rescue boot, then reboot), so that it
   cannot come back and flap: tried again on the next passes while nothing
   reached the API's reboot (a refused or failed rescue call), never once the
   reboot may have been taken.

A host with an open incident against it takes no guests when it comes back
(it marks itself drained) until an operator runs ``guests.undrain`` there,
which closes the incident. Every step fires an event under ``hv/takeover/``.
One pass at a time on a host (the unit's and an operator's ``takeover.check``):
a pass that finds another running says so and does nothing.
``watch`` is the loop the ``takeover:unit`` systemd unit runs; it works with
the master down (from the settings copy: the guests are taken over, but the
API token lives in the pillar only, so IPs and fencing wait for the master).
"""

import datetime
import errno
import hashlib
import logging
import time

import hv_domains
import hv_incidents
import hv_marks
import hv_placement
import hv_runtime
import hv_takeover_plan
import keeper_rule

log = logging.getLogger(__name__)

__virtualname__ = "takeover"
EVENTS = "hv/takeover"
SETTLE_SECONDS = 60  # after that long, a guest still not started no longer holds back the IPs and the fence
FENCE_ATTEMPTS = 10  # fences tried, one per pass, while none may have reached the reboot
PASS_LOCK = "takeover.lock"  # in evacuation:state_dir: one pass at a time on this host


def __virtual__():
    return __virtualname__


def _settings(settings_cache=None):
    """The cluster settings: the pillar's, else the units' settings copy (no secret)."""
    return hv_runtime.settings(__pillar__, lambda: __salt__["hypervisor_pillar.settings"](), settings_cache)


def _event(tag, data):
    """Fire ``hv/takeover/<tag>`` (B4); the journal keeps it when the bus cannot."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data)


# ------------------------------------------------------------------ who is there


def _data_hosts(hv):
    """The hosts that carry guests (all but the arbiter), by name: their sanlock host id."""
    return {name: host["host_id"] for name, host in hv["hosts"].items() if host["role"] != "arbiter"}


def quorum(settings_cache=None):
    """
    Whether this host is on the majority side: it sees more than half of the
    hosts that hold the volumes' bricks connected (itself included when it holds
    one; their client quorum decides who may write the leases and the incidents),
    and its own sanlock lockspace is joined.
    ``{"quorum", "connected", "of", "lockspace", "reason"}``.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors takeover.quorum
    """
    return _quorum(_settings(settings_cache))


def _brick_hosts(hv):
    """The hosts that hold bricks (an older settings copy without them: every host)."""
    return list((hv.get("gluster") or {}).get("brick_hosts") or sorted(hv["hosts"]))


def _short(name):
    return str(name).split(".")[0]


def _quorum(hv):
    bricks, me = _brick_hosts(hv), hv["me"]["name"]
    of = len(bricks)
    try:
        seen = {
            _short(name)
            for peer in __salt__["gluster.peer_status"]()
            if peer["connected"]
            for name in [peer["hostname"], *peer.get("hostnames", [])]
        }
    except Exception as exc:  # glusterd down: this host sees no one
        mine = int(me in bricks)
        return {"quorum": False, "connected": mine, "of": of, "lockspace": None, "reason": f"glusterd: {exc}"}
    connected = sum(1 for host in bricks if host == me or _short(host) in seen)
    state = __salt__["sanlock.status"]()
    joined = bool(state.get("can_take_guests"))
    ret = {"quorum": joined and 2 * connected > of, "connected": connected, "of": of, "lockspace": joined}
    if not joined:
        ret["reason"] = state.get("reason", "lockspace not joined")
    elif not ret["quorum"]:
        ret["reason"] = f"sees {connected} of the {of} gluster nodes with bricks: not a majority"
    else:
        ret["reason"] = f"sees {connected} of the {of} gluster nodes with bricks, lockspace joined"
    return ret


def peers(settings_cache=None):
    """
    The other hosts that carry guests, as this host's sanlock sees them:
    ``{host: {"host_id", "generation", "state", "silent"}}`` (state: live,
    fail, dead, free or unknown).

    CLI Example:

    .. code-block:: bash

        salt hyp2 takeover.peers
    """
    return _peers(_settings(settings_cache))


def _peers(hv):
    me = hv["me"]["name"]
    seen = __salt__["sanlock.host_status"](watchdog_fire_timeout=hv["timings"]["watchdog_fire_timeout"])
    out = {}
    for name, host_id in sorted(_data_hosts(hv).items()):
        if name == me:
            continue
        row = seen.get(host_id) or seen.get(str(host_id))
        out[name] = dict(row, host_id=host_id) if row else {"host_id": host_id, "state": "unknown"}
    return out


# ------------------------------------------------------------------ incidents


def incidents(settings_cache=None):
    """
    Every incident on record, newest first: who died (host, generation), when,
    which host took over, what became of each guest, the failover IPs and the
    fence; ``closed`` once an operator undrained the host.

    CLI Example:

    .. code-block:: bash

        salt-call takeover.incidents
    """
    return hv_incidents.every(_settings(settings_cache))


def open_against(host=None, settings_cache=None):
    """
    The incidents against ``host`` (default: this host) not closed yet: such a
    host was taken over and fenced, and takes no guests until ``guests.undrain``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 takeover.open_against
    """
    return hv_incidents.open_against(_settings(settings_cache), host)


def close(host=None, settings_cache=None):
    """
    Close the open incidents against ``host`` (default: this host), as
    ``guests.undrain`` does when the operator lets the host take guests again.

    CLI Example:

    .. code-block:: bash

        salt hyp1 takeover.close
    """
    return hv_incidents.close(_settings(settings_cache), host, __salt__["event.send"], log)


# ------------------------------------------------------------------ taking over


def lease_name(disk_path):
    """
    The sanlock resource libvirt names after a disk (auto_disk_leases: the MD5 of its path).

    CLI Example:

    .. code-block:: bash

        salt-call takeover.lease_name /var/lib/libvirt/images/customer1/vm1.img
    """
    return hashlib.md5(disk_path.encode(), usedforsecurity=False).hexdigest()


def _kept_by(hv, host):
    """The guests the dead host's keeper kept (running there, or down there by a fault:
    ``_utils/keeper_rule.py``), not kept down by a person: they are the cluster's to
    bring back, on this side of the dead time as on the other."""
    records = keeper_rule.read_records(hv["keeper"]["hosts_dir"], [host], hv["guests"])
    marks = keeper_rule.read_marks(hv["keeper"]["stopped_dir"], hv["guests"])
    kept = (keeper_rule.RUNNING, keeper_rule.DOWN)
    entries = (records.get(host) or {}).get("guests") or {}
    return {name for name, entry in entries.items() if entry["state"] in kept and name not in marks}


def _orphans(hv, record, leases):
    """The guests whose disk lease (``leases``: sanlock's) the dead host held (its host id
    and generation), and those its keeper kept whose lease no other host holds (a guest
    killed before the host died, its lease released)."""
    kept = _kept_by(hv, record["host"])
    out = []
    for name, guest in sorted(hv["guests"].items()):
        lease = leases.get(lease_name(guest["disk_path"]))
        held = bool(lease and lease["held"])
        if held and lease["owner_host_id"] == record["host_id"]:
            if lease["generation"] == record["generation"] or name in kept:
                out.append(name)
        elif not held and name in kept:
            out.append(name)
    return out


def _owners(hv, leases):
    """``{guest: host}``: the host whose sanlock id holds each guest's disk lease now."""
    by_id = {host["host_id"]: name for name, host in hv["hosts"].items() if host.get("host_id")}
    out = {}
    for name, guest in hv["guests"].items():
        lease = leases.get(lease_name(guest["disk_path"]))
        if lease and lease["held"] and lease["owner_host_id"] in by_id:
            out[name] = by_id[lease["owner_host_id"]]
    return out


def _assign(hv, record, orphans, peers, drained):
    """Assign the dead host's guests to the survivors by room (this host left out when
    ``drained``), into ``record``; events ``assigned`` and ``guest/unplaced``."""
    me = hv["me"]["name"]
    try:
        records = keeper_rule.read_records(hv["keeper"]["hosts_dir"], hv["hosts"], hv["guests"])
    except OSError:
        records = {}
    alive = {h: row for h, row in peers.items() if h != record["host"]}
    hosts = [h for h in hv_takeover_plan.survivors(me, alive, records) if not (drained and h == me)]
    rooms, groups = {}, {}
    for host in hosts:
        answers = host == me or not hv_domains.reachable(hv, host)
        capacity = hv_domains.capacity(hv, host, me) if answers else None
        rooms[host] = hv_placement.room(capacity, hv.get("placement"))
        running = (capacity or {}).get("running", [])
        groups[host] = {(hv["guests"].get(n) or {}).get("anti_affinity") for n in running} - {None}
    if me in rooms and not any(rooms.values()):
        # No host's room is known (libvirt does not answer it): every guest here, as
        # before placement; sanlock and libvirt refuse what cannot start, tried again.
        log.warning("takeover: no survivor's room is known: %s takes every guest", me)
        plan = {"assigned": dict.fromkeys(orphans, me), "unplaced": {}}
    else:
        plan = hv_takeover_plan.assign(orphans, hv["guests"], rooms, groups)
    record.update(plan, assigned_at=hv_runtime.now())
    hv_incidents.save(hv, record)  # before any start: the other survivors read their share there
    _event("assigned", {"host": record["host"], "by": me, "assigned": record["assigned"]})
    for name, why in sorted(record["unplaced"].items()):
        _event("guest/unplaced", {"guest": name, "from": record["host"], "why": why})


def _start(hv, record, name):
    """Start ``name`` here for ``record``'s takeover: its entry, and an event."""
    me = hv["me"]["name"]
    result = __salt__["guests.start"](name, settings_cache=hv["settings_cache"], keeper=True)
    outcome = result.get("outcome")
    if outcome in ("started", "restored", "running"):
        _event("guest/started", {"guest": name, "from": record["host"], "host": me})
        return {"outcome": "started", "host": me, "at": hv_runtime.now()}
    _event("guest/refused", {"guest": name, "from": record["host"], "why": result.get("why")})
    return {"outcome": outcome, "why": result.get("why"), "at": hv_runtime.now()}


def _seconds_since(stamp):
    return (datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(stamp)).total_seconds()


def _take_guests(hv, record, peers, drained):
    """On the host that opened the incident: assign the guests (first pass), start this
    host's share (and, past the grace, any share left alone), note those started
    elsewhere. True when every assigned guest runs."""
    leases = __salt__["sanlock.leases"]()
    orphans = _orphans(hv, record, leases)
    if "assigned" not in record:
        _assign(hv, record, orphans, peers, drained)
    now = hv_runtime.now()
    for name, host in hv_takeover_plan.started_elsewhere(record, orphans, _owners(hv, leases)).items():
        record["guests"][name] = {"outcome": "started", "host": host, "at": now}
    waited = _seconds_since(record["assigned_at"])
    for name in hv_takeover_plan.mine(record, hv["me"]["name"], orphans, waited):
        record["guests"][name] = _start(hv, record, name)
    return all((record["guests"].get(n) or {}).get("outcome") == "started" for n in record["assigned"])


def _take_assigned(hv, host, row):
    """On another survivor: start this host's share of ``host``'s incident (read, never
    written here: it has one writer, the host that opened it)."""
    record = hv_incidents.read(hv, host, row["generation"])
    if not record or record.get("closed") or record.get("done") or not record.get("assigned"):
        return {"host": host, "by": (record or {}).get("by"), "started": {}}
    if __salt__["guests.drained"](settings_cache=hv["settings_cache"])["drained"]:
        return {"host": host, "by": record["by"], "started": {}, "refused": "drained"}
    orphans = _orphans(hv, record, __salt__["sanlock.leases"]())
    me = hv["me"]["name"]
    started = {name: _start(hv, record, name) for name in hv_takeover_plan.mine(record, me, orphans, 0)}
    return {"host": host, "by": record["by"], "started": started}


def _take_ips(hv, record):
    """The failover IPs the API routes to the dead host: each to the host its guest
    started on, the others to this host (confirmed moves)."""
    me = hv["me"]["name"]
    try:
        routed = __salt__["online.server_info"](record["host"])["failover_ips"]
    except Exception as exc:
        return {"moved": [], "error": f"the API cannot say which failover IPs {record['host']} has: {exc}"}
    owners = {ip: name for name, guest in hv["guests"].items() for ip in guest["failover_ips"]}
    wanted = hv_takeover_plan.ips_by_host(routed, hv["failover"]["ips"], owners, record, me)
    moved, errors = [], []
    for host, ips in sorted(wanted.items()):
        ret = __salt__["online.failover_move"](",".join(ips), host, wait=True)
        if not ret.get("result"):
            errors.append(f"{', '.join(ips)} to {host}: {ret.get('comment')}")
            continue
        moved += ips
        _event("failover/moved", {"from": record["host"], "host": host, "ips": ips})
    if errors:
        return {"moved": moved, "error": "; ".join(errors), "ips": sorted(routed)}
    return {"moved": moved, "at": hv_runtime.now()}


def _fence_due(hv, fence):
    """Whether to fence on this pass: never tried, or every try so far failed before
    the API could take a reboot (and tries are left)."""
    if not hv["takeover"]["fence"]:
        return False
    if fence is None:
        return True
    return not (fence.get("result") or fence.get("may_have_rebooted")) and fence["attempts"] < FENCE_ATTEMPTS


def _fence(hv, record):
    why = f"taken over by {hv['me']['name']}: sanlock declared it dead (generation {record['generation']})"
    try:
        ret = __salt__["online.fence"](record["host"], reason=why)
    except Exception as exc:
        ret = {"result": False, "comment": str(exc)}
    keys = ("result", "comment", "image", "server_id", "may_have_rebooted")
    attempts = (record["fence"] or {}).get("attempts", 0) + 1
    return dict({k: v for k, v in ret.items() if k in keys}, attempts=attempts, at=hv_runtime.now())


def _api_ready(hv):
    return not hv.get("offline") and "online.failover_move" in __salt__ and hv["failover"].get("configured")


def _settled(record, all_started):
    """The guests are all up, or this incident is old enough that those left are
    not coming (a failed start): the IPs and the fence go ahead either way."""
    opened = datetime.datetime.fromisoformat(record["detected"])
    return all_started or (datetime.datetime.now(datetime.UTC) - opened).total_seconds() >= SETTLE_SECONDS


def _handle(hv, host, row, peers):
    """One pass over a dead host's incident: its guests, then its IPs, then its fence (on
    the host that opened it); another survivor starts its share."""
    record = hv_incidents.claim(hv, host, dict(row), __salt__["event.send"], log)
    if record is None:
        return _take_assigned(hv, host, row)
    if record.get("closed") or record.get("done"):
        return record
    drained = __salt__["guests.drained"](settings_cache=hv["settings_cache"])["drained"]
    all_started = _take_guests(hv, record, peers, drained)
    if drained and not record["assigned"]:
        record["refused"] = f"{hv['me']['name']} is drained: it takes no guests, and no other host has room"
        hv_incidents.save(hv, record)
        return record
    settled = _settled(record, all_started)
    if settled and _api_ready(hv):
        if record["failover"] is None or record["failover"].get("error"):
            record["failover"] = _take_ips(hv, record)
        if _fence_due(hv, record["fence"]):
            record["fence"] = _fence(hv, record)
            tag = "fenced" if record["fence"].get("result") else "fence/failed"
            _event(tag, dict(record["fence"], host=host))
    ips_done = record["failover"] is not None and not record["failover"].get("error")
    if settled and ips_done and not _fence_due(hv, record["fence"]):
        record["done"] = hv_runtime.now()
        _event(
            "done",
            {
                "host": host,
                "by": hv["me"]["name"],
                "guests": record["guests"],
                "failover": record["failover"],
            },
        )
    hv_incidents.save(hv, record)
    return record


def check(settings_cache=None):
    """
    One look: the other hosts' sanlock state; when one fails to renew, this
    host's quorum; the takeover of each dead one (see the module's doc).
    Returns what it saw and did.

    CLI Example:

    .. code-block:: bash

        salt hyp2 takeover.check
    """
    hv = _settings(settings_cache)
    if not hv["takeover"]["enabled"]:
        return {"enabled": False}
    try:
        against_me = open_against(settings_cache=settings_cache)
    except OSError:  # the incidents volume does not answer here
        against_me = []
    if against_me:  # guests decides again under the marks' lock, which an undrain takes too
        __salt__["guests.hold_if_taken_over"](settings_cache=settings_cache)
    ret = {"enabled": True, "quorum": None, "peers": _peers(hv), "incidents": {}}
    if not any(row["state"] in ("fail", "dead") for row in ret["peers"].values()):
        return ret  # every other host renews its lease: nothing to decide (quorum is not asked)
    ret["quorum"] = _quorum(hv)
    if not ret["quorum"]["quorum"]:
        return ret  # the minority side never takes over and never fences
    with hv_runtime.try_locked(hv_marks.state_path(hv, PASS_LOCK)) as alone:
        if not alone:
            ret["busy"] = "another takeover pass is running on this host: it acts, this one does nothing"
            return ret
        _handle_dead(hv, ret)
    return ret


def _handle_dead(hv, ret):
    """The takeover of each peer that is dead (this host has quorum, and is the only pass)."""
    for host, row in ret["peers"].items():
        if row["state"] == "dead":
            try:
                ret["incidents"][host] = _handle(hv, host, row, ret["peers"])
            except OSError as exc:  # the incidents volume refuses: no majority after all
                ret["incidents"][host] = {"error": f"{exc.strerror or exc}"}
                if exc.errno not in (errno.EROFS, errno.ENOTCONN, errno.EIO, errno.EACCES):
                    raise


def watch(settings_cache=None, passes=0):
    """
    The loop the takeover unit runs: ``check`` every ``takeover:poll_interval``
    seconds, an event when a host turns suspect (renewals failing) or comes back;
    it ends after a look once ``saltutil.sync_all`` changed this host's modules
    (its unit starts the new code).
    ``passes``: stop after that many looks (0: never).

    CLI Example:

    .. code-block:: bash

        salt-call takeover.watch passes=1
    """
    hv = _settings(settings_cache)
    interval = hv["takeover"]["poll_interval"]
    last = {}
    done = 0
    code = hv_runtime.code_stamp()
    while True:
        try:
            ret = check(settings_cache)
        except Exception as exc:  # a look that fails is logged, the next one may work
            log.error("takeover: check failed: %s", exc)
            ret = {}
        for host, row in (ret.get("peers") or {}).items():
            if row["state"] != last.get(host):
                if row["state"] in ("fail", "live") and host in last:
                    _event("suspect" if row["state"] == "fail" else "alive", {"host": host, **row})
                last[host] = row["state"]
        done += 1
        if passes and done >= passes:
            return ret
        if hv_runtime.code_stamp() != code:
            log.warning("takeover: this host's modules were synced anew: the unit starts the new code")
            return ret
        time.sleep(interval)
