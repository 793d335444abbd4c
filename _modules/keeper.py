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
import queue
import threading
import time

try:
    import libvirt

    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

import hv_incidents
import hv_runtime
import keeper_rule

try:
    from salt.exceptions import CommandExecutionError
except ImportError:
    CommandExecutionError = RuntimeError

log = logging.getLogger(__name__)

__virtualname__ = "keeper"
URI = "qemu:///system"
EVENTS = "hv/keeper"
RECORD = "keeper.json"  # in evacuation:state_dir, written by the unit only
LOCK = "keeper.lock"
OWN_START = 120  # seconds within which a STARTED event answers the keeper's own start
UNEXPLAINED = 3  # seconds a recorded guest may be shut off before its stop is judged without an event
ACTIVE = (1, 2, 3, 4, 7)  # libvirt's running, blocked, paused, shutting down, suspended
_EVENT_LOOP = {"started": False}


def __virtual__():
    if not HAS_LIBVIRT:
        return (False, "libvirt-python is not installed")
    return __virtualname__


def _settings(settings_cache=None):
    """The cluster settings: the pillar's, else the units' settings copy (no secret)."""
    return hv_runtime.settings(__pillar__, lambda: __salt__["hypervisor_pillar.settings"](), settings_cache)


def _event(tag, data):
    """Fire ``hv/keeper/<tag>`` (B4); the journal keeps it when the bus cannot."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data)


def _record_path(hv):
    return os.path.join(hv["evacuation"]["state_dir"], RECORD)


# ------------------------------------------------------------------ libvirt's events


class _Libvirt:
    """One connection to libvirtd and its lifecycle events, queued as
    ``(guest, event, detail)`` by libvirt's event loop thread."""

    def __init__(self):
        self.events = queue.Queue()
        self.conn = None
        self.closed = threading.Event()
        if not _EVENT_LOOP["started"]:  # once per process, before any connection
            libvirt.virEventRegisterDefaultImpl()
            threading.Thread(target=_run_event_loop, daemon=True, name="libvirt-events").start()
            _EVENT_LOOP["started"] = True

    def _lifecycle(self, _conn, dom, event, detail, _opaque):
        self.events.put((dom.name(), event, detail))

    def connected(self):
        """The connection, opened again after libvirtd went away (None while it is away)."""
        if self.conn is not None and not self.closed.is_set():
            return self.conn
        self.close()
        try:
            conn = libvirt.open(URI)
            conn.registerCloseCallback(lambda *_args: self.closed.set(), None)
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None)
            conn.setKeepAlive(5, 3)
        except libvirt.libvirtError as exc:
            log.warning("keeper: libvirt (%s): %s", URI, exc)
            return None
        self.conn = conn
        self.closed.clear()
        return conn

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self.conn.close()
        self.conn = None

    def wait(self, timeout):
        """The events queued within ``timeout`` seconds (returns at the first one)."""
        try:
            first = self.events.get(timeout=timeout)
        except queue.Empty:
            return []
        return [first, *self.drain()]

    def drain(self):
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.events.get_nowait())
        return out

    def domains(self):
        """``{name: (state, reason)}`` of every guest libvirt knows here."""
        conn = self.connected()
        if conn is None:
            raise CommandExecutionError("libvirtd does not answer")
        return {dom.name(): tuple(dom.state()) for dom in conn.listAllDomains()}


def _run_event_loop():
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception as exc:  # keep the loop: a failed iteration must not end the events
            log.warning("keeper: libvirt event loop: %s", exc)
            time.sleep(1)


# ------------------------------------------------------------------ the keeper


