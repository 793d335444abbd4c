"""
online: the cluster's failover IPs, as the provider's API routes them (F22, F24).

The provider's API (``hypervisor:failover:provider``: ``online``, with
``online:api_url`` and ``online:api_token`` in pillar, or ``hetzner``, with
``hetzner:user`` and ``hetzner:password``; the client is
``_utils/failover_api.py``) decides which host each failover IP is
routed to. The cluster's failover IPs are the union of every host's
``failover_ips``; this host answers ARP (Shorewall's ``proxyarp`` file) for
those the API routes to its main IP. ``sync_failover`` keeps that file in line
with the API (the ``online.synced`` state and the failover beacon's reactor
call it); ``failover_move`` routes an IP to another host, spaced, within a
budget of moves per IP, and waits until the API shows it done.

Without the provider's pillar part there is no provider: the proxyarp file lists the
host's own pillar ``failover_ips`` (static), and the API functions say so.

``fence`` keeps a dead host out through the same API: its next boot is a rescue
system, then a hard reboot (there is no power-off call); ``unfence`` is the
operator's way back (the next boot is from disk).

Events (``event.send``; no payload holds the token, the pillar or rescue
credentials): ``hv/failover/move/started``, ``hv/failover/move/done``,
``hv/failover/move/failed`` (``ips``, ``from``, ``to``, ``comment``,
``confirmed``), ``hv/failover/proxyarp/updated`` (``added``, ``removed``,
``ips``), ``hv/failover/error`` (``op``, ``error``), ``hv/fence/started``
(``host``, ``server_id``, ``reason``, ``comment``), ``hv/fence/done``,
``hv/fence/failed`` (``host``, ``server_id``, ``image``, ``reason``,
``rescue``, ``rebooted``, ``comment``), ``hv/fence/undone`` (``host``,
``server_id``, ``comment``). Settings: the validated ``failover`` and
``hosts`` views (``hypervisor_pillar.settings``); the credentials are read from
the provider's pillar part here only.

This module is the Salt glue; the work is plain Python in ``_utils``:
``hv_failover_sync`` (the proxyarp file), ``hv_failover_move`` (moves),
``hv_failover_fence`` (fencing), ``hv_failover_files`` (files, locks),
``hv_failover_base`` (what they share).
"""

import contextlib
import logging
import os
import time

import hv_failover_base as base
import hv_failover_fence
import hv_failover_files as files
import hv_failover_latch
import hv_failover_move
import hv_failover_sync
import hv_providers
from salt.exceptions import CommandExecutionError

try:
    import failover_api
except ImportError:  # it needs the requests package
    failover_api = None

log = logging.getLogger(__name__)

__virtualname__ = "online"
MINE_NAME = "hv_proxyarp"
HEADER = files.HEADER
NO_PROVIDER = base.NO_PROVIDER
FENCE_EVENT_KEYS = hv_failover_fence.EVENT_KEYS
SYNC_GAP = 1.0  # seconds from one sync's start to the next one's, when calls pile up


def __virtual__():
    return __virtualname__


# ------------------------------------------------------------------- with Salt


def _settings():
    return __salt__["hypervisor_pillar.settings"]()


def _api_part(hv):
    """The provider's pillar part (``online`` or ``hetzner``: the API's URL and credentials):
    read here only, never logged."""
    part = __salt__["pillar.get"](hv["failover"]["provider"], {}, unmask=True)
    return part if isinstance(part, dict) else {}


def _provider(hv, api_part, **over):
    """The provider object, or None when the pillar configures none."""
    if not hv_providers.configured(api_part, hv_providers.PROVIDERS[hv["failover"]["provider"]]):
        return None
    if failover_api is None:
        raise CommandExecutionError(
            "the failover_api utility is not loaded (saltutil.sync_utils; it needs the requests package)"
        )
    provider = hv_providers.PROVIDERS[hv["failover"]["provider"]]
    config = base.provider_config(hv["failover"], api_part, **over)
    try:
        prov = failover_api.provider(config)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from None
    if provider.blocks_failed_logins:  # one refusal, not one per poll
        credentials = [config[key] for key in provider.credentials]
        prov = hv_failover_latch.Guarded(prov, hv["failover"]["state_dir"], credentials)
    return prov


def _required_provider(hv):
    prov = _provider(hv, _api_part(hv))
    if prov is None:
        raise CommandExecutionError(NO_PROVIDER)
    return prov


