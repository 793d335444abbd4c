"""
hv_evacuation: moving this host's guests away and back (F25, B2). Each guest
goes to the target host by live migration, else onto the shared save volume;
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
import hv_saves
from hv_runtime import CommandExecutionError


def target(hv, host):
    """The host that takes the guests (default: this host's peer); raises unless it can."""
    host = host or hv["me"]["peer"]
    me = hv["me"]["name"]
    if host == me or host not in hv["hosts"] or host not in hv["tunnels"]["members"]:
        members = ", ".join(h for h in hv["tunnels"]["members"] if h != me)
        raise CommandExecutionError(f"{host} cannot take guests from {me} (hosts that can: {members})")
    return host


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


def _move_away(hv, names, host, event):
    """Move guests ``names`` off this host to ``host`` (saved where they cannot migrate);
    ``{name: outcome}``, each fired as ``guest/<outcome>`` as it comes."""
    me = hv["me"]["name"]
    why_not = hv_domains.reachable(hv, host) if names else None
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=hv["evacuation"]["parallel"]) as pool:
        # Each task in a copy of this context: Salt's dunders (__salt__, __grains__) live there.
        futures = {
            pool.submit(contextvars.copy_context().run, _away, hv, name, host, why_not, event): name
            for name in names
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
    """Every guest running here away to ``host``, then their failover IPs
    (``follow_failover(hv, results, host)``); the evacuating mark meanwhile, the
    result kept (``hv_marks.record_evacuation``). Events ``started``, each guest's,
    ``done``."""
    me = hv["me"]["name"]
    with hv_marks.evacuating_mark(hv):
        start = time.monotonic()
        with hv_domains.connection() as conn:
            names = hv_domains.running(conn)
        event("started", {"host": me, "to": host, "reason": reason, "guests": names})
        results = _move_away(hv, names, host, event)
        failover = follow_failover(hv, results, host)
        ret = {
            "host": me,
            "to": host,
            "reason": reason,
            "guests": dict(sorted(results.items())),
            "failover": failover,
            "seconds": round(time.monotonic() - start, 2),
            "result": all(r["outcome"] in ("migrated", "saved") for r in results.values())
            and not failover["failed"],
        }
        event("done", {k: ret[k] for k in ("host", "to", "reason", "guests", "seconds", "result")})
        hv_marks.record_evacuation(hv, ret)
        return ret


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
