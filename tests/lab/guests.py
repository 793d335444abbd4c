"""A throw-away test guest (128 MiB, the lab's busybox kernel) with a raw disk
on the shared vmstore volume, defined on both hosts."""

import contextlib
import uuid

GUEST_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>/opt/hvlab-guest/vmlinuz</kernel>
    <initrd>/opt/hvlab-guest/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
{serial}  </devices>
</domain>
"""
SERIAL_PTY = "    <serial type='pty'/>\n    <console type='pty'/>\n"
SERIAL_FILE = "    <serial type='file'><source path='{path}'/></serial>\n"  # its console kept in a file


@contextlib.contextmanager
def throwaway_guest(lab, name, hosts=("hyp1", "hyp2")):
    """Define guest ``name`` on ``hosts``; destroy and undefine it afterwards."""
    disk = f"/var/lib/libvirt/images/customer1/{name}.img"
    lab.sh(hosts[0], f"truncate -s 16M {disk}")
    # The same definition (same UUID) on every host, as a cluster keeps it.
    xml = GUEST_XML.format(
        name=name, uuid=uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.hvlab"), disk=disk, serial=SERIAL_PTY
    )
    try:
        for host in hosts:
            _remove(lab, host, name)  # a leftover of an interrupted run
            lab.write(host, f"/tmp/{name}.xml", xml)
            lab.sh(host, f"virsh -q define /tmp/{name}.xml")
        yield name
    finally:
        for host in hosts:
            _remove(lab, host, name)
        lab.sh(hosts[0], f"rm -f {disk} /var/lib/libvirt/qemu/save/{name}.save", check=False)


def _remove(lab, host, name):
    lab.sh(
        host,
        f"virsh -q destroy {name} >/dev/null 2>&1; virsh -q undefine {name} >/dev/null 2>&1",
        check=False,
    )


def state(lab, host, name):
    return lab.sh(host, f"virsh domstate {name}", check=False).strip()
