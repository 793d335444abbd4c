"""F1 for real: each malformed pillar stops state.apply on both lab hosts
before anything changes, with a message naming the bad key."""

import pytest
import yaml

from lab import master
from tests import pillar_cases
from tests.lab.conftest import GROUP, changed

pytestmark = pytest.mark.lab
HOSTS = ("hyp1", "hyp2")
MARK = "# hand-edited: a valid state.apply would restore this file\n"


@pytest.fixture(scope="module")
def drifted(lab):
    """Hosts on which a valid run *would* change something (a hand edit)."""
    lab.apply()
    for host in HOSTS:
        lab.sh(host, f"printf %s '{MARK}' >> /etc/ksmtuned.conf")
    yield lab
    master.clear_pillar_override()
    rc, data, text = lab.apply()
    assert rc == 0, text
    for host in HOSTS:
        assert changed(data[host]) == ["ksm-config-ksmtuned-conf-managed"]


def _override(pillar):
    for name in ("hypervisor", "online"):
        (master.PILLAR_OVERRIDE / f"{name}.sls").write_text(yaml.safe_dump({name: pillar[name]}))


@pytest.mark.parametrize(
    ("case", "mutation", "key"), pillar_cases.CASES, ids=[c[0] for c in pillar_cases.CASES]
)
def test_refused_and_nothing_changed(drifted, case, mutation, key):
    lab = drifted
    before = {h: lab.fingerprint(h) for h in HOSTS}
    _override(pillar_cases.case_pillar(mutation))
    rc, data, text = lab.salt(*GROUP, "state.apply")
    assert rc != 0, f"{case}: state.apply was not refused"
    for host in HOSTS:
        assert isinstance(data[host], list), f"{case}: {host} ran states:\n{text}"
        assert any(f"pillar key '{key}'" in err for err in data[host]), text
        assert lab.fingerprint(host) == before[host], f"{case}: {host} changed"
        assert MARK in lab.sh(host, "cat /etc/ksmtuned.conf")
