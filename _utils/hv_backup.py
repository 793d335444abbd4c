"""
hv_backup: guest disk backups (B9), the decisions and the layout. Plain Python,
no libvirt call and no command: ``hv_backup_jobs`` drives libvirt and
``qemu-img``, ``_modules/guest_backup.py`` is the Salt face.

Under the target (``backups:target:path``) each guest has a directory of its
own, and each backup two files named after its start, in UTC::

    <target>/<guest>/20261207T030000Z.qcow2         the disk image
    <target>/<guest>/20261207T030000Z.json          its manifest, written last

While it is written the image is ``<stamp>.qcow2.partial``. A backup is
*complete* only when both files are regular files (not links) and the manifest
names this guest and this image, with its checksum: a run that fails leaves
nothing that looks complete. Retention keeps the newest ``keep`` complete
backups and deletes older complete ones only: never an incomplete one (another
run may be writing it), never the only complete one, never a file it did not
name, never anything outside ``<target>/<guest>/``.
"""

import contextlib
import datetime
import hashlib
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import hv_schema
from hv_runtime import CommandExecutionError

IMAGE = ".qcow2"
MANIFEST = ".json"
PARTIAL = ".partial"
FORMAT = "qcow2"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
STAMP = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
MANIFEST_VERSION = 1
SHA256 = re.compile(r"^[0-9a-f]{64}$")
METHODS = ("backup-api", "copy")  # a running guest through libvirt; a stopped one by qemu-img
LATEST = ("", "latest", None)
CHUNK = 1 << 20
DIR_MODE = 0o711  # a guest's directory under the target: QEMU passes through, only root lists
AGENT_CHANNEL = "org.qemu.guest_agent.0"
ACTIVE = ("running", "blocked", "paused", "shutting down", "suspended")  # hv_domains.ACTIVE
ABSOLUTE_PATH = re.compile(r"/[^\s'\"(),;:]+")
# libvirt's job types and the backup operation (libvirt.VIR_DOMAIN_JOB_*), checked against
# libvirt-python by the unit tests.
JOB_NONE, JOB_BOUNDED, JOB_UNBOUNDED, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED = range(6)
JOB_OPERATION_BACKUP = 9


# ------------------------------------------------------------------ names and layout


