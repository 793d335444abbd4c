"""A package repository of the lab's own for the rolling upgrade's tests (B9): one
small package, ``hvlab-canary``, built here with ``dpkg-deb`` in whichever version a
test asks for, published in each host's root file system as a second apt source
beside the lab's package cache (the hosts' only other one). Publishing a higher
version is what a real mirror does when a fix is released: ``pkg.list_upgrades``
and ``pkg.upgrade`` on the hosts then see it, through apt, as any other upgrade.

A version may carry a ``postinst`` script: the tests' bad upgrade (a package whose
maintainer script breaks the host) is one.

    publish(host, ["1"])          # the repository holds version 1
    install(host)                 # apt-get install hvlab-canary (the newest published)
    publish(host, ["1", "2"])     # version 2 released
    installed(host)               # "1" until an upgrade, then "2"
    remove(host)                  # purged, the source and the repository gone
"""

import shutil
import tempfile
from pathlib import Path

from . import machines, system

PACKAGE = "hvlab-canary"
IN_HOST = "/var/cache/hvlab-upgrade"  # the repository, in each host's root file system
SOURCE = "/etc/apt/sources.list.d/hvlab-upgrade.list"
VERSION_FILE = f"/usr/share/{PACKAGE}/version"


def build(version, dest, postinst=None):
    """``hvlab-canary_<version>_all.deb`` in ``dest`` (a Path); its path."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "pkg"
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN/control").write_text(
            f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: hvlab <root@localhost>\n"
            "Section: misc\nPriority: optional\n"
            "Description: the lab's canary for rolling upgrades\n"
            " A package with one file, its version, released anew by the tests.\n"
        )
        if postinst:
            script = tree / "DEBIAN/postinst"
            script.write_text(f"#!/bin/sh\nset -e\n{postinst}\n")
            script.chmod(0o755)
        data = tree / VERSION_FILE.lstrip("/")
        data.parent.mkdir(parents=True)
        data.write_text(f"{version}\n")
        out = dest / f"{PACKAGE}_{version}_all.deb"
        system.run("dpkg-deb", "--root-owner-group", "--build", tree, out)
    return out


def publish(host, versions, postinst=None):
    """``host``'s repository holds these versions of the canary (``postinst``:
    ``{version: shell lines}``), and its apt source names it."""
    rootfs = machines.root(host)
    repo = rootfs / IN_HOST.lstrip("/")
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    for version in versions:
        build(version, repo, (postinst or {}).get(version))
    index = system.run("dpkg-scanpackages", "--multiversion", ".", "/dev/null", cwd=repo)
    (repo / "Packages").write_text(index.stdout)
    (rootfs / SOURCE.lstrip("/")).write_text(f"deb [trusted=yes] file:{IN_HOST} ./\n")


def install(host):
    """The canary installed on ``host``, in the newest version published (apt-get)."""
    machines.run(host, "sh", "-c", f"apt-get -q update && apt-get -q -y install {PACKAGE}", timeout=300)


def installed(host):
    """The canary's version installed on ``host``, or None."""
    proc = machines.run(host, "dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE, check=False)
    words = proc.stdout.split()
    return words[-1] if proc.returncode == 0 and words[:3] == ["install", "ok", "installed"] else None


def remove(host):
    """The canary purged from ``host``; its source and repository gone, apt's lists
    read again (what the lab's hosts had before)."""
    machines.run(host, "sh", "-c", f"dpkg --purge {PACKAGE} >/dev/null 2>&1; true", timeout=120)
    rootfs = machines.root(host)
    (rootfs / SOURCE.lstrip("/")).unlink(missing_ok=True)
    shutil.rmtree(rootfs / IN_HOST.lstrip("/"), ignore_errors=True)
    machines.run(host, "apt-get", "-q", "update", timeout=300)
