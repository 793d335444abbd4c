"""The stand-in API's state, controls and request handling (lab/online_api.py);
serving, faults and the requests log are lab/standin_http.py's."""

import copy
import hmac
import logging
import time

from .online_api_answers import (
    API_PREFIX,
    FAULT_KINDS,
    RESCUE_IMAGES,
    check_ip,
    error_answer,
    fault_answer,
    new_power,
    server_record,
    unauthorized,
)
from .online_api_endpoints import ROUTES, Endpoints
from .standin_answers import known_ips, non_negative, parse_form
from .standin_http import Served

log = logging.getLogger("lab.online_api")


def _control_delay(standin, data):
    standin.set_delay(data["seconds"])
    return {"delay": float(data["seconds"])}


class StandIn(Endpoints, Served):
    """The API's state (servers, failover routes, pending moves, boot modes), its HTTP
    server, and the controls tests use. Thread-safe."""

    NAME = "online-api-standin"
    PREFIX = API_PREFIX
    FAULT_KINDS = FAULT_KINDS
    CONTROLS = {("POST", "/delay"): _control_delay}

    def __init__(self, servers, failovers, token, delay=0.0, spacing=0.0, rescue_images=RESCUE_IMAGES):
        if not token:
            raise ValueError("a token is required")
        super().__init__()
        self._token = str(token).encode()
        self._servers = {int(sid): server_record(sid, s) for sid, s in servers.items()}
        self._power = {sid: new_power() for sid in self._servers}
        self._rescue_images = [str(image) for image in rescue_images]
        self._mains = {s["public"] for s in self._servers.values()}
        self._failovers = {}
        for ip, failover in failovers.items():
            self._failovers[check_ip(ip, "failover")] = {
                "destination": self._checked_destination(failover.get("destination")),
                "mac": failover.get("mac") or None,
            }
        self._pending = {}
        self._delay = float(delay)
        self._spacing = float(spacing)
        self._last_edit = None

    @classmethod
    def from_config(cls, config, token):
        """From the process mode's JSON config (server ids are string keys there)."""
        return cls(
            {int(sid): s for sid, s in config.get("servers", {}).items()},
            config.get("failovers", {}),
            token,
            delay=config.get("delay", 0.0),
            spacing=config.get("spacing", 0.0),
            rescue_images=config.get("rescue_images", RESCUE_IMAGES),
        )

    # controls -----------------------------------------------------------------------

    def route(self, ip, destination):
        """Change the route of ``ip`` (or a list of IPs) now, as the provider's side would;
        drops any pending move of it. Returns the time of the change (``time.time()``)."""
        with self._lock:
            destination = self._checked_destination(destination)
            ips = known_ips(ip, self._failovers)
            now = time.time()
            for i in ips:
                self._failovers[i]["destination"] = destination
                self._pending.pop(i, None)
            log.info("control: route %s -> %s", ",".join(ips), destination)
            return now

    def set_delay(self, seconds):
        """Seconds before a move accepted from now on takes effect."""
        with self._lock:
            self._delay = non_negative(seconds, "delay")

    def set_spacing(self, seconds):
        """Seconds that must separate two accepted moves (else 429)."""
        with self._lock:
            self._spacing = non_negative(seconds, "spacing")

    def state(self):
        """``{"failovers": {ip: {"destination", "mac"}}, "pending": {ip: {"destination",
        "due"}}, "servers": {id: {"hostname", "public", "private"}}, "power": {id: {"boot"
        (the next boot: "normal" or "rescue"), "image" (its rescue image), "running" (what
        it booted last: "normal" or "rescue"), "reboots" (how many), "reasons" (theirs, in
        order), "rescue_credentials" (the last ones given, or None)}}}`` (effective routes,
        due moves applied first)."""
        with self._lock:
            self._apply_due(time.time())
            return copy.deepcopy(
                {
                    "failovers": self._failovers,
                    "pending": self._pending,
                    "servers": self._servers,
                    "power": self._power,
                }
            )

    # one request (Served.handle) ----------------------------------------------------------

    def _fault_answer(self, kind, api_path):
        return fault_answer(kind, api_path)

    def _not_found(self):
        return error_answer(404, "Not found")

    def _api(self, method, api_path, authorization, body):
        if not self._authorized(authorization):
            return unauthorized()
        for route_method, pattern, name in ROUTES:
            match = pattern.fullmatch(api_path)
            if match is None:
                continue
            if method != route_method:
                return error_answer(405, "Method not allowed", headers={"Allow": route_method})
            with self._lock:
                self._apply_due(time.time())
                return getattr(self, name)(match, parse_form(body))
        return error_answer(404, "Not found")

    def _authorized(self, authorization):
        expected = b"Bearer " + self._token
        return hmac.compare_digest((authorization or "").encode("utf-8", "replace"), expected)

    def _checked_destination(self, destination):
        if destination and destination not in self._mains:
            raise ValueError(f"destination {destination} is not a server's public IP")
        return destination or None
