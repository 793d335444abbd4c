"""The stand-in API's HTTP plumbing (lab/online_api.py): a threading server that
can end its open connections, and a handler that hands each request to
``StandIn.handle``."""

import contextlib
import http.server
import logging
import socket
import socketserver
import struct
import threading
import urllib.parse

log = logging.getLogger("lab.online_api")


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
