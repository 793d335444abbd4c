"""
hv_upgrade: the rolling upgrade's plan and what the hosts' answers mean (B9, issue 25).

Plain Python: the runner ``_runners/upgrade.py`` asks the hosts through the master;
everything it decides from their answers is here, and the unit tests drive it directly.

- **The order.** The hosts that carry guests, fewest running guests first (name order
  among equals), then the arbiter. The first host is where the new packages first meet
  this cluster's hardware: if it does not come back, the fewest guests were moved for
  it, and the other hosts carry the least extra load while it stays drained. The order
  is taken once, when the run starts, and shown (a dry run's may differ from a later
  run's when guests moved in between).
- **The arbiter last**, and only once every volume is healed: the cluster's health,
  heal 0 on every volume included, is checked again before each host after the first.
- **A host with nothing to upgrade** is skipped (nothing drained, no reboot), unless
  ``reboot=always``: a run started again after a stop passes over the hosts it already
  upgraded.
- **The reboot**: ``auto`` when a package that changed matches
  ``upgrade:reboot_packages`` (globs, each OS family's list by default); ``always``;
  ``never``.
- **Healthy** (before the run, and before each host): every host answers, none is
  drained; each host that carries guests has its sanlock lockspace joined and quorum,
  and sees no other host's lease failing or dead; every gluster peer is connected,
  every volume started, its bricks connected, nothing to heal and nothing in
  split-brain; no takeover incident is open.
"""

import fnmatch

import hv_layout
import hv_schema

REBOOT_MODES = ("auto", "always", "never")
# The waits that have a deadline (upgrade:timeouts:<wait>), in the order a host meets them.
WAITS = ("drain", "upgrade", "back", "lockspace", "quorum", "heal", "undrain")
# What pkg.upgrade is asked per OS family. On Debian, dist-upgrade: a new kernel ABI is a
# new package (linux-image-<abi>-amd64), which apt-get upgrade holds back; pkg.list_upgrades
# lists what dist-upgrade would do by default.
UPGRADE_KWARGS = {"Debian": {"dist_upgrade": True}, "RedHat": {}}
ORDER_RULE = (
    "the hosts that carry guests, fewest running guests first (name order among equals), then the arbiter"
)
MOVED = ("migrated", "saved")  # a drain's outcomes that leave the host without the guest
NOT_BACK = ("failed", "unknown")  # an undrain's outcomes that guests.undrain counts as failures
# What a host's part of the status view holds that the health needs (cluster.local).
NEEDED_PARTS = ("drained", "guests", "sanlock", "quorum", "sanlock_hosts")
SHORT = 300  # characters of an answer a message quotes, at most


def short(value):
    """``value`` as one line of at most SHORT characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def answer(reply, host):
    """What ``host`` answered in the reply of LocalClient's ``cmd(..., full_return=True)``:
    ``(value, None)``, or ``(None, why)`` when it did not answer, or answered with an error
    (a non-zero retcode and a message instead of a return of its own: a module that raised,
    a function the minion does not have). A return of its own with a non-zero retcode
    (``guests.drain`` that left a guest behind) is a value: its reader says what failed."""
    entry = reply.get(host) if isinstance(reply, dict) else None
    if entry is None or entry is False:
        return None, "no answer"
    if not isinstance(entry, dict) or "ret" not in entry:
        return None, f"an unexpected answer: {short(entry)}"
    value, code = entry["ret"], entry.get("retcode") or 0
    if code and not isinstance(value, dict):
        return None, short(value) or f"exit code {code}"
    return value, None


def host_names(hosts):
    """The runner's ``hosts`` argument (a comma-separated string or a list) as a list, or None."""
    if hosts is None or hosts == "":
        return None
    items = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    return [str(item).strip() for item in items if str(item).strip()]


def order(hosts, running, only=None):
    """The hosts in the order they are upgraded (see the module's doc). ``hosts``: the
    settings' ``{name: {"role", ...}}``; ``running``: ``{name: number of running guests}``
    (a host missing: 0); ``only``: those named alone (``host_names``), in the same order.
    A name the cluster does not have raises ValueError."""
    names = host_names(only)
    unknown = sorted(set(names or ()) - set(hosts))
    if unknown:
        raise ValueError(
            f"not hosts of the cluster: {', '.join(unknown)} (its hosts: {', '.join(sorted(hosts))})"
        )
    chosen = [name for name in sorted(hosts) if names is None or name in names]
    arbiters = hv_layout.arbiters(hosts)
    guests = sorted((h for h in chosen if h not in arbiters), key=lambda h: (running.get(h, 0), h))
    return guests + [h for h in chosen if h in arbiters]


