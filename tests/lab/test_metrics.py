"""B9 (issue 25): the hv_* series of every host, scraped from the master's namespace as a
Prometheus server beside it would (docs/metrics.md), from the lab's own pillar
(``metrics:enabled``): each host's node exporter serves the file its minion's schedule
writes. The values after a drain and a host's death: test_evacuation.py's drain round
trip and test_takeover.py's dead host. The alert
rules that read them pass ``promtool`` in tests/unit/test_metrics_promtool.py."""

import pytest

from lab import image
from tests.lab import scrape
from tests.lab.conftest import ARBITERS, HYPERVISORS, report
from tests.loaders import hv_views
from tests.pillar_cases import lab_pillar

pytestmark = pytest.mark.lab
SETTINGS = hv_views.build(lab_pillar(), image.parameters(), "hyp1")
VOLUMES = sorted(SETTINGS["gluster"]["volumes"])
HOST_SOURCES = ("settings", "guests", "sanlock", "quorum", "gluster", "incidents", "evacuation", "failover",
                "backups")  # fmt: skip
ARBITER_SOURCES = ("settings", "gluster")
HOST_ONLY = ("hv_guests_running", "hv_guests_defined", "hv_lockspace_joined", "hv_quorum",
             "hv_incidents_open", "hv_failover_ips_mismatched")  # fmt: skip


def sources(samples):
    return {
        key.split('"')[1]: value for key, value in samples.items() if key.startswith("hv_metrics_source_up{")
    }


def running_here(lab, host):
    return len(lab.sh(host, "virsh list --name --state-running").split())


def test_every_host_serves_its_series_from_its_schedule(lab):
    """The schedule (not this test) wrote hv.prom; the node exporter serves it to the
    master's address (a trusted one) with no parse error; each source answered; the
    values are the host's: its running guests, its lockspace and quorum, every volume
    started with no split-brain, no failover IP its proxy ARP gets wrong."""
    for host in HYPERVISORS + ARBITERS:
        rc, ret, text = lab.salt(host, "schedule.list", "show_all=True", "return_yaml=False")
        assert rc == 0 and ret[host]["hv-metrics"]["function"] == "metrics.write", text
        assert ret[host]["hv-metrics"]["seconds"] == SETTINGS["metrics"]["interval"], text
        written = float(lab.sh(host, f"stat -c %Y {SETTINGS['metrics']['file']}"))
        samples = scrape.scrape(host)
        assert samples["node_textfile_scrape_error"] == 0, samples
        assert samples[f'node_textfile_mtime_seconds{{file="{SETTINGS["metrics"]["file"]}"}}'] == written
        assert scrape.hv_series(samples), (host, samples)
        # The values as they are now (the schedule's file may be an interval old).
        hv = scrape.refreshed(lab, host)[host]
        for volume in VOLUMES:
            assert hv[f'hv_gluster_volume_started{{volume="{volume}"}}'] == 1, (host, hv)
            assert hv[f'hv_gluster_split_brain_entries{{volume="{volume}"}}'] == 0, (host, hv)
            assert f'hv_gluster_heal_entries{{volume="{volume}"}}' in hv, (host, hv)
        if host in ARBITERS:
            assert sources(hv) == dict.fromkeys(ARBITER_SOURCES, 1), (host, hv)
            assert not [name for name in HOST_ONLY if name in hv], (host, hv)
            continue
        assert sources(hv) == dict.fromkeys(HOST_SOURCES, 1), (host, hv)
        assert hv["hv_guests_running"] == running_here(lab, host), (host, hv)
        assert hv["hv_guests_defined"] >= hv["hv_guests_running"], (host, hv)
        assert (hv["hv_lockspace_joined"], hv["hv_quorum"]) == (1, 1), (host, hv)
        assert hv["hv_failover_ips_mismatched"] == 0, (host, hv)
        assert hv["hv_metrics_collect_duration_seconds"] > 0, (host, hv)
    report(
        f"B9 metrics: {len(HYPERVISORS + ARBITERS)} hosts scraped from the master's namespace,"
        " every source up"
    )
