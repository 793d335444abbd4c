"""
public_net: restart the public side of this host alone (F23).

The seed's ``wan`` init script restarted only the public NIC and the public
bridge, never the private side the storage runs over. ``restart`` does the
same with the host's network backend: ``networkctl reconfigure NIC BRIDGE``
(systemd-networkd, waiting until both links are configured again) or
``nmcli connection up`` of ``hv-public`` and of the bridge's connection
(NetworkManager). networkd drops the routes it did not make when it
reconfigures a link, Shorewall's proxy ARP routes among them, so Shorewall is
then reloaded when it runs. An operator calls it by hand
(``salt hyp1 public_net.restart``).

``reassert`` is what the networkd states run after ``networkctl reload``:
networkd has reconfigured the links whose files changed (and only those), so
nothing is restarted again; once the public links are configured, Shorewall is
reloaded when it runs, which puts back the proxy ARP routes a reconfigured
link lost. Guests on the public bridge keep their traffic when only another
link's file changed (a VXLAN remote of a host added to the cluster).
"""

import logging
import shutil
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "public_net"
BACKENDS = ("networkd", "networkmanager")
# networkd's SETUP column: done, still going, given up.
SETTLED = {"configured", "unmanaged"}
FAILED = {"failed"}
SETTLE_TIMEOUT = 30


def __virtual__():
    return __virtualname__


def _commands(backend, interface, bridge):
    """The commands that restart ``interface`` and ``bridge`` (may be None) on ``backend``."""
    if backend == "networkd":
        return [["networkctl", "reconfigure", interface] + ([bridge] if bridge else [])]
    if backend == "networkmanager":
        connections = ["hv-public"] + ([f"hv-{bridge}"] if bridge else [])
        return [["nmcli", "connection", "up", "id", connection] for connection in connections]
    raise CommandExecutionError(f"unknown network backend {backend!r}: one of {', '.join(BACKENDS)}")


def parse_networkctl_list(text):
    """``networkctl list --no-legend``: {link: setup state} (``configured``, ``configuring`` …)."""
    states = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit():
            states[fields[1]] = fields[4]
    return states


def _run(cmd):
    ret = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True)
    if ret["retcode"] != 0:
        said = (ret["stderr"] or ret["stdout"]).strip() or "no output"
        raise CommandExecutionError(f"{' '.join(cmd)}: exit code {ret['retcode']}, {said}")
    return ret["stdout"]


def _wait_configured(links, timeout=SETTLE_TIMEOUT):
    """Wait until networkd has configured ``links`` again (it reconfigures in the background)."""
    deadline = time.monotonic() + timeout
    time.sleep(1)
    while True:
        states = parse_networkctl_list(_run(["networkctl", "list", "--no-legend", "--no-pager"]))
        failed = [f"{link} ({states[link]})" for link in links if states.get(link) in FAILED]
        if failed:
            raise CommandExecutionError(f"networkd failed to configure {', '.join(failed)}")
        pending = [
            f"{link} ({states.get(link, 'absent')})" for link in links if states.get(link) not in SETTLED
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"networkd has not configured {', '.join(pending)} after {timeout}s")
        time.sleep(0.5)


def settle(links, timeout=SETTLE_TIMEOUT, retries=2):
    """
    Wait until systemd-networkd has configured ``links``; a link networkd gave
    up on ("failed", e.g. a netlink error while many links come up at once)
    is reconfigured, at most ``retries`` times. Raises when a link stays
    failed or is still pending after ``timeout`` seconds.

    CLI Example:

    .. code-block:: bash

        salt hyp1 public_net.settle '[eth0, brwan]'
    """
    for attempt in range(retries + 1):
        try:
            return _wait_configured(links, timeout)
        except CommandExecutionError as exc:
            states = parse_networkctl_list(_run(["networkctl", "list", "--no-legend", "--no-pager"]))
            failed = [link for link in links if states.get(link) in FAILED]
            if not failed or attempt == retries:
                raise
            log.warning("%s; reconfiguring %s", exc, ", ".join(failed))
            _run(["networkctl", "reconfigure", *failed])
    return None


def _shorewall_running():
    """True when Shorewall is started (``shorewall status``: 0 started, 3 stopped, 4 unknown)."""
    if shutil.which("shorewall") is None:
        return False
    ret = __salt__["cmd.run_all"](["shorewall", "status"], python_shell=False, ignore_retcode=True)
    return ret["retcode"] == 0


def _public_side():
    """This host's public interface, public bridge (or None) and backend, from the settings."""
    hv = __salt__["hypervisor_pillar.settings"]()
    bridge = hv["local_public_bridge"]["name"] if hv.get("local_public_bridge") else None
    return hv["me"]["public"]["interface"], bridge, hv["network"]["backend"]


def restart(interface=None, bridge=None, backend=None):
    """
    Restart the public side only: the public interface and the public bridge,
    then reload Shorewall (proxy ARP routes) if it is started. The private
    (RPN) side is never touched. Returns what was run.

    interface
        The public interface (default: this host's ``public:interface``).
    bridge
        The public bridge (default: the bridge with ``public: true``, if any).
    backend
        ``networkd`` or ``networkmanager`` (default: the OS family's).

    With no argument, all three come from this host's settings.

    CLI Example:

    .. code-block:: bash

        salt hyp1 public_net.restart
    """
    if interface is None or backend is None:
        interface, default_bridge, default_backend = _public_side()
        bridge = default_bridge if bridge is None else bridge
        backend = backend or default_backend
    ran = []
    for cmd in _commands(backend, interface, bridge):
        _run(cmd)
        ran.append(" ".join(cmd))
    if backend == "networkd":
        settle([interface] + ([bridge] if bridge else []))
    if _shorewall_running():
        _run(["shorewall", "reload"])
        ran.append("shorewall reload")
        shorewall = "reloaded: proxy ARP reasserted"
    else:
        shorewall = "not started: nothing to reassert"
    log.info("public side restarted: %s", "; ".join(ran))
    return {"interface": interface, "bridge": bridge, "backend": backend, "ran": ran, "shorewall": shorewall}


def reassert(interface=None, bridge=None):
    """
    After ``networkctl reload``: wait until the public interface and the public
    bridge are configured (networkd reconfigures a link whose file changed in
    the background), then reload Shorewall if it is started, which puts back
    its proxy ARP routes. No link is reconfigured here. Returns what was run.

    interface, bridge
        As for ``restart`` (default: this host's settings).

    CLI Example:

    .. code-block:: bash

        salt hyp1 public_net.reassert
    """
    if interface is None:
        interface, default_bridge, _backend = _public_side()
        bridge = default_bridge if bridge is None else bridge
    links = [interface] + ([bridge] if bridge else [])
    settle(links)
    ran = []
    if _shorewall_running():
        _run(["shorewall", "reload"])
        ran.append("shorewall reload")
    log.info("public side reasserted: %s", "; ".join(ran) or "Shorewall not started")
    return {"interface": interface, "bridge": bridge, "ran": ran}
