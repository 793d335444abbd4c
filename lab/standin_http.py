"""What the providers' API stand-ins (lab/online_api.py, lab/robot_api.py) share on
the HTTP side: ``Served``, the base of each stand-in (serving, the faults queued for
the next requests, the requests log), and a threading server that can end its open
connections. Their answers: lab/standin_answers.py; their control socket and process
mode: lab/standin_control.py."""

import contextlib
import http.server
import logging
import socket
import socketserver
import struct
import threading
import time
import urllib.parse

from .standin_answers import non_negative, truncated

log = logging.getLogger("lab.standin")


class Served:
    """A stand-in's serving side. A subclass sets ``NAME``, ``PREFIX`` (the API's path
    prefix), ``FAULT_KINDS`` and ``CONTROLS`` (its own control-socket routes, beside
    standin_control's), and defines ``_api``, ``_fault_answer`` and ``_not_found``.
    Faults: ``timeout`` waits ``hang`` s then answers for real; ``truncated_json``
    answers for real, cut (a POST takes effect); the others answer in the API's place."""

    NAME = "standin"
    PREFIX = ""
    FAULT_KINDS = ()
    CONTROLS = {}

    def __init__(self):
        self._lock = threading.RLock()
        self._faults = []
        self._log = []
        self._closing = threading.Event()
        self._httpd = self._thread = self.url = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} {self.url or 'not serving'}>"

    def serve(self, host="127.0.0.1", port=0):
        """Serve from a daemon thread; returns the base URL ``http://host:port<PREFIX>``."""
        if self._httpd is not None:
            raise RuntimeError(f"already serving {self.url}")
        self._closing.clear()
        self._httpd = ApiServer((host, port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name=self.NAME, daemon=True
        )
        self._thread.start()
        self.url = f"http://{host}:{self._httpd.server_address[1]}{self.PREFIX}"
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

    def inject(self, kind, times=1, path=None, hang=30.0, method=None):
        """Give the next ``times`` requests whose path (after PREFIX) starts with ``path``
        (None: any), of ``method`` (None: any), the fault ``kind`` (one of FAULT_KINDS)."""
        if kind not in self.FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(self.FAULT_KINDS)})")
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"times must be a positive integer, not {times!r}")
        if self.PREFIX and path is not None and path.startswith(self.PREFIX + "/"):
            path = path[len(self.PREFIX) :]
        fault = {"kind": kind, "times": times, "path": path, "hang": non_negative(hang, "hang")}
        with self._lock:
            self._faults.append(dict(fault, method=method))

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def requests(self):
        """Every request so far: ``[{"method", "path", "status", "time"}]`` (status None
        when reset or not answered yet); never headers, never bodies."""
        with self._lock:
            return [dict(entry) for entry in self._log]

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
        if not path.startswith(self.PREFIX + "/"):
            return self._not_found(), None
        api_path = path[len(self.PREFIX) :]
        fault = self._take_fault(method, api_path)
        kind = fault["kind"] if fault else None
        if kind == "timeout":
            self._closing.wait(fault["hang"])
        elif kind == "truncated_json":
            return truncated(self._api(method, api_path, authorization, body)), kind
        elif kind:
            return self._fault_answer(kind, api_path), kind
        return self._api(method, api_path, authorization, body), kind

    def _take_fault(self, method, api_path):
        with self._lock:
            for fault in self._faults:
                if fault["method"] not in (None, method):
                    continue
                if fault["path"] is None or api_path.startswith(fault["path"]):
                    fault["times"] -= 1
                    if fault["times"] == 0:
                        self._faults.remove(fault)
                    return fault
        return None


class ApiServer(http.server.ThreadingHTTPServer):
    """The API's HTTP server; remembers open connections so that close() can end them."""

    daemon_threads = True

    def __init__(self, address, standin):
        self.standin = standin
        self.connections = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, ApiHandler)

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


class ApiHandler(http.server.BaseHTTPRequestHandler):
    """Hands each request to ``standin.handle``; logs nothing of its own (no headers)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
    timeout = 300  # an idle keep-alive connection is dropped after this
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def version_string(self):
        return self.server.standin.NAME

    def do_GET(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        path = urllib.parse.urlsplit(self.path).path
        answer = self.server.standin.handle(self.command, path, self.headers.get("Authorization"), body)
        if answer.reset:  # a TCP reset and no answer at all
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
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

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_request(self, code="-", size="-"):
        pass  # Served.handle logs method, path and status

    def log_message(self, format, *args):
        log.debug("http: " + format, *args)
