"""bench.takeover's figures from its runs (the lab runs them: tests/lab/test_takeover.py):
a run's line, and P4's median and maximum beside sanlock's floor of the lab's pillar."""

from bench import takeover as bench


def test_the_lines_of_two_runs():
    assert bench.line(2, 84.66, 0, 160) == (
        "run 2: hyp1 crashed with 2 guests; both answered on hyp2 after 84.7 s, 0 double runs in 160 samples"
    )
    summary = bench.summary([84.7, 91.2], 0, "bookworm")
    assert summary.startswith(
        "P4 (Debian 12): median 88.0 s, max 91.2 s over 2 runs, 0 double runs (goal <= 45 s, 0)."
    )
    assert "8 x io_timeout (2) + watchdog fire timeout (60) = 76 s" in summary


def test_the_time_to_running_beside_the_time_to_answering():
    assert bench.line(1, 49.3, 0, 92, 31.2) == (
        "run 1: hyp1 crashed with 2 guests; both answered on hyp2 after 49.3 s"
        " (both running there after 31.2 s), 0 double runs in 92 samples"
    )
    summary = bench.summary([47.9, 49.3, 58.3], 0, "trixie", running=[30.1, 31.2, 33.0])
    assert "(goal <= 45 s, 0); running on hyp2: median 31.2 s, max 33.0 s." in summary


def test_the_floor_on_each_release():
    """Debian 13's sanlock takes the watchdog fire timeout of its defaults (10 s), 12's is 60."""
    summary = bench.summary([30.5], 0, "trixie")
    assert summary.startswith("P4 (Debian 13): median 30.5 s, max 30.5 s over 1 runs")
    assert "8 x io_timeout (2) + watchdog fire timeout (10) = 26 s" in summary
    assert bench.timings("bookworm")["host_dead"] == 76 and bench.timings("trixie")["host_dead"] == 26
