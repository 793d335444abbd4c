"""A stand-in for the Hetzner Robot webservice (B7): the calls the cluster makes
(servers, failover IPs, rescue boot, reset), over real HTTP, with the faults the
real one gives. What it cannot prove about the real Robot: docs/hetzner.md.

- HTTP basic auth; a failed login answers 401 ``UNAUTHORIZED``; after
  ``block_after`` failed logins the caller is blocked: every request answers 403
  ``BLOCKED`` (the real Robot blocks the address for a while).
- Errors as ``{"error": {"status", "code", "message"}}``.
- A failover switch answers once the route is switched (``switch_time`` s); a
  second switch of that IP meanwhile is 409 ``FAILOVER_LOCKED``; more than
  ``switch_limit`` switches within ``switch_window`` s is 403 ``RATE_LIMIT_EXCEEDED``.
- Faults for the next requests (``inject``): ``401``, ``rate_limit``, ``locked``,
  ``500``, ``503``, ``html``, ``timeout`` (a slow answer), ``reset``,
  ``invalid_json``, ``truncated_json``, ``empty``, ``shape``.
"""

import base64
import copy
import hmac
import logging
import secrets
import threading
import time

from .online_api_answers import Answer, check_ip, json_answer, parse_form, truncated
from .online_api_http import ApiServer

log = logging.getLogger("lab.robot_api")

FAULT_KINDS = (
    "401",
    "rate_limit",
    "locked",
    "500",
    "503",
    "html",
    "timeout",
    "reset",
    "invalid_json",
    "truncated_json",
    "empty",
    "shape",
)
RESCUE_OS = ("linux", "vkvm")
RESET_TYPES = ("sw", "hw", "man")
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>503</title></head><body>Maintenance</body></html>\n"


def robot_error(status, code, message, **extra):
    return json_answer(status, {"error": {"status": status, "code": code, "message": message, **extra}})


