"""
metrics: this host's view of the cluster for Prometheus, through the node
exporter's textfile collector (issue 25; the series: docs/metrics.md).

``collect`` gathers the facts from the modules that already answer each
question; ``write`` renders them (``_utils/hv_metrics.py``) into
``<metrics:textfile_dir>/hv.prom``, whole or not at all (a temporary file in
the same directory, fsync, rename; mode 0644). The minion's scheduler runs
``write`` every ``metrics:interval`` seconds (``salt/metrics/schedule.sls``).

The sources, each asked in a thread of its own:

- ``settings``: ``hypervisor_pillar.settings`` (the validated pillar);
- ``guests``: ``guests.list_local`` (libvirt here);
- ``sanlock``: ``sanlock.status`` (``can_take_guests``: the lockspace joined as configured);
- ``quorum``: ``takeover.quorum``;
- ``gluster``: ``gluster.volume_info``, then ``gluster.heal_info`` and
  ``gluster.split_brain`` of each started volume;
- ``incidents``: ``takeover.incidents`` (the shared incidents directory: those
  open, the newest takeover, the newest fence);
- ``evacuation``: this host's last evacuation, as ``guests.evacuate`` keeps it
  (``<evacuation:state_dir>/last.json``, ``hv_marks.last_evacuation``);
- ``failover``: ``online.last_poll`` (the hv_failover beacon's last poll of the
  provider, against this host's proxy ARP now: no request of its own), where a
  provider is configured and this host has a server number;
- ``backups``: ``guest_backup.last`` (each guest's last backup made here, as
  ``guest_backup.run`` records it), where ``backups:enabled``.

The arbiter (no libvirt, sanlock, takeover nor failover IP) asks gluster alone.
A source that fails, or has not answered within ``timeout`` seconds, is
``hv_metrics_source_up{source=...} 0`` and its series are left out: nothing
raises, and nothing vanishes without a trace. The text holds numbers, the
sources' names and the volumes' names only: no pillar value, no error
message; the errors ``collect`` and ``write`` return have every pillar
secret redacted. A source that goes down, or answers again, is logged once
(the previous file says how it was).
"""

import contextlib
import contextvars
import logging
import os
import threading
import time

import hv_check
import hv_failover_files
import hv_marks
import hv_metrics
import hv_schema
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "metrics"
MODE = 0o644  # the node exporter reads the file as its own user
TIMEOUT_MARGIN = 5  # seconds: the sources' time is the interval less this...
TIMEOUT_MIN = 5  # ...and at least this


def __virtual__():
    return __virtualname__


class _Partial(Exception):
    """A source that failed after finding some of its facts (a volume's heal among several)."""

    def __init__(self, facts, message):
        super().__init__(message)
        self.facts = facts


def _call(fun, *args, **kwargs):
    """``__salt__[fun](...)``; a function this host does not have is an error of its own."""
    try:
        func = __salt__[fun]
    except KeyError:
        raise CommandExecutionError(f"{fun} is not available here (saltutil.sync_modules)") from None
    return func(*args, **kwargs)


# ------------------------------------------------------------------ the sources


def _guests(_hv):
    return {"guests": hv_metrics.guest_counts(_call("guests.list_local"))}


def _sanlock(_hv):
    return {"lockspace_joined": bool(_call("sanlock.status").get("can_take_guests"))}


def _quorum(_hv):
    return {"quorum": bool(_call("takeover.quorum")["quorum"])}


def _gluster(_hv):
    """Each volume: started or not, and, started, its heal and split-brain entries."""
    volumes, failed = {}, []
    for name, info in sorted(_call("gluster.volume_info").items()):
        row = volumes[name] = {"started": info.get("status") == "Started"}
        if not row["started"]:
            continue  # gluster answers no heal for it: hv_gluster_volume_started says why
        try:
            row["heal_entries"] = hv_metrics.entries(_call("gluster.heal_info", name))
            row["split_brain"] = hv_metrics.entries(_call("gluster.split_brain", name))
        except Exception as exc:  # the other volumes still count
            failed.append(f"{name}: {exc}")
    if failed:
        raise _Partial({"volumes": volumes}, "; ".join(failed))
    return {"volumes": volumes}


