"""
online: the cluster's failover IPs, as the provider's API routes them (F22, F24).

The provider's API (``online:api_url``, ``online:api_token`` in pillar; the
client is ``_utils/failover_api.py``) decides which host each failover IP is
routed to. The cluster's failover IPs are the union of every host's
``failover_ips``; this host answers ARP (Shorewall's ``proxyarp`` file) for
those the API routes to its main IP. ``sync_failover`` keeps that file in line
with the API (the ``online.synced`` state and the failover beacon's reactor
call it); ``failover_move`` routes an IP to another host, spaced, within a
budget of moves per IP, and waits until the API shows it done.

Without an ``online`` pillar there is no provider: the proxyarp file lists the
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
``server_id``, ``comment``). Settings: ``hypervisor:failover``
(``parameters/defaults.yaml``), ``hypervisor:takeover:rescue_image``.
"""

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import tempfile
import time

try:
    from salt.exceptions import CommandExecutionError
except ImportError:  # the plain helpers work without Salt
    CommandExecutionError = RuntimeError

log = logging.getLogger(__name__)

__virtualname__ = "online"
MINE_NAME = "hv_proxyarp"
PROXYARP_FILE = "proxyarp"
HISTORY_FILE = "moves.json"
MOVES_LOCK = "moves.lock"
SYNC_LOCK = "sync.lock"
HISTORY_MAX = 200  # moves kept in moves.json (the budget's window needs far fewer)
RELOAD = ["shorewall", "reload"]
HEADER = (
    "# Managed by Salt (online.sync_failover): local changes are overwritten.\n"
    "# F22: this host answers ARP on its public NIC for the failover IPs the provider's\n"
    "# API routes to it, and routes them to the guests' bridge. See man shorewall-proxyarp.\n"
    "#ADDRESS\tINTERFACE\tEXTERNAL\tHAVEROUTE\tPERSISTENT\n"
)
# A move that failed so may have been taken by the API: it counts for the spacing and budget.
UNCERTAIN = ("timeout", "connection", "bad_response", "server")
NO_PROVIDER = "no failover provider is configured (no online:api_token in pillar)"


def __virtual__():
    return __virtualname__


class _ApiError(CommandExecutionError):
    """A ProviderError, as the module raises and catches it (``kind`` kept)."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


# ----------------------------------------------------------------- plain helpers


def _ip_key(ip):
    return ipaddress.ip_address(ip)


def _sorted_ips(ips):
    return sorted(set(ips), key=_ip_key)


def _normal_ip(value):
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def _cluster_ips(hv):
    """The cluster's failover IPs: every host's ``failover_ips``."""
    return _sorted_ips(ip for host in hv["hosts"].values() for ip in host.get("failover_ips") or [])


def parse_proxyarp(text):
    """The addresses (first column) of a Shorewall proxyarp file, sorted."""
    ips = []
    for line in (text or "").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and _normal_ip(fields[0]):
            ips.append(_normal_ip(fields[0]))
    return _sorted_ips(ips)


def _render(ips, bridge, interface):
    """The proxyarp file for ``ips``: routed to ``bridge``, answered on ``interface``."""
    return HEADER + "".join(f"{ip}\t{bridge}\t{interface}\tNo\tYes\n" for ip in _sorted_ips(ips))


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_atomic(path, data, mode):
    """Write ``data`` (bytes) to ``path``: a temporary file in the same directory, fsync, rename."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _restore(path, previous):
    """Put back the bytes ``path`` held (None: there was no file)."""
    if previous is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        _write_atomic(path, previous, 0o644)


