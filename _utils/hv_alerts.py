"""
hv_alerts: the rules of the alerts that reach a person (issue 25). Plain Python:
the alerts engine (``_engines/hv_alerts.py``, on the master) reads the record of
events (``hv_events``), asks the cluster's status, and sends what these rules
make of them; the unit tests drive them directly.

- :func:`from_entry`: a recorded event (``tag``, the ``minion`` the master
  verified, ``recorded``, the payload's keys) to an alert or None. The host an
  alert names is the sender the master verified wherever the sender is the
  subject (the host evacuated, the one that took over, the one whose provider
  failed); a payload names it only where it is another (the dead host, the
  fenced one). An alert is
  ``{"kind", "severity", "host", "guest", "volume", "summary", "at", "event"}``
  (None values left out), built from a whitelist of payload fields only: a
  payload is the host's words and could carry anything, so none is copied
  whole. Names must look like names; texts are stripped of control and format
  characters, cut, and withheld when they hold a private key or one of the
  engine's own secrets.
- :func:`conditions`: the state checks on the status view (a volume's
  split-brain, a host drained too long): one alert when a condition starts,
  one when it clears. :func:`open_incidents`: a takeover incident still open
  that no alert named (the master was down when it happened).
- :func:`admit` and :func:`flush`: the rate limit, a token bucket of
  ``rate:burst`` refilled one per ``rate:per_seconds``; what it holds back is
  counted, and one alert says so once sending resumes. :func:`duplicate`: the
  same kind for the same host and guest (or volume) within ``dedup_seconds``.
  Their state is a plain dict the engine persists.
- :func:`after_cursor`: the record's lines past the engine's cursor, ``(recorded
  time, how many lines at that time were handled)``: the record is trimmed by
  rewriting it, so no byte offset would survive.
- :func:`webhook_body` and :func:`mail_message`: what is sent.
- :func:`settings`: the ``alerts:`` pillar part checked against
  ``hv_schema_alerts.ALERT_ROWS`` and its rules; no problem line shows a secret.
"""

import datetime
import email.message
import email.utils
import json
import re
import unicodedata

import hv_check
import hv_schema_alerts

KINDS = tuple(hv_schema_alerts.ALERT_KINDS)
SUPPRESSED = "suppressed"  # the rate limit's own alert: always sent
CLEARED = "_cleared"  # a condition's end: <kind>_cleared, alerted with its kind
SEVERITIES = ("critical", "warning", "info")
RANK = {name: index for index, name in enumerate(SEVERITIES)}
TEXT_MAX = 200  # characters of a host's text (a why, a comment, an error) in an alert
SUMMARY_MAX = 400
LISTED = 8  # names a summary lists before "and N more"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
WITHHELD = "<withheld>"
INCIDENTS_KEPT = 200  # incidents remembered as alerted
HELD_HOSTS = 10  # hosts a held-back summary names
FIELDS = ("kind", "severity", "host", "guest", "volume", "summary", "at", "event")


# ----------------------------------------------------------------------- texts


def text(value, limit=TEXT_MAX, secrets=()):
    """``value`` as one line of at most ``limit`` characters: a string, a number or a
    boolean (a structure is never shown: None); control and format characters (newlines,
    escapes, bidi overrides) become spaces; withheld when it holds a private key or one of
    ``secrets``."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    if hv_check.PRIVATE_KEY.search(value) or any(
        len(s) >= hv_check.SECRET_MIN and s in value for s in secrets
    ):
        return WITHHELD
    line = " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in value).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def name(value):
    """``value`` when it looks like a name (a host, a guest, a volume), else None."""
    return value if isinstance(value, str) and NAME.fullmatch(value) else None


def _listed(names):
    names = list(names)
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


def iso(seconds):
    """Epoch seconds as the records write time (UTC, to the second)."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")


