"""The lab's Debian 12 root file system, built once with debootstrap and cached.

The image holds every package the states install on Debian (read from
``salt/parameters/os_family/Debian.yaml``) plus what the lab itself needs, so
that the hosts never have to reach a package mirror: their network is the lab's.
The cache key is a hash of the package list and of this recipe's version.
"""

import hashlib
import json
import re
import shutil
from pathlib import Path

import yaml

from . import system
from .topology import REPO, STATE

RECIPE_VERSION = 1
IMAGES = STATE / "images"
BASE_INCLUDE = "systemd,systemd-sysv,dbus,iproute2"
# What the lab needs beyond the product states: Python for the bind-mounted Salt
# venv, libvirt's client library for libvirt-python, and the daemons the later
# storage/network features run (kept here so that the image is built once).
LAB_PACKAGES = [
    "python3",
    "libvirt0",
    "procps",
    "glusterfs-server",
    "glusterfs-client",
    "libvirt-daemon-driver-qemu",
    "libvirt-sanlock",
    "sanlock",
    "python3-sanlock",
    "openvpn",
    "shorewall",
    "xfsprogs",
    "iptables",
    "openssh-server",
    "busybox-static",
    # A competing firewall, enabled in the hosts as a provider's install may
    # leave it, so that F2 has something real to turn off.
    "nftables",
]


def product_packages():
    """Every package named in the Debian parameters (lists under ``pkgs``)."""
    params = yaml.safe_load((REPO / "salt" / "parameters" / "os_family" / "Debian.yaml").read_text())
    names = set()
    for group in params["hypervisor"]["pkgs"].values():
        names.update(group)
    return sorted(names)


def packages():
    return sorted(set(product_packages()) | set(LAB_PACKAGES))


def image_key():
    blob = json.dumps({"v": RECIPE_VERSION, "pkgs": packages()}).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def mirrors():
    """The Debian and security mirrors this machine's own apt sources use."""
    main, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    texts = [p.read_text() for p in Path("/etc/apt").glob("sources.list*") if p.is_file()]
    texts += [p.read_text() for p in Path("/etc/apt/sources.list.d").glob("*") if p.is_file()]
    for url in re.findall(r"(?:URIs:|deb)\s+(https?://\S+)", "\n".join(texts)):
        url = url.rstrip("/")
        if url.endswith("/debian-security"):
            security = url
        elif url.endswith("/debian"):
            main = url
    return main, security


def build(echo=print):
    """Return the path of a complete image, building it if it is not cached."""
    key = image_key()
    dest = IMAGES / f"bookworm-{key}"
    if (dest / ".hvlab-complete").exists():
        return dest
    IMAGES.mkdir(parents=True, exist_ok=True)
    tmp = IMAGES / f".building-{key}"
    system.unmount_all(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    main, security = mirrors()
    echo(f"lab: building the Debian 12 image {dest.name} (once; ~2 min)")
    system.run(
        "debootstrap",
        "--variant=minbase",
        f"--include={BASE_INCLUDE}",
        "bookworm",
        tmp,
        main,
        timeout=1200,
    )
    (tmp / "etc/apt/sources.list").write_text(
        f"deb {main} bookworm main\ndeb {main} bookworm-updates main\ndeb {security} bookworm-security main\n"
    )
    shutil.copy("/etc/resolv.conf", tmp / "etc/resolv.conf")
    policy = tmp / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        for src, sub in (("/proc", "proc"), ("/sys", "sys"), ("/dev", "dev"), ("/dev/pts", "dev/pts")):
            system.run("mount", "--bind", src, tmp / sub)
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        system.run("chroot", tmp, "apt-get", "update", "-q", env=env, timeout=600)
        system.run(
            "chroot",
            tmp,
            "apt-get",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            *packages(),
            env=env,
            timeout=1800,
        )
        system.run("chroot", tmp, "apt-get", "clean", env=env)
    finally:
        system.unmount_all(tmp)
    policy.unlink()
    # The hosts live on the lab network only: no package source to reach, so a
    # package refresh inside them is a quick no-op instead of a network timeout.
    (tmp / "etc/apt/sources.list").write_text("# lab host: no package sources\n")
    shutil.rmtree(tmp / "var/lib/apt/lists", ignore_errors=True)
    (tmp / "var/lib/apt/lists/partial").mkdir(parents=True)
    (tmp / "etc/machine-id").write_text("")
    (tmp / "etc/resolv.conf").write_text("")
    (tmp / ".hvlab-complete").write_text(key + "\n")
    tmp.rename(dest)
    for old in IMAGES.glob("bookworm-*"):
        if old != dest:
            shutil.rmtree(old, ignore_errors=True)
    return dest
