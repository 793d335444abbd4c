"""The test guest's initramfs carries its NIC's modules, each after those it
needs, and an /init that puts the kernel command line's address on eth0."""

import gzip
import lzma

from lab import guest


def ko(depends):
    """A stand-in .ko: what matters here is its .modinfo strings."""
    return b"\x7fELF...\0license=GPL\0depends=" + depends.encode() + b"\0vermagic=6.1.0\0"


def kernel_tree(tmp_path):
    mods = tmp_path / "lib/modules/6.1.0-1-cloud-amd64/kernel"
    files = {
        "drivers/virtio/virtio_ring.ko": ko(""),
        "drivers/virtio/virtio.ko": ko("virtio_ring"),
        "drivers/virtio/virtio_pci_modern_dev.ko": ko(""),
        "drivers/virtio/virtio_pci.ko": ko("virtio_ring,virtio_pci_modern_dev,virtio"),
        "net/core/failover.ko": ko(""),
        "drivers/net/virtio_net.ko": ko("virtio_ring,virtio,net_failover"),
        "drivers/block/virtio_blk.ko": ko("virtio_ring,virtio"),
        "drivers/misc/unrelated.ko": ko(""),
    }
    for name, data in files.items():
        (mods / name).parent.mkdir(parents=True, exist_ok=True)
        (mods / name).write_bytes(data)
    (mods / "drivers/net/net_failover.ko.xz").write_bytes(lzma.compress(ko("failover")))
    return tmp_path


def test_module_depends_reads_modinfo():
    assert guest.module_depends(ko("virtio_ring,virtio,net_failover")) == [
        "virtio_ring",
        "virtio",
        "net_failover",
    ]
    assert guest.module_depends(ko("")) == []


def test_device_modules_come_after_their_dependencies_decompressed(tmp_path):
    modules = guest.device_modules(kernel_tree(tmp_path))
    names = [name for name, _data in modules]
    assert names == [
        "virtio_ring",
        "virtio_pci_modern_dev",
        "virtio",
        "virtio_pci",
        "failover",
        "net_failover",
        "virtio_net",
        "virtio_blk",
    ]
    assert dict(modules)["net_failover"] == ko("failover")


def test_initramfs_lists_the_modules_in_load_order(tmp_path):
    modules = guest.device_modules(kernel_tree(tmp_path))
    archive = gzip.decompress(guest.initramfs(b"busybox", modules))
    for name, _data in modules:
        assert f"lib/modules/{name}.ko\0".encode() in archive
    order = "".join(f"{name}\n" for name, _data in modules).encode()
    assert b"lib/modules/order\0" in archive and order in archive
