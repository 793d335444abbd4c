"""
hv_evacuation: moving this host's guests away and back (F25, B2). Each guest
goes by live migration to the host an operator named, else to the host
placement chose for it (B8, hv_placement: by room, anti-affinity groups apart,
among the other hosts that answer and are not drained); a guest that cannot
migrate, or that no host has room for, goes onto the shared save volume;
``evacuation:parallel`` at a time. Bringing one back migrates it from the host
that runs it, restores it if saved, starts it if down. The promise: each guest
touched runs on exactly one host or is saved, and the outcome says which.
Plain Python; ``event(tag, data)`` fires the events (``hv/evacuation/``).
"""

import concurrent.futures
import contextvars
import time

import hv_domains
import hv_marks
import hv_migration
import hv_placement
import hv_saves
import keeper_rule
from hv_runtime import CommandExecutionError


def target(hv, host):
    """The host an operator named (checked: raises unless it can take guests), or None:
    placement chooses for each guest."""
    if host is None:
        return None
    me = hv["me"]["name"]
    if host == me or host not in hv["hosts"] or host not in hv["tunnels"]["members"]:
        members = ", ".join(h for h in hv["tunnels"]["members"] if h != me)
        raise CommandExecutionError(f"{host} cannot take guests from {me} (hosts that can: {members})")
    return host


def _group(hv, name):
    """The anti-affinity group of guest ``name`` (None: none, or not a pillar guest)."""
    return (hv["guests"].get(name) or {}).get("anti_affinity")


def _candidates(hv):
    """The other hosts that carry guests, but those drained by their published keeper
    record (unreadable records: all of them)."""
    me = hv["me"]["name"]
    try:
        records = keeper_rule.read_records(hv["keeper"]["hosts_dir"], hv["hosts"], hv["guests"])
    except OSError:
        records = {}
    return [h for h in hv["tunnels"]["members"] if h != me and not records.get(h, {}).get("drained")]


def plan(hv, names, host):
    """Where each guest of ``names`` (running here) goes: ``({name: host}, {name: why not})``.
    All to ``host`` when an operator named one; else by placement, from the room each
    other host's libvirt reports now."""
    if not names or host:
        return {name: host for name in names}, {}
    me = hv["me"]["name"]
    with hv_domains.connection() as conn:
        here = hv_domains.sizes(conn)
    rooms, groups = {}, {}
    for other in _candidates(hv):
        capacity = None if hv_domains.reachable(hv, other) else hv_domains.capacity(hv, other, me)
        rooms[other] = hv_placement.room(capacity, hv.get("placement"))
        groups[other] = {_group(hv, n) for n in (capacity or {}).get("running", [])} - {None}
    guests = {
        name: dict(here.get(name, {"memory": 0, "vcpus": 0}), anti_affinity=_group(hv, name))
        for name in names
    }
    placed = hv_placement.plan(guests, rooms, groups)
    return placed["targets"], placed["unplaced"]


def _away(hv, name, host, why_not, event):
    """Migrate ``name`` to ``host`` (unless ``why_not``), else save it; never raises."""
    result = {"outcome": "failed", "why": why_not}
    if not why_not:
        result = hv_migration.migrate(hv, name, host, event, hv["me"]["name"])
        if result["outcome"] in ("migrated", "unknown"):
            return result
    with hv_domains.connection() as conn:
        try:
            path = hv_saves.save(hv, conn, name)
            return {"outcome": "saved", "path": path, "why": result.get("why")}
        except CommandExecutionError as exc:
            return {"outcome": "running", "host": hv["me"]["name"], "why": f"{result.get('why')}; {exc}"}


def _move_away(hv, targets, unplaced, event):
    """Move the guests of ``targets`` (``{name: host}``) off this host, those of ``unplaced``
    (``{name: why}``: no host has room) onto the save volume; ``{name: outcome}``, each
    fired as ``guest/<outcome>`` as it comes (and ``guest/unplaced`` first for the latter)."""
    me = hv["me"]["name"]
    why_not = {host: hv_domains.reachable(hv, host) for host in sorted(set(targets.values()))}
    tasks = [(name, host, why_not[host]) for name, host in sorted(targets.items())]
    for name, why in sorted(unplaced.items()):
        event("guest/unplaced", {"guest": name, "source": me, "why": why})
        tasks.append((name, None, f"no host can take it: {why}"))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=hv["evacuation"]["parallel"]) as pool:
        # Each task in a copy of this context: Salt's dunders (__salt__, __grains__) live there.
        futures = {
            pool.submit(contextvars.copy_context().run, _away, hv, name, host, why, event): name
            for name, host, why in tasks
        }
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except Exception as exc:  # a bug must not hide the other guests' outcomes
                results[name] = {"outcome": "unknown", "why": f"{type(exc).__name__}: {exc}"}
            event(f"guest/{results[name]['outcome']}", dict(results[name], guest=name, source=me))
    return results


def evacuate(hv, reason, host, event, follow_failover):
    """Every guest running here away to ``host`` (None: where placement puts each), then
    their failover IPs (``follow_failover(hv, results, default)``: the IPs of no guest or of
    a saved one go to ``default``, the named host or else the peer or the first target);
    the evacuating mark meanwhile, the result kept (``hv_marks.record_evacuation``). Events
    ``started`` (with ``targets``), each guest's, ``done``."""
    me = hv["me"]["name"]
    with hv_marks.evacuating_mark(hv):
        start = time.monotonic()
        with hv_domains.connection() as conn:
            names = hv_domains.running(conn)
        targets, unplaced = plan(hv, names, host)
        default = host or _default(hv, targets)
        event(
            "started",
            {
                "host": me,
                "to": host,
                "reason": reason,
                "guests": names,
                "targets": targets,
                "unplaced": unplaced,
            },
        )
        results = _move_away(hv, targets, unplaced, event)
        failover = follow_failover(hv, results, default)
        ret = {
            "host": me,
            "to": host,
            "targets": targets,
            "reason": reason,
            "guests": dict(sorted(results.items())),
            "failover": failover,
            "seconds": round(time.monotonic() - start, 2),
            "result": all(r["outcome"] in ("migrated", "saved") for r in results.values())
            and not failover["failed"],
        }
        event("done", {k: ret[k] for k in ("host", "to", "targets", "reason", "guests", "seconds", "result")})
        hv_marks.record_evacuation(hv, ret)
        return ret


def _default(hv, targets):
    """Where the failover IPs of no guest (or of a saved one) go: the peer when it takes
    guests now, else the first host placement used, else None (they stay)."""
    peer = hv["me"].get("peer")
    used = sorted(set(targets.values()))
    return peer if peer in used or (peer and not used) else next(iter(used), None)


def bring_back(hv, name, event):
    """Migrate ``name`` from whichever member runs it to this host; restore it if saved,
    start it if it runs nowhere. The outcome (``hv_saves.start``'s or a migration's)."""
    me = hv["me"]["name"]
    with hv_domains.connection() as conn:
        if hv_saves.has_save(hv, name):
            return hv_saves.start(hv, conn, name)
    for host in hv["tunnels"]["members"]:
        if host != me and hv_domains.remote_state(hv, host, name, me) in hv_domains.ACTIVE:
            src = {**hv, "me": hv["hosts"][host]}
            return hv_migration.migrate(src, name, me, event, me, uri=hv_domains.host_uri(hv, host))
    with hv_domains.connection() as conn:
        return hv_saves.start(hv, conn, name)
