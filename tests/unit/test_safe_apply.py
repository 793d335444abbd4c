"""safe_apply: the engine's decisions, through the state, on real files in a
temporary directory. Commands go to a fake host that records them (argument
lists, never a shell); the rollback script, when run, runs for real (its
`shorewall` is a stand-in that logs its arguments), so a rollback is seen
putting the old files back. What is checked: nothing to do when the files are
in place and live; a failed check changes nothing; test=True runs the check
only; a failed probe rolls back at once and says so; a passed probe disarms
the dead-man; the first run (nothing live before) rolls back with its own
commands; an armed earlier apply is refused; a dead-man that fired first is
reported; the probe itself (networkd's links through public_net.settle, TCP
to the master, SSH through the runner); a file with a context of its own
(networkd's files), merged over the state's common context."""

import os
import shutil
import socket
import subprocess
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.cp
import salt.modules.publish
from salt.exceptions import CommandExecutionError

from tests.loaders import load

safe_apply = load("_modules", "safe_apply")
public_net = load("_modules", "public_net")
safe_apply_states = load("_states", "safe_apply")
NEW = "ACCEPT\twan:$TRUSTED\t$FW\ttcp\t22\n"
OLD = "ACCEPT\tall\t$FW\ttcp\t22\n"
CHECK = [["shorewall", "check", "{staged}"]]
APPLY = [["shorewall", "reload", "-c"]]
ROLLBACK = [["shorewall", "reload", "-c"]]
STOPPED = [["shorewall", "compile", "{staged}", "/var/lib/shorewall/firewall"], ["shorewall", "clear"]]
RUNNING = ["shorewall", "status"]
PROBE = {"master_ports": [4505, 4506], "ssh_from_master": True}
IS_ACTIVE = [
    "systemctl",
    "is-active",
    "--quiet",
    "hv-rollback-firewall.timer",
    "hv-rollback-firewall.service",
]


class Host:
    """cmd.run_all on a fake host: every command recorded; those whose first
    arguments are in ``fail`` fail; the rollback script really runs."""

    def __init__(self, root):
        self.ran = []
        self.fail = {("systemctl", "is-active"): (3, "inactive")}
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "shorewall.log"
        stand_in = self.bin / "shorewall"
        stand_in.write_text(f'#!/bin/sh\necho "$@" >> {self.log}\n')
        stand_in.chmod(0o755)

    def run_all(self, argv, python_shell=True, ignore_retcode=False):
        assert python_shell is False
        self.ran.append(list(argv))
        if argv[0].endswith("rollback.sh"):
            env = {"PATH": f"{self.bin}:/usr/bin:/bin"}
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            return {"retcode": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "pid": 1}
        for prefix, (retcode, said) in self.fail.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return {"retcode": retcode, "stdout": "", "stderr": said, "pid": 1}
        return {"retcode": 0, "stdout": "", "stderr": "", "pid": 1}

    def ran_first(self, *names):
        return [argv for argv in self.ran if argv[0] in names]


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = Host(tmp_path)
    # The commands the engine looks up: there on the fake host.
    real_which = safe_apply.shutil.which
    known = {"shorewall", "systemd-run", "systemctl"}
    monkeypatch.setattr(
        safe_apply.shutil,
        "which",
        create_autospec(
            shutil.which, side_effect=lambda cmd: f"/usr/sbin/{cmd}" if cmd in known else real_which(cmd)
        ),
    )
    monkeypatch.setattr(safe_apply.time, "sleep", lambda seconds: None)
    return fake


@pytest.fixture
def probe():
    return create_autospec(safe_apply.probe, return_value={"ok": True, "passed": ["all"], "failed": []})


@pytest.fixture
def opts():
    return {"test": False, "master": "203.0.113.1", "id": "hyp1"}


@pytest.fixture
def templates():
    """What cp.get_template renders, by salt:// source."""
    return {}


