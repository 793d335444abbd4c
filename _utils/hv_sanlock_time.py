"""
sanlock's clock, in one place: a host renews its delta lease every 2 x
io_timeout, its renewals have failed after 8 x io_timeout without one, and it
is dead (its leases may be taken) after 8 x io_timeout + the watchdog fire
timeout. The settings view, the sanlock module and the benchmarks all use it.
"""

# sanlock's own io_timeout when a host's row names none (its default).
SANLOCK_IO_TIMEOUT = 10


def renewal(io_timeout):
    """Seconds between two renewals of a host lease."""
    return 2 * io_timeout


def renewal_fail(io_timeout):
    """Seconds without a renewal after which a host's renewals have failed."""
    return 8 * io_timeout


def host_dead(io_timeout, watchdog_fire_timeout):
    """Seconds without a renewal after which a host is dead and its leases may be taken."""
    return renewal_fail(io_timeout) + watchdog_fire_timeout


def host_state(row, now, watchdog_fire_timeout):
    """What sanlock makes of a host (a row of ``sanlock client host_status -D``) at monotonic
    time ``now``: ``free`` (it left), ``live``, ``fail`` (its renewals failed) or ``dead``."""
    if not row.get("timestamp"):
        return "free"
    io_timeout = row.get("io_timeout") or SANLOCK_IO_TIMEOUT
    silent = now - row.get("last_live", 0)
    if silent < renewal_fail(io_timeout):
        return "live"
    return "fail" if silent < host_dead(io_timeout, watchdog_fire_timeout) else "dead"
