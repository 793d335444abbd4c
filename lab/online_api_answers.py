"""The stand-in API's vocabulary (lab/online_api.py): its constants, the answers
it sends (errors worded as the real API words them, the faults tests inject),
and the checks of what it is given (the shared ones: lab/standin_answers.py)."""

from .standin_answers import BROKEN_FAULTS, broken_answer, check_ip, json_answer

API_PREFIX = "/api/v1"
FAULT_KINDS = ("401", "403", "404", "429", "500", "502", "503", *BROKEN_FAULTS)
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


# --- answers -------------------------------------------------------------------------


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
    answer = broken_answer(kind, {"unexpected": True} if api_path == "/server/failover" else [1, 2])
    if answer is None:
        raise ValueError(f"no fault answer for {kind!r}")
    return answer


# --- input checks ----------------------------------------------------------------------


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
