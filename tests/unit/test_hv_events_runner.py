"""The events record on the master (B4, B10): only the cluster's minions, under the id the
master verified, a payload cut to its size, the file trimmed under a lock; read back oldest
first. Salt's own nodegroup matching (CkMinions) on accepted keys in a temporary pki_dir."""

import json

import pytest

from tests.loaders import load
from tests.unit.master_opts import master_opts

hv_events = load("_runners", "hv_events")


@pytest.fixture
def configure_loader_modules(tmp_path):
    return {hv_events: {"__opts__": master_opts(tmp_path)}}


def event(sender, **payload):
    """An event as the master puts it on its bus: ``id`` is the minion it verified."""
    return {"id": sender, "_stamp": "2026-12-06T09:00:00", "data": payload, "jid": "1"}


def test_a_cluster_hosts_step_is_recorded_under_its_verified_id():
    assert hv_events.record("hv/keeper/started", event("hyp2", guest="vm2", minion="hyp1")) is True
    (row,) = hv_events.recent()
    assert row["minion"] == "hyp2" and row["guest"] == "vm2" and row["tag"] == "hv/keeper/started"
    assert "jid" not in row


def test_a_minion_outside_the_cluster_is_not_recorded():
    assert hv_events.record("hv/takeover/dead", event("stranger", host="hyp1")) is False
    assert hv_events.record("hv/takeover/dead", event(None)) is False
    assert hv_events.recent() == []


def test_a_large_payload_is_cut_to_its_size(monkeypatch):
    hv_events.record("hv/evacuation/done", event("hyp1", blob="x" * 10000))
    (row,) = hv_events.recent()
    assert "blob" not in row and row["truncated"] > hv_events.MAX_BYTES and row["minion"] == "hyp1"


def test_the_record_is_trimmed_to_its_last_lines(monkeypatch, tmp_path):
    monkeypatch.setattr(hv_events, "KEEP", 3)
    monkeypatch.setattr(hv_events, "TRIM_BYTES", 600)
    for index in range(10):
        hv_events.record("hv/keeper/down", event("hyp1", guest=f"vm{index}"))
    lines = (tmp_path / "hv-events.jsonl").read_text().splitlines()
    assert len(lines) <= 6 and json.loads(lines[-1])["guest"] == "vm9"
    assert [r["guest"] for r in hv_events.recent(2)] == ["vm8", "vm9"]


def test_a_cut_payload_keeps_its_short_names_and_result():
    """The alerts need to know whose evacuation failed even when its payload was too large."""
    guests = {f"vm{i}": {"outcome": "running", "why": "x" * 100} for i in range(60)}
    hv_events.record("hv/evacuation/done", event("hyp1", host="hyp1", result=False, guests=guests))
    (row,) = hv_events.recent()
    assert row["truncated"] > hv_events.MAX_BYTES and "guests" not in row
    assert row["host"] == "hyp1" and row["result"] is False


def test_a_cut_payload_drops_a_long_or_nested_kept_key():
    hv_events.record("hv/evacuation/done", event("hyp1", host="h" * 300, guest={"a": 1}, blob="x" * 5000))
    (row,) = hv_events.recent()
    assert "host" not in row and "guest" not in row and row["minion"] == "hyp1"


def test_recorded_never_goes_back_even_when_the_clock_does(monkeypatch):
    """The alerts engine's cursor reads the file in recorded order: a clock set back
    (or two reactor threads, one slower to get the lock) never puts a line before the last."""
    clock = iter([1000.0, 1005.0, 990.0, 1006.0])
    monkeypatch.setattr(hv_events.time, "time", lambda: next(clock))
    for index in range(4):
        hv_events.record("hv/keeper/down", event("hyp1", guest=f"vm{index}"))
    assert [r["recorded"] for r in hv_events.recent()] == [1000.0, 1005.0, 1005.0, 1006.0]


def test_concurrent_records_are_in_recorded_order():
    import threading

    def write(host):
        for index in range(20):
            hv_events.record("hv/keeper/down", event(host, guest=f"vm{index}"))

    threads = [threading.Thread(target=write, args=(h,)) for h in ("hyp1", "hyp2", "arb1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = [r["recorded"] for r in hv_events.recent(100)]
    assert len(times) == 60 and times == sorted(times)
