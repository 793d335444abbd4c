"""
failover_hetzner: the Hetzner Robot webservice behind the provider interface
(failover_provider), as its documentation and the community.hrobot collection
show it (B7).

HTTP basic auth with a webservice user. A refused login (401) is never sent
again by this object: Robot blocks an address after repeated failed logins.
Errors come as ``{"error": {"status", "code", "message"}}``: the code decides
the kind (``RATE_LIMIT_EXCEEDED`` comes as a 403, ``FAILOVER_LOCKED`` while a
switch is under way). 5xx and broken connections are retried, never a 4xx: a
rate limit lasts for its interval, far longer than a retry waits.

Failover IPs are routed to a server's main IP, one IP per call
(``POST /failover/<ip>``, ``DELETE`` to un-route); the call answers once the
route is switched, and is read back all the same. A fence is a rescue system
for the next boot, then a hardware reset (``type=hw``; the server's reset
types are asked first). The rescue password the API answers is dropped. Plain
importable Python.
"""

import ipaddress
import logging
import re

import requests.auth
from failover_http import JsonApi, json_body
from failover_provider import Failover, Server, checked_ips, ip_text, one_line

log = logging.getLogger(__name__)

HETZNER_API_URL = "https://robot-ws.your-server.de"
RESET_TYPE = "hw"  # a hardware reset: the power is cycled
RESCUE_OS = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")  # a rescue system: linux, vkvm
DEFAULT_RESCUE = "linux"
ALREADY = "FAILOVER_ALREADY_ROUTED"
KIND_OF_CODE = {
    "UNAUTHORIZED": "auth",
    "RATE_LIMIT_EXCEEDED": "rate_limited",
    "FAILOVER_LOCKED": "busy",
    "RESET_MANUAL_ACTIVE": "busy",
}


class _Basic(requests.auth.HTTPBasicAuth):
    """HTTP basic auth whose repr shows neither the user nor the password."""

    def __repr__(self):
        return "_Basic(<user>, <password>)"


