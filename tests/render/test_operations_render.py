"""The metrics states (salt/metrics, issue 25) rendered by Salt
(``state.show_sls``, masterless minions of pytest-salt-factories) for the lab's pillar with
``hypervisor:metrics`` enabled, on Debian 12 and 13 and EL 9: the node exporter's package
(EPEL's on EL), its textfile directory, its flags only where they differ from the package's
own (none on Debian with the defaults; the textfile directory always on EL, whose package's
default is not known), its service restarted when they change, and the minion's schedule
running metrics.write every interval; with another port and directory, both flags; disabled,
no schedule and no hv.prom. The firewall opens the node exporter's port to the monitoring
sources only where metrics are enabled; no state holds the provider's token.

The backups' states (salt/backups) too: enabled, a timer on the pillar's calendar starting
a oneshot service that runs guest_backup.run_all (the target never created by a state);
disabled, nothing on a host that never had the timer."""

import copy
import re

import jinja2
import pytest
import yaml

from tests.pillar_cases import lab_pillar
from tests.render.test_render import _args, _functions, write_pillar
from tests.saltcall import REPO, Ahead, call, factories, minion, text
from tests.unit.test_firewall_render import render as firewall_files

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


def _pillar(case):
    """The lab's pillar with hypervisor:metrics as ``case`` says: ``enabled`` (the defaults),
    ``custom`` (another port and directory, a shorter interval) or ``disabled`` (no metrics
    key at all: the defaults). Backups: enabled in both first cases, the defaults otherwise."""
    pillar = copy.deepcopy(lab_pillar())
    pillar["hypervisor"].pop("metrics", None)
    pillar["hypervisor"].pop("backups", None)
    if case == "enabled":
        pillar["hypervisor"]["metrics"] = {"enabled": True}
        pillar["hypervisor"]["backups"] = {"enabled": True, "target": {"path": "/srv/backups"}}
    elif case == "custom":
        pillar["hypervisor"]["backups"] = {
            "enabled": True,
            "target": {"path": "/mnt/backup"},
            "schedule": "Sun *-*-* 02:30:00",
        }
        pillar["hypervisor"]["metrics"] = {
            "enabled": True,
            "listen_port": 9200,
            "textfile_dir": "/var/lib/node_exporter/textfile",
            "interval": 15,
        }
    return pillar


CASES = ("enabled", "custom", "disabled")
RENDERS = [
    ("enabled", "hyp1", "Debian", "metrics"),
    ("enabled", "hyp1", "Debian-13", "metrics"),
    ("enabled", "hyp1", "RedHat", "metrics"),
    ("enabled", "arb1", "Debian", "metrics"),
    ("custom", "hyp2", "Debian", "metrics"),
    ("disabled", "hyp1", "Debian", "metrics"),
    ("disabled", "hyp1", "RedHat", "metrics"),
    ("enabled", "hyp1", "Debian", "firewall"),
    ("custom", "hyp1", "RedHat", "firewall"),
    ("disabled", "hyp1", "Debian", "firewall"),
    ("enabled", "hyp1", "Debian", "backups"),
    ("enabled", "hyp1", "RedHat", "backups"),
    ("custom", "hyp2", "Debian-13", "backups"),
    ("disabled", "hyp1", "Debian", "backups"),
]


@pytest.fixture(scope="module")
def show_sls(tmp_path_factory):
    """state.show_sls of each of RENDERS, rendered once, ahead, in parallel."""
    manager = factories(tmp_path_factory.mktemp("salt-factories"))
    roots = {case: write_pillar(tmp_path_factory.mktemp(case), _pillar(case)) for case in CASES}

    def render(case, host, platform, mods):
        ret = call(minion(manager, host, platform, roots[case]), "state.show_sls", mods)
        assert ret.returncode == 0 and isinstance(ret.data, dict), (
            f"{mods} of {host}/{platform} ({case}) failed to render:\n{text(ret)[:3000]}"
        )
        return ret.data

    ahead = Ahead(render, RENDERS)
    yield ahead.get
    ahead.close()


def _metrics_states(states):
    return sorted(s for s in states if s.startswith("metrics-"))


ENABLED_STATES = [
    "metrics-config-args-set",
    "metrics-config-textfile-dir-managed",
    "metrics-packages-installed",
    "metrics-schedule-present",
    "metrics-service-running",
]


@pytest.mark.parametrize("platform", ["Debian", "Debian-13"])
def test_debian_with_the_defaults_installs_and_schedules_and_passes_no_flag(show_sls, platform):
    states = show_sls("enabled", "hyp1", platform, "metrics")
    assert _metrics_states(states) == ENABLED_STATES
    package = _args(states, "metrics-packages-installed")
    assert (package["pkgs"], package["install_recommends"]) == (["prometheus-node-exporter"], False)
    directory = _args(states, "metrics-config-textfile-dir-managed")
    assert (directory["name"], directory["mode"], directory["user"]) == (TEXTFILE_DIR, "0755", "root")
    args = _args(states, "metrics-config-args-set")
    # The package's own ARGS="": a default install keeps its file as it came.
    assert (args["name"], args["key_values"], args["separator"]) == (
        "/etc/default/prometheus-node-exporter",
        {"ARGS": '""'},
        "=",
    )
    service = _args(states, "metrics-service-running")
    assert (service["name"], service["enable"], service["watch"]) == (
        "prometheus-node-exporter",
        True,
        [{"sls": "metrics.config"}],
    )
    schedule = _args(states, "metrics-schedule-present")
    assert {k: schedule[k] for k in ("name", "function", "seconds", "maxrunning", "return_job")} == {
        "name": "hv-metrics",
        "function": "metrics.write",
        "seconds": 30,
        "maxrunning": 1,
        "return_job": False,
    }
    assert schedule["run_on_start"] is True and schedule["require"] == [{"sls": "metrics.service"}]
    assert "schedule.present" in _functions(states["metrics-schedule-present"])


