"""
guest_xml: a guest's libvirt domain XML, from its settings view (F26).

Plain importable Python, no Salt, no libvirt. ``hypervisor_pillar`` puts each
guest's XML and fingerprint into the settings (``guests:<name>``); the guests
state defines it. The XML carries its fingerprint in ``<metadata>``: the
sha256 of the XML without that element, so libvirt's copy (which libvirt
reformats) still tells whether it is the definition the pillar gives now.

Disks are raw files with ``cache='none'`` (live migration on shared storage).
Each NIC carries the libvirt traffic filter its view names (B10), and its MTU where the
view gives one (tunnels:guest_mtu). No autostart:
the cluster starts its guests.
"""

import hashlib
import re
from xml.sax.saxutils import escape

NAMESPACE = "urn:hv-cluster:guest"
METADATA = "  <metadata><hv:guest xmlns:hv='{ns}' fingerprint='{sha}'/></metadata>\n"
METADATA_LINE = re.compile(r"^  <metadata>.*</metadata>\n", re.M)

DOMAIN = """<domain type={virt_type}>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>{vcpus}</vcpu>
{metadata}  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
{boot}  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file={disk_path}/>
      <target dev='vda' bus='virtio'/>
    </disk>
{nics}    <serial type='pty'/>
    <console type='pty'/>
  </devices>
</domain>
"""
NIC = """    <interface type='bridge'>
      <mac address={mac}/>
      <source bridge={bridge}/>
      <model type='virtio'/>
{mtu}{filterref}    </interface>
"""
# The NIC's MTU, told to the guest (virtio's host_mtu) and set on its tap: only where the
# view gives one (tunnels:guest_mtu other than 1500).
MTU = "      <mtu size={size}/>\n"
FILTERREF = "      <filterref filter={name}>\n{parameters}      </filterref>\n"
FILTER_IP = "        <parameter name='IP' value={ip}/>\n"


def _text(value):
    return escape(str(value))


def _attr(value):
    """``value`` as a quoted attribute value."""
    return "'" + escape(str(value), {"'": "&apos;", '"': "&quot;"}) + "'"


def _boot(boot):
    """Direct kernel boot when ``boot`` gives a kernel, else from the disk."""
    if not boot:
        return "    <boot dev='hd'/>\n"
    lines = [f"    <kernel>{_text(boot['kernel'])}</kernel>\n"]
    if boot.get("initrd"):
        lines.append(f"    <initrd>{_text(boot['initrd'])}</initrd>\n")
    if boot.get("cmdline"):
        lines.append(f"    <cmdline>{_text(boot['cmdline'])}</cmdline>\n")
    return "".join(lines)


def _filterref(nic):
    """The NIC's libvirt traffic filter (B10), with the IPs it may use; none when the view
    names none."""
    if not nic.get("filter"):
        return ""
    parameters = "".join(FILTER_IP.format(ip=_attr(ip)) for ip in nic.get("ips", []))
    if not parameters:
        return f"      <filterref filter={_attr(nic['filter'])}/>\n"
    return FILTERREF.format(name=_attr(nic["filter"]), parameters=parameters)


def _body(guest, metadata):
    return DOMAIN.format(
        virt_type=_attr(guest["virt_type"]),
        name=_text(guest["name"]),
        uuid=_text(guest["uuid"]),
        memory=int(guest["memory"]),
        vcpus=int(guest["vcpus"]),
        metadata=metadata,
        boot=_boot(guest.get("boot")),
        disk_path=_attr(guest["disk_path"]),
        nics="".join(
            NIC.format(
                mac=_attr(n["mac"]),
                bridge=_attr(n["bridge"]),
                mtu=MTU.format(size=_attr(int(n["mtu"]))) if n.get("mtu") else "",
                filterref=_filterref(n),
            )
            for n in guest["nics"]
        ),
    )


def fingerprint(xml):
    """The sha256 (hex) of ``xml`` without its metadata element: what :func:`render` embeds."""
    return hashlib.sha256(METADATA_LINE.sub("", xml, count=1).encode()).hexdigest()


def render(guest):
    """The domain XML of ``guest`` (a ``guests:<name>`` view: name, uuid, memory,
    vcpus, virt_type, boot, disk_path, nics), its fingerprint in ``<metadata>``."""
    sha = fingerprint(_body(guest, ""))
    return _body(guest, METADATA.format(ns=NAMESPACE, sha=sha))
