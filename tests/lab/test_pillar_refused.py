"""F1 for real: each malformed pillar stops state.apply on both lab hosts
before anything changes, with a message naming the bad key.

Every case runs once through the real master; the hosts' fingerprints (files
under /etc, /home, /var/lib/libvirt, links, addresses) are taken before the
first case and after the last: a refused run cannot undo what another did,
so equal fingerprints prove that no case changed anything. A hand edit that a
valid run would revert stays in place throughout.
"""

import pytest
import yaml

from lab import master
from tests import pillar_cases
from tests.lab.conftest import GROUP, changed

pytestmark = pytest.mark.lab
HOSTS = ("hyp1", "hyp2")
MARK = "# hand-edited: a valid state.apply would restore this file\n"


def _override(pillar):
    for name in ("hypervisor", "online"):
        (master.PILLAR_OVERRIDE / f"{name}.sls").write_text(yaml.safe_dump({name: pillar[name]}))


@pytest.fixture(scope="module")
def runs(lab):
    """{case: (exit code, {host: return}, text)}, with the fingerprints around them."""
    lab.apply()
    for host in HOSTS:
        lab.sh(host, f"printf %s '{MARK}' >> /etc/ksmtuned.conf")
    before = {h: lab.fingerprint(h) for h in HOSTS}
    out = {}
    try:
        for case, mutation, _key in pillar_cases.CASES:
            _override(pillar_cases.case_pillar(mutation))
            out[case] = lab.salt(*GROUP, "state.apply")
    finally:
        master.clear_pillar_override()
    after = {h: lab.fingerprint(h) for h in HOSTS}
    marked = {h: MARK in lab.sh(h, "cat /etc/ksmtuned.conf") for h in HOSTS}
    yield out, before, after, marked
    rc, data, text = lab.apply()
    assert rc == 0, text
    for host in HOSTS:
        assert changed(data[host]) == ["ksm-config-ksmtuned-conf-managed"]


@pytest.mark.parametrize(("case", "key"), [(c, k) for c, _m, k in pillar_cases.CASES])
def test_refused_naming_the_key(runs, case, key):
    rc, data, text = runs[0][case]
    assert rc != 0, f"{case}: state.apply was not refused"
    for host in HOSTS:
        assert isinstance(data[host], list), f"{case}: {host} ran states:\n{text}"
        assert any(f"pillar key '{key}'" in err for err in data[host]), text


def test_nothing_changed_on_any_host(runs):
    _out, before, after, marked = runs
    for host in HOSTS:
        assert after[host] == before[host], f"{host} changed while refusing the cases"
        assert marked[host], f"{host}: the hand edit was reverted"
