"""The stand-in API's state, controls and request handling (lab/online_api.py)."""

import copy
import hmac
import logging
import threading
import time

from .online_api_answers import (
    API_PREFIX,
    FAULT_KINDS,
    RESCUE_IMAGES,
    check_ip,
    error_answer,
    fault_answer,
    new_power,
    parse_form,
    server_record,
    truncated,
    unauthorized,
)
from .online_api_endpoints import ROUTES, Endpoints
from .online_api_http import ApiServer

log = logging.getLogger("lab.online_api")


class StandIn(Endpoints):
    """The API's state (servers, failover routes, pending moves, boot modes), its HTTP
    server, and the controls tests use. Thread-safe."""

    def __init__(self, servers, failovers, token, delay=0.0, spacing=0.0, rescue_images=RESCUE_IMAGES):
        if not token:
            raise ValueError("a token is required")
        self._lock = threading.RLock()
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
        self._faults = []
        self._log = []
        self._closing = threading.Event()
        self._httpd = None
        self._thread = None
        self.url = None

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

    def __repr__(self):
        return f"<StandIn {self.url or 'not serving'}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # controls -----------------------------------------------------------------------

    def route(self, ip, destination):
        """Change the route of ``ip`` (or a list of IPs) now, as the provider's side would;
        drops any pending move of it. Returns the time of the change (``time.time()``)."""
        ips = [ip] if isinstance(ip, str) else list(ip)
        with self._lock:
            destination = self._checked_destination(destination)
            unknown = [i for i in ips if i not in self._failovers]
            if unknown:
                raise ValueError(f"unknown failover IP: {', '.join(unknown)}")
            now = time.time()
            for i in ips:
                self._failovers[i]["destination"] = destination
                self._pending.pop(i, None)
            log.info("control: route %s -> %s", ",".join(ips), destination)
            return now

    def set_delay(self, seconds):
        """Seconds before a move accepted from now on takes effect."""
        with self._lock:
            self._delay = self._non_negative(seconds, "delay")

    def set_spacing(self, seconds):
        """Seconds that must separate two accepted moves (else 429)."""
        with self._lock:
            self._spacing = self._non_negative(seconds, "spacing")

    def inject(self, kind, times=1, path=None, hang=30.0):
        """Give the next ``times`` API requests whose path (after /api/v1) starts with
        ``path`` (None: any) the fault ``kind`` (one of FAULT_KINDS). ``timeout`` waits
        ``hang`` s then answers for real; ``truncated_json`` answers for real, cut in the
        middle (so a POST takes effect); every other kind answers in the API's place and
        the request changes nothing."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, not {times!r}")
        if path is not None and path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :]
        fault = {"kind": kind, "times": times, "path": path, "hang": self._non_negative(hang, "hang")}
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

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

    def requests(self):
        """Every request so far: ``[{"method", "path", "status", "time"}]`` (status None
        when reset or not answered yet); never headers."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    # serving --------------------------------------------------------------------------

    def serve(self, host="127.0.0.1", port=0):
        """Serve the API from a daemon thread; returns its base URL
        ``http://host:port/api/v1``."""
        if self._httpd is not None:
            raise RuntimeError(f"already serving {self.url}")
        self._closing.clear()
        self._httpd = ApiServer((host, port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="online-api-standin", daemon=True
        )
        self._thread.start()
        self.url = f"http://{host}:{self._httpd.server_address[1]}{API_PREFIX}"
        log.info("serving %s", self.url)
        return self.url

    def close(self):
        """Stop serving: the port refuses, open connections are closed, hangs end."""
        self._closing.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        self._thread.join(timeout=5)

    # one request ----------------------------------------------------------------------

    def handle(self, method, path, authorization, body):
        """Answer one HTTP request (``path`` without the query string); logs it."""
        entry = {"method": method, "path": path, "status": None, "time": time.time()}
        with self._lock:
            self._log.append(entry)
        answer, fault = self._answer(method, path, authorization, body)
        with self._lock:
            entry["status"] = None if answer.reset else answer.status
        log.info("%s %s %s%s", method, path, entry["status"], f" (fault {fault})" if fault else "")
        return answer

    def _answer(self, method, path, authorization, body):
        """(answer, the fault applied or None)."""
        if not path.startswith(API_PREFIX + "/"):
            return error_answer(404, "Not found"), None
        api_path = path[len(API_PREFIX) :]
        fault = self._take_fault(api_path)
        kind = fault["kind"] if fault else None
        if kind == "timeout":
            self._closing.wait(fault["hang"])
        elif kind == "truncated_json":
            return truncated(self._api(method, api_path, authorization, body)), kind
        elif kind:
            return fault_answer(kind, api_path), kind
        return self._api(method, api_path, authorization, body), kind

    def _take_fault(self, api_path):
        with self._lock:
            for fault in self._faults:
                if fault["path"] is None or api_path.startswith(fault["path"]):
                    fault["times"] -= 1
                    if fault["times"] == 0:
                        self._faults.remove(fault)
                    return fault
        return None

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

    @staticmethod
    def _non_negative(value, what):
        value = float(value)
        if value < 0:
            raise ValueError(f"{what} must be >= 0, not {value}")
        return value
