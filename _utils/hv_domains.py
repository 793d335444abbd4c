"""
hv_domains: the guests as libvirt shows them, on this host (``qemu:///system``)
and on the other cluster hosts (over ssh on the private network, F20): states,
shutdown, and the persistent definitions the guests state compares by their
fingerprint (F26). Plain Python; libvirt errors become ``CommandExecutionError``
with the reason.
"""

import contextlib
import logging
import re
import socket
import time

import guest_xml

try:
    import libvirt
except ImportError:
    libvirt = None

from hv_runtime import CommandExecutionError

log = logging.getLogger(__name__)

URI = "qemu:///system"  # the tests point it at libvirt's test driver
STATES = {
    0: "no state",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutting down",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}
ACTIVE = ("running", "blocked", "paused", "shutting down", "suspended")
FINGERPRINT = re.compile(r"""fingerprint=["']([0-9a-f]{64})["']""")


def connect(uri=None):
    """A connection to libvirt at ``uri`` (default: this host's)."""
    uri = uri or URI
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"libvirt ({uri}): {exc}") from None


@contextlib.contextmanager
def connection(uri=None):
    """``connect(uri)`` for the block, closed after it."""
    conn = connect(uri)
    try:
        yield conn
    finally:
        conn.close()


def host_uri(hv, host):
    """The libvirt URI of cluster host ``host``, over ssh on the RPN (F20)."""
    ip = hv["hosts"][host]["rpn"]["ip"]
    return f"qemu+ssh://{hv['migration']['user']}@{ip}/system?no_tty=1"


def reachable(hv, host):
    """None when ``host`` answers on its SSH port over the RPN within ``peer_timeout``,
    else why not. (A host that answers there but cannot take the guest fails the
    migration itself, and the guest is saved instead.)"""
    ip, port = hv["hosts"][host]["rpn"]["ip"], hv["firewall"]["ssh_port"]
    try:
        socket.create_connection((ip, port), timeout=hv["evacuation"]["peer_timeout"]).close()
    except OSError as exc:
        return f"{host} ({ip}) does not answer over the private network: {exc}"
    return None


def state(dom):
    """The domain's state in words (``STATES``)."""
    return STATES.get(dom.state()[0], "unknown")


def still_active(dom):
    """Whether the domain runs (False when libvirt cannot say)."""
    try:
        return state(dom) in ACTIVE
    except libvirt.libvirtError:
        return False


def domains(conn):
    return {dom.name(): dom for dom in conn.listAllDomains()}


def running(conn):
    """The names of the guests that run on ``conn``, sorted."""
    return sorted(name for name, dom in domains(conn).items() if state(dom) in ACTIVE)


def sizes(conn):
    """``{name: {"memory": MiB, "vcpus": n}}`` of the guests that run on ``conn``."""
    out = {}
    for name, dom in domains(conn).items():
        info = dom.info()  # state, max memory (KiB), memory (KiB), vCPUs, CPU time
        if STATES.get(info[0]) in ACTIVE:
            out[name] = {"memory": info[1] // 1024, "vcpus": info[3]}
    return out


def capacity(hv, host, local_host):
    """``host``'s capacity as hv_placement reads it (``memory``, ``cpus``, ``used_memory``,
    ``used_vcpus``: MiB and counts) and ``running``: its guests' names; None when its
    libvirt does not answer."""
    try:
        with connection(URI if host == local_host else host_uri(hv, host)) as conn:
            _model, memory, cpus, *_ = conn.getInfo()
            running_there = sizes(conn)
    except (CommandExecutionError, libvirt.libvirtError) as exc:
        log.warning("placement: %s: %s", host, exc)
        return None
    return {
        "memory": memory,
        "cpus": cpus,
        "used_memory": sum(g["memory"] for g in running_there.values()),
        "used_vcpus": sum(g["vcpus"] for g in running_there.values()),
        "running": sorted(running_there),
    }


def running_here():
    with connection() as conn:
        return running(conn)


def list_local():
    """Every guest libvirt knows on this host: ``{name: {"state", "persistent"}}``."""
    with connection() as conn:
        return {
            name: {"state": state(dom), "persistent": bool(dom.isPersistent())}
            for name, dom in sorted(domains(conn).items())
        }


def remote_state(hv, host, name, local_host):
    """The guest's state on ``host`` ("absent" when not defined there), or None if unknown;
    ``local_host``: this host's name (reached without ssh)."""
    try:
        conn = libvirt.open(URI if host == local_host else host_uri(hv, host))
    except libvirt.libvirtError:
        return None
    try:
        return state(conn.lookupByName(name))
    except libvirt.libvirtError:
        return "absent"
    finally:
        conn.close()


def where(hv, name, local_host):
    """Guest ``name``'s state on every host that carries guests: ``{host: state}``,
    "absent" where it is not defined, "unknown" where the host does not answer."""
    out = {}
    for host in hv["tunnels"]["members"]:
        if host != local_host and reachable(hv, host):
            out[host] = "unknown"
            continue
        out[host] = remote_state(hv, host, name, local_host) or "unknown"
    return out


def runs_nowhere(hv, name):
    """True when no host that carries guests runs ``name`` (or answers otherwise)."""
    me = hv["me"]["name"]
    others = [host for host in hv["tunnels"]["members"] if host != me]
    return name not in running_here() and not any(remote_state(hv, h, name, me) in ACTIVE for h in others)


def resume_if_paused(dom):
    """A failed save or migration may leave the guest paused here: let it run again."""
    try:
        if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
            log.warning("guests: %s was left paused by a failed operation: resumed", dom.name())
    except libvirt.libvirtError as exc:
        log.error("guests: %s is paused and cannot be resumed: %s", dom.name(), exc)


def shut_down(dom, wait):
    """Ask the guest to shut down, wait up to ``wait`` seconds, then destroy it; how it ended."""
    if wait > 0:
        with contextlib.suppress(libvirt.libvirtError):
            dom.shutdown()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if state(dom) not in ACTIVE:
                return "shut down"
            time.sleep(1)
    try:
        dom.destroy()
    except libvirt.libvirtError as exc:
        if state(dom) in ACTIVE:
            raise CommandExecutionError(f"{dom.name()} could not be destroyed: {exc}") from None
    return "destroyed" if wait == 0 else f"destroyed (no shutdown within {wait} s)"


# ------------------------------------------------------------------ definitions (F26)


def _fingerprint(dom):
    """The fingerprint in the domain's persistent definition, None when it has none."""
    if not dom.isPersistent():
        return None
    try:
        element = dom.metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, guest_xml.NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        )
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise
    found = FINGERPRINT.search(element)
    return found.group(1) if found else None


def _described(dom):
    return {"uuid": dom.UUIDString(), "fingerprint": _fingerprint(dom), "active": bool(dom.isActive())}


def definition(name):
    """Guest ``name`` as libvirt defines it here: ``{"uuid", "fingerprint" (of its
    persistent definition; None without one), "active"}``, None when libvirt does not
    know it."""
    with connection() as conn:
        try:
            return _described(conn.lookupByName(name))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise CommandExecutionError(f"libvirt: {exc}") from None


def define(xml):
    """Define a guest from ``xml`` (persistent; a running one takes it at its next
    start; nothing is started). Returns it as ``definition`` does."""
    with connection() as conn:
        try:
            return _described(conn.defineXML(xml))
        except libvirt.libvirtError as exc:
            raise CommandExecutionError(f"libvirt: {exc}") from None
