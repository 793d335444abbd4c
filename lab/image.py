"""The lab's bare Debian 12 image, and the package caches its hosts install from.

A lab host starts as a provider's Debian 12 install plus a salt-minion, and
nothing of the product: the first ``state.apply`` installs libvirt, qemu,
gluster, sanlock … and the modules' Python libraries, as on a real server.
The hosts have no route out of the lab, so the packages the states may ask
for are fetched once, here, into two caches bound read-only into every host:

- ``debs/``: a flat apt repository (every package of the Debian parameters,
  with the dependencies the bare image lacks), the hosts' only apt source;
- ``wheels/``: wheels of Salt for the minion, and the sources of the Python
  libraries the states install (pip builds them on the host, as it would
  from PyPI), the hosts' only pip index.

The minion is installed in the image by ``minion/install-salt-minion.sh``, the
script docs/install.md gives for real servers. Everything is built once and cached
under a key of the recipe, the package lists and the pins.
"""

import hashlib
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

from . import system
from .topology import CACHE, REPO

RECIPE_VERSION = 2
IMAGES = CACHE / "images"
# What a provider's Debian 12 install holds (plus python3-venv for the minion).
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "procps",
    "ca-certificates",
    "openssh-server",
    "python3",
    "python3-venv",
    # A competing firewall, enabled in the hosts as a provider's install may
    # leave it, so that F2 has something real to turn off.
    "nftables",
]
# Packages of later features, offered by the lab's apt source already.
EXTRA_DEBS = []
# Where the hosts see the caches.
DEBS_IN_HOST = "/var/cache/hvlab/debs"
WHEELS_IN_HOST = "/var/cache/hvlab/wheels"
LAB_ONLY = "# lab only (lab/image.py): the lab's package cache\n"
APT_SOURCE = f"{LAB_ONLY}deb [trusted=yes] file:{DEBS_IN_HOST} ./\n"
PIP_CONF = f"{LAB_ONLY}[global]\nno-index = true\nfind-links = {WHEELS_IN_HOST}\n"


def _debian_parameters():
    """The schema's defaults for Debian (the lab's hosts)."""
    return _schema().defaults("Debian")


def product_packages():
    """Every Debian package the states may install (lists under ``pkgs`` and ``python``)."""
    params = _debian_parameters()
    names = set(EXTRA_DEBS)
    for group in params["pkgs"].values():
        names.update(group)
    for key in ("os_pkgs", "build_pkgs"):
        names.update(params["python"][key])
    return sorted(names)


