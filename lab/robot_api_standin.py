"""The Robot stand-in's state, controls and request dispatch (lab/robot_api.py);
serving, faults and the requests log are lab/standin_http.py's."""

import base64
import copy
import hmac
import logging
import time

from .robot_api_endpoints import FAULT_KINDS, LOCKED, RESET_TYPES, RobotEndpoints, robot_error
from .standin_answers import broken_answer, check_ip, json_answer, known_ips, non_negative, parse_form
from .standin_http import Served

log = logging.getLogger("lab.robot_api")
LIMITS = ("switch_time", "switch_limit", "switch_window", "block_after", "reset_types")


def _limits(standin, data):
    return standin.set_limits(**data) if data else standin.limits()


class RobotStandIn(RobotEndpoints, Served):
    """The webservice's state (servers by number, failover routes, boot and reset
    records), its HTTP server, and the controls tests use. Thread-safe."""

    NAME = "robot-api-standin"
    FAULT_KINDS = FAULT_KINDS
    CONTROLS = {
        ("POST", "/unblock"): lambda standin, _data: (standin.unblock(), {"ok": True})[1],
        ("GET", "/limits"): lambda standin, _data: standin.limits(),
        ("POST", "/limits"): _limits,
    }

    def __init__(self, servers, failovers, user, password, **limits):
        """``servers``: ``{number: {"public", "name"}}``; ``failovers``: ``{ip:
        {"active_server_ip", "server_number" (its owner; or "server_ip", the owner's
        main IP)}}``; ``limits``: LIMITS (see set_limits)."""
        if not user or not password:
            raise ValueError("a user and a password are required")
        super().__init__()
        self._credentials = f"{user}:{password}".encode()
        self._servers = {int(n): self._server(n, s) for n, s in servers.items()}
        self._mains = {s["server_ip"]: n for n, s in self._servers.items()}
        self._failovers = {
            check_ip(ip, "failover"): self._checked_main(f.get("active_server_ip"))
            for ip, f in failovers.items()
        }
        self._owners = {
            ip: f.get("server_number") or self._mains.get(self._checked_main(f.get("server_ip")))
            for ip, f in failovers.items()
        }
        self._power = {n: {"rescue": None, "running": "normal", "resets": []} for n in self._servers}
        self._switching = {}  # ip: until (time.monotonic())
        self._switches = []  # times of the switches made
        self._failed_logins = 0
        self._blocked = False
        self.switch_time, self.switch_limit, self.switch_window = 0.0, 50, 3600.0
        self.block_after, self.reset_types = 3, RESET_TYPES
        self.set_limits(**limits)

    @classmethod
    def from_config(cls, config, user, password):
        """From the process mode's JSON config: ``{"servers": {number: {"server_ip",
        "hostname"}}, "failovers": {ip: {"server_ip" (its owner's), "active_server_ip"}}}``
        and any of LIMITS."""
        servers = {
            int(n): {"public": s["server_ip"], "name": s.get("hostname")}
            for n, s in config.get("servers", {}).items()
        }
        limits = {key: config[key] for key in LIMITS if key in config}
        return cls(servers, config.get("failovers", {}), user, password, **limits)

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
        """Route ``ip`` (or a list) to ``destination`` (None: nowhere) now, as Robot's own
        interface would; returns the time of the change (``time.time()``)."""
        with self._lock:
            destination = self._checked_main(destination)
            ips = known_ips(ip, self._failovers)
            for i in ips:
                self._failovers[i] = destination
            log.info("control: route %s -> %s", ",".join(ips), destination)
            return time.time()

    def unblock(self):
        with self._lock:
            self._blocked, self._failed_logins = False, 0

    def set_limits(self, **values):
        """Any of: ``switch_time`` (s a switch takes), ``switch_limit`` switches within
        ``switch_window`` s (more: 403 RATE_LIMIT_EXCEEDED), ``block_after`` failed
        logins (then every request: 403 BLOCKED), ``reset_types`` (a server offers).
        Returns limits()."""
        unknown = sorted(set(values) - set(LIMITS))
        if unknown:
            raise ValueError(f"unknown limits: {', '.join(unknown)} (known: {', '.join(LIMITS)})")
        checked = {}
        for key, value in values.items():
            if key in ("switch_limit", "block_after"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"{key} must be a positive integer, not {value!r}")
                checked[key] = value
            elif key == "reset_types":
                if isinstance(value, str) or not all(isinstance(t, str) and t for t in value):
                    raise ValueError(f"reset_types must be a list of names, not {value!r}")
                checked[key] = tuple(value)
            else:
                checked[key] = non_negative(value, key)
        with self._lock:
            for key, value in checked.items():
                setattr(self, key, value)
            return self.limits()

    def limits(self):
        with self._lock:
            values = {key: getattr(self, key) for key in LIMITS}
            return dict(values, reset_types=list(values["reset_types"]))

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

    # one request (Served.handle) ----------------------------------------------------------

    def _not_found(self):
        return robot_error(404, "NOT_FOUND", "Not found")

    def _fault_answer(self, kind, _api_path):
        if kind == "401":
            with self._lock:
                self._failed_login()
            return robot_error(401, "UNAUTHORIZED", "Unauthorized")
        if kind == "rate_limit":
            return robot_error(
                403, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded", max_request=50, interval=3600
            )
        if kind == "locked":
            return robot_error(409, *LOCKED)
        if kind in ("500", "503"):
            return robot_error(int(kind), "INTERNAL_ERROR", "Internal error")
        return broken_answer(kind, {"unexpected": [1, 2]})

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
        return self._not_found()