@pytest.fixture
def configure_loader_modules(host, probe, opts, templates):
    def get_template(source, dest, saltenv="base", **context):
        assert context == {"hv": {"me": "hyp1"}}
        with open(dest, "w", encoding="utf-8") as handle:
            handle.write(templates[source])
        return dest

    module_salt = {
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all, side_effect=host.run_all),
        "cp.get_template": create_autospec(salt.modules.cp.get_template, side_effect=get_template),
        "safe_apply.probe": probe,
    }
    return {
        safe_apply: {"__salt__": module_salt, "__opts__": opts},
        safe_apply_states: {
            "__salt__": {"safe_apply.preview": safe_apply.preview, "safe_apply.apply": safe_apply.apply},
            "__opts__": opts,
        },
    }


@pytest.fixture
def etc(tmp_path):
    """/etc/shorewall with an old rules file and no proxyarp; the new files staged elsewhere."""
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "rules").write_text(OLD)
    (conf / "rules").chmod(0o640)
    src = tmp_path / "src"
    src.mkdir()
    (src / "rules").write_text(NEW)
    (src / "proxyarp").write_text("203.0.113.101\tbrwan\teth0\tNo\tYes\n")
    return conf, src


def apply_state(etc, tmp_path, **kwargs):
    conf, src = etc
    args = {
        "files": {str(conf / "rules"): str(src / "rules"), str(conf / "proxyarp"): str(src / "proxyarp")},
        "check": CHECK,
        "apply": APPLY,
        "rollback": ROLLBACK,
        "rollback_stopped": STOPPED,
        "running": RUNNING,
        "rollback_after": 90,
        "probe": PROBE,
        "state_dir": str(tmp_path / "state"),
    }
    args.update(kwargs)
    return safe_apply_states.applied("firewall", **args)


def test_nothing_to_do_when_in_place_and_live(host, etc, tmp_path, probe):
    conf, src = etc
    (conf / "rules").write_text(NEW)
    (conf / "proxyarp").write_text((src / "proxyarp").read_text())
    ret = apply_state(etc, tmp_path)
    assert ret == {
        "name": "firewall",
        "changes": {},
        "result": True,
        "comment": "firewall: every file is in place and live",
    }
    assert host.ran_first("shorewall", "systemd-run") == [RUNNING]
    probe.assert_not_called()


def test_failed_check_changes_nothing(host, etc, tmp_path):
    conf, _src = etc
    host.fail[("shorewall", "check")] = (
        1,
        "ERROR: Unknown interface (eth9) /etc/shorewall/interfaces (line 5)",
    )
    ret = apply_state(etc, tmp_path)
    staged = tmp_path / "state" / "firewall" / "staged"
    assert ret == {
        "name": "firewall",
        "changes": {},
        "result": False,
        "comment": f"`shorewall check {staged}` failed (exit code 1): "
        "ERROR: Unknown interface (eth9) /etc/shorewall/interfaces (line 5)",
    }
    assert (conf / "rules").read_text() == OLD
    assert not (conf / "proxyarp").exists()
    assert host.ran_first("systemd-run") == []
    assert host.ran_first("shorewall") == [RUNNING, ["shorewall", "check", str(staged)]]


def test_test_mode_runs_the_check_only(host, etc, tmp_path, opts, probe):
    conf, _src = etc
    opts["test"] = True
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is None
    assert ret["comment"] == (
        "firewall: would install 2 file(s) and apply them behind a dead-man, then probe; check passed"
    )
    assert set(ret["changes"]["diff"]) == {str(conf / "rules"), str(conf / "proxyarp")}
    assert f"-{OLD}" in ret["changes"]["diff"][str(conf / "rules")]
    assert f"+{NEW}" in ret["changes"]["diff"][str(conf / "rules")]
    # The check ran on a temporary staging directory, since removed; nothing else ran.
    (status, (check, subcommand, staged)) = host.ran_first("shorewall", "systemd-run", "systemctl")
    assert status == RUNNING and (check, subcommand) == ("shorewall", "check")
    assert not os.path.exists(staged)
    assert (conf / "rules").read_text() == OLD
    assert not (tmp_path / "state").exists()
    probe.assert_not_called()