def stamp(moment=None):
    """A backup's name: its start in UTC, to the second (``20261207T030000Z``)."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime(STAMP_FORMAT)


def stamp_time(name):
    """The ISO time of stamp ``name`` (as the records write it)."""
    moment = datetime.datetime.strptime(name, STAMP_FORMAT).replace(tzinfo=datetime.UTC)
    return moment.isoformat(timespec="seconds")


def _check_target(target):
    if not isinstance(target, str) or not target:
        raise CommandExecutionError("no backup target: set hypervisor:backups:target:path")
    if not os.path.isabs(target) or os.path.normpath(target) != target:
        raise CommandExecutionError(f"the backup target {target!r} is not an absolute, normal path")


def _check_guest(guest):
    if not isinstance(guest, str) or not hv_schema.NAME.fullmatch(guest):
        raise CommandExecutionError(f"{guest!r} is not a guest name")


def guest_dir(target, guest):
    """``<target>/<guest>``, both names checked (no ``..``, no ``/`` in the guest's)."""
    _check_target(target)
    _check_guest(guest)
    return os.path.join(target, guest)


def paths(target, guest, name):
    """The files of backup ``name`` (a stamp) of ``guest``: ``dir``, ``image``, ``manifest``,
    ``partial``."""
    if not STAMP.fullmatch(name or ""):
        raise CommandExecutionError(f"{name!r} is not a backup's name (like 20261207T030000Z)")
    directory = guest_dir(target, guest)
    image = os.path.join(directory, name + IMAGE)
    return {
        "dir": directory,
        "image": image,
        "manifest": os.path.join(directory, name + MANIFEST),
        "partial": image + PARTIAL,
    }


def safe_dir(target, guest, create=False):
    """``<target>/<guest>``, refused unless it is that very directory: the target exists (an
    unmounted backup disk is not written through to the root file system), the guest's
    directory is no symbolic link and resolves inside the target. ``create``: make the
    guest's directory when missing: 0711, as QEMU (its own user) must reach the image
    libvirt hands it; nobody but root may list it, and each file is root's alone."""
    directory = guest_dir(target, guest)
    if not os.path.isdir(target):
        raise CommandExecutionError(f"the backup target {target} does not exist (not mounted?)")
    if create and not os.path.lexists(directory):
        with contextlib.suppress(FileExistsError):  # another host's run made it meanwhile
            os.mkdir(directory, DIR_MODE)
            os.chmod(directory, DIR_MODE)  # whatever the umask
    if os.path.islink(directory):
        raise CommandExecutionError(f"{directory} is a symbolic link: backups stay inside {target}")
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise CommandExecutionError(f"{directory} is not a directory")
    if os.path.realpath(directory) != os.path.join(os.path.realpath(target), guest):
        raise CommandExecutionError(f"{directory} does not resolve inside {target}")
    return directory


def unreachable(path, top="/"):
    """The first directory from ``top`` (``/``) down to ``path`` that a user other than
    root cannot pass through (no search bit for others), or None. QEMU runs as its own
    user: a running guest's backup image is opened by it, under the target."""
    here = os.path.normpath(top)
    relative = os.path.relpath(os.path.normpath(path), here)
    for part in [p for p in relative.split("/") if p and p != "."]:
        here = os.path.join(here, part)
        if not os.stat(here).st_mode & stat.S_IXOTH:
            return here
    return None


def _regular(path):
    """Whether ``path`` is a regular file itself (a symbolic link is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


# ------------------------------------------------------------------ what is there


def read_manifest(path):
    """The manifest at ``path`` (a regular file, a JSON mapping), or None."""
    if not _regular(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _incomplete_why(guest, name, has_image, manifest):
    if not has_image:
        return "no image (or not a regular file)"
    if manifest is None:
        return "no manifest (a run that did not finish, or one still running)"
    checksum = manifest.get("checksum")
    if manifest.get("guest") != guest or manifest.get("image") != name + IMAGE:
        return "its manifest names another guest or image"
    if not isinstance(checksum, dict) or not SHA256.fullmatch(str(checksum.get("sha256", ""))):
        return "its manifest has no checksum"
    if not manifest.get("finished"):
        return "its manifest has no finish time"
    return None


def scan(target, guest):
    """What ``<target>/<guest>/`` holds: ``{"backups": [{"name", "complete", "why",
    "manifest", "partial"}], newest first; "foreign": other names}``. Nothing is read
    through a symbolic link."""
    directory = safe_dir(target, guest)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        names = []
    found, foreign = {}, []
    for entry in names:
        base = entry.removesuffix(PARTIAL).removesuffix(IMAGE).removesuffix(MANIFEST)
        if STAMP.fullmatch(base) and entry in (base + IMAGE, base + MANIFEST, base + IMAGE + PARTIAL):
            found.setdefault(base, set()).add(entry[len(base) :])
        else:
            foreign.append(entry)
    backups = []
    for name in sorted(found, reverse=True):
        kinds = found[name]
        has_image = IMAGE in kinds and _regular(os.path.join(directory, name + IMAGE))
        manifest = read_manifest(os.path.join(directory, name + MANIFEST)) if MANIFEST in kinds else None
        why = _incomplete_why(guest, name, has_image, manifest)
        partial = IMAGE + PARTIAL in kinds
        if why is None and partial:
            why = "a partial image beside it"
        backups.append(
            {"name": name, "complete": why is None, "why": why, "manifest": manifest, "partial": partial}
        )
    return {"backups": backups, "foreign": foreign}


def complete(scanned):
    """The names of the complete backups of a ``scan``, newest first."""
    return [b["name"] for b in scanned["backups"] if b["complete"]]


# ------------------------------------------------------------------ retention


def to_delete(scanned, keep):
    """The complete backups retention deletes: all but the newest ``keep`` (at least one is
    always kept). Incomplete ones and foreign files are never named."""
    return complete(scanned)[max(int(keep), 1) :]


def prune(target, guest, keep):
    """Apply retention in ``<target>/<guest>/``: each backup past the newest ``keep`` complete
    ones loses its manifest first (it no longer looks complete), then its image. Returns
    ``{"deleted": [names], "failed": {name: why}}``."""
    directory = safe_dir(target, guest)
    out = {"deleted": [], "failed": {}}
    for name in to_delete(scan(target, guest), keep):
        files = paths(target, guest, name)
        try:
            for path in (files["manifest"], files["image"]):
                # scan() read them as regular files here; checked again just before
                if os.path.dirname(path) != directory or not _regular(path):
                    raise CommandExecutionError(f"{os.path.basename(path)} is no longer a regular file")
                os.unlink(path)
        except (OSError, CommandExecutionError) as exc:
            out["failed"][name] = str(exc)
        else:
            out["deleted"].append(name)
    return out


# ------------------------------------------------------------------ the manifest


def sha256(path):
    """The sha256 (hex) of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(
    guest, name, *, host, source, source_bytes, size, started, finished, method, frozen, note, digest
):
    """Backup ``name``'s manifest: what it is of (``source``: the guest's disk, of
    ``source_bytes``), how it was made, how big it is (``size``: the image's bytes), how
    to check it (``digest``: its sha256)."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")
    return {
        "version": MANIFEST_VERSION,
        "guest": guest,
        "image": name + IMAGE,
        "format": FORMAT,
        "host": host,
        "source": {"disk": source, "bytes": source_bytes},
        "bytes": size,
        "started": started,
        "finished": finished,
        "method": method,
        "frozen": bool(frozen),
        "consistency": consistency(method, frozen),
        "note": note,
        "checksum": {"sha256": digest},
    }


def consistency(method, frozen):
    """What a backup's disk is like: ``filesystem`` (a running guest's file systems frozen
    by its agent), ``stopped`` (the disk as a stopped guest left it: clean after a shutdown,
    crash-consistent after a destroy) or ``crash`` (a running guest not frozen: what a power
    cut would leave)."""
    if method == "copy":
        return "stopped"
    return "filesystem" if frozen else "crash"


# ------------------------------------------------------------------ libvirt's domain and backup XML


def domain_disks(xml):
    """The disks of a domain's XML: ``[{"name" (target dev), "device", "source"}]``."""
    root = ET.fromstring(xml)
    disks = []
    for disk in root.findall("./devices/disk"):
        target = disk.find("target")
        if target is None or not target.get("dev"):
            continue
        source = disk.find("source")
        path = None
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name")
        disks.append({"name": target.get("dev"), "device": disk.get("device", "disk"), "source": path})
    return disks


