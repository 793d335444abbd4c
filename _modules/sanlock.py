"""
sanlock: the lockspaces this host joined and who holds each disk lease (F14, B3).

libvirt's sanlock plugin keeps one lease file per guest disk in the lease
directory on the shared ``sanlock`` volume. ``leases`` reads those files with
``sanlock direct dump`` and reports, for each, whether it is held and by
which host id, as every host sees the same files. ``status`` is this host's
own view (``sanlock client status``). The parsers are plain functions of the
command output, unit-tested on outputs captured from the lab.
"""

import logging
import os
import shutil

try:
    from salt.exceptions import CommandExecutionError
except ImportError:
    CommandExecutionError = RuntimeError

log = logging.getLogger(__name__)

__virtualname__ = "sanlock"
LEASE_DIR = "/var/lib/libvirt/sanlock"
LOCKSPACE_FILE = "__LIBVIRT__DISKS__"


def __virtual__():
    if shutil.which("sanlock") is None:
        return (False, "the sanlock command is not installed (package sanlock)")
    return __virtualname__


def parse_client_status(text):
    """``sanlock client status``: the daemon, joined lockspaces, held resources."""
    out = {"daemon": None, "lockspaces": [], "resources": []}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "daemon":
            out["daemon"] = rest.strip()
        elif kind == "s":
            name, host_id, path, offset = rest.strip().split(":")[:4]
            out["lockspaces"].append(
                {"name": name, "host_id": int(host_id), "path": path, "offset": int(offset)}
            )
        elif kind == "r":
            spec, _, pid = rest.partition(" p ")
            lockspace, name, path, offset, lver = spec.strip().split(":")[:5]
            out["resources"].append(
                {
                    "lockspace": lockspace,
                    "name": name,
                    "path": path,
                    "offset": int(offset),
                    "lver": int(lver),
                    "pid": int(pid) if pid.strip().isdigit() else None,
                }
            )
    return out


def parse_direct_dump(text):
    """``sanlock direct dump FILE``: one row per lease (timestamp 0: not held)."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        rows.append(
            {
                "offset": int(fields[0]),
                "lockspace": fields[1],
                "resource": fields[2],
                "timestamp": int(fields[3]),
                "owner": int(fields[4]),
                "generation": int(fields[5]),
                "held": int(fields[3]) != 0,
            }
        )
    return rows


def _run(*args):
    ret = __salt__["cmd.run_all"](["sanlock", *args], python_shell=False, ignore_retcode=True)
    if ret["retcode"] != 0:
        raise CommandExecutionError(f"sanlock {' '.join(args)}: {(ret['stderr'] or ret['stdout']).strip()}")
    return ret["stdout"]


def status():
    """
    This host's sanlock daemon: the lockspaces it joined (with its host id) and
    the resources (disk leases) its processes hold.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' sanlock.status
    """
    return parse_client_status(_run("client", "status"))


def leases(lease_dir=LEASE_DIR):
    """
    Every disk lease in ``lease_dir``: held or not, and the owner's host id.

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.leases
    """
    out = {}
    for name in sorted(os.listdir(lease_dir)):
        if name == LOCKSPACE_FILE or name.startswith("."):
            continue
        for row in parse_direct_dump(_run("direct", "dump", os.path.join(lease_dir, name))):
            out[row["resource"]] = {
                "held": row["held"],
                "owner_host_id": row["owner"],
                "generation": row["generation"],
            }
    return out


def hosts(lease_dir=LEASE_DIR):
    """
    The hosts registered in the disk lockspace, by host id, with their last
    renewal timestamp (a host whose timestamp stops moving is gone).

    CLI Example:

    .. code-block:: bash

        salt hyp1 sanlock.hosts
    """
    rows = parse_direct_dump(_run("direct", "dump", os.path.join(lease_dir, LOCKSPACE_FILE)))
    return {row["owner"]: {"name": row["resource"], "timestamp": row["timestamp"]} for row in rows}
