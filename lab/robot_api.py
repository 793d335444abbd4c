"""A stand-in for the Hetzner Robot webservice (B7): the calls the cluster makes
(servers, failover IPs, rescue boot, reset), over real HTTP, with the faults the
real one gives. What it cannot prove about the real Robot: docs/hetzner.md.

- ``GET /server/<number>``, ``GET /failover``, ``GET|POST|DELETE /failover/<ip>``
  (``active_server_ip=<main ip>``; DELETE un-routes), ``GET|POST|DELETE
  /boot/<number>/rescue`` (``os=linux|vkvm``), ``GET|POST /reset/<number>``
  (``type=sw|hw|man``, as the server offers): each server's rescue system, what it
  booted last and its resets are in ``state()["power"]`` (nothing really reboots).
- HTTP basic auth; a failed login answers 401 ``UNAUTHORIZED``; after
  ``block_after`` failed logins the caller is blocked: every request answers 403
  ``BLOCKED`` (the real Robot blocks the address for a while).
- Errors as ``{"error": {"status", "code", "message"}}``.
- A failover switch answers once the route is switched (``switch_time`` s); a
  second switch of that IP meanwhile is 409 ``FAILOVER_LOCKED``; more than
  ``switch_limit`` switches within ``switch_window`` s is 403 ``RATE_LIMIT_EXCEEDED``.
- Faults for the next requests (``inject``): ``401``, ``rate_limit``, ``locked``,
  ``500``, ``503``, ``html``, ``timeout`` (a slow answer), ``reset``,
  ``invalid_json``, ``truncated_json``, ``empty``, ``shape``.

In-process (unit tests)::

    robot = RobotStandIn({321: {"public": "198.51.100.21", "name": "hyp1"}}, {}, user, password)
    url = robot.serve()                # "http://127.0.0.1:<port>"

As a process (the lab)::

    python -m lab.robot_api --listen 203.0.113.1:8081 --config robot.json \\
        --credentials-file credentials.json --control /run/robot-api.sock

The credentials file (``{"user", "password"}``, root-only) is never on the command
line; neither they nor the Authorization header are ever logged. Control routes
(lab/standin_control.py): its shared ones, and ``POST /unblock``, ``GET /limits``,
``POST /limits {"switch_time", "switch_limit", "switch_window", "block_after",
"reset_types"}`` (any of them). The rest: ``robot_api_standin`` (state, controls),
``robot_api_endpoints`` (what each call answers), ``standin_http`` (serving),
``standin_answers``.
"""

import json
import sys

from . import standin_control
from .robot_api_endpoints import FAULT_KINDS, RESCUE_OS, RESET_TYPES, robot_error
from .robot_api_standin import LIMITS, RobotStandIn
from .standin_control import ControlError, control

__all__ = [
    "FAULT_KINDS",
    "LIMITS",
    "RESCUE_OS",
    "RESET_TYPES",
    "ControlError",
    "RobotStandIn",
    "control",
    "main",
    "parse_args",
    "read_credentials",
    "robot_error",
]

PROG = "robot_api"


def parse_args(argv=None):
    return standin_control.parse_args(
        PROG,
        "Stand-in for the Hetzner Robot webservice (failover IPs, rescue, reset).",
        "--credentials-file",
        'root-only JSON file: {"user", "password"} of the webservice',
        'JSON: {"servers": {number: {"server_ip", "hostname"}}, "failovers": {ip: {"server_ip",'
        ' "active_server_ip"}}, and any of ' + ", ".join(f'"{key}"' for key in LIMITS) + "}",
        argv,
    )


def read_credentials(path):
    """``(user, password)`` from the credentials file; a message never shows them."""
    try:
        data = json.loads(standin_control.read_secret(path, PROG, "credentials"))
    except ValueError:
        raise SystemExit(f"{PROG}: the credentials file {path} is not JSON") from None
    user, password = (data.get(key) if isinstance(data, dict) else None for key in ("user", "password"))
    if not (isinstance(user, str) and user.strip() and isinstance(password, str) and password.strip()):
        raise SystemExit(f"{PROG}: the credentials file {path} holds no user and password")
    return user, password


def main(argv=None):
    args = parse_args(argv)

    def build():
        with open(args.config, encoding="utf-8") as f:
            return RobotStandIn.from_config(json.load(f), *read_credentials(args.credentials_file))

    return standin_control.run(PROG, args.listen, args.control, build)


if __name__ == "__main__":
    sys.exit(main())