def disk_of(disks, path):
    """The target name (``vda``) of the disk whose source is ``path``, or None."""
    found = [d["name"] for d in disks if d["device"] == "disk" and d["source"] == path]
    return found[0] if len(found) == 1 else None


def agent_state(xml):
    """The guest agent's channel in a domain's live XML: ``connected``, ``disconnected``,
    ``unknown`` (no state said), or None when the guest has no agent channel."""
    root = ET.fromstring(xml)
    for channel in root.findall("./devices/channel"):
        target = channel.find("target")
        if target is not None and target.get("type") == "virtio" and target.get("name") == AGENT_CHANNEL:
            return target.get("state") or "unknown"
    return None


def _attr(value):
    return "'" + escape(str(value), {"'": "&apos;", '"': "&quot;"}) + "'"


def backup_xml(disks, chosen, image):
    """libvirt's push-mode backup of disk ``chosen`` (a target name) into the qcow2 file
    ``image``; every other disk of ``disks`` (target names) ``backup='no'``."""
    if chosen not in disks:
        raise CommandExecutionError(f"the domain has no disk {chosen}")
    lines = ["<domainbackup mode='push'>", "  <disks>"]
    for name in disks:
        if name == chosen:
            lines += [
                f"    <disk name={_attr(name)} backup='yes' type='file'>",
                f"      <driver type='{FORMAT}'/>",
                f"      <target file={_attr(image)}/>",
                "    </disk>",
            ]
        else:
            lines.append(f"    <disk name={_attr(name)} backup='no'/>")
    lines += ["  </disks>", "</domainbackup>"]
    return "\n".join(lines) + "\n"


def job_running(stats):
    """Whether libvirt's current job stats (``dom.jobStats()``) show a backup still running."""
    running = stats.get("type") in (JOB_BOUNDED, JOB_UNBOUNDED)
    return running and stats.get("operation", JOB_OPERATION_BACKUP) == JOB_OPERATION_BACKUP


def job_outcome(stats):
    """``(done, why)`` of libvirt's completed job stats
    (``dom.jobStats(VIR_DOMAIN_JOB_STATS_COMPLETED)``) after a backup: done only when the
    last job was a backup and it completed; else why not."""
    kind = stats.get("type")
    if stats.get("operation", JOB_OPERATION_BACKUP) != JOB_OPERATION_BACKUP:
        return False, "libvirt's last finished job is not the backup"
    if kind == JOB_COMPLETED:
        return True, None
    message = stats.get("errmsg")
    if kind == JOB_CANCELLED:
        return False, "the backup job was cancelled" + (f": {message}" if message else "")
    if kind == JOB_FAILED:
        return False, "the backup job failed" + (f": {message}" if message else "")
    return False, "libvirt kept no record of how the backup job ended"


# ------------------------------------------------------------------ whether a stopped guest may be copied


def copy_refusal(guest, states, holder=(None, None)):
    """Why stopped guest ``guest`` may not be copied now, or None. ``states``: its state on
    every host that carries guests (``hv_domains.where``: ``unknown`` where a host does not
    answer); ``holder``: ``(host, state)`` of a live holder of its disk lease
    (``keeper_rule.lease_holder``). A copy is made only when no host runs it, surely."""
    running = sorted(h for h, s in states.items() if s in ACTIVE)
    if running:
        return f"{guest} runs on {', '.join(running)}: its backup is made there, by libvirt"
    unknown = sorted(h for h, s in states.items() if s in ("unknown", None))
    if unknown:
        return f"cannot tell whether {guest} runs on {', '.join(unknown)} (no answer): no copy"
    host, state = holder
    if host is not None:
        return f"{guest}'s disk lease is held by {host} ({state}): it may run there; no copy"
    return None


