"""
hv_failover: the reactor's answer to a moved failover IP (F24, B10), on the master.

A host's failover beacon, an evacuation's end or a takeover's move
(``master.d/reactor.conf``) calls :func:`sync`: when the event comes from a
minion of the cluster (the id the master verified, in the nodegroup
``hypervisors``), every host that carries guests (nodegroup ``guest_hosts``:
they hold the API token and answer for the IPs) runs ``online.sync_failover``,
asynchronously. Nothing else of the event is used: each host asks the API
again. A forged trigger from elsewhere does nothing, and triggers that pile up
cost each host one sync at a time (``online.sync_failover wait=False`` answers
"already running" to the others, and the running one syncs once more).
"""

import logging

import salt.client
import salt.utils.minions

log = logging.getLogger(__name__)

__virtualname__ = "hv_failover"
NODEGROUP = "hypervisors"  # every host of the cluster (master.d/hypervisor.conf)
GUEST_NODEGROUP = "guest_hosts"  # those that carry guests, and hold the token


def __virtual__():
    return __virtualname__


def _cluster_minions():
    """The minions of the master's nodegroup (the accepted keys that match it)."""
    found = salt.utils.minions.CkMinions(__opts__).check_minions(NODEGROUP, "nodegroup")
    return set(found.get("minions", []))


def sync(data=None):
    """
    Have every host that carries guests sync its proxy ARP with the provider's API
    (``online.sync_failover``, asynchronously), when ``data["id"]`` (the minion the
    master verified as the event's sender) is a host of the cluster. Returns
    ``{"synced", "minion", "jid"}``.

    CLI Example:

    .. code-block:: bash

        salt-run hv_failover.sync '{"id": "hyp1"}'
    """
    minion = data.get("id") if isinstance(data, dict) else None
    if minion not in _cluster_minions():
        log.warning("hv_failover: a trigger from %r, not a minion of the cluster: nothing synced", minion)
        return {"synced": False, "minion": minion, "jid": None}
    with salt.client.get_local_client(__opts__["conf_file"]) as client:
        # wait=False: a host where a sync runs marks one more and returns (no pile-up).
        jid = client.cmd_async(
            GUEST_NODEGROUP, "online.sync_failover", kwarg={"wait": False}, tgt_type="nodegroup"
        )
    return {"synced": bool(jid), "minion": minion, "jid": jid or None}