class RobotStandIn:
    """The webservice's state (servers by number, failover routes, boot and reset
    records), its HTTP server, and the controls tests use. Thread-safe."""

    def __init__(
        self,
        servers,
        failovers,
        user,
        password,
        switch_time=0.0,
        switch_limit=50,
        switch_window=3600.0,
        block_after=3,
        reset_types=RESET_TYPES,
    ):
        if not user or not password:
            raise ValueError("a user and a password are required")
        self._lock = threading.RLock()
        self._credentials = f"{user}:{password}".encode()
        self._servers = {int(n): self._server(n, s) for n, s in servers.items()}
        self._mains = {s["server_ip"]: n for n, s in self._servers.items()}
        self._failovers = {
            check_ip(ip, "failover"): self._checked_main(f.get("active_server_ip"))
            for ip, f in failovers.items()
        }
        self._owners = {ip: f.get("server_number") for ip, f in failovers.items()}
        self._power = {n: {"rescue": None, "running": "normal", "resets": []} for n in self._servers}
        self._switching = {}  # ip: until (time.monotonic())
        self._switches = []  # times of the switches made
        self._failed_logins = 0
        self._blocked = False
        self.switch_time = float(switch_time)
        self.switch_limit = int(switch_limit)
        self.switch_window = float(switch_window)
        self.block_after = int(block_after)
        self.reset_types = tuple(reset_types)
        self._faults = []
        self._log = []
        self._closing = threading.Event()
        self._httpd = None
        self._thread = None
        self.url = None

    @staticmethod
    def _server(number, server):
        return {
            "server_ip": check_ip(server["public"], f"server {number}"),
            "server_number": int(number),
            "server_name": str(server.get("name") or f"EX-{number}"),
        }

    def _checked_main(self, ip):
        if ip and ip not in self._mains:
            raise ValueError(f"{ip} is not a server's main IP")
        return ip or None

    # controls -----------------------------------------------------------------------

    def route(self, ip, destination):
        """Route ``ip`` to ``destination`` now, as Robot's own interface would."""
        with self._lock:
            if ip not in self._failovers:
                raise ValueError(f"unknown failover IP {ip}")
            self._failovers[ip] = self._checked_main(destination)
            log.info("control: route %s -> %s", ip, destination)
            return time.time()

    def inject(self, kind, times=1, path=None, hang=30.0, method=None):
        """The next ``times`` requests whose path starts with ``path`` (None: any), of
        ``method`` (None: any), get fault ``kind``: ``timeout`` answers for real after
        ``hang`` s; ``truncated_json`` answers for real, cut; the others answer in
        Robot's place and change nothing."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, not {times!r}")
        with self._lock:
            self._faults.append(
                {"kind": kind, "times": times, "path": path, "hang": float(hang), "method": method}
            )

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def unblock(self):
        with self._lock:
            self._blocked, self._failed_logins = False, 0

    def state(self):
        """``{"failovers": {ip: active server IP or None}, "power": {number: {"rescue"
        (the os of the next boot's rescue system, or None), "running" ("normal" or
        "rescue": what it booted last), "resets": [{"type", "time"}]}}, "failed_logins",
        "blocked", "switches" (how many)}``."""
        with self._lock:
            return copy.deepcopy(
                {
                    "failovers": self._failovers,
                    "power": self._power,
                    "failed_logins": self._failed_logins,
                    "blocked": self._blocked,
                    "switches": len(self._switches),
                }
            )

    def requests(self):
        """Every request so far: ``[{"method", "path", "status", "time"}]``; never headers."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    # serving --------------------------------------------------------------------------

    def serve(self, host="127.0.0.1", port=0):
        """Serve from a daemon thread; returns the base URL ``http://host:port``."""
        if self._httpd is not None:
            raise RuntimeError(f"already serving {self.url}")
        self._closing.clear()
        self._httpd = ApiServer((host, port), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        log.info("serving %s", self.url)
        return self.url

    def close(self):
        self._closing.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # one request ----------------------------------------------------------------------

    def handle(self, method, path, authorization, body):
        """Answer one HTTP request (ApiServer's handler calls this); logs it."""
        entry = {"method": method, "path": path, "status": None, "time": time.time()}
        with self._lock:
            self._log.append(entry)
        answer, fault = self._answer(method, path, authorization, body)
        with self._lock:
            entry["status"] = None if answer.reset else answer.status
        log.info("%s %s %s%s", method, path, entry["status"], f" (fault {fault})" if fault else "")
        return answer

    def _answer(self, method, path, authorization, body):
        fault = self._take_fault(method, path)
        kind = fault["kind"] if fault else None
        if kind == "timeout":
            self._closing.wait(fault["hang"])
        elif kind == "truncated_json":
            return truncated(self._api(method, path, authorization, body)), kind
        elif kind:
            return self._fault_answer(kind, authorization), kind
        return self._api(method, path, authorization, body), kind

    def _take_fault(self, method, path):
        with self._lock:
            for fault in self._faults:
                if fault["method"] not in (None, method):
                    continue
                if fault["path"] is None or path.startswith(fault["path"]):
                    fault["times"] -= 1
                    if fault["times"] == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_answer(self, kind, authorization):
        if kind == "401":
            with self._lock:
                self._failed_login()
            return robot_error(401, "UNAUTHORIZED", "Unauthorized")
        if kind == "rate_limit":
            return robot_error(
                403, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded", max_request=50, interval=3600
            )
        if kind == "locked":
            return robot_error(409, "FAILOVER_LOCKED", "Failover is locked: a switch is in progress")
        if kind in ("500", "503"):
            return robot_error(int(kind), "INTERNAL_ERROR", "Internal error")
        if kind == "html":
            return Answer(200, HTML_PAGE, "text/html; charset=utf-8")
        if kind == "invalid_json":
            return Answer(200, b'{"failover": this is not JSON')
        if kind == "empty":
            return Answer(200)
        if kind == "shape":
            return json_answer(200, {"unexpected": [1, 2]})
        return Answer(0, reset=True)  # reset

    def _failed_login(self):
        self._failed_logins += 1
        if self._failed_logins >= self.block_after:
            self._blocked = True

    def _authorized(self, authorization):
        scheme, _, value = (authorization or "").partition(" ")
        try:
            given = base64.b64decode(value.encode(), validate=True) if scheme == "Basic" else b""
        except ValueError:
            given = b""
        return hmac.compare_digest(given, self._credentials)

    def _api(self, method, path, authorization, body):
        with self._lock:
            if self._blocked:
                return robot_error(403, "BLOCKED", "Your IP address is blocked after failed logins")
            if not self._authorized(authorization):
                self._failed_login()
                return robot_error(401, "UNAUTHORIZED", "Unauthorized")
        parts = [p for p in path.split("/") if p]
        form = parse_form(body)
        if parts[:1] == ["failover"] and len(parts) <= 2:
            return self._failover_call(method, parts[1] if len(parts) == 2 else None, form)
        with self._lock:
            if len(parts) == 2 and parts[0] == "server" and method == "GET":
                return self._with_server(
                    parts[1], lambda n: json_answer(200, {"server": self._server_json(n)})
                )
            if len(parts) == 3 and parts[0] == "boot" and parts[2] == "rescue":
                return self._with_server(parts[1], lambda n: self._rescue(method, n, form))
            if len(parts) == 2 and parts[0] == "reset":
                return self._with_server(parts[1], lambda n: self._reset(method, n, form))
        return robot_error(404, "NOT_FOUND", "Not found")

    def _with_server(self, text, call):
        number = int(text) if text.isdigit() else None
        if number not in self._servers:
            return robot_error(404, "SERVER_NOT_FOUND", f"Server {text} not found")
        return call(number)

    def _server_json(self, number):
        server = self._servers[number]
        return {
            **server,
            "server_ipv6_net": "2001:db8::",
            "product": "EX44",
            "dc": "FSN1-DC1",
            "traffic": "unlimited",
            "status": "ready",
            "cancelled": False,
            "paid_until": "2027-01-01",
            "ip": [server["server_ip"]],
            "subnet": None,
        }

    # failover IPs ---------------------------------------------------------------------

    def _failover_json(self, ip):
        owner = self._owners.get(ip) or next(iter(self._servers))
        return {
            "failover": {
                "ip": ip,
                "netmask": "255.255.255.255",
                "server_ip": self._servers[owner]["server_ip"],
                "server_number": owner,
                "active_server_ip": self._failovers[ip],
            }
        }

    def _failover_call(self, method, ip, form):
        with self._lock:
            if ip is None:
                if method != "GET":
                    return robot_error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
                if not self._failovers:
                    return robot_error(404, "NOT_FOUND", "No failover IP found")
                return json_answer(200, [self._failover_json(i) for i in sorted(self._failovers)])
            if ip not in self._failovers:
                return robot_error(404, "NOT_FOUND", f"Failover IP {ip} not found")
            if method == "GET":
                return json_answer(200, self._failover_json(ip))
            if method not in ("POST", "DELETE"):
                return robot_error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
            target = form.get("active_server_ip", "").strip() if method == "POST" else None
            refusal = self._switch_refusal(ip, method, target)
            if refusal:
                return refusal
            until = time.monotonic() + self.switch_time
            self._switching[ip] = until
            self._switches.append(time.monotonic())
        self._closing.wait(self.switch_time)  # answers once the route is switched
        with self._lock:
            self._failovers[ip] = target or None
            self._switching.pop(ip, None)
            return json_answer(200, self._failover_json(ip))

    def _switch_refusal(self, ip, method, target):
        if method == "POST" and not target:
            return robot_error(400, "INVALID_INPUT", "Invalid input parameters", missing=["active_server_ip"])
        if target and target not in self._mains:
            return robot_error(400, "INVALID_INPUT", "Invalid input parameters", invalid=["active_server_ip"])
        if self._switching.get(ip, 0) > time.monotonic():
            return robot_error(409, "FAILOVER_LOCKED", "Failover is locked: a switch is in progress")
        if self._failovers[ip] == (target or None):
            return robot_error(409, "FAILOVER_ALREADY_ROUTED", "Failover already routed")
        now = time.monotonic()
        self._switches = [t for t in self._switches if now - t < self.switch_window]
        if len(self._switches) >= self.switch_limit:
            return robot_error(
                403,
                "RATE_LIMIT_EXCEEDED",
                "Rate limit exceeded",
                max_request=self.switch_limit,
                interval=int(self.switch_window),
            )
        return None

    # rescue and reset -----------------------------------------------------------------

    def _rescue_json(self, number, password=None):
        power = self._power[number]
        return {
            "rescue": {
                "server_ip": self._servers[number]["server_ip"],
                "server_number": number,
                "os": power["rescue"] or list(RESCUE_OS),
                "arch": 64,
                "active": power["rescue"] is not None,
                "password": password,
                "authorized_key": [],
                "host_key": [],
            }
        }

    def _rescue(self, method, number, form):
        power = self._power[number]
        if method == "GET":
            return json_answer(200, self._rescue_json(number))
        if method == "POST":
            if form.get("os") not in RESCUE_OS:
                return robot_error(400, "INVALID_INPUT", "Invalid input parameters", invalid=["os"])
            power["rescue"] = form["os"]
            return json_answer(200, self._rescue_json(number, password=secrets.token_urlsafe(12)))
        if method == "DELETE":
            power["rescue"] = None
            return json_answer(200, self._rescue_json(number))
        return robot_error(405, "METHOD_NOT_ALLOWED", "Method not allowed")

    def _reset(self, method, number, form):
        server = self._servers[number]
        if method == "GET":
            reset = {**server, "type": list(self.reset_types), "operating_status": "not supported"}
            return json_answer(200, {"reset": reset})
        if method != "POST":
            return robot_error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        kind = form.get("type")
        if kind not in self.reset_types:
            return robot_error(400, "INVALID_INPUT", "Invalid input parameters", invalid=["type"])
        power = self._power[number]
        power["resets"].append({"type": kind, "time": time.time()})
        power["running"] = "rescue" if power["rescue"] else "normal"
        power["rescue"] = None  # a rescue system is for the next boot only
        return json_answer(200, {"reset": {**server, "type": kind}})
