"""
GlusterFS through ``gluster --mode=script --xml`` (F13, F17, F28; status B3).

Salt 3008 has no gluster module any more. This one runs the CLI with an
argument list, parses its XML, and raises ``CommandExecutionError`` carrying
gluster's own message (``opErrstr``) when a command fails. The parsers are
plain functions of the XML text (``parse_*``), unit-tested on outputs captured
from the lab (tests/unit/fixtures/gluster/).
"""

import logging
import os
import shutil
import time
import xml.etree.ElementTree as ET

try:
    from salt.exceptions import CommandExecutionError
except ImportError:  # the parsers work without Salt
    CommandExecutionError = RuntimeError

log = logging.getLogger(__name__)

__virtualname__ = "gluster"

GLUSTERD_INFO = "/var/lib/glusterd/glusterd.info"


def __virtual__():
    if shutil.which("gluster") is None:
        return (False, "the gluster CLI is not installed (package glusterfs-server)")
    return __virtualname__


# ---------------------------------------------------------------- parsing


def _text(node, tag, default=""):
    found = node.find(tag)
    return found.text.strip() if found is not None and found.text else default


def _int(node, tag, default=0):
    try:
        return int(_text(node, tag, str(default)))
    except ValueError:
        return default


def parse_root(xml_text):
    """The ``cliOutput`` element, or ``CommandExecutionError`` with gluster's message."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        raise CommandExecutionError(f"gluster: {xml_text.strip() or 'no output'}") from None
    if _int(root, "opRet", -1) != 0:
        message = _text(root, "opErrstr") or f"failed (opErrno {_text(root, 'opErrno')})"
        raise CommandExecutionError(f"gluster: {message}")
    return root


def parse_peers(xml_text):
    """``peer status`` / ``pool list``: a list of peers."""
    root = parse_root(xml_text)
    return [
        {
            "uuid": _text(peer, "uuid"),
            "hostname": _text(peer, "hostname"),
            "hostnames": [h.text for h in peer.findall("hostnames/hostname") if h.text],
            "connected": _text(peer, "connected") == "1",
            "state": _text(peer, "stateStr"),
        }
        for peer in root.findall("peerStatus/peer")
    ]


def parse_volume_info(xml_text):
    """``volume info``: ``{name: {status, type, replica, arbiter, bricks, options}}``."""
    root = parse_root(xml_text)
    volumes = {}
    for vol in root.findall("volInfo/volumes/volume"):
        bricks = [
            {
                "name": _text(b, "name"),
                "host_uuid": _text(b, "hostUuid"),
                "arbiter": _text(b, "isArbiter") == "1",
            }
            for b in vol.findall("bricks/brick")
        ]
        volumes[_text(vol, "name")] = {
            "id": _text(vol, "id"),
            "status": _text(vol, "statusStr"),
            "type": _text(vol, "typeStr"),
            "replica": _int(vol, "replicaCount"),
            "arbiter": _int(vol, "arbiterCount"),
            "bricks": bricks,
            "options": {_text(o, "name"): _text(o, "value") for o in vol.findall("options/option")},
        }
    return volumes


def parse_volume_status(xml_text):
    """``volume status VOL``: the volume's processes (bricks, self-heal daemons)."""
    root = parse_root(xml_text)
    nodes = []
    for node in root.findall("volStatus/volumes/volume/node"):
        nodes.append(
            {
                "hostname": _text(node, "hostname"),
                "path": _text(node, "path"),
                "peer_uuid": _text(node, "peerid"),
                "online": _text(node, "status") == "1",
                "port": _text(node, "port"),
                "pid": _int(node, "pid", -1),
            }
        )
    return nodes


def parse_heal_info(xml_text):
    """``volume heal VOL info [split-brain]``: per brick, its status and entries."""
    root = parse_root(xml_text)
    bricks = []
    for brick in root.findall("healInfo/bricks/brick"):
        entries = [f.text for f in brick.findall("file") if f.text]
        count = _text(brick, "numberOfEntries") or _text(brick, "numberOfEntriesInSplitBrain")
        bricks.append(
            {
                "name": _text(brick, "name"),
                "status": _text(brick, "status"),
                "entries": int(count) if count.isdigit() else len(entries),
                "files": entries,
            }
        )
    return bricks


