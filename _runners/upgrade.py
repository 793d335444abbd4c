"""
upgrade: the rolling upgrade of the cluster's hosts, one host at a time (B9, issue 25).

``salt-run upgrade.rolling`` asks every host of the master's nodegroup
``hypervisors`` for its part of the status view (``cluster.local``), one host that
carries guests for what it reads for all (``cluster.shared``) and for each volume's
heal counts (``gluster.heal_info``), and refuses to start unless the cluster is
healthy (``_utils/hv_upgrade.py``: no host drained or silent, quorum, leases, heal 0,
no split-brain, no open takeover incident). Then, host after host in the plan's order
(the arbiter last):

1. ``guests.drain`` (every guest migrated, or saved when it fits nowhere: reported),
   confirmed by ``guests.drained``;
2. ``pkg.upgrade`` (on Debian ``dist_upgrade=True``): the packages it changed;
3. ``system.reboot`` when a package of ``upgrade:reboot_packages`` changed (or
   ``reboot=always``), then ``test.ping`` until the host answers with a new boot id;
4. ``sanlock.status`` until ``can_take_guests``, ``takeover.quorum`` until
   ``quorum``, ``gluster.heal_info`` of every volume (from another host) until every
   brick is connected with 0 entries;
5. ``guests.undrain``;

and before the next host, the cluster's health again. Each wait has a deadline
(``upgrade:timeouts``, or the ``timeouts`` argument). The first host that does not
come back healthy stops the run: it stays drained, no other host is touched, and the
return says which check and what it saw. A host with nothing to upgrade is skipped,
so that a run started again passes over the hosts already upgraded. ``dry_run=True``
shows the plan and touches nothing. Each step is an event on the master's bus
(``hv/upgrade/started``, ``hv/upgrade/host/<step>``, ``hv/upgrade/stopped``,
``hv/upgrade/done``) and a progress line of ``salt-run``. One run at a time (a lock
in the master's cachedir). docs/upgrades.md says how to use it.

The master needs ``runner_dirs`` and ``utils_dirs`` as for ``cluster.status``
(``master.d/hypervisor.conf``).
"""

import logging
import os
import time

import cluster_view
import hv_runtime
import hv_schema
import hv_upgrade
import hv_views
import salt.client
import salt.exceptions

log = logging.getLogger(__name__)

__virtualname__ = "upgrade"
NODEGROUP = "hypervisors"
EVENTS = "hv/upgrade"
ASK = 30  # seconds a question (not a wait's action) has to answer
SURVEY = 60  # seconds cluster.local and cluster.shared have (the latter asks the provider's API)
LIST_TIMEOUT = 600  # seconds pkg.list_upgrades may take (it refreshes the package lists first)
BOOT_ID = "/proc/sys/kernel/random/boot_id"  # new at each boot: the reboot happened
LOCK = "hv-upgrade.lock"  # in the master's cachedir: one rolling upgrade at a time
REASON = "rolling upgrade"  # the drain mark's reason


def __virtual__():
    return __virtualname__


class Refused(Exception):
    """The run does not start: nothing was touched. ``extra``: what the return shows too."""

    def __init__(self, message, **extra):
        super().__init__(message)
        self.extra = extra


class Stopped(Exception):
    """A host did not come back healthy: the run stops there."""

    def __init__(self, host, step, check, saw, waited=None):
        super().__init__(f"{host}: {step}: {saw}")
        self.record = {"host": host, "step": step, "check": check, "saw": saw, "waited": waited}


def _say(text):
    """A line of progress: logged, and printed by ``salt-run`` as it comes."""
    log.info("upgrade: %s", text)
    jid_event = globals().get("__jid_event__")  # set by Salt's runner client, per run
    if jid_event is not None:
        try:
            jid_event.fire_event({"message": text}, "progress")
        except Exception as exc:  # a progress line is a notice
            log.warning("upgrade: could not print progress: %s", exc)


def _event(tag, data):
    """Fire ``hv/upgrade/<tag>`` on the master's bus (the event runner) and log it."""
    hv_runtime.fire(__salt__["event.send"], log, f"{EVENTS}/{tag}", data, level=logging.INFO)


