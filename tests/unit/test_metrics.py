"""hv_metrics (issue 25), pure: the exposition text from a facts mapping (HELP and TYPE lines,
gauges, label values and HELP texts escaped as the format says, a series left out where its
fact is unknown, one order whatever the facts' order), and the facts from the modules'
answers as they document them: guests as libvirt lists them, heal counts as gluster's
parser reads the lab's captured output, the takeover's incident records as hv_incidents
writes them, the last evacuation as hv_marks keeps it, the beacon's poll. That Prometheus
itself parses the text: tests/unit/test_metrics_promtool.py."""

import math

import hv_domains
import hv_metrics
import pytest

from tests.loaders import load
from tests.unit.test_cluster_module import fixture, incidents

gluster = load("_modules", "gluster")

FACTS = {
    "time": 1717000000.5,
    "duration": 0.8,
    "sources": {"settings": True, "guests": True, "gluster": False},
    "guests": {"running": 2, "defined": 3},
    "lockspace_joined": True,
    "quorum": False,
    "volumes": {"vmstore": {"started": True, "heal_entries": 3, "split_brain": 0}},
    "incidents_open": 1,
    "failover_mismatched": 0,
    "evacuation": {"success": False, "duration": 12.25, "time": 1716999000.0},
    "takeover": {"time": 1716990000.0, "duration": None},
    "fence": {"success": True, "time": 1716990060.0},
}