def _event(tag, data):
    try:
        __salt__["event.send"](tag, data)
    except Exception as exc:  # an event is a notice: never the reason an operation fails
        log.warning("online: could not send the event %s: %s", tag, exc)


def _run(argv):
    """Run an argument list; (ok, what it said)."""
    try:
        ret = __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True)
    except CommandExecutionError as exc:
        return False, str(exc)
    said = " ".join(
        part.strip() for part in (ret.get("stdout") or "", ret.get("stderr") or "") if part.strip()
    )
    if ret["retcode"] != 0:
        return False, f"`{' '.join(argv)}` failed (exit code {ret['retcode']}): {said[-400:] or 'no output'}"
    return True, said


def _publish():
    """Send this host's proxyarp IPs to the mine (``hv_proxyarp``), for failover_status."""
    try:
        if not __salt__["mine.send"](MINE_NAME, mine_function="online.proxyarp_ips"):
            log.warning("online: mine.send %s failed", MINE_NAME)
    except Exception as exc:  # the sync is done; the mine lags until the next one
        log.warning("online: mine.send %s failed: %s", MINE_NAME, exc)


def _minion():
    return base.Minion(event=_event, run=_run, publish=_publish)


def parse_proxyarp(text):
    """The addresses (first column) of a Shorewall proxyarp file, sorted."""
    return files.parse_proxyarp(text)


# ----------------------------------------------------------------------- API


def server_info(host=None):
    """
    A cluster host's server at the provider: ``{"host", "id", "hostname",
    "main_ip", "failover_ips"}`` (the failover IPs the API routes to it).

    host
        A cluster host (default: this one); it needs a server number
        (``online_server_id``, ``hetzner_server_number``).

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.server_info
        salt hyp1 online.server_info host=hyp2
    """
    hv = _settings()
    prov = _required_provider(hv)
    name = host or hv["me"]["name"]
    server = base.api(prov, "server", base.server_id(hv, name))
    return {
        "host": name,
        "id": server.id,
        "hostname": server.hostname,
        "main_ip": server.main_ip,
        "failover_ips": list(server.failover_ips),
    }


def failover_list():
    """
    Every failover IP of the provider's account: ``[{"ip", "destination"
    (the main IP it is routed to, or None), "host" (the cluster host with that
    main IP, or None), "mac", "cluster" (listed in a host's failover_ips)}]``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.failover_list
    """
    hv = _settings()
    prov = _required_provider(hv)
    hosts = {ip: name for name, ip in base.main_ips(hv, prov).items()}
    cluster = set(base.cluster_ips(hv))
    return [
        {
            "ip": f.ip,
            "destination": f.destination,
            "host": hosts.get(f.destination),
            "mac": f.mac,
            "cluster": f.ip in cluster,
        }
        for f in base.api(prov, "failovers")
    ]


def generate_mac(ip):
    """
    Have the provider give failover IP ``ip`` a virtual MAC (type kvm); returns it.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.generate_mac 203.0.113.101
    """
    prov = _required_provider(_settings())
    return base.api(prov, "generate_mac", ip)


def proxyarp_ips():
    """
    The failover IPs this host answers for: the addresses of Shorewall's
    proxyarp file, sorted (empty when there is no file). Published to the
    mine as ``hv_proxyarp``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.proxyarp_ips
    """
    return files.answered(files.proxyarp_path(_settings()))


def routed_ips(timeout=None):
    """
    What the hv_failover beacon polls: the cluster failover IPs the API routes
    to this host now (one request of at most ``timeout`` seconds, no retry),
    and those this host's proxyarp answers for. Returns ``{"result", "ips",
    "answered", "kind", "comment"}``; never raises (``kind`` "config": no
    provider, or settings it cannot use).

    timeout
        Seconds for the one request (default: the poll interval, the request
        timeout or 5 s, whichever is least).

    CLI Example:

    .. code-block:: bash

        salt-call online.routed_ips
    """
    ret = {"result": False, "ips": [], "answered": [], "kind": None, "comment": ""}
    hv = _poll_settings(ret)
    if hv is None:
        return ret
    api_part = _api_part(hv)
    configured = hv_providers.configured(api_part, hv_providers.PROVIDERS[hv["failover"]["provider"]])
    sid = hv["me"].get("server_id")
    if not configured or sid is None:
        ret.update(kind="config", comment=NO_PROVIDER if not configured else f"no {base.server_key(hv)}")
        return ret
    if timeout is None:
        timeout = hv["failover"]["poll_timeout"]
    try:
        prov = _provider(hv, api_part, timeout=timeout, retries=0)
    except CommandExecutionError as exc:
        ret.update(kind="config", comment=f"cannot ask the provider: {exc}")
        return ret
    try:
        routed = prov.server(sid).failover_ips
    except prov.Error as exc:
        ret.update(kind=exc.kind, comment=str(exc))
        _record_poll(hv, ret)
        return ret
    listed = set(base.cluster_ips(hv))
    ret.update(result=True, ips=base.sorted_ips(ip for ip in routed if base.normal_ip(ip) in listed))
    _record_poll(hv, ret)
    return ret


