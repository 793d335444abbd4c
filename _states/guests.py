"""
The cluster's guests as the pillar describes them (F26): each guest's disk
file and its libvirt definition, on every host that carries guests.

.. code-block:: yaml

    guests-vm1-disk-present:
      guests.disk_present:
        - name: vm1

    guests-vm1-defined:
      guests.defined:
        - name: vm1

Settings come from ``hypervisor_pillar.settings`` (``guests:<name>``). A disk
is created once, sparse, and never resized or touched again. A definition is
compared by the fingerprint it carries (``_utils/guest_xml.py``) and defined
again when the pillar changed it; a guest is never undefined nor
autostarted here.

``guests.running`` starts a guest of ``running: true`` on its home host only,
unless that host is drained, a person stopped the guest (``guests.stop``: its
stop mark) or the guest runs on another host already (where an evacuation or
a drain put it; sanlock refuses a second start anyway). Between two runs, the
keeper (``_modules/keeper.py``) keeps it running.

.. code-block:: yaml

    guests-vm1-running:
      guests.running:
        - name: vm1
"""

import errno
import os
import re

try:
    import libvirt

    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

__virtualname__ = "guests"
URI = "qemu:///system"  # the tests point it at libvirt's test driver
NAMESPACE = "urn:hv-cluster:guest"  # guest_xml.NAMESPACE
FINGERPRINT = re.compile(r"""fingerprint=["']([0-9a-f]{64})["']""")
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def __virtual__():
    if not HAS_LIBVIRT:
        return (False, "libvirt-python is not installed")
    return __virtualname__


def _guest(name):
    """The settings view of guest ``name``, None when the pillar has no such guest."""
    return __salt__["hypervisor_pillar.settings"]()["guests"].get(name)


def _bytes(size):
    """``16M`` and the like, in bytes."""
    return int(size[:-1]) * UNITS[size[-1]]


def disk_present(name):
    """Ensure guest ``name``'s disk file exists: created sparse (0600) of the pillar's size
    when absent; an existing file is left as it is, whatever its size."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    guest = _guest(name)
    if guest is None:
        ret.update(result=False, comment=f"no guest {name} in pillar hypervisor:guests")
        return ret
    path, size = guest["disk_path"], guest["disk"]["size"]
    if os.path.exists(path):
        ret["comment"] = f"disk {path} is present (never resized)"
        return ret
    if __opts__["test"]:
        ret.update(result=None, changes={"created": path}, comment=f"would create disk {path} ({size})")
        return ret
    try:
        # O_EXCL: the file is on shared storage, and the host that loses a race leaves it alone.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            ret["comment"] = f"disk {path} is present (created by another host)"
            return ret
        ret.update(result=False, comment=f"cannot create disk {path}: {exc.strerror}")
        return ret
    try:
        os.ftruncate(fd, _bytes(size))
    except OSError as exc:
        os.unlink(path)  # not left empty: the next run would find it present
        ret.update(result=False, comment=f"cannot size disk {path} to {size}: {exc.strerror}")
        return ret
    finally:
        os.close(fd)
    ret.update(changes={"created": path}, comment=f"disk {path} created ({size}, sparse)")
    return ret


def _lookup(conn, name):
    """The domain ``name``, None when libvirt does not know it."""
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def _fingerprint(dom):
    """The fingerprint in the domain's persistent definition, None when it has none."""
    if not dom.isPersistent():
        return None
    try:
        element = dom.metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        )
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise
    found = FINGERPRINT.search(element)
    return found.group(1) if found else None


def _define(conn, guest, dom):
    """Define the guest from the pillar (test: say so); return (result, changes, comment)."""
    name, wanted = guest["name"], guest["fingerprint"]
    if dom is None:
        changes, done, note = {"defined": name}, "defined", ""
    else:
        changes, done = {"redefined": {"old": _fingerprint(dom), "new": wanted}}, "defined again"
        note = " (it runs: it takes the new definition at its next start)" if dom.isActive() else ""
    if __opts__["test"]:
        return None, changes, f"guest {name} would be {done}{note}"
    got = _fingerprint(conn.defineXML(guest["xml"]))
    if got != wanted:
        return False, changes, f"guest {name} {done}, but libvirt holds fingerprint {got}, not {wanted}"
    return True, changes, f"guest {name} {done}{note}"


def defined(name):
    """Ensure guest ``name`` is defined in libvirt as the pillar says (its fingerprint).

    A domain of that name with another UUID is another machine: reported, left alone.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    guest = _guest(name)
    if guest is None:
        ret.update(result=False, comment=f"no guest {name} in pillar hypervisor:guests")
        return ret
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        ret.update(result=False, comment=f"libvirt: {exc}")
        return ret
    try:
        dom = _lookup(conn, name)
        if dom is not None and dom.UUIDString() != guest["uuid"]:
            ret.update(
                result=False,
                comment=f"a domain {name} with UUID {dom.UUIDString()} exists, not the pillar's guest"
                f" ({guest['uuid']}): left as it is",
            )
            return ret
        if dom is not None and _fingerprint(dom) == guest["fingerprint"]:
            ret["comment"] = f"guest {name} is defined as the pillar says"
            return ret
        ret["result"], ret["changes"], ret["comment"] = _define(conn, guest, dom)
    except libvirt.libvirtError as exc:
        ret.update(result=False, comment=f"libvirt: {exc}")
    finally:
        conn.close()
    return ret


def running(name):
    """Ensure guest ``name`` runs where the cluster decides: started here when this host is
    its ``home``, it is ``running: true``, this host is not drained and no other host runs it."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    guest = _guest(name)
    me = __grains__["id"]
    if guest is None:
        ret.update(result=False, comment=f"no guest {name} in pillar hypervisor:guests")
        return ret
    if not guest["running"] or guest["home"] != me:
        why = "running: false" if not guest["running"] else f"its home is {guest['home']}"
        ret["comment"] = f"{name} is not started here ({why})"
        return ret
    if __salt__["guests.drained"]()["drained"]:
        ret["comment"] = f"{me} is drained: {name} is not started here (guests.undrain)"
        return ret
    mark = __salt__["guests.stop_mark"](name)
    if mark:
        ret["comment"] = (
            f"{name} was stopped by a person (guests.{mark.get('verb')} at {mark.get('at')}):"
            " kept down until guests.start"
        )
        return ret
    states = __salt__["guests.where"](name)
    if states.get(me) == "running":
        ret["comment"] = f"{name} runs here"
        return ret
    elsewhere = sorted(h for h, state in states.items() if h != me and state == "running")
    if elsewhere:
        ret["comment"] = f"{name} runs on {', '.join(elsewhere)}: left there (guests.undrain brings it home)"
        return ret
    if __opts__["test"]:
        ret.update(result=None, comment=f"{name} would be started here", changes={"started": name})
        return ret
    started = __salt__["guests.start"](name)
    if started["outcome"] in ("started", "restored"):
        ret.update(changes={started["outcome"]: name}, comment=f"{name} {started['outcome']} here")
    elif started["outcome"] in ("running", "elsewhere"):
        ret["comment"] = f"{name}: {started.get('why')}"
    else:
        ret.update(result=False, comment=f"{name} could not be started here: {started.get('why')}")
    return ret