def test_test_mode_reports_a_failing_check(host, etc, tmp_path, opts):
    opts["test"] = True
    host.fail[("shorewall", "check")] = (1, "ERROR: bad rule")
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is False
    assert ret["comment"].startswith("firewall: would install 2 file(s) and apply them, but the check fails")
    assert ret["comment"].endswith("failed (exit code 1): ERROR: bad rule")


def test_success_installs_then_disarms(host, etc, tmp_path, probe):
    conf, _src = etc
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is True, ret["comment"]
    assert ret["comment"] == "firewall: applied 2 file(s), probe passed, dead-man disarmed"
    assert set(ret["changes"]["diff"]) == {str(conf / "rules"), str(conf / "proxyarp")}
    assert (conf / "rules").read_text() == NEW
    assert oct((conf / "rules").stat().st_mode & 0o777) == "0o640"  # the mode it had
    assert oct((conf / "proxyarp").stat().st_mode & 0o777) == "0o644"
    base = tmp_path / "state" / "firewall"
    staged = base / "staged"
    assert host.ran == [
        IS_ACTIVE,
        RUNNING,
        ["shorewall", "check", str(staged)],
        [
            "systemd-run",
            "--unit=hv-rollback-firewall",
            "--collect",
            "--on-active=90s",
            "--timer-property=AccuracySec=1s",
            str(base / "rollback.sh"),
        ],
        ["shorewall", "reload", "-c"],
        ["systemctl", "stop", "hv-rollback-firewall.timer"],
        IS_ACTIVE,
    ]
    probe.assert_called_once_with(master_ports=[4505, 4506], ssh_from_master=True)
    assert not (base / "previous").exists() and not (base / "rollback.sh").exists()


def test_failed_probe_rolls_back_at_once(host, etc, tmp_path, probe):
    conf, _src = etc
    probe.return_value = {
        "ok": False,
        "passed": ["TCP connection to the master 203.0.113.1:4505"],
        "failed": ["SSH to hyp1 from the master (reach.ssh): False"],
    }
    ret = apply_state(etc, tmp_path)
    assert ret == {
        "name": "firewall",
        "changes": {},
        "result": False,
        "comment": "firewall: SSH to hyp1 from the master (reach.ssh): False; "
        "rolled back at once: the previous configuration is back",
    }
    # The old rules file, its mode, and no proxyarp: as before.
    assert (conf / "rules").read_text() == OLD
    assert oct((conf / "rules").stat().st_mode & 0o777) == "0o640"
    assert not (conf / "proxyarp").exists()
    # The rollback re-applied them (live before: reload), and the timer was stopped.
    assert host.log.read_text() == "reload -c\n"
    script = str(tmp_path / "state" / "firewall" / "rollback.sh")
    assert host.ran[-3:] == [[script], ["systemctl", "stop", "hv-rollback-firewall.timer"], IS_ACTIVE]


def test_failed_apply_command_rolls_back(host, etc, tmp_path, probe):
    conf, _src = etc
    host.fail[("shorewall", "reload")] = (
        143,
        'ERROR: Command "ip -4 route replace 203.0.113.101/32 dev brwan" Failed',
    )
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is False
    assert ret["comment"] == (
        "firewall: `shorewall reload -c` failed (exit code 143): "
        'ERROR: Command "ip -4 route replace 203.0.113.101/32 dev brwan" Failed; '
        "rolled back at once: the previous configuration is back"
    )
    assert (conf / "rules").read_text() == OLD
    probe.assert_not_called()