def _poll_settings(ret):
    """The settings for a poll's answer ``ret``, with this host's proxyarp IPs filled in;
    None (``ret`` says why: a config fault) when they cannot be read."""
    try:
        hv = _settings()
    except CommandExecutionError as exc:
        ret.update(kind="config", comment=f"cannot read the settings: {exc}")
        return None
    ret["answered"] = files.answered(files.proxyarp_path(hv))
    return hv


def _poll_path(hv):
    return os.path.join(hv["failover"]["state_dir"], files.POLL_FILE)


def _record_poll(hv, ret):
    """Keep the poll's outcome for ``last_poll`` (metrics): a failure to write it is logged."""
    try:
        files.save_poll(_poll_path(hv), time.time(), ret["ips"], None if ret["result"] else ret["kind"])
    except OSError as exc:
        log.warning("online: the poll's record was not written: %s", exc)


def last_poll():
    """
    The beacon's last poll of the provider, without asking it again (what metrics
    reads): ``routed_ips``' answer as it was then, with this host's proxyarp as it
    is now, and ``age`` (seconds since it was recorded: an unchanged outcome is recorded
    again every 30 s, not at every poll). ``result`` False with ``kind`` "stale" when there is
    no poll younger than three poll intervals (at least 60 s): the beacon does not run
    or cannot reach the provider's API. Never raises.

    CLI Example:

    .. code-block:: bash

        salt-call online.last_poll
    """
    ret = {"result": False, "ips": [], "answered": [], "kind": None, "comment": "", "age": None}
    hv = _poll_settings(ret)
    if hv is None:
        return ret
    poll = files.load_poll(_poll_path(hv))
    fresh = max(3 * hv["failover"]["poll_interval"], 60)
    if poll is None:
        ret.update(kind="stale", comment="no poll of the provider recorded on this host")
        return ret
    ret["age"] = round(max(0.0, time.time() - poll["time"]), 1)
    if ret["age"] > fresh:
        ret.update(kind="stale", comment=f"the last poll is {ret['age']:.0f} s old (more than {fresh} s)")
    elif poll["kind"]:
        ret.update(kind=poll["kind"], comment=f"the last poll failed: {poll['kind']}")
    else:
        ret.update(result=True, ips=poll["ips"])
    return ret


def failover_status():
    """
    Where the API routes each cluster failover IP (``api_host``: a cluster
    host, or None; ``destination``: the main IP) and which hosts answer for
    it (``proxyarp_hosts``, from the mine's ``hv_proxyarp``). ``ok``: exactly
    that host answers (none, when the API routes it to no cluster host).
    ``unreported``: hosts that carry guests with nothing in the mine (the
    arbiter answers for no failover IP: it sends nothing there). Returns
    ``{"ips": [...], "mismatches": n, "unreported": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.failover_status
    """
    hv = _settings()
    prov = _required_provider(hv)
    hosts = {ip: name for name, ip in base.main_ips(hv, prov).items()}
    routes = {f.ip: f.destination for f in base.api(prov, "failovers")}
    guest_hosts = sorted(name for name, host in hv["hosts"].items() if host.get("role") != "arbiter")
    mine = __salt__["mine.get"](guest_hosts, MINE_NAME, tgt_type="list") or {}
    answers = {name: set(ips) for name, ips in mine.items() if isinstance(ips, list)}
    rows = []
    for ip in base.cluster_ips(hv):
        api_host = hosts.get(routes.get(ip))
        answering = sorted(name for name, ips in answers.items() if ip in ips)
        ok = answering == [api_host] if api_host else not answering
        rows.append(
            {
                "ip": ip,
                "api_host": api_host,
                "destination": routes.get(ip),
                "proxyarp_hosts": answering,
                "ok": ok,
            }
        )
    return {
        "ips": rows,
        "mismatches": sum(1 for row in rows if not row["ok"]),
        "unreported": sorted(set(guest_hosts) - set(answers)),
    }


