"""
Bring a reinstalled node back into the gluster pool, no data lost (F28).

Run by salt://orch/rebuild_node.sls, in this order: on the node
``restore_identity`` (which runs ``rebuild_check`` first), ``rejoin`` and
``prepare_bricks``; on a healthy peer ``mark_for_heal``; on the node
``start_local_bricks``; on the peer ``heal_and_wait``. Every gluster command
goes through the ``gluster`` execution module; every wait through
``_wait_until``.
"""

import contextlib
import logging
import os
import shutil
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "gluster_rebuild"

GLUSTERD_DIR = "/var/lib/glusterd"
VOLUME_ID = "trusted.glusterfs.volume-id"
# How long the peer handshake gets to import the volumes before they are synced.
HANDSHAKE_SECONDS = 5
NUDGE_SECONDS = 30  # heal_and_wait: an index heal this often while entries remain


def __virtual__():
    if shutil.which("gluster") is None:
        return (False, "the gluster CLI is not installed (package glusterfs-server)")
    return __virtualname__


# ---------------------------------------------------------------- helpers


class _NotYet(Exception):
    """Raised by a wait's check: not there yet; the message says what it sees."""


def _wait_until(check, timeout, what, interval=1):
    """Call ``check()`` every ``interval`` seconds until it returns something
    truthy, and return that. A check says what it sees by raising ``_NotYet``;
    any other error ends the wait at once. After ``timeout`` seconds, raise
    ``CommandExecutionError`` naming ``what`` and the last state seen."""
    deadline = time.monotonic() + float(timeout)
    while True:
        try:
            result = check()
            state = repr(result)
        except _NotYet as exc:
            result, state = None, str(exc)
        if result:
            return result
        if time.monotonic() >= deadline:
            raise CommandExecutionError(f"gave up waiting for {what} after {timeout}s; last seen: {state}")
        time.sleep(interval)


def _same_host(one, other):
    """Whether two host names (short or FQDN) name the same host."""
    return one.split(".")[0] == other.split(".")[0]


def _named(peer, host):
    """Whether ``peer`` (from peer_status or volume_status) is ``host``."""
    return any(_same_host(h, host) for h in [peer["hostname"], *peer.get("hostnames", [])])


def _bricks_on(name, host):
    """The brick processes of volume ``name`` on ``host``, from ``volume status``."""
    return [
        n for n in __salt__["gluster.volume_status"](name) if n["path"].startswith("/") and _named(n, host)
    ]


def _online(name, host):
    bricks = _bricks_on(name, host)
    return bool(bricks) and all(b["online"] for b in bricks)


def _local_bricks():
    """``(volume, volume id, brick path)`` of every brick gluster places on this node."""
    for name, vol in sorted(__salt__["gluster.volume_info"]().items()):
        for brick in vol["bricks"]:
            host, path = brick["name"].split(":", 1)
            if _same_host(host, __grains__["id"]):
                yield name, vol["id"], path


def _volume_id_of(path):
    """The volume id a brick directory is marked with (bytes), or None."""
    try:
        return os.getxattr(path, VOLUME_ID)
    except OSError:  # no such directory, or not marked
        return None


# ---------------------------------------------------------------- the steps


def rebuild_check(source):
    """
    Refuse unless this node needs rebuilding: ``source`` (a healthy peer) must
    know this node, under another UUID than its glusterd has now, or see it
    disconnected, or see its bricks offline or behind.

    Returns ``{"recorded": uuid, "current": uuid}``.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_rebuild.rebuild_check hyp1
    """
    me = __grains__["id"]
    seen = __salt__["gluster.peer_status"](remote_host=source)
    entry = next((p for p in seen if _named(p, me)), None)
    if entry is None:
        raise CommandExecutionError(f"{source} does not know {me}: this is not a rebuild, refusing")
    current = __salt__["gluster.node_uuid"]()
    if entry["connected"] and entry["uuid"] == current and not _unhealthy_bricks(source):
        raise CommandExecutionError(
            f"{me} is healthy ({source} sees it connected as {current}, every brick "
            "of it online, nothing to heal): refusing to rebuild it"
        )
    return {"recorded": entry["uuid"], "current": current}


def _unhealthy_bricks(source):
    """What is wrong with this node's part of the volumes (empty: nothing)."""
    problems = []
    local = __salt__["gluster.volume_info"]()
    for name in sorted(__salt__["gluster.volume_info"](remote_host=source)):
        if name not in local:
            problems.append(f"{name}: not defined here")
        elif not _online(name, __grains__["id"]):
            problems.append(f"{name}: brick offline")
        elif any(b["entries"] for b in __salt__["gluster.heal_info"](name)):
            problems.append(f"{name}: entries to heal")
    return problems