def epoch(stamp):
    """An ISO 8601 time (UTC when it names no zone) as epoch seconds, or None."""
    try:
        then = datetime.datetime.fromisoformat(str(stamp))
    except (TypeError, ValueError):
        return None
    return (then if then.tzinfo else then.replace(tzinfo=datetime.UTC)).timestamp()


def alert(kind, severity, summary, at, host=None, guest=None, volume=None, event=None, **extra):
    """An alert: only its set fields (``extra``: what the engine keeps for itself, such as
    the incident a takeover names; never sent)."""
    out = {
        "kind": kind,
        "severity": severity,
        "host": host,
        "guest": guest,
        "volume": volume,
        "summary": text(summary, SUMMARY_MAX),
        "at": at,
        "event": event,
        **extra,
    }
    return {k: v for k, v in out.items() if v is not None}


# ------------------------------------------------------------- recorded events


def _takeover(entry, by, say):
    host = name(entry.get("host")) or "?"
    generation = say(entry.get("generation"), 20) or "?"
    return {
        "kind": "takeover",
        "severity": "critical",
        "host": host,
        "summary": f"{host} was taken for dead (sanlock generation {generation}) and taken over by"
        f" {by}: its guests start on the survivors, it is fenced and held until undrained",
        "incident": f"{host}-g{generation}",
    }


def _fence_done(entry, by, say):
    host = name(entry.get("host")) or "?"
    image = say(entry.get("image"), 64)
    rescue = f" (rescue image {image})" if image else ""
    return {
        "kind": "fence_done",
        "severity": "warning",
        "host": host,
        "summary": f"{host} was fenced by {by} through the provider's API{rescue}: it stays out until"
        f" `online.unfence {host}` and a reboot",
    }


def _fence_failed(entry, by, say):
    host = name(entry.get("host")) or "?"
    why = say(entry.get("comment")) or "no reason given"
    maybe = " (the reboot may have been taken)" if entry.get("may_have_rebooted") is True else ""
    return {
        "kind": "fence_failed",
        "severity": "critical",
        "host": host,
        "summary": f"fencing {host} from {by} failed{maybe}: {why}",
    }


def _evacuation_done(entry, by, say):
    if entry.get("result") is not False:
        return None  # done, or a result unknown (a record cut without it): not a failure seen
    host = by  # the host evacuated fires it
    reason = say(entry.get("reason"), 40)
    guests = entry.get("guests") if isinstance(entry.get("guests"), dict) else {}
    left = [
        f"{n} {say((g or {}).get('outcome'), 20) or '?'}"
        for n, g in sorted(guests.items())
        if name(n) and (not isinstance(g, dict) or g.get("outcome") not in ("migrated", "saved"))
    ]
    if left:
        what = f"left {_listed(left)}"
    elif entry.get("truncated"):
        what = "its record was too long to keep: salt-run hv_events.recent says which guests"
    else:
        what = "every guest moved, but its failover IPs did not follow (guests.follow_failover)"
    because = f" ({reason})" if reason else ""
    return {
        "kind": "evacuation_failed",
        "severity": "critical",
        "host": host,
        "summary": f"the evacuation of {host}{because} failed: {what}",
    }


def _unplaced(entry, by, say):
    guest = name(entry.get("guest")) or "?"
    why = say(entry.get("why")) or "no room"
    if entry["tag"].startswith("hv/takeover/"):
        dead = name(entry.get("from")) or "?"
        return {
            "kind": "guest_unplaced",
            "severity": "critical",
            "host": dead,
            "guest": guest,
            "summary": f"{guest} of the dead host {dead} fits on no survivor: not started ({why})",
        }
    host = by  # the host evacuated fires it
    return {
        "kind": "guest_unplaced",
        "severity": "warning",
        "host": host,
        "guest": guest,
        "summary": f"{guest} fits on no other host while {host} is evacuated: it goes to the save"
        f" volume instead ({why})",
    }


