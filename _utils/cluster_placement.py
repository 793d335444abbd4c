"""
cluster_placement: the status view's placement (B8): each host's room for
guests (from the capacity its keeper publishes, under the pillar's
``placement`` limits) and where each of its guests would go on a drain (the
same plan an evacuation makes, hv_placement's, over the hosts that take guests
now). Plain Python: ``cluster_view`` calls it with what it already read.
"""

import hv_placement

RUNNING = "running"


def _running(record):
    """The cluster's guests a keeper record shows running on its host."""
    guests = (record or {}).get("guests") or {}
    return sorted(name for name, entry in guests.items() if (entry or {}).get("state") == RUNNING)


def _size(guests_config, name):
    guest = guests_config.get(name) or {}
    return {
        "memory": guest.get("memory", 0),
        "vcpus": guest.get("vcpus", 1),
        "anti_affinity": guest.get("anti_affinity"),
    }


def view(records, carriers, guests_config, settings):
    """``{host: {"room": {"memory", "vcpus"} or None (capacity not published), "drained",
    "running", "on_drain": {"targets": {guest: host}, "unplaced": {guest: why}}}}`` for
    each host that carries guests (``carriers``); ``records``: the keepers' records."""
    rooms = {h: hv_placement.room((records.get(h) or {}).get("capacity"), settings) for h in carriers}
    drained = {h: bool((records.get(h) or {}).get("drained")) for h in carriers}
    running = {h: _running(records.get(h)) for h in carriers}
    out = {}
    for host in carriers:
        others = {h: rooms[h] for h in carriers if h != host and not drained[h]}
        groups = {h: {_size(guests_config, n)["anti_affinity"] for n in running[h]} - {None} for h in others}
        guests = {name: _size(guests_config, name) for name in running[host]}
        out[host] = {
            "room": rooms[host],
            "drained": drained[host],
            "running": running[host],
            "on_drain": hv_placement.plan(guests, others, groups),
        }
    return out


def rows(placement):
    """The table's rows: host, free memory, free vCPUs, where a drain sends each guest."""
    out = []
    for host, entry in sorted(placement.items()):
        room = entry["room"]
        drain = entry["on_drain"]
        moves = [f"{name}>{target}" for name, target in sorted(drain["targets"].items())]
        moves += [f"{name}: fits nowhere" for name in sorted(drain["unplaced"])]
        out.append(
            [
                host,
                f"{room['memory']} MiB" if room else "unknown",
                str(room["vcpus"]) if room else "unknown",
                ", ".join(moves) or "-",
            ]
        )
    return out
