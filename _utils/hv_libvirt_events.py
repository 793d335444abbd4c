"""
hv_libvirt_events: one connection to this host's libvirtd and its guests'
lifecycle events (started, stopped, with libvirt's detail), for the keeper.
The connection is opened again after libvirtd went away. Plain Python.
"""

import contextlib
import logging
import queue
import threading
import time

import hv_domains
from hv_domains import URI, CommandExecutionError, libvirt

log = logging.getLogger(__name__)

_EVENT_LOOP = {"started": False}


class LibvirtEvents:
    """One connection to libvirtd and its lifecycle events, queued as
    ``(guest, event, detail)`` by libvirt's event loop thread."""

    def __init__(self):
        self.events = queue.Queue()
        self.conn = None
        self.closed = threading.Event()
        if not _EVENT_LOOP["started"]:  # once per process, before any connection
            libvirt.virEventRegisterDefaultImpl()
            threading.Thread(target=_run_event_loop, daemon=True, name="libvirt-events").start()
            _EVENT_LOOP["started"] = True

    def _lifecycle(self, _conn, dom, event, detail, _opaque):
        self.events.put((dom.name(), event, detail))

    def connected(self):
        """The connection, opened again after libvirtd went away (None while it is away)."""
        if self.conn is not None and not self.closed.is_set():
            return self.conn
        self.close()
        try:
            conn = libvirt.open(URI)
            conn.registerCloseCallback(lambda *_args: self.closed.set(), None)
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None)
            conn.setKeepAlive(5, 3)
        except libvirt.libvirtError as exc:
            log.warning("keeper: libvirt (%s): %s", URI, exc)
            return None
        self.conn = conn
        self.closed.clear()
        return conn

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self.conn.close()
        self.conn = None

    def wait(self, timeout):
        """The events queued within ``timeout`` seconds (returns at the first one)."""
        try:
            first = self.events.get(timeout=timeout)
        except queue.Empty:
            return []
        return [first, *self.drain()]

    def drain(self):
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.events.get_nowait())
        return out

    def domains(self):
        """``{name: (state, reason)}`` of every guest libvirt knows here."""
        conn = self.connected()
        if conn is None:
            raise CommandExecutionError("libvirtd does not answer")
        return {dom.name(): tuple(dom.state()) for dom in conn.listAllDomains()}

    def capacity(self):
        """This host's capacity for placement (B8): ``{"memory", "cpus", "used_memory",
        "used_vcpus"}`` (MiB and counts: the host's, and its running guests'); None while
        libvirtd does not answer."""
        conn = self.connected()
        if conn is None:
            return None
        try:
            _model, memory, cpus, *_ = conn.getInfo()
            sizes = hv_domains.sizes(conn)
        except libvirt.libvirtError as exc:
            log.warning("keeper: libvirt capacity: %s", exc)
            return None
        return {
            "memory": memory,
            "cpus": cpus,
            "used_memory": sum(g["memory"] for g in sizes.values()),
            "used_vcpus": sum(g["vcpus"] for g in sizes.values()),
        }


def _run_event_loop():
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception as exc:  # keep the loop: a failed iteration must not end the events
            log.warning("keeper: libvirt event loop: %s", exc)
            time.sleep(1)
