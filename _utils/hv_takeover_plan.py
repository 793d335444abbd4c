"""
hv_takeover_plan: who starts which of a dead host's guests (B8), and where their
failover IPs go. Plain Python, no I/O: the takeover module reads the leases, the
hosts' room and the incident, and acts on what these functions decide.

The host that opens the incident assigns each guest to a survivor by room
(hv_placement: largest first onto the roomiest host, anti-affinity groups apart)
and writes the assignment into the incident before any start. Each survivor
starts its own share at its next look; the opener starts a share left alone
past ``ASSIGNEE_GRACE`` seconds. A guest that fits nowhere is reported, never
started. sanlock's disk leases still forbid two runs, whatever any host decides.
"""

import hv_placement

ASSIGNEE_GRACE = 20  # seconds: then the opener starts a share its survivor has not started


def survivors(me, peers, records):
    """The hosts that may take guests: this one and every other whose sanlock lease is
    live, but those drained or held by their published keeper record."""
    live = [me] + [host for host, row in sorted(peers.items()) if row.get("state") == "live"]
    return [host for host in live if not (records.get(host) or {}).get("drained")]


def assign(orphans, guests, rooms, groups):
    """``{"assigned": {guest: host}, "unplaced": {guest: why}}`` for the dead host's
    ``orphans``, by each survivor's ``rooms`` (hv_placement.room) and the anti-affinity
    ``groups`` running there; ``guests``: the pillar's (memory, vcpus, anti_affinity)."""
    wanted = {  # (a settings copy older than placement has no sizes: they fit anywhere)
        name: {
            "memory": guests[name].get("memory", 0),
            "vcpus": guests[name].get("vcpus", 1),
            "anti_affinity": guests[name].get("anti_affinity"),
        }
        for name in orphans
    }
    placed = hv_placement.plan(wanted, rooms, groups)
    return {"assigned": placed["targets"], "unplaced": placed["unplaced"]}


def mine(record, me, orphans, waited):
    """The orphans this host starts now: those assigned to it; and, on the host that
    opened the incident, those of another survivor once ``waited`` (seconds since the
    assignment) is past ``ASSIGNEE_GRACE``. Never an unplaced guest."""
    assigned = record.get("assigned") or {}
    opener = record.get("by") == me
    return [
        name
        for name in orphans
        if name in assigned and (assigned[name] == me or (opener and waited >= ASSIGNEE_GRACE))
    ]


def started_elsewhere(record, orphans, owners):
    """``{guest: host}`` for the assigned guests no longer orphans whose disk lease a
    survivor holds now (``owners``: guest -> the host whose id holds its lease)."""
    return {
        name: owners[name]
        for name in record.get("assigned") or {}
        if name not in orphans and name not in record["guests"] and owners.get(name)
    }


def ips_by_host(routed, cluster_ips, guest_of_ip, record, default):
    """``{host: [ips]}``: each failover IP the API routes to the dead host goes to the host
    its guest started on (its home in ``record["guests"]``), an IP of no guest or of a
    guest not started to ``default`` (the opener); IPs outside the cluster are left."""
    out = {}
    for ip in sorted(routed):
        if ip not in cluster_ips:
            continue
        entry = record["guests"].get(guest_of_ip.get(ip)) or {}
        host = entry.get("host") if entry.get("outcome") == "started" else None
        out.setdefault(host or default, []).append(ip)
    return out
