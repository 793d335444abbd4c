"""A tiny Linux guest for tests: Debian's cloud kernel and a busybox initramfs.

It boots under qemu TCG in a few seconds, loads its virtio NIC's modules, puts
the address of its kernel command line on eth0 (``hvlab.ip=A hvlab.gw=G``: A/32,
a route to G, the default route via G), prints ``hvlab-guest: up`` on its
console and then idles forever, answering ping. At each boot, beside its network's
start, it keeps a mark in the first sector of its disk (``hvlab-mark:<word>:<boots>``:
a random word made at its first boot, and how many boots that disk has seen) and
prints it on its console
(``hvlab-guest: disk hvlab-mark:...``): what a backup must keep and a restore give back
(issue 25's tests). With ``hvlab.spoof=S`` it is
hostile instead: every second it claims address S by gratuitous ARP and pings
its gateway from S (B10's tests). Built once into
``STATE / "guest"`` and cached; the cache key is a hash of this recipe's
version and of the /init script.
"""

import fcntl
import gzip
import hashlib
import lzma
import os
import re
import tempfile
from pathlib import Path

from . import system
from .topology import CACHE

RECIPE_VERSION = 3
GUEST = CACHE / "guest"
# The NIC's and the disk's bus and drivers: modules in Debian's cloud kernel, loaded
# with their dependencies (listed in /lib/modules/order, each after those it needs).
DEVICE_MODULES = ("virtio_pci", "virtio_net", "virtio_blk")
INIT = """#!/bin/busybox sh
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in $($bb cat /lib/modules/order); do $bb insmod /lib/modules/$m.ko; done
ip=""; gw=""; spoof=""
for arg in $($bb cat /proc/cmdline); do
  case "$arg" in
    hvlab.ip=*) ip="${arg#hvlab.ip=}" ;;
    hvlab.gw=*) gw="${arg#hvlab.gw=}" ;;
    hvlab.spoof=*) spoof="${arg#hvlab.spoof=}" ;;
  esac
done
# The disk's mark, beside the network's start (a guest answers ping no later for it).
(
for i in 1 2 3 4 5; do [ -b /dev/vda ] && break; $bb sleep 1; done
if [ -b /dev/vda ]; then
  line=$($bb dd if=/dev/vda bs=512 count=1 2>/dev/null | $bb head -n 1 | $bb tr -cd 'a-z0-9:-')
  case "$line" in
    hvlab-mark:*:*) word=${line#hvlab-mark:}; boots=${word#*:}; word=${word%%:*} ;;
    *) word=$($bb hexdump -n 8 -e '8/1 "%02x"' /dev/urandom); boots=0 ;;
  esac
  case "$boots" in ''|*[!0-9]*) boots=0 ;; esac
  mark="hvlab-mark:$word:$((boots + 1))"
  echo "$mark" | $bb dd of=/dev/vda conv=notrunc,fsync 2>/dev/null
  echo "hvlab-guest: disk $mark"
fi
) &
$bb ip link set lo up
if [ -n "$ip" ]; then
  for i in 1 2 3 4 5; do [ -e /sys/class/net/eth0 ] && break; $bb sleep 1; done
  $bb ip link set eth0 up
  $bb ip addr add "$ip/32" dev eth0
  if [ -n "$gw" ]; then
    $bb ip route add "$gw" dev eth0
    $bb ip route add default via "$gw" dev eth0 onlink
  fi
  echo "hvlab-guest: ip $ip gw $gw"
fi
echo "hvlab-guest: up"
if [ -n "$spoof" ] && [ -n "$gw" ]; then
  # A hostile guest (tests of B10): it claims another's address by ARP and
  # sends with it as its source, every second.
  $bb ip addr add "$spoof/32" dev eth0
  echo "hvlab-guest: claiming $spoof"
  while true; do
    $bb arping -U -c 1 -I eth0 -s "$spoof" "$spoof" >/dev/null 2>&1
    $bb ping -c 1 -W 1 -I "$spoof" "$gw" >/dev/null 2>&1
    $bb sleep 1
  done
fi
while true; do $bb sleep 3600; done
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


def module_depends(ko):
    """The modules a kernel module (the bytes of its .ko) depends on, from its .modinfo."""
    found = re.search(rb"(?:^|\0)depends=([^\0]*)", ko)
    return [name for name in found.group(1).decode().split(",") if name] if found else []


def device_modules(kernel_root):
    """``[(name, .ko bytes)]``: DEVICE_MODULES and their dependencies, each after those it
    needs, decompressed (busybox insmod may not read .ko.xz)."""
    files = {p.name.split(".ko")[0]: p for p in kernel_root.glob("lib/modules/*/kernel/**/*.ko*")}
    ordered = {}

    def visit(name):
        if name in ordered:
            return
        data = files[name].read_bytes()
        if files[name].name.endswith(".xz"):
            data = lzma.decompress(data)
        for dep in module_depends(data):
            visit(dep)
        ordered[name] = data

    for name in DEVICE_MODULES:
        visit(name)
    return list(ordered.items())


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


def initramfs(busybox, modules=()):
    """The gzip-compressed initramfs: static busybox at /bin/busybox, /init, and
    ``modules`` (``(name, .ko bytes)``) in /lib/modules with their load order."""
    entries = [(d, 0o040755, b"") for d in ("bin", "proc", "sys", "dev", "lib", "lib/modules")]
    entries += [("bin/busybox", 0o100755, busybox), ("init", 0o100755, INIT.encode())]
    entries += [(f"lib/modules/{name}.ko", 0o100644, data) for name, data in modules]
    order = "".join(f"{name}\n" for name, _data in modules)
    entries.append(("lib/modules/order", 0o100644, order.encode()))
    return gzip.compress(cpio_newc(entries), mtime=0)


def install(path, data):
    """Write ``data`` to ``path`` (mode 0644) through a temporary file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def build(echo=print):
    """Return the guest directory (``vmlinuz``, ``initrd.img``), building it if not cached.
    One build at a time (two labs booting together): a second caller waits for the first's."""
    GUEST.mkdir(parents=True, exist_ok=True)
    with open(GUEST.parent / ".lock-guest", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(echo)


def _build(echo):
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
        install(GUEST / "initrd.img", initramfs(busybox, device_modules(kernel_root)))
    marker.write_text(key + "\n")
    return GUEST