def test_first_run_rolls_back_with_its_own_commands(host, etc, tmp_path, probe):
    """Nothing live before (Shorewall stopped or not there): the rollback
    compiles the staged files (so that `clear` has a script) and clears."""
    host.fail[("shorewall", "status")] = (4, "Shorewall is stopped")
    probe.return_value = {
        "ok": False,
        "passed": [],
        "failed": ["TCP connection to the master 203.0.113.1:4506"],
    }
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is False
    staged = tmp_path / "state" / "firewall" / "staged"
    assert host.log.read_text() == f"compile {staged} /var/lib/shorewall/firewall\nclear\n"


def test_not_live_with_files_in_place_applies(host, etc, tmp_path):
    conf, src = etc
    (conf / "rules").write_text(NEW)
    (conf / "proxyarp").write_text((src / "proxyarp").read_text())
    host.fail[("shorewall", "status")] = (3, "Shorewall is stopped")
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is True
    assert ret["changes"] == {"live": {"old": False, "new": True}}
    assert ["shorewall", "reload", "-c"] in host.ran


def test_armed_earlier_apply_is_refused(host, etc, tmp_path):
    conf, _src = etc
    del host.fail[("systemctl", "is-active")]
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is False
    assert ret["comment"].startswith("an earlier apply of firewall is still armed or rolling back")
    assert (conf / "rules").read_text() == OLD
    assert host.ran_first("systemd-run", "shorewall") == []


def test_dead_man_that_fired_first_is_reported(host, etc, tmp_path, probe):
    mark = tmp_path / "state" / "firewall" / "rolled-back"

    def slow_probe(**kwargs):
        mark.write_text("fired\n")  # as the timer's script does
        return {"ok": True, "passed": ["all"], "failed": []}

    probe.side_effect = slow_probe
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is False
    assert ret["comment"].startswith("firewall: the dead-man fired (90s) before the probe was through")


def test_salt_sources_are_rendered_with_the_context(host, tmp_path, templates):
    templates["salt://firewall/files/zones.jinja"] = "fw\tfirewall\n"
    dest = tmp_path / "etc" / "zones"
    ret = safe_apply_states.applied(
        "firewall",
        files={str(dest): "salt://firewall/files/zones.jinja"},
        context={"hv": {"me": "hyp1"}},
        running=RUNNING,
        state_dir=str(tmp_path / "state"),
    )
    assert ret["result"] is True
    assert dest.read_text() == "fw\tfirewall\n"


def test_rollback_script_quotes_and_removes_new_files():
    script = safe_apply._rollback_script(
        "firewall",
        {"/etc/shorewall/rules": "/var/lib/x/previous/rules", "/etc/shorewall/proxyarp": None},
        [["shorewall", "reload", "-c"]],
        "/var/lib/x/rolled-back",
    )
    assert script.splitlines()[4:] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH",
        "export PATH",
        "date > /var/lib/x/rolled-back",
        "status=0",
        "rm -f /etc/shorewall/proxyarp || status=1",
        "cp --preserve=mode,ownership /var/lib/x/previous/rules /etc/shorewall/rules.hv-rollback"
        " && mv -f /etc/shorewall/rules.hv-rollback /etc/shorewall/rules || status=1",
        "shorewall reload -c || status=1",
        "exit $status",
    ]


def test_same_base_name_twice_is_refused(host, tmp_path):
    ret = safe_apply_states.applied(
        "network",
        files={"/etc/a/x.conf": "/tmp/1", "/etc/b/x.conf": "/tmp/2"},
        state_dir=str(tmp_path / "state"),
    )
    assert ret["result"] is False
    assert ret["comment"].startswith("destinations must have distinct base names")


def test_probe_connects_and_asks_the_master(opts):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    runner = create_autospec(salt.modules.publish.runner, return_value=True)
    safe_apply.__salt__["publish.runner"] = runner
    try:
        got = safe_apply.probe(master_ports=[port], ssh_from_master=True, master="127.0.0.1", attempts=1)
    finally:
        server.close()
    assert got == {
        "ok": True,
        "passed": [
            f"TCP connection to the master 127.0.0.1:{port}",
            "SSH to hyp1 from the master (reach.ssh)",
        ],
        "failed": [],
    }
    runner.assert_called_once_with("reach.ssh", arg=["hyp1"], timeout=15)