class HetznerRobotProvider(JsonApi):
    """The Hetzner Robot webservice (``api_url``: its base, no path). ``server_id``
    in the verbs is the server's number in Robot."""

    name = "hetzner"
    label = "Hetzner Robot"
    STATUS_RETRIED = (500, 502, 503, 504)
    STATUS_RETRIED_ONCE = ()  # no status says a reset was not taken: only a connection never made
    METHODS_RETRIED = frozenset({"GET", "POST", "DELETE"})

    def __init__(self, api_url, user, password, timeout=10, retries=3, backoff=0.5, allow_http=False):
        for key, value in (("user", user), ("password", password)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Hetzner Robot: the webservice {key} (hetzner:{key}) is missing")
            if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
                raise ValueError(f"Hetzner Robot: hetzner:{key} holds whitespace or control characters")
        super().__init__(
            api_url, _Basic(user, password), (password, user), timeout, retries, backoff, allow_http
        )
        self._refused = None  # the 401 that stops every later call of this object

    # ------------------------------------------------------------ the verbs

    def server(self, server_id):
        path = f"/server/{int(server_id)}"
        record = self._record("GET", path, "server")
        where = f"GET {path}"
        number, name, main_ip = (
            record.get("server_number"),
            record.get("server_name"),
            record.get("server_ip"),
        )
        if not isinstance(number, int) or isinstance(number, bool):
            raise self._shape(where, "no integer server_number")
        if ip_text(main_ip) is None:
            raise self._shape(where, "server_ip is not an IP address")
        main_ip = ip_text(main_ip)
        routed = tuple(f.ip for f in self.failovers() if f.destination == main_ip)
        return Server(
            id=number, hostname=name if isinstance(name, str) else "", main_ip=main_ip, failover_ips=routed
        )

    def failovers(self):
        path = "/failover"
        try:
            data = self._call("GET", path)
        except self.Error as exc:
            if exc.kind == "not_found":  # the account has no failover IP
                return []
            raise
        if not isinstance(data, list):
            raise self._shape(f"GET {path}", "not a list")
        found = [self._failover(f"GET {path}", entry) for entry in data]
        return sorted(found, key=lambda f: ipaddress.ip_address(f.ip))

    def move(self, ips, destination):
        ips = checked_ips(self.label, ips, destination)
        moved = False
        for ip in ips:
            moved = self._route(ip, ip_text(destination) if destination else None) or moved
        return moved

    # ------------------------------------------------------- fencing verbs

    def rescue_images(self, server_id):
        path = f"/boot/{int(server_id)}/rescue"
        offered = self._record("GET", path, "rescue").get("os")
        names = [offered] if isinstance(offered, str) else offered
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise self._shape(f"GET {path}", "rescue.os is not a list of rescue systems")
        names = [n.strip() for n in names]
        return sorted(names, key=lambda n: n != DEFAULT_RESCUE)  # Robot's usual one first

    def boot_rescue(self, server_id, image):
        if not isinstance(image, str) or not RESCUE_OS.fullmatch(image.strip()):
            raise ValueError(f"Hetzner Robot: boot rescue: {image!r} is not a rescue system name")
        path = f"/boot/{int(server_id)}/rescue"
        # The answer holds the rescue system's root password: checked, then dropped.
        record = self._record("POST", path, "rescue", {"os": image.strip()}, quote=False)
        if record.get("active") is not True:
            raise self._shape(f"POST {path}", "the rescue system is not active for the next boot")
        return True

    def reboot(self, server_id, reason):
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("Hetzner Robot: reset: a reason is required")
        path = f"/reset/{int(server_id)}"
        types = self._record("GET", path, "reset").get("type")
        types = [types] if isinstance(types, str) else types
        if not isinstance(types, list):
            raise self._shape(f"GET {path}", "reset.type is not a list of reset types")
        if RESET_TYPE not in types:
            raise self._error(
                f"GET {path}",
                f"this server offers no hardware reset (it offers: {', '.join(map(str, types)) or 'none'})",
                "refused",
            )
        log.info("Hetzner Robot: hardware reset of server %s: %s", int(server_id), one_line(reason))
        record = self._record("POST", path, "reset", {"type": RESET_TYPE}, once=True)
        if record.get("type") not in (RESET_TYPE, [RESET_TYPE]):
            raise self._shape(f"POST {path}", "the reset is not a hardware reset")
        return True

    def boot_normal(self, server_id):
        path = f"/boot/{int(server_id)}/rescue"
        record = self._record("DELETE", path, "rescue")
        if record.get("active") is not False:
            raise self._shape(f"DELETE {path}", "the rescue system is still active")
        return True

    # ------------------------------------------------------------- helpers

    def _route(self, ip, destination):
        """Route ``ip`` to ``destination`` (None: un-route it), then read it back."""
        path = f"/failover/{ip}"
        method, form = ("POST", {"active_server_ip": destination}) if destination else ("DELETE", None)
        try:
            answer = self._call(method, path, form)
        except self.Error as exc:
            if exc.status != 409 or ALREADY not in str(exc):
                raise
            log.info("Hetzner Robot: %s already routed to %s", ip, destination or "nowhere")
            moved = False
        else:
            if not isinstance(answer, dict) or not isinstance(answer.get("failover"), dict):
                raise self._shape(f"{method} {path}", "no failover object")
            moved = True
        now = self._failover(f"GET {path}", self._call("GET", path))
        if now.destination != destination:
            raise self._error(
                f"GET {path}",
                f"routed to {now.destination or 'nowhere'} after the move to {destination or 'nowhere'}",
                "bad_response",
            )
        return moved

    def _failover(self, where, entry):
        """A :class:`Failover` from one ``{"failover": {...}}`` entry, checked."""
        record = entry.get("failover") if isinstance(entry, dict) else None
        if not isinstance(record, dict) or ip_text(record.get("ip")) is None:
            raise self._shape(where, "an entry without a failover IP address")
        active = record.get("active_server_ip")
        if active not in (None, "") and ip_text(active) is None:
            raise self._shape(where, f"{record['ip']}: active_server_ip is not an IP address")
        return Failover(ip_text(record["ip"]), ip_text(active), None)

    def _record(self, method, path, key, form=None, once=False, quote=True):
        """The object under ``key`` in the answer of ``method path``."""
        data = self._call(method, path, form, once=once, quote=quote)
        record = data.get(key) if isinstance(data, dict) else None
        if not isinstance(record, dict):
            raise self._shape(f"{method} {path}", f"no {key} object")
        return record

    def _call(self, method, path, form=None, once=False, quote=True):
        if self._refused is not None:
            raise self._refused  # never a second failed login: Robot would block this address
        try:
            return super()._call(method, path, form, once=once, quote=quote)
        except self.Error as exc:
            if exc.kind == "auth":
                self._refused = exc
            raise

    def _status_error(self, where, status, body, after):
        data = json_body(body)
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), str) else ""
        text = one_line(self._redact(": ".join(str(error[k]) for k in ("code", "message") if error.get(k))))
        if not text:
            text = one_line(self._redact(body.decode("utf-8", "replace").strip())) or "no error text"
        kind = KIND_OF_CODE.get(code)
        if status == 401 or kind == "auth":
            kind = "auth"
            text = (
                f"HTTP {status} (the webservice user and password are refused: check hetzner:user"
                " and hetzner:password; not sent again, Robot blocks an address after repeated"
                f" failed logins): {text}"
            )
            return self._error(where, text, kind, status)
        if kind == "rate_limited":
            limits = [f"{error[k]} {k}" for k in ("max_request", "interval") if error.get(k) is not None]
            text += f" ({', '.join(limits)})" if limits else ""
        elif kind is None and (status == 404 or code.endswith("NOT_FOUND")):
            kind = "not_found"
        elif kind is None:
            kind = "server" if status >= 500 else "refused"
        return self._error(where, f"HTTP {status}{after}: {text}", kind, status)