def pins():
    """``name==version`` of Salt (for the minion) and of the libraries the states pip-install."""
    required = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            required[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    return {"salt": required["salt"], "pip": sorted(_schema().BY_KEY["python:pip"].default)}


def _schema():
    """The pillar schema (_utils/hv_schema.py: plain Python, standard library only)."""
    spec = importlib.util.spec_from_file_location("hv_schema", REPO / "_utils" / "hv_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_key():
    blob = json.dumps(
        {
            "v": RECIPE_VERSION,
            "base": BASE_PACKAGES,
            "debs": product_packages(),
            "pins": pins(),
            "minion": [(REPO / "minion" / f).read_text() for f in sorted(("install-salt-minion.sh",))],
        }
    ).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def mirrors():
    """The Debian and security mirrors of this machine's own apt sources.

    Raises when none is found: the lab never guesses a package host.
    """
    texts = [p.read_text() for p in Path("/etc/apt").glob("sources.list") if p.is_file()]
    texts += [p.read_text() for p in Path("/etc/apt/sources.list.d").glob("*") if p.is_file()]
    main = security = None
    for line in "\n".join(texts).splitlines():
        match = re.match(r"^\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(https?://\S+)", line)
        if not match:
            continue
        url = match.group(1).rstrip("/")
        if url.endswith("/debian-security"):
            security = security or url
        elif url.endswith("/debian"):
            main = main or url
    if main is None:
        raise RuntimeError(
            "no Debian mirror in this machine's apt sources (/etc/apt/sources.list*): "
            "add one (a URI ending in /debian) and run again"
        )
    return main, security


def _sources(main, security):
    lines = [f"deb {main} bookworm main", f"deb {main} bookworm-updates main"]
    if security:
        lines.append(f"deb {security} bookworm-security main")
    return "\n".join(lines) + "\n"


def _in_image(rootfs, *cmd, binds=(), env=None, timeout=1800):
    """Run ``cmd`` inside the image under systemd-nspawn (own /proc, /sys, /dev;
    the machine's network, to reach its package mirrors)."""
    args = ["systemd-nspawn", "-q", "-D", rootfs, "--register=no", "--keep-unit", "--console=pipe"]
    args += [f"--bind{'-ro' if ro else ''}={src}:{dst}" for src, dst, ro in binds]
    args += [f"--setenv={k}={v}" for k, v in {"DEBIAN_FRONTEND": "noninteractive", **(env or {})}.items()]
    return system.run(*args, *cmd, timeout=timeout)


def _wheels(dest, echo):
    """Salt's wheels (built here, as pip would on a real host) and the sdists of
    the libraries the states install, with what building them needs."""
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    wanted = pins()
    echo(f"lab: collecting {wanted['salt']} and {', '.join(wanted['pip'])} for the hosts' pip cache")
    system.run(*pip, "wheel", "--wheel-dir", dest, wanted["salt"], timeout=1200)
    system.run(*pip, "download", "--no-deps", "--no-binary", ":all:", "-d", dest, *wanted["pip"], timeout=600)
    system.run(*pip, "download", "--only-binary", ":all:", "-d", dest, "setuptools", "wheel", timeout=600)


def _debs(rootfs, dest):
    """Download what the bare image lacks for every product package; index it."""
    (dest / "partial").mkdir(parents=True, exist_ok=True)
    _in_image(
        rootfs,
        "apt-get",
        "install",
        "-y",
        "-q",
        "--download-only",
        "--no-install-recommends",
        "-o",
        f"Dir::Cache::archives={DEBS_IN_HOST}",
        *product_packages(),
        binds=[(dest, DEBS_IN_HOST, False)],
    )
    (dest / "partial").rmdir()
    (dest / "lock").unlink(missing_ok=True)
    index = system.run("dpkg-scanpackages", "--multiversion", ".", "/dev/null", capture=True, cwd=dest)
    (dest / "Packages").write_text(index)


def build(echo=print):
    """Return the image directory (``rootfs``, ``debs``, ``wheels``), building it if not cached."""
    key = image_key()
    dest = IMAGES / f"bookworm-{key}"
    if (dest / ".hvlab-complete").exists():
        return dest
    IMAGES.mkdir(parents=True, exist_ok=True)
    tmp = IMAGES / f".building-{key}"
    system.remove_tree(tmp)
    rootfs, debs, wheels = tmp / "rootfs", tmp / "debs", tmp / "wheels"
    main, security = mirrors()
    echo(f"lab: building the bare Debian 12 image {dest.name} and its package caches (once; ~4 min)")
    system.run(
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        "bookworm",
        rootfs,
        main,
        timeout=1200,
    )
    (rootfs / "etc/apt/sources.list").write_text(_sources(main, security))
    _in_image(rootfs, "apt-get", "update", "-q", timeout=600)
    _in_image(rootfs, "apt-get", "dist-upgrade", "-y", "-q")
    _wheels(wheels, echo)
    # The minion, installed the way docs/install.md tells an operator to.
    _in_image(
        rootfs,
        "sh",
        "/run/hvlab-minion/install-salt-minion.sh",
        "--no-start",
        binds=[(REPO / "minion", "/run/hvlab-minion", True), (wheels, WHEELS_IN_HOST, True)],
        env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELS_IN_HOST},
    )
    _debs(rootfs, debs)
    _in_image(rootfs, "apt-get", "clean")
    # From here on the host's only package sources are the lab's caches.
    (rootfs / "etc/apt/sources.list").write_text(APT_SOURCE)
    shutil.rmtree(rootfs / "var/lib/apt/lists")
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
    (rootfs / "etc/pip.conf").write_text(PIP_CONF)
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "etc/resolv.conf").write_text("")
    (tmp / ".hvlab-complete").write_text(key + "\n")
    tmp.rename(dest)
    for old in [*IMAGES.glob("bookworm-*"), *IMAGES.glob(".building-*")]:
        if old != dest:
            system.remove_tree(old)
    return dest
