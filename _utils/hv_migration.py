"""
hv_migration: one guest's live migration to another cluster host (F20): peer to
peer over the private network, shared storage (no disk copy), the options of
``hypervisor:evacuation``; progress events while it runs, aborted past its
deadline. A migration that fails leaves the guest running at its source
(libvirt rolls it back). Plain Python; ``event(tag, data)`` fires the events.
"""

import contextvars
import logging
import threading
import time

import hv_domains

try:
    import libvirt
except ImportError:
    libvirt = None

log = logging.getLogger(__name__)

PROGRESS_EVERY = 5  # seconds between two progress events of one migration


def _flags(evacuation):
    flags = (
        libvirt.VIR_MIGRATE_LIVE
        | libvirt.VIR_MIGRATE_PEER2PEER
        | libvirt.VIR_MIGRATE_PERSIST_DEST
        | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
    )
    if evacuation["auto_converge"]:
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if evacuation["postcopy"]:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    return flags


def _params(hv, host):
    """Migration data straight to the destination's RPN address, never its public one."""
    params = {libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://{hv['hosts'][host]['rpn']['ip']}"}
    if hv["evacuation"]["bandwidth"]:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(hv["evacuation"]["bandwidth"])
    return params


def _watch(dom, name, host, deadline, done, event):
    """Progress events while a migration runs; abort it past its deadline."""
    last = 0.0
    while not done.wait(1):
        if time.monotonic() > deadline:
            log.warning("guests: migration of %s to %s ran out of time: aborting it", name, host)
            try:
                dom.abortJob()
            except libvirt.libvirtError as exc:
                log.warning("guests: aborting the migration of %s: %s", name, exc)
            return
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            try:
                stats = dom.jobStats()
            except libvirt.libvirtError:
                continue
            event(
                "guest/progress",
                {"guest": name, "to": host, "memory_remaining": stats.get("memory_remaining")},
            )


def migrate(hv, name, host, event, local_host, uri=None):
    """Live-migrate ``name`` from ``uri`` (default: this host, ``local_host``) to ``host``;
    return the outcome (never raises once the source answers).

    Outcomes: ``migrated`` (runs on ``host`` only), ``failed`` (still runs at the
    source: libvirt rolled the migration back), ``unknown`` (neither side shows it
    running: an operator must look; not expected, libvirt keeps one side).
    """
    start = time.monotonic()
    conn = hv_domains.connect(uri)
    done = threading.Event()
    try:
        dom = conn.lookupByName(name)
        event("guest/migrating", {"guest": name, "to": host})
        deadline = time.monotonic() + hv["evacuation"]["migrate_timeout"]
        watcher = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_watch, dom, name, host, deadline, done, event),
            daemon=True,
        )
        watcher.start()
        error = None
        try:
            dom.migrateSetMaxDowntime(int(hv["evacuation"]["max_downtime"]), 0)
            dom.migrateToURI3(hv_domains.host_uri(hv, host), _params(hv, host), _flags(hv["evacuation"]))
        except libvirt.libvirtError as exc:
            error = str(exc)
        finally:
            done.set()
        if error:
            hv_domains.resume_if_paused(dom)
        at_source = hv_domains.state(dom) if name in hv_domains.domains(conn) else "absent"
    finally:
        conn.close()
    seconds = round(time.monotonic() - start, 2)
    if (
        at_source not in hv_domains.ACTIVE
        and hv_domains.remote_state(hv, host, name, local_host) == "running"
    ):
        return {"outcome": "migrated", "host": host, "seconds": seconds}
    if at_source in hv_domains.ACTIVE:
        return {"outcome": "failed", "why": error or "the guest still runs here", "seconds": seconds}
    return {
        "outcome": "unknown",
        "why": error or f"not running here ({at_source}) nor on {host}",
        "seconds": seconds,
    }
