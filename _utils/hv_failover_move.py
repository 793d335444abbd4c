"""
hv_failover_move: ``online.failover_move``'s work (F24): a move checked before
anything is sent (cluster IPs, a server id, the per-IP budget), the IPs sharing
a virtual MAC moved together, spaced from this host's previous move, recorded
in the move history, and read back until the API shows it done.

Plain Python (imported by ``_modules/online.py``); Salt is reached through the
:class:`hv_failover_base.Minion` callbacks it is given.
"""

import logging
import os
import time

import hv_failover_files as files
from hv_failover_base import (
    NO_PROVIDER,
    UNCERTAIN,
    ApiError,
    api,
    cluster_ips,
    main_ips,
    normal_ip,
    refused,
    server_id,
    sorted_ips,
)
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)


def budget_refusal(moves, ips, now, budget):
    """Why a move of ``ips`` now would exceed ``budget`` (``{moves, window, total}``: moves
    per IP, and IPs moved from this host in all, within ``window`` s), or None."""
    window, allowed, total = budget["window"], budget["moves"], budget.get("total")
    recent = sum(len(m["ips"]) for m in moves if now - window < m["time"] <= now)
    if total and recent + len(ips) > total:
        return (
            f"this host moved {recent} failover IPs in the last {window} s (move_budget: {total} in all per"
            f" {window} s, below the provider's own limit): refused, nothing sent"
        )
    for ip in ips:
        times = sorted(m["time"] for m in moves if ip in m["ips"] and now - window < m["time"] <= now)
        if len(times) >= allowed:
            again = int(times[-allowed] + window - now) + 1
            return (
                f"{ip} was moved {len(times)} times in the last {window} s (move_budget: {allowed} per"
                f" {window} s): refused, nothing sent; the budget allows its next move in {again} s"
            )
    return None


def spacing_pause(moves, now, spacing):
    """Seconds to wait so that ``spacing`` s separate this move from the previous one."""
    if not moves:
        return 0.0
    last = max(m["time"] for m in moves)
    return max(0.0, min(float(spacing), last + spacing - now))


def confirm(prov, ips, destination, timeout, interval):
    """Read the routes back until every one of ``ips`` goes to ``destination``
    (up to ``timeout`` s); (confirmed, the IPs still elsewhere, the last read error)."""
    deadline = time.monotonic() + timeout
    pending, error = list(ips), None
    while True:
        try:
            routes = {f.ip: f.destination for f in api(prov, "failovers")}
            pending, error = [ip for ip in ips if routes.get(ip) != destination], None
        except ApiError as exc:
            error = str(exc)
        if not pending and error is None:
            return True, [], None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, pending, error
        time.sleep(min(interval, remaining))


def cluster_listed(hv, ips):
    """``ips`` normalised; refused (before any API call) unless each is a cluster failover IP."""
    wanted = []
    for ip in ips:
        normal = normal_ip(ip)
        if normal not in cluster_ips(hv):
            raise refused(f"{ip} is not a cluster failover IP (no host lists it in failover_ips)")
        wanted.append(normal)
    return wanted


def move_group(routes, wanted):
    """``wanted`` with every IP sharing a virtual MAC with one of them (those move
    only together), and their MACs; refused when the account lacks one of them."""
    for ip in wanted:
        if ip not in routes:
            raise refused(f"the provider's account has no failover IP {ip}")
    macs = {routes[ip].mac for ip in wanted if routes[ip].mac}
    return sorted_ips(set(wanted) | {f.ip for f in routes.values() if f.mac and f.mac in macs}), macs


def _server_error(hv, host):
    try:
        server_id(hv, host)
    except CommandExecutionError as exc:
        return str(exc)
    return f"{host} cannot be resolved"


def move(minion, hv, prov, ips, host, wait, ret):
    """failover_move's work; fills ``ret``, raises CommandExecutionError on a refusal or an API error."""
    if prov is None:
        raise CommandExecutionError(f"{NO_PROVIDER}: the failover IPs are static, none can be moved")
    failover = hv["failover"]
    wanted = cluster_listed(hv, ips)
    if host not in hv["hosts"] or hv["hosts"][host].get("server_id") is None:
        raise refused(_server_error(hv, host))
    routes = {f.ip: f for f in api(prov, "failovers")}
    group, macs = move_group(routes, wanted)
    mains = main_ips(hv, prov)
    destination = mains[host]
    names = {main: name for name, main in mains.items()}
    previous = {names.get(routes[ip].destination, routes[ip].destination) for ip in group} - {None}
    ret["ips"], ret["from"] = group, ", ".join(sorted(previous)) or None
    # Only what is not there yet, but a virtual MAC's IPs always together.
    need = {ip for ip in group if routes[ip].destination != destination}
    need_macs = {routes[ip].mac for ip in need if routes[ip].mac}
    moving = sorted_ips(need | {ip for ip in group if routes[ip].mac in need_macs}) or group
    together = f" (sharing the virtual MAC {', '.join(sorted(macs))})" if macs and len(group) > 1 else ""
    state_dir = failover["state_dir"]
    history_path = os.path.join(state_dir, files.HISTORY_FILE)
    with files.locked(os.path.join(state_dir, files.MOVES_LOCK)):
        moves = files.load_history(history_path)
        why = budget_refusal(moves, moving, time.time(), failover["move_budget"])
        if why:
            raise CommandExecutionError(why)
        pause = spacing_pause(moves, time.time(), failover["move_spacing"])
        doing = (
            f"moving {', '.join(group)}{together} from {ret['from'] or 'nowhere'} to {host} ({destination})"
        )
        minion.event(
            "hv/failover/move/started", {"ips": group, "from": ret["from"], "to": host, "comment": doing}
        )
        log.info("online: %s%s", doing, f", after {pause:.1f} s (move_spacing)" if pause else "")
        if pause:
            time.sleep(pause)
        try:
            accepted = api(prov, "move", moving, destination)
        except ApiError as exc:
            if exc.kind in UNCERTAIN:  # the API may have taken it: it counts (spacing, budget)
                moves.append({"time": time.time(), "ips": moving, "to": host, "uncertain": exc.kind})
                files.save_history(history_path, moves)
            raise
        if accepted:
            moves.append({"time": time.time(), "ips": moving, "to": host})
            files.save_history(history_path, moves)
    said = "accepted the move" if accepted else f"already routes them to {host} (already provisioned)"
    if not wait:
        ret.update(result=True, comment=f"the API {said} of {', '.join(group)} to {host}; not waiting for it")
        return
    confirmed, pending, error = confirm(
        prov, group, destination, failover["confirm_timeout"], failover["confirm_interval"]
    )
    ret["confirmed"] = confirmed
    if confirmed:
        ret.update(
            result=True, comment=f"{', '.join(group)} routed to {host} ({destination}): the API {said}"
        )
        return
    still = f"still routes {', '.join(pending)} elsewhere" if pending else "could not be read back"
    last = f" (last read: {error})" if error else ""
    ret["comment"] = (
        f"the API {said} of {', '.join(group)} to {host}, but {still} after"
        f" {failover['confirm_timeout']} s{last}: not done"
    )