def reboot_patterns(cluster, family):
    """The globs of the packages whose change reboots a host of OS family ``family``: the
    pillar's ``upgrade:reboot_packages`` (``cluster``: its ``hypervisor`` mapping), else
    that family's default list."""
    upgrade = (cluster or {}).get("upgrade") or {}
    if "reboot_packages" in upgrade:
        return list(upgrade["reboot_packages"])
    return list(hv_schema.defaults(family)["upgrade"]["reboot_packages"])


def changed(changes):
    """The names of the packages in ``pkg.upgrade``'s changes (``{name: {"old", "new"}}``:
    upgraded, installed, removed), sorted."""
    return sorted(changes) if isinstance(changes, dict) else []


def matching(packages, patterns):
    """The packages (names, an architecture suffix ``:amd64`` ignored) that match a glob."""
    return [
        name
        for name in sorted(packages)
        if any(fnmatch.fnmatchcase(str(name).split(":")[0], pattern) for pattern in patterns)
    ]


def reboot(mode, packages, patterns):
    """Whether a host reboots after its upgrade: ``{"reboot", "why", "packages"}``
    (``packages``: those of ``packages`` that match ``patterns``)."""
    matched = matching(packages, patterns)
    if mode == "always":
        return {"reboot": True, "why": "reboot=always", "packages": matched}
    if mode == "never":
        return {"reboot": False, "why": "reboot=never", "packages": matched}
    if matched:
        return {"reboot": True, "why": f"changed: {', '.join(matched)}", "packages": matched}
    return {"reboot": False, "why": "no package of upgrade:reboot_packages changed", "packages": []}


def steps(arbiter, reboots):
    """The steps a host goes through (the arbiter carries no guest: no drain, no lockspace)."""
    out = ["upgrade", *(["reboot", "back"] if reboots else []), "lockspace", "quorum", "heal"]
    if arbiter:
        return [s for s in out if s != "lockspace"]
    return ["drain", *out, "undrain"]


def plan_entry(host, arbiter, running, upgrades, mode, patterns):
    """One host's line of the plan, from ``pkg.list_upgrades`` (``upgrades``: ``{name:
    version}``): what would be upgraded, whether a reboot would follow (the run decides
    from what ``pkg.upgrade`` changes), or why the host is skipped."""
    names = sorted(upgrades)
    decision = reboot(mode, names, patterns)
    skip = not names and mode != "always"
    return {
        "host": host,
        "role": "arbiter" if arbiter else "guests",
        "running_guests": running,
        "upgrades": dict(sorted(upgrades.items())),
        "action": "skip" if skip else "upgrade",
        "reboot": decision["reboot"] and not skip,
        "reboot_why": "nothing to upgrade" if skip else decision["why"],
        "steps": [] if skip else steps(arbiter, decision["reboot"]),
    }


def _count(number, thing):
    return f"{number} {thing}{'' if number == 1 else 's'}"


def plan_line(entry):
    """A plan entry as one line."""
    host, count = entry["host"], _count(len(entry["upgrades"]), "package")
    role = (
        "the arbiter" if entry["role"] == "arbiter" else f"{_count(entry['running_guests'], 'guest')} running"
    )
    if entry.get("error"):
        return f"{host} ({role}): {entry['error']}"
    if entry["action"] == "skip":
        return f"{host} ({role}): skipped, nothing to upgrade"
    then = (
        f"then a reboot ({entry['reboot_why']})" if entry["reboot"] else f"no reboot ({entry['reboot_why']})"
    )
    return f"{host} ({role}): {count} to upgrade, {then}"