def _incidents(_hv):
    return hv_metrics.incident_facts(_call("takeover.incidents"))


def _evacuation(hv):
    if hv is None:
        raise CommandExecutionError("no settings: the evacuation's record is not found without them")
    return {"evacuation": hv_metrics.evacuation_facts(hv_marks.last_evacuation(hv))}


def _failover(_hv):
    poll = _call("online.last_poll")
    if not poll.get("result"):
        raise CommandExecutionError(f"{poll.get('kind') or 'error'}: {poll.get('comment') or 'no answer'}")
    return {"failover_mismatched": hv_metrics.failover_mismatch(poll)}


def _backups(_hv):
    return {"backups": hv_metrics.backup_facts(_call("guest_backup.last"))}


def _plan(hv):
    """The sources this host has, in hv_metrics.SOURCES' order. Without settings (an
    invalid pillar) a host is taken for one with guests: its sources say what fails."""
    if hv is not None and hv["me"]["role"] == "arbiter":
        return [("gluster", _gluster)]
    failover = hv is None or bool(hv["failover"].get("configured") and hv["me"].get("server_id"))
    plan = [
        ("guests", _guests),
        ("sanlock", _sanlock),
        ("quorum", _quorum) if "takeover.quorum" in __salt__ else None,
        ("gluster", _gluster),
        ("incidents", _incidents) if "takeover.incidents" in __salt__ else None,
        ("evacuation", _evacuation),
        ("failover", _failover) if failover else None,
        ("backups", _backups) if hv is None or hv["backups"]["enabled"] else None,
    ]
    return [step for step in plan if step]


def _run(source, hv, box):
    try:
        box["result"] = (True, source(hv), None)
    except _Partial as exc:
        box["result"] = (False, exc.facts, str(exc))
    except Exception as exc:  # a source's failure is that source's, never the collection's
        box["result"] = (False, {}, str(exc) or type(exc).__name__)


def _gather(plan, hv, timeout):
    """``{source: (answered, facts, error)}``: every source in a thread of its own (in a
    copy of this context: Salt's dunders live there), waited for ``timeout`` seconds in
    all; one still running then has not answered (its thread is left behind: a hung
    gluster mount cannot hold the file back)."""
    running = []
    for name, source in plan:
        box = {}
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_run, source, hv, box),
            name=f"metrics-{name}",
            daemon=True,
        )
        thread.start()
        running.append((name, thread, box))
    deadline = time.monotonic() + timeout
    out = {}
    for name, thread, box in running:
        thread.join(max(0.0, deadline - time.monotonic()))
        out[name] = box.get("result") or (False, {}, f"no answer within {timeout} s")
    return out


# ------------------------------------------------------------------ collect, write


def _settings():
    """(the validated settings or None, the error)."""
    try:
        return _call("hypervisor_pillar.settings"), None
    except Exception as exc:  # an invalid pillar: the settings source is down
        return None, str(exc) or type(exc).__name__


def _redactor():
    return hv_check.Errors(hv_check.secrets(dict(__pillar__)))


def _timeout(hv, timeout):
    if timeout is not None:
        return float(timeout)
    interval = hv["metrics"]["interval"] if hv else hv_schema.BY_KEY["metrics:interval"].default
    return float(max(TIMEOUT_MIN, interval - TIMEOUT_MARGIN))


