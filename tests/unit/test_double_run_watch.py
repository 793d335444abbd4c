"""The lab's double-run watch (tests/lab/watch.py) sees a guest on two hosts, keeps
the longest time between its samples, and raises what stopped it."""

import itertools
import time

import pytest

from tests.lab.watch import DoubleRunWatch


def test_a_guest_on_two_hosts_is_kept_and_the_gap_measured():
    looks = itertools.chain(
        [{"vm1": ["hyp1"]}, {"vm1": ["hyp1", "hyp2"]}], itertools.repeat({"vm1": ["hyp2"]})
    )
    with DoubleRunWatch(lambda: next(looks), every=0.02) as watch:
        time.sleep(0.3)
    assert [(name, hosts) for _at, name, hosts in watch.doubles] == [("vm1", ["hyp1", "hyp2"])]
    assert watch.samples >= 5 and 0 < watch.largest_gap < 0.3


def test_a_slow_look_shows_in_the_gap():
    def slow():
        time.sleep(0.2)
        return {"vm1": []}

    with DoubleRunWatch(slow, every=0.01) as watch:
        time.sleep(0.5)
    assert watch.largest_gap >= 0.2 and watch.doubles == []


def test_a_watch_that_stopped_raises_when_the_block_ends():
    def broken():
        raise OSError("no such host")

    with pytest.raises(RuntimeError, match="stopped after 0 samples"), DoubleRunWatch(broken, every=0.01):
        time.sleep(0.1)
