"""The lab's bare Debian image (13 by default, 12 with LAB_RELEASE=bookworm), and
the package caches its hosts install from.

A lab host starts as a provider's Debian install plus a salt-minion, and
nothing of the product: the first ``state.apply`` installs libvirt, qemu,
gluster, sanlock … and the modules' Python libraries, as on a real server.
The hosts have no route out of the lab, so the packages the states may ask
for are fetched once, here, into two caches bound read-only into every host:

- ``debs/``: a flat apt repository (every package of the Debian parameters,
  with the dependencies the bare image lacks), the hosts' only apt source;
- ``wheels/``: the sources of the Python libraries the states install (pip
  builds them on the host, as it would from PyPI), the hosts' only pip index.

The minion is installed in the image by ``minion/install-salt-minion.sh``, the
script docs/install.md gives for real servers, from the package index of this
machine's own pip configuration, with the image's own Python. Everything is built
once per release and cached under a key of the recipe, the package lists and the pins.
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

from . import system
from .topology import CACHE, RELEASE, RELEASES, REPO

RECIPE_VERSION = 3
IMAGES = CACHE / "images"
# What a provider's Debian install holds (plus python3-venv for the minion).
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
# The Python each release's minion runs on (its python3).
PYTHONS = {"trixie": (3, 13), "bookworm": (3, 11)}
# Packages of later features, offered by the lab's apt source already.
EXTRA_DEBS = []
# Where the hosts see the caches.
DEBS_IN_HOST = "/var/cache/hvlab/debs"
WHEELS_IN_HOST = "/var/cache/hvlab/wheels"
LAB_ONLY = "# lab only (lab/image.py): the lab's package cache\n"
APT_SOURCE = f"{LAB_ONLY}deb [trusted=yes] file:{DEBS_IN_HOST} ./\n"
PIP_CONF = f"{LAB_ONLY}[global]\nno-index = true\nfind-links = {WHEELS_IN_HOST}\n"


def parameters(release=RELEASE):
    """The schema's defaults for the lab's hosts: Debian, of ``release`` (a codename)."""
    return _schema().defaults("Debian", RELEASES[release])


def product_packages_of(part, release=RELEASE):
    """The Debian packages of the states' part ``part`` (``pkgs:<part>``) on ``release``."""
    return list(parameters(release)["pkgs"][part])


def product_packages(release=RELEASE):
    """Every Debian package the states may install (lists under ``pkgs`` and ``python``)."""
    params = parameters(release)
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


def image_key(release=RELEASE):
    blob = json.dumps(
        {
            "v": RECIPE_VERSION,
            "release": release,
            "base": BASE_PACKAGES,
            "debs": product_packages(release),
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


def image_dir(release=RELEASE):
    """Where the image of ``release`` is (or will be) cached."""
    return IMAGES / f"{release}-{image_key(release)}"


def _sources(main, security, release):
    lines = [f"deb {main} {release} main", f"deb {main} {release}-updates main"]
    if security:
        lines.append(f"deb {security} {release}-security main")
    return "\n".join(lines) + "\n"


PIP_CERT_IN_IMAGE = "/run/hvlab-pip-cert.pem"


def pip_index():
    """``(PIP_* variables, binds)`` for a pip run inside the image from this machine's own
    pip configuration: its http(s) index URLs, trusted hosts and proxy (a ``file:`` index
    here is not in the image; none named: pip's own default, as here), its CA bundle
    (bound read-only) and the proxy variables of this environment."""
    out = system.run(sys.executable, "-m", "pip", "config", "list", capture=True, check=False)
    return pip_index_of(out, os.environ)


def pip_index_of(listing, environ):
    """``pip_index`` from the text of ``pip config list`` and the environment ``environ``."""
    env, binds = {}, []
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        name, value = key.rsplit(".", 1)[-1], value.strip().strip("'\"")
        if name in ("index-url", "extra-index-url", "trusted-host", "proxy"):
            kept = [v for v in value.split() if name == "trusted-host" or v.startswith("http")]
            if kept:
                env["PIP_" + name.upper().replace("-", "_")] = " ".join(kept)
        elif name == "cert" and Path(value).is_file() and not binds:
            env["PIP_CERT"] = PIP_CERT_IN_IMAGE
            binds.append((Path(value).resolve(), PIP_CERT_IN_IMAGE, True))
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if environ.get(name):
            env[name] = environ[name]
    return env, binds


def _in_image(rootfs, *cmd, binds=(), env=None, timeout=1800):
    """Run ``cmd`` inside the image under systemd-nspawn (own /proc, /sys, /dev;
    the machine's network, to reach its package mirrors)."""
    args = ["systemd-nspawn", "-q", "-D", rootfs, "--register=no", "--keep-unit", "--console=pipe"]
    args += [f"--bind{'-ro' if ro else ''}={src}:{dst}" for src, dst, ro in binds]
    args += [f"--setenv={k}={v}" for k, v in {"DEBIAN_FRONTEND": "noninteractive", **(env or {})}.items()]
    return system.run(*args, *cmd, timeout=timeout)


def _wheels(dest, echo):
    """The sdists of the libraries the states install, with what building them needs
    (any Python: the hosts build them)."""
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    wanted = pins()
    echo(f"lab: collecting {', '.join(wanted['pip'])} for the hosts' pip cache")
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
    """Return the image directory (``rootfs``, ``debs``, ``wheels``), building it if not
    cached. One build of a release at a time: a second caller waits for the first's."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    with open(IMAGES / f".lock-{RELEASE}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(echo)


def _build(echo):
    key = image_key()
    dest = image_dir()
    if (dest / ".hvlab-complete").exists():
        return dest
    tmp = IMAGES / f".building-{RELEASE}-{key}"
    system.remove_tree(tmp)
    rootfs, debs, wheels = tmp / "rootfs", tmp / "debs", tmp / "wheels"
    main, security = mirrors()
    echo(f"lab: building the bare Debian {RELEASES[RELEASE]} image {dest.name} and its caches (once; ~6 min)")
    system.run(
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        RELEASE,
        rootfs,
        main,
        timeout=1200,
    )
    (rootfs / "etc/apt/sources.list").write_text(_sources(main, security, RELEASE))
    _in_image(rootfs, "apt-get", "update", "-q", timeout=600)
    _in_image(rootfs, "apt-get", "dist-upgrade", "-y", "-q")
    _wheels(wheels, echo)
    # The minion, installed the way docs/install.md tells an operator to.
    pip_env, pip_binds = pip_index()
    _in_image(
        rootfs,
        "sh",
        "/run/hvlab-minion/install-salt-minion.sh",
        "--no-start",
        binds=[(REPO / "minion", "/run/hvlab-minion", True), *pip_binds],
        env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", **pip_env},
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
    for old in [*IMAGES.glob(f"{RELEASE}-*"), *IMAGES.glob(f".building-{RELEASE}-*")]:
        if old != dest:
            system.remove_tree(old)
    return dest