def timeouts(configured, given=None):
    """Each wait's deadline in seconds: the settings' ``upgrade:timeouts``, then ``given``
    (the runner's argument, ``{wait: seconds}``). ``(timeouts, errors)``: a wait or a value
    the schema does not allow is an error, never used."""
    out, errors = dict(configured), []
    if given is None:
        return out, errors
    if not isinstance(given, dict):
        return out, [f"timeouts must be a mapping of {', '.join(WAITS)} to seconds, not {short(given)}"]
    for key, value in given.items():
        row = hv_schema.row_at(("upgrade", "timeouts", key))
        low, high = row.bounds if row else (None, None)
        if row is None:
            errors.append(f"timeouts:{key} is not a wait (one of {', '.join(WAITS)})")
        elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(f"timeouts:{key}: {short(value)} is not a number of seconds in {low}..{high}")
        else:
            out[key] = value
    return out, errors


# ------------------------------------------------------------------ health


def problem(check, saw, host=None):
    """One reason the cluster is not healthy: which check, on which host, what it saw."""
    return {"check": check, "host": host, "saw": saw}


def describe(item):
    """A problem as one line."""
    return (
        f"{item['host']}: {item['check']}: {item['saw']}"
        if item.get("host")
        else f"{item['check']}: {item['saw']}"
    )


def _error(value):
    return value.get("error") if isinstance(value, dict) else None


def _host_health(name, host):
    """The problems of one host's row of the status view (``cluster_view``)."""
    if not host["up"]:
        return [problem("answers", "no answer", name)]
    out = [
        problem(part, f"could not be read: {error}", name)
        for part, error in sorted(host["errors"].items())
        if part in (*NEEDED_PARTS, "cluster.local")
    ]
    if host["drained"]:
        out.append(
            problem("drained", f"drained since {host['drained_since']} ({host['drain_reason']})", name)
        )
    if host["arbiter"] or "cluster.local" in host["errors"]:
        return out
    sanlock, quorum = host["sanlock"], host["quorum"]
    if isinstance(sanlock, dict) and _error(sanlock) is None and not sanlock.get("can_take_guests"):
        out.append(problem("lockspace", sanlock.get("reason") or "cannot take guests", name))
    if quorum is None:
        out.append(problem("quorum", "not reported (the takeover module is not loaded there)", name))
    elif _error(quorum) is None and not quorum.get("quorum"):
        out.append(problem("quorum", quorum.get("reason") or "no quorum", name))
    seen = host["sanlock_hosts"] if isinstance(host["sanlock_hosts"], dict) else {}
    out += [
        problem("leases", f"sees the sanlock host lease of {other} {row.get('state')}", name)
        for other, row in sorted(seen.items())
        if _error(row) is None and row.get("state") in ("fail", "dead")
    ]
    return out


def _shared_health(view):
    """The problems of what one host read for all: gluster peers, volumes, incidents."""
    out = []
    peers = view["peers"]
    if _error(peers) is not None or not isinstance(peers, list):
        out.append(problem("gluster peers", f"could not be read: {_error(peers) or 'no answer'}"))
    else:
        out += [
            problem("gluster peers", f"{p.get('hostname')} is not connected ({p.get('state')})")
            for p in peers
            if not p.get("connected")
        ]
    volumes = view["volumes"]
    if _error(volumes) is not None:
        out.append(problem("volumes", f"could not be read: {_error(volumes)}"))
    else:
        for name, vol in sorted(volumes.items()):
            if vol.get("status") != "Started":
                out.append(problem("volumes", f"{name} is {vol.get('status') or 'in an unknown state'}"))
            if vol.get("split_brain"):
                out.append(problem("split-brain", f"{name}: {vol['split_brain']} entries in split-brain"))
    incidents = view["incidents"]
    if _error(incidents) is not None or not isinstance(incidents, list):
        out.append(problem("incidents", f"could not be read: {_error(incidents) or 'not reported'}"))
    else:
        out += [
            problem(
                "incidents",
                f"{i['host']} was taken over by {i['by']} at {i['detected']}, the incident is open"
                f" (undrain {i['host']} when repaired)",
            )
            for i in incidents
            if not i.get("closed")
        ]
    return out


def health(view, heal):
    """Why the cluster is not healthy enough to upgrade a host (an empty list: it is).
    ``view``: the status view (``cluster_view.assemble``); ``heal``: ``heal_problems``'s
    lines."""
    out = []
    for name, host in sorted(view["hosts"].items()):
        out += _host_health(name, host)
    out += _shared_health(view)
    out += [problem("heal", saw) for saw in heal]
    return out