def lines(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_every_series_with_its_help_and_type_in_the_tables_order():
    text = hv_metrics.render(FACTS)
    assert lines(text) == [
        "hv_guests_running 2",
        "hv_guests_defined 3",
        "hv_lockspace_joined 1",
        "hv_quorum 0",
        'hv_gluster_volume_started{volume="vmstore"} 1',
        'hv_gluster_heal_entries{volume="vmstore"} 3',
        'hv_gluster_split_brain_entries{volume="vmstore"} 0',
        "hv_incidents_open 1",
        "hv_failover_ips_mismatched 0",
        "hv_evacuation_last_success 0",
        "hv_evacuation_last_duration_seconds 12.25",
        "hv_evacuation_last_timestamp_seconds 1716999000.0",
        "hv_takeover_last_timestamp_seconds 1716990000.0",
        # the takeover is not done yet: no duration
        "hv_fence_last_success 1",
        "hv_fence_last_timestamp_seconds 1716990060.0",
        'hv_metrics_source_up{source="gluster"} 0',
        'hv_metrics_source_up{source="guests"} 1',
        'hv_metrics_source_up{source="settings"} 1',
        "hv_metrics_collect_duration_seconds 0.8",
        "hv_metrics_last_run_timestamp_seconds 1717000000.5",
    ]
    head = text.splitlines()[:3]
    assert head == [
        "# HELP hv_guests_running Guests libvirt runs on this host (running, blocked, paused, shutting"
        " down or suspended).",
        "# TYPE hv_guests_running gauge",
        "hv_guests_running 2",
    ]
    assert text.endswith("\n") and "\n\n" not in text


def test_each_family_is_prefixed_documented_and_a_gauge():
    names = [family.name for family in hv_metrics.FAMILIES]
    assert len(names) == len(set(names)) and all(name.startswith("hv_") for name in names)
    for family in hv_metrics.FAMILIES:
        assert family.type == "gauge" and family.help.endswith((".", ")")), family.name
    # every family is reachable from the facts
    backup = {"success": True, "time": 3.0, "duration": 4.0, "bytes": 5, "success_time": 3.0}
    every = dict(FACTS, takeover={"time": 1.0, "duration": 2.0}, backups={"vm1": backup})
    assert {name for name, _labels, _value in hv_metrics.samples(every)} == set(names)


def test_unknown_facts_leave_their_series_out_and_nothing_at_all_is_an_empty_text():
    text = hv_metrics.render({"sources": {"settings": False}, "time": 5, "guests": None, "quorum": None})
    assert lines(text) == [
        'hv_metrics_source_up{source="settings"} 0',
        "hv_metrics_last_run_timestamp_seconds 5",
    ]
    assert "hv_quorum" not in text and "hv_guests" not in text
    assert hv_metrics.render({}) == ""


def test_one_order_whatever_the_facts_order():
    volumes = {
        name: {"started": True, "heal_entries": 0, "split_brain": 0}
        for name in ("vmstore", "save", "sanlock")
    }
    sources = {"guests": True, "failover": False, "settings": True}
    one = hv_metrics.render(dict(FACTS, volumes=volumes, sources=sources))
    two = hv_metrics.render(
        dict(
            reversed(
                list(
                    dict(
                        FACTS,
                        volumes=dict(reversed(volumes.items())),
                        sources=dict(reversed(sources.items())),
                    ).items()
                )
            )
        )
    )
    assert one == two
    assert [line.split("}")[0] for line in lines(one) if line.startswith("hv_gluster_heal")] == [
        'hv_gluster_heal_entries{volume="sanlock"',
        'hv_gluster_heal_entries{volume="save"',
        'hv_gluster_heal_entries{volume="vmstore"',
    ]


def test_label_values_and_help_texts_are_escaped():
    text = hv_metrics.render({"volumes": {'a"b\\c\nd': {"started": False}}})
    assert 'hv_gluster_volume_started{volume="a\\"b\\\\c\\nd"} 0' in text.splitlines()
    assert hv_metrics.escape_help("back\\slash\nnew line") == "back\\\\slash\\nnew line"
    assert hv_metrics.escape_label("plain") == "plain"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "1"),
        (False, "0"),
        (0, "0"),
        (42, "42"),
        (0.5, "0.5"),
        (1717000000.25, "1717000000.25"),
        (1e21, "1e+21"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_values_as_the_format_spells_them(value, text):
    assert hv_metrics.format_value(value) == text


def test_the_source_lines_read_back():
    text = hv_metrics.render(FACTS)
    assert hv_metrics.sources_up(text) == {"settings": True, "guests": True, "gluster": False}
    assert hv_metrics.sources_up("garbage\n# HELP x\n") == {}


def test_counts():
    text = hv_metrics.render(FACTS)
    assert hv_metrics.counts(text) == {"families": 18, "samples": 20, "bytes": len(text.encode())}


# ------------------------------------------------------------------ facts from the modules' answers


def test_running_guests_are_libvirts_active_ones():
    assert hv_metrics.ACTIVE == hv_domains.ACTIVE
    listing = {
        "vm1": {"state": "running", "persistent": True},
        "vm2": {"state": "shut off", "persistent": True},
        "vm3": {"state": "paused", "persistent": True},
        "vm4": {"state": "crashed", "persistent": False},
    }
    assert hv_metrics.guest_counts(listing) == {"running": 2, "defined": 4}
    assert hv_metrics.guest_counts({}) == {"running": 0, "defined": 0}


def test_heal_entries_over_the_bricks_of_the_lab_output():
    heal = gluster.parse_heal_info(fixture("gluster/heal_info_vmstore.xml"))
    split = gluster.parse_heal_info(fixture("gluster/split_brain_vmstore.xml"))
    assert hv_metrics.entries(heal) == sum(b["entries"] for b in heal)
    assert hv_metrics.entries(split) == sum(b["entries"] for b in split)
    assert hv_metrics.entries([]) == 0


def test_incidents_open_the_newest_takeover_and_the_newest_fence():
    """takeover.incidents' records (newest first; the newest of the 3 still open, done 6 s after)."""
    records = incidents(3)
    facts = hv_metrics.incident_facts(records)
    assert facts["incidents_open"] == 1
    assert facts["takeover"] == {
        "time": hv_metrics.timestamp("2024-05-03T12:00:00+00:00"),
        # the records' "done" is 2024-05-01 for all: before this one's opening, never negative
        "duration": 0.0,
    }
    # every fence at the same time: one of them, a success
    assert facts["fence"] == {"success": True, "time": hv_metrics.timestamp("2024-05-01T12:00:06+00:00")}


def test_a_takeover_not_done_has_no_duration_and_a_failed_fence_is_the_newest():
    opened = {
        "host": "hyp1",
        "generation": 4,
        "detected": "2024-06-01T10:00:00+00:00",
        "by": "hyp2",
        "guests": {},
        "failover": None,
        "fence": {"result": False, "comment": "503", "attempts": 2, "at": "2024-06-01T10:01:00+00:00"},
        "closed": None,
    }
    done = dict(
        opened,
        generation=3,
        detected="2024-05-01T10:00:00+00:00",
        done="2024-05-01T10:00:41+00:00",
        fence={"result": True, "at": "2024-05-01T10:00:40+00:00"},
        closed="2024-05-02T00:00:00+00:00",
    )
    facts = hv_metrics.incident_facts([done, opened])
    assert facts["incidents_open"] == 1
    assert facts["takeover"] == {"time": hv_metrics.timestamp("2024-06-01T10:00:00+00:00"), "duration": None}
    assert facts["fence"] == {"success": False, "time": hv_metrics.timestamp("2024-06-01T10:01:00+00:00")}
    only_done = hv_metrics.incident_facts([done])
    assert only_done["takeover"]["duration"] == 41.0 and only_done["incidents_open"] == 0


def test_no_incident_at_all():
    assert hv_metrics.incident_facts([]) == {"incidents_open": 0}


def test_timestamps_as_the_records_write_them():
    assert hv_metrics.timestamp("1970-01-01T00:01:00+00:00") == 60.0
    assert hv_metrics.timestamp("1970-01-01T00:01:00") == 60.0  # no zone: UTC
    assert hv_metrics.timestamp("1970-01-01T01:01:00+01:00") == 60.0
    assert hv_metrics.timestamp("yesterday") is None and hv_metrics.timestamp(None) is None


def test_the_last_evacuation():
    record = {
        "host": "hyp1",
        "guests": {},
        "seconds": 12.5,
        "result": True,
        "at": "1970-01-01T00:02:00+00:00",
    }
    assert hv_metrics.evacuation_facts(record) == {"success": True, "duration": 12.5, "time": 120.0}
    assert hv_metrics.evacuation_facts(dict(record, result=False))["success"] is False
    assert hv_metrics.evacuation_facts(None) is None


def test_failover_mismatch_from_the_beacons_poll():
    poll = {"result": True, "ips": ["203.0.113.101", "203.0.113.102"], "answered": ["203.0.113.102"]}
    assert hv_metrics.failover_mismatch(poll) == 1
    assert hv_metrics.failover_mismatch(dict(poll, answered=["203.0.113.102", "203.0.113.103"])) == 2
    assert hv_metrics.failover_mismatch(dict(poll, answered=poll["ips"])) == 0
    assert hv_metrics.failover_mismatch({"result": False, "ips": [], "answered": [], "kind": "auth"}) is None


def test_a_guests_last_backup_as_series():
    records = {
        "vm1": {"result": "failed", "finished": "2024-06-02T04:00:30+00:00", "seconds": 30.0, "bytes": None,
                "last_success": {"finished": "2024-06-01T04:01:00+00:00"}},
        "vm2": {"result": "done", "finished": "2024-06-02T04:02:00Z", "seconds": 120, "bytes": 1048576,
                "last_success": {"finished": "2024-06-02T04:02:00Z"}},
        "vm3": {"result": "running"},  # not a result: left out
        "vm4": None,
    }  # fmt: skip
    facts = hv_metrics.backup_facts(records)
    assert sorted(facts) == ["vm1", "vm2"]
    assert facts["vm1"] == {
        "success": False,
        "time": hv_metrics.timestamp("2024-06-02T04:00:30+00:00"),
        "duration": 30.0,
        "bytes": None,
        "success_time": hv_metrics.timestamp("2024-06-01T04:01:00+00:00"),
    }
    text = hv_metrics.render({"backups": facts})
    assert (
        'hv_backup_last_success{guest="vm1"} 0' in text
        and 'hv_backup_last_bytes{guest="vm2"} 1048576' in text
    )
    assert 'hv_backup_last_bytes{guest="vm1"}' not in text  # a failed run wrote nothing to count
