"""
cluster_view: the cluster's status as one view, and as a table (B3).

Plain Python, no Salt. ``assemble`` puts together each host's part (what
``cluster.local`` returns there), the facts one host reads for all
(``cluster.shared``) and the cluster's hosts and guests (the validated
settings), and lists the problems it sees; ``table`` prints such a view.
``cluster.status`` (a host's view, the others' parts from the mine) and the
``cluster.status`` runner (every host asked live) import it by name; the
``hv_status`` outputter, which gets no utils on its path, takes it from Salt's
utils loader.

A part that failed is ``{"error": "..."}`` in its place: the view says so and
goes on with the rest. The arbiter carries no guest (no libvirt, sanlock or
takeover): what its part says of those is never a problem.

The takeover's side (B1, B6): each host's quorum and how its sanlock sees the
other hosts' leases (live, fail, dead...), and the last incidents (who died
when, which host took over, the guests started, the failover IPs moved, the
fence), an open one a problem until the host is undrained.
"""

import datetime

import cluster_placement

# The guests module's names of libvirt states in which a guest runs (holds its disk).
ACTIVE = ("running", "blocked", "paused", "shutting down", "suspended")
HOST_PARTS = ("drained", "guests", "saved", "sanlock", "proxyarp", "quorum", "sanlock_hosts", "keeper")
SHARED_PARTS = ("peers", "volumes", "lockspace", "failover", "incidents", "keeper")
# sanlock's states of another host's lease that are a problem, as a problem says them.
LEASE_TROUBLE = {"fail": "failing", "dead": "dead"}


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


