"""
peer_keys: the keys a host publishes to its peers, and reads back (F19, F20).

Each host sends ``peer_keys.public()`` to the Salt mine under ``hv_peer_keys``
(state ``peer_keys.published``):

- ``host_key``: its SSH host key (``/etc/ssh/ssh_host_ed25519_key.pub``), which
  the peers put in the migration user's known_hosts;
- ``migration_key``: the migration user's public key, which the peers authorize;
- ``tunnel_fingerprint``: the SHA256 fingerprint of its tunnel certificate
  (``AA:BB:…``, as ``openssl x509 -fingerprint -sha256`` prints it), which the
  peer's OpenVPN pins with ``peer-fingerprint``.
- ``gluster_cert``: with ``gluster:tls``, its gluster certificate (PEM), which
  every gluster node trusts (``glusterfs.ca`` in ``gluster:tls_dir``: ``gluster_ca``).
- ``sanlock_fire_timeout``: on a host that joins the lockspace, the watchdog fire
  timeout its sanlock uses (seconds), which every such host must share
  (state ``peer_keys.agreed``: sanlock judges a peer dead by its own value).

An item that does not exist yet is None. ``peer``, ``get`` and ``known_host``
read a peer's entry from the mine; the states call them through slots
(``__slot__:salt:peer_keys.get(hyp2, migration_key)``), so the values are read
when the state runs, after ``peer_keys.received`` saw them arrive.
"""

import logging
import os
import shutil

import hv_runtime
from salt.exceptions import CommandExecutionError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

log = logging.getLogger(__name__)

__virtualname__ = "peer_keys"
MINE_NAME = "hv_peer_keys"
ITEMS = ("host_key", "migration_key", "tunnel_fingerprint", "gluster_cert", "sanlock_fire_timeout")
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
# The tunnel certificate, under tunnels:openvpn_dir (salt/tunnels/tls.sls).
TUNNEL_CERT = "tls/host.crt"
# Gluster's certificate, in gluster:tls_dir (salt/gluster/tls*.sls).
GLUSTER_CERT = "glusterfs.pem"
KEY_TYPES = ("ssh-", "ecdsa-", "sk-")
# What to run on a host whose entry lacks an item.
HINTS = {
    "host_key": (
        "it needs an SSH host key {path} (openssh-server; `ssh-keygen -A` makes it), then "
        "`salt {host} state.apply peers.published`"
    ),
    "migration_key": "run `salt {host} state.apply peers.published` (it makes the key and publishes it)",
    "tunnel_fingerprint": (
        "run `salt {host} state.apply peers.published` (it makes the tunnel certificate and publishes "
        "its fingerprint)"
    ),
    "gluster_cert": "run `salt {host} state.apply gluster.tls` (it makes the certificate and publishes it)",
}


def __virtual__():
    return __virtualname__


def parse_public_key(text):
    """The first OpenSSH public key line of ``text`` (``type base64 [comment]``), or None."""
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].startswith(KEY_TYPES):
            return " ".join(fields)
    return None


def parse_fingerprint(pem):
    """The SHA256 fingerprint of a PEM certificate, upper-case hex pairs joined by colons."""
    if not HAS_CRYPTOGRAPHY:
        raise CommandExecutionError("the Python package cryptography is missing (a Salt dependency)")
    data = pem.encode() if isinstance(pem, str) else pem
    digest = x509.load_pem_x509_certificate(data).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


def _missing(entry, required):
    """The items of ``required`` that ``entry`` (a mine entry, or None) lacks."""
    return [item for item in required if not (entry or {}).get(item)]


def _hint(host, item):
    return f"{item} of {host} is missing: " + HINTS[item].format(host=host, path=HOST_KEY)


def _default_paths():
    """The migration user's public key, the tunnel certificate and gluster's, from the settings."""
    hv = __salt__["hypervisor_pillar.settings"]()
    return (
        f"{hv['migration']['key']}.pub",
        f"{hv['tunnels']['openvpn_dir']}/{TUNNEL_CERT}",
        f"{hv['gluster']['tls_dir']}/{GLUSTER_CERT}",
    )


def _certificate(path):
    """The PEM certificate at ``path`` (stripped, one trailing newline), or None."""
    pem = hv_runtime.read_text(path)
    if not pem:
        return None
    try:
        parse_fingerprint(pem)
    except ValueError as exc:
        raise CommandExecutionError(f"{path} is not a PEM certificate: {exc}") from exc
    return pem.strip() + "\n"


