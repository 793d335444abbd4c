"""
hv_placement: where guests go by capacity. Each host publishes its ``capacity``
(its memory and CPUs, and what its running guests use); the pillar's
``placement`` section says how much of a host guests may have:

- ``reserve_memory``: MiB kept for the host itself;
- ``memory_ratio``: percent of the rest that guests may use;
- ``vcpu_ratio``: guest vCPUs per host CPU.

The largest guests go first, each onto the host that keeps the most memory free,
away from the guests of its ``anti_affinity`` group while another host has room.
A host whose capacity is unknown takes no guest. Plain Python.
"""

DEFAULTS = {"reserve_memory": 1024, "memory_ratio": 100, "vcpu_ratio": 4}
CAPACITY_KEYS = ("memory", "cpus", "used_memory", "used_vcpus")


def _is_count(value):
    """Whether ``value`` is a whole number of at least 0 (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def room(capacity, settings=None):
    """What guests may still take on a host, ``{"memory": MiB, "vcpus": n}`` (negative
    when it is overcommitted already), from its published ``capacity`` and the
    ``placement`` settings; None when the capacity is missing or malformed."""
    if not isinstance(capacity, dict) or not all(_is_count(capacity.get(key)) for key in CAPACITY_KEYS):
        return None
    limits = {**DEFAULTS, **{k: v for k, v in (settings or {}).items() if v is not None}}
    guest_memory = int(max(0, capacity["memory"] - limits["reserve_memory"]) * limits["memory_ratio"] / 100)
    return {
        "memory": guest_memory - capacity["used_memory"],
        "vcpus": capacity["cpus"] * limits["vcpu_ratio"] - capacity["used_vcpus"],
    }


def fits(guest, free):
    """Whether ``guest`` (its memory and vCPUs) fits in the room ``free``."""
    return free is not None and guest["memory"] <= free["memory"] and guest["vcpus"] <= free["vcpus"]


def _roomiest_first(free):
    """The hosts of ``free`` by most memory, then most vCPUs, then name."""
    return sorted(free, key=lambda host: (-free[host]["memory"], -free[host]["vcpus"], host))


def _plural(count, word):
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _why_unplaced(guest, free, unknown):
    """The sentence that says why ``guest`` found no host."""
    unknown_note = f"{', '.join(unknown)}: capacity unknown"
    if not free:
        if unknown:
            return f"no host with known capacity can take it ({unknown_note})"
        return "no other host can take guests"
    roomiest = _roomiest_first(free)[0]
    why = (
        f"needs {guest['memory']} MiB and {_plural(guest['vcpus'], 'vCPU')}; the roomiest host "
        f"({roomiest}) has {free[roomiest]['memory']} MiB and "
        f"{_plural(free[roomiest]['vcpus'], 'vCPU')} free"
    )
    return f"{why} ({unknown_note})" if unknown else why


def plan(guests, rooms, groups=None):
    """Where each of ``guests`` goes among the hosts of ``rooms`` (``{host: room or
    None}``), given the ``anti_affinity`` ``groups`` already running on each host:
    ``{"targets": {guest: host}, "unplaced": {guest: reason}}``."""
    free = {host: dict(space) for host, space in rooms.items() if space is not None}
    unknown = sorted(host for host, space in rooms.items() if space is None)
    present = {host: set((groups or {}).get(host) or ()) for host in free}
    targets, unplaced = {}, {}
    by_size = sorted(guests, key=lambda name: (-guests[name]["memory"], -guests[name]["vcpus"], name))
    for name in by_size:
        guest = guests[name]
        group = guest.get("anti_affinity")
        able = [host for host in _roomiest_first(free) if fits(guest, free[host])]
        apart = [host for host in able if group is None or group not in present[host]]
        host = next(iter(apart or able), None)
        if host is None:
            unplaced[name] = _why_unplaced(guest, free, unknown)
            continue
        targets[name] = host
        free[host]["memory"] -= guest["memory"]
        free[host]["vcpus"] -= guest["vcpus"]
        if group is not None:
            present[host].add(group)
    return {"targets": targets, "unplaced": unplaced}