def test_probe_ssh_refused_by_the_master(opts):
    safe_apply.__salt__["publish.runner"] = create_autospec(
        salt.modules.publish.runner, return_value="'reach.ssh' runner publish timed out"
    )
    got = safe_apply.probe(ssh_from_master=True, attempts=2, pause=0)
    assert got == {
        "ok": False,
        "passed": [],
        "failed": ["SSH to hyp1 from the master (reach.ssh): \"'reach.ssh' runner publish timed out\""],
    }
    assert safe_apply.__salt__["publish.runner"].call_count == 2


def test_commands_never_need_an_unknown_program(host, tmp_path):
    assert safe_apply._run(["no-such-program-hv"]) == (False, "`no-such-program-hv` is not installed")
    with pytest.raises(CommandExecutionError):
        safe_apply._run_each([["no-such-program-hv"]])


def test_one_command_or_a_list_of_them():
    assert safe_apply._commands(None) == []
    assert safe_apply._commands(["shorewall", "check", "/tmp/x"]) == [["shorewall", "check", "/tmp/x"]]
    assert safe_apply._commands([["a"], ["b", "c"]]) == [["a"], ["b", "c"]]


def test_a_broken_local_copy_is_refused_by_its_check(host, etc, tmp_path):
    """As an operator may call it: one check command on a directory of their own."""
    conf, src = etc
    host.fail[("shorewall", "check")] = (1, "ERROR: Undefined shell variable ($NO_SUCH_PARAM)")
    ret = safe_apply_states.applied(
        "firewall",
        files={str(conf / "rules"): str(src / "rules")},
        check=["shorewall", "check", str(src)],
        apply=["shorewall", "reload"],
        rollback=["shorewall", "reload"],
        state_dir=str(tmp_path / "state"),
    )
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].endswith("ERROR: Undefined shell variable ($NO_SUCH_PARAM)")
    assert (conf / "rules").read_text() == OLD


def test_probe_does_not_ask_a_master_it_cannot_reach(opts):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    runner = create_autospec(salt.modules.publish.runner, return_value=True)
    safe_apply.__salt__["publish.runner"] = runner
    got = safe_apply.probe(master_ports=[port], ssh_from_master=True, master="127.0.0.1", attempts=1)
    assert got["failed"] == [
        f"TCP connection to the master 127.0.0.1:{port}",
        "SSH to hyp1 from the master: not tried, the master is not reached",
    ]
    runner.assert_not_called()


def test_a_timer_that_will_not_stop_is_reported(host, etc, tmp_path, probe):
    """If the dead-man cannot be disarmed it will undo a good change: say so."""
    calls = []
    real = host.run_all

    def still_armed_after_stop(argv, **kwargs):
        calls.append(argv[:2])
        if argv[:2] == ["systemctl", "is-active"] and ["systemctl", "stop"] in calls:
            return {"retcode": 0, "stdout": "", "stderr": "", "pid": 1}
        return real(argv, **kwargs)

    safe_apply.__salt__["cmd.run_all"] = create_autospec(
        salt.modules.cmdmod.run_all, side_effect=still_armed_after_stop
    )
    ret = apply_state(etc, tmp_path)
    assert ret["result"] is False
    assert (
        ret["comment"] == "firewall: could not stop hv-rollback-firewall.timer: it will roll back the change"
    )


# ------------------------------------------------------------------ a context per file (networkd)


