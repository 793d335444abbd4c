"""The stand-in API's vocabulary (lab/online_api.py): its constants, the answers
it sends (errors worded as the real API words them, the faults tests inject),
and the checks of what it is given."""

import dataclasses
import ipaddress
import json
import urllib.parse

API_PREFIX = "/api/v1"
FAULT_KINDS = (
    "401",
    "403",
    "404",
    "429",
    "500",
    "502",
    "503",
    "html",
    "timeout",
    "reset",
    "invalid_json",
    "truncated_json",
    "empty",
    "shape",
)
MAC_TYPES = ("kvm", "vmware", "xen")
RESCUE_IMAGES = ("ubuntu-22.04", "debian-12")
INVALID_TOKEN = "The access token provided is invalid."
FAULT_ERRORS = {
    "401": "invalid_token",
    "403": "Access denied",
    "404": "Not found",
    "429": "Too many requests",
    "500": "Internal server error",
    "502": "Bad gateway",
    "503": "Service temporarily unavailable",
}
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1><p>Maintenance in progress.</p></body></html>\n"
)


# --- answers -------------------------------------------------------------------------


@dataclasses.dataclass
class Answer:
    """What the server sends back; ``reset``: close the connection without an answer."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = dataclasses.field(default_factory=dict)
    reset: bool = False


def json_answer(status, data, headers=None):
    return Answer(status, json.dumps(data).encode(), headers=headers or {})


def error_answer(status, text, headers=None, **extra):
    """An error the way the real API words it: ``{"error": ..., "code": N}``."""
    return json_answer(status, {"error": text, **extra, "code": status}, headers)


def unauthorized():
    return error_answer(401, "invalid_token", error_description=INVALID_TOKEN)


def fault_answer(kind, api_path):
    """The answer a fault gives in place of the API's (not for timeout/truncated_json)."""
    if kind == "401":
        return unauthorized()
    if kind in FAULT_ERRORS:
        headers = {"Retry-After": "0"} if kind == "429" else None
        return error_answer(int(kind), FAULT_ERRORS[kind], headers)
    if kind == "html":
        return Answer(200, HTML_PAGE, "text/html; charset=utf-8")
    if kind == "invalid_json":
        return Answer(200, b'{"error": this is not JSON')
    if kind == "empty":
        return Answer(200)
    if kind == "shape":
        return json_answer(200, {"unexpected": True} if api_path == "/server/failover" else [1, 2])
    if kind == "reset":
        return Answer(0, reset=True)
    raise ValueError(f"no fault answer for {kind!r}")


def truncated(answer):
    """The same answer cut in the middle (framed with the cut length: the JSON is broken,
    the HTTP exchange is not)."""
    return dataclasses.replace(answer, body=answer.body[: len(answer.body) // 2])


# --- input checks ----------------------------------------------------------------------


def check_ip(value, what):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what}: not an IP address: {value!r}") from None
    return value


def server_record(server_id, server):
    """A server as given: ``{"hostname", "public", "private" (or None)}``."""
    private = server.get("private")
    return {
        "hostname": str(server["hostname"]),
        "public": check_ip(server["public"], f"server {server_id}"),
        "private": check_ip(private, f"server {server_id}") if private else None,
    }


def new_power():
    """A server's boot side as it starts: booting from disk, never rebooted here."""
    return {
        "boot": "normal",
        "image": None,
        "running": "normal",
        "reboots": 0,
        "reasons": [],
        "rescue_credentials": None,
    }


def server_mac(server_id, kind):
    """A stable made-up MAC for a server's public (0) or private (1) interface."""
    return f"28:92:4a:{kind:02x}:{(server_id >> 8) & 0xFF:02x}:{server_id & 0xFF:02x}"


def split_sources(value):
    """``"a, b,a"`` → ``["a", "b"]`` (order kept, duplicates dropped)."""
    return list(dict.fromkeys(ip.strip() for ip in value.split(",") if ip.strip()))


def parse_form(body):
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
