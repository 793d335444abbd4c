"""
hv_metrics: one host's view of the cluster as Prometheus metrics (issue 25), in the
text exposition format that the node exporter's textfile collector reads
(``<textfile_dir>/hv.prom``, written by ``metrics.write``). Every series is a gauge
named ``hv_...``; docs/metrics.md says what each one means.

Plain Python: :func:`render` turns a *facts* mapping into the text, in a stable
order (the families in :data:`FAMILIES`' order, each family's samples sorted by
their labels); the helpers below it turn the modules' answers into facts. The
facts (every key optional: a missing key or None leaves its series out):

``time``
    When the collection ended (Unix seconds); ``duration``: how long it took.
``sources``
    ``{source: answered}`` (bool) for each source this host asked; a source
    that does not apply here (the arbiter's guests, a failover provider that
    is not configured) is not listed.
``guests``
    ``{"running", "defined"}``; ``lockspace_joined``, ``quorum``: bools.
``volumes``
    ``{volume: {"started", "heal_entries", "split_brain"}}``.
``incidents_open``, ``failover_mismatched``
    Counts.
``evacuation``
    ``{"success", "duration", "time"}`` of this host's last evacuation.
``takeover``
    ``{"time", "duration"}`` of the newest incident (``duration`` None until done).
``fence``
    ``{"success", "time"}`` of the newest fence on record.
``backups``
    ``{guest: {"success", "time", "duration", "bytes", "success_time"}}``: each guest's
    last backup made on this host (``success_time``: its last one that succeeded).

Nothing but numbers, the fixed source names, the volumes' and the guests' names
(validated pillar names) reaches the text: no other pillar value, no error message.
"""

import datetime
import math
import re
from typing import NamedTuple

FILE_NAME = "hv.prom"
# libvirt's states in which a guest runs on a host (hv_domains.ACTIVE, which needs libvirt).
ACTIVE = ("running", "blocked", "paused", "shutting down", "suspended")
# The sources metrics.collect asks, in this order.
SOURCES = (
    "settings",
    "guests",
    "sanlock",
    "quorum",
    "gluster",
    "incidents",
    "evacuation",
    "failover",
    "backups",
)


class Family(NamedTuple):
    """One metric family: its name, its HELP text, its label names, its type."""

    name: str
    help: str
    labels: tuple = ()
    type: str = "gauge"


FAMILIES = (
    Family(
        "hv_guests_running",
        "Guests libvirt runs on this host (running, blocked, paused, shutting down or suspended).",
    ),
    Family("hv_guests_defined", "Guests libvirt knows on this host, running or not."),
    Family(
        "hv_lockspace_joined",
        "1 when this host's sanlock has joined the disk lockspace as configured (it may take"
        " guests), else 0.",
    ),
    Family(
        "hv_quorum",
        "1 when this host sees a majority of the brick hosts and has joined its lockspace, else 0.",
    ),
    Family("hv_gluster_volume_started", "1 when gluster reports the volume started, else 0.", ("volume",)),
    Family("hv_gluster_heal_entries", "Entries the volume's bricks still have to heal.", ("volume",)),
    Family("hv_gluster_split_brain_entries", "Entries of the volume in split-brain.", ("volume",)),
    Family(
        "hv_incidents_open",
        "Takeover incidents on record not closed yet (a host taken over, not undrained), cluster-wide.",
    ),
    Family(
        "hv_failover_ips_mismatched",
        "Failover IPs the provider routes to this host that its proxy ARP does not answer for,"
        " plus those it answers for that are routed elsewhere.",
    ),
    Family("hv_evacuation_last_success", "1 when this host's last evacuation moved every guest, else 0."),
    Family("hv_evacuation_last_duration_seconds", "How long this host's last evacuation took."),
    Family("hv_evacuation_last_timestamp_seconds", "When this host's last evacuation ended (Unix time)."),
    Family(
        "hv_takeover_last_timestamp_seconds",
        "When the newest takeover incident was opened: its host found dead (Unix time), cluster-wide.",
    ),
    Family(
        "hv_takeover_last_duration_seconds",
        "From the newest incident's opening to its guests, IPs and fence done; absent until done.",
    ),
    Family(
        "hv_fence_last_success", "1 when the newest fence on record took, 0 when it failed, cluster-wide."
    ),
    Family("hv_fence_last_timestamp_seconds", "When the newest fence on record was tried (Unix time)."),
    Family(
        "hv_backup_last_success",
        "1 when the guest's last backup made on this host succeeded, 0 when it failed.",
        ("guest",),
    ),
    Family(
        "hv_backup_last_timestamp_seconds",
        "When the guest's last backup on this host ended (Unix time).",
        ("guest",),
    ),
    Family(
        "hv_backup_last_duration_seconds", "How long the guest's last backup on this host took.", ("guest",)
    ),
    Family("hv_backup_last_bytes", "Bytes the guest's last backup on this host wrote.", ("guest",)),
    Family(
        "hv_backup_last_success_timestamp_seconds",
        "When the guest's last backup that succeeded on this host ended (Unix time); absent while none did.",
        ("guest",),
    ),
    Family(
        "hv_metrics_source_up",
        "1 when the source answered in this collection, 0 when it failed (its series are left out).",
        ("source",),
    ),
    Family("hv_metrics_collect_duration_seconds", "How long the last collection took."),
    Family("hv_metrics_last_run_timestamp_seconds", "When the last collection ended (Unix time)."),
)
BY_NAME = {family.name: family for family in FAMILIES}
SOURCE_LINE = re.compile(r'hv_metrics_source_up\{source="([a-z_]+)"\} (\S+)')


