"""Every ``make bench-*`` target runs on this lab: one short pass of each
benchmark's own entry point (what ``make bench-...`` runs), its figures
printed under "lab figures". Figures are the benchmarks' to print, not the
tests' to judge: a test here fails only when a benchmark no longer runs.
Two benchmarks are a lab test's pass instead, all that their ``main`` runs but
for parsing its arguments (their figures are unit-tested without a lab):
``make bench-keeper``'s is tests/lab/test_keeper.py's first test (``bench.keeper``'s
``one_pass`` over the three cuts and its ``summary``), ``make bench-takeover``'s
tests/lab/test_takeover.py's first (``bench.takeover``'s ``one_run``, ``line`` and
``summary``).
"""

import contextlib
import io

import pytest

from bench import evacuation, failover_move, network_throughput, storage_throughput
from tests.lab.conftest import report

pytestmark = pytest.mark.lab

BENCHMARKS = {
    "bench": (storage_throughput, ["--size-mib", "32", "--runs", "1"]),
    "bench-network": (network_throughput, ["--seconds", "2", "--pings", "5"]),
    "bench-failover": (failover_move, ["--provider", "online", "--moves", "1"]),
    "bench-evacuation": (evacuation, ["--runs", "1"]),
}


@pytest.mark.parametrize("target", list(BENCHMARKS))
def test_each_benchmark_runs_one_short_pass(lab, target):
    module, args = BENCHMARKS[target]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = module.main(args)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    failed = isinstance(rc, int) and rc != 0  # bench.network_throughput returns its figures
    assert lines and not failed, f"make {target} ARGS='{' '.join(args)}' printed:\n{out.getvalue()}"
    report(f"make {target} ARGS='{' '.join(args)}': {lines[-1]}")
