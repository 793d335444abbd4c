"""
F2: the firewalls that would fight Shorewall, stopped and disabled once
Shorewall is up, without leaving the host open for a moment.

.. code-block:: yaml

    firewall-competing-stopped:
      competing_firewalls.stopped:
        - units: [firewalld, ufw, nftables, iptables, ip6tables, netfilter-persistent]
        - reload:
          - [shorewall, reload, -c]

A plain ``systemctl stop`` would open the host: Debian's nftables.service
runs ``nft flush ruleset``, which also empties Shorewall's tables (iptables-nft
keeps them in nftables), and EL's iptables.service or firewalld clear the
rules the same way. So each unit that runs or is enabled is stopped under a
runtime drop-in that empties its stop commands and kills its processes
outright (a daemon's own clean-up does not run either), then disabled; the
drop-in goes. The nftables tables iptables-nft does not own (a family other
than ip/ip6, or a name other than filter, nat, mangle, raw, security) were
the stopped firewall's: they are deleted, only in a run that stopped one.
Last, ``reload`` (Shorewall's) re-asserts the rules. Units not installed are
skipped.
"""

import json
import os
import shlex

from salt.exceptions import CommandExecutionError

__virtualname__ = "competing_firewalls"
IPTABLES_TABLES = {"filter", "nat", "mangle", "raw", "security"}
DROPIN_DIR = "/run/systemd/system/{}.d"
DROPIN_NAME = "50-hv-stop-without-flush.conf"
DROPIN = """\
# Written by Salt (competing_firewalls.stopped) for one stop, then removed:
# stop without clearing any rules, and without the daemon's own clean-up.
[Service]
ExecStop=
ExecStopPost=
KillSignal=SIGKILL
"""


def __virtual__():
    return __virtualname__


def foreign_tables(listing):
    """The (family, name) of each table in ``nft -j list tables`` output that
    iptables-nft does not own."""
    tables = [item["table"] for item in listing.get("nftables", []) if "table" in item]
    return [
        (table["family"], table["name"])
        for table in tables
        if table["family"] not in ("ip", "ip6") or table["name"] not in IPTABLES_TABLES
    ]


def _run(argv):
    ret = __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True)
    if ret["retcode"] != 0:
        said = (ret["stderr"] or ret["stdout"]).strip() or "no output"
        raise CommandExecutionError(f"`{shlex.join(argv)}` failed (exit code {ret['retcode']}): {said}")
    return ret["stdout"]


def _tables():
    ret = __salt__["cmd.run_all"](["nft", "-j", "list", "tables"], python_shell=False, ignore_retcode=True)
    if ret["retcode"] != 0:  # no nft here (or no nftables): no such tables either
        return []
    return foreign_tables(json.loads(ret["stdout"] or "{}"))


def _unit(name):
    return name if "." in name else f"{name}.service"


def _stop_without_flush(unit):
    directory = DROPIN_DIR.format(unit)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, DROPIN_NAME)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(DROPIN)
    try:
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "stop", unit])
        _run(["systemctl", "disable", unit])
    finally:
        os.unlink(path)
        _run(["systemctl", "daemon-reload"])


def stopped(name, units, reload=None):
    """
    Ensure none of ``units`` runs or is enabled, stopping them without
    clearing any rules; ``reload`` (argument lists) runs after a stop.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        found = [_unit(u) for u in units if __salt__["service.available"](u)]
        busy = [u for u in found if __salt__["service.status"](u) or __salt__["service.enabled"](u)]
        if not busy:
            ret["comment"] = (
                f"no competing firewall runs or is enabled (installed: {', '.join(found) or 'none'})"
            )
            return ret
        if __opts__["test"]:
            tables = [" ".join(t) for t in _tables()]
            ret["result"] = None
            ret["changes"] = {"stopped": busy, "tables_deleted": tables}
            ret["comment"] = (
                f"would stop and disable {', '.join(busy)} without clearing rules, "
                f"delete the nftables tables not iptables-nft's ({', '.join(tables) or 'none'}), then reload"
            )
            return ret
        for unit in busy:
            _stop_without_flush(unit)
        tables = _tables()
        for family, table in tables:
            _run(["nft", "delete", "table", family, table])
        for command in reload or []:
            _run(command)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    ret["changes"] = {"stopped": busy, "tables_deleted": [" ".join(t) for t in tables]}
    ret["comment"] = f"stopped and disabled {', '.join(busy)} without clearing rules; rules reloaded"
    return ret