# ------------------------------------------------------------------ the text


def escape_label(value):
    """A label value as the format quotes it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text):
    """A HELP text as the format takes it: backslash and newline escaped."""
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value):
    """A sample's value: booleans as 1 and 0, integers as they are, floats in Python's
    shortest form, NaN and the infinities as the format spells them."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _number(value):
    return value is not None and isinstance(value, (bool, int, float))


def samples(facts):
    """``[(family name, ((label, value), ...), value)]``: every sample the facts give."""
    out = []

    def add(name, value, **labels):
        if _number(value):
            out.append((name, tuple(sorted(labels.items())), value))

    guests = facts.get("guests") or {}
    add("hv_guests_running", guests.get("running"))
    add("hv_guests_defined", guests.get("defined"))
    add("hv_lockspace_joined", facts.get("lockspace_joined"))
    add("hv_quorum", facts.get("quorum"))
    for volume, counts in (facts.get("volumes") or {}).items():
        add("hv_gluster_volume_started", counts.get("started"), volume=volume)
        add("hv_gluster_heal_entries", counts.get("heal_entries"), volume=volume)
        add("hv_gluster_split_brain_entries", counts.get("split_brain"), volume=volume)
    add("hv_incidents_open", facts.get("incidents_open"))
    add("hv_failover_ips_mismatched", facts.get("failover_mismatched"))
    evacuation = facts.get("evacuation") or {}
    add("hv_evacuation_last_success", evacuation.get("success"))
    add("hv_evacuation_last_duration_seconds", evacuation.get("duration"))
    add("hv_evacuation_last_timestamp_seconds", evacuation.get("time"))
    takeover = facts.get("takeover") or {}
    add("hv_takeover_last_timestamp_seconds", takeover.get("time"))
    add("hv_takeover_last_duration_seconds", takeover.get("duration"))
    fence = facts.get("fence") or {}
    add("hv_fence_last_success", fence.get("success"))
    add("hv_fence_last_timestamp_seconds", fence.get("time"))
    for guest, backup in (facts.get("backups") or {}).items():
        add("hv_backup_last_success", backup.get("success"), guest=guest)
        add("hv_backup_last_timestamp_seconds", backup.get("time"), guest=guest)
        add("hv_backup_last_duration_seconds", backup.get("duration"), guest=guest)
        add("hv_backup_last_bytes", backup.get("bytes"), guest=guest)
        add("hv_backup_last_success_timestamp_seconds", backup.get("success_time"), guest=guest)
    for source, answered in (facts.get("sources") or {}).items():
        add("hv_metrics_source_up", bool(answered), source=source)
    add("hv_metrics_collect_duration_seconds", facts.get("duration"))
    add("hv_metrics_last_run_timestamp_seconds", facts.get("time"))
    return out


