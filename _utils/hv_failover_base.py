"""
hv_failover_base: what the failover-IP code (``online`` module) shares: IP
helpers, the cluster's failover IPs, the provider's errors as the module
raises them, and the callbacks into Salt the work functions are given.

Plain Python (imported by ``_modules/online.py`` and its sibling utils).
"""

import dataclasses
import ipaddress
from collections.abc import Callable

import hv_providers
from salt.exceptions import CommandExecutionError

NO_PROVIDER = "no failover provider is configured (no API settings of hypervisor:failover:provider in pillar)"
# A move or reboot that failed so may have been taken by the API: it counts as sent.
UNCERTAIN = ("timeout", "connection", "bad_response", "server")


class ApiError(CommandExecutionError):
    """A ProviderError, as the module raises and catches it (``kind`` kept)."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class Minion:
    """What the work functions ask of Salt: ``event(tag, data)`` (a notice, never
    raises), ``run(argv)`` -> (ok, what it said), ``publish()`` (the mine)."""

    event: Callable
    run: Callable
    publish: Callable


def ip_key(ip):
    return ipaddress.ip_address(ip)


def sorted_ips(ips):
    return sorted(set(ips), key=ip_key)


def normal_ip(value):
    """``value`` as a normalised IP address string, or None."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def cluster_ips(hv):
    """The cluster's failover IPs (every host's ``failover_ips``), from the failover view."""
    return sorted_ips(hv["failover"]["ips"])


def refused(why):
    return CommandExecutionError(f"refused, nothing sent: {why}")


def api(prov, verb, *args):
    """``prov.verb(*args)``, its ProviderError raised as an :class:`ApiError`."""
    try:
        return getattr(prov, verb)(*args)
    except prov.Error as exc:
        raise ApiError(str(exc), exc.kind) from None


def provider_config(failover, api_part, timeout=None, retries=None):
    """The ``failover_api.provider`` config from the settings' ``failover`` view and the
    provider's pillar part (its credentials stay in memory); ``timeout``, ``retries`` override."""
    provider = hv_providers.PROVIDERS[failover["provider"]]
    config = {
        "provider": provider.name,
        "api_url": api_part.get("api_url"),
        "allow_http": bool(api_part.get("allow_http", False)),
        "timeout": failover["request_timeout"] if timeout is None else timeout,
        "retries": failover["retries"] if retries is None else retries,
    }
    config.update({key: api_part.get(key) for key in provider.credentials})
    return config


def server_key(hv):
    """The host key naming a server at this cluster's provider (for messages)."""
    return hv_providers.PROVIDERS[hv["failover"]["provider"]].server_key


def server_id(hv, host):
    """``host``'s number at the provider (``server_id`` in the hosts view); CommandExecutionError
    when it has none."""
    if host not in hv["hosts"]:
        raise CommandExecutionError(
            f"{host} is not a cluster host (hypervisor:hosts: {', '.join(hv['hosts'])})"
        )
    sid = hv["hosts"][host].get("server_id")
    if sid is None:
        raise CommandExecutionError(f"{host} has no {server_key(hv)} in pillar (hypervisor:hosts:{host})")
    return sid


def main_ips(hv, prov):
    """{host: main IP} of every cluster host with a server number, from the API."""
    return {
        name: api(prov, "server", host["server_id"]).main_ip
        for name, host in sorted(hv["hosts"].items())
        if host.get("server_id") is not None
    }