# ---------------------------------------------------------------------- move


def failover_move(ip, host, wait=True):
    """
    Route failover IP ``ip`` (several: a list, or comma-separated; with every
    IP sharing a virtual MAC with one of them) to cluster host ``host``'s main
    IP, in one API call. Refused, with nothing sent, when ``ip``
    is not a cluster failover IP, ``host`` has no server number, or an
    IP's ``move_budget`` is spent. Waits ``move_spacing`` s after this host's
    previous move; with ``wait``, reads the routes back until the API shows the
    move done (``confirm_timeout``). Returns ``{"result", "ips", "from", "to",
    "confirmed", "waited", "comment"}``; never raises for an API error.

    CLI Example:

    .. code-block:: bash

        salt hyp2 online.failover_move 203.0.113.101 hyp2
        salt hyp2 online.failover_move 203.0.113.101,203.0.113.102 hyp2
    """
    start = time.monotonic()
    ips = [part.strip() for part in ip.split(",") if part.strip()] if isinstance(ip, str) else list(ip)
    ret = {"result": False, "ips": ips, "from": None, "to": host, "confirmed": False, "waited": 0.0}
    ret["comment"] = ""
    try:
        hv = _settings()
        if not ips:
            raise base.refused("no failover IP given")
        hv_failover_move.move(_minion(), hv, _provider(hv, _api_part(hv)), ips, host, wait, ret)
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
    ret["waited"] = round(time.monotonic() - start, 1)
    data = {key: ret[key] for key in ("ips", "from", "to", "comment", "confirmed")}
    _event(f"hv/failover/move/{'done' if ret['result'] else 'failed'}", data)
    (log.info if ret["result"] else log.warning)("online: failover_move: %s", ret["comment"])
    return ret


# ---------------------------------------------------------------------- sync


def sync_failover(test=False, wait=True):
    """
    Make Shorewall's proxyarp file list the cluster failover IPs the API
    routes to this host (without a provider: the host's pillar
    ``failover_ips``), reload Shorewall when it runs (a failed reload puts the
    previous file back), and send a gratuitous ARP for each added IP. Under a
    lock (``<state_dir>/sync.lock``). An API error changes nothing on the host.
    Returns ``{"result", "changed", "added", "removed", "ips", "ignored",
    "reloaded", "garp", "comment"}``; never raises for an API error.

    test
        Say what would change, changing nothing (``result`` None when it would).
    wait
        When a sync already runs here: wait for it to sync once more for this call, then
        return (default); ``False`` returns at once (the reactor's calls: a flood of them
        never piles up waiting processes).

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.sync_failover
        salt hyp1 online.sync_failover test=True
    """
    ret = {
        "result": True,
        "changed": False,
        "added": [],
        "removed": [],
        "ips": [],
        "ignored": [],
        "reloaded": False,
        "garp": [],
        "comment": "",
    }
    try:
        hv = _settings()
        if hv["me"].get("role") == "arbiter":
            name = hv["me"]["name"]
            ret["comment"] = f"{name} is the arbiter: it carries no guest and answers for no failover IP"
            return ret
        prov = _provider(hv, _api_part(hv))
        if test:
            hv_failover_sync.sync(_minion(), hv, prov, True, ret)
        else:
            _sync_once_at_a_time(hv, prov, ret, wait)
    except (CommandExecutionError, OSError) as exc:
        ret.update(result=False, changed=False, reloaded=False, garp=[], comment=str(exc))
        log.warning("online: sync_failover: %s", exc)
        _event("hv/failover/error", {"op": "sync", "error": str(exc)})
    return ret


def _sync_once_at_a_time(hv, prov, ret, wait=True):
    """One sync at a time on this host (B10): a call while one runs marks that another is
    wanted; the running one syncs again before it ends, so no move seen at the API is
    missed and calls that pile up cost one sync, not one each. Such a call returns once
    that sync is done (``wait``), or at once."""
    lock = os.path.join(hv["failover"]["state_dir"], files.SYNC_LOCK)
    wanted = f"{lock}.wanted"
    while True:
        with files.try_locked(lock) as held:
            if held:
                _sync_while_wanted(hv, prov, ret, wanted)
        if not held:
            files.write_atomic(wanted, b"", 0o600)
            if not wait:
                with files.try_locked(lock) as held_now:  # the running one may just have ended
                    if not held_now:
                        ret["comment"] = "a sync is running here: it syncs once more for this call"
                        return
                    _sync_while_wanted(hv, prov, ret, wanted)
            else:
                with files.locked(lock):  # the running one ends after a sync for this call
                    if not os.path.exists(wanted):
                        ret["comment"] = "synced by the sync that was running here"
                        return
                    _sync_while_wanted(hv, prov, ret, wanted)
        if not os.path.exists(wanted):  # looked at after the lock is free: nothing is lost
            return


