"""
cluster_view: the cluster's status as one view, and as a table (B3).

Plain Python, no Salt. ``assemble`` puts together each host's part (what
``cluster.local`` returns there), the facts one host reads for all
(``cluster.shared``) and the cluster pillar's hosts and guests, and lists the
problems it sees; ``table`` prints such a view. ``cluster.status`` (a host's
view, the others' parts from the mine), the ``cluster.status`` runner (every
host asked live) and the ``hv_status`` outputter use it; the loader reaches
it as ``__utils__["cluster_view.assemble"]``.

A part that failed is ``{"error": "..."}`` in its place: the view says so and
goes on with the rest.
"""

import datetime

# The guests module's names of libvirt states in which a guest runs (holds its disk).
ACTIVE = ("running", "blocked", "paused", "shutting down", "suspended")
HOST_PARTS = ("drained", "guests", "saved", "sanlock", "proxyarp")
SHARED_PARTS = ("peers", "volumes", "lockspace", "failover")


def _error(value):
    """The error of a failed part, or None."""
    return value["error"] if isinstance(value, dict) and "error" in value else None


def _ok(value):
    return value is not None and _error(value) is None


def _age(stamp, now):
    """Seconds since ``stamp`` (ISO 8601), or None."""
    try:
        then = datetime.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.UTC)
    return max(0, round((now - then).total_seconds()))


def hosts_config(cluster):
    """The cluster's hosts as ``assemble`` needs them, from the ``hypervisor``
    mapping (the pillar's or the settings view): ``{name: {"arbiter": bool}}``
    (a host's ``role``)."""
    hosts = cluster.get("hosts") or {}
    return {name: {"arbiter": (host or {}).get("role") == "arbiter"} for name, host in hosts.items()}


def _host(part, config, api_ips, now):
    """One host's row of the view (``part`` None: it did not answer)."""
    host = {
        "up": part is not None,
        "source": None,
        "age": None,
        "errors": {},
        "drained": None,
        "drain_reason": None,
        "drained_since": None,
        "sanlock": None,
        "guests_running": [],
        "guests_defined": [],
        "failover": {"api": api_ips, "proxyarp": None, "mismatch": []},
        "arbiter": bool(config.get("arbiter")),
    }
    if part is None:
        return host
    if _error(part) is not None and not any(key in part for key in HOST_PARTS):
        host["errors"] = {"cluster.local": _error(part)}  # the whole call failed
    else:
        host["errors"] = {
            key: _error(part.get(key)) for key in HOST_PARTS if _error(part.get(key)) is not None
        }
    guests = part["guests"] if _ok(part.get("guests")) else {}
    drained = part["drained"] if _ok(part.get("drained")) else None
    proxyarp = sorted(part["proxyarp"]) if _ok(part.get("proxyarp")) else None
    host.update(
        source=part.get("source", "live"),
        age=_age(part.get("time"), now),
        sanlock=part.get("sanlock"),
        guests_running=sorted(g for g, state in guests.items() if state in ACTIVE),
        guests_defined=sorted(guests),
    )
    if drained is not None:
        host.update(
            drained=bool(drained.get("drained")),
            drained_since=drained.get("since"),
            drain_reason=drained.get("reason"),
        )
    if api_ips is not None and proxyarp is not None:
        host["failover"].update(proxyarp=proxyarp, mismatch=sorted(set(api_ips) ^ set(proxyarp)))
    else:
        host["failover"]["proxyarp"] = proxyarp
    return host


def _volumes(volumes):
    if not _ok(volumes):
        return volumes if volumes is not None else {"error": "not read"}
    return {
        name: {key: vol.get(key) for key in ("status", "heal_entries", "split_brain", "error") if key in vol}
        for name, vol in sorted(volumes.items())
    }


