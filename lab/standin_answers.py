"""The answers the providers' API stand-ins share (lab/standin_http.py), the faults
that break an exchange rather than err, and the checks of what they are given."""

import dataclasses
import ipaddress
import json
import urllib.parse

# Faults both stand-ins give (each adds its errors): answered by broken_answer, but
# timeout (answers late) and truncated_json (answers for real, cut; lab/standin_http.py).
BROKEN_FAULTS = ("html", "timeout", "reset", "invalid_json", "truncated_json", "empty", "shape")
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1><p>Maintenance in progress.</p></body></html>\n"
)


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


def truncated(answer):
    """The same answer cut in the middle (framed with the cut length: the JSON is broken,
    the HTTP exchange is not)."""
    return dataclasses.replace(answer, body=answer.body[: len(answer.body) // 2])


def check_ip(value, what):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what}: not an IP address: {value!r}") from None
    return value


def parse_form(body):
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def non_negative(value, what):
    value = float(value)
    if value < 0:
        raise ValueError(f"{what} must be >= 0, not {value}")
    return value


def broken_answer(kind, shape):
    """The answer of a fault of BROKEN_FAULTS (``shape``: the wrong-shaped JSON to give);
    None for any other kind."""
    if kind == "html":
        return Answer(200, HTML_PAGE, "text/html; charset=utf-8")
    if kind == "invalid_json":
        return Answer(200, b'{"error": this is not JSON')
    if kind == "empty":
        return Answer(200)
    if kind == "shape":
        return json_answer(200, shape)
    if kind == "reset":
        return Answer(0, reset=True)
    return None


def known_ips(ip, known):
    """``ip`` (or a list of IPs) as a list; ValueError unless every one is in ``known``."""
    ips = [ip] if isinstance(ip, str) else list(ip)
    unknown = [i for i in ips if i not in known]
    if unknown:
        raise ValueError(f"unknown failover IP: {', '.join(unknown)}")
    return ips