def _sync_while_wanted(hv, prov, ret, wanted):
    """Sync, then again while a call marked that it wants one (the results add up), at most
    one sync per SYNC_GAP: a flood of calls costs the API a bounded rate, whatever its length."""
    changed, added, removed = False, set(), set()
    started = None
    while True:
        if started is not None:
            time.sleep(max(0.0, started + SYNC_GAP - time.monotonic()))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(wanted)
        started = time.monotonic()
        hv_failover_sync.sync(_minion(), hv, prov, False, ret)
        changed, added, removed = (
            changed or ret["changed"],
            added | set(ret["added"]),
            removed | set(ret["removed"]),
        )
        if not os.path.exists(wanted) or ret["result"] is False:
            break
    ret.update(changed=changed, added=sorted(added - removed), removed=sorted(removed - added))


# ---------------------------------------------------------------------- fence


def fence(host, reason=None, image=None):
    """
    Keep cluster host ``host`` out through the provider's API: its next boot is
    a rescue system, then a hard reboot (the API has no power-off). The host
    stays in the rescue system until an operator boots it normally
    (``online.unfence``). Refused, with nothing sent, for this host (a host
    does not fence itself), a host that is not a cluster host or has no
    server number, or without a provider. The reboot is sent at most
    once: when its answer is lost the comment says the host may or may not
    have rebooted. Returns ``{"result", "host", "server_id", "image",
    "reason", "rescue" (the rescue boot is set), "rebooted" (the API took the
    reboot), "may_have_rebooted" (the reboot was sent: a caller never fences
    again after that), "comment"}``; never raises for an API error. The rescue
    credentials the API answers are dropped.

    host
        The cluster host to fence.
    reason
        The reboot's reason, for the provider (default: which host fenced it).
    image
        The rescue image (default: ``hypervisor:takeover:rescue_image``, else
        the first one the API lists for the server).

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.fence hyp2
        salt hyp1 online.fence hyp2 reason="hyp2 lost its leases" image=debian-12
    """
    ret = {
        "result": False,
        "host": host,
        "server_id": None,
        "image": None,
        "reason": None,
        "rescue": False,
        "rebooted": False,
        "may_have_rebooted": False,
        "comment": "",
    }
    try:
        hv = _settings()
        hv_failover_fence.fence(
            _minion(), hv, _provider(hv, _api_part(hv)), host, reason, image, ret, __grains__.get("id")
        )
    except (CommandExecutionError, OSError, ValueError) as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
    _event(f"hv/fence/{'done' if ret['result'] else 'failed'}", {key: ret[key] for key in FENCE_EVENT_KEYS})
    (log.warning if ret["result"] else log.error)("online: fence: %s", ret["comment"])
    return ret


def unfence(host):
    """
    Undo ``online.fence`` for cluster host ``host``: its next boot is from
    disk again (the API's normal boot). It does not reboot the host: reboot it
    from its rescue system, or the provider's console. Returns ``{"result",
    "host", "server_id", "comment"}``; never raises for an API error.

    host
        The cluster host to boot normally.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.unfence hyp2
    """
    ret = {"result": False, "host": host, "server_id": None, "comment": ""}
    try:
        hv = _settings()
        prov = _required_provider(hv)
        ret["server_id"] = sid = base.server_id(hv, host)
        base.api(prov, "boot_normal", sid)
    except (CommandExecutionError, OSError) as exc:
        ret["comment"] = str(exc)
        log.warning("online: unfence: %s", exc)
        return ret
    ret.update(
        result=True,
        comment=f"{host} (server {sid}) boots from disk at its next boot: reboot it"
        " (from its rescue system, or the provider's console)",
    )
    log.info("online: unfence: %s", ret["comment"])
    _event("hv/fence/undone", {"host": host, "server_id": sid, "comment": ret["comment"]})
    return ret
