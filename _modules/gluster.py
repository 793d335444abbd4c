"""
GlusterFS through ``gluster --mode=script --xml`` (F13, F17; status B3).

Salt 3008 has no gluster module any more. This one runs the CLI with an
argument list, parses its XML, and raises ``CommandExecutionError`` carrying
gluster's own message (``opErrstr``) when a command fails. The parsers are
plain functions of the XML text (``parse_*``), unit-tested on outputs captured
from the lab (tests/unit/fixtures/gluster/). Rebuilding a reinstalled node
(F28) is in ``gluster_rebuild``, built on the operations here.
"""

import logging
import shutil
import xml.etree.ElementTree as ET

from salt.exceptions import CommandExecutionError

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


def _gluster(*args, xml=True, remote_host=None):
    """Run ``gluster --mode=script [--xml] [--remote-host=HOST] ARGS``; return its output.

    A few commands (``volume heal VOL full``) answer in plain text only: with
    ``xml=False`` the exit code alone tells success. ``remote_host`` asks
    another node's glusterd (what it knows, not what this node knows).
    """
    cmd = ["gluster", "--mode=script", *(["--xml"] if xml else [])]
    cmd += [f"--remote-host={remote_host}"] if remote_host else []
    cmd += [str(a) for a in args]
    ret = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=True, output_loglevel="debug")
    if ret["retcode"] != 0 and not ret["stdout"].lstrip().startswith("<"):
        raise CommandExecutionError(
            f"gluster {' '.join(map(str, args))}: {(ret['stderr'] or ret['stdout']).strip()}"
        )
    return ret["stdout"]


def peer_status(remote_host=None):
    """
    The other peers of this node (or of ``remote_host``), with their connection state.

    remote_host
        Ask that node's glusterd instead of this one's.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' gluster.peer_status
        salt hyp2 gluster.peer_status remote_host=hyp1
    """
    return parse_peers(_gluster("peer", "status", remote_host=remote_host))


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


def volume_info(name=None, remote_host=None):
    """
    Volumes (all, or ``name``): status, type, replica/arbiter counts, bricks, options.

    Returns ``{}`` when ``name`` does not exist.

    remote_host
        Ask that node's glusterd instead of this one's.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_info
        salt hyp1 gluster.volume_info vmstore
        salt hyp2 gluster.volume_info remote_host=hyp1
    """
    args = ["volume", "info", *([name] if name else [])]
    try:
        return parse_volume_info(_gluster(*args, remote_host=remote_host))
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


def volume_add_brick(name, bricks, replica, arbiter=0, force=False):
    """
    Add ``bricks`` to volume ``name``, raising its copies to ``replica`` (B8: a two-host
    volume given its third brick: replica 3, or replica 3 arbiter 1 with an arbiter's).
    Self-heal then copies the data to the new brick; nothing is removed.

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.volume_add_brick vmstore '[hyp3:/mnt/bricks/vmstore/brick]' 3
    """
    args = ["volume", "add-brick", name, "replica", int(replica)]
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


def heal_granular(name, enable):
    """
    Switch granular entry heal of volume ``name`` on or off (F28 turns it off
    while it marks a whole volume for heal, then on again).

    CLI Example:

    .. code-block:: bash

        salt hyp1 gluster.heal_granular vmstore False
    """
    action = "enable" if enable else "disable"
    _gluster("volume", "heal", name, "granular-entry-heal", action, xml=False)
    return True


def volume_sync(host, name="all"):
    """
    Copy volume ``name``'s definition (or every volume's) from ``host`` to this
    node (a rebuilt node, F28). ``all`` is refused once some volume exists here.

    CLI Example:

    .. code-block:: bash

        salt hyp2 gluster.volume_sync hyp1
        salt hyp2 gluster.volume_sync hyp1 vmstore
    """
    parse_root(_gluster("volume", "sync", host, name))
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