def restore_identity(source):
    """
    Give this node back the glusterd UUID that ``source`` knows it by,
    restarting glusterd; its own peer and volume records are dropped (kept,
    they get it rejected by the pool). Refuses a healthy node.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_rebuild.restore_identity hyp1
    """
    ids = rebuild_check(source)
    if ids["current"] == ids["recorded"]:
        return {"changed": False, "uuid": ids["recorded"]}
    __salt__["service.stop"]("glusterd")
    for sub in ("peers", "vols"):
        shutil.rmtree(os.path.join(GLUSTERD_DIR, sub), ignore_errors=True)
    info = os.path.join(GLUSTERD_DIR, "glusterd.info")
    try:
        with open(info, encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if not line.startswith("UUID=")]
    except FileNotFoundError:  # glusterd writes it lazily: a new node may have none
        lines = []
    with open(info, "w", encoding="utf-8") as handle:
        handle.write("\n".join([f"UUID={ids['recorded']}", *lines]) + "\n")
    if not __salt__["service.start"]("glusterd"):
        raise CommandExecutionError("glusterd did not start with the restored UUID")
    return {"changed": True, "old": ids["current"], "new": ids["recorded"]}


def rejoin(source, timeout=60):
    """
    Probe ``source`` from this (restored) node, wait until it is connected,
    then make sure every volume ``source`` has is defined here too: the peer
    handshake usually imports them, and those it did not are copied with
    ``volume sync`` one by one (``sync all`` is refused once some exist).

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_rebuild.rejoin hyp1
    """
    __salt__["gluster.peer_probe"](source)

    def connected():
        peer = next((p for p in __salt__["gluster.peer_status"]() if _named(p, source)), None)
        if peer is None:
            raise _NotYet(f"{source} is not in the peer list")
        if "Rejected" in peer["state"]:
            raise CommandExecutionError(f"{source} rejects this node ({peer['state']})")
        if not (peer["connected"] and peer["state"] == "Peer in Cluster"):
            raise _NotYet(f"{source}: {peer['state']}, connected: {peer['connected']}")
        return peer

    _wait_until(connected, timeout, f"{source} to take this node in")
    wanted = sorted(__salt__["gluster.volume_info"](remote_host=source))

    def all_defined():
        missing = sorted(set(wanted) - set(__salt__["gluster.volume_info"]()))
        if missing:
            raise _NotYet(f"not defined here: {', '.join(missing)}")
        return True

    with contextlib.suppress(CommandExecutionError):  # what is still missing is synced below
        _wait_until(all_defined, HANDSHAKE_SECONDS, "the handshake to import the volumes")
    have = __salt__["gluster.volume_info"]()
    synced = [name for name in wanted if name not in have]
    for name in synced:
        __salt__["gluster.volume_sync"](source, name)
    _wait_until(all_defined, timeout, "the synced volumes")
    return {"volumes": wanted, "synced": synced}


def prepare_bricks():
    """
    Make this node's (empty, rebuilt) brick directories usable again: create
    them and mark them with their volume's id. Every brick is checked before
    anything is written; refused are a brick this host's settings do not know,
    a brick whose device is not mounted on its directory (apply
    ``gluster.bricks`` first) and a directory marked with another volume's id.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_rebuild.prepare_bricks
    """
    layout = __salt__["hypervisor_pillar.settings"]()["gluster"]["local_bricks"]
    bricks = list(_local_bricks())
    for name, volume_id, path in bricks:
        brick = layout.get(name)
        if brick is None or os.path.normpath(brick["path"]) != os.path.normpath(path):
            raise CommandExecutionError(
                f"gluster lists {path} as this host's brick of {name}, "
                "but this host's settings do not know it: refusing"
            )
        if brick["device"] and not os.path.ismount(brick["dir"]):
            raise CommandExecutionError(
                f"the brick file system of {name} ({brick['device']}) is not mounted on {brick['dir']}: "
                "apply gluster.bricks first"
            )
        have = _volume_id_of(path)
        if have is not None and have != bytes.fromhex(volume_id.replace("-", "")):
            raise CommandExecutionError(f"{path} belongs to another volume ({have.hex()}), not {name}")
    done = {}
    for name, volume_id, path in bricks:
        os.makedirs(path, exist_ok=True)
        if _volume_id_of(path) is None:
            os.setxattr(path, VOLUME_ID, bytes.fromhex(volume_id.replace("-", "")))
        # The brick's own metadata directory, which its index translator needs.
        os.makedirs(os.path.join(path, ".glusterfs"), mode=0o600, exist_ok=True)
        done[name] = path
    return done


