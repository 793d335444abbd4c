"""
Apply kernel settings to the running kernel, telling the truth where it refuses.

Salt's ``sysctl.present`` fails outright when a value cannot be written. On a
host whose ``/proc/sys/vm`` belongs to someone else (a container shares its
host machine's kernel) that is not an error of the configuration: the value is
persisted by ``sysctl.config`` and applies wherever the kernel is the host's
own. This state writes what it can, and names what it could not in its
comment and in ``warnings``, so that nothing is silently skipped or faked.

.. code-block:: yaml

    sysctl-live-values-applied:
      sysctl_live.applied:
        - settings:
            vm.swappiness: 0
            net.ipv6.conf.all.disable_ipv6: 1
"""

import errno
import logging
import os

log = logging.getLogger(__name__)

PROC_SYS = "/proc/sys"


def _path(key, root):
    return os.path.join(root, *key.split("."))


def _normalize(value):
    return " ".join(str(value).split())


def _read(path):
    with open(path, encoding="ascii") as handle:
        return _normalize(handle.read())


def _classify(settings, root):
    """Split the settings into (to_write, read_only, missing) by their live state."""
    to_write, read_only, missing = {}, {}, []
    for key, wanted in sorted(settings.items()):
        path = _path(key, root)
        try:
            current = _read(path)
        except FileNotFoundError:
            missing.append(key)
            continue
        if current == _normalize(wanted):
            continue
        if os.access(path, os.W_OK):
            to_write[key] = (current, _normalize(wanted))
        else:
            read_only[key] = (current, _normalize(wanted))
    return to_write, read_only, missing


def applied(name, settings, root=PROC_SYS):
    """
    Ensure that the running kernel has each of ``settings`` (``{key: value}``).

    Keys the kernel does not have, or will not let this host write, are
    reported in the comment and warnings; the state fails only when a write
    that should have worked fails.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": "", "warnings": []}
    to_write, read_only, missing = _classify(settings, root)
    notes = []
    for key, (current, wanted) in read_only.items():
        ret["warnings"].append(
            f"{key}: the running kernel keeps {current} (not writable from this host, "
            f"e.g. a container); {wanted} is persisted for its next boot"
        )
    if missing:
        ret["warnings"].append(f"not in this kernel, skipped: {', '.join(missing)}")

    if not to_write:
        notes.append("live kernel settings already correct")
    elif __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {k: {"old": old, "new": new} for k, (old, new) in to_write.items()}
        notes.append(f"would set {', '.join(to_write)}")
    else:
        failed = []
        for key, (old, new) in to_write.items():
            try:
                with open(_path(key, root), "w", encoding="ascii") as handle:
                    handle.write(new)
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    ret["warnings"].append(f"{key}: the kernel refused the write ({exc.strerror})")
                else:
                    failed.append(f"{key}: {exc.strerror}")
                continue
            ret["changes"][key] = {"old": old, "new": _read(_path(key, root))}
        if failed:
            ret["result"] = False
            notes.append("failed to set " + "; ".join(failed))
        if ret["changes"]:
            notes.append(f"set {', '.join(ret['changes'])}")
    if read_only:
        notes.append(f"not writable here: {', '.join(read_only)} (persisted only)")
    ret["comment"] = "; ".join(notes)
    if not ret["warnings"]:
        del ret["warnings"]
    return ret
