"""Run last (conftest orders it so): after every test that broke something
and put it back, each host is converged and can still take a guest."""

import pytest

from tests.lab.conftest import ARBITERS, HYPERVISORS, failed
from tests.lab.guests import throwaway_guest
from tests.lab.test_leases import BOUND, start_within

pytestmark = [pytest.mark.lab, pytest.mark.last]
HOSTS = HYPERVISORS


def test_every_host_converged_and_takes_a_guest(lab):
    rc, data, text = lab.apply()
    assert rc == 0 and all(failed(data[h]) == [] for h in HOSTS + ARBITERS), text
    rc, data, text = lab.salt("-N", "hypervisors", "sanlock.status")
    assert rc == 0, text
    for host in HOSTS:
        assert data[host]["can_take_guests"], f"{host}: {data[host]['reason']}"
    with throwaway_guest(lab, "endguest") as name:
        for host in HOSTS:
            start_within(lab, host, name, BOUND)
            lab.sh(host, f"virsh destroy {name}")