def _os_family(host):
    """``host``'s OS family from the master's grains cache, else the schema's first."""
    grains = (__salt__["cache.grains"](tgt=host) or {}).get(host) or {}
    family = grains.get("os_family")
    if family in hv_schema.OS_FAMILIES:
        return family
    log.warning(
        "upgrade: no known OS family of %s cached (%r), using %s", host, family, hv_schema.OS_FAMILIES[0]
    )
    return hv_schema.OS_FAMILIES[0]


def _first_problem(err):
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[1:] or lines or [type(err).__name__])[0]


class _Run:
    """One run: the client, the cluster's settings, the plan, and what each host went through."""

    def __init__(self, client, mode, dry_run, timeouts):
        self.client, self.mode, self.dry_run = client, mode, dry_run
        self.given_timeouts = timeouts
        self.settings = self.pillar = None
        self.families, self.answered, self.hosts = {}, set(), {}

    # -------------------------------------------------------------- asking

    def cmd(self, tgt, fun, arg=(), timeout=ASK, kwarg=None, tgt_type="glob"):
        """LocalClient's ``cmd``; a failure of the master's own client is no answer."""
        try:
            return self.client.cmd(
                tgt, fun, list(arg), timeout=timeout, tgt_type=tgt_type, full_return=True, kwarg=kwarg
            )
        except salt.exceptions.SaltException as exc:
            log.warning("upgrade: %s on %s: %s", fun, tgt, exc)
            return {}

    def one(self, host, fun, *arg, timeout=ASK, kwarg=None):
        """``(value, error)`` of ``fun`` on ``host`` (``hv_upgrade.answer``)."""
        return hv_upgrade.answer(self.cmd(host, fun, arg, timeout=timeout, kwarg=kwarg), host)

    def family(self, host):
        if host not in self.families:
            self.families[host] = _os_family(host)
        return self.families[host]

    def patterns(self, host):
        return hv_upgrade.reboot_patterns(self.pillar["hypervisor"], self.family(host))

    def reader(self, exclude=None):
        """The host that reads for all (gluster, incidents): the first that carries guests
        and answered, by name, other than ``exclude``."""
        guests = [h for h in sorted(self.settings["hosts"]) if self.settings["hosts"][h]["role"] != "arbiter"]
        return next((h for h in guests if h != exclude and h in self.answered), None)

    # -------------------------------------------------------------- the cluster

    def _load_settings(self, parts):
        """The validated settings of the first host that answered (one that carries guests
        first: its pillar has the provider's part), as ``cluster.status`` takes them."""
        ordered = sorted(parts, key=lambda h: (not isinstance(parts[h].get("guests"), dict), h))
        for host in ordered:
            pillar = __salt__["pillar.show_pillar"](host) or {}
            if not isinstance(pillar.get("hypervisor"), dict):
                continue
            try:
                self.settings = hv_views.build(pillar, hv_schema.defaults(self.family(host)), host)
            except hv_views.InvalidPillar as err:
                raise Refused(f"the cluster pillar is invalid: {_first_problem(err)}") from None
            self.pillar = pillar
            timeouts, errors = hv_upgrade.timeouts(self.settings["upgrade"]["timeouts"], self.given_timeouts)
            if errors:
                raise Refused("; ".join(errors))
            self.timeouts, self.poll = timeouts, self.settings["upgrade"]["poll_interval"]
            return
        if not parts:
            raise Refused(f"no host of the nodegroup {NODEGROUP} answered")
        raise Refused(f"no host's pillar has a hypervisor mapping (asked: {', '.join(ordered)})")

    def heal(self, reader):
        """``hv_upgrade.heal_problems`` of every volume, read from ``reader``."""
        if reader is None:
            return ["no host that carries guests answers to read the heal counts"]
        volumes = sorted(self.settings["gluster"]["volumes"])
        return hv_upgrade.heal_problems({v: self.one(reader, "gluster.heal_info", v) for v in volumes})

    def survey(self):
        """The status view and the problems that keep a host from being upgraded."""
        reply = self.cmd(NODEGROUP, "cluster.local", timeout=SURVEY, tgt_type="nodegroup")
        parts = {}
        for host in sorted(reply or {}):
            value, error = hv_upgrade.answer(reply, host)
            if isinstance(value, dict):
                parts[host] = value
            elif error != "no answer":
                parts[host] = {"error": error or hv_upgrade.short(value)}
        if self.settings is None:
            self._load_settings(parts)
        self.answered = {h for h, part in parts.items() if set(part) != {"error"}}
        reader = self.reader()
        shared, error = (
            self.one(reader, "cluster.shared", timeout=SURVEY)
            if reader
            else (None, "no host with guests answers")
        )
        shared = shared if isinstance(shared, dict) else {"error": error or hv_upgrade.short(shared)}
        view = cluster_view.assemble(
            parts, shared, cluster_view.hosts_config(self.settings), self.settings["guests"]
        )
        return view, hv_upgrade.health(view, self.heal(reader))

    # -------------------------------------------------------------- a host

    def step(self, host, step, data=None):
        """A step done: in the host's record, an event, a progress line."""
        data = dict(data or {})
        self.hosts[host]["steps"][step] = data
        _event(f"host/{step}", dict(data, host=host))
        shown = ", ".join(f"{k} {hv_upgrade.short(v)}" for k, v in data.items() if v not in (None, {}, []))
        _say(f"{host}: {step}" + (f" ({shown})" if shown else ""))

    def wait(self, host, step, probe, check):
        """Ask ``probe()`` (None: fine, else what it saw) every ``poll_interval`` seconds
        until it is fine, or stop the run once the wait's deadline has passed."""
        start = time.monotonic()
        while True:
            saw = probe()
            waited = round(time.monotonic() - start)
            if saw is None:
                self.step(host, step, {"seconds": waited})
                return
            if waited >= self.timeouts[step]:
                raise Stopped(host, step, check, saw, waited)
            time.sleep(self.poll)

    def act(self, host, step, fun, check, kwarg=None):
        """``fun`` on ``host`` with the step's deadline; its value, or the run stops."""
        value, error = self.one(host, fun, timeout=self.timeouts[step], kwarg=kwarg)
        if error == "no answer":
            error = f"no answer within {self.timeouts[step]} s (it may still run there: salt-run jobs.active)"
        if error:
            raise Stopped(host, step, check, error)
        return value

    def drain(self, host):
        check = f"guests.drain on {host}: every guest migrated or saved, its failover IPs moved"
        ret = self.act(host, "drain", "guests.drain", check, kwarg={"reason": REASON})
        why = hv_upgrade.drain_problem(ret)
        if why:
            raise Stopped(host, "drain", check, why)
        mark, error = self.one(host, "guests.drained")
        if error or not (isinstance(mark, dict) and mark.get("drained")):
            raise Stopped(host, "drain", f"guests.drained on {host}", error or f"not drained: {mark}")
        self.step(host, "drain", {"guests": hv_upgrade.outcomes(ret), "saved": hv_upgrade.saved(ret)})

    def upgrade(self, host):
        kwarg = hv_upgrade.UPGRADE_KWARGS.get(self.family(host)) or None
        changes = self.act(host, "upgrade", "pkg.upgrade", f"pkg.upgrade on {host}", kwarg=kwarg)
        if not isinstance(changes, dict):
            raise Stopped(host, "upgrade", f"pkg.upgrade on {host}", f"an unexpected answer: {changes}")
        packages = hv_upgrade.changed(changes)
        decision = hv_upgrade.reboot(self.mode, packages, self.patterns(host))
        self.hosts[host]["changes"] = changes
        self.step(
            host, "upgrade", {"packages": packages, "reboot": decision["reboot"], "why": decision["why"]}
        )
        return decision["reboot"]

    def reboot(self, host):
        before, error = self.one(host, "file.read", BOOT_ID)
        if error or not isinstance(before, str):
            raise Stopped(host, "reboot", f"file.read {BOOT_ID} on {host}", error or f"{before!r}")
        _value, error = self.one(host, "system.reboot")
        if error and error != "no answer":  # a host going down may not answer
            raise Stopped(host, "reboot", f"system.reboot on {host}", error)
        self.step(host, "reboot", {"boot_id": before.strip()})

        def back():
            pong, error = self.one(host, "test.ping")
            if pong is not True:
                return error or f"test.ping answered {pong!r}"
            now, error = self.one(host, "file.read", BOOT_ID)
            if error or not isinstance(now, str):
                return f"its boot id: {error or repr(now)}"
            return (
                "it answers with the boot id it had before the reboot"
                if now.strip() == before.strip()
                else None
            )

        self.wait(host, "back", back, f"test.ping on {host}, then a boot id other than {before.strip()}")

    def checks(self, host, arbiter):
        """The waits for ``host`` healthy again: its lockspace, its quorum (the arbiter's
        effect on it: a host with guests'), every volume healed (read from another host)."""
        reader = self.reader(exclude=host)
        if not arbiter:
            self.wait(
                host,
                "lockspace",
                lambda: hv_upgrade.lockspace_problem(self._value(host, "sanlock.status")),
                f"sanlock.status on {host}: can_take_guests",
            )
        judge = reader if arbiter else host
        self.wait(
            host,
            "quorum",
            lambda: hv_upgrade.quorum_problem(self._value(judge, "takeover.quorum")) if judge else "no host",
            f"takeover.quorum on {judge}: quorum",
        )
        self.wait(
            host,
            "heal",
            lambda: "; ".join(self.heal(reader)) or None,
            f"gluster.heal_info of every volume from {reader}: every brick connected, 0 entries to heal",
        )

    def _value(self, host, fun):
        """``fun``'s value on ``host``, or ``{"reason": why not}``."""
        value, error = self.one(host, fun)
        return {"reason": error} if error else value

    def undrain(self, host):
        check = f"guests.undrain on {host}: its guests back, its failover IPs moved"
        ret = self.act(host, "undrain", "guests.undrain", check)
        why = hv_upgrade.undrain_problem(ret)
        if why:
            raise Stopped(host, "undrain", check, why)
        self.step(host, "undrain", {"guests": hv_upgrade.outcomes(ret)})

    def host(self, entry):
        host, arbiter = entry["host"], entry["role"] == "arbiter"
        self.hosts[host] = {"outcome": "running", "steps": {}}
        if entry["action"] == "skip":
            self.hosts[host]["outcome"] = "skipped"
            self.step(host, "skipped", {"why": entry["reboot_why"]})
            return
        if not arbiter:
            self.drain(host)
        if self.upgrade(host):
            self.reboot(host)
        self.checks(host, arbiter)
        if not arbiter:
            self.undrain(host)
        self.hosts[host]["outcome"] = "done"
        self.step(host, "done", {"steps": list(self.hosts[host]["steps"])})

    # -------------------------------------------------------------- the run

    def plan(self, order, view):
        counts = hv_upgrade.running(view)
        entries = []
        for host in order:
            arbiter = self.settings["hosts"][host]["role"] == "arbiter"
            if host in self.answered:
                upgrades, error = self.one(host, "pkg.list_upgrades", timeout=LIST_TIMEOUT)
            else:  # not asked: it would make the plan wait for nothing
                upgrades, error = None, "not asked: it did not answer cluster.local"
            if error is None and not isinstance(upgrades, dict):
                error = f"an unexpected answer: {hv_upgrade.short(upgrades)}"
            entry = hv_upgrade.plan_entry(
                host, arbiter, counts.get(host, 0), upgrades or {}, self.mode, self.patterns(host)
            )
            if error:
                entry["error"] = f"pkg.list_upgrades: {error}"
            entries.append(entry)
        return entries

    def go(self, hosts):
        view, problems = self.survey()
        try:
            order = hv_upgrade.order(self.settings["hosts"], hv_upgrade.running(view), hosts)
        except ValueError as err:
            raise Refused(str(err)) from None
        ret = {
            "result": False,
            "dry_run": self.dry_run,
            "reboot": self.mode,
            "order_rule": hv_upgrade.ORDER_RULE,
            "order": order,
            "health": [hv_upgrade.describe(p) for p in problems],
            "status_problems": view["problems"],
        }
        if problems and not self.dry_run:
            raise Refused(
                "the cluster is not healthy: " + "; ".join(ret["health"]),
                **{k: ret[k] for k in ("order", "health", "status_problems")},
            )
        ret["plan"] = self.plan(order, view)
        errors = [f"{e['host']}: {e['error']}" for e in ret["plan"] if e.get("error")]
        for entry in ret["plan"]:
            _say(hv_upgrade.plan_line(entry))
        if self.dry_run:
            ret["result"] = not problems and not errors
            healthy = (
                "healthy" if not problems else "NOT healthy, a run would refuse: " + "; ".join(ret["health"])
            )
            ret["comment"] = f"dry run, nothing touched; the cluster is {healthy}" + (
                f"; pkg.list_upgrades failed: {'; '.join(errors)}" if errors else ""
            )
            return ret
        if errors:
            raise Refused("the plan is not complete: " + "; ".join(errors), order=order, plan=ret["plan"])
        return self.run(ret)

    def run(self, ret):
        plan = ret["plan"]
        ret["hosts"] = {entry["host"]: {"outcome": "untouched", "steps": {}} for entry in plan}
        self.hosts = ret["hosts"]
        summary = {e["host"]: {k: e[k] for k in ("action", "reboot", "reboot_why")} for e in plan}
        _event("started", {"order": ret["order"], "reboot": self.mode, "plan": summary})
        for entry in plan:
            try:
                if entry["action"] != "skip":  # still healthy (the plan took a while; the last host)
                    _view, problems = self.survey()
                    if problems:
                        saw = "; ".join(hv_upgrade.describe(p) for p in problems)
                        raise Stopped(
                            entry["host"], "health", f"the cluster's health before {entry['host']}", saw
                        )
                self.host(entry)
            except Stopped as stop:
                return self.stopped(ret, stop.record)
        ret.update(result=True, comment=f"every host upgraded or skipped: {', '.join(ret['order'])}")
        _event(
            "done", {h: {"outcome": r["outcome"], "steps": list(r["steps"])} for h, r in ret["hosts"].items()}
        )
        _say(ret["comment"])
        return ret

    def stopped(self, ret, record):
        host, step = record["host"], record["step"]
        touched = self.hosts[host]["steps"]
        if step == "health":
            left = f"{host} was not touched"
        elif step == "undrain":
            left = f"{host} is undrained (its drain mark cleared), not all came back"
        elif "drain" in touched or step == "drain":
            left = f"{host} is left drained: `salt {host} guests.undrain` once it is repaired"
        else:
            left = f"{host}, the arbiter, carries no guest: nothing to undrain"
        record["left"] = left
        self.hosts[host]["outcome"] = "untouched" if step == "health" else "stopped"
        ret.update(stopped=record)
        waited = f" after {record['waited']} s" if record.get("waited") is not None else ""
        ret["comment"] = (
            f"stopped at {host}, step {step}{waited}: {record['check']}: saw {record['saw']}."
            f" {left}; no other host was touched after it. Run again once it is healthy."
        )
        _event("stopped", dict(record, reason=ret["comment"]))
        _say(ret["comment"])
        return ret