def _failover_error(entry, by, say):
    op = say(entry.get("op"), 20) or "?"
    error = say(entry.get("error")) or "no error given"
    return {
        "kind": "failover_error",
        "severity": "warning",
        "host": by,
        "summary": f"the failover provider failed for {by} ({op}): {error}",
    }


def _backup(entry, by, say):
    guest = name(entry.get("guest")) or "?"
    host = by  # the host that ran the backup fires it
    why = say(entry.get("why")) or "no reason given"
    if entry["tag"].endswith("/thaw_failed"):
        severity = "critical"
        summary = (
            f"{guest}'s file systems on {host} may still be frozen after its backup:"
            f" `virsh domfsthaw {guest}` there"
        )
    elif entry["tag"].startswith("hv/backup/restore/"):
        severity, summary = "warning", f"the restore of {guest} on {host} failed: {why}"
    else:
        severity, summary = "warning", f"the backup of {guest} on {host} failed: {why}"
    return {"kind": "backup_failed", "severity": severity, "host": host, "guest": guest, "summary": summary}


RULES = {
    "hv/takeover/dead": _takeover,
    "hv/fence/done": _fence_done,
    "hv/fence/failed": _fence_failed,
    # The takeover's own word on its fence: a fence that failed before online.fence could
    # say so; the same alert as hv/fence/failed's (one, by dedup_seconds). Its "fenced"
    # follows hv/fence/done, which says it already.
    "hv/takeover/fence/failed": _fence_failed,
    "hv/evacuation/done": _evacuation_done,
    "hv/evacuation/guest/unplaced": _unplaced,
    "hv/takeover/guest/unplaced": _unplaced,
    "hv/failover/error": _failover_error,
    "hv/backup/failed": _backup,
    "hv/backup/restore/failed": _backup,
    "hv/backup/thaw_failed": _backup,
}


def from_entry(entry, secrets=()):
    """The alert a recorded event makes (see the module's doc), or None. ``secrets``: the
    engine's own (no text holding one is shown)."""
    if not isinstance(entry, dict) or entry.get("tag") not in RULES:
        return None
    by = name(entry.get("minion")) or "?"

    def say(value, limit=TEXT_MAX):
        return text(value, limit, secrets)

    made = RULES[entry["tag"]](entry, by, say)
    if made is None:
        return None
    recorded = entry.get("recorded")
    at = iso(recorded) if isinstance(recorded, int | float) else None
    return alert(at=at, event=entry["tag"], **made)


def tags():
    """The tags an alert is made from: the reactor must record each (master.d/reactor.conf)."""
    return sorted(RULES)


# ------------------------------------------------------------ the status checks


def _cleared(kind, summary, now, **where):
    return alert(kind + CLEARED, "info", summary, iso(now), **where)


def conditions(view, state, drained_after, now):
    """The alerts of the conditions the status ``view`` shows start or end: a volume in
    split-brain, a host drained for longer than ``drained_after`` seconds. ``state``
    (``{"conditions": {...}}``) remembers those alerted; a part the view could not read
    changes nothing."""
    known = state.setdefault("conditions", {})
    out = []
    volumes = view.get("volumes") if isinstance(view, dict) else None
    if isinstance(volumes, dict) and "error" not in volumes:
        for volume, row in sorted(volumes.items()):
            count = row.get("split_brain") if isinstance(row, dict) else None
            if not name(volume) or isinstance(count, bool) or not isinstance(count, int):
                continue
            key = f"split_brain:{volume}"
            if count > 0 and key not in known:
                known[key] = {"since": iso(now)}
                out.append(
                    alert(
                        "split_brain",
                        "critical",
                        f"volume {volume} has {count} entries in split-brain: gluster will not heal them"
                        f" by itself (docs/storage.md)",
                        iso(now),
                        volume=volume,
                    )
                )
            elif count == 0 and key in known:
                del known[key]
                out.append(
                    _cleared("split_brain", f"volume {volume} is out of split-brain", now, volume=volume)
                )
    hosts = view.get("hosts") if isinstance(view, dict) else None
    for host, row in sorted((hosts or {}).items()):
        if not name(host) or not isinstance(row, dict):
            continue
        out += _drained(known, host, row, drained_after, now)
    return out


