"""
hv_providers: the failover providers as the pillar knows them (F22, F24, B7): the
pillar part that holds each one's API settings and credentials (served to the
hosts that carry guests only), its credential keys, and the host key that names
a server at that provider. Plain Python.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Provider:
    name: str
    label: str  # for messages
    part: str  # the pillar part with the API's settings: online.sls, hetzner.sls
    keys: tuple  # the part's keys
    credentials: tuple  # the part's secret keys: in no message, on no other key
    server_key: str  # the host key with the server's number at the provider
    server_range: tuple
    blocks_failed_logins: bool = False  # repeated refusals get the caller's address blocked


PROVIDERS = {
    "online": Provider(
        name="online",
        label="the Online API",
        part="online",
        keys=("api_url", "api_token", "allow_http"),
        credentials=("api_token",),
        server_key="online_server_id",
        server_range=(1, 10**9),
    ),
    "hetzner": Provider(
        name="hetzner",
        label="Hetzner Robot",
        part="hetzner",
        keys=("api_url", "user", "password", "allow_http"),
        credentials=("user", "password"),
        server_key="hetzner_server_number",
        server_range=(1, 10**9),
        blocks_failed_logins=True,
    ),
}
DEFAULT = "online"
SERVER_KEYS = tuple(p.server_key for p in PROVIDERS.values())
PARTS = tuple(p.part for p in PROVIDERS.values())
CREDENTIAL_PATHS = tuple((p.part, key) for p in PROVIDERS.values() for key in p.credentials)


def named(hv):
    """The provider ``hypervisor:failover:provider`` names (the default when unset or
    unknown: the validator refuses an unknown one)."""
    failover = hv.get("failover") if isinstance(hv, dict) else None
    name = failover.get("provider") if isinstance(failover, dict) else None
    return PROVIDERS.get(name) if isinstance(name, str) and name in PROVIDERS else PROVIDERS[DEFAULT]


def part_of(pillar, provider):
    """The provider's pillar part, or None when this host has none (no provider)."""
    part = pillar.get(provider.part) if isinstance(pillar, dict) else None
    return part if isinstance(part, dict) else None


def configured(part, provider):
    """Whether ``part`` holds every credential the provider needs."""
    return isinstance(part, dict) and all(part.get(key) for key in provider.credentials)


def credential_keys(provider):
    return " and ".join(f"{provider.part}:{key}" for key in provider.credentials)