def test_a_file_with_its_own_context_gets_it_over_the_common_one(host, tmp_path):
    """files maps a destination to {source, context}: that context is merged
    over the state's common one, for that file only; a plain source gets the
    common context; a dict without a context, the common one too."""
    rendered = {}

    def get_template(source, dest, saltenv="base", **context):
        rendered[os.path.basename(dest)] = (source, context)
        with open(dest, "w", encoding="utf-8") as handle:
            handle.write(f"{source} {sorted(context)}\n")
        return dest

    safe_apply.__salt__["cp.get_template"] = create_autospec(
        salt.modules.cp.get_template, side_effect=get_template
    )
    conf = tmp_path / "network"
    link = {"ifname": "vxwan", "vni": 101, "remotes": ["198.51.100.12"]}
    ret = safe_apply_states.applied(
        "network",
        files={
            str(conf / "31-hv-vxwan.netdev"): {
                "source": "salt://network/files/networkd/vxlan.netdev.jinja",
                "context": {"link": link, "shared": "its own"},
            },
            str(conf / "30-hv-brwan.netdev"): "salt://network/files/networkd/bridge.netdev.jinja",
            str(conf / "30-hv-brlan.netdev"): {"source": "salt://network/files/networkd/bridge.netdev.jinja"},
        },
        context={"shared": "common", "bridge": "brwan"},
        state_dir=str(tmp_path / "state"),
    )
    assert ret["result"] is True, ret["comment"]
    assert ret["comment"] == "network: applied 3 file(s), no probe, dead-man disarmed"
    assert rendered == {
        "31-hv-vxwan.netdev": (
            "salt://network/files/networkd/vxlan.netdev.jinja",
            {"shared": "its own", "bridge": "brwan", "link": link},
        ),
        "30-hv-brwan.netdev": (
            "salt://network/files/networkd/bridge.netdev.jinja",
            {"shared": "common", "bridge": "brwan"},
        ),
        "30-hv-brlan.netdev": (
            "salt://network/files/networkd/bridge.netdev.jinja",
            {"shared": "common", "bridge": "brwan"},
        ),
    }
    assert (conf / "31-hv-vxwan.netdev").read_text() == (
        "salt://network/files/networkd/vxlan.netdev.jinja ['bridge', 'link', 'shared']\n"
    )


def test_a_file_with_its_own_context_and_no_common_one(host, tmp_path, opts):
    """No common context (as network-networkd-applied has it); under test=True
    each file is rendered with its own context and compared."""
    contexts = {}

    def get_template(source, dest, saltenv="base", **context):
        contexts[os.path.basename(dest)] = context
        with open(dest, "w", encoding="utf-8") as handle:
            handle.write(f"Name={context['bridge']}\n")
        return dest

    safe_apply.__salt__["cp.get_template"] = create_autospec(
        salt.modules.cp.get_template, side_effect=get_template
    )
    opts["test"] = True
    conf = tmp_path / "network"
    conf.mkdir()
    (conf / "30-hv-brwan.netdev").write_text("Name=brwan\n")
    ret = safe_apply_states.applied(
        "network",
        files={
            str(conf / f"30-hv-{bridge}.netdev"): {
                "source": "salt://network/files/networkd/bridge.netdev.jinja",
                "context": {"bridge": bridge},
            }
            for bridge in ("brwan", "brlan")
        },
        state_dir=str(tmp_path / "state"),
    )
    assert contexts == {"30-hv-brwan.netdev": {"bridge": "brwan"}, "30-hv-brlan.netdev": {"bridge": "brlan"}}
    assert ret["result"] is None
    assert list(ret["changes"]["diff"]) == [str(conf / "30-hv-brlan.netdev")]
    assert not (conf / "30-hv-brlan.netdev").exists()


def test_a_file_with_its_own_context_that_fails_to_render(host, tmp_path):
    safe_apply.__salt__["cp.get_template"] = create_autospec(salt.modules.cp.get_template, return_value=False)
    dest = str(tmp_path / "network" / "10-hv-public.network")
    ret = safe_apply_states.applied(
        "network",
        files={
            dest: {
                "source": "salt://network/files/networkd/public.network.jinja",
                "context": {"public": {}},
            }
        },
        state_dir=str(tmp_path / "state"),
    )
    assert ret["result"] is False
    assert ret["comment"] == f"could not render salt://network/files/networkd/public.network.jinja for {dest}"
    assert host.ran_first("systemd-run") == []