# ------------------------------------------------------------------ restore


def choose(scanned, guest, name=None):
    """Backup ``name`` of a ``scan`` (a stamp, or its image's file name; empty or ``latest``:
    the newest complete one), refused unless complete."""
    names = complete(scanned)
    if name in LATEST:
        if not names:
            raise CommandExecutionError(f"{guest} has no complete backup")
        return names[0]
    name = str(name).removesuffix(IMAGE)
    entry = next((b for b in scanned["backups"] if b["name"] == name), None)
    if entry is None:
        raise CommandExecutionError(f"{guest} has no backup {name}")
    if not entry["complete"]:
        raise CommandExecutionError(f"backup {name} of {guest} is not complete: {entry['why']}")
    return name


def _inside(path, directory):
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def restore_refusal(disk, target, guest_disks):
    """Why ``disk`` cannot receive a restore, or None: it must be a new file (nothing there,
    not even a dangling link; nor its ``.partial``), an absolute normal path of plain
    characters, in an existing directory, outside the backup target, and no guest's disk."""
    if not isinstance(disk, str) or not disk:
        return "no disk path given: name a new file"
    if not os.path.isabs(disk) or os.path.normpath(disk) != disk or not hv_schema.SAFE_PATH.fullmatch(disk):
        return f"{disk!r} is not an absolute, normal path of letters, digits, '._+@-' and '/'"
    if os.path.lexists(disk) or os.path.lexists(disk + PARTIAL):
        return f"{disk} exists already: a restore never overwrites a file"
    parent = os.path.dirname(disk)
    if not os.path.isdir(parent):
        return f"{parent} is not a directory"
    real = os.path.join(os.path.realpath(parent), os.path.basename(disk))
    if _inside(real, os.path.realpath(target)):
        return f"{disk} is inside the backup target {target}"
    for path in guest_disks:
        if path and (disk == path or real == os.path.realpath(path)):
            return f"{disk} is a guest's disk in the pillar: restore to a new file, then put it in place"
    return None


def plan_restore(target, guest, name, disk, guest_disks):
    """What a restore of backup ``name`` (empty or ``latest``: the newest complete) of
    ``guest`` into the new file ``disk`` does: ``{"guest", "backup" (its name), "image",
    "manifest", "disk", "partial"}``; raises why not (``guest_disks``: every pillar guest's
    disk path, none of which is ever written)."""
    chosen = choose(scan(target, guest), guest, name)
    why = restore_refusal(disk, target, guest_disks)
    if why:
        raise CommandExecutionError(why)
    files = paths(target, guest, chosen)
    return {
        "guest": guest,
        "backup": chosen,
        "image": files["image"],
        "manifest": read_manifest(files["manifest"]),
        "disk": disk,
        "partial": disk + PARTIAL,
    }


def image_refusal(info):
    """Why a backup image, as ``qemu-img info --output=json`` shows it, is not one this
    module wrote (a qcow2 with no backing file nor external data file), or None."""
    if not isinstance(info, dict):
        return "qemu-img says nothing of it"
    if info.get("format") != FORMAT:
        return f"it is not a {FORMAT} image ({info.get('format')})"
    if info.get("backing-filename") or info.get("full-backing-filename"):
        return "it names a backing file"
    data = ((info.get("format-specific") or {}).get("data")) or {}
    if data.get("data-file"):
        return "it names an external data file"
    return None


# ------------------------------------------------------------------ records


def last_record(guest, host, result, started, finished, seconds, previous=None, **facts):
    """The last-result record of ``guest`` (for the metrics): ``result`` (``done`` or
    ``failed``), ``started``, ``finished``, ``seconds``, ``bytes`` and what else ``facts``
    give, and ``last_success`` (this run's when done, else the previous record's)."""
    record = {
        "guest": guest,
        "host": host,
        "result": result,
        "started": started,
        "finished": finished,
        "seconds": seconds,
        "bytes": facts.pop("bytes", None),
        **facts,
    }
    if result == "done":
        record["last_success"] = {"finished": finished, "backup": facts.get("backup")}
    else:
        record["last_success"] = (previous or {}).get("last_success")
    return record


def redact(text, target):
    """``text`` with every absolute path outside ``target`` shown as ``<path>``: what an
    event may say of a failure."""

    def keep(found):
        path = found.group(0)
        return path if target and _inside(path, target) else "<path>"

    return ABSOLUTE_PATH.sub(keep, str(text))
