"""F1 for real: a malformed pillar stops state.apply on both lab hosts
before anything changes, with a message naming the bad key.

One case of each kind of check (tests/pillar_cases.py, LAB_KINDS; tests/unit
runs every case through the same validator) runs once through the real master; the hosts' fingerprints (files
under /etc, /home, /var/lib/libvirt, links, addresses) are taken before the
first case and after the last: a refused run cannot undo what another did,
so equal fingerprints prove that no case changed anything. A hand edit that a
valid run would revert stays in place throughout.
"""

import pytest

from tests import pillar_cases
from tests.lab.conftest import assert_refused, changed

pytestmark = pytest.mark.lab
HOSTS = ("hyp1", "hyp2")
CASES = pillar_cases.one_per_kind(pillar_cases.CASES)
MARK = "# hand-edited: a valid state.apply would restore this file\n"


@pytest.fixture(scope="module")
def runs(lab):
    """{case: (exit code, {host: return}, text)}, with the fingerprints around them."""
    lab.apply()
    for host in HOSTS:
        lab.sh(host, f"printf %s '{MARK}' >> /etc/ksmtuned.conf")
    before = {h: lab.fingerprint(h) for h in HOSTS}
    out = lab.apply_each((case, mutation) for case, mutation, _key in CASES)
    after = {h: lab.fingerprint(h) for h in HOSTS}
    marked = {h: MARK in lab.sh(h, "cat /etc/ksmtuned.conf") for h in HOSTS}
    yield out, before, after, marked
    rc, data, text = lab.apply()
    assert rc == 0, text
    for host in HOSTS:
        assert changed(data[host]) == ["ksm-config-ksmtuned-conf-managed"]


@pytest.mark.parametrize(("case", "key"), [(c, k) for c, _m, k in CASES])
def test_refused_naming_the_key(runs, case, key):
    assert_refused(runs[0][case], key, HOSTS)


def test_nothing_changed_on_any_host(runs):
    _out, before, after, marked = runs
    for host in HOSTS:
        assert after[host] == before[host], f"{host} changed while refusing the cases"
        assert marked[host], f"{host}: the hand edit was reverted"