def _touch_root(name):
    """Through a private mount, create and remove a directory and an attribute
    at volume ``name``'s root: the running bricks record that the others need it."""
    path = f"/run/hv-gluster-mark-{name}"
    os.makedirs(path, exist_ok=True)
    ret = __salt__["cmd.run_all"](
        ["mount", "-t", "glusterfs", f"localhost:/{name}", path], python_shell=False
    )
    if ret["retcode"] != 0:
        os.rmdir(path)
        raise CommandExecutionError(f"cannot mount {name}: {ret['stderr'].strip()}")
    try:
        probe = os.path.join(path, f".hv-heal-mark-{os.getpid()}")
        os.mkdir(probe)
        os.rmdir(probe)
        os.setxattr(path, "trusted.hv-heal-mark", b"1")
        os.removexattr(path, "trusted.hv-heal-mark")
    finally:
        __salt__["cmd.run_all"](["umount", path], python_shell=False)
        os.rmdir(path)


def mark_for_heal(node):
    """
    Run on a healthy peer while ``node``'s rebuilt bricks are still down: touch
    every volume's root through a private mount, so that the healthy bricks
    record that ``node``'s need everything; the self-heal then copies the whole
    tree (gluster's documented same-path brick replacement). Granular entry
    heal is switched off first (it would record only the touched name);
    ``heal_and_wait`` switches it back on. Refused while a brick of ``node`` runs.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster_rebuild.mark_for_heal hyp2
    """
    names = sorted(__salt__["gluster.volume_info"]())
    running = [name for name in names if any(b["online"] for b in _bricks_on(name, node))]
    if running:
        raise CommandExecutionError(
            f"{node}'s bricks of {', '.join(running)} are running: marking must happen before they start"
        )
    for name in names:
        __salt__["gluster.heal_granular"](name, False)
        _touch_root(name)
    return names


def start_local_bricks(timeout=30):
    """
    Start this node's brick processes (``volume start VOL force``) for every
    volume with a brick here, and wait until they are online.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster_rebuild.start_local_bricks
    """
    names = sorted({name for name, _, _ in _local_bricks()})
    for name in names:
        __salt__["gluster.volume_start"](name, force=True)

    def all_online():
        down = [name for name in names if not _online(name, __grains__["id"])]
        if down:
            raise _NotYet(f"offline: {', '.join(down)}")
        return True

    _wait_until(all_online, timeout, "this node's bricks to come online")
    return names


def _nudge(name):
    """An index heal: the self-heal daemon crawls again now. After a failed
    entry it would wait ``cluster.heal-timeout`` (600 s by default); a rebuild
    in the lab once waited past its own timeout for 3 such entries."""
    try:
        __salt__["gluster.heal"](name)
    except CommandExecutionError as exc:
        log.warning("gluster_rebuild: index heal of %s not started: %s", name, exc)


def heal_and_wait(timeout=600):
    """
    Start a full heal of every volume and wait until no entry is left and no
    file is in split-brain; raise on timeout or split-brain. Switches granular
    entry heal back on.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster_rebuild.heal_and_wait
    """
    names = sorted(__salt__["gluster.volume_info"]())
    started = set()

    def heal_started():
        for name in sorted(set(names) - started):
            try:
                __salt__["gluster.heal"](name, full=True)
            except CommandExecutionError as exc:
                raise _NotYet(str(exc)) from None
            started.add(name)
        return True

    nudged = dict.fromkeys(names, time.monotonic())

    def healed():
        pending = []
        for name in names:
            bricks = [
                b for b in __salt__["gluster.heal_info"](name) if b["entries"] or b["status"] != "Connected"
            ]
            pending += [f"{b['name']} ({b['status']}, {b['entries']} entries)" for b in bricks]
            if bricks and time.monotonic() - nudged[name] >= NUDGE_SECONDS:
                _nudge(name)
                nudged[name] = time.monotonic()
        if pending:
            raise _NotYet(", ".join(pending))
        return True

    # The self-heal daemons take a few seconds to reach bricks just started.
    _wait_until(heal_started, 60, "the self-heal daemons to accept a full heal", interval=2)
    _wait_until(healed, timeout, "the heal to finish", interval=2)
    split = {n: b["name"] for n in names for b in __salt__["gluster.split_brain"](n) if b["entries"]}
    if split:
        raise CommandExecutionError(f"split-brain entries after heal: {split}")
    for name in names:
        if __salt__["gluster.volume_get"](name, "cluster.granular-entry-heal") != "on":
            __salt__["gluster.heal_granular"](name, True)
    return {name: "healed" for name in names}