@contextlib.contextmanager
def _locked(path):
    """An exclusive flock on ``path`` (made, mode 0600, in a 0700 directory)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load_history(path):
    """This host's moves (``[{"time", "ips", "to"}]``); an unreadable file counts as none."""
    raw = _read_bytes(path)
    if raw is None:
        return []
    try:
        moves = json.loads(raw)["moves"]
        return [
            m for m in moves if isinstance(m.get("time"), (int, float)) and isinstance(m.get("ips"), list)
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("online: %s is not a move history: starting a new one", path)
        return []


def _save_history(path, moves):
    _write_atomic(path, json.dumps({"moves": moves[-HISTORY_MAX:]}, indent=1).encode(), 0o600)


def _budget_refusal(moves, ips, now, budget):
    """Why a move of ``ips`` now would exceed ``budget`` (``{moves, window}``), or None."""
    window, allowed = budget["window"], budget["moves"]
    for ip in ips:
        times = sorted(m["time"] for m in moves if ip in m["ips"] and now - window < m["time"] <= now)
        if len(times) >= allowed:
            again = int(times[-allowed] + window - now) + 1
            return (
                f"{ip} was moved {len(times)} times in the last {window} s (move_budget: {allowed} per"
                f" {window} s): refused, nothing sent; the budget allows its next move in {again} s"
            )
    return None


def _spacing_pause(moves, now, spacing):
    """Seconds to wait so that ``spacing`` s separate this move from the previous one."""
    if not moves:
        return 0.0
    last = max(m["time"] for m in moves)
    return max(0.0, min(float(spacing), last + spacing - now))


def _garp_command(template, interface, ip):
    """The gratuitous ARP that tells the upstream router ``ip`` is answered here now:
    ``failover:garp_command`` with ``{ip}`` and ``{interface}`` filled in (empty: none)."""
    return [str(arg).replace("{ip}", ip).replace("{interface}", interface) for arg in template or []]


# ------------------------------------------------------------------- with Salt


def _settings():
    return __salt__["hypervisor_pillar.settings"]()


def _online():
    online = __salt__["pillar.get"]("online", {}, unmask=True)
    return online if isinstance(online, dict) else {}


def _provider(hv, online):
    """The provider object, or None when the pillar configures none."""
    if not online.get("api_token"):
        return None
    try:
        factory = __utils__["failover_api.provider"]
    except KeyError:
        raise CommandExecutionError(
            "the failover_api utility is not loaded (saltutil.sync_utils; it needs the requests package)"
        ) from None
    failover = hv["failover"]
    config = {
        "provider": failover["provider"],
        "api_url": online.get("api_url"),
        "api_token": online["api_token"],
        "allow_http": bool(online.get("allow_http", False)),
        "timeout": failover["request_timeout"],
        "retries": failover["retries"],
    }
    try:
        return factory(config)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from None


def _required_provider(hv):
    prov = _provider(hv, _online())
    if prov is None:
        raise CommandExecutionError(NO_PROVIDER)
    return prov


def _api(prov, verb, *args):
    """``prov.verb(*args)``, its ProviderError raised as an ``_ApiError``."""
    try:
        return getattr(prov, verb)(*args)
    except prov.Error as exc:
        raise _ApiError(str(exc), exc.kind) from None


def _server_id(hv, host):
    if host not in hv["hosts"]:
        raise CommandExecutionError(
            f"{host} is not a cluster host (hypervisor:hosts: {', '.join(hv['hosts'])})"
        )
    sid = hv["hosts"][host].get("online_server_id")
    if sid is None:
        raise CommandExecutionError(f"{host} has no online_server_id in pillar (hypervisor:hosts:{host})")
    return sid


def _main_ips(hv, prov):
    """{host: main IP} of every cluster host with an ``online_server_id``, from the API."""
    return {
        name: _api(prov, "server", host["online_server_id"]).main_ip
        for name, host in sorted(hv["hosts"].items())
        if host.get("online_server_id") is not None
    }


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


def _proxyarp_path(hv):
    return os.path.join(hv["firewall"]["config_dir"], PROXYARP_FILE)


# ----------------------------------------------------------------------- API


def server_info(host=None):
    """
    A cluster host's server at the provider: ``{"host", "id", "hostname",
    "main_ip", "failover_ips"}`` (the failover IPs the API routes to it).

    host
        A cluster host (default: this one); it needs an ``online_server_id``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.server_info
        salt hyp1 online.server_info host=hyp2
    """
    hv = _settings()
    prov = _required_provider(hv)
    name = host or hv["me"]["name"]
    server = _api(prov, "server", _server_id(hv, name))
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
    hosts = {ip: name for name, ip in _main_ips(hv, prov).items()}
    cluster = set(_cluster_ips(hv))
    return [
        {
            "ip": f.ip,
            "destination": f.destination,
            "host": hosts.get(f.destination),
            "mac": f.mac,
            "cluster": f.ip in cluster,
        }
        for f in _api(prov, "failovers")
    ]


def generate_mac(ip):
    """
    Have the provider give failover IP ``ip`` a virtual MAC (type kvm); returns it.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.generate_mac 203.0.113.101
    """
    prov = _required_provider(_settings())
    return _api(prov, "generate_mac", ip)


def proxyarp_ips():
    """
    The failover IPs this host answers for: the addresses of Shorewall's
    proxyarp file, sorted (empty when there is no file). Published to the
    mine as ``hv_proxyarp``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 online.proxyarp_ips
    """
    raw = _read_bytes(_proxyarp_path(_settings()))
    return parse_proxyarp(raw.decode("utf-8", "replace")) if raw is not None else []


# Where Shorewall's files are when the pillar does not say (defaults.yaml firewall:config_dir).
SHOREWALL_DIR = "/etc/shorewall"


def routed_ips(timeout=5):
    """
    What the hv_failover beacon polls: the cluster failover IPs the API routes
    to this host now (one request of at most ``timeout`` seconds, no retry),
    and those this host's proxyarp answers for. Reads the pillar alone (no
    round trip to the master's files), so it can run every second. Returns
    ``{"result", "ips", "answered", "kind", "comment"}``; never raises.

    timeout
        Seconds for the one request.

    CLI Example:

    .. code-block:: bash

        salt-call online.routed_ips
    """
    ret = {"result": False, "ips": [], "answered": [], "kind": None, "comment": ""}
    cluster = __salt__["pillar.get"]("hypervisor", {}, unmask=True)
    hosts = cluster.get("hosts") or {}
    me = hosts.get(__grains__["id"]) or {}
    config_dir = (cluster.get("firewall") or {}).get("config_dir", SHOREWALL_DIR)
    raw = _read_bytes(os.path.join(config_dir, PROXYARP_FILE))
    ret["answered"] = parse_proxyarp(raw.decode("utf-8", "replace")) if raw is not None else []
    online = _online()
    if not online.get("api_token") or me.get("online_server_id") is None:
        ret.update(
            kind="config", comment=NO_PROVIDER if not online.get("api_token") else "no online_server_id"
        )
        return ret
    failover = cluster.get("failover") or {}
    try:
        prov = __utils__["failover_api.provider"](
            {
                "provider": failover.get("provider", "online"),
                "api_url": online.get("api_url"),
                "api_token": online["api_token"],
                "allow_http": bool(online.get("allow_http", False)),
                "timeout": timeout,
                "retries": 0,
            }
        )
        routed = prov.server(me["online_server_id"]).failover_ips
    except (KeyError, ValueError) as exc:
        ret.update(kind="config", comment=f"cannot ask the provider: {exc}")
        return ret
    except Exception as exc:  # the provider's own error class (the loader hides the type)
        if not hasattr(exc, "kind"):
            raise
        ret.update(kind=exc.kind, comment=str(exc))
        return ret
    listed = {
        _normal_ip(ip)
        for host in hosts.values()
        if isinstance(host, dict)
        for ip in host.get("failover_ips") or []
    }
    ret.update(result=True, ips=_sorted_ips(ip for ip in routed if _normal_ip(ip) in listed))
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
    hosts = {ip: name for name, ip in _main_ips(hv, prov).items()}
    routes = {f.ip: f.destination for f in _api(prov, "failovers")}
    guest_hosts = sorted(name for name, host in hv["hosts"].items() if host.get("role") != "arbiter")
    mine = __salt__["mine.get"](guest_hosts, MINE_NAME, tgt_type="list") or {}
    answers = {name: set(ips) for name, ips in mine.items() if isinstance(ips, list)}
    rows = []
    for ip in _cluster_ips(hv):
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


def _refused(why):
    return CommandExecutionError(f"refused, nothing sent: {why}")


def _confirm(prov, ips, destination, timeout, interval):
    """Read the routes back until every one of ``ips`` goes to ``destination``
    (up to ``timeout`` s); (confirmed, the IPs still elsewhere, the last read error)."""
    deadline = time.monotonic() + timeout
    pending, error = list(ips), None
    while True:
        try:
            routes = {f.ip: f.destination for f in _api(prov, "failovers")}
            pending, error = [ip for ip in ips if routes.get(ip) != destination], None
        except _ApiError as exc:
            error = str(exc)
        if not pending and error is None:
            return True, [], None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, pending, error
        time.sleep(min(interval, remaining))


def _cluster_listed(hv, ips):
    """``ips`` normalised; refused (before any API call) unless each is a cluster failover IP."""
    wanted = []
    for ip in ips:
        normal = _normal_ip(ip)
        if normal not in _cluster_ips(hv):
            raise _refused(f"{ip} is not a cluster failover IP (no host lists it in failover_ips)")
        wanted.append(normal)
    return wanted


def _move_group(routes, wanted):
    """``wanted`` with every IP sharing a virtual MAC with one of them (those move
    only together); refused when the account lacks one of them."""
    for ip in wanted:
        if ip not in routes:
            raise _refused(f"the provider's account has no failover IP {ip}")
    macs = {routes[ip].mac for ip in wanted if routes[ip].mac}
    return _sorted_ips(set(wanted) | {f.ip for f in routes.values() if f.mac and f.mac in macs}), macs


def _move(hv, prov, ips, host, wait, ret):
    """failover_move's work; fills ``ret``, raises CommandExecutionError on a refusal or an API error."""
    if prov is None:
        raise CommandExecutionError(f"{NO_PROVIDER}: the failover IPs are static, none can be moved")
    failover = hv["failover"]
    wanted = _cluster_listed(hv, ips)
    if host not in hv["hosts"] or hv["hosts"][host].get("online_server_id") is None:
        raise _refused(_server_error(hv, host))
    routes = {f.ip: f for f in _api(prov, "failovers")}
    group, macs = _move_group(routes, wanted)
    mains = _main_ips(hv, prov)
    destination = mains[host]
    names = {main: name for name, main in mains.items()}
    previous = {names.get(routes[ip].destination, routes[ip].destination) for ip in group} - {None}
    ret["ips"], ret["from"] = group, ", ".join(sorted(previous)) or None
    # Only what is not there yet, but a virtual MAC's IPs always together.
    need = {ip for ip in group if routes[ip].destination != destination}
    need_macs = {routes[ip].mac for ip in need if routes[ip].mac}
    moving = _sorted_ips(need | {ip for ip in group if routes[ip].mac in need_macs}) or group
    together = f" (sharing the virtual MAC {', '.join(sorted(macs))})" if macs and len(group) > 1 else ""
    state_dir = failover["state_dir"]
    history_path = os.path.join(state_dir, HISTORY_FILE)
    with _locked(os.path.join(state_dir, MOVES_LOCK)):
        moves = _load_history(history_path)
        why = _budget_refusal(moves, moving, time.time(), failover["move_budget"])
        if why:
            raise CommandExecutionError(why)
        pause = _spacing_pause(moves, time.time(), failover["move_spacing"])
        doing = (
            f"moving {', '.join(group)}{together} from {ret['from'] or 'nowhere'} to {host} ({destination})"
        )
        _event("hv/failover/move/started", {"ips": group, "from": ret["from"], "to": host, "comment": doing})
        log.info("online: %s%s", doing, f", after {pause:.1f} s (move_spacing)" if pause else "")
        if pause:
            time.sleep(pause)
        try:
            accepted = _api(prov, "move", moving, destination)
        except _ApiError as exc:
            if exc.kind in UNCERTAIN:  # the API may have taken it: it counts (spacing, budget)
                moves.append({"time": time.time(), "ips": moving, "to": host, "uncertain": exc.kind})
                _save_history(history_path, moves)
            raise
        if accepted:
            moves.append({"time": time.time(), "ips": moving, "to": host})
            _save_history(history_path, moves)
    said = "accepted the move" if accepted else f"already routes them to {host} (already provisioned)"
    if not wait:
        ret.update(result=True, comment=f"the API {said} of {', '.join(group)} to {host}; not waiting for it")
        return
    confirmed, pending, error = _confirm(
        prov, group, destination, failover["confirm_timeout"], failover["confirm_interval"]
    )
    ret["confirmed"] = confirmed
    if confirmed:
        ret.update(
            result=True, comment=f"{', '.join(group)} routed to {host} ({destination}): the API {said}"
        )
        return
    still = f"still routes {', '.join(pending)} elsewhere" if pending else "could not be read back"
    last = f" (last read: {error})" if error else ""
    ret["comment"] = (
        f"the API {said} of {', '.join(group)} to {host}, but {still} after"
        f" {failover['confirm_timeout']} s{last}: not done"
    )


def _server_error(hv, host):
    try:
        _server_id(hv, host)
    except CommandExecutionError as exc:
        return str(exc)
    return f"{host} cannot be resolved"


def failover_move(ip, host, wait=True):
    """
    Route failover IP ``ip`` (several: a list, or comma-separated; with every
    IP sharing a virtual MAC with one of them) to cluster host ``host``'s main
    IP, in one API call. Refused, with nothing sent, when ``ip``
    is not a cluster failover IP, ``host`` has no ``online_server_id``, or an
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
            raise _refused("no failover IP given")
        _move(hv, _provider(hv, _online()), ips, host, wait, ret)
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
    ret["waited"] = round(time.monotonic() - start, 1)
    data = {key: ret[key] for key in ("ips", "from", "to", "comment", "confirmed")}
    _event(f"hv/failover/move/{'done' if ret['result'] else 'failed'}", data)
    (log.info if ret["result"] else log.warning)("online: failover_move: %s", ret["comment"])
    return ret


# ---------------------------------------------------------------------- sync


def _wanted(hv, prov):
    """(IPs to answer for, IPs the API routes here the cluster does not list, who says so)."""
    me = hv["me"]
    cluster = set(_cluster_ips(hv))
    if prov is None:
        return _sorted_ips(me["failover_ips"]), [], "the pillar (no provider: static)"
    if me.get("online_server_id") is None:
        raise CommandExecutionError(
            f"{me['name']} has no online_server_id in pillar (hypervisor:hosts:{me['name']}):"
            " cannot ask the provider which failover IPs it routes here"
        )
    routed = set(_api(prov, "server", me["online_server_id"]).failover_ips)
    return _sorted_ips(routed & cluster), _sorted_ips(routed - cluster), "the API"


def _shorewall_running():
    return _run(["shorewall", "status"])[0]


def _announce(template, interface, ips):
    """A gratuitous ARP for each of ``ips``; (announced, failures)."""
    done, failed = [], []
    for ip in ips if template else []:
        ok, said = _run(_garp_command(template, interface, ip))
        (done if ok else failed).append(ip if ok else said)
    return done, failed


def _sync(hv, prov, test, ret):
    wanted, ignored, source = _wanted(hv, prov)
    path = _proxyarp_path(hv)
    bridge = hv["public_bridge"]
    if wanted and not bridge:
        raise CommandExecutionError("no public bridge (bridges:<net>:public) to route the failover IPs to")
    before = _read_bytes(path)
    current = parse_proxyarp(before.decode("utf-8", "replace")) if before is not None else []
    interface = hv["me"]["public"]["interface"]
    content = _render(wanted, bridge["name"] if bridge else "-", interface).encode()
    added = [ip for ip in wanted if ip not in current]
    removed = [ip for ip in current if ip not in wanted]
    ret.update(ips=wanted, ignored=ignored, added=added, removed=removed)
    shown = ", ".join(wanted) or "no failover IP"
    note = f"; ignored (routed here, not a cluster failover IP): {', '.join(ignored)}" if ignored else ""
    if before == content:
        ret["comment"] = f"{path} answers for {shown}, as {source} says{note}"
        if not test:
            _publish()
        return
    ret["changed"] = True
    delta = f"+[{', '.join(added)}] -[{', '.join(removed)}]"
    if test:
        ret["result"] = None
        ret["comment"] = f"would write {path} for {shown} ({delta}), as {source} says{note}"
        return
    _write_atomic(path, content, 0o644)
    if not _shorewall_running():
        ret["comment"] = (
            f"wrote {path} for {shown} ({delta}), as {source} says; Shorewall is not running:"
            f" it applies the file when it starts{note}"
        )
    else:
        ok, said = _run(RELOAD)
        if not ok:
            _restore(path, before)
            again, said_again = _run(RELOAD)
            restored = "reloaded" if again else f"its reload failed too: {said_again}"
            ret.update(result=False, changed=False)
            ret["comment"] = f"{said}; {path} is back as it was ({restored}){note}"
            _event("hv/failover/error", {"op": "sync", "error": ret["comment"]})
            return
        ret["reloaded"] = True
        ret["garp"], failed = _announce(hv["failover"].get("garp_command"), interface, added)
        garp = f"; gratuitous ARP failed: {'; '.join(failed)}" if failed else ""
        ret["comment"] = (
            f"wrote {path} for {shown} ({delta}), as {source} says, and reloaded Shorewall{garp}{note}"
        )
    log.info("online: %s", ret["comment"])
    _event("hv/failover/proxyarp/updated", {"added": added, "removed": removed, "ips": wanted})
    _publish()


def sync_failover(test=False):
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
        prov = _provider(hv, _online())
        if test:
            _sync(hv, prov, True, ret)
        else:
            with _locked(os.path.join(hv["failover"]["state_dir"], SYNC_LOCK)):
                _sync(hv, prov, False, ret)
    except (CommandExecutionError, OSError) as exc:
        ret.update(result=False, changed=False, reloaded=False, garp=[], comment=str(exc))
        log.warning("online: sync_failover: %s", exc)
        _event("hv/failover/error", {"op": "sync", "error": str(exc)})
    return ret


# ---------------------------------------------------------------------- fence

FENCE_EVENT_KEYS = ("host", "server_id", "image", "reason", "rescue", "rebooted", "comment")


def _fence_target(hv, host):
    """``host``'s ``online_server_id``; refused, nothing sent, for this host or one the
    API cannot reach (not a cluster host, no ``online_server_id``: the arbiter)."""
    if host in (hv["me"]["name"], __grains__.get("id")):
        raise _refused(f"a host does not fence itself ({host} is this host)")
    try:
        return _server_id(hv, host)
    except CommandExecutionError as exc:
        raise _refused(str(exc)) from None


def _rescue_image(hv, prov, server_id, image):
    """(the rescue image to boot, where it comes from): ``image``, else
    ``hypervisor:takeover:rescue_image``, else the first one the API lists."""
    if image:
        return str(image).strip(), "given"
    configured = (hv.get("takeover") or {}).get("rescue_image") or ""
    if configured:
        return str(configured).strip(), "hypervisor:takeover:rescue_image"
    try:
        images = _api(prov, "rescue_images", server_id)
    except _ApiError as exc:
        raise CommandExecutionError(f"{exc}: not fenced (no rescue image to boot)") from None
    if not images:
        raise CommandExecutionError(f"the API lists no rescue image for server {server_id}: not fenced")
    return images[0], "the first the API lists"


def _fence(hv, prov, host, reason, image, ret):
    """fence's work; fills ``ret``, raises CommandExecutionError on a refusal or an API error."""
    sid = _fence_target(hv, host)
    if prov is None:
        raise _refused(f"{NO_PROVIDER}: no host can be fenced")
    me = hv["me"]["name"]
    reason = " ".join(str(reason or "").split()) or (
        f"fenced by {me}: its HA cluster holds {host} for dead (next boot: rescue)"
    )
    ret.update(server_id=sid, reason=reason)
    doing = f"fencing {host} (server {sid}): rescue boot, then a hard reboot"
    _event("hv/fence/started", {"host": host, "server_id": sid, "reason": reason, "comment": doing})
    log.warning("online: %s (%s)", doing, reason)
    ret["image"], source = _rescue_image(hv, prov, sid, image)
    try:
        _api(prov, "boot_rescue", sid, ret["image"])
    except (_ApiError, ValueError) as exc:  # ValueError: not an image name, nothing sent
        raise CommandExecutionError(f"{exc}: not fenced (no reboot asked)") from None
    ret["rescue"] = True
    try:
        _api(prov, "reboot", sid, reason)
    except _ApiError as exc:
        rescue = f"the next boot of {host} is the rescue system {ret['image']}"
        if exc.kind in UNCERTAIN:
            said = (
                f"not known to be fenced: {rescue}, but the API may or may not have taken the reboot"
                " (not sent again: one call never reboots twice)"
            )
        else:
            said = f"not fenced: {rescue}, but the API refused the reboot"
        raise CommandExecutionError(f"{exc}: {said}") from None
    ret.update(
        rebooted=True,
        result=True,
        comment=f"{host} (server {sid}) fenced: the API took its hard reboot into the rescue system"
        f" {ret['image']} ({source}); it stays out until booted normally (online.unfence {host})",
    )


def fence(host, reason=None, image=None):
    """
    Keep cluster host ``host`` out through the provider's API: its next boot is
    a rescue system, then a hard reboot (the API has no power-off). The host
    stays in the rescue system until an operator boots it normally
    (``online.unfence``). Refused, with nothing sent, for this host (a host
    does not fence itself), a host that is not a cluster host or has no
    ``online_server_id``, or without a provider. The reboot is sent at most
    once: when its answer is lost the comment says the host may or may not
    have rebooted. Returns ``{"result", "host", "server_id", "image",
    "reason", "rescue" (the rescue boot is set), "rebooted" (the API took the
    reboot), "comment"}``; never raises for an API error. The rescue
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
        "comment": "",
    }
    try:
        hv = _settings()
        _fence(hv, _provider(hv, _online()), host, reason, image, ret)
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
        ret["server_id"] = sid = _server_id(hv, host)
        _api(prov, "boot_normal", sid)
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
