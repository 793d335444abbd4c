"""
hv_failover beacon: fires when the failover IPs the provider routes to this
host change (F24, B4).

Each poll asks the provider's API which of the cluster's failover IPs it
routes to this host (``online.routed_ips``, one short request, no retry).
An event is fired when that set differs from the previous poll's; the first
poll compares it with the IPs this host's proxy ARP answers for now. While
the two still disagree ``resync`` seconds after an event (a sync that
failed), the event is fired again. A failed poll fires nothing: it is
logged, once per kind of failure, and the next poll tries again.

Tag: ``salt/beacon/<minion id>/hv_failover/``; payload: ``ips`` (the set now,
sorted), ``added``, ``removed`` (against the previous poll) and ``resync``
(true when fired again for a disagreement). The reactor
(reactor/failover_sync.sls) then runs ``online.sync_failover`` on every host.

Configuration (salt/failover/beacon.sls writes it from the settings'
``failover`` view); no secret in it: ``online.routed_ips`` reads the credentials
from the pillar and everything else from the validated settings:

.. code-block:: yaml

    beacons:
      hv_failover:
        - interval: 10       # seconds between polls
        - timeout: 5         # seconds for the one request (default: routed_ips's,
                             # from the settings)
        - resync: 60         # seconds before firing again for a disagreement
"""

import logging
import time

log = logging.getLogger(__name__)

__virtualname__ = "hv_failover"
DEFAULTS = {"resync": 60}  # the beacon's own knob: no pillar setting


def __virtual__():
    return __virtualname__


def _config(config):
    merged = dict(DEFAULTS)
    for item in config if isinstance(config, list) else [config]:
        merged.update(item)
    return merged


def validate(config):
    """The configuration is a list of one-key mappings with positive numbers."""
    if not isinstance(config, list) or not all(isinstance(item, dict) for item in config):
        return False, "hv_failover: the configuration must be a list of mappings"
    for key, value in _config(config).items():
        if key in ("interval", "timeout", "resync") and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
        ):
            return False, f"hv_failover: {key} must be a positive number of seconds"
    return True, "valid beacon configuration"


def _failed(kind, message):
    """Log a failed poll once per kind of failure (not every second)."""
    if __context__.get("hv_failover.failure") != kind:
        log.warning("hv_failover: polling the provider failed: %s", message)
    __context__["hv_failover.failure"] = kind


def beacon(config):
    """Poll the provider; return one event when this host's failover IPs changed."""
    cfg = _config(config)
    poll = __salt__["online.routed_ips"](**({"timeout": cfg["timeout"]} if "timeout" in cfg else {}))
    if not poll["result"]:
        _failed(poll.get("kind") or "error", poll["comment"])
        return []
    if __context__.pop("hv_failover.failure", None):
        log.warning("hv_failover: polling the provider works again")
    ips = sorted(poll["ips"])
    last = __context__.get("hv_failover.ips")
    if last is None:
        last = sorted(poll["answered"])
    __context__["hv_failover.ips"] = ips
    now = time.monotonic()
    resync = False
    if ips == last:
        fired = __context__.get("hv_failover.fired", 0)
        if now - fired < cfg["resync"] or ips == sorted(poll["answered"]):
            return []
        resync = True
    __context__["hv_failover.fired"] = now
    added, removed = sorted(set(ips) - set(last)), sorted(set(last) - set(ips))
    return [{"ips": ips, "added": added, "removed": removed, "resync": resync}]
