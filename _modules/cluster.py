"""
cluster: the cluster's status as one view (B3).

``local`` is this host's part: its guests, drain mark, the save files, its
sanlock readiness, the failover IPs it answers for, its quorum and how its
sanlock sees the other hosts' leases (``takeover``); ``publish`` sends it to
the mine as ``hv_status``. ``shared`` reads what any host sees for all:
gluster peers and volumes (heal and split-brain counts), the sanlock
lockspace's hosts, the provider's failover routing and the last takeover
incidents. The arbiter has no libvirt, sanlock or takeover: it reports none
of those parts (None), never an error for them. ``status`` puts this
host's part, the others' from the mine (with their age) and the shared facts
together (``_utils/cluster_view.py``), printed as a table by the ``hv_status``
outputter (``--out=json`` for the data). ``salt-run cluster.status`` asks every
host live instead.

Each part is guarded: a failure becomes ``{"error": "..."}`` in its place,
never a traceback. A part whose module this host does not have loaded at all
(``takeover``) is None. The hosts, their roles and the guests come from the
validated settings (``hypervisor_pillar``).
"""

import logging

import cluster_view
import hv_runtime
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "cluster"
__outputter__ = {"status": "hv_status"}
MINE_NAME = hv_runtime.MINE_NAME
INCIDENTS = 10  # the newest takeover incidents shared() reports
LOCAL_PARTS = ("drained", "guests", "saved", "sanlock", "proxyarp", "quorum", "sanlock_hosts", "keeper")


def __virtual__():
    return __virtualname__


def _call(fun, *args, **kwargs):
    """``__salt__[fun](...)``; a function this host does not have is an error of its own."""
    try:
        func = __salt__[fun]
    except KeyError:
        raise CommandExecutionError(f"{fun} is not available here (saltutil.sync_modules)") from None
    return func(*args, **kwargs)


def _part(func, *args):
    """``func(*args)``, or ``{"error": ...}`` when it fails."""
    try:
        return func(*args)
    except Exception as exc:  # one part's failure is that part's error, never the view's
        log.warning("cluster: %s: %s", args[0] if func is _call else func.__name__.lstrip("_"), exc)
        return {"error": str(exc) or type(exc).__name__}


def _carries_guests():
    """Whether this host carries guests: every host but the arbiter, which has no
    libvirt, sanlock or takeover (``hypervisor_pillar.role``: with an invalid pillar,
    a hypervisor, whose parts then say what fails)."""
    return _call("hypervisor_pillar.role") != "arbiter"


def _loaded(fun):
    """Whether this host has ``fun`` loaded (a module a host may lack: takeover)."""
    return fun in __salt__


def _guests():
    return {name: info["state"] for name, info in _call("guests.list_local").items()}


def _saved():
    return sorted(_call("guests.saved"))


def _sanlock():
    state = _call("sanlock.status")
    return {
        "can_take_guests": state["can_take_guests"],
        "reason": state["reason"],
        "lockspaces": [ls["name"] for ls in state["lockspaces"]],
        "leases_held": sorted(r["name"] for r in state["resources"]),
    }


def _peers():
    return [
        {"hostname": p["hostname"], "connected": p["connected"], "state": p["state"]}
        for p in _call("gluster.peer_status")
    ]


def _incidents():
    return list(_call("takeover.incidents"))[:INCIDENTS]


def _entries(bricks):
    return sum(brick["entries"] for brick in bricks)


def _heal(name):
    return {
        "heal_entries": _entries(_call("gluster.heal_info", name)),
        "split_brain": _entries(_call("gluster.split_brain", name)),
    }


def _volumes():
    return {
        name: {"status": info["status"], **_part(_heal, name)}
        for name, info in sorted(_call("gluster.volume_info").items())
    }