def rolling(dry_run=False, hosts=None, reboot="auto", timeouts=None):
    """
    Upgrade the cluster's hosts one at a time: drain, ``pkg.upgrade``, reboot when the
    kernel, libvirt, qemu, gluster or sanlock changed (``reboot=auto``; ``always``,
    ``never``), wait until the host answers, its lockspace is joined, it has quorum and
    every volume is healed, undrain; the arbiter last. Refused unless the cluster is
    healthy first; stops at the first host that does not come back healthy within its
    deadline (``upgrade:timeouts``, or ``timeouts='{heal: 14400}'``), leaving it drained.
    ``dry_run=True``: the plan (order, packages, reboots), nothing touched. ``hosts``:
    only these (comma-separated). Returns ``{"result", "dry_run", "order", "plan",
    "health", "hosts", "stopped", "comment", ...}`` (docs/upgrades.md).

    CLI Example:

    .. code-block:: bash

        salt-run upgrade.rolling dry_run=True
        salt-run upgrade.rolling
        salt-run upgrade.rolling hosts=hyp2,arb1 reboot=always
    """
    mode = str(reboot).strip().lower()
    if mode not in hv_upgrade.REBOOT_MODES:
        return {"result": False, "comment": f"reboot={reboot}: one of {', '.join(hv_upgrade.REBOOT_MODES)}"}
    dry_run = dry_run is True or str(dry_run).strip().lower() in ("true", "yes", "1")
    with hv_runtime.try_locked(os.path.join(__opts__["cachedir"], LOCK)) as alone:
        if not alone:
            return {
                "result": False,
                "comment": "another rolling upgrade runs on this master: nothing touched",
            }
        try:
            with salt.client.get_local_client(__opts__["conf_file"]) as client:
                return _Run(client, mode, dry_run, timeouts).go(hosts)
        except Refused as err:
            comment = f"refused, nothing touched: {err}"
            if not dry_run:
                _event("stopped", {"step": "start", "refused": True, "reason": comment})
            _say(comment)
            return dict(err.extra, result=False, dry_run=dry_run, comment=comment)
