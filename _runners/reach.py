"""
reach: whether the master reaches a cluster host (R5), for the host itself.

After a firewall or network change a host asks, through
``publish.runner("reach.ssh", arg=[<its id>])``, whether the master can still
open its SSH port; the ``safe_apply`` engine rolls the change back otherwise.
The address and port come from the cluster pillar as the master compiles it
for that host (``hypervisor:hosts:<id>:public:address``,
``hypervisor:firewall:ssh_port``), never from the asking minion, so a minion
cannot make the master connect elsewhere.

The master needs (see ``master.d/hypervisor.conf``)::

    peer_run:
      '.*':
        - reach.ssh
    runner_dirs:
      - /srv/hypervisor/_runners
"""

import logging
import re
import socket

log = logging.getLogger(__name__)

__virtualname__ = "reach"
MINION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
TIMEOUT = 5  # seconds, connection and banner together


def __virtual__():
    return __virtualname__


def _target(pillar, minion_id):
    """(address, port) of ``minion_id``'s SSH in its cluster pillar, or None."""
    cluster = (pillar or {}).get("hypervisor") or {}
    host = (cluster.get("hosts") or {}).get(minion_id)
    address = ((host or {}).get("public") or {}).get("address")
    if not address:
        return None
    return address, int((cluster.get("firewall") or {}).get("ssh_port", 22))


def _answers_ssh(address, port):
    """A TCP connection within TIMEOUT seconds, and an SSH banner on it."""
    timeout = TIMEOUT
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(255).startswith(b"SSH-")
    except OSError as exc:
        log.info("reach.ssh: %s:%s does not answer: %s", address, port, exc)
        return False


def ssh(minion_id):
    """
    True when the master opens an SSH connection to ``minion_id``'s public
    address and port (from the cluster pillar) within 5 s; False otherwise,
    and for an id the cluster pillar does not describe.

    CLI Example:

    .. code-block:: bash

        salt-run reach.ssh hyp1
    """
    if not isinstance(minion_id, str) or not MINION_ID.match(minion_id):
        log.warning("reach.ssh: refused a malformed minion id %r", minion_id)
        return False
    pillar = __salt__["pillar.show_pillar"](minion_id)
    target = _target(pillar, minion_id)
    if target is None:
        log.warning("reach.ssh: %s is not a host of the cluster pillar", minion_id)
        return False
    return _answers_ssh(*target)
