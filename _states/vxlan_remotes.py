"""
F19, B8: a VXLAN link of the guest bridges sends to the cluster's other hosts only.

.. code-block:: yaml

    network-networkd-tunnel-wan-remotes:
      vxlan_remotes.only:
        - name: vxwan
        - remotes: [198.51.100.12, 198.51.100.13]

systemd-networkd adds the flood entries its ``.network`` file lists (an all-zero
MAC toward each remote) but keeps, on ``networkctl reload``, the ones the file no
longer lists. A host removed from the cluster would go on receiving every broadcast
and unknown frame of the guest bridges (its address may be another customer's
server tomorrow). This state deletes each forwarding entry of the link whose
destination is not one of ``remotes``: the stale flood entry, and the guest MACs
learned behind that host. A link that does not exist yet has nothing to remove.
"""

import json

from salt.exceptions import CommandExecutionError

__virtualname__ = "vxlan_remotes"


def __virtual__():
    return __virtualname__


def _entries(name):
    """The link's forwarding entries that have a destination: ``[(mac, dst)]``; None
    when there is no such link."""
    if __salt__["cmd.retcode"](["ip", "link", "show", "dev", name], python_shell=False, ignore_retcode=True):
        return None
    out = __salt__["cmd.run_all"](["bridge", "-j", "fdb", "show", "dev", name], python_shell=False)
    if out["retcode"] != 0:
        raise CommandExecutionError(f"bridge fdb show dev {name}: {out['stderr'].strip()}")
    try:
        rows = json.loads(out["stdout"] or "[]")
    except ValueError as exc:
        raise CommandExecutionError(f"bridge fdb show dev {name}: not JSON ({exc})") from exc
    return [(row["mac"], row["dst"]) for row in rows if row.get("dst") and row.get("mac")]


def only(name, remotes):
    """Delete every forwarding entry of the VXLAN link ``name`` toward an address
    that is not in ``remotes``."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    wanted = set(remotes)
    try:
        entries = _entries(name)
    except CommandExecutionError as exc:
        return dict(ret, result=False, comment=str(exc))
    if entries is None:
        return dict(ret, comment=f"{name} does not exist (yet): nothing to remove")
    stale = sorted({(mac, dst) for mac, dst in entries if dst not in wanted})
    if not stale:
        return dict(ret, comment=f"{name} sends to {', '.join(sorted(wanted)) or 'no host'} only")
    gone = sorted({dst for _mac, dst in stale})
    ret["changes"] = {"removed": [f"{mac} dst {dst}" for mac, dst in stale]}
    if __opts__["test"]:
        return dict(ret, result=None, comment=f"would stop {name} sending to {', '.join(gone)}")
    removed, failed = [], []
    for mac, dst in stale:
        cmd = ["bridge", "fdb", "del", mac, "dev", name, "dst", dst, "self"]
        out = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True)
        # A learned entry may age out between the look and the delete.
        if out["retcode"] == 0 or (mac, dst) not in set(_entries(name) or []):
            removed.append(f"{mac} dst {dst}")
        else:
            failed.append(f"{mac} dst {dst}: {out['stderr'].strip()}")
    ret["changes"] = {"removed": removed} if removed else {}
    if failed:
        return dict(ret, result=False, comment=f"{name}: could not remove {'; '.join(failed)}")
    return dict(ret, comment=f"{name} no longer sends to {', '.join(gone)}")
