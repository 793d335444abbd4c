"""
This host answers ARP for the failover IPs the provider's API routes to it (F22, F24).

.. code-block:: yaml

    failover-proxyarp-synced:
      online.synced:
        - name: proxyarp

Shorewall's proxyarp file is kept in line with the API by
``online.sync_failover`` (see the ``online`` execution module): reloaded when
it changes, the previous file put back when the reload fails. Without an
``online`` pillar it lists the host's own pillar ``failover_ips``. Under
``test=True`` the API is read and nothing on the host changes.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "online"


def __virtual__():
    if "online.sync_failover" in __salt__:
        return __virtualname__
    return (False, "the online execution module is not available")


def synced(name):
    """Ensure the proxyarp file lists the failover IPs the API routes to this host."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    test = bool(__opts__["test"])
    try:
        sync = __salt__["online.sync_failover"](test=test)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["comment"] = sync["comment"]
    if sync["result"] is False:
        ret["result"] = False
        return ret
    if sync["changed"]:
        ret["changes"] = {"added": sync["added"], "removed": sync["removed"]}
        if test:
            ret["result"] = None
    return ret