def public(
    host_key=HOST_KEY, migration_key=None, tunnel_cert=None, gluster_cert=None, sanlock_fire_timeout=None
):
    """
    What this host publishes to its peers: its SSH host key, the migration
    user's public key and the SHA256 fingerprint of its tunnel certificate
    (None for each one that does not exist), and the watchdog fire timeout given.

    host_key
        The SSH host public key file (default ``/etc/ssh/ssh_host_ed25519_key.pub``).
    migration_key
        The migration user's public key file (default: ``migration:key`` + ``.pub``).
    tunnel_cert
        The tunnel certificate (default: ``<tunnels:openvpn_dir>/tls/host.crt``).
    gluster_cert
        Gluster's certificate (default: ``<gluster:tls_dir>/glusterfs.pem``, made with ``gluster:tls``).
    sanlock_fire_timeout
        This host's sanlock watchdog fire timeout (an integer; None on a host without sanlock).

    CLI Example:

    .. code-block:: bash

        salt hyp1 peer_keys.public
    """
    if migration_key is None or tunnel_cert is None or gluster_cert is None:
        default_key, default_cert, default_gluster = _default_paths()
        migration_key = migration_key or default_key
        tunnel_cert = tunnel_cert or default_cert
        gluster_cert = gluster_cert or default_gluster
    cert = hv_runtime.read_text(tunnel_cert)
    try:
        fingerprint = parse_fingerprint(cert) if cert else None
    except ValueError as exc:
        raise CommandExecutionError(f"{tunnel_cert} is not a PEM certificate: {exc}") from exc
    return {
        "host_key": parse_public_key(hv_runtime.read_text(host_key)),
        "migration_key": parse_public_key(hv_runtime.read_text(migration_key)),
        "tunnel_fingerprint": fingerprint,
        "gluster_cert": _certificate(gluster_cert),
        "sanlock_fire_timeout": _seconds(sanlock_fire_timeout),
    }


def _seconds(value):
    """A positive whole number of seconds, or None; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CommandExecutionError(f"sanlock_fire_timeout: {value!r} is not a number of seconds")
    return value


def peer(name):
    """
    The entry host ``name`` published in the mine (``hv_peer_keys``), or None.

    CLI Example:

    .. code-block:: bash

        salt hyp1 peer_keys.peer hyp2
    """
    found = __salt__["mine.get"](name, MINE_NAME) or {}
    return found.get(name)


def get(name, item):
    """
    One item (``host_key``, ``migration_key``, ``tunnel_fingerprint``, ``gluster_cert``) of the
    entry host ``name`` published; raises, saying what to run on ``name``,
    when it has not published it.

    CLI Example:

    .. code-block:: bash

        salt hyp1 peer_keys.get hyp2 tunnel_fingerprint
    """
    if item not in ITEMS:
        raise CommandExecutionError(f"unknown item {item!r}: one of {', '.join(ITEMS)}")
    entry = peer(name)
    if _missing(entry, [item]):
        raise CommandExecutionError(_hint(name, item))
    return entry[item]


def gluster_ca(*hosts):
    """
    The gluster certificates of ``hosts`` (this host's from its file, the others' from
    the mine), one after the other in the order given: ``/etc/ssl/glusterfs.ca``, which
    makes gluster trust them. Raises, saying what to run, for a host that has none yet.

    CLI Example:

    .. code-block:: bash

        salt hyp1 peer_keys.gluster_ca arb1 hyp1 hyp2
    """
    me = __grains__["id"]
    own = _certificate(_default_paths()[2])
    parts = []
    for host in hosts:
        pem = own if host == me else get(host, "gluster_cert")
        if not pem:
            raise CommandExecutionError(_hint(host, "gluster_cert"))
        parts.append(pem)
    return "".join(parts)


def known_host(name):
    """
    Host ``name``'s SSH host key as known_hosts wants it: ``enc`` (its type)
    and ``key`` (the base64 part).

    CLI Example:

    .. code-block:: bash

        salt hyp1 peer_keys.known_host hyp2
    """
    enc, key = get(name, "host_key").split()[:2]
    return {"enc": enc, "key": key}


def write_public_key(private_key, user):
    """
    Write ``<private_key>.pub`` again from the private key (``ssh-keygen -y``), owned by
    ``user``, mode 0644: the public half of a key pair whose public file alone was lost.
    Returns the path written.

    CLI Example:

    .. code-block:: bash

        salt hyp1 peer_keys.write_public_key /root/.ssh/id_ed25519_hv root
    """
    ret = __salt__["cmd.run_all"](["ssh-keygen", "-y", "-f", private_key], runas=user, python_shell=False)
    if ret["retcode"] != 0:
        raise CommandExecutionError(
            f"ssh-keygen -y -f {private_key}: {ret['stderr'].strip() or ret['retcode']}"
        )
    path, partial = f"{private_key}.pub", f"{private_key}.pub.partial"
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "w", encoding="utf-8") as out:
        out.write(ret["stdout"].strip() + "\n")
    os.chmod(partial, 0o644)
    shutil.chown(partial, user)
    os.replace(partial, path)
    return path
