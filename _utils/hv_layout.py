"""
hv_layout: which hosts of the cluster do what (B8), from the pillar's ``hosts``
(and ``gluster:brick_hosts``) alone. Plain Python.

- The hosts that carry guests: every host but the arbiter, 2 to 8 of them.
- The hosts that hold each volume's bricks:
  - two hosts that carry guests and no arbiter: both (replica 2; no majority);
  - with an arbiter: two hosts that carry guests and the arbiter (replica 3
    arbiter 1);
  - three or more hosts that carry guests and no arbiter: three of them
    (replica 3).
  The other hosts are gluster peers that mount every volume and hold no brick.
  ``gluster:brick_hosts`` names the hosts that carry guests and hold bricks; it
  is required once there are more such hosts than brick places, so that adding
  a host never moves a brick.
- The majority that may take a dead host over: the brick hosts, whose client
  quorum (2 of 3) decides who may write the leases and the incidents.
"""

MIN_GUEST_HOSTS = 2
MAX_GUEST_HOSTS = 8
REPLICA = 3  # the volumes' copies once the cluster has a majority (an arbiter's is metadata only)


def arbiters(hosts):
    """The hosts whose role is arbiter, by name."""
    if not isinstance(hosts, dict):
        return []
    return [
        n for n in sorted(hosts, key=str) if isinstance(hosts[n], dict) and hosts[n].get("role") == "arbiter"
    ]


def arbiter(hosts):
    """The arbiter's name, or None (a second one is refused by the validator)."""
    return next(iter(arbiters(hosts)), None)


def members(hosts):
    """The hosts that carry guests, which the tunnels join: all but the arbiter."""
    return [name for name in sorted(hosts, key=str) if name not in arbiters(hosts)]


def guest_brick_places(hosts):
    """How many hosts that carry guests hold bricks: 2 beside an arbiter or in a
    two-host cluster, else 3."""
    return REPLICA - 1 if arbiter(hosts) or len(members(hosts)) <= MIN_GUEST_HOSTS else REPLICA


def guest_brick_hosts(hosts, named=None):
    """The hosts that carry guests and hold bricks: ``named`` (``gluster:brick_hosts``)
    when given, else all of them when they are no more than the places (else None:
    the validator asks for the names)."""
    if named:
        return list(named)
    guests = members(hosts)
    return guests if len(guests) <= guest_brick_places(hosts) else None


def brick_hosts(hosts, named=None):
    """Every host that holds a brick of each volume, in brick order (the arbiter last)."""
    return [*(guest_brick_hosts(hosts, named) or []), *arbiters(hosts)[:1]]


def has_majority(hosts):
    """Whether the bricks are three, so that two of them are a majority (client quorum)."""
    return bool(arbiter(hosts)) or len(members(hosts)) > MIN_GUEST_HOSTS
