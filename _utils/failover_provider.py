"""
failover_provider: what the failover code needs from a provider's API (F22, F24,
B7): the interface, its answers and its one error. Plain importable Python; the
providers are ``failover_online`` and ``failover_hetzner``, made by
``failover_api.provider(config)``.
"""

import dataclasses
import ipaddress

ERROR_TEXT_MAX = 200  # characters of the API's error text in a message
# The error kinds (ProviderError.kind) a provider raises.
KINDS = (
    "auth",
    "not_found",
    "refused",
    "busy",
    "rate_limited",
    "server",
    "bad_response",
    "timeout",
    "connection",
)


class ProviderError(Exception):
    """A failed API call. ``kind``: ``auth`` (the credentials are refused),
    ``not_found``, ``refused`` (another 4xx), ``busy`` (the provider is switching
    that IP already: try later), ``rate_limited``, ``server`` (5xx after the
    retries), ``bad_response`` (HTML, invalid or cut JSON, an empty body, the
    wrong shape, a move that does not read back), ``timeout``, ``connection``.
    ``status``: the HTTP status, or None. ``str(e)`` is one line, without any
    credential."""

    def __init__(self, message, kind, status=None):
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclasses.dataclass(frozen=True)
class Server:
    id: int
    hostname: str
    main_ip: str
    failover_ips: tuple


@dataclasses.dataclass(frozen=True)
class Failover:
    ip: str
    destination: str | None
    mac: str | None


class FailoverProvider:
    """What the failover code needs from a provider: three verbs.

    - ``server(server_id)`` -> :class:`Server`: a server's main IP and the
      failover IPs routed to it (``server_id``: the provider's number for it);
    - ``failovers()`` -> [:class:`Failover`]: every failover IP of the
      account, where it is routed and its virtual MAC (None where the
      provider has none);
    - ``move(ips, destination)`` -> bool: route ``ips`` to the server whose
      main IP is ``destination`` (None: un-route them); True when the
      provider accepted the move, False when they were there already. The
      move may take effect later: callers read back.

    And the four a fence needs:

    - ``rescue_images(server_id)`` -> [str]: the rescue systems the server
      may boot, the provider's default first;
    - ``boot_rescue(server_id, image)`` -> True: the server's next boot is
      that rescue system (the credentials the provider answers are dropped);
    - ``reboot(server_id, reason)`` -> True: a hard reset, now (``reason``
      is mandatory); sent at most once per call;
    - ``boot_normal(server_id)`` -> True: the next boot is from disk again.

    Each raises :class:`ProviderError`.
    """

    name = "abstract"
    Error = ProviderError

    def server(self, server_id):
        raise NotImplementedError

    def failovers(self):
        raise NotImplementedError

    def move(self, ips, destination):
        raise NotImplementedError

    def rescue_images(self, server_id):
        raise NotImplementedError

    def boot_rescue(self, server_id, image):
        raise NotImplementedError

    def reboot(self, server_id, reason):
        raise NotImplementedError

    def boot_normal(self, server_id):
        raise NotImplementedError


def ip_text(value):
    """``value`` as a normalised IP address string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def one_line(text, limit=ERROR_TEXT_MAX):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def checked_ips(label, ips, destination):
    """``ips`` (one or a list) as a list, and ``destination``, checked before a move."""
    ips = [ips] if isinstance(ips, str) else list(ips)
    if not ips or any(ip_text(ip) is None for ip in ips):
        raise ValueError(f"{label}: move: {ips!r} is not a list of IP addresses")
    if destination and ip_text(destination) is None:
        raise ValueError(f"{label}: move: destination {destination!r} is not an IP address")
    return [ip_text(ip) for ip in ips]
