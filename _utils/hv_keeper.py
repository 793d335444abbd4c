"""
hv_keeper: what one host's keeper knows and does, one look at a time (B1; the
keeper module's docstring says what it keeps and why): libvirt's lifecycle
events tell why a guest stopped, the record says what this host keeps, the
rule (``keeper_rule``) says who starts a kept guest that runs nowhere, and a
start goes through ``guests.start`` (sanlock's lease decides). Plain Python:
the keeper module hands in ``__salt__`` and its event function.
"""

import contextlib
import logging
import os
import time

import hv_incidents
import hv_marks
import hv_runtime
import keeper_rule

log = logging.getLogger(__name__)

RECORD = "keeper.json"  # in evacuation:state_dir, written by the unit only
OWN_START = 120  # seconds within which a STARTED event answers the keeper's own start
UNEXPLAINED = 3  # seconds a recorded guest may be shut off before its stop is judged without an event
ACTIVE = (1, 2, 3, 4, 7)  # libvirt's running, blocked, paused, shutting down, suspended
RUNNING = 1  # libvirt's running: not an incoming migration (paused) nor a guest leaving
FOLLOW_EVERY = 60  # seconds between two moves of owed failover IPs the keeper tries


def record_path(hv):
    return os.path.join(hv["evacuation"]["state_dir"], RECORD)