def _collect(hv, error, timeout):
    """(facts, {source: error}); ``hv``/``error``: what :func:`_settings` gave."""
    started = time.monotonic()
    sources, errors, facts = {"settings": hv is not None}, {}, {}
    if error:
        errors["settings"] = error
    for name, (answered, part, why) in _gather(_plan(hv), hv, _timeout(hv, timeout)).items():
        sources[name] = answered
        facts.update(part)
        if why:
            errors[name] = why
    facts["sources"] = {name: sources[name] for name in hv_metrics.SOURCES if name in sources}
    facts["duration"] = round(time.monotonic() - started, 3)
    facts["time"] = round(time.time(), 3)
    redactor = _redactor()
    return facts, {name: redactor.redact(why) for name, why in errors.items()}


def collect(timeout=None):
    """
    The facts ``metrics.write`` writes, without writing them: ``{"sources" ({source:
    answered}), "guests" ({"running", "defined"}), "lockspace_joined", "quorum",
    "volumes" ({volume: {"started", "heal_entries", "split_brain"}}), "incidents_open",
    "failover_mismatched", "evacuation" ({"success", "duration", "time"}), "takeover"
    ({"time", "duration"}), "fence" ({"success", "time"}), "duration", "time",
    "errors" ({source: why it failed})}``; a fact whose source failed, or that this host
    does not have, is missing. Never raises.

    timeout
        Seconds the sources have, in all (default: ``metrics:interval`` less 5, at least 5).

    CLI Example:

    .. code-block:: bash

        salt hyp1 metrics.collect
    """
    hv, error = _settings()
    facts, errors = _collect(hv, error, timeout)
    return dict(facts, errors=errors)


def _default_file():
    """Where the file goes when the settings cannot be read: the schema's directory."""
    return f"{hv_schema.BY_KEY['metrics:textfile_dir'].default}/{hv_metrics.FILE_NAME}"


def _log_changes(previous, sources, errors):
    """Log a source that failed (or answers again) since the previous file, once."""
    for name, answered in sources.items():
        if not answered and previous.get(name, True):
            log.warning("metrics: the source %s failed: %s", name, errors.get(name, "no reason given"))
        elif answered and previous.get(name) is False:
            log.warning("metrics: the source %s answers again", name)


def _previous_sources(path):
    with contextlib.suppress(OSError, UnicodeDecodeError), open(path, encoding="utf-8") as handle:
        return hv_metrics.sources_up(handle.read())
    return {}


def write(path=None, timeout=None):
    """
    Collect (``metrics.collect``) and write the exposition to
    ``<metrics:textfile_dir>/hv.prom`` (or ``path``): a temporary file in the same
    directory, fsync, rename, mode 0644; the directory is made if missing. Nothing is
    written while ``metrics:enabled`` is false (unless ``path`` is given). Returns
    ``{"written", "path", "families", "samples", "bytes", "sources", "errors"}``
    (``comment`` when nothing was written). Never raises.

    path
        Write there instead (a test, a look at the text).
    timeout
        Seconds the sources have, in all (default: ``metrics:interval`` less 5, at least 5).

    CLI Example:

    .. code-block:: bash

        salt hyp1 metrics.write
        salt-call metrics.write path=/tmp/hv.prom
    """
    hv, error = _settings()
    target = path or (hv["metrics"]["file"] if hv else _default_file())
    if hv is not None and path is None and not hv["metrics"]["enabled"]:
        return {
            "written": False,
            "path": target,
            "comment": "hypervisor:metrics:enabled is false: nothing written"
            " (metrics.collect shows the facts)",
        }
    facts, errors = _collect(hv, error, timeout)
    text = hv_metrics.render(facts)
    ret = {"written": False, "path": target, **hv_metrics.counts(text)}
    ret.update(sources=facts["sources"], errors=errors)
    _log_changes(_previous_sources(target), facts["sources"], errors)
    try:
        os.makedirs(os.path.dirname(target) or ".", mode=0o755, exist_ok=True)
        hv_failover_files.write_atomic(target, text.encode(), MODE)
    except OSError as exc:
        ret["comment"] = f"{target} could not be written: {exc}"
        log.error("metrics: %s", ret["comment"])
        __context__["retcode"] = 1
        return ret
    ret["written"] = True
    return ret
