"""The stand-in's control socket (lab/online_api.py): a Unix socket, mode 0600,
serving plain HTTP with JSON bodies, and ``control()``, its client."""

import http.client
import http.server
import json
import logging
import os
import socket
import socketserver
import stat

log = logging.getLogger("lab.online_api")


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