def _guests(hosts, parts, guests_config):
    saved = set()
    for part in parts.values():
        if isinstance(part, dict) and isinstance(part.get("saved"), list):
            saved.update(part["saved"])
    names = set(guests_config) | saved
    for host in hosts.values():
        names.update(host["guests_defined"])
    down = sorted(name for name, host in hosts.items() if not host["up"])
    view = {}
    for name in sorted(names):
        config = guests_config.get(name) or {}
        running_on = sorted(h for h, host in hosts.items() if name in host["guests_running"])
        wanted = config.get("running", True) if name in guests_config else None
        problem = None
        if len(running_on) > 1:
            problem = f"runs on {len(running_on)} hosts at once: {', '.join(running_on)}"
        elif running_on and name in saved:
            problem = f"runs on {running_on[0]} and has a save file too (a stale one: never restore it)"
        elif not running_on and wanted and name not in saved:
            where = f" (no answer from {', '.join(down)})" if down else ""
            problem = f"is down and has no save file{where}"
        view[name] = {
            "running_on": running_on,
            "saved": name in saved,
            "home": config.get("home"),
            "wanted_running": wanted,
            "problem": problem,
        }
    return view


def _problems(view, shared):
    problems = []
    for name, host in view["hosts"].items():
        if not host["up"]:
            problems.append(f"host {name} does not answer")
            continue
        if host["source"] == "mine":
            problems += [
                f"host {name}: {part}: {error} (in the mine)" for part, error in host["errors"].items()
            ]
        else:
            problems += [f"host {name}: {part}: {error}" for part, error in host["errors"].items()]
        sanlock = host["sanlock"]
        if _ok(sanlock) and not host["arbiter"] and not sanlock.get("can_take_guests"):
            problems.append(f"host {name} cannot take guests: {sanlock.get('reason')}")
    for name, host in view["hosts"].items():
        failover = host["failover"]
        if not host["up"] and failover["api"]:
            problems.append(
                f"failover IPs routed to {name}, which does not answer: {', '.join(failover['api'])}"
            )
        if failover["mismatch"]:
            problems.append(
                f"failover IPs of {name}: the API routes {', '.join(failover['api']) or 'none'} there,"
                f" its proxy ARP answers for {', '.join(failover['proxyarp']) or 'none'}"
            )
    if _ok(shared.get("failover")):
        problems += [
            f"failover IP {row['ip']} is routed to no cluster host ({row.get('destination') or 'nowhere'})"
            for row in shared["failover"].get("ips") or []
            if not row.get("api_host")
        ]
    for part in SHARED_PARTS:
        if _error(shared.get(part)) is not None:
            problems.append(f"{part}: {_error(shared[part])}")
    for peer in shared.get("peers") if isinstance(shared.get("peers"), list) else []:
        if not peer.get("connected"):
            problems.append(f"gluster peer {peer.get('hostname')} is not connected ({peer.get('state')})")
    volumes = view["volumes"] if _ok(view["volumes"]) else {}
    for name, vol in volumes.items():
        if vol.get("status") != "Started":
            problems.append(f"volume {name} is {vol.get('status') or 'in an unknown state'}")
        if vol.get("error"):
            problems.append(f"volume {name}: {vol['error']}")
        if vol.get("split_brain"):
            problems.append(f"volume {name}: {vol['split_brain']} entries in split-brain")
    problems += [
        f"guest {name} {guest['problem']}" for name, guest in view["guests"].items() if guest["problem"]
    ]
    return problems


