"""
The whole pillar's check: the secrets first (no message ever shows one), the
API settings, the cluster description's rules, the settings against the
schema's rows, then the rules that span them. Plain Python.
"""

import hv_check
import hv_providers
import hv_rules_guests
import hv_rules_hosts
import hv_rules_storage
import hv_schema
import hv_schema_alerts

CLUSTER_KEYS = ("domain", "hosts", "bridges", "admins", "guests")
CLUSTER_REQUIRED = ("domain", "hosts")


def _check_cluster(errors, hv, defaults, minion_id, pillar):
    """The ``hypervisor`` mapping: the cluster description, the settings, the rules across them."""
    hv_check.unknown_keys(errors, ("hypervisor",), hv, CLUSTER_KEYS + tuple(defaults))
    hv_check.required(errors, ("hypervisor",), hv, CLUSTER_REQUIRED)
    if "domain" in hv:
        hv_check.match(errors, ("hypervisor", "domain"), hv["domain"], hv_schema.DOMAIN, "a DNS domain")
    if "hosts" in hv:
        hv_rules_hosts.check_hosts(errors, hv["hosts"], minion_id)
    if "bridges" in hv:
        hv_rules_hosts.check_bridges(errors, hv["bridges"], hv.get("hosts"))
    if "admins" in hv:
        hv_rules_hosts.check_admins(errors, hv["admins"])
    hv_check.check_settings(errors, {k: v for k, v in hv.items() if k in defaults})
    merged = hv_check.merge(defaults, {k: v for k, v in hv.items() if isinstance(v, dict)})
    gluster = merged["gluster"] if isinstance(merged.get("gluster"), dict) else {}
    if isinstance(merged.get("gluster"), dict):
        hv_rules_storage.check_gluster(errors, gluster, hv.get("hosts"))
    if isinstance(merged.get("pools"), dict):
        hv_rules_storage.check_pools(errors, merged["pools"])
    hv_rules_hosts.check_network(errors, hv, merged)
    hv_rules_guests.check_failover(errors, hv, pillar)
    hv_rules_guests.check_credentials_placement(errors, hv.get("hosts"), pillar, minion_id)
    hv_rules_storage.check_dead_host(errors, hv, merged)
    if isinstance(merged.get("keeper"), dict):
        hv_rules_storage.check_keeper(errors, merged["keeper"], gluster)
    if "guests" in hv:
        hv_rules_guests.check_guests(errors, hv["guests"], hv, merged)
    if isinstance(merged.get("backups"), dict):
        pools = merged.get("pools") if isinstance(merged.get("pools"), dict) else {}
        hv_rules_storage.check_backups(errors, merged["backups"], gluster, pools, hv.get("guests", {}))


def _refuse_alerts(errors, pillar, minion_id):
    """Issue 25: the alerts' settings (a webhook's URL and token, a mail relay's login) are
    the master's alone; a host's pillar that has them is refused by the key, with no word of
    what is under it (the check runs first: no later check shows a value of it)."""
    if hv_schema_alerts.ALERTS_PART not in pillar:
        return
    who = f"the host {errors.show(minion_id)}" if minion_id else "a host"
    errors.hide(
        (hv_schema_alerts.ALERTS_PART,),
        f"reaches {who}: the alerts' settings and credentials are the master's alone; give"
        f" {hv_schema_alerts.ALERTS_PART}.sls to the nodegroup '{hv_schema_alerts.ALERTS_NODEGROUP}' only"
        " (pillar/top.sls, master.d/alerts.conf), never to a host",
    )


def validate(pillar, defaults, minion_id=None):
    """The problems with ``pillar`` (see :func:`_validate`); a pillar that refers to itself
    (a recursive YAML anchor) cannot be walked, and says so."""
    try:
        return _validate(pillar, defaults, minion_id)
    except RecursionError:
        return [
            "the pillar refers to itself (a YAML anchor used inside its own value): it cannot be"
            " checked; write the value out"
        ]


def _validate(pillar, defaults, minion_id=None):
    """Return the list of problems with ``pillar`` (empty when it is valid).

    ``defaults`` is the ``hypervisor`` mapping of the parameters (defaults and
    OS family layered); ``minion_id`` is the host the pillar is rendered for.
    No line shows a secret (the API token, a value under a secret-looking
    key, a private key), and none echoes more than 60 characters of a value.
    """
    errors = hv_check.Errors(hv_check.secrets(pillar))
    _refuse_alerts(errors, pillar, minion_id)
    hv_check.check_secrets(errors, pillar)
    for provider in hv_providers.PROVIDERS.values():
        if provider.part in pillar:
            hv_rules_guests.check_provider_part(errors, provider, pillar[provider.part])
    hv = pillar.get("hypervisor")
    if hv is None:
        who = f"this minion {errors.show(minion_id)}" if minion_id else "this minion"
        errors.add(
            ("hypervisor",),
            f"{who} has no cluster pillar: it is not in the master's nodegroup '{hv_schema.NODEGROUP}'"
            " (master.d/hypervisor.conf), or the pillar top does not give it hypervisor.sls",
        )
    elif hv_check.require_mapping(errors, ("hypervisor",), hv):
        _check_cluster(errors, hv, defaults, minion_id, pillar)
    return list(errors)
