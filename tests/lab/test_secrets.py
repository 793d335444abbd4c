"""The API token, pasted into a string-valued pillar key of each section in
turn (tests/unit pastes it into every one), is refused through the real
master, and no copy of it lands in the refusal text, the master's job cache
and log, or the minions' logs and journals."""

import pytest

from lab import master
from tests import pillar_cases
from tests.lab.conftest import assert_refused

pytestmark = pytest.mark.lab
HOSTS = ("hyp1", "hyp2")
PLACEMENTS = pillar_cases.one_per_section(pillar_cases.token_placements())


def _job_files():
    return set((master.HOME / "cache" / "jobs").rglob("*"))


@pytest.fixture(scope="module")
def refusals(lab):
    """Every placement applied once: {description: (exit code, {host: return}, raw text)},
    and where copies could have landed meanwhile (new job files, log offsets, a time)."""
    since = {
        h: lab.sh(h, "date '+%Y-%m-%d %H:%M:%S'; wc -c < /var/log/salt/minion").split("\n") for h in HOSTS
    }
    jobs_before = _job_files()
    log_offset = (master.HOME / "master.log").stat().st_size
    # The hosts that hold the token (the arbiter never gets it: B10), which know it
    # for a secret and refuse it anywhere else in their pillar.
    cases = ((description, mutation) for description, mutation, _key in PLACEMENTS)
    out = lab.apply_each(cases, target=("-N", master.GUEST_NODEGROUP))
    new_jobs = sorted(p for p in _job_files() - jobs_before if p.is_file())
    return out, since, new_jobs, log_offset


@pytest.mark.parametrize(("description", "key"), [(d, k) for d, _m, k in PLACEMENTS])
def test_refused_naming_the_key_and_never_echoed(refusals, description, key):
    result = refusals[0][description]
    assert_refused(result, key, HOSTS)
    assert pillar_cases.TOKEN not in result[2]


def test_no_copy_in_the_job_cache_or_logs(lab, refusals):
    token = pillar_cases.TOKEN.encode()
    _out, since, new_jobs, log_offset = refusals
    assert len(new_jobs) >= len(PLACEMENTS), "the job cache did not record these runs"
    assert [str(p) for p in new_jobs if token in p.read_bytes()] == []
    with open(master.HOME / "master.log", "rb") as log:
        log.seek(log_offset)
        assert token not in log.read()
    for host in HOSTS:
        when, offset = since[host][0], int(since[host][1])
        found = lab.sh(
            host,
            f"tail -c +{offset + 1} /var/log/salt/minion | grep -caF '{pillar_cases.TOKEN}';"
            f" journalctl -u salt-minion --since '{when}' --no-pager | grep -caF '{pillar_cases.TOKEN}'",
            check=False,
        ).split()
        assert found == ["0", "0"], f"{host}: token found in its log / journal: {found}"