def test_el_installs_epels_package_and_always_names_the_textfile_directory(show_sls):
    states = show_sls("enabled", "hyp1", "RedHat", "metrics")
    assert _metrics_states(states) == ENABLED_STATES
    assert _args(states, "metrics-packages-installed")["pkgs"] == ["golang-github-prometheus-node-exporter"]
    assert _args(states, "metrics-config-args-set")["key_values"] == {
        "ARGS": f'"--collector.textfile.directory={TEXTFILE_DIR}"'
    }
    assert _args(states, "metrics-service-running")["name"] == "prometheus-node-exporter"


def test_the_arbiter_writes_its_metrics_too(show_sls):
    """The arbiter has gluster: its node exporter and schedule are the same."""
    states = show_sls("enabled", "arb1", "Debian", "metrics")
    assert _metrics_states(states) == ENABLED_STATES


def test_another_port_and_directory_are_passed_as_flags(show_sls):
    states = show_sls("custom", "hyp2", "Debian", "metrics")
    assert _args(states, "metrics-config-args-set")["key_values"] == {
        "ARGS": '"--web.listen-address=:9200 --collector.textfile.directory=/var/lib/node_exporter/textfile"'
    }
    assert _args(states, "metrics-config-textfile-dir-managed")["name"] == "/var/lib/node_exporter/textfile"
    assert _args(states, "metrics-schedule-present")["seconds"] == 15


@pytest.mark.parametrize("platform", ["Debian", "RedHat"])
def test_disabled_no_schedule_and_no_file(show_sls, platform):
    states = show_sls("disabled", "hyp1", platform, "metrics")
    assert _metrics_states(states) == ["metrics-file-absent", "metrics-schedule-absent"]
    assert _args(states, "metrics-schedule-absent")["name"] == "hv-metrics"
    assert _args(states, "metrics-file-absent")["name"] == f"{TEXTFILE_DIR}/hv.prom"
    assert _args(states, "metrics-file-absent")["require"] == [{"schedule": "metrics-schedule-absent"}]


@pytest.mark.parametrize("case", ["enabled", "disabled"])
def test_no_metrics_state_holds_the_providers_token(show_sls, case):
    token = lab_pillar()["online"]["api_token"]
    assert token not in yaml.safe_dump(show_sls(case, "hyp1", "Debian", "metrics"))


def _rules(states):
    applied = _args(states, "firewall-shorewall-applied")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "salt")), undefined=jinja2.StrictUndefined
    )
    for source in applied["files"].values():  # every file renders from the context the state gives
        env.get_template(source.removeprefix("salt://")).render(**applied["context"])
    return firewall_files(applied["context"]["hv"])["rules"]


@pytest.mark.parametrize(
    ("case", "platform", "port"),
    [("enabled", "Debian", 9100), ("custom", "RedHat", 9200), ("disabled", "Debian", None)],
)
def test_the_firewall_opens_the_port_to_the_monitoring_sources_only_when_enabled(
    show_sls, case, platform, port
):
    states = show_sls(case, "hyp1", platform, "firewall")
    rules = _rules(states)
    assert _args(states, "firewall-shorewall-applied")["context"]["hv"]["firewall"]["metrics_port"] == port
    opened = [line for line in rules if line.startswith("ACCEPT wan:$MONITORING $FW tcp")]
    assert opened == ["ACCEPT wan:$MONITORING $FW tcp 10050"] + (
        [f"ACCEPT wan:$MONITORING $FW tcp {port}"] if port else []
    )


BACKUP_STATES = [
    "backups-service-unit-managed",
    "backups-state-dir",
    "backups-timer-running",
    "backups-timer-unit-managed",
]


def _unit(states, state_id):
    return _args(states, state_id)["contents"]


@pytest.mark.parametrize(
    ("case", "host", "platform"), [("enabled", "hyp1", "Debian"), ("enabled", "hyp1", "RedHat")]
)
def test_backups_enabled_a_timer_on_the_calendar_starts_guest_backup(show_sls, case, host, platform):
    states = show_sls(case, host, platform, "backups")
    assert sorted(s for s in states if s.startswith("backups-")) == BACKUP_STATES
    timer = _unit(states, "backups-timer-unit-managed")
    assert "OnCalendar=*-*-* 03:00:00\n" in timer and "Persistent=true\n" in timer
    service = _unit(states, "backups-service-unit-managed")
    assert "Type=oneshot\n" in service
    assert re.search(r"^ExecStart=/\S+/salt-call --out=json guest_backup.run_all$", service, re.MULTILINE), (
        service
    )
    assert "/srv/backups" not in yaml.safe_dump(states)  # the target is never made by a state
    running = _args(states, "backups-timer-running")
    assert (running["name"], running["enable"]) == ("hv-backup.timer", True)
    state_dir = _args(states, "backups-state-dir")
    assert (state_dir["name"], state_dir["mode"]) == ("/var/lib/hv-backup", "0700")


def test_backups_on_another_calendar(show_sls):
    states = show_sls("custom", "hyp2", "Debian-13", "backups")
    assert "OnCalendar=Sun *-*-* 02:30:00\n" in _unit(states, "backups-timer-unit-managed")


def test_backups_disabled_on_a_host_that_never_had_them_is_nothing(show_sls):
    states = show_sls("disabled", "hyp1", "Debian", "backups")
    assert [s for s in states if s.startswith("backups-")] == []
