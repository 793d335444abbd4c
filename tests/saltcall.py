"""Masterless minions of pytest-salt-factories rooted in this checkout, for the render tests.

:func:`factories` makes salt-factories' manager; :func:`minion` one minion of it for a
host and a platform (configured, never started: ``file_client: local``), whose
``salt_call_cli()`` runs ``salt-call`` against this checkout's state tree and pillar.
Grains set in the minion config override the core grains, so a Debian machine
renders the tree as a Debian 13 or an EL 9 host would see it.

The manager is made here rather than by salt-factories' pytest plugins, which
pyproject.toml keeps off: their event listener and log server bind 0.0.0.0 for
every test session. A masterless ``salt-call`` sends no event and starts no engine,
so the listener given to the manager is only named (never started), and the
minions' log forwarding is off (``salt-call`` reports on stdout and stderr:
no log server, port 0).
"""

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attr
import yaml
from saltfactories.daemons.minion import SaltMinion
from saltfactories.manager import FactoriesManager
from saltfactories.plugins.event_listener import EventListener

REPO = Path(__file__).resolve().parent.parent
# The lab's master (lab/topology.py), as a minion's config names it: what the
# firewall lets in as MASTER (a masterless minion never contacts it).
MASTER = "203.0.113.1"

# Grains by platform: a family's name is its reference release (Debian 12, Rocky 9).
OS_GRAINS = {
    "Debian": {
        "os_family": "Debian",
        "os": "Debian",
        "osmajorrelease": 12,
        "osrelease": "12",
        "oscodename": "bookworm",
        "osfinger": "Debian-12",
    },
    "Debian-13": {
        "os_family": "Debian",
        "os": "Debian",
        "osmajorrelease": 13,
        "osrelease": "13",
        "oscodename": "trixie",
        "osfinger": "Debian-13",
    },
    "RedHat": {
        "os_family": "RedHat",
        "os": "Rocky",
        "osmajorrelease": 9,
        "osrelease": "9.4",
        "osfinger": "Rocky Linux-9",
    },
}


@attr.s(kw_only=True, slots=True)
class RenderMinion(SaltMinion):
    """salt-factories' minion whose file and pillar roots are this checkout's alone (the
    factory's defaults add empty base and prod roots of its own), and whose directory
    check leaves them alone (run as root, it would chown every file under them)."""

    @classmethod
    def default_config(cls, root_dir, minion_id, defaults=None, overrides=None, **kwargs):
        overrides = dict(overrides or {})
        roots = {key: overrides.pop(key) for key in ("file_roots", "pillar_roots") if key in overrides}
        config = super().default_config(root_dir, minion_id, defaults=defaults, overrides=overrides, **kwargs)
        return {**config, **roots}

    @classmethod
    def _get_verify_config_entries(cls, config):
        roots = {d for key in ("file_roots", "pillar_roots") for env in config[key].values() for d in env}
        return [d for d in super()._get_verify_config_entries(config) if d not in roots]


def factories(root_dir):
    """salt-factories' manager, its minions' directories and generated scripts under ``root_dir``.

    No ``code_dir``: the generated scripts would put it first on sys.path, and this
    checkout's ``salt/`` directory would then hide the salt package.
    """
    listener = EventListener()
    listener.host = "127.0.0.1"
    manager = FactoriesManager(
        root_dir=root_dir,
        log_server_host="127.0.0.1",
        log_server_port=0,
        log_server_level="error",
        event_listener=listener,
        slow_stop=False,
    )
    # Written now, once: minions are made and called from several threads (Ahead).
    for script in ("salt-minion", "salt-call"):
        manager.get_salt_script_path(script)
    return manager


def nodegroups(minion_id, roots):
    """The master's nodegroups as the pillar top reads them (master.d/hypervisor.conf), for
    ``minion_id`` alone: ``hypervisors``, and ``guest_hosts`` unless the cluster description
    (the first ``hypervisor.sls`` of ``roots``) makes it the arbiter."""
    groups = {"hypervisors": f"L@{minion_id}", "guest_hosts": f"L@{minion_id}"}
    for root in map(Path, roots):
        if (root / "hypervisor.sls").is_file():
            cluster = yaml.safe_load((root / "hypervisor.sls").read_text()) or {}
            host = ((cluster.get("hypervisor") or {}).get("hosts") or {}).get(minion_id) or {}
            if isinstance(host, dict) and host.get("role") == "arbiter":
                groups["guest_hosts"] = "L@"  # none
            break
    return groups


def minion(manager, minion_id, platform="Debian", pillar_roots=None):
    """A masterless minion ``minion_id`` on ``platform`` (a key of OS_GRAINS), reading the
    state tree and the pillar (``pillar_roots``, else the repository's) from this checkout."""
    roots = pillar_roots or [REPO / "pillar"]
    config = {
        "file_client": "local",
        "master": MASTER,
        "file_roots": {"base": [str(REPO / "salt")]},
        # The custom modules load from the tree's _modules/_states (the links
        # that saltutil.sync_all would copy from): no sync call per minion.
        "module_dirs": [str(REPO / "salt")],
        "pillar_roots": {"base": [str(p) for p in roots]},
        "grains": OS_GRAINS[platform],
        "nodegroups": nodegroups(minion_id, roots),
        "log_level_logfile": "warning",
        "pytest-minion": {"log": {"disabled": True}},
    }
    # A directory of its own (the manager's default, the minion ID, is shared by
    # the same host on two platforms, and chosen without a lock).
    root_dir = tempfile.mkdtemp(prefix=f"{minion_id}-{platform}-", dir=manager.root_dir)
    return manager.salt_minion_daemon(
        minion_id, defaults={"root_dir": root_dir}, overrides=config, factory_class=RenderMinion
    )


def call(salt_minion, *args):
    """``salt-call`` on ``salt_minion``: its ProcessResult (returncode, data: the
    return, stdout, stderr)."""
    return salt_minion.salt_call_cli(timeout=120).run(*args)


def text(result):
    """What ``salt-call`` printed, for a failure's message."""
    return f"{result.stdout}\n{result.stderr}"


class Ahead:
    """``run(*key)`` once per key, started ahead of the tests that read it, in a pool of
    one thread per CPU (each ``salt-call`` is a process of its own)."""

    def __init__(self, run, keys=()):
        self._run = run
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        self._futures = {}
        for key in keys:
            self._future(key)

    def _future(self, key):
        if key not in self._futures:
            self._futures[key] = self._pool.submit(self._run, *key)
        return self._futures[key]

    def get(self, *key):
        return self._future(key).result()

    def close(self):
        """Drop the runs no test has asked for yet (a run of a few tests)."""
        self._pool.shutdown(cancel_futures=True)
