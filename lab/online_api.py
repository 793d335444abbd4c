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
(the state, controls), ``online_api_endpoints`` (what each call answers), and the
modules shared with the Robot stand-in (lab/robot_api.py): ``standin_http`` (the HTTP
server, faults, requests log), ``standin_answers`` and ``standin_control`` (the control socket, the process
mode). Control routes: standin_control's, and ``POST /delay {"seconds"}``.
"""

import json
import sys

from . import standin_control
from .online_api_answers import (
    API_PREFIX,
    FAULT_ERRORS,
    FAULT_KINDS,
    INVALID_TOKEN,
    MAC_TYPES,
    RESCUE_IMAGES,
    error_answer,
    fault_answer,
    new_power,
    server_mac,
    server_record,
    split_sources,
    unauthorized,
)
from .online_api_standin import StandIn
from .standin_answers import HTML_PAGE, Answer, check_ip, json_answer, parse_form, truncated
from .standin_control import ControlError, bind_control, control

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

PROG = "online_api"


def parse_args(argv=None):
    return standin_control.parse_args(
        PROG,
        "Stand-in for the Online.net API (failover IPs, fencing).",
        "--token-file",
        "file holding the API token",
        'JSON: {"servers", "failovers", "delay", "spacing", "rescue_images"}',
        argv,
    )


def parse_listen(value):
    return standin_control.parse_listen(value, PROG)


def read_token(path):
    return standin_control.read_secret(path, PROG, "token")


def main(argv=None):
    args = parse_args(argv)

    def build():
        with open(args.config, encoding="utf-8") as f:
            return StandIn.from_config(json.load(f), read_token(args.token_file))

    return standin_control.run(PROG, args.listen, args.control, build)


if __name__ == "__main__":
    sys.exit(main())
