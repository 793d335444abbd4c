"""A stand-in for the Online.net / Scaleway Dedibox API (its failover IP and fencing parts).

The real API (``https://api.online.net/api/v1``, described in ONLINE-API.md) cannot be
reached from here, so the lab and the unit tests talk to this one instead. It answers the
calls the project makes, with the real API's shapes and errors:

- ``GET /server/{id}``, ``GET /server/failover``
- ``POST /server/failover/edit`` (``source=<ip>[,<ip>...]&destination=<main ip or empty>``)
- ``POST /server/failover/generateMac`` (``address=<ip>&type=kvm``)
- ``GET /server/rescue_images/{id}``, ``POST /server/boot/rescue/{id}`` (``image=<name>``;
  answers rescue credentials), ``POST /server/reboot/{id}`` (``reason=<text>``, mandatory),
  ``POST /server/boot/normal/{id}``: each server's boot mode, what it runs since its last
  reboot and its reboots are in ``state()["power"]`` (nothing is really rebooted)

Every call needs exactly ``Authorization: Bearer <token>``. An accepted move takes effect
``delay`` seconds later (the real one does "within a few minutes"); an accepted move less
than ``spacing`` seconds after the previous one gets 429. Tests add faults (error statuses,
HTML, broken JSON, hangs, resets) to the next requests, and move routes themselves, as the
provider's side would.

In-process (unit tests)::

    standin = StandIn(servers, failovers, token="t0k")
    url = standin.serve()              # "http://127.0.0.1:<port>/api/v1"
    ...
    standin.close()

As a process (the lab)::

    python -m lab.online_api --listen 203.0.113.1:8080 --config api.json \\
        --token-file token --control /run/online-api.sock

The token comes from a file, never the command line, and is never logged. The control
socket (mode 0600) serves plain HTTP with JSON bodies; ``control()`` is its client.
"""

import argparse
import contextlib
import copy
import dataclasses
import hmac
import http.client
import http.server
import ipaddress
import json
import logging
import os
import random
import re
import secrets
import signal
import socket
import socketserver
import stat
import struct
import sys
import threading
import time
import urllib.parse

log = logging.getLogger("lab.online_api")

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


# --- the stand-in ------------------------------------------------------------------------