def parse_glusterd_info(text):
    """The ``UUID=…`` line of glusterd.info (this node's identity)."""
    for line in text.splitlines():
        if line.startswith("UUID="):
            return line.split("=", 1)[1].strip()
    return None


# ---------------------------------------------------------------- running


def _gluster(*args, xml=True):
    """Run ``gluster --mode=script [--xml] ARGS``; return its output (XML to parse).

    A few commands (``volume heal VOL full``) answer in plain text only: with
    ``xml=False`` the exit code alone tells success.
    """
    cmd = ["gluster", "--mode=script", *(["--xml"] if xml else []), *[str(a) for a in args]]
    ret = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True, output_loglevel="debug")
    if ret["retcode"] != 0 and not ret["stdout"].lstrip().startswith("<"):
        raise CommandExecutionError(
            f"gluster {' '.join(map(str, args))}: {(ret['stderr'] or ret['stdout']).strip()}"
        )
    return ret["stdout"]


def peer_status():
    """
    The other peers of this node, with their connection state.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' gluster.peer_status
    """
    return parse_peers(_gluster("peer", "status"))


def pool_list():
    """
    Every node of the trusted pool, this one included (as ``localhost``).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.pool_list
    """
    return parse_peers(_gluster("pool", "list"))


def peer_probe(host):
    """
    Add ``host`` to the trusted pool (a no-op when it is already in it).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.peer_probe hyp2
    """
    parse_root(_gluster("peer", "probe", host))
    return True


def volume_info(name=None):
    """
    Volumes (all, or ``name``): status, type, replica/arbiter counts, bricks, options.

    Returns ``{}`` when ``name`` does not exist.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_info
        salt hyp1 gluster.volume_info vmstore
    """
    try:
        return parse_volume_info(_gluster("volume", "info", *([name] if name else [])))
    except CommandExecutionError as exc:
        if name and "does not exist" in str(exc):
            return {}
        raise


def volume_status(name):
    """
    The processes serving volume ``name``: bricks and self-heal daemons, online or not.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_status vmstore
    """
    return parse_volume_status(_gluster("volume", "status", name))


def volume_create(name, bricks, replica=2, arbiter=0, force=False):
    """
    Create volume ``name`` from ``bricks`` (``["host:/path", …]``).

    replica
        The number of copies (bricks per replica set, arbiter included).
    arbiter
        1 for ``replica 3 arbiter 1`` (the last brick holds metadata only).
    force
        Needed when a brick is on the root file system (directories, the lab).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_create vmstore \
            '[hyp1:/mnt/bricks/vmstore/brick, hyp2:/mnt/bricks/vmstore/brick]'
    """
    args = ["volume", "create", name]
    if int(replica) > 1:
        args += ["replica", int(replica)]
    if int(arbiter):
        args += ["arbiter", int(arbiter)]
    args += list(bricks)
    if force:
        args.append("force")
    parse_root(_gluster(*args))
    return True


def volume_start(name, force=False):
    """
    Start volume ``name`` (``force`` also restarts missing brick processes).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_start vmstore
    """
    parse_root(_gluster("volume", "start", name, *(["force"] if force else [])))
    return True


def volume_set(name, option, value):
    """
    Set one option of volume ``name``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_set vmstore network.ping-timeout 5
    """
    parse_root(_gluster("volume", "set", name, option, value))
    return True


def volume_get(name, option):
    """
    The effective value of one option of volume ``name`` (set or default).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_get vmstore network.ping-timeout
    """
    root = parse_root(_gluster("volume", "get", name, option))
    for opt in root.findall("volGetopts/Opt"):
        if _text(opt, "Option") == option:
            return _text(opt, "Value")
    value = _text(root, "volGetopts/Value")
    return value or None


def heal_info(name):
    """
    Entries waiting to be healed, per brick.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.heal_info vmstore
    """
    return parse_heal_info(_gluster("volume", "heal", name, "info"))


def split_brain(name):
    """
    Entries in split-brain, per brick (``entries`` 0 everywhere: none).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.split_brain vmstore
    """
    return parse_heal_info(_gluster("volume", "heal", name, "info", "split-brain"))


def heal(name, full=False):
    """
    Start healing volume ``name`` (``full``: crawl everything, after a brick was rebuilt).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.heal vmstore full=True
    """
    _gluster("volume", "heal", name, *(["full"] if full else []), xml=False)
    return True


