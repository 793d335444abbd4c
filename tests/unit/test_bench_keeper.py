"""bench.keeper's figures from its cuts' results (the lab runs the cuts:
tests/lab/test_keeper.py): the per-cut line, and the summary's median and
maximum, its time after the lockspace came back (keeper restarts only), its
double runs, beside sanlock's renewal-fail and dead times."""

from bench import keeper as bench
from tests.lab import keeper as kp


def result(cut, lockspace, vm2, vm3, taken=False, doubles=()):
    return {
        "cut": cut,
        "lockspace": lockspace,
        "answered": {"vm2": vm2, "vm3": vm3},
        "where": {"vm2": ["hyp1" if taken else "hyp2"], "vm3": ["hyp1" if taken else "hyp2"]},
        "taken_over": taken,
        "doubles": list(doubles),
        "samples": 100,
        "person_stopped_running": {},
    }


def test_the_summary_of_three_cuts():
    results = [
        result(30, 9.0, 15.0, 17.0),
        result(50, 11.0, 18.0, 19.5),
        result(70, None, 12.0, 14.0, taken=True),
    ]
    line = bench.summary(results)
    assert "median 17.0 s, max 19.5 s" in line
    assert "restarted by the keeper 8.2 s (median), 8.5 s (max) after the lockspace was back" in line
    fail, dead = kp.timings()  # the lab's release: 16 and 26 s on Debian 13, 16 and 76 s on 12
    assert "0 double runs" in line and f"renewals fail after {fail} s, a host is dead after {dead} s" in line
    assert "taken over by hyp1" in kp.line(results[2]) and "lockspace not rejoined" in kp.line(results[2])
    assert kp.line(results[0]).startswith("30 s cut of hyp2's private link: restarted on hyp2 by its keeper")
