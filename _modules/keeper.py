"""
The keeper (B1): on each host that carries guests, a unit (``keeper:unit``)
keeps the cluster's guests running, with or without the master. It follows
libvirt's lifecycle events to tell why a guest stopped, keeps a record of the
guests it keeps (``<evacuation:state_dir>/keeper.json``, published for the
other hosts in ``keeper:hosts_dir`` on the shared volume) and, whenever this
host may take guests, starts again:

- a guest that ran here and was stopped by a fault (sanlock's kill when this
  host lost its leases, qemu killed or crashed, the host or libvirtd stopping
  under it), once this host holds its lockspace again;
- a ``running: true`` guest that runs nowhere, where the rule places it (its
  home, else the first other host that may take guests);
- the kept guests of a host that is drained, evacuating or gone cleanly.

A person's stop is never undone (``guests.stop``, ``virsh destroy``, ``virsh
shutdown``); for a ``running: true`` guest only ``guests.stop`` (its stop
mark) counts. sanlock's lease is the proof that a start is safe: a refused
start is tried again, never forced. A guest restarted ``keeper:max_restarts``
times within ``keeper:restart_window`` seconds that stops again is left down.
The rule is ``_utils/keeper_rule.py``'s, shared with the takeover (which
starts a dead host's kept guests elsewhere) and the status view. Every action
fires an event under ``hv/keeper/`` (with the reason the guest had stopped).
"""

import contextlib
import fcntl
import logging
import os

import hv_keeper
import hv_libvirt_events
import hv_runtime
import keeper_rule
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "keeper"
EVENTS = "hv/keeper"
LOCK = "keeper.lock"


def __virtual__():
    if hv_libvirt_events.libvirt is None:
        return (False, "libvirt-python is not installed")
    return __virtualname__


def _settings(settings_cache=None):
    """The cluster settings: the pillar's, else the units' settings copy (no secret)."""
    return hv_runtime.settings(__pillar__, lambda: __salt__["hypervisor_pillar.settings"](), settings_cache)


def _event(tag, data):
    """Fire ``hv/keeper/<tag>`` (B4); the journal keeps it when the bus cannot."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data)


def _keeper(hv, source):
    """The keeper's state and look (``hv_keeper.Keeper``), with this module's Salt."""
    return hv_keeper.Keeper(hv, source, __salt__, _event)


@contextlib.contextmanager
def _only_watcher(hv):
    """One keeper per host: an exclusive lock in the state directory."""
    os.makedirs(hv["evacuation"]["state_dir"], mode=0o700, exist_ok=True)
    with open(os.path.join(hv["evacuation"]["state_dir"], LOCK), "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CommandExecutionError(
                f"another keeper runs on {hv['me']['name']} (the {hv['keeper']['unit']} unit)"
            ) from None
        yield


def watch(settings_cache=None, passes=0):
    """
    The loop the keeper unit runs: a look at once, then whenever libvirt reports a
    guest starting or stopping, and every ``keeper:poll_interval`` seconds; it ends
    after a look once ``saltutil.sync_all`` changed this host's modules (its unit
    starts the new code).
    ``passes``: stop after that many looks (0: never). Returns the last record.

    CLI Example:

    .. code-block:: bash

        salt-call keeper.watch passes=1
    """
    hv = _settings(settings_cache)
    if not hv["keeper"]["enabled"]:
        return {"enabled": False}
    with _only_watcher(hv):
        keeper = _keeper(hv, hv_libvirt_events.LibvirtEvents())
        events, done, ret = [], 0, {}
        code = hv_runtime.code_stamp()
        while True:
            try:
                ret = keeper.step(events)
            except Exception as exc:  # a look that fails is logged, the next one may work
                log.error("keeper: look failed: %s", exc, exc_info=True)
                ret = {"error": str(exc)}
            done += 1
            if passes and done >= passes:
                return ret
            if hv_runtime.code_stamp() != code:
                log.warning("keeper: this host's modules were synced anew: the unit starts the new code")
                return ret
            events = keeper.libvirt.wait(hv["keeper"]["poll_interval"])


def status(settings_cache=None):
    """
    This host's keeper as its unit last wrote it: ``{"enabled", "host", "at",
    "lockspace", "drained", "evacuating", "guests" ({name: {"state": running |
    down | gave_up, "since", "why", "restarts"}}), "acting" ({name: what it does
    about that guest})}``.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors keeper.status
    """
    hv = _settings(settings_cache)
    record = keeper_rule.clean_record(hv_runtime.read_json(hv_keeper.record_path(hv)), hv["guests"])
    return dict(record, enabled=bool(hv["keeper"]["enabled"]))


def stop_marks(settings_cache=None):
    """
    The ``running: true`` guests a person keeps down (``guests.stop``, ``guests.save``):
    ``{name: {"guest", "verb", "host", "at"}}``, from the shared volume.

    CLI Example:

    .. code-block:: bash

        salt-call keeper.stop_marks
    """
    hv = _settings(settings_cache)
    return keeper_rule.read_marks(hv["keeper"]["stopped_dir"], hv["guests"])


def records(settings_cache=None):
    """
    What every host's keeper last published on the shared volume, by host (see
    ``keeper.status``): the takeover starts a dead host's kept guests from it.

    CLI Example:

    .. code-block:: bash

        salt-call keeper.records
    """
    hv = _settings(settings_cache)
    return keeper_rule.read_records(hv["keeper"]["hosts_dir"], hv["hosts"], hv["guests"])