def volume_sync(host):
    """
    Copy every volume's definition from ``host`` to this node (a rebuilt node, F28).

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster.volume_sync hyp1
    """
    parse_root(_gluster("volume", "sync", host, "all"))
    return True


def node_uuid():
    """
    This node's glusterd UUID (``/var/lib/glusterd/glusterd.info``), or None.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' gluster.node_uuid
    """
    try:
        with open(GLUSTERD_INFO, encoding="utf-8") as handle:
            return parse_glusterd_info(handle.read())
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- rebuild (F28)
# Run on the reinstalled node, in this order, by salt://orch/rebuild_node.sls.


def _named(peer, host):
    """Whether ``peer`` (from peer_status or volume_status) is ``host`` (short name or FQDN)."""
    names = [peer["hostname"], *peer.get("hostnames", [])]
    return any(h.split(".")[0] == host.split(".")[0] for h in names)


def _me(hostname):
    return hostname.split(".")[0] == __grains__["id"]


def rebuild_check(source):
    """
    Refuse unless this node needs rebuilding: ``source`` (a healthy peer) must
    know this node under another UUID than this node's glusterd has now, or
    see it disconnected. Returns ``{"recorded": uuid, "current": uuid}``.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster.rebuild_check hyp1
    """
    seen = parse_peers(_gluster(f"--remote-host={source}", "peer", "status"))
    entry = next((p for p in seen if _named(p, __grains__["id"])), None)
    if entry is None:
        raise CommandExecutionError(
            f"{source} does not know {__grains__['id']}: this is not a rebuild, refusing"
        )
    current = node_uuid()
    if entry["connected"] and entry["uuid"] == current and not _unhealthy_bricks(source):
        raise CommandExecutionError(
            f"{__grains__['id']} is healthy ({source} sees it connected as {current}, every brick "
            "of it online, nothing to heal): refusing to rebuild it"
        )
    return {"recorded": entry["uuid"], "current": current}


def _unhealthy_bricks(source):
    """What is wrong with this node's part of the volumes (empty: nothing)."""
    problems = []
    local = volume_info()
    for name in sorted(parse_volume_info(_gluster(f"--remote-host={source}", "volume", "info"))):
        if name not in local:
            problems.append(f"{name}: not defined here")
            continue
        mine = [n for n in volume_status(name) if n["path"].startswith("/") and _me(n["hostname"])]
        if not mine or not all(n["online"] for n in mine):
            problems.append(f"{name}: brick offline")
        elif any(b["entries"] for b in heal_info(name)):
            problems.append(f"{name}: entries to heal")
    return problems