class StandIn:
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
        self._httpd = _ApiServer((host, port), self)
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
        for route_method, pattern, name in _ROUTES:
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

    # endpoints (called with the lock held) ------------------------------------------

    def _get_server(self, match, _form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        return json_answer(200, self._server_json(server_id))

    def _get_failovers(self, _match, _form):
        return json_answer(
            200,
            [
                {"source": ip, "destination": f["destination"], "mac": f["mac"], "status": "active"}
                for ip, f in self._failovers.items()
            ],
        )

    def _edit(self, _match, form):
        sources = split_sources(form.get("source", ""))
        if not sources:
            return error_answer(400, "Missing parameter: source")
        if "destination" not in form:
            return error_answer(400, "Missing parameter: destination")
        destination = form["destination"].strip() or None
        refusal = self._edit_refusal(sources, destination)
        if refusal:
            return refusal
        now = time.time()
        if self._spacing and self._last_edit is not None and now - self._last_edit < self._spacing:
            return error_answer(429, "Too many requests: wait before changing a failover IP again")
        self._last_edit = now
        for ip in sources:
            self._schedule(ip, destination, now + self._delay)
        self._apply_due(now)
        return json_answer(200, True)

    def _edit_refusal(self, sources, destination):
        """The 404/400/409 answer an edit gets, or None when it is acceptable."""
        unknown = [ip for ip in sources if ip not in self._failovers]
        if unknown:
            return error_answer(404, f"Failover IP not found: {', '.join(unknown)}")
        if destination is not None and destination not in self._mains:
            return error_answer(400, f"Destination {destination} is not the main IP of one of your servers")
        for group in self._mac_groups(sources):
            if not set(group) <= set(sources):
                return error_answer(400, f"{', '.join(group)} share a virtual MAC and move together")
        if all(self._will_have(ip) == destination for ip in sources):
            word = "provisioned" if destination else "deprovisioned"
            return error_answer(409, f"Address already {word}")
        return None

    def _generate_mac(self, _match, form):
        address = form.get("address", "").strip()
        if not address:
            return error_answer(400, "Missing parameter: address")
        if address not in self._failovers:
            return error_answer(404, f"Failover IP not found: {address}")
        if form.get("type") not in MAC_TYPES:
            return error_answer(400, f"Invalid type (one of {', '.join(MAC_TYPES)})")
        if self._failovers[address]["mac"]:
            return error_answer(409, f"Address {address} already has a virtual MAC")
        mac = self._new_mac()
        self._failovers[address]["mac"] = mac
        return json_answer(200, mac)

    def _get_rescue_images(self, match, _form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        return json_answer(200, self._rescue_images)

    def _boot_rescue(self, match, form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        image = form.get("image", "").strip()
        if not image:
            return error_answer(400, "Missing parameter: image")
        if image not in self._rescue_images:
            return error_answer(400, f"Invalid rescue image {image} for server {server_id}")
        credentials = {
            "login": f"sd-{server_id}",
            "password": secrets.token_urlsafe(12),
            "protocol": "ssh",
            "ip": self._servers[server_id]["public"],
        }
        self._power[server_id].update(boot="rescue", image=image, rescue_credentials=credentials)
        return json_answer(200, credentials)

    def _reboot(self, match, form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        reason = form.get("reason", "").strip()
        if not reason:
            return error_answer(400, "Missing parameter: reason")
        power = self._power[server_id]
        power["reboots"] += 1
        power["reasons"].append(reason)
        power["running"] = power["boot"]
        return json_answer(200, True)

    def _boot_normal(self, match, _form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        self._power[server_id].update(boot="normal", image=None, rescue_credentials=None)
        return json_answer(200, True)

    # state helpers (lock held) --------------------------------------------------------

    def _server_json(self, server_id):
        server = self._servers[server_id]
        public, private = server["public"], server["private"]
        ipfo = [ip for ip, f in self._failovers.items() if f["destination"] == public]
        ips = [{"address": public, "type": "public", "mac": server_mac(server_id, 0)}]
        if private:
            ips.append({"address": private, "type": "private", "mac": server_mac(server_id, 1)})
        ips += [
            {
                "address": ip,
                "type": "failover",
                "mac": self._failovers[ip]["mac"],
                "destination": public,
                "status": "active",
            }
            for ip in ipfo
        ]
        return {
            "id": server_id,
            "hostname": server["hostname"],
            "network": {"ip": [public], "private": [private] if private else [], "ipfo": ipfo},
            "ip": ips,
        }

    def _mac_groups(self, ips):
        """For each virtual MAC among ``ips``: every failover IP carrying it."""
        macs = dict.fromkeys(self._failovers[ip]["mac"] for ip in ips if self._failovers[ip]["mac"])
        return [[ip for ip, f in self._failovers.items() if f["mac"] == mac] for mac in macs]

    def _will_have(self, ip):
        """Where ``ip`` is routed once its pending move (if any) is done."""
        pending = self._pending.get(ip)
        return pending["destination"] if pending else self._failovers[ip]["destination"]

    def _schedule(self, ip, destination, due):
        """A later move replaces a pending one; a move back to the current route cancels it."""
        if self._failovers[ip]["destination"] == destination:
            self._pending.pop(ip, None)
        else:
            self._pending[ip] = {"destination": destination, "due": due}

    def _apply_due(self, now):
        for ip, pending in list(self._pending.items()):
            if pending["due"] <= now:
                self._failovers[ip]["destination"] = pending["destination"]
                del self._pending[ip]

    def _new_mac(self):
        taken = {f["mac"] for f in self._failovers.values()}
        while True:
            mac = "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
            if mac not in taken:
                return mac

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


_ROUTES = (
    ("GET", re.compile(r"/server/failover"), "_get_failovers"),
    ("POST", re.compile(r"/server/failover/edit"), "_edit"),
    ("POST", re.compile(r"/server/failover/generateMac"), "_generate_mac"),
    ("GET", re.compile(r"/server/(\d+)"), "_get_server"),
    ("GET", re.compile(r"/server/rescue_images/(\d+)"), "_get_rescue_images"),
    ("POST", re.compile(r"/server/boot/rescue/(\d+)"), "_boot_rescue"),
    ("POST", re.compile(r"/server/boot/normal/(\d+)"), "_boot_normal"),
    ("POST", re.compile(r"/server/reboot/(\d+)"), "_reboot"),
)


# --- HTTP plumbing -----------------------------------------------------------------------


class _ApiServer(http.server.ThreadingHTTPServer):
    """The API's HTTP server; remembers open connections so that close() can end them."""

    daemon_threads = True

    def __init__(self, address, standin):
        self.standin = standin
        self.connections = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _ApiHandler)

    def server_bind(self):
        # HTTPServer.server_bind would look the address up in DNS (getfqdn): not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        with self._connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        with self._connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
    server_version = "online-api-standin"
    timeout = 300  # an idle keep-alive connection is dropped after this
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _serve(self):
        body = self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        answer = self.server.standin.handle(self.command, path, self.headers.get("Authorization"), body)
        if answer.reset:
            self._reset()
        else:
            self._send(answer)

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, answer):
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout)

    def _reset(self):
        """Close with a TCP reset and no answer at all."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def log_request(self, code="-", size="-"):
        pass  # StandIn.handle logs method, path and status (never headers)

    def log_message(self, format, *args):
        log.debug("http: " + format, *args)


# --- control socket ----------------------------------------------------------------------


class ControlError(RuntimeError):
    """The control socket refused a request."""


def _control_route(standin, data):
    return {"time": standin.route(data["ip"], data.get("destination"))}


def _control_delay(standin, data):
    standin.set_delay(data["seconds"])
    return {"delay": float(data["seconds"])}


def _control_fault(standin, data):
    standin.inject(
        data["kind"], times=data.get("times", 1), path=data.get("path"), hang=data.get("hang", 30.0)
    )
    return {"ok": True}


def _control_clear(standin, _data):
    standin.clear_faults()
    return {"ok": True}


_CONTROLS = {
    ("POST", "/route"): _control_route,
    ("POST", "/delay"): _control_delay,
    ("POST", "/fault"): _control_fault,
    ("POST", "/clear"): _control_clear,
    ("GET", "/state"): lambda standin, _data: standin.state(),
    ("GET", "/requests"): lambda standin, _data: standin.requests(),
    ("GET", "/url"): lambda standin, _data: {"url": standin.url},
}


class _ControlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path, standin):
        self.standin = standin
        super().__init__(path, _ControlHandler)


class _ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection

    def do_GET(self):
        self._serve()

    do_POST = do_GET

    def _serve(self):
        action = _CONTROLS.get((self.command, self.path))
        if action is None:
            return self._send(404, {"error": f"no control {self.command} {self.path}"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            data = json.loads(raw) if raw.strip() else {}
            return self._send(200, action(self.server.standin, data))
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, {"error": f"{type(e).__name__}: {e}"})

    def _send(self, status, data):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        log.debug("control: %s %s %s", self.command, self.path, code)

    def log_message(self, format, *args):
        log.debug("control: " + format, *args)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = str(socket_path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._socket_path)


def control(socket_path, method, path, body=None, timeout=30):
    """One request to a stand-in process's control socket; returns the parsed JSON answer.
    Raises ControlError when the control refuses it.

    ``control(sock, "POST", "/route", {"ip": "203.0.113.101", "destination": "203.0.113.12"})``
    """
    connection = _UnixHTTPConnection(socket_path, timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = json.loads(response.read() or b"null")
    finally:
        connection.close()
    if response.status != 200:
        raise ControlError(f"control {method} {path}: HTTP {response.status}: {data}")
    return data


def bind_control(path, standin):
    """The control server on a new Unix socket at ``path``, mode 0600 from the start."""
    _remove_stale_socket(path)
    old_umask = os.umask(0o177)
    try:
        server = _ControlServer(path, standin)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server


def _remove_stale_socket(path):
    """Remove a socket file nobody listens on (left by a killed stand-in); refuse others."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SystemExit(f"online_api: {path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            os.unlink(path)
            return
    raise SystemExit(f"online_api: {path} is in use by a running process")


# --- process mode ------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lab.online_api",
        description="Stand-in for the Online.net API (failover IPs, fencing).",
    )
    parser.add_argument("--listen", required=True, help="ADDR:PORT to serve the API on (PORT 0: any)")
    parser.add_argument(
        "--config", required=True, help='JSON: {"servers", "failovers", "delay", "spacing", "rescue_images"}'
    )
    parser.add_argument("--token-file", required=True, help="file holding the API token")
    parser.add_argument("--control", required=True, help="Unix socket for the test controls")
    return parser.parse_args(argv)


def parse_listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit(f"online_api: --listen wants ADDR:PORT, not {value!r}")
    return host, int(port)


def read_token(path):
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise SystemExit(f"online_api: the token file {path} is empty")
    return token


def _exit_on_signal(signum, _frame):
    raise SystemExit(0)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    signal.signal(signal.SIGTERM, _exit_on_signal)
    standin = control_server = None
    try:
        with open(args.config, encoding="utf-8") as f:
            standin = StandIn.from_config(json.load(f), read_token(args.token_file))
        standin.serve(*parse_listen(args.listen))
        control_server = bind_control(args.control, standin)
        log.info("ready: API %s, control socket %s", standin.url, args.control)
        control_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if control_server is not None:
            control_server.server_close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.control)
        if standin is not None:
            standin.close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
