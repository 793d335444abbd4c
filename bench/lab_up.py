"""The lab a benchmark measures: up and healthy, or a clear word on stderr."""

import sys

from lab import __main__ as labctl
from lab import topology
from tests.lab.conftest import Lab


def lab_or_none():
    """The lab (tests.lab.conftest.Lab) when every host is healthy; else None, told on stderr."""
    hosts = topology.hosts()
    if not labctl.healthy(hosts):
        print("the lab is not up: run make lab first", file=sys.stderr)
        return None
    return Lab(hosts)