def _drained(known, host, row, drained_after, now):
    key = f"drained:{host}"
    drained, since = row.get("drained"), row.get("drained_since")
    if drained is False and key in known:
        del known[key]
        return [_cleared("drained_too_long", f"{host} is undrained", now, host=host)]
    if drained is not True:
        return []  # not drained, or not known (the host did not answer)
    if key in known and known[key].get("since") != since:
        del known[key]  # drained again since: a new condition
    started = epoch(since)
    if key in known or started is None or now - started < drained_after:
        return []
    known[key] = {"since": since}
    reason = text(row.get("drain_reason"), 40)
    because = f", {reason}" if reason else ""
    hours = (now - started) / 3600
    return [
        alert(
            "drained_too_long",
            "warning",
            f"{host} has been drained for {hours:.1f} h (since {text(since, 40)}{because}): it takes no"
            f" guests until `salt {host} guests.undrain`",
            iso(now),
            host=host,
        )
    ]


def open_incidents(view, state):
    """A takeover alert for each open incident of the status ``view`` that no alert named
    yet (``state["incidents"]``: those named, by a recorded event or an earlier check)."""
    incidents = view.get("incidents") if isinstance(view, dict) else None
    if not isinstance(incidents, list):
        return []
    out = []
    for record in incidents:
        if not isinstance(record, dict) or record.get("closed"):
            continue
        host = name(record.get("host")) or "?"
        generation = text(record.get("generation"), 20) or "?"
        key = f"{host}-g{generation}"
        if not note_incident(state, key):
            continue
        by = name(record.get("by")) or "?"
        when = text(record.get("detected"), 40) or "?"
        out.append(
            alert(
                "takeover",
                "critical",
                f"{host} was taken over by {by} at {when} (sanlock generation {generation}), and"
                " the incident is still open; the master saw no event of it (it was down):"
                " salt-run cluster.status",
                iso(epoch(when)) if epoch(when) is not None else None,
                host=host,
                event="status",
            )
        )
    return out


def note_incident(state, key):
    """Remember incident ``key`` as alerted; False when it was already."""
    seen = state.setdefault("incidents", [])
    if key in seen:
        return False
    seen.append(key)
    del seen[:-INCIDENTS_KEPT]
    return True


# -------------------------------------------------------- rate limit and dedup


def _take(limiter, now, burst, per):
    """One token from the bucket (``burst`` at most, one back per ``per`` seconds)."""
    tokens = limiter.get("tokens")
    tokens = float(burst) if tokens is None else float(tokens)
    last = limiter.get("at")
    if isinstance(last, int | float):
        tokens = min(float(burst), tokens + max(0.0, now - last) / per)
    limiter["at"] = now
    if tokens >= 1:
        limiter["tokens"] = tokens - 1
        return True
    limiter["tokens"] = tokens
    return False


def _hold(limiter, alert_):
    held = limiter.setdefault("held", {})
    row = held.setdefault(alert_["kind"], {"count": 0, "severity": alert_["severity"]})
    row["count"] += 1
    if RANK.get(alert_["severity"], 9) < RANK.get(row["severity"], 9):
        row["severity"] = alert_["severity"]
    hosts = limiter.setdefault("held_hosts", [])
    if alert_.get("host") and alert_["host"] not in hosts and len(hosts) < HELD_HOSTS:
        hosts.append(alert_["host"])