def local():
    """
    This host's part of the cluster view: ``{"host", "time", "drained"
    (guests.drained), "guests" ({name: libvirt state}), "saved" (guests with
    a save file), "sanlock" ({"can_take_guests", "reason", "lockspaces",
    "leases_held"}), "proxyarp" (failover IPs answered here), "quorum"
    (takeover.quorum: ``{"quorum", "connected", "of", "lockspace", "reason"}``),
    "sanlock_hosts" (takeover.peers: the other hosts' leases as this host's
    sanlock sees them, ``{host: {"host_id", "generation", "state", "silent"}}``),
    "keeper" (keeper.status: the guests this host keeps, down or left down, and
    what its keeper does about them)}``;
    a part that fails is ``{"error": ...}``; on the arbiter every part but
    ``host`` and ``time`` is None, and so are ``quorum`` and ``sanlock_hosts``
    where the takeover module is not loaded. Published to the mine as ``hv_status``.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors cluster.local
    """
    part = {"host": __grains__["id"], "time": hv_runtime.now()}
    if not _carries_guests():
        return dict(part, **dict.fromkeys(LOCAL_PARTS))
    takeover = _loaded("takeover.quorum")
    return dict(
        part,
        drained=_part(_call, "guests.drained"),
        guests=_part(_guests),
        saved=_part(_saved),
        sanlock=_part(_sanlock),
        proxyarp=_part(_call, "online.proxyarp_ips"),
        quorum=_part(_call, "takeover.quorum") if takeover else None,
        sanlock_hosts=_part(_call, "takeover.peers") if takeover else None,
        keeper=_part(_call, "keeper.status") if _loaded("keeper.status") else None,
    )


def shared():
    """
    What this host reads for the whole cluster: ``{"host", "time", "peers"
    ([{"hostname", "connected", "state"}]), "volumes" ({name: {"status",
    "heal_entries", "split_brain"}}), "lockspace" (sanlock.hosts), "failover"
    (online.failover_status), "incidents" (the newest 10 of takeover.incidents,
    newest first), "keeper" ({"records": every host's published keeper record,
    "stop_marks": the guests a person keeps down})}``; a part that fails is
    ``{"error": ...}``. On the arbiter (no sanlock, no incidents volume)
    ``lockspace``, ``incidents`` and ``keeper`` are None, and so is a part whose
    module is not loaded.

    CLI Example:

    .. code-block:: bash

        salt hyp1 cluster.shared
    """
    guests_here = _carries_guests()
    return {
        "host": __grains__["id"],
        "time": hv_runtime.now(),
        "peers": _part(_peers),
        "volumes": _part(_volumes),
        "lockspace": _part(_call, "sanlock.hosts") if guests_here else None,
        "failover": _part(_call, "online.failover_status"),
        "incidents": _part(_incidents) if guests_here and _loaded("takeover.incidents") else None,
        "keeper": _part(_keeper) if guests_here and _loaded("keeper.records") else None,
    }


def _keeper():
    return {"records": _call("keeper.records"), "stop_marks": _call("keeper.stop_marks")}


def publish():
    """
    Send this host's part (``cluster.local``) to the mine as ``hv_status``,
    for ``cluster.status`` on the other hosts. Returns what mine.send returned.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors cluster.publish
    """
    return hv_runtime.publish(__salt__)


def status():
    """
    The cluster as this host sees it: its own part live, the other hosts'
    from the mine (``hv_status``, marked ``"source": "mine"`` with their age;
    a host with nothing there counts as not answering), and the shared facts.
    Returns ``{"hosts", "peers", "volumes", "lockspace", "failover", "guests",
    "incidents", "problems"}`` (see ``_utils/cluster_view.py``), printed as a table.

    CLI Example:

    .. code-block:: bash

        salt hyp1 cluster.status
        salt hyp1 cluster.status --out=json
    """
    hv = _call("hypervisor_pillar.settings")
    me = __grains__["id"]
    others = sorted(name for name in hv["hosts"] if name != me)
    parts = {}
    if others:
        try:
            found = _call("mine.get", others, MINE_NAME, tgt_type="list") or {}
        except Exception as exc:  # the others then show as not answering
            log.warning("cluster: mine.get %s: %s", MINE_NAME, exc)
            found = {}
        parts = {name: dict(part, source="mine") for name, part in found.items() if isinstance(part, dict)}
    parts[me] = local()
    return cluster_view.assemble(parts, shared(), cluster_view.hosts_config(hv), hv["guests"])
