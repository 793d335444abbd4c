"""Run ``salt-call --local`` against this checkout's state tree, for render tests.

Grains set in the minion config override the core grains, so a Debian machine
renders the tree as an EL 9 host would see it. Derived grains (``osfinger``,
``osrelease``) are not recomputed from them: they are set too. Rendering
(``state.show_highstate``) works so; applying (``state.apply test=True``) does
not, for want of an EL package module on Debian.
"""

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SALT_CALL = Path(sys.prefix) / "bin" / "salt-call"

OS_GRAINS = {
    "Debian": {"os_family": "Debian", "os": "Debian", "osmajorrelease": 12, "osfinger": "Debian-12"},
    "RedHat": {
        "os_family": "RedHat",
        "os": "Rocky",
        "osmajorrelease": 9,
        "osrelease": "9.4",
        "osfinger": "Rocky Linux-9",
    },
}


class LocalMinion:
    """A masterless minion config rooted in ``tmp`` for one host and OS family."""

    def __init__(self, tmp, minion_id, os_family, pillar_roots=None):
        self.conf = Path(tmp) / f"{minion_id}-{os_family}"
        self.conf.mkdir(parents=True, exist_ok=True)
        config = {
            "id": minion_id,
            "file_client": "local",
            "root_dir": str(self.conf / "root"),
            "file_roots": {"base": [str(REPO / "salt")]},
            # The custom modules load from the tree's _modules/_states (the links
            # that saltutil.sync_all would copy from): no sync call per minion.
            "module_dirs": [str(REPO / "salt")],
            "pillar_roots": {"base": [str(p) for p in (pillar_roots or [REPO / "pillar"])]},
            "grains": OS_GRAINS[os_family],
            # Both top files target this nodegroup (master.d/hypervisor.conf).
            "nodegroups": {"hypervisors": f"L@{minion_id}"},
            "log_level": "quiet",
            "log_file": str(self.conf / "minion.log"),
        }
        (self.conf / "minion").write_text(yaml.safe_dump(config))

    def call(self, *args):
        proc = subprocess.run(
            [str(SALT_CALL), "-c", str(self.conf), "--out=json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        try:
            data = json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            data = None
        return proc.returncode, data, proc.stdout + proc.stderr