def _summary(limiter, now):
    held = limiter.pop("held", {})
    hosts = limiter.pop("held_hosts", [])
    count = sum(row["count"] for row in held.values())
    kinds = ", ".join(
        f"{row['count']} {kind}" for kind, row in sorted(held.items(), key=lambda i: -i[1]["count"])
    )
    severity = min((row["severity"] for row in held.values()), key=lambda s: RANK.get(s, 9))
    where = f"; hosts {', '.join(hosts)}" if hosts else ""
    return alert(
        SUPPRESSED,
        severity,
        f"{count} alert{'' if count == 1 else 's'} suppressed by the rate limit (alerts:rate):"
        f" {kinds}{where}; salt-run hv_events.recent 50 on the master lists the events",
        iso(now),
    )


def admit(limiter, alert_, now, burst, per):
    """What to send now for ``alert_``: ``[]`` (held back, counted), ``[alert_]``, or
    ``[the summary of those held back, alert_]`` once sending resumes (each takes a token:
    never more than ``burst`` at once, then one per ``per`` seconds)."""
    out = []
    if limiter.get("held"):
        if not _take(limiter, now, burst, per):
            _hold(limiter, alert_)
            return out
        out.append(_summary(limiter, now))
    if _take(limiter, now, burst, per):
        out.append(alert_)
    else:
        _hold(limiter, alert_)
    return out


def flush(limiter, now, burst, per):
    """The summary of what was held back, once a token is there (else ``[]``)."""
    if limiter.get("held") and _take(limiter, now, burst, per):
        return [_summary(limiter, now)]
    return []


def duplicate(seen, alert_, when, window):
    """Whether the same kind for the same host and guest (or volume) was alerted within
    ``window`` seconds of ``when`` (its event's time); else it is noted. ``seen``: the
    dedup state (``{key: when}``), pruned here."""
    for key, last in list(seen.items()):
        if not isinstance(last, int | float) or when - last >= window:
            del seen[key]
    key = "|".join(str(alert_.get(k) or "") for k in ("kind", "host", "guest", "volume"))
    last = seen.get(key)
    if window and last is not None and abs(when - last) < window:
        return True
    seen[key] = when
    return False


# ----------------------------------------------------------------- the record


def after_cursor(lines, cursor):
    """``[((recorded, n), entry)]``: the record's entries past ``cursor`` (``{"recorded",
    "count"}``), in order. An entry's position is its time and its rank among the lines of
    that same time (the recorder never writes a time before the last line's); an
    unreadable line is skipped."""
    mark = (float(cursor.get("recorded") or 0.0), int(cursor.get("count") or 0))
    out, previous, rank = [], None, 0
    for line in lines:
        try:
            entry = json.loads(line)
            recorded = float(entry["recorded"])
        except (ValueError, TypeError, KeyError):
            continue
        if not isinstance(entry, dict):
            continue
        rank = rank + 1 if recorded == previous else 1
        previous = recorded
        if (recorded, rank) > mark:
            out.append(((recorded, rank), entry))
    return out


# -------------------------------------------------------------- what is sent


def line(alert_, label):
    """The alert as one line: ``[label] SEVERITY kind: summary``."""
    return f"[{label}] {alert_['severity'].upper()} {alert_['kind']}: {alert_['summary']}"


def webhook_body(alert_, label):
    """The webhook's JSON document: ``text`` (what Slack-like hooks show) and the alert's
    fields, nothing else."""
    return {"text": line(alert_, label), "label": label, **{k: alert_[k] for k in FIELDS if k in alert_}}


def mail_message(alert_, label, sender, to):
    """The mail: the one line as its subject (cut), the fields below the summary."""
    msg = email.message.EmailMessage()
    subject = f"[{label}] {alert_['severity'].upper()} {alert_['kind']}"
    where = alert_.get("host") or alert_.get("volume")
    msg["Subject"] = f"{subject}: {where}" if where else subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    body = [alert_["summary"], ""]
    body += [f"{k}: {alert_[k]}" for k in FIELDS if k in alert_ and k != "summary"]
    body += ["", "On the master: salt-run cluster.status; salt-run hv_events.recent 50.", ""]
    msg.set_content("\n".join(body))
    return msg


