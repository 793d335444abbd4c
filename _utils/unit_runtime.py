"""
unit_runtime: what a module run by a host's own systemd unit needs, with or
without the master (the takeover watcher, the keeper): the cluster settings
(the pillar's view, else the settings copy the states keep: no secret), and
events that the journal keeps when the event bus cannot take them. Plain
Python; the modules hand in their Salt dunders, as
``__utils__["unit_runtime.settings"](__pillar__, ...)``.
"""

import datetime
import json

try:
    from salt.exceptions import CommandExecutionError
except ImportError:
    CommandExecutionError = RuntimeError

SETTINGS_CACHE = "/var/lib/hv-evacuation/settings.json"  # evacuation:state_dir's settings copy (F25)


def settings(pillar, pillar_settings, settings_cache=None):
    """The cluster settings: ``pillar_settings()`` (the validated view) where this minion
    has the cluster pillar, marked ``offline: False``; else the settings copy at
    ``settings_cache`` (default: the states' own), marked ``offline: True`` (no secret
    in it: nothing that needs the provider's API can be done)."""
    if "hypervisor" in pillar:
        return dict(pillar_settings(), offline=False, settings_cache=None)
    path = settings_cache or SETTINGS_CACHE
    try:
        with open(path, encoding="utf-8") as handle:
            return dict(json.load(handle), offline=True, settings_cache=path)
    except (OSError, ValueError) as exc:
        raise CommandExecutionError(f"no cluster pillar here and no settings copy at {path}: {exc}") from None


def fire(send, log, tag, data):
    """Log event ``tag`` with ``data`` (the journal keeps it), then send it on the bus
    (``send``: ``__salt__["event.send"]``); a failed send is logged, never raised: an
    event is a notice, never the reason an action stops."""
    log.warning("%s %s", tag, json.dumps(data, sort_keys=True, default=str))
    try:
        send(tag, data)
    except Exception as exc:
        log.warning("could not send the event %s: %s", tag, exc)


def now():
    """UTC now, to the second, as the records write it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
