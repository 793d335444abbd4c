"""
hv_failover_plan: which failover IPs follow which guest, and to which host
(F21 with F25, B2): after an evacuation, the IPs routed to this host go where
their guests went; after an undrain, the IPs of the guests back here and this
host's own come back. Plain Python: the decisions, and the two calls that ask
the provider's API where the IPs are routed and move them (``online``, through
the ``salt`` functions the guests module hands in).
"""


def guest_of_ip(hv):
    """``{failover ip: guest}`` from the guests' ``failover_ips``."""
    return {ip: name for name, guest in hv["guests"].items() for ip in guest["failover_ips"]}


def after_evacuation(hv, routed, results, host):
    """``{destination: [ips]}`` for the cluster failover IPs in ``routed`` (those the API
    routes to this host): to the host a guest migrated to; of no guest, or of a saved
    one: to ``host`` (None: staying); of a guest still running here: staying (not listed)."""
    owners = guest_of_ip(hv)
    wanted = {}
    for ip in routed:
        if ip not in hv["failover"]["ips"]:
            continue  # not a cluster failover IP: not ours to move
        outcome = results.get(owners.get(ip), {})
        if outcome.get("outcome") == "running":
            continue  # its guest is still here: the IP stays
        dest = outcome.get("host", host) if outcome.get("outcome") == "migrated" else host
        if dest is not None:  # None: no host took guests; the IP stays until one does
            wanted.setdefault(dest, []).append(ip)
    return wanted


def back_home(hv, routed, results, runs_nowhere):
    """The IPs to route to this host, sorted, not in ``routed`` already: those of the
    guests now running here (``results``), and this host's own (its pillar
    ``failover_ips``) unless their guest runs on another host (``runs_nowhere(name)``)."""
    me = hv["me"]["name"]
    owners = guest_of_ip(hv)
    here = {name for name, result in results.items() if result.get("host") == me}
    wanted = {ip for name in here for ip in hv["guests"][name]["failover_ips"]}
    for ip, home in hv["failover"]["ips"].items():
        owner = owners.get(ip)
        if home == me and (owner is None or owner in here or runs_nowhere(owner)):
            wanted.add(ip)
    return sorted(wanted - set(routed))


def routed_to(salt, host):
    """(the failover IPs the API routes to ``host``, None) or ([], why they are unknown)."""
    try:
        return salt["online.server_info"](host)["failover_ips"], None
    except Exception as exc:  # the guests have moved; the IPs' failure is reported, not raised
        return [], f"the provider's API cannot say which failover IPs {host} has: {exc}"


def move(salt, wanted):
    """``{host: [ips]}``: one confirmed move per destination (online.failover_move)."""
    moved, failed = {}, {}
    for dest, ips in sorted(wanted.items()):
        ret = salt["online.failover_move"](",".join(ips), dest, wait=True)
        for ip in ips:
            if ret.get("result"):
                moved[ip] = dest
            else:
                failed[ip] = ret.get("comment")
    return {"moved": moved, "failed": failed, "comment": ""}