class Keeper:
    """What one host's keeper knows and does; ``step`` is one look."""

    def __init__(self, hv, source, salt, event):
        """``source``: libvirt's guests and their lifecycle events
        (``hv_libvirt_events.LibvirtEvents``); ``salt``: ``__salt__`` (sanlock, guests,
        cmd); ``event(tag, data)``: fires ``hv/keeper/<tag>``."""
        self.hv = hv
        self.salt = salt
        self.event = event
        self.me = hv["me"]["name"]
        self.cfg = hv["keeper"]
        self.guests = hv["guests"]
        self.members = [h for h in hv["tunnels"]["members"] if h in hv["hosts"]]
        self.host_ids = {h["host_id"]: n for n, h in hv["hosts"].items() if h.get("host_id") is not None}
        saved = keeper_rule.clean_record(hv_runtime.read_json(record_path(hv)), self.guests)
        self.entries = saved["guests"]
        self.libvirt = source
        self.shutdowns = {}  # guest: the SHUTDOWN event's detail since it started
        self.own = {}  # guest: monotonic time of the keeper's own start
        self.attempts = {}  # guest: times of failed starts of a guest not on record here
        self.unexplained = {}  # guest: monotonic time it was first found shut off while recorded running
        self.said = set()  # (guest, tag, why): events sent once per cause
        self.facts = {}
        self.acting = {}
        self.capacity = None  # this host's, for placement (B8): read at each look
        self.written = None
        self.published = None
        self.owed = {}  # failover IP of a guest running here, routed elsewhere: monotonic time first seen
        self.followed_at = None  # monotonic time of the keeper's last try to move owed IPs

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
        self.event(
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
            return not self.salt["sanlock.status"]()["can_take_guests"]
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
                self.event("released", {"guest": name, "host": self.me, "why": why})
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
        self.event("down", {"guest": name, "host": self.me, "why": why, "kind": kind})

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

    def _system_stopping(self):
        """Whether systemd is shutting this host down (the evacuation ran or runs)."""
        try:
            state = self.salt["cmd.run"](
                ["systemctl", "is-system-running"], python_shell=False, ignore_retcode=True
            )
        except Exception:  # no systemd: never stopping
            return False
        return state.strip() == "stopping"

    def _mark_path(self, name):
        return hv_marks.stop_mark_path(self.hv, name)

    def _marked(self, name):
        try:
            return os.path.exists(self._mark_path(name))
        except OSError:  # the shared volume does not answer: the look at the marks decides later
            return False

    def _my_facts(self):
        """Whether this host may take guests: its lockspace, drain mark, evacuation."""
        drained = self.salt["guests.drained"](settings_cache=self.hv["settings_cache"])
        evacuating = self.salt["guests.evacuating"](settings_cache=self.hv["settings_cache"])
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
            mine["stopping"] = self._system_stopping()
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
            "capacity": self.capacity,
        }

    def save(self):
        """Write the record here (for the status view) and on the shared volume (for the
        other hosts), each when it changed; the shared copy again after a failure."""
        record = self.record()
        if record != self.written:
            hv_runtime.write_json(record_path(self.hv), dict(record, at=hv_runtime.now()))
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
            self.event(tag, dict(data, why=why))

    def _lease_states(self):
        rows = self.salt["sanlock.host_status"](
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
        lease = self.salt["sanlock.guest_lease"](guest["disk_path"])
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
                self.event("elsewhere", {"guest": name, "host": self.me, "runs_on": host})

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
                        self.event("elsewhere", {"guest": name, "host": self.me, "runs_on": host})
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
        attempt = [*restarts, time.time()]  # a failed start counts, unless this host's side failed it
        self.own[name] = time.monotonic()
        try:
            result = self.salt["guests.start"](name, settings_cache=self.hv["settings_cache"], keeper=True)
        except Exception as exc:  # a drain or a held mark came in meanwhile
            self.own.pop(name, None)
            return f"not started: {exc}"
        outcome = result.get("outcome")
        if outcome in ("started", "restored"):
            self.attempts.pop(name, None)
            kept = attempt if counted else restarts
            self._entry(name, keeper_rule.RUNNING, f"restarted by the keeper ({why})", kept, counted)
            self.event(
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
        host_side = keeper_rule.host_trouble(result.get("why"))  # this host's fault: not counted
        if held:
            kept = restarts if host_side else attempt
            self._entry(name, keeper_rule.DOWN, why, kept, counted=counted if host_side else True)
        elif not host_side:
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
            or "guests.follow_failover" not in self.salt
        ):
            return
        try:
            self.salt["guests.follow_failover"]()
        except Exception as exc:  # the guest runs; its IPs are the status view's problem
            log.warning("keeper: the failover IPs of %s did not follow it: %s", name, exc)

    # ---------------------------------------------------------- one look

    def step(self, events):
        self.on_events(events + self.libvirt.drain())
        domains = self.libvirt.domains()
        self.capacity = self.libvirt.capacity()
        self.reconcile(domains)
        self.facts = self._my_facts()
        self.act(domains)
        self.settle_failover(domains)
        self.save()
        return self.record()

    # ---------------------------------------------------------- failover IPs

    def owed_ips(self, domains):
        """The failover IPs of the guests running here that the provider routes to another
        host, by the beacon's last poll (none when that poll is stale or failed)."""
        if self.hv.get("offline") or not {"online.last_poll", "guests.follow_failover"} <= set(self.salt):
            return []
        wanted = {
            ip
            for name, (state, _reason) in domains.items()
            if state == RUNNING and name in self.guests
            for ip in self.guests[name].get("failover_ips") or []
        }
        if not wanted:
            return []
        poll = self.salt["online.last_poll"]()
        if not poll.get("result"):
            return []
        return sorted(wanted - set(poll.get("ips") or []))

    def settle_failover(self, domains):
        """Failover IPs owed to the guests running here for ``keeper:failover_grace`` s
        (their move at a start, an evacuation or a takeover failed: the API down, an
        error) are moved here by ``guests.follow_failover``, one try every
        ``FOLLOW_EVERY`` s; event ``failover`` with what moved and what did not."""
        grace = self.cfg.get("failover_grace", 0)  # a settings copy older than the code: none
        now = time.monotonic()
        owed = self.owed_ips(domains) if grace else []
        self.owed = {ip: self.owed.get(ip, now) for ip in owed}
        due = sorted(ip for ip, since in self.owed.items() if now - since >= grace)
        if not due or (self.followed_at is not None and now - self.followed_at < FOLLOW_EVERY):
            return
        self.followed_at = now
        try:
            ret = self.salt["guests.follow_failover"]() or {}
        except Exception as exc:  # the next try is FOLLOW_EVERY s away
            ret = {"moved": {}, "failed": dict.fromkeys(due, str(exc))}
        failed = ret.get("failed") or {}
        if failed:
            log.warning("keeper: failover IPs of guests running here not moved: %s", failed)
        self.event(
            "failover",
            {"host": self.me, "owed": due, "moved": sorted(ret.get("moved") or {}), "failed": sorted(failed)},
        )