# ----------------------------------------------------------------- settings


def _walk_rows(errors, part, prefix=()):
    """Check ``part`` (a mapping at ``prefix`` under ``alerts:``) against the rows."""
    rows = hv_schema_alerts.ALERTS_BY_KEY
    depth = len(prefix)
    allowed = list(dict.fromkeys(k.split(":")[depth] for k in rows if tuple(k.split(":")[:depth]) == prefix))
    path = (hv_schema_alerts.ALERTS_PART, *prefix)
    hv_check.unknown_keys(errors, path, part, allowed)
    for key, value in part.items():
        if key not in allowed:
            continue
        row = rows.get(":".join((*prefix, key)))
        if row is None:
            if hv_check.require_mapping(errors, (*path, key), value):
                _walk_rows(errors, value, (*prefix, key))
        elif row.kind == "secret":
            if not isinstance(value, str) or not value.strip():
                errors.hide((*path, key), "must be a non-empty string (a secret: its value is never shown)")
        else:
            hv_check.check_row(errors, (*path, key), value, row)


def _defaults():
    tree = {}
    for row in hv_schema_alerts.ALERT_ROWS:
        node = tree
        *parents, last = row.key.split(":")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = list(row.default) if isinstance(row.default, list) else row.default
    return tree


def secret_values(part):
    """The values of the part's secrets that are searched for and replaced in any other text
    (``hv_schema_alerts.ALERT_REDACTED``)."""
    found = []
    for key in hv_schema_alerts.ALERT_REDACTED:
        node = part
        for step in key.split(":"):
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            found.append(node)
    return found


def settings(part):
    """``(settings, problems)`` of the ``alerts:`` pillar part: the rows' defaults with the
    part over them, or None when there is no part (nothing configured); ``problems`` name
    the key and never show a secret."""
    if part is None:
        return None, []
    errors = hv_check.Errors(secret_values(part))
    if not hv_check.require_mapping(errors, (hv_schema_alerts.ALERTS_PART,), part):
        return None, list(errors)
    _walk_rows(errors, part)
    cfg = hv_check.merge(_defaults(), part)
    if not list(errors):
        _rules(errors, cfg)
    return cfg, list(errors)


def _rules(errors, cfg):
    """What spans two keys: https unless allowed, a mail's sender and recipients, a login
    only over TLS, a channel when enabled."""
    path = (hv_schema_alerts.ALERTS_PART,)
    hook, mail = cfg["webhook"], cfg["mail"]
    url = hook.get("url")
    if url is not None and not re.match(r"^https?://[^\s/@]+(/\S*)?$", url):
        errors.add((*path, "webhook", "url"), "is not an http(s) URL (its value is not shown)")
    elif url and url.startswith("http://") and hook["allow_http"] is not True:
        errors.add(
            (*path, "webhook", "url"),
            "is plain http: the alerts (and the URL's own token) would cross the network in clear;"
            " use https:// (plain http only for a local stand-in, with alerts:webhook:allow_http: true)",
        )
    if hook.get("token") is not None and url is None:
        errors.add((*path, "webhook", "token"), "is set without alerts:webhook:url")
    if mail["host"]:
        for key in ("from", "to"):
            if not mail[key]:
                errors.add((*path, "mail", key), "is required with alerts:mail:host")
    if (mail.get("user") is None) != (mail.get("password") is None):
        errors.add((*path, "mail"), "user and password go together (a login needs both)")
    if mail.get("user") is not None and mail["tls"] == "none":
        errors.add(
            (*path, "mail", "tls"),
            "is none with a login: the password would cross the network in clear; use starttls or ssl",
        )
    if cfg["enabled"] and url is None and not mail["host"]:
        errors.add(
            path,
            "alerts are enabled but nothing would carry them: set alerts:webhook:url or alerts:mail:host"
            " (or alerts:enabled: false)",
        )