def _seconds(value):
    """``95 s``, ``142.5 s`` (``? s``: not known)."""
    return f"{value:g} s" if isinstance(value, int | float) else "? s"


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
        "quorum": None,
        "sanlock_hosts": None,
        "failover": {"api": api_ips, "proxyarp": None, "mismatch": []},
        "arbiter": bool(config.get("arbiter")),
    }
    if part is None:
        return host
    if _error(part) is not None and not any(key in part for key in HOST_PARTS):
        host["errors"] = {"cluster.local": _error(part)}  # the whole call failed
    elif not host["arbiter"]:  # the arbiter has none of these parts: no error of theirs counts
        host["errors"] = {
            key: _error(part.get(key)) for key in HOST_PARTS if _error(part.get(key)) is not None
        }
    guests = part["guests"] if _ok(part.get("guests")) else {}
    drained = part["drained"] if _ok(part.get("drained")) else None
    # The arbiter answers for no failover IP: no proxy ARP of its own to compare.
    proxyarp = sorted(part["proxyarp"]) if _ok(part.get("proxyarp")) and not host["arbiter"] else None
    host.update(
        source=part.get("source", "live"),
        age=_age(part.get("time"), now),
        sanlock=part.get("sanlock"),
        quorum=_quorum(part.get("quorum")),
        sanlock_hosts=_sanlock_hosts(part.get("sanlock_hosts")),
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


def _quorum(quorum):
    """A host's ``takeover.quorum``: ``{"quorum", "connected", "of", "lockspace", "reason"}``
    (or its error, or None)."""
    if not _ok(quorum):
        return quorum
    return {key: quorum.get(key) for key in ("quorum", "connected", "of", "lockspace", "reason")}


def _sanlock_hosts(peers):
    """A host's ``takeover.peers``: ``{host: {"host_id", "generation", "state", "silent"}}``."""
    if not _ok(peers):
        return peers
    return {
        name: {key: row.get(key) for key in ("host_id", "generation", "state", "silent")}
        for name, row in sorted(peers.items())
    }


def _incidents(incidents):
    """``takeover.incidents`` as the view keeps them (newest first): ``[{"host",
    "generation", "detected", "by", "guests" ({name: {"outcome", "why"}}),
    "failover" ({"moved", "error"} or None: not yet), "fence" ({"result",
    "comment"} or None: not yet, or fencing off), "refused", "done", "closed"}]``."""
    if not _ok(incidents):
        return incidents
    view = []
    for record in incidents:
        failover, fence = record.get("failover"), record.get("fence")
        view.append(
            {
                "host": record.get("host"),
                "generation": record.get("generation"),
                "detected": record.get("detected"),
                "by": record.get("by"),
                "guests": {
                    name: {"outcome": guest.get("outcome"), "why": guest.get("why")}
                    for name, guest in sorted((record.get("guests") or {}).items())
                },
                "failover": None
                if failover is None
                else {"moved": list(failover.get("moved") or []), "error": failover.get("error")},
                "fence": None
                if fence is None
                else {"result": bool(fence.get("result")), "comment": fence.get("comment")},
                "refused": record.get("refused"),
                "unplaced": dict(sorted((record.get("unplaced") or {}).items())),
                "done": record.get("done"),
                "closed": record.get("closed"),
            }
        )
    return view


def _volumes(volumes):
    if not _ok(volumes):
        return volumes if volumes is not None else {"error": "not read"}
    return {
        name: {key: vol.get(key) for key in ("status", "heal_entries", "split_brain", "error") if key in vol}
        for name, vol in sorted(volumes.items())
    }


def _keeper(parts, shared):
    """Every host's keeper record (``keeper.status``; a host's own part, fresher, over
    what it published on the shared volume) and the stop marks: ``(records, marks)``."""
    published = shared.get("keeper") if _ok(shared.get("keeper")) else {}
    records = dict(published.get("records") or {})
    for name, part in parts.items():
        own = part.get("keeper") if isinstance(part, dict) else None
        if _ok(own) and isinstance(own.get("guests"), dict):
            records[name] = own
    return records, published.get("stop_marks") or {}


def _down_problem(name, wanted, entries, acting, down):
    """Why a guest the cluster keeps runs nowhere, and what the keepers do about it."""
    left = [(h, e) for h, e in entries if e.get("state") == "gave_up"]
    faulted = [(h, e) for h, e in entries if e.get("state") == "down"]
    if left:
        host, entry = left[0]
        text = (
            f"was left down on {host} since {entry.get('since')}: it kept stopping ({entry.get('why')});"
            f" `guests.start {name}` to try again"
        )
    elif faulted:
        host, entry = max(faulted, key=lambda item: item[1].get("since") or "")
        text = f"is down since {entry.get('since')} on {host} ({entry.get('why')})"
    elif wanted:
        where = f" (no answer from {', '.join(down)})" if down else ""
        text = f"is down and has no save file{where}"
    else:
        return None
    doing = [f"keeper on {h}: {what}" for h, what in acting]
    return text + (f"; {'; '.join(doing)}" if doing else "")


def _guests(hosts, parts, guests_config, shared):
    saved = set()
    for part in parts.values():
        if isinstance(part, dict) and isinstance(part.get("saved"), list):
            saved.update(part["saved"])
    records, marks = _keeper(parts, shared)
    names = set(guests_config) | saved
    for host in hosts.values():
        names.update(host["guests_defined"])
    down = sorted(name for name, host in hosts.items() if not host["up"])
    view = {}
    for name in sorted(names):
        config = guests_config.get(name) or {}
        running_on = sorted(h for h, host in hosts.items() if name in host["guests_running"])
        mark = marks.get(name)
        wanted = config.get("running", True) and not mark if name in guests_config else None
        entries = [
            (h, r["guests"][name]) for h, r in sorted(records.items()) if name in (r.get("guests") or {})
        ]
        acting = [
            (h, r["acting"][name]) for h, r in sorted(records.items()) if name in (r.get("acting") or {})
        ]
        problem = None
        if len(running_on) > 1:
            problem = f"runs on {len(running_on)} hosts at once: {', '.join(running_on)}"
        elif running_on and name in saved:
            problem = f"runs on {running_on[0]} and has a save file too (a stale one: never restore it)"
        elif not running_on and name not in saved and name in guests_config and not mark:
            problem = _down_problem(name, wanted, entries, acting, down)
        view[name] = {
            "running_on": running_on,
            "saved": name in saved,
            "home": config.get("home"),
            "wanted_running": wanted,
            "kept_by": sorted(h for h, e in entries if e.get("state") != "gave_up") or None,
            "stopped_by_person": mark,
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
        if host["arbiter"]:
            continue
        sanlock = host["sanlock"]
        unready = _ok(sanlock) and not sanlock.get("can_take_guests")
        if unready:
            problems.append(f"host {name} cannot take guests: {sanlock.get('reason')}")
        quorum = host["quorum"]
        # Its lockspace not joined is its quorum lost too: said once, above.
        if _ok(quorum) and not quorum.get("quorum") and not (unready and quorum.get("lockspace") is False):
            problems.append(f"host {name} has no quorum: {quorum.get('reason')}")
        seen = host["sanlock_hosts"] if _ok(host["sanlock_hosts"]) else {}
        problems += [
            f"host {name} sees the sanlock host lease of {other} {LEASE_TROUBLE[row['state']]}"
            f" (no renewal for {_seconds(row.get('silent'))})"
            for other, row in seen.items()
            if row.get("state") in LEASE_TROUBLE
        ]
    for name, host in view["hosts"].items():
        failover = host["failover"]
        if not host["up"] and failover["api"]:
            problems.append(
                f"failover IPs routed to {name}, which does not answer: {', '.join(failover['api'])}"
            )
        elif host["arbiter"] and failover["api"]:
            problems.append(
                f"failover IPs routed to the arbiter {name}, which carries no guest:"
                f" {', '.join(failover['api'])}"
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
    incidents = view["incidents"] if _ok(view["incidents"]) else []
    for incident in incidents:
        if not incident["closed"]:
            problems += _incident_problems(incident)
    return problems


def _refused(incident):
    """Whether the host that found the death took nothing (it was drained); a
    later pass, once it was undrained, may have taken over all the same."""
    return bool(incident["refused"]) and not incident["guests"] and not incident["done"]


def _incident_problems(incident):
    """What an open incident asks of the operator."""
    host, by, when = incident["host"], incident["by"], incident["detected"]
    if _refused(incident):
        return [f"host {host} died at {when} and was not taken over: {incident['refused']}"]
    problems = [f"host {host} was taken over by {by} at {when}: undrain it when repaired"]
    problems += [
        f"guest {name} of {host} was not started on {by}: {guest['outcome']}"
        + (f" ({guest['why']})" if guest["why"] else "")
        for name, guest in incident["guests"].items()
        if guest["outcome"] != "started"
    ]
    problems += [
        f"guest {name} of {host} fits on no host that survived, so it was not started: {why}"
        for name, why in incident.get("unplaced", {}).items()
    ]
    failover, fence = incident["failover"], incident["fence"]
    if failover and failover["error"]:
        problems.append(f"the failover IPs of {host} were not moved to {by}: {failover['error']}")
    if fence and not fence["result"]:
        problems.append(f"fencing {host} failed: {fence['comment'] or 'no reason given'}")
    return problems


def assemble(parts, shared, hosts_config, guests_config=None, now=None, placement=None):
    """
    The cluster's view.

    ``parts``: ``{host: cluster.local()}`` of the hosts that answered (a part
    marked ``"source": "mine"`` came from the mine); ``shared``:
    ``cluster.shared()`` (or ``{"error": ...}``); ``hosts_config``: see
    ``hosts_config``; ``guests_config``: the pillar's ``hypervisor:guests``.
    Returns ``{"hosts", "peers", "volumes", "lockspace", "failover", "guests",
    "incidents", "problems"}``: a host has its ``quorum`` and its
    ``sanlock_hosts`` (how its sanlock sees the others' leases), ``incidents``
    the takeovers (see ``_incidents``); with ``placement`` (the settings' limits),
    ``placement``: each host's room and where a drain would send its guests
    (``cluster_placement.view``).
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
        "guests": _guests(hosts, parts, guests_config or {}, shared),
        "incidents": _incidents(shared.get("incidents")),
    }
    if placement is not None:
        records, _marks = _keeper(parts, shared)
        carriers = [h for h in names if not (hosts_config.get(h) or {}).get("arbiter")]
        view["placement"] = cluster_placement.view(records, carriers, guests_config or {}, placement)
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


def _quorum_cell(quorum):
    """``yes 3/3``, ``no 1/3``; ``-`` not reported (no takeover module there)."""
    if quorum is None:
        return "-"
    if not _ok(quorum):
        return "error"
    return f"{_yes(quorum.get('quorum'))} {quorum.get('connected', '?')}/{quorum.get('of', '?')}"


def _leases_cell(peers):
    """How a host's sanlock sees the others' leases: ``hyp2 live``, ``hyp1 dead 95 s``."""
    if peers is None:
        return "-"
    if not _ok(peers):
        return "error"
    return _names(
        f"{name} {row.get('state') or '?'}"
        + (f" {_seconds(row.get('silent'))}" if row.get("state") in LEASE_TROUBLE else "")
        for name, row in peers.items()
    )


def _host_row(name, host):
    if not host["up"]:
        return [name, "no", "?", "?", "?", "?", "-", "-", "-"]
    source = (
        "live"
        if host["source"] != "mine"
        else f"mine, {host['age'] if host['age'] is not None else '?'} s old"
    )
    if host["arbiter"]:
        return [name, "yes", "-", "arbiter", "-", "-", "-", "-", source]
    sanlock = host["sanlock"]
    if not _ok(sanlock):
        ready = "error"
    else:
        ready = "ok" if sanlock.get("can_take_guests") else "no: " + str(sanlock.get("reason"))
    drained = _yes(host["drained"])
    if host["drained"] and host.get("drain_reason"):
        drained += f" ({host['drain_reason']})"
    return [
        name,
        "yes",
        drained,
        ready,
        _quorum_cell(host.get("quorum")),
        _leases_cell(host.get("sanlock_hosts")),
        _names(host["guests_running"]),
        str(len(host["guests_defined"])),
        source,
    ]


def _kept_cell(guest):
    """Whether the cluster keeps the guest running: ``pillar`` (running: true), ``hyp2``
    (a keeper saw it run there), ``stopped by a person``, ``-`` (not kept)."""
    if guest.get("stopped_by_person"):
        mark = guest["stopped_by_person"]
        return f"no: guests.{mark.get('verb', 'stop')} at {mark.get('at', '?')}"
    if guest.get("wanted_running"):
        return "pillar"
    return _names(guest.get("kept_by") or [])


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
        if host["arbiter"] and not failover["api"]:
            continue  # it has no failover IP to show
        api = "?" if failover["api"] is None else _names(failover["api"])
        proxyarp = "?" if failover["proxyarp"] is None else _names(failover["proxyarp"])
        rows.append([name, api, proxyarp, _names(failover["mismatch"])])
    return rows


def _incident_rows(incidents):
    rows = []
    for incident in incidents:
        guests = _names(f"{name} {guest['outcome']}" for name, guest in incident["guests"].items())
        failover = incident["failover"]
        if failover is None:
            moved = "not yet"
        elif failover["error"]:
            moved = "failed"
        else:
            moved = _names(failover["moved"])
        fence = incident["fence"]
        fenced = "-" if fence is None else ("ok" if fence["result"] else "failed")
        if incident["closed"]:
            state = "closed"
        elif _refused(incident):
            state = "open, refused"
        else:
            state = "open, done" if incident["done"] else "open, in progress"
        rows.append([incident["host"], incident["detected"], incident["by"], guests, moved, fenced, state])
    return rows


def _incidents_lines(incidents):
    if incidents is None:
        return ["  (not read)"]
    if not _ok(incidents):
        return [f"  error: {_error(incidents)}"]
    if not incidents:
        return ["  (none)"]
    return _columns(
        ["HOST", "DETECTED", "BY", "GUESTS", "IPS MOVED", "FENCE", "STATE"], _incident_rows(incidents)
    )


def table(view):
    """The view as plain text: Hosts, Volumes, Guests, Failover IPs, Incidents, Problems."""
    lines = ["Hosts"]
    lines += _columns(
        ["HOST", "UP", "DRAINED", "SANLOCK", "QUORUM", "HOST LEASES", "RUNNING", "DEFINED", "SOURCE"],
        [_host_row(name, host) for name, host in view["hosts"].items()],
    )
    lines += ["", "Volumes"]
    lines += _columns(["VOLUME", "STATUS", "TO HEAL", "SPLIT-BRAIN"], _volume_rows(view["volumes"]))
    lines += ["", "Guests"]
    guests = [
        [
            name,
            g["home"] or "-",
            _names(g["running_on"]),
            _yes(g["saved"]),
            _kept_cell(g),
            g["problem"] or "-",
        ]
        for name, g in view["guests"].items()
    ]
    header = ["GUEST", "HOME", "RUNNING ON", "SAVED", "KEPT", "PROBLEM"]
    lines += _columns(header, guests) if guests else ["  (none)"]
    lines += ["", "Failover IPs"]
    if _ok(view.get("failover")):
        lines += _columns(["HOST", "API ROUTES HERE", "PROXY ARP", "MISMATCH"], _failover_rows(view))
    else:
        lines.append(f"  error: {_error(view.get('failover')) or 'not read'}")
    if view.get("placement"):
        lines += ["", "Placement"]
        header = ["HOST", "MEMORY FREE", "VCPUS FREE", "ON A DRAIN"]
        lines += _columns(header, cluster_placement.rows(view["placement"]))
    lines += ["", "Incidents"]
    lines += _incidents_lines(view.get("incidents"))
    lines += ["", "Problems"]
    lines += [f"  - {problem}" for problem in view["problems"]] or ["  (none)"]
    return "\n".join(lines)
