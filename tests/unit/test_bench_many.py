"""The three-host lab's benchmarks' figures from their runs (the lab runs them:
tests/lab/test_many_hosts.py): bench.takeover_many (P4 among three hosts) and
bench.drain_many (P2, a drain of six against a drain of one)."""

from bench import drain_many, takeover_many


def test_a_takeover_run_and_the_median_of_three():
    run = {
        "running": 31.24,
        "answered": 44.91,
        "spread": {"hyp2": ["vm1", "vm3"], "hyp3": ["vm2", "vm4"]},
        "ips_follow": True,
        "fence": {"resets": ["hw"], "rescue_booted": True},
        "doubles": 0,
        "samples": 120,
    }
    assert takeover_many.line(2, run) == (
        "run 2: hyp1 of 3 crashed with 4 guests; all running on the others after 31.2 s, all answering"
        " after 44.9 s; spread hyp2: 2, hyp3: 2; IPs followed: True; fenced: hw reset into rescue;"
        " 0 double runs in 120 samples"
    )
    runs = [dict(run, answered=a, running=r) for a, r in ((40.0, 30.0), (50.0, 35.0), (44.0, 31.0))]
    assert takeover_many.summary(runs, "trixie") == (
        "P4 among 3 hosts (Debian 13): all answering after median 44.0 s, max 50.0 s; all running after"
        " median 31.0 s over 3 runs; 0 double runs (goal <= 45 s, 0); sanlock holds a host for dead"
        " after 26 s here"
    )
    assert takeover_many.summary(runs, "bookworm").endswith("after 76 s here")


def test_a_drain_of_six_against_a_drain_of_one():
    one = {"seconds": 4.0, "outcomes": {"vm1": "migrated"}, "spread": {"hyp2": 1}}
    six = {
        "seconds": 10.0,
        "outcomes": {f"vm{n}": "migrated" for n in range(1, 7)} | {"vm6": "saved"},
        "spread": {"hyp3": 3, "nowhere": 1, "hyp2": 2},
    }
    assert (
        drain_many.line(1, 1, one)
        == "run 1: drain of 1 guest(s) from hyp1 of 3 in 4.0 s; 1 of 1 migrated; to hyp2: 1"
    )
    assert drain_many.line(1, 6, six) == (
        "run 1: drain of 6 guest(s) from hyp1 of 3 in 10.0 s; 5 of 6 migrated;"
        " to hyp2: 2, hyp3: 3, nowhere: 1"
    )
    assert drain_many.summary([one], [six]) == (
        "P2 among 3 hosts: drain of 1 guest median 4.0 s, of 6 guests over 2 targets median 10.0 s"
        " (2.5x for 6x the guests) over 1 run(s) each"
    )