def assemble(parts, shared, hosts_config, guests_config=None, now=None):
    """
    The cluster's view.

    ``parts``: ``{host: cluster.local()}`` of the hosts that answered (a part
    marked ``"source": "mine"`` came from the mine); ``shared``:
    ``cluster.shared()`` (or ``{"error": ...}``); ``hosts_config``: see
    ``hosts_config``; ``guests_config``: the pillar's ``hypervisor:guests``.
    Returns ``{"hosts", "peers", "volumes", "lockspace", "failover", "guests", "problems"}``.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    shared = shared if isinstance(shared, dict) else {"error": str(shared)}
    if _error(shared) is not None and not any(key in shared for key in SHARED_PARTS):
        shared = {key: {"error": _error(shared)} for key in SHARED_PARTS}
    failover = shared.get("failover")
    routed = {}
    if _ok(failover):
        for row in failover.get("ips") or []:
            routed.setdefault(row.get("api_host"), []).append(row["ip"])
    names = sorted(set(hosts_config) | set(parts))
    hosts = {
        name: _host(
            parts.get(name),
            hosts_config.get(name) or {},
            sorted(routed.get(name, [])) if _ok(failover) else None,
            now,
        )
        for name in names
    }
    view = {
        "hosts": hosts,
        "peers": shared.get("peers"),
        "volumes": _volumes(shared.get("volumes")),
        "lockspace": shared.get("lockspace"),
        "failover": failover,
        "guests": _guests(hosts, parts, guests_config or {}),
    }
    view["problems"] = _problems(view, shared)
    return view


def is_view(data):
    """Whether ``data`` is what ``assemble`` returns."""
    return isinstance(data, dict) and {"hosts", "guests", "problems"} <= set(data)


# ------------------------------------------------------------------- table


def _columns(header, rows):
    """Left-aligned columns, two spaces apart, under ``header``."""
    rows = [header, *rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return [
        "  " + "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _names(items):
    return ", ".join(items) or "-"


def _yes(value):
    return "?" if value is None else ("yes" if value else "no")


def _host_row(name, host):
    if not host["up"]:
        return [name, "no", "?", "?", "-", "-", "-"]
    sanlock = host["sanlock"]
    if not _ok(sanlock):
        ready = "error"
    else:
        ready = "ok" if sanlock.get("can_take_guests") else "no: " + str(sanlock.get("reason"))
    source = (
        "live"
        if host["source"] != "mine"
        else f"mine, {host['age'] if host['age'] is not None else '?'} s old"
    )
    drained = _yes(host["drained"])
    if host["drained"] and host.get("drain_reason"):
        drained += f" ({host['drain_reason']})"
    return [
        name,
        "yes",
        drained,
        ready,
        _names(host["guests_running"]),
        str(len(host["guests_defined"])),
        source,
    ]


def _volume_rows(volumes):
    if not _ok(volumes):
        return [["?", f"error: {_error(volumes)}", "", ""]]
    return [
        [name, vol.get("status") or "?", _count(vol, "heal_entries"), _count(vol, "split_brain")]
        for name, vol in volumes.items()
    ]


def _count(vol, key):
    return str(vol[key]) if vol.get(key) is not None else "?"


def _failover_rows(view):
    rows = []
    for name, host in view["hosts"].items():
        failover = host["failover"]
        api = "?" if failover["api"] is None else _names(failover["api"])
        proxyarp = "?" if failover["proxyarp"] is None else _names(failover["proxyarp"])
        rows.append([name, api, proxyarp, _names(failover["mismatch"])])
    return rows


def table(view):
    """The view as plain text: Hosts, Volumes, Guests, Failover IPs, Problems."""
    lines = ["Hosts"]
    lines += _columns(
        ["HOST", "UP", "DRAINED", "SANLOCK", "RUNNING", "DEFINED", "SOURCE"],
        [_host_row(name, host) for name, host in view["hosts"].items()],
    )
    lines += ["", "Volumes"]
    lines += _columns(["VOLUME", "STATUS", "TO HEAL", "SPLIT-BRAIN"], _volume_rows(view["volumes"]))
    lines += ["", "Guests"]
    guests = [
        [name, g["home"] or "-", _names(g["running_on"]), _yes(g["saved"]), g["problem"] or "-"]
        for name, g in view["guests"].items()
    ]
    lines += _columns(["GUEST", "HOME", "RUNNING ON", "SAVED", "PROBLEM"], guests) if guests else ["  (none)"]
    lines += ["", "Failover IPs"]
    if _ok(view.get("failover")):
        lines += _columns(["HOST", "API ROUTES HERE", "PROXY ARP", "MISMATCH"], _failover_rows(view))
    else:
        lines.append(f"  error: {_error(view.get('failover')) or 'not read'}")
    lines += ["", "Problems"]
    lines += [f"  - {problem}" for problem in view["problems"]] or ["  (none)"]
    return "\n".join(lines)
