"""A stand-in for the Online.net / Scaleway Dedibox API (its failover IP and fencing parts).

The real API (``https://api.online.net/api/v1``; what the code relies on: docs/failover-ips.md) cannot be
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

This file is the process mode and the names the lab and the tests import; the rest is
in ``online_api_answers`` (constants, answers, input checks), ``online_api_standin``
(the state, controls, requests), ``online_api_endpoints`` (what each call answers),
``online_api_http`` (the HTTP server) and ``online_api_control`` (the control socket).
"""

import argparse
import contextlib
import json
import logging
import os
import signal
import sys

from .online_api_answers import (
    API_PREFIX,
    FAULT_ERRORS,
    FAULT_KINDS,
    HTML_PAGE,
    INVALID_TOKEN,
    MAC_TYPES,
    RESCUE_IMAGES,
    Answer,
    check_ip,
    error_answer,
    fault_answer,
    json_answer,
    new_power,
    parse_form,
    server_mac,
    server_record,
    split_sources,
    truncated,
    unauthorized,
)
from .online_api_control import ControlError, bind_control, control
from .online_api_standin import StandIn

__all__ = [
    "API_PREFIX",
    "FAULT_ERRORS",
    "FAULT_KINDS",
    "HTML_PAGE",
    "INVALID_TOKEN",
    "MAC_TYPES",
    "RESCUE_IMAGES",
    "Answer",
    "ControlError",
    "StandIn",
    "bind_control",
    "check_ip",
    "control",
    "error_answer",
    "fault_answer",
    "json_answer",
    "main",
    "new_power",
    "parse_args",
    "parse_form",
    "parse_listen",
    "read_token",
    "server_mac",
    "server_record",
    "split_sources",
    "truncated",
    "unauthorized",
]

log = logging.getLogger("lab.online_api")


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
