"""
failover_api: the failover-IP provider named by the pillar, behind one small
interface (F22, F24, B7; the interface: failover_provider).

Salt modules reach it as ``__utils__["failover_api.provider"](config)`` (the
loader exposes functions only: the factory returns the provider object; its
``Error`` attribute is :class:`ProviderError`, for ``except``). Providers:
``online`` (failover_online: Online.net / Scaleway Dedibox) and ``hetzner``
(failover_hetzner: Hetzner Robot). Plain importable Python.
"""

from failover_hetzner import HETZNER_API_URL, HetznerRobotProvider
from failover_online import IMAGE, MAC, ONLINE_API_URL, OnlineProvider
from failover_provider import Failover, FailoverProvider, ProviderError, Server

PROVIDERS = ("online", "hetzner")
__all__ = [
    "IMAGE",
    "MAC",
    "PROVIDERS",
    "Failover",
    "FailoverProvider",
    "HetznerRobotProvider",
    "OnlineProvider",
    "ProviderError",
    "Server",
    "provider",
]


def provider(config):
    """
    The provider described by ``config``: ``{"provider": "online" or "hetzner",
    "api_url", "allow_http", "timeout", "retries"}`` (``backoff``, the retries'
    backoff factor, is optional) and the provider's credentials: ``api_token``
    (online), ``user`` and ``password`` (hetzner). Raises ValueError for a wrong one.
    """
    name = config.get("provider", "online")
    common = {
        "timeout": config.get("timeout", 10),
        "retries": config.get("retries", 3),
        "backoff": config.get("backoff", 0.5),
        "allow_http": bool(config.get("allow_http", False)),
    }
    if name == "online":
        return OnlineProvider(config.get("api_url") or ONLINE_API_URL, config.get("api_token"), **common)
    if name == "hetzner":
        return HetznerRobotProvider(
            config.get("api_url") or HETZNER_API_URL, config.get("user"), config.get("password"), **common
        )
    raise ValueError(f"failover provider {name!r} is not supported (supported: {', '.join(PROVIDERS)})")