def render(facts):
    """The exposition text of ``facts``: for each family that has samples, its HELP and
    TYPE lines, then its samples sorted by their labels; families in FAMILIES' order."""
    by_family = {}
    for name, labels, value in samples(facts):
        by_family.setdefault(name, []).append((labels, value))
    lines = []
    for family in FAMILIES:
        rows = by_family.get(family.name)
        if not rows:
            continue
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels, value in sorted(rows, key=lambda row: row[0]):
            text = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels)
            lines.append(
                f"{family.name}{{{text}}} {format_value(value)}"
                if text
                else f"{family.name} {format_value(value)}"
            )
    return "\n".join(lines) + "\n" if lines else ""


def sources_up(text):
    """``{source: answered}`` as an exposition text's ``hv_metrics_source_up`` lines say."""
    out = {}
    for line in text.splitlines():
        match = SOURCE_LINE.fullmatch(line.strip())
        if match:
            out[match.group(1)] = match.group(2) != "0"
    return out


def counts(text):
    """``{"families", "samples", "bytes"}`` of an exposition text."""
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    families = sum(1 for line in text.splitlines() if line.startswith("# TYPE "))
    return {"families": families, "samples": len(rows), "bytes": len(text.encode())}


# ------------------------------------------------------------------ facts from the modules' answers


def timestamp(stamp):
    """An ISO 8601 time as the records write it (``hv_runtime.now``) in Unix seconds; one
    without a zone is UTC. None for None or what does not parse."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def guest_counts(listing):
    """``guests.list_local``'s ``{name: {"state", ...}}``: ``{"running", "defined"}``."""
    running = sum(1 for info in listing.values() if (info or {}).get("state") in ACTIVE)
    return {"running": running, "defined": len(listing)}


def entries(bricks):
    """The entries of ``gluster.heal_info`` or ``gluster.split_brain``, over the bricks."""
    return sum(int(brick.get("entries") or 0) for brick in bricks)


def incident_facts(records):
    """``takeover.incidents``' records: ``{"incidents_open", "takeover", "fence"}`` (the
    newest incident by its opening; the newest fence by when it was tried)."""
    records = [r for r in records if isinstance(r, dict)]
    out = {"incidents_open": sum(1 for r in records if not r.get("closed"))}
    opened = [(timestamp(r.get("detected")), r) for r in records]
    opened = [(t, r) for t, r in opened if t is not None]
    if opened:
        when, newest = max(opened, key=lambda pair: pair[0])
        done = timestamp(newest.get("done"))
        out["takeover"] = {"time": when, "duration": None if done is None else max(0.0, done - when)}
    fences = [(timestamp((r.get("fence") or {}).get("at")), r["fence"]) for r in records if r.get("fence")]
    fences = [(t, f) for t, f in fences if t is not None]
    if fences:
        when, fence = max(fences, key=lambda pair: pair[0])
        out["fence"] = {"success": bool(fence.get("result")), "time": when}
    return out


def evacuation_facts(record):
    """The last evacuation's record (``hv_marks.last_evacuation``): ``{"success",
    "duration", "time"}``, or None when this host has none."""
    if not record:
        return None
    return {
        "success": bool(record.get("result")),
        "duration": record.get("seconds") if _number(record.get("seconds")) else None,
        "time": timestamp(record.get("at")),
    }


def backup_facts(records):
    """``guest_backup.last``' records (``{guest: record}``): ``{guest: {"success", "time",
    "duration", "bytes", "success_time"}}``; a record without a known result is left out."""
    out = {}
    for guest, record in sorted((records or {}).items()):
        if not isinstance(record, dict) or record.get("result") not in ("done", "failed"):
            continue
        out[guest] = {
            "success": record["result"] == "done",
            "time": timestamp(record.get("finished")),
            "duration": record.get("seconds") if _number(record.get("seconds")) else None,
            "bytes": record.get("bytes") if _number(record.get("bytes")) else None,
            "success_time": timestamp((record.get("last_success") or {}).get("finished")),
        }
    return out


def failover_mismatch(poll):
    """``online.last_poll``' answer: how many failover IPs the provider's routing and this
    host's proxy ARP disagree on (routed here and not answered, or answered and not routed
    here); None when the poll failed (unknown)."""
    if not poll.get("result"):
        return None
    return len(set(poll.get("ips") or []) ^ set(poll.get("answered") or []))