# ------------------------------------------------------------------ the probe: networkd's links


def test_probe_waits_for_networkd_links(opts):
    settle = create_autospec(public_net.settle, return_value=None)
    safe_apply.__salt__["public_net.settle"] = settle
    got = safe_apply.probe(links=("eth0", "eth1", "brwan", "vxwan"))
    assert got == {"ok": True, "passed": ["networkd configured eth0, eth1, brwan, vxwan"], "failed": []}
    settle.assert_called_once_with(["eth0", "eth1", "brwan", "vxwan"])


def test_probe_fails_on_a_link_networkd_did_not_configure(opts):
    said = "networkd failed to configure vxwan (failed)"
    safe_apply.__salt__["public_net.settle"] = create_autospec(
        public_net.settle, side_effect=CommandExecutionError(said)
    )
    got = safe_apply.probe(links=["eth0", "vxwan"])
    assert got == {"ok": False, "passed": [], "failed": [said]}


def test_probe_without_links_leaves_networkd_alone(opts):
    settle = create_autospec(public_net.settle)
    safe_apply.__salt__["public_net.settle"] = settle
    assert safe_apply.probe() == {"ok": True, "passed": [], "failed": []}
    settle.assert_not_called()


def test_probe_links_then_the_master(opts):
    """Links and the master both checked: both reported, in that order."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    safe_apply.__salt__["public_net.settle"] = create_autospec(public_net.settle, return_value=None)
    try:
        got = safe_apply.probe(links=["eth0"], master_ports=[port], master="127.0.0.1", attempts=1)
    finally:
        server.close()
    assert got == {
        "ok": True,
        "passed": ["networkd configured eth0", f"TCP connection to the master 127.0.0.1:{port}"],
        "failed": [],
    }


def test_a_link_networkd_did_not_configure_rolls_the_network_back(host, tmp_path, probe):
    """The state passes probe (links included) to safe_apply.probe; a link
    failed: the previous file is back. (No apply or rollback command: the
    rollback script runs for real, and networkctl is no stand-in.)"""
    conf = tmp_path / "network"
    conf.mkdir()
    (conf / "20-hv-rpn.network").write_text("[Match]\nMACAddress=02:00:c6:33:64:0b\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "rpn").write_text("[Match]\nMACAddress=02:00:c6:33:64:0b\n[Network]\nVXLAN=vxwan\n")
    probe.return_value = {
        "ok": False,
        "passed": ["TCP connection to the master 203.0.113.1:4505"],
        "failed": ["networkd failed to configure vxwan (failed)"],
    }
    ret = safe_apply_states.applied(
        "network",
        files={str(conf / "20-hv-rpn.network"): {"source": str(src / "rpn")}},
        probe={"links": ["eth1", "vxwan"], "master_ports": [4505]},
        state_dir=str(tmp_path / "state"),
    )
    assert ret["result"] is False
    assert ret["comment"] == (
        "network: networkd failed to configure vxwan (failed); "
        "rolled back at once: the previous configuration is back"
    )
    assert (conf / "20-hv-rpn.network").read_text() == "[Match]\nMACAddress=02:00:c6:33:64:0b\n"
    probe.assert_called_once_with(links=["eth1", "vxwan"], master_ports=[4505])
    script = str(tmp_path / "state" / "network" / "rollback.sh")
    assert host.ran[-3:] == [
        [script],
        ["systemctl", "stop", "hv-rollback-network.timer"],
        ["systemctl", "is-active", "--quiet", "hv-rollback-network.timer", "hv-rollback-network.service"],
    ]
