"""The lab's webhook stand-in: where the master's alerts engine (_engines/hv_alerts.py)
sends the alerts, as a chat or paging service would receive them.

A process in the master's namespace (``python -m lab.webhook --listen HOST:PORT --log
FILE``), on the namespace's loopback: only the master reaches it. Each POST is
answered 200 and appended to FILE (root's alone) as one JSON line: ``time``, ``path``,
``headers``, ``body`` (the JSON sent, or the text when it is not JSON). The tests read
that file (:func:`received`) to find what reached a person, and look for the token
nowhere but in the header it is sent in.

The alerts part of the master's pillar (``alerts.sls``, for the nodegroup
``alerts_master`` alone: pillar/top.sls) is written by :func:`configure` into the
lab's secret pillar directory, with a token made at each boot: the repository's own
``pillar/alerts.sls`` holds no alerts settings.
"""

import argparse
import http.server
import json
import os
import secrets
import subprocess
import sys
import time

import yaml

from . import provider, system
from .topology import REPO, STATE

PORT = 8090
ADDRESS = f"127.0.0.1:{PORT}"  # the master's namespace's loopback
PATH = "/hooks/hvlab"
HOME = STATE / "webhook"
LOG = HOME / "received.jsonl"
PID_FILE = HOME / "webhook.pid"
TOKEN_FILE = HOME / "token"
ALERTS_PILLAR = provider.SECRET_PILLAR / "alerts.sls"
# The rate limit: BURST alerts at once, then one per PER seconds (the lab's tests make
# many events an hour: the bucket refills in a minute); the same alert once in DEDUP s;
# the status checks every 5 minutes, to spare the lab's two cores.
BURST, PER, DEDUP, CHECK = 20, 3, 30, 300


def settings(token):
    """The master's ``alerts:`` pillar for the lab: the stand-in, its token, the limits."""
    return {
        "alerts": {
            "label": "hvlab",
            "rate": {"burst": BURST, "per_seconds": PER},
            "dedup_seconds": DEDUP,
            "check_interval": CHECK,
            "webhook": {"url": f"http://{ADDRESS}{PATH}", "token": token, "allow_http": True},
        }
    }


def configure():
    """A fresh token, and the alerts pillar naming the stand-in (both root's alone)."""
    token = "hvlab-hook-" + secrets.token_hex(16)
    provider.private_file(TOKEN_FILE, token + "\n")
    provider.private_file(ALERTS_PILLAR, yaml.safe_dump(settings(token)))
    return token


def token():
    return TOKEN_FILE.read_text().strip()


def start():
    """Start the stand-in in the master's namespace (the log emptied); its PID."""
    HOME.mkdir(mode=0o700, parents=True, exist_ok=True)
    provider.private_file(LOG, "")
    with open(HOME / "webhook.out", "w") as out:
        proc = subprocess.Popen(
            [*provider.NETNS_EXEC, sys.executable, "-m", "lab.webhook", "--listen", ADDRESS, "--log", LOG],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    PID_FILE.write_text(f"{proc.pid}\n")
    get = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"
    probe = [*provider.NETNS_EXEC, sys.executable, "-c", get, f"http://{ADDRESS}/"]
    system.wait_for(
        lambda: (
            proc.poll() is None and subprocess.run(probe, check=False, capture_output=True).returncode == 0
        ),
        20,
        interval=0.2,
        what="the webhook stand-in",
    )
    return proc.pid


def pid():
    return system.read_pid(PID_FILE)


def stop():
    system.stop_pid_file(PID_FILE)


def received(since=0.0):
    """The POSTs received at or after ``since`` (``time.time()``), oldest first."""
    try:
        lines = LOG.read_text().splitlines()
    except FileNotFoundError:
        return []
    posts = [json.loads(line) for line in lines if line.strip()]
    return [p for p in posts if p["time"] >= since]


def _handler(log_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # the readiness probe
            self._answer(200, b"{}")

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            entry = {"time": time.time(), "path": self.path, "headers": dict(self.headers), "body": body}
            with open(log_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
            self._answer(200, b'{"ok": true}')

        def _answer(self, status, data):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default=ADDRESS, help="HOST:PORT to serve on")
    parser.add_argument("--log", required=True, help="the file each POST is appended to")
    args = parser.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)
    os.umask(0o077)
    server = http.server.ThreadingHTTPServer((host, int(port)), _handler(args.log))
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