class _Keeper:
    """What one host's keeper knows and does; ``step`` is one look."""

    def __init__(self, hv, source):
        """``source``: libvirt's guests and their lifecycle events (``_Libvirt``)."""
        self.hv = hv
        self.me = hv["me"]["name"]
        self.cfg = hv["keeper"]
        self.guests = hv.get("guests") or {}
        self.members = [h for h in hv["tunnels"]["members"] if h in hv["hosts"]]
        self.host_ids = {h["host_id"]: n for n, h in hv["hosts"].items() if h.get("host_id") is not None}
        saved = keeper_rule.clean_record(hv_runtime.read_json(_record_path(hv)), self.guests)
        self.entries = saved["guests"]
        self.libvirt = source
        self.shutdowns = {}  # guest: the SHUTDOWN event's detail since it started
        self.own = {}  # guest: monotonic time of the keeper's own start
        self.attempts = {}  # guest: times of failed starts of a guest not on record here
        self.unexplained = {}  # guest: monotonic time it was first found shut off while recorded running
        self.said = set()  # (guest, tag, why): events sent once per cause
        self.facts = {}
        self.acting = {}
        self.written = None
        self.published = None

    # ---------------------------------------------------------- what happened

    def _entry(self, name, state, why, restarts=None, counted=None):
        """Set guest ``name``'s entry; ``counted``: whether its restart from this state
        counts toward the crash-loop bound (a fault of its own, not of its host)."""
        old = self.entries.get(name) or {}
        self.entries[name] = {
            "state": state,
            "since": hv_runtime.now() if old.get("state") != state or old.get("why") != why else old["since"],
            "why": why,
            "restarts": old.get("restarts", []) if restarts is None else restarts,
            "counted": old.get("counted", True) if counted is None else counted,
        }
        return self.entries[name]

    def _give_up(self, name, why, restarts):
        self._entry(name, keeper_rule.GAVE_UP, f"{why}, after {len(restarts)} restarts", restarts)
        _event(
            "gave_up",
            {
                "guest": name,
                "host": self.me,
                "why": why,
                "restarts": len(restarts),
                "window": self.cfg["restart_window"],
            },
        )

    def _may_restart(self, restarts):
        return keeper_rule.may_restart(
            restarts, time.time(), self.cfg["max_restarts"], self.cfg["restart_window"]
        )

    def _lockspace_lost(self):
        try:
            return not __salt__["sanlock.status"]()["can_take_guests"]
        except Exception:  # sanlock does not answer: its leases are gone too
            return True

    def on_events(self, events):
        lost = None
        for name, event, detail in events:
            if name not in self.guests:
                continue  # not the cluster's guest: left alone
            if event == keeper_rule.EVENT_SHUTDOWN:
                self.shutdowns[name] = detail
            elif event in (keeper_rule.EVENT_STARTED, keeper_rule.EVENT_RESUMED):
                here, how = keeper_rule.arrived(event, detail)
                if here:
                    self._started(name, how)
            elif event == keeper_rule.EVENT_STOPPED:
                if lost is None:
                    lost = self._lockspace_lost()
                kind, why = keeper_rule.stop_kind(detail, self.shutdowns.pop(name, None), lost)
                self._stopped(name, kind, why)

    def _started(self, name, how):
        self.shutdowns.pop(name, None)
        self.unexplained.pop(name, None)
        own = time.monotonic() - self.own.pop(name, -OWN_START) < OWN_START
        old = self.entries.get(name) or {}
        restarts = old.get("restarts", []) if own else []  # someone else started it: counted afresh
        self._entry(name, keeper_rule.RUNNING, how, restarts)
        if not own and hv_runtime.read_json(self._mark_path(name)) is not None:
            with contextlib.suppress(OSError):  # a person started it by hand: no longer kept down
                os.unlink(self._mark_path(name))

    def _stopped(self, name, kind, why):
        self.unexplained.pop(name, None)
        if kind == keeper_rule.MOVED:
            self.entries.pop(name, None)
            return
        # The pillar keeps a running: true guest a person destroyed behind the cluster's
        # back; guests.stop's mark keeps it down.
        pillar = bool(self.guests[name].get("running")) and not (
            kind == keeper_rule.PERSON and self._marked(name)
        )
        if kind == keeper_rule.PERSON and not pillar:
            if self.entries.pop(name, None) is not None:
                _event("released", {"guest": name, "host": self.me, "why": why})
            return
        if name not in self.entries and not pillar:
            return  # it never ran here: an incoming migration or a start that failed
        entry = self.entries.get(name) or {}
        restarts = keeper_rule.recent(entry.get("restarts"), time.time(), self.cfg["restart_window"])
        if kind == keeper_rule.PERSON:
            why = f"{why}; running: true in the pillar (guests.stop keeps it down)"
        counted = kind != keeper_rule.HOST_FAULT
        if counted and not self._may_restart(restarts):
            self._give_up(name, why, restarts)
            return
        self._entry(name, keeper_rule.DOWN, why, restarts, counted)
        _event("down", {"guest": name, "host": self.me, "why": why, "kind": kind})

    def reconcile(self, domains):
        """Align the record with what libvirt shows: a guest running here is kept; one
        recorded running and shut off without an event (the keeper or libvirtd was
        not running) is judged by libvirt's shutoff reason."""
        now = time.monotonic()
        for name in self.guests:
            state, reason = domains.get(name, (None, None))
            entry = self.entries.get(name)
            if keeper_rule.incoming(state, reason):
                continue  # a migration coming in: the guest is not here until it ends
            if state in ACTIVE:
                if not entry or entry["state"] != keeper_rule.RUNNING:
                    self._entry(
                        name, keeper_rule.RUNNING, "found running here", (entry or {}).get("restarts")
                    )
                self.unexplained.pop(name, None)
            elif entry and entry["state"] == keeper_rule.RUNNING:
                first = self.unexplained.setdefault(name, now)
                if now - first >= UNEXPLAINED:
                    self._stopped(name, *keeper_rule.unseen_stop_kind(reason if state == 5 else None))

    # ---------------------------------------------------------- this host

    def _mark_path(self, name):
        return os.path.join(self.cfg["stopped_dir"], f"{name}.json")

    def _marked(self, name):
        try:
            return os.path.exists(self._mark_path(name))
        except OSError:  # the shared volume does not answer: the look at the marks decides later
            return False

    def _my_facts(self):
        """Whether this host may take guests: its lockspace, drain mark, evacuation."""
        drained = __salt__["guests.drained"](settings_cache=self.hv["settings_cache"])
        evacuating = __salt__["guests.evacuating"](settings_cache=self.hv["settings_cache"])
        return {
            "lockspace": not self._lockspace_lost(),
            "drained": bool(drained["drained"]),
            "evacuating": bool(evacuating["evacuating"]),
        }

    def _before_starting(self, mine):
        """The facts worth a look only when this host is about to start a guest: is it
        shutting down, is there an open takeover incident against it (its takeover
        watcher marks it drained within a look)."""
        if "stopping" not in mine:
            mine["stopping"] = _system_stopping()
            mine["held"] = self._held()

    def _held(self):
        try:
            return bool(hv_incidents.open_against(self.hv, self.me))
        except OSError:
            return True  # the incidents cannot be read: nothing is started on a maybe

    def record(self):
        return {
            "host": self.me,
            "lockspace": self.facts.get("lockspace"),
            "drained": self.facts.get("drained"),
            "evacuating": bool(self.facts.get("evacuating") or self.facts.get("stopping")),
            "guests": dict(sorted(self.entries.items())),
            "acting": dict(sorted(self.acting.items())),
        }

    def save(self):
        """Write the record here (for the status view) and on the shared volume (for the
        other hosts), each when it changed; the shared copy again after a failure."""
        record = self.record()
        if record != self.written:
            hv_runtime.write_json(_record_path(self.hv), dict(record, at=hv_runtime.now()))
            self.written = record
        if record != self.published:
            try:
                hv_runtime.write_json(
                    os.path.join(self.cfg["hosts_dir"], f"{self.me}.json"), dict(record, at=hv_runtime.now())
                )
                self.published = record
            except OSError as exc:  # the shared volume does not answer here: next look
                log.info("keeper: cannot publish the record: %s", exc)

    # ---------------------------------------------------------- acting

    def _say(self, tag, data, why):
        key = (data["guest"], tag, why)
        if key not in self.said:
            self.said = {k for k in self.said if k[0] != data["guest"]} | {key}
            _event(tag, dict(data, why=why))

    def _lease_states(self):
        rows = __salt__["sanlock.host_status"](
            watchdog_fire_timeout=self.hv["timings"]["watchdog_fire_timeout"]
        )
        states = {}
        for host_id, row in rows.items():
            name = self.host_ids.get(int(host_id))
            if name is not None:
                states[name] = row["state"]
        return rows, states

    def candidates(self, domains, records, lease_states):
        """Kept guests that no host is known to run: not here, and no record of a host
        that is there (its lease live, or failing: it may still run it) shows it
        running. The down ones of every record, those recorded running on a host that
        is gone (dead, left), and the ``running: true`` guests no record shows."""
        running_here = {n for n, (state, _reason) in domains.items() if state in ACTIVE}
        out = []
        for name, guest in self.guests.items():
            if name in running_here or name in self.unexplained:
                continue  # it runs here, or its stop is not judged yet
            if self._runs_elsewhere(name, records, lease_states):
                continue
            if guest.get("running") or any(name in (r.get("guests") or {}) for r in records.values()):
                out.append(name)
        return out

    def _runs_elsewhere(self, name, records, lease_states):
        """The other host that is there and whose keeper saw ``name`` start there last, or None."""
        for host, record in sorted(records.items()):
            entry = (record.get("guests") or {}).get(name) or {}
            there = lease_states.get(host) in ("live", "fail")
            if host != self.me and entry.get("state") == keeper_rule.RUNNING and there:
                return host
        return None

    def act(self, domains):
        """Start what this host should start now; note what it waits for."""
        self.acting = {}
        try:
            records = keeper_rule.read_records(self.cfg["hosts_dir"], self.members, self.guests)
            marks = keeper_rule.read_marks(self.cfg["stopped_dir"], self.guests)
        except OSError as exc:
            for name, entry in self.entries.items():
                if entry["state"] == keeper_rule.DOWN:
                    self.acting[name] = (
                        f"waits: the shared volume does not answer here ({exc.strerror or exc})"
                    )
            return
        records[self.me] = self.record()
        try:
            rows, lease_states = self._lease_states()
        except Exception as exc:  # no lockspace here: how the others' leases stand is unknown
            rows, lease_states = {}, {}
            log.debug("keeper: host_status: %s", exc)
        self._forget_what_runs_elsewhere(records, lease_states, rows)
        mine = dict(self.facts)
        args = (
            self.me,
            mine,
            records,
            lease_states,
            marks,
            self.members,
            bool(self.hv["takeover"]["enabled"]),
        )
        for name in self.candidates(domains, records, lease_states):
            if not lease_states and name not in self.entries:
                continue  # without a view of the others' leases, only this host's own guests
            guest = self.guests[name]
            decision = keeper_rule.decide(name, guest, *args)
            if decision["start"] == self.me:
                self._before_starting(mine)  # updates mine: args sees it
                decision = keeper_rule.decide(name, guest, *args)
            holder, _entry = keeper_rule.holder(name, records)
            if decision["kept"] is None:
                if name in marks:
                    self.entries.pop(name, None)  # a person keeps it down: not this host's to keep
            elif decision["start"] == self.me:
                self.acting[name] = self._start(name, guest, rows, moved=holder not in (None, self.me))
            elif holder == self.me or (holder is None and guest.get("home") == self.me):
                self.acting[name] = decision["doing"]

    def _lease_holder(self, guest, rows):
        lease = __salt__["sanlock.guest_lease"](guest["disk_path"])
        return keeper_rule.lease_holder(lease, self.host_ids, rows)

    def _forget_what_runs_elsewhere(self, records, lease_states, rows):
        """A guest recorded down here that another host runs now (a takeover, a person's
        start there): its lease proves it, and it is no longer this host's to start."""
        for name, entry in list(self.entries.items()):
            other = self._runs_elsewhere(name, records, lease_states)
            if entry["state"] == keeper_rule.RUNNING or other is None or not rows:
                continue
            try:
                host, state = self._lease_holder(self.guests[name], rows)
            except Exception as exc:  # the lease cannot be read now: the next look
                log.debug("keeper: lease of %s: %s", name, exc)
                continue
            if host == other and state == "live":
                del self.entries[name]
                _event("elsewhere", {"guest": name, "host": self.me, "runs_on": host})

    def _start(self, name, guest, rows, moved):
        """Start kept guest ``name`` here, unless its lease says it runs elsewhere or the
        crash-loop bound is reached; what happened, in words. A guest that did not run
        here (its place yields) gets an entry only once it starts: until then nothing on
        record makes it this host's."""
        held = self.entries.get(name)
        if not rows and held is None:
            return "waits: this host does not see the other hosts' leases"
        if rows:
            try:
                host, state = self._lease_holder(guest, rows)
            except Exception as exc:  # the lease cannot be read: nothing is started on a maybe
                return f"waits: its lease cannot be read ({exc})"
            if host not in (None, self.me):
                if state == "live":
                    if self.entries.pop(name, None) is not None:
                        _event("elsewhere", {"guest": name, "host": self.me, "runs_on": host})
                    return f"runs on {host} (its lease)"
                self._say(
                    "refused", {"guest": name, "host": self.me}, f"its lease is held by {host} ({state})"
                )
                return f"waits: its lease is held by {host}, whose renewals fail"
        why = (
            held["why"]
            if held
            else ("running: true, and running nowhere" if guest.get("running") else "down")
        )
        counted = held.get("counted", True) if held else False
        window = self.cfg["restart_window"]
        restarts = keeper_rule.recent(
            held["restarts"] if held else self.attempts.get(name), time.time(), window
        )
        if counted and not self._may_restart(restarts):
            self._give_up(name, why, restarts)
            return "left down: too many restarts"
        attempt = [*restarts, time.time()]  # a failed start counts, whatever stopped the guest
        self.own[name] = time.monotonic()
        try:
            result = __salt__["guests.start"](name, settings_cache=self.hv["settings_cache"], keeper=True)
        except Exception as exc:  # a drain or a held mark came in meanwhile
            self.own.pop(name, None)
            return f"not started: {exc}"
        outcome = result.get("outcome")
        if outcome in ("started", "restored"):
            self.attempts.pop(name, None)
            kept = attempt if counted else restarts
            self._entry(name, keeper_rule.RUNNING, f"restarted by the keeper ({why})", kept, counted)
            _event(
                "started",
                {"guest": name, "host": self.me, "why": why, "outcome": outcome, "restarts": len(kept)},
            )
            if moved or guest.get("home") != self.me:
                self._follow_failover(name, guest)
            return f"{outcome} here"
        self.own.pop(name, None)
        if outcome == "running":
            return "runs here"
        if outcome == "elsewhere":
            self._say(
                "refused", {"guest": name, "host": self.me}, result.get("why") or "sanlock refused its lease"
            )
            return f"retried: {result.get('why')}"
        if held:
            self._entry(name, keeper_rule.DOWN, why, attempt, counted=True)
        else:
            self.attempts[name] = attempt
            if not self._may_restart(attempt):
                self._give_up(name, f"{why}; its start failed: {result.get('why')}", attempt)
        self._say("failed", {"guest": name, "host": self.me}, result.get("why") or "start failed")
        return f"start failed, retried: {result.get('why')}"

    def _follow_failover(self, name, guest):
        """A guest started away from where its failover IPs are routed: they follow it
        (with the pillar only: the API token is never in the settings copy)."""
        if (
            not guest.get("failover_ips")
            or self.hv.get("offline")
            or "guests.follow_failover" not in __salt__
        ):
            return
        try:
            __salt__["guests.follow_failover"]()
        except Exception as exc:  # the guest runs; its IPs are the status view's problem
            log.warning("keeper: the failover IPs of %s did not follow it: %s", name, exc)

    # ---------------------------------------------------------- one look

    def step(self, events):
        self.on_events(events + self.libvirt.drain())
        domains = self.libvirt.domains()
        self.reconcile(domains)
        self.facts = self._my_facts()
        self.act(domains)
        self.save()
        return self.record()


