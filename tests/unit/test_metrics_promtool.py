"""Prometheus's own tool on what issue 25 ships: ``promtool check rules`` on the example alert
rules (salt/metrics/files/hv-alerts.rules.yml), ``promtool test rules`` driving each alert
with series as the hosts would report them (it fires when it should, not before, once per
cluster for the cluster-wide facts, per host for a host's own; its annotations rendered), and
``promtool check metrics`` on the exposition text hv_metrics renders (Prometheus parses it,
and its naming lint finds nothing).

promtool comes with Debian's prometheus package (the Makefile's deps install it, its server
stopped and disabled; every make target that runs tests installs the deps first): without
it these tests fail, never skip."""

import re
import shutil
import subprocess

import hv_metrics
import pytest
import yaml

from tests.loaders import REPO
from tests.unit.test_metrics import FACTS

RULES = REPO / "salt" / "metrics" / "files" / "hv-alerts.rules.yml"
HYP = {"job": "hv"}


def promtool():
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make deps` installs it (Debian's prometheus package)")
    return found


def run(*args, stdin=None):
    return subprocess.run([promtool(), *args], input=stdin, capture_output=True, text=True, timeout=120)


def rules():
    """{alert name: its rule}."""
    data = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule for group in data["groups"] for rule in group["rules"]}


def series(name, values, **labels):
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{text}}}", "values": values}


def on(host, **labels):
    return {"instance": host, **HYP, **labels}


# Each scenario: its sampling interval, its series, and per alert the evaluation times and
# the labels of the alerts expected then (an empty list: none fires).
SCENARIOS = [
    {
        "interval": "1m",
        "input_series": [
            # hyp1 found dead at time 0, reported alike by both survivors
            *(series("hv_takeover_last_timestamp_seconds", "0x90", **on(h)) for h in ("hyp2", "hyp3")),
            # its incident open from 2 minutes on, its fence failed
            *(series("hv_incidents_open", "0 0 1x60", **on(h)) for h in ("hyp2", "hyp3")),
            *(series("hv_fence_last_success", "1 1 0x60", **on(h)) for h in ("hyp2", "hyp3")),
            *(
                series("hv_gluster_split_brain_entries", "0 0 2x20", **on(h, volume="vmstore"))
                for h in ("hyp2", "hyp3")
            ),
            series("hv_gluster_split_brain_entries", "0x22", **on("hyp2", volume="save")),
            series("hv_gluster_heal_entries", "50x80", **on("hyp2", volume="vmstore")),
            series("hv_gluster_heal_entries", "3x80", **on("hyp3", volume="vmstore")),
            series("hv_gluster_heal_entries", "50x80", **on("hyp2", volume="save")),
            series("hv_gluster_heal_entries", "0 0 50x78", **on("hyp2", volume="sanlock")),
            series("hv_gluster_volume_started", "1 1 0x20", **on("hyp2", volume="save")),
            series("hv_gluster_volume_started", "1x22", **on("hyp3", volume="save")),
        ],
        "alerts": {
            "HvTakeoverHappened": [("10m", [HYP]), ("70m", [])],
            "HvIncidentOpen": [("20m", []), ("40m", [HYP])],
            "HvFenceFailed": [("1m", []), ("5m", [HYP])],
            "HvSplitBrain": [("2m", []), ("5m", [dict(HYP, volume="vmstore")])],
            # save's backlog is an hour old at 60m, sanlock's two minutes younger
            "HvHealBacklog": [
                ("30m", []),
                ("61m", [dict(HYP, volume="save"), dict(HYP, volume="vmstore")]),
                ("63m", [dict(HYP, volume=v) for v in ("sanlock", "save", "vmstore")]),
            ],
            "HvVolumeStopped": [("5m", []), ("10m", [dict(HYP, volume="save")])],
        },
    },
    {
        # a failed fence whose incident was closed since: nothing left to do
        "interval": "1m",
        "input_series": [
            series("hv_incidents_open", "0x10", **on("hyp2")),
            series("hv_fence_last_success", "0x10", **on("hyp2")),
        ],
        "alerts": {"HvFenceFailed": [("5m", [])]},
    },
    {
        "interval": "1m",
        "input_series": [
            series("hv_quorum", "1 1 0x10", **on("hyp2")),
            series("hv_quorum", "1x12", **on("hyp1")),
            series("hv_lockspace_joined", "1 0x10", **on("hyp2")),
            series("hv_failover_ips_mismatched", "0 1 0 1x10", **on("hyp1")),
            series("hv_failover_ips_mismatched", "0x13", **on("hyp2")),
        ],
        "alerts": {
            "HvQuorumLost": [("2m", []), ("5m", [on("hyp2")])],
            "HvLockspaceNotJoined": [("2m", []), ("5m", [on("hyp2")])],
            # 1 at 1m, back to 0 at 2m: the two minutes start again at 3m
            "HvFailoverIPsMismatched": [("4m", []), ("6m", [on("hyp1")])],
        },
    },
    {
        # vm1's backups: done on hyp1 at 0 (time 0), then failed there from 2 days on;
        # vm2's done on hyp2 each day. vm1 has no success for 8 days from 8 days on.
        "interval": "1d",
        "input_series": [
            series("hv_backup_last_success", "1 1 0x10", **on("hyp1", guest="vm1")),
            series("hv_backup_last_success_timestamp_seconds", "0x12", **on("hyp1", guest="vm1")),
            series("hv_backup_last_success", "1x12", **on("hyp2", guest="vm2")),
            series("hv_backup_last_success_timestamp_seconds", "0+86400x12", **on("hyp2", guest="vm2")),
        ],
        "alerts": {
            "HvBackupFailed": [("1d", []), ("3d", [on("hyp1", guest="vm1")])],
            "HvBackupOld": [("8d", []), ("9d", [{"guest": "vm1"}])],
        },
    },
    {
        # hyp1's evacuation failed at time 0, hyp2's worked: an alert for a day
        "interval": "1h",
        "input_series": [
            series("hv_evacuation_last_success", "0x30", **on("hyp1")),
            series("hv_evacuation_last_timestamp_seconds", "0x30", **on("hyp1")),
            series("hv_evacuation_last_success", "1x30", **on("hyp2")),
            series("hv_evacuation_last_timestamp_seconds", "0x30", **on("hyp2")),
        ],
        "alerts": {"HvEvacuationFailed": [("2h", [on("hyp1")]), ("25h", [])]},
    },
    {
        "interval": "1m",
        "input_series": [
            # rewritten every minute until 5m, then no more
            series(
                "node_textfile_mtime_seconds",
                "0+60x5 300x10",
                instance="hyp1",
                job="node",
                file="/var/lib/prometheus/node-exporter/hv.prom",
            ),
            # another textfile, old: not ours
            series(
                "node_textfile_mtime_seconds",
                "0x15",
                instance="hyp1",
                job="node",
                file="/var/lib/prometheus/node-exporter/apt.prom",
            ),
            series("node_textfile_scrape_error", "0 1x10", instance="hyp2", job="node"),
            series("hv_metrics_source_up", "1 0x10", **on("hyp1", source="gluster")),
            series("hv_metrics_source_up", "1x11", **on("hyp1", source="guests")),
        ],
        "alerts": {
            "HvMetricsStale": [
                ("5m", []),
                (
                    "10m",
                    [
                        {
                            "instance": "hyp1",
                            "job": "node",
                            "file": "/var/lib/prometheus/node-exporter/hv.prom",
                        }
                    ],
                ),
            ],
            "HvMetricsUnreadable": [("4m", []), ("8m", [{"instance": "hyp2", "job": "node"}])],
            "HvMetricsSourceDown": [("4m", []), ("8m", [on("hyp1", source="gluster")])],
        },
    },
]


def _annotations(rule, labels):
    """The rule's annotations as Prometheus renders them for an alert with ``labels`` (the
    rules' templates use ``$labels`` only)."""
    return {
        key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        for key, text in (rule.get("annotations") or {}).items()
    }


def _tests():
    by_name = rules()
    out = []
    for scenario in SCENARIOS:
        cases = []
        for name, checks in scenario["alerts"].items():
            rule = by_name[name]
            for at, fired in checks:
                expected = [
                    {
                        "exp_labels": dict(labels, **rule.get("labels", {})),
                        "exp_annotations": _annotations(rule, labels),
                    }
                    for labels in fired
                ]
                cases.append({"eval_time": at, "alertname": name, "exp_alerts": expected})
        out.append(
            {
                "interval": scenario["interval"],
                "input_series": scenario["input_series"],
                "alert_rule_test": cases,
            }
        )
    return out


def test_the_rules_file_is_valid():
    ret = run("check", "rules", str(RULES))
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert f"SUCCESS: {len(rules())} rules found" in ret.stdout


def test_each_alert_fires_when_it_should_and_not_before(tmp_path):
    shutil.copy(RULES, tmp_path / RULES.name)
    spec = {"rule_files": [RULES.name], "evaluation_interval": "1m", "tests": _tests()}
    (tmp_path / "hv-alerts.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    ret = run("test", "rules", str(tmp_path / "hv-alerts.test.yml"))
    assert ret.returncode == 0, ret.stdout + ret.stderr


def test_every_alert_is_driven_and_fires_once_at_least():
    fired = {name for s in SCENARIOS for name, checks in s["alerts"].items() if any(f for _at, f in checks)}
    assert fired == set(rules())


def test_the_rules_read_only_series_the_hosts_write():
    names = {family.name for family in hv_metrics.FAMILIES}
    used = {n for rule in rules().values() for n in re.findall(r"\bhv_[a-z_]+", rule["expr"])}
    assert used and used <= names, used - names


def test_the_exposition_passes_promtool_check_metrics():
    every = dict(FACTS, takeover={"time": 1.0, "duration": 2.0}, volumes={'odd "vol"\\': {"started": False}})
    ret = run("check", "metrics", stdin=hv_metrics.render(every))
    assert ret.returncode == 0 and ret.stdout + ret.stderr == "", ret.stdout + ret.stderr
