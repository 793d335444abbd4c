"""
hv_failover_sync: ``online.sync_failover``'s work (F22, F24): which failover IPs
this host answers ARP for, Shorewall's proxyarp file rewritten to say so,
Shorewall reloaded (the previous file put back when that fails), and a
gratuitous ARP for each IP added.

Plain Python (imported by ``_modules/online.py``); Salt is reached through the
:class:`hv_failover_base.Minion` callbacks it is given.
"""

import logging

import hv_failover_files as files
from hv_failover_base import api, cluster_ips, server_key, sorted_ips
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

RELOAD = ["shorewall", "reload"]
STATUS = ["shorewall", "status"]


def garp_command(template, interface, ip):
    """The gratuitous ARP that tells the upstream router ``ip`` is answered here now:
    ``failover:garp_command`` with ``{ip}`` and ``{interface}`` filled in (empty: none)."""
    return [str(arg).replace("{ip}", ip).replace("{interface}", interface) for arg in template or []]


def wanted(hv, prov):
    """(IPs to answer for, IPs the API routes here the cluster does not list, who says so)."""
    me = hv["me"]
    cluster = set(cluster_ips(hv))
    if prov is None:
        return sorted_ips(me["failover_ips"]), [], "the pillar (no provider: static)"
    if me.get("server_id") is None:
        raise CommandExecutionError(
            f"{me['name']} has no {server_key(hv)} in pillar (hypervisor:hosts:{me['name']}):"
            " cannot ask the provider which failover IPs it routes here"
        )
    routed = set(api(prov, "server", me["server_id"]).failover_ips)
    return sorted_ips(routed & cluster), sorted_ips(routed - cluster), "the API"


def announce(minion, template, interface, ips):
    """A gratuitous ARP for each of ``ips``; (announced, failures)."""
    done, failed = [], []
    for ip in ips if template else []:
        ok, said = minion.run(garp_command(template, interface, ip))
        (done if ok else failed).append(ip if ok else said)
    return done, failed


def sync(minion, hv, prov, test, ret):
    """sync_failover's work; fills ``ret``, raises CommandExecutionError or OSError."""
    want, ignored, source = wanted(hv, prov)
    path = files.proxyarp_path(hv)
    bridge = hv["public_bridge"]
    if want and not bridge:
        raise CommandExecutionError("no public bridge (bridges:<net>:public) to route the failover IPs to")
    before = files.read_bytes(path)
    current = files.parse_proxyarp(before.decode("utf-8", "replace")) if before is not None else []
    interface = hv["me"]["public"]["interface"]
    gateways = hv["failover"]["gateways"]
    content = files.render(want, bridge["name"] if bridge else "-", interface, gateways).encode()
    added = [ip for ip in want if ip not in current]
    removed = [ip for ip in current if ip not in want]
    ret.update(ips=want, ignored=ignored, added=added, removed=removed)
    shown = ", ".join(want) or "no failover IP"
    note = f"; ignored (routed here, not a cluster failover IP): {', '.join(ignored)}" if ignored else ""
    if before == content:
        ret["comment"] = f"{path} answers for {shown}, as {source} says{note}"
        if not test:
            minion.publish()
        return
    ret["changed"] = True
    delta = f"+[{', '.join(added)}] -[{', '.join(removed)}]"
    if test:
        ret["result"] = None
        ret["comment"] = f"would write {path} for {shown} ({delta}), as {source} says{note}"
        return
    files.write_atomic(path, content, 0o644)
    if not minion.run(STATUS)[0]:
        ret["comment"] = (
            f"wrote {path} for {shown} ({delta}), as {source} says; Shorewall is not running:"
            f" it applies the file when it starts{note}"
        )
    else:
        ok, said = minion.run(RELOAD)
        if not ok:
            files.restore(path, before)
            again, said_again = minion.run(RELOAD)
            restored = "reloaded" if again else f"its reload failed too: {said_again}"
            ret.update(result=False, changed=False)
            ret["comment"] = f"{said}; {path} is back as it was ({restored}){note}"
            minion.event("hv/failover/error", {"op": "sync", "error": ret["comment"]})
            return
        ret["reloaded"] = True
        ret["garp"], failed = announce(minion, hv["failover"].get("garp_command"), interface, added)
        garp = f"; gratuitous ARP failed: {'; '.join(failed)}" if failed else ""
        ret["comment"] = (
            f"wrote {path} for {shown} ({delta}), as {source} says, and reloaded Shorewall{garp}{note}"
        )
    log.info("online: %s", ret["comment"])
    minion.event("hv/failover/proxyarp/updated", {"added": added, "removed": removed, "ips": want})
    minion.publish()
