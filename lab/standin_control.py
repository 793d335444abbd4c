"""What the providers' API stand-ins share as processes: the control socket (a Unix
socket, mode 0600, serving plain HTTP with JSON bodies), ``control()``, its client,
and ``run()``, the process mode (served until SIGTERM, exit 0).

The routes every stand-in answers (each adds its own: ``CONTROLS`` of its class):

- ``GET /state``, ``GET /requests`` (method, path, status, time: never a header or a
  body), ``GET /url``
- ``POST /route {"ip", "destination"}``: route a failover IP (or a list) to a server's
  main IP (null: nowhere) now, as the provider's own interface would
- ``POST /fault {"kind", "times", "path", "method", "hang"}``: faults for the next
  requests; ``POST /clear``: none any more
"""

import argparse
import contextlib
import http.client
import http.server
import json
import logging
import os
import signal
import socket
import socketserver
import stat
import sys

log = logging.getLogger("lab.standin")


class ControlError(RuntimeError):
    """The control socket refused a request."""


def _fault(standin, data):
    standin.inject(
        data["kind"],
        times=data.get("times", 1),
        path=data.get("path"),
        hang=data.get("hang", 30.0),
        method=data.get("method"),
    )
    return {"ok": True}


def _clear(standin, _data):
    standin.clear_faults()
    return {"ok": True}


CONTROLS = {
    ("POST", "/route"): lambda standin, data: {"time": standin.route(data["ip"], data.get("destination"))},
    ("POST", "/fault"): _fault,
    ("POST", "/clear"): _clear,
    ("GET", "/state"): lambda standin, _data: standin.state(),
    ("GET", "/requests"): lambda standin, _data: standin.requests(),
    ("GET", "/url"): lambda standin, _data: {"url": standin.url},
}


class _ControlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path, standin):
        self.standin = standin
        self.controls = {**CONTROLS, **standin.CONTROLS}
        super().__init__(path, _ControlHandler)


class _ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection

    def do_GET(self):
        action = self.server.controls.get((self.command, self.path))
        if action is None:
            return self._send(404, {"error": f"no control {self.command} {self.path}"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            data = json.loads(raw) if raw.strip() else {}
            return self._send(200, action(self.server.standin, data))
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, {"error": f"{type(e).__name__}: {e}"})

    do_POST = do_GET

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


def bind_control(path, standin, prog="standin"):
    """The control server on a new Unix socket at ``path``, mode 0600 from the start."""
    _remove_stale_socket(path, prog)
    old_umask = os.umask(0o177)
    try:
        server = _ControlServer(path, standin)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server


def _remove_stale_socket(path, prog):
    """Remove a socket file nobody listens on (left by a killed stand-in); refuse others."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SystemExit(f"{prog}: {path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            os.unlink(path)
            return
    raise SystemExit(f"{prog}: {path} is in use by a running process")


# --- process mode ------------------------------------------------------------------------


def parse_args(prog, description, secret_option, secret_help, config_help, argv=None):
    """``--listen ADDR:PORT --config FILE <secret_option> FILE --control SOCKET``."""
    parser = argparse.ArgumentParser(prog=f"python -m lab.{prog}", description=description)
    parser.add_argument("--listen", required=True, help="ADDR:PORT to serve the API on (PORT 0: any)")
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument(secret_option, required=True, help=secret_help)
    parser.add_argument("--control", required=True, help="Unix socket for the test controls")
    return parser.parse_args(argv)


def parse_listen(value, prog="standin"):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit(f"{prog}: --listen wants ADDR:PORT, not {value!r}")
    return host, int(port)


def read_secret(path, prog="standin", what="secret"):
    """A secret file's text (stripped); never shown in a message."""
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    if not text:
        raise SystemExit(f"{prog}: the {what} file {path} is empty")
    return text


def _exit_on_signal(signum, _frame):
    raise SystemExit(0)


def run(prog, listen, control_path, build):
    """A stand-in process: ``build()`` makes the stand-in (from its config and secret
    file), served at ``listen`` with its control socket at ``control_path``, until
    SIGTERM or ^C; the socket is removed on the way out. Returns 0."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    signal.signal(signal.SIGTERM, _exit_on_signal)
    standin = control_server = None
    try:
        standin = build()
        standin.serve(*parse_listen(listen, prog))
        control_server = bind_control(control_path, standin, prog)
        log.info("ready: API %s, control socket %s", standin.url, control_path)
        control_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if control_server is not None:
            control_server.server_close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(control_path)
        if standin is not None:
            standin.close()
        log.info("stopped")
    return 0
