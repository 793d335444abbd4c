"""
Apply kernel settings to the running kernel, telling the truth where it refuses.

Salt's ``sysctl.present`` fails outright when a value cannot be written. On a
host whose ``/proc/sys/vm`` belongs to someone else (a container shares its
host machine's kernel) that is not an error of the configuration: the value is
persisted by ``sysctl.config`` and applies wherever the kernel is the host's
own. This state writes what it can, and names what it could not in its
comment and in ``warnings``, so that nothing is silently skipped or faked.

What it does not forgive, in ``test=True`` as well:

- a key this kernel does not have (no file under ``/proc/sys``), e.g. a typo
  such as ``vm.swapiness``: it fails, naming the key;
- a value the kernel does not keep: every write is read back, and a value that
  reads back otherwise (clamped or ignored) fails, naming the key, the wanted
  and the read-back value.

.. code-block:: yaml

    sysctl-live-values-applied:
      sysctl_live.applied:
        - settings:
            vm.swappiness: 0
            net.ipv6.conf.all.disable_ipv6: 1
"""

import difflib
import errno
import logging
import os

log = logging.getLogger(__name__)

PROC_SYS = "/proc/sys"
# A write the kernel refuses to this host (not to the configuration).
REFUSED = (errno.EROFS, errno.EACCES, errno.EPERM)


def _path(key, root):
    """The file of ``key`` under ``root``, or None when the key cannot name one."""
    parts = str(key).split(".")
    if any(part in ("", ".", "..") or "/" in part for part in parts):
        return None
    return os.path.join(root, *parts)


def _normalize(value):
    return " ".join(str(value).split())


def _read(path):
    with open(path, encoding="ascii") as handle:
        return _normalize(handle.read())


def _write(path, value):
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _unknown(key, root):
    """The failure for a key this kernel does not have, with the closest one it has."""
    hint = ""
    if _path(key, root) is not None:
        *parent, leaf = str(key).split(".")
        try:
            close = difflib.get_close_matches(leaf, os.listdir(os.path.join(root, *parent)), n=1)
        except OSError:
            close = []
        hint = f" (did you mean {'.'.join([*parent, close[0]])}?)" if close else ""
    return f"{key}: no such kernel setting{hint}"


def _persisted_only(key, current, wanted, reason):
    return (
        f"{key}: the running kernel keeps {current} ({reason}); "
        f"{wanted} is only persisted, by sysctl.config, for a kernel this host owns"
    )


def _classify(settings, root):
    """Sort the settings by their live state: (to_write, read_only, problems)."""
    to_write, read_only, problems = {}, {}, []
    for key, value in sorted(settings.items()):
        wanted = _normalize(value)
        path = _path(key, root)
        try:
            if path is None:
                raise FileNotFoundError(key)
            current = _read(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            problems.append(_unknown(key, root))
            continue
        except OSError as exc:
            problems.append(f"{key}: cannot be read ({exc.strerror})")
            continue
        if current == wanted:
            continue
        if os.access(path, os.W_OK):
            to_write[key] = (current, wanted)
        else:
            read_only[key] = (current, wanted, "read-only for this host, e.g. a container's vm.*")
    return to_write, read_only, problems


def applied(name, settings, root=PROC_SYS):
    """
    Ensure that the running kernel has each of ``settings`` (``{key: value}``).

    Fails (also with ``test=True``) on a key the kernel does not have, and on a
    value that does not read back as written. A key the kernel has but will not
    let this host write is a warning: its value is persisted by ``sysctl.config``.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    to_write, read_only, problems = _classify(settings, root)
    notes = []
    if __opts__["test"]:
        ret["changes"] = {k: {"old": old, "new": new} for k, (old, new) in to_write.items()}
        if to_write:
            notes.append(f"would set {', '.join(to_write)}")
    else:
        for key, (old, wanted) in to_write.items():
            path = _path(key, root)
            try:
                _write(path, wanted)
            except OSError as exc:
                if exc.errno in REFUSED:
                    read_only[key] = (old, wanted, f"the write was refused: {exc.strerror}")
                else:
                    problems.append(f"{key}: cannot be set to {wanted} ({exc.strerror})")
                continue
            got = _read(path)
            if got != old:
                ret["changes"][key] = {"old": old, "new": got}
            if got != wanted:
                problems.append(f"{key}: wrote {wanted} but the kernel reads back {got}")
        if ret["changes"]:
            notes.append(f"set {', '.join(ret['changes'])}")
    if read_only:
        ret["warnings"] = [_persisted_only(k, *read_only[k]) for k in sorted(read_only)]
        notes.append(f"not writable here: {', '.join(sorted(read_only))} (persisted only)")
    if problems:
        ret["result"] = False
        notes.insert(0, "; ".join(problems))
    elif __opts__["test"] and to_write:
        ret["result"] = None
    ret["comment"] = "; ".join(notes) or "live kernel settings already correct"
    return ret
