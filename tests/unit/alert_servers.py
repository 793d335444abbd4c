"""Real local servers for the alerts' channels, on 127.0.0.1 in threads: a webhook
(``http.server``) that answers each POST from a script of statuses, and a small SMTP
relay (``socketserver``: EHLO, STARTTLS with a certificate made here, AUTH PLAIN, MAIL,
RCPT, DATA, QUIT) whose connections follow a script too. Python's ``smtpd`` is gone
since 3.12 and aiosmtpd is not in the venv: the relay is written here, on the stdlib."""

import base64
import datetime
import http.server
import ipaddress
import json
import socketserver
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# ---------------------------------------------------------------------- webhook


class Webhook:
    """POSTs received (``requests``: path, headers, body) and the statuses to answer, in
    turn (``script``; then 200)."""

    def __init__(self):
        self.requests = []
        self.script = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
                status = hook.script.pop(0) if hook.script else 200
                answer = json.dumps({"status": status}).encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T00/B00"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self):
        return [json.loads(r["raw"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ certificates


def certificates(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it: ``(ca.pem, server context)``."""
    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, key, signer, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        )
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
            builder = builder.add_extension(usage, critical=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("alerts test CA", "alerts test CA", ca_key, ca_key, True)
    cert = build("127.0.0.1", "alerts test CA", key, ca_key, False)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return ca_file, context


# ------------------------------------------------------------------------- SMTP


class Relay:
    """An SMTP relay on 127.0.0.1: ``messages`` (each ``{"from", "to", "data", "tls",
    "login"}``), ``logins`` (user, password) and ``script``: how each connection goes in
    turn (``"421"``: refused at once, a transient error; ``"550"``: every recipient
    refused; then accepted). With ``tls_context`` it offers STARTTLS, and AUTH only after
    it; without, AUTH in clear."""

    def __init__(self, tls_context=None, user="relay-user", password=None):
        self.messages, self.logins, self.commands, self.script = [], [], [], []
        self.tls_context, self.user, self.password = tls_context, user, password
        relay = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, text):
                self.wfile.write(text.encode() + b"\r\n")

            def handle(self):
                plan = relay.script.pop(0) if relay.script else "ok"
                if plan == "421":
                    self.reply("421 4.3.2 try again later")
                    return
                self.reply("220 127.0.0.1 stand-in ESMTP")
                tls, login, sender, rcpts = False, None, None, []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    command = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = command.split(" ", 1)[0].upper()
                    relay.commands.append(verb)
                    if verb in ("EHLO", "HELO"):
                        lines = ["250-127.0.0.1"]
                        if relay.tls_context and not tls:
                            lines.append("250-STARTTLS")
                        if relay.password and (tls or not relay.tls_context):
                            lines.append("250-AUTH PLAIN")
                        lines.append("250 8BITMIME")
                        self.reply("\r\n".join(lines))
                    elif verb == "STARTTLS" and relay.tls_context and not tls:
                        self.reply("220 2.0.0 go ahead")
                        self.connection = relay.tls_context.wrap_socket(self.connection, server_side=True)
                        self.rfile = self.connection.makefile("rb")
                        self.wfile = self.connection.makefile("wb", buffering=0)
                        tls = True
                    elif verb == "AUTH" and command.upper().startswith("AUTH PLAIN "):
                        _zid, user, password = base64.b64decode(command.split(" ", 2)[2]).decode().split("\0")
                        relay.logins.append((user, password, tls))
                        if (user, password) == (relay.user, relay.password):
                            login = user
                            self.reply("235 2.7.0 accepted")
                        else:
                            self.reply("535 5.7.8 refused")
                    elif verb == "MAIL":
                        sender, rcpts = command[10:].split(" ")[0].strip("<>"), []
                        self.reply("250 2.1.0 ok")
                    elif verb == "RCPT":
                        if plan == "550":
                            self.reply("550 5.1.1 no such user")
                        else:
                            rcpts.append(command[8:].split(" ")[0].strip("<>"))
                            self.reply("250 2.1.5 ok")
                    elif verb == "DATA":
                        self.reply("354 end with .")
                        data = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(chunk)
                        relay.messages.append(
                            {"from": sender, "to": rcpts, "data": b"".join(data), "tls": tls, "login": login}
                        )
                        self.reply("250 2.0.0 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 2.0.0 ok")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 bye")
                        return
                    else:
                        self.reply("502 5.5.1 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
