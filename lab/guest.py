"""A tiny Linux guest for tests: Debian's cloud kernel and a busybox initramfs.

It boots under qemu TCG in a few seconds, prints ``hvlab-guest: up`` on its
console and then idles forever. Built once into ``STATE / "guest"`` and cached;
the cache key is a hash of this recipe's version and of the /init script.
"""

import gzip
import hashlib
import os
import re
import tempfile
from pathlib import Path

from . import system
from .topology import CACHE

RECIPE_VERSION = 1
GUEST = CACHE / "guest"
INIT = """#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo "hvlab-guest: up"
while true; do /bin/busybox sleep 3600; done
"""


def cache_key():
    blob = f"{RECIPE_VERSION}\n{INIT}".encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def kernel_package():
    """The concrete package that ``linux-image-cloud-amd64`` depends on."""
    for attempt in range(2):
        out = system.run("apt-cache", "depends", "linux-image-cloud-amd64", check=False, capture=True)
        names = re.findall(r"linux-image-6\.1\.0-\S+-cloud-amd64", out)
        if names:
            return names[0]
        if attempt == 0:
            system.run("apt-get", "update", "-qq", timeout=600)
    raise RuntimeError("no concrete package found for linux-image-cloud-amd64")


def extract(package, tmp):
    """Download ``package`` into ``tmp`` and unpack it; return the unpacked root."""
    system.run("env", "-C", tmp, "apt-get", "download", "-q", package, timeout=600)
    root = tmp / package
    system.run("dpkg-deb", "-x", next(tmp.glob(f"{package}_*.deb")), root)
    return root


def cpio_newc(entries):
    """A newc cpio archive of ``(name, mode, data)`` entries, with its trailer."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        nlink = 2 if mode & 0o040000 else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
        out += b"070701" + "".join(f"{f:08x}" for f in fields).encode() + name.encode() + b"\0"
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def initramfs(busybox):
    """The gzip-compressed initramfs: static busybox at /bin/busybox and /init."""
    entries = [(d, 0o040755, b"") for d in ("bin", "proc", "sys", "dev")]
    entries += [("bin/busybox", 0o100755, busybox), ("init", 0o100755, INIT.encode())]
    return gzip.compress(cpio_newc(entries), mtime=0)


def install(path, data):
    """Write ``data`` to ``path`` (mode 0644) through a temporary file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def build(echo=print):
    """Return the guest directory (``vmlinuz``, ``initrd.img``), building it if not cached."""
    key = cache_key()
    marker = GUEST / ".complete"
    if marker.exists() and marker.read_text().strip() == key:
        return GUEST
    echo("lab: building the test guest (kernel + busybox initramfs)")
    GUEST.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="hvlab-guest-") as tmp:
        tmp = Path(tmp)
        kernel_root = extract(kernel_package(), tmp)
        install(GUEST / "vmlinuz", next(kernel_root.glob("boot/vmlinuz-*")).read_bytes())
        busybox = (extract("busybox-static", tmp) / "bin/busybox").read_bytes()
        install(GUEST / "initrd.img", initramfs(busybox))
    marker.write_text(key + "\n")
    return GUEST
