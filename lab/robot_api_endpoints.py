"""The Robot stand-in's vocabulary and endpoints (lab/robot_api.py): its constants,
errors as Robot words them, and what each call answers: methods of RobotStandIn,
called with its lock held unless they say otherwise."""

import secrets
import time

from .standin_answers import BROKEN_FAULTS, json_answer

FAULT_KINDS = ("401", "rate_limit", "locked", "500", "503", *BROKEN_FAULTS)
RESCUE_OS = ("linux", "vkvm")
RESET_TYPES = ("sw", "hw", "man")


def robot_error(status, code, message, **extra):
    """An error as Robot words it: ``{"error": {"status", "code", "message"}}``."""
    return json_answer(status, {"error": {"status": status, "code": code, "message": message, **extra}})


def invalid(**fields):
    return robot_error(400, "INVALID_INPUT", "Invalid input parameters", **fields)


def not_allowed():
    return robot_error(405, "METHOD_NOT_ALLOWED", "Method not allowed")


LOCKED = ("FAILOVER_LOCKED", "Failover is locked: a switch is in progress")


class RobotEndpoints:
    """What the webservice answers. RobotStandIn's state (``_servers``, ``_mains``,
    ``_failovers``, ``_owners``, ``_power``, ``_switching``, ``_switches``) is theirs."""

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
        """``/failover`` and ``/failover/<ip>`` (takes the lock itself: a switch answers
        once the route is switched, ``switch_time`` s later)."""
        with self._lock:
            if ip is None:
                if method != "GET":
                    return not_allowed()
                if not self._failovers:
                    return robot_error(404, "NOT_FOUND", "No failover IP found")
                return json_answer(200, [self._failover_json(i) for i in sorted(self._failovers)])
            if ip not in self._failovers:
                return robot_error(404, "NOT_FOUND", f"Failover IP {ip} not found")
            if method == "GET":
                return json_answer(200, self._failover_json(ip))
            if method not in ("POST", "DELETE"):
                return not_allowed()
            target = form.get("active_server_ip", "").strip() if method == "POST" else None
            refusal = self._switch_refusal(ip, method, target)
            if refusal:
                return refusal
            self._switching[ip] = time.monotonic() + self.switch_time
            self._switches.append(time.monotonic())
        self._closing.wait(self.switch_time)
        with self._lock:
            self._failovers[ip] = target or None
            self._switching.pop(ip, None)
            return json_answer(200, self._failover_json(ip))

    def _switch_refusal(self, ip, method, target):
        if method == "POST" and not target:
            return invalid(missing=["active_server_ip"])
        if target and target not in self._mains:
            return invalid(invalid=["active_server_ip"])
        if self._switching.get(ip, 0) > time.monotonic():
            return robot_error(409, *LOCKED)
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
                return invalid(invalid=["os"])
            power["rescue"] = form["os"]
            return json_answer(200, self._rescue_json(number, password=secrets.token_urlsafe(12)))
        if method == "DELETE":
            power["rescue"] = None
            return json_answer(200, self._rescue_json(number))
        return not_allowed()

    def _reset(self, method, number, form):
        server = self._servers[number]
        if method == "GET":
            reset = {**server, "type": list(self.reset_types), "operating_status": "not supported"}
            return json_answer(200, {"reset": reset})
        if method != "POST":
            return not_allowed()
        kind = form.get("type")
        if kind not in self.reset_types:
            return invalid(invalid=["type"])
        power = self._power[number]
        power["resets"].append({"type": kind, "time": time.time()})
        power["running"] = "rescue" if power["rescue"] else "normal"
        power["rescue"] = None  # a rescue system is for the next boot only
        return json_answer(200, {"reset": {**server, "type": kind}})
