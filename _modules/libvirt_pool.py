"""
libvirt storage pools of type ``dir`` through libvirt-python (F16).

Three calls were all the cluster needs (define, start, autostart), so this is
a small module over ``libvirt`` rather than the saltext-virt extension (first
release, one fresh connection per call, and it does not declare libvirt-python).
"""

import logging
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

try:
    import libvirt

    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "libvirt_pool"
URI = "qemu:///system"

POOL_XML = """<pool type='dir'>
  <name>{name}</name>
  <target>
    <path>{path}</path>
    <permissions><mode>0755</mode><owner>0</owner><group>0</group></permissions>
  </target>
</pool>
"""


def __virtual__():
    if not HAS_LIBVIRT:
        return (False, "libvirt-python is not installed")
    return __virtualname__


def pool_xml(name, path):
    """The XML of a ``dir`` pool named ``name`` at ``path``."""
    return POOL_XML.format(name=escape(name), path=escape(path))


def _connect():
    try:
        return libvirt.open(URI)
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"libvirt: {exc}") from None


def _pool_info(pool):
    root = ET.fromstring(pool.XMLDesc(0))
    return {
        "name": pool.name(),
        "type": root.get("type"),
        "path": root.findtext("target/path"),
        "active": bool(pool.isActive()),
        "autostart": bool(pool.autostart()),
    }


def info(name):
    """
    Pool ``name``: type, target path, active, autostart; None when not defined.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' libvirt_pool.info iso
    """
    conn = _connect()
    try:
        return _pool_info(conn.storagePoolLookupByName(name))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
            return None
        raise CommandExecutionError(f"libvirt: {exc}") from None
    finally:
        conn.close()


def list_():
    """
    Every pool libvirt knows, with its info.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' libvirt_pool.list
    """
    conn = _connect()
    try:
        return {p.name(): _pool_info(p) for p in conn.listAllStoragePools(0)}
    finally:
        conn.close()


__func_alias__ = {"list_": "list"}


def ensure_running(name, path):
    """
    Define pool ``name`` at ``path`` if needed, start it and mark it autostart.

    Returns what it did (a list of "defined", "started", "autostart").

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' libvirt_pool.ensure_running iso /var/lib/libvirt/images/iso
    """
    done = []
    conn = _connect()
    try:
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise
            pool = conn.storagePoolDefineXML(pool_xml(name, path), 0)
            done.append("defined")
        if not pool.isActive():
            pool.create(0)
            done.append("started")
        if not pool.autostart():
            pool.setAutostart(1)
            done.append("autostart")
    except libvirt.libvirtError as exc:
        raise CommandExecutionError(f"libvirt: {exc}") from None
    finally:
        conn.close()
    return done
