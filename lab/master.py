"""The lab's salt-master, in its own network namespace.

It serves ``salt/`` from this checkout and the pillar from ``pillar/``, with an
override directory in front of it that tests use to try other pillars.
Minion keys are generated here and pre-accepted, so no key dance is needed.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from . import provider, system
from .topology import MASTER_IP, MASTER_NS, PILLAR, PREFIX, REPO, STATE

HOME = STATE / "master"
CONF = HOME / "etc"
KEYS = STATE / "keys"
PILLAR_OVERRIDE = HOME / "pillar-override"
PID_FILE = STATE / "run" / "salt-master.pid"
NODEGROUP = "hypervisors"
GUEST_NODEGROUP = "guest_hosts"
MASTER_ID = f"{PREFIX}master"  # the master's own id: it alone gets alerts.sls (pillar/top.sls)
VENV = Path(sys.prefix)  # the master runs from this checkout's venv


def configure(hosts, fresh=True):
    """Write the master's config and pre-accept a key pair per host; ``fresh``: bare
    hosts (the master's cache and the tests' pillars cleared), else hosts added to a
    running lab (``python -m lab grow``: what the others published stays)."""
    CONF.mkdir(parents=True, exist_ok=True)
    if fresh:
        # Bare hosts every boot: nothing they published before (the mine) is theirs now.
        shutil.rmtree(HOME / "cache", ignore_errors=True)
    clear_pillar_override()  # the cluster file as it is now (grow: with its new hosts)
    config = {
        "id": MASTER_ID,
        "interface": MASTER_IP,
        "root_dir": str(HOME),
        "pki_dir": str(HOME / "pki"),
        "cachedir": str(HOME / "cache"),
        "sock_dir": str(HOME / "sock"),
        "pidfile": str(HOME / "salt-master.pid"),
        "log_file": str(HOME / "master.log"),
        "log_level_logfile": "info",
        "user": "root",
        "file_roots": {"base": [str(REPO / "salt")]},
        # Tests' pillars first, then the lab's token (lab/provider.py), then the repo's.
        "pillar_roots": {"base": [str(PILLAR_OVERRIDE), str(provider.SECRET_PILLAR), str(REPO / "pillar")]},
        # Both top files target the first; only the second gets the token (see
        # master.d/hypervisor.conf, pillar/top.sls).
        "nodegroups": {
            NODEGROUP: "L@" + ",".join(h.name for h in hosts),
            GUEST_NODEGROUP: "L@" + ",".join(h.name for h in hosts if h.role != "arbiter"),
            "alerts_master": f"L@{MASTER_ID}",  # master.d/alerts.conf
        },
        # The alerts engine (master.d/alerts.conf), sending to the lab's webhook
        # stand-in (lab/webhook.py) every 2 s.
        "engines": [{"hv_alerts": {"interval": 2}}],
        "engines_dirs": [str(REPO / "_engines")],
        "timeout": 30,
        "state_output": "mixed",
        # A host asks the master to probe its SSH after a firewall or network
        # change (R5); see master.d/hypervisor.conf.
        "runner_dirs": [str(REPO / "_runners")],
        # cluster.status (runner and module) and its hv_status outputter.
        "utils_dirs": [str(REPO / "_utils")],
        "outputter_dirs": [str(REPO / "_output")],
        # Only the cluster's hosts may ask (B10): the same names as the nodegroup.
        "peer_run": {"^(" + "|".join(re.escape(h.name) for h in hosts) + ")$": ["reach.ssh"]},
        "reactor": reactor(),
    }
    (CONF / "master").write_text(yaml.safe_dump(config, sort_keys=True))
    KEYS.mkdir(parents=True, exist_ok=True)
    accepted = HOME / "pki" / "minions"
    accepted.mkdir(parents=True, exist_ok=True)
    for host in hosts:
        if not (KEYS / f"{host.name}.pem").exists():
            system.run(
                VENV / "bin/salt-key",
                "-c",
                CONF,
                f"--gen-keys={host.name}",
                f"--gen-keys-dir={KEYS}",
            )
        shutil.copy(KEYS / f"{host.name}.pub", accepted / host.name)


def reactor():
    """master.d/reactor.conf's reactions, pointed at this checkout."""
    conf = yaml.safe_load((REPO / "master.d" / "reactor.conf").read_text())["reactor"]
    return [
        {tag: [path.replace("/srv/hypervisor/", f"{REPO}/") for path in paths]}
        for entry in conf
        for tag, paths in entry.items()
    ]


def clear_pillar_override():
    """Back to the lab's pillar (tests put other pillars here): the embedded
    default, or the cluster file HVLAB_PILLAR names."""
    shutil.rmtree(PILLAR_OVERRIDE, ignore_errors=True)
    PILLAR_OVERRIDE.mkdir(parents=True)
    if PILLAR != REPO / "pillar" / "hypervisor.sls":
        shutil.copy(PILLAR, PILLAR_OVERRIDE / "hypervisor.sls")


def start():
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    log = open(HOME / "console.log", "w")  # noqa: SIM115 (kept by the child)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", MASTER_NS, str(VENV / "bin/salt-master"), "-c", str(CONF)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    PID_FILE.write_text(f"{proc.pid}\n")
    return proc.pid


def pid():
    return system.read_pid(PID_FILE)


def serves_this_checkout():
    """Whether the configured master serves this checkout's states (a lab made
    from another clone is not one to reuse)."""
    try:
        config = yaml.safe_load((CONF / "master").read_text())
    except FileNotFoundError:
        return False
    return config.get("file_roots", {}).get("base") == [str(REPO / "salt")]


def stop():
    system.stop_pid_file(PID_FILE)


def command(tool, *args):
    """Argument list running a Salt CLI tool (salt, salt-run, salt-key) here."""
    return ["ip", "netns", "exec", MASTER_NS, str(VENV / "bin" / tool), "-c", str(CONF), *args]


def salt(*args, check=False, timeout=600):
    return system.run(*command("salt", *args), check=check, timeout=timeout)


def ping_all(hosts, timeout=60):
    """Wait until every host answers test.ping."""
    names = ",".join(h.name for h in hosts)

    def answered():
        proc = system.run(
            *command("salt", "-L", names, "test.ping", "--out=yaml", "-t", "5"),
            check=False,
            timeout=30,
        )
        try:
            data = yaml.safe_load(proc.stdout or "{}") or {}
        except yaml.YAMLError:
            return False
        # A master still starting answers with a sentence, not a mapping: not yet.
        return isinstance(data, dict) and all(data.get(h.name) is True for h in hosts)

    system.wait_for(answered, timeout, interval=1, what="every host to answer test.ping")