def running(view):
    """``{host: number of running guests}`` from the status view."""
    return {name: len(host["guests_running"]) for name, host in view["hosts"].items()}


# ------------------------------------------------------------------ a host's checks


def heal_problems(answers):
    """What ``gluster.heal_info`` of each volume (``answers``: ``{volume: (bricks, error)}``)
    says is not healed: a brick not connected (its count would read 0), entries to heal.
    An empty list: every volume healed."""
    out = []
    for volume, (bricks, error) in sorted(answers.items()):
        if error is not None:
            out.append(f"{volume}: heal info: {error}")
        elif not isinstance(bricks, list) or not bricks:
            out.append(f"{volume}: heal info lists no brick ({short(bricks)})")
        else:
            for brick in bricks:
                if brick.get("status") != "Connected":
                    out.append(
                        f"{volume}: brick {brick.get('name')} is {brick.get('status') or 'not connected'}"
                    )
                elif brick.get("entries"):
                    out.append(f"{volume}: {brick['entries']} entries to heal on {brick.get('name')}")
    return out


def lockspace_problem(status):
    """What ``sanlock.status`` says when the host cannot take guests; None when it can."""
    if isinstance(status, dict) and status.get("can_take_guests"):
        return None
    return (
        (status or {}).get("reason") if isinstance(status, dict) else f"an unexpected answer: {short(status)}"
    )


def quorum_problem(quorum):
    """What ``takeover.quorum`` says when the host has no quorum; None when it has."""
    if isinstance(quorum, dict) and quorum.get("quorum"):
        return None
    return (
        (quorum or {}).get("reason") if isinstance(quorum, dict) else f"an unexpected answer: {short(quorum)}"
    )


def _outcomes(ret, bad):
    return [
        f"{name} {r.get('outcome')}" + (f" ({r['why']})" if r.get("why") else "")
        for name, r in sorted(ret["guests"].items())
        if bad(r.get("outcome"))
    ]


def _failover_failed(ret):
    failed = (ret.get("failover") or {}).get("failed") or {}
    return (
        [f"{ip}: {why}" for ip, why in sorted(failed.items())]
        if isinstance(failed, dict)
        else [short(failed)]
    )


def drain_problem(ret):
    """What ``guests.drain``'s return leaves wrong: a guest still here (neither migrated
    nor saved), failover IPs that did not follow; None when the host is empty."""
    if not isinstance(ret, dict) or not isinstance(ret.get("guests"), dict):
        return f"an unexpected answer: {short(ret)}"
    saw = []
    left = _outcomes(ret, lambda outcome: outcome not in MOVED)
    if left:
        saw.append(f"still here: {'; '.join(left)}")
    failed = _failover_failed(ret)
    if failed:
        saw.append(f"failover IPs not moved: {'; '.join(failed)}")
    return "; ".join(saw) or None


def saved(ret):
    """The guests a drain saved onto the save volume (no host had room for them, or their
    migration failed), with why: ``{name: why}``. The undrain restores them here."""
    guests = ret.get("guests") if isinstance(ret, dict) else None
    return {n: r.get("why") for n, r in sorted((guests or {}).items()) if r.get("outcome") == "saved"}


def undrain_problem(ret):
    """What ``guests.undrain``'s return says did not come back (a guest it could not bring
    back, failover IPs that did not follow); None when all did."""
    if not isinstance(ret, dict) or not isinstance(ret.get("guests"), dict):
        return f"an unexpected answer: {short(ret)}"
    saw = []
    left = _outcomes(ret, lambda outcome: outcome in NOT_BACK)
    if left:
        saw.append(f"not back: {'; '.join(left)}")
    failed = _failover_failed(ret)
    if failed:
        saw.append(f"failover IPs not moved: {'; '.join(failed)}")
    return "; ".join(saw) or None


def outcomes(ret):
    """``{guest: outcome}`` of a drain's or an undrain's return."""
    guests = ret.get("guests") if isinstance(ret, dict) else None
    return {name: r.get("outcome") for name, r in sorted((guests or {}).items())}