def restore_identity(source):
    """
    Give this node back the glusterd UUID that ``source`` knows it by (the
    seed's "restore glusterd.info"), restarting glusterd. Refuses a healthy node.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster.restore_identity hyp1
    """
    ids = rebuild_check(source)
    if ids["current"] == ids["recorded"]:
        return {"changed": False, "uuid": ids["recorded"]}
    __salt__["service.stop"]("glusterd")
    # A reinstalled node's own peer and volume records are empty or wrong; kept,
    # they get it rejected by the pool ("Peer Rejected"). The pool's are taken.
    for sub in ("peers", "vols"):
        shutil.rmtree(os.path.join(os.path.dirname(GLUSTERD_INFO), sub), ignore_errors=True)
    try:
        with open(GLUSTERD_INFO, encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if not line.startswith("UUID=")]
    except FileNotFoundError:  # glusterd writes it lazily: a new node may have none
        lines = []
    with open(GLUSTERD_INFO, "w", encoding="utf-8") as handle:
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

        salt hyp2 gluster.rejoin hyp1
    """
    peer_probe(source)
    deadline = time.monotonic() + timeout
    while True:
        peer = next((p for p in peer_status() if _named(p, source)), None)
        if peer and peer["connected"] and peer["state"] == "Peer in Cluster":
            break
        if peer and "Rejected" in peer["state"]:
            raise CommandExecutionError(f"{source} rejects this node ({peer['state']})")
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"{source} did not connect within {timeout}s")
        time.sleep(1)
    wanted = sorted(parse_volume_info(_gluster(f"--remote-host={source}", "volume", "info")))
    time.sleep(2)  # let the handshake import what it will
    synced = []
    for name in wanted:
        if name not in volume_info():
            parse_root(_gluster("volume", "sync", source, name))
            synced.append(name)
    deadline = time.monotonic() + timeout
    while missing := sorted(set(wanted) - set(volume_info())):
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"volumes still missing after sync: {missing}")
        time.sleep(1)
    return {"volumes": wanted, "synced": synced}


def _local_bricks():
    for name, vol in volume_info().items():
        for brick in vol["bricks"]:
            host, path = brick["name"].split(":", 1)
            if _me(host):
                yield name, vol["id"], path


def prepare_bricks():
    """
    Make this node's (empty, rebuilt) brick directories usable again: create
    them and mark them with their volume's id. A brick that already carries
    another volume's id is refused.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster.prepare_bricks
    """
    key = "trusted.glusterfs.volume-id"
    done = {}
    for name, volume_id, path in _local_bricks():
        wanted = bytes.fromhex(volume_id.replace("-", ""))
        os.makedirs(path, exist_ok=True)
        try:
            have = os.getxattr(path, key)
        except OSError:
            have = None
        if have is not None and have != wanted:
            raise CommandExecutionError(f"{path} belongs to another volume ({have.hex()}), not {name}")
        if have is None:
            os.setxattr(path, key, wanted)
        # The brick's own metadata directory, which its index translator needs.
        os.makedirs(os.path.join(path, ".glusterfs"), mode=0o600, exist_ok=True)
        done[name] = path
    return done


def mark_for_heal(node):
    """
    Run on a healthy peer while ``node``'s rebuilt bricks are still down: touch
    every volume's root (a directory created and removed, an attribute set and
    removed) through a private mount, so that the healthy bricks record that
    ``node``'s need everything; the self-heal then copies the whole tree.
    Granular entry heal is switched off first (it would record only the touched
    name); ``heal_and_wait`` switches it back on. Gluster's documented
    same-path brick replacement.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.mark_for_heal hyp2
    """
    marked = []
    for name in sorted(volume_info()):
        running = [
            n for n in volume_status(name) if n["path"].startswith("/") and _named(n, node) and n["online"]
        ]
        if running:
            raise CommandExecutionError(
                f"{node}'s brick of {name} is running: marking must happen before it starts"
            )
        _gluster("volume", "heal", name, "granular-entry-heal", "disable", xml=False)
        path = f"/run/hv-gluster-mark-{name}"
        os.makedirs(path, exist_ok=True)
        ret = __salt__["cmd.run_all"](
            ["mount", "-t", "glusterfs", f"localhost:/{name}", path], python_shell=False
        )
        if ret["retcode"] != 0:
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
        marked.append(name)
    return marked


def start_local_bricks():
    """
    Start this node's brick processes (``volume start VOL force``) for every
    volume with a brick here.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster.start_local_bricks
    """
    names = sorted({name for name, _, _ in _local_bricks()})
    for name in names:
        volume_start(name, force=True)
    deadline = time.monotonic() + 30
    while True:
        down = [
            name
            for name in names
            if not all(
                n["online"] for n in volume_status(name) if n["path"].startswith("/") and _me(n["hostname"])
            )
        ]
        if not down:
            return names
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"bricks of {down} did not come online")
        time.sleep(1)


def heal_and_wait(timeout=600):
    """
    Start a full heal of every volume and wait until no entry is left and no
    file is in split-brain; raise on timeout or split-brain.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.heal_and_wait
    """
    names = sorted(volume_info())
    deadline = time.monotonic() + int(timeout)
    for name in names:
        # The self-heal daemons take a few seconds to reach bricks just started.
        while True:
            try:
                heal(name, full=True)
                break
            except CommandExecutionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    pending = {}
    while True:
        pending = {}
        for name in names:
            for brick in heal_info(name):
                if brick["entries"] or brick["status"] != "Connected":
                    pending[brick["name"]] = f"{brick['status']}, {brick['entries']} entries"
        if not pending:
            break
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"heal not finished after {timeout}s: {pending}")
        time.sleep(2)
    split = {n: b["name"] for n in names for b in split_brain(n) if b["entries"]}
    if split:
        raise CommandExecutionError(f"split-brain entries after heal: {split}")
    for name in names:
        if volume_get(name, "cluster.granular-entry-heal") != "on":
            _gluster("volume", "heal", name, "granular-entry-heal", "enable", xml=False)
    return {name: "healed" for name in names}