def _system_stopping():
    """Whether systemd is shutting this host down (the evacuation ran or runs)."""
    try:
        state = __salt__["cmd.run"](
            ["systemctl", "is-system-running"], python_shell=False, ignore_retcode=True
        )
    except Exception:  # no systemd: never stopping
        return False
    return state.strip() == "stopping"


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
    guest starting or stopping, and every ``keeper:poll_interval`` seconds.
    ``passes``: stop after that many looks (0: never). Returns the last record.

    CLI Example:

    .. code-block:: bash

        salt-call keeper.watch passes=1
    """
    hv = _settings(settings_cache)
    if not hv["keeper"]["enabled"]:
        return {"enabled": False}
    with _only_watcher(hv):
        keeper = _Keeper(hv, _Libvirt())
        events, done, ret = [], 0, {}
        while True:
            try:
                ret = keeper.step(events)
            except Exception as exc:  # a look that fails is logged, the next one may work
                log.error("keeper: look failed: %s", exc, exc_info=True)
                ret = {"error": str(exc)}
            done += 1
            if passes and done >= passes:
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
    record = keeper_rule.clean_record(hv_runtime.read_json(_record_path(hv)), hv.get("guests") or {})
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
    return keeper_rule.read_marks(hv["keeper"]["stopped_dir"], hv.get("guests") or {})


def records(settings_cache=None):
    """
    What every host's keeper last published on the shared volume, by host (see
    ``keeper.status``): the takeover starts a dead host's kept guests from it.

    CLI Example:

    .. code-block:: bash

        salt-call keeper.records
    """
    hv = _settings(settings_cache)
    return keeper_rule.read_records(hv["keeper"]["hosts_dir"], hv["hosts"], hv.get("guests") or {})
