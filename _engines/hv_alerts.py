"""
hv_alerts: the master's alerts engine (issue 25): alerts that reach a person, by
a webhook and/or mail, for what the cluster did or suffers unattended.

A Salt engine (``master.d/alerts.conf``): it runs in the master's process tree,
started and restarted with the master. Every ``interval`` seconds (5) it:

1. compiles the master's own pillar (its ``id``: the nodegroup
   ``alerts_master``, which alone gets ``alerts.sls``; at most once a minute)
   and checks its ``alerts:`` part (``hv_alerts.settings``). No part, or
   ``enabled: false``: nothing is sent and the record is read past. A part
   with problems: they are logged (never a secret) and the record waits;
2. reads the record of events the reactor keeps (``<cachedir>/hv-events.jsonl``,
   the ``hv_events`` runner) past its cursor: the ``recorded`` time of the last
   line handled and how many lines of that time were (the record is trimmed by
   rewriting it: no byte offset would survive). Each line becomes an alert or
   nothing (``hv_alerts.from_entry``), the critical first; a takeover already
   alerted, or the same kind for the same host and guest within
   ``alerts:dedup_seconds``, is dropped; the rate limit (``alerts:rate``) holds
   back the rest, and says how many once sending resumes. The cursor moves past
   a batch only once each of its alerts was sent or given up after its retries;
3. every ``alerts:check_interval`` seconds (and at its start) asks the cluster's
   status (the ``cluster.status`` runner, every host asked live): a volume's
   split-brain and a host drained longer than ``alerts:drained_after`` are alerted
   when they start and when they clear; an open takeover incident that no event
   named (the master was down when it happened) is alerted once.

A webhook gets a POST of JSON (``hv_alerts.webhook_body``; a 5xx or 429 tried
again ``alerts:send:retries`` times, a 4xx or a redirect given up at once); mail
goes through ``smtplib`` (STARTTLS, or TLS from the start, certificates checked;
a transient error tried again). The cursor, the rate limit's bucket, the dedup
times, the conditions and the incidents alerted are kept in
``<cachedir>/hv-alerts.json`` (0600, written whole): after a restart the engine
resumes from its cursor, so what was recorded but not sent is sent; on its very
first start it begins at that moment. No secret (a webhook's URL or token, the
mail login or password) is ever in an alert, a log line, an event or that file.
"""

import contextlib
import fcntl
import json
import logging
import os
import smtplib
import socket
import ssl
import time
import urllib.parse

import hv_alerts as rules

try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError:  # the master's Salt has requests; said per alert otherwise
    requests = None

log = logging.getLogger(__name__)

__virtualname__ = "hv_alerts"
RECORD = "hv-events.jsonl"  # the hv_events runner's record, in the master's cachedir
STATE = "hv-alerts.json"
BATCH = 500  # record lines handled in one pass at most
PILLAR_MAX_AGE = 60  # seconds the compiled pillar is used before it is compiled again
STATUS_TIMEOUT = 10  # seconds each host has to answer the status check
RETRY_STATUS = (429, *range(500, 600))
BACKOFF = 0.5  # seconds: tries again after 0, 1, 2, 4... (at most BACKOFF_MAX)
BACKOFF_MAX = 10


def __virtual__():
    return __virtualname__


def start(interval=5):
    """The engine's loop (``master.d/alerts.conf``: ``engines: [{hv_alerts: {interval: 5}}]``)."""
    alerter = Alerter(__opts__, status=_status)
    log.info(
        "hv_alerts: reads %s every %s s; its settings are the alerts: part of the pillar of %r (the"
        " nodegroup alerts_master must name that id)",
        alerter.record,
        interval,
        __opts__["id"],
    )
    while True:
        alerter.tick()
        time.sleep(float(interval))


def _status():
    """The cluster's status view, every host asked live (the cluster.status runner)."""
    return __runners__["cluster.status"](timeout=STATUS_TIMEOUT)["data"]


# ------------------------------------------------------------------- the engine


class Alerter:
    """One master's alerts: ``tick`` is one pass (see the module's doc).

    ``pillar``: returns the master's pillar (default: compiled for ``opts["id"]``);
    ``status``: returns the status view (None: no status checks); ``clock``: the time;
    ``backoff``: seconds before a second try (then doubled)."""

    def __init__(self, opts, pillar=None, status=None, clock=time.time, backoff=BACKOFF):
        self.opts = opts
        self.record = os.path.join(opts["cachedir"], RECORD)
        self.path = os.path.join(opts["cachedir"], STATE)
        self._pillar = pillar or self._master_pillar
        self._status = status
        self.clock = clock
        self.backoff = backoff
        self._compiled = None  # (when, the alerts part, problems)
        self._read = None  # the record's (inode, size, mtime) once every line of it was handled
        self._checked = None  # when the status was last checked (at start: never)
        self._said = None  # the problems last logged
        self.state = {}
        with self._one_pass():
            self.state = self._load()
            self._save()

    # ------------------------------------------------------------ state

    @contextlib.contextmanager
    def _one_pass(self):
        """One pass at a time over this cachedir (an engine and, say, a second one by mistake)."""
        fd = os.open(f"{self.path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            state = {}
        except (OSError, ValueError) as exc:
            log.error("hv_alerts: %s is unreadable (%s): starting anew from now", self.path, exc)
            state = {}
        state = state if isinstance(state, dict) else {}
        if not isinstance(state.get("cursor"), dict):
            state["cursor"] = self._first_cursor()
        for key in ("limiter", "dedup", "conditions"):
            state[key] = state.get(key) if isinstance(state.get(key), dict) else {}
        state["incidents"] = state.get("incidents") if isinstance(state.get("incidents"), list) else []
        return state

    def _first_cursor(self):
        """The very first start: from now on (what came before was nobody's to send), or past
        the record's last line if it is later (a clock set back since)."""
        now = (self.clock(), 0)
        try:
            with open(self.record, encoding="utf-8", errors="replace") as handle:
                found = rules.after_cursor(handle.readlines(), {"recorded": now[0], "count": 0})
        except FileNotFoundError:
            found = []
        recorded, count = max([now, *(position for position, _entry in found)])
        return {"recorded": recorded, "count": count}

    def _save(self):
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as handle:
            json.dump(self.state, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    # ---------------------------------------------------------- settings

    def _master_pillar(self):
        """The master's own pillar, compiled as ``salt-run pillar.show_pillar <its id>`` does."""
        import salt.pillar

        minion_id = self.opts["id"]
        grains = {"id": minion_id}
        return salt.pillar.Pillar(self.opts, grains, minion_id, "base").compile_pillar()

    def _settings(self, now):
        """``(settings or None, problems)``; the pillar compiled at most every PILLAR_MAX_AGE s."""
        if self._compiled is None or now - self._compiled[0] >= PILLAR_MAX_AGE:
            me = self.opts["id"]
            try:
                pillar = self._pillar()
            except Exception as exc:  # a render error: said, never the reason the engine stops
                self._compiled = (
                    now,
                    None,
                    [f"the pillar of {me} cannot be compiled ({type(exc).__name__})"],
                )
            else:
                pillar = pillar if isinstance(pillar, dict) else {}
                if pillar.get("_errors"):
                    problem = f"the pillar of {me} has rendering errors: salt-run pillar.show_pillar {me}"
                    self._compiled = (now, None, [problem])
                else:
                    self._compiled = (now, pillar.get("alerts"), [])
        if self._compiled[2]:
            return None, self._compiled[2]
        return rules.settings(self._compiled[1])

    def _say(self, problems):
        if problems != self._said:
            for problem in problems:
                log.error("hv_alerts: %s: alerts wait until it is right", problem)
        self._said = problems

    # --------------------------------------------------------------- a pass

    def tick(self):
        """One pass: the settings, the record past the cursor, the held-back summary, the
        status check when due. Never raises: a failure is logged (without a secret)."""
        secrets = ()
        try:
            with self._one_pass():
                self.state = self._load()
                now = self.clock()
                cfg, problems = self._settings(now)
                if problems:
                    self._say(problems)
                    return
                self._said = None
                secrets = rules.secret_values(cfg) if cfg else ()
                on = bool(cfg and cfg["enabled"])
                self._record(cfg if on else None, now, secrets)
                if on:
                    self._flush(cfg, now, secrets)
                    self._check(cfg, now, secrets)
                self._save()
        except Exception as exc:  # the next pass may work; a message may hold anything: redacted
            log.error("hv_alerts: a pass failed: %s: %s", type(exc).__name__, _redact(str(exc), secrets))

    def _record(self, cfg, now, secrets):
        """The record's lines past the cursor, a batch at a time; ``cfg`` None: read past."""
        try:
            seen = os.stat(self.record)
        except FileNotFoundError:
            return
        mark = (seen.st_ino, seen.st_size, seen.st_mtime_ns)
        if mark == self._read:
            return  # not a line more since every line was handled
        with open(self.record, encoding="utf-8", errors="replace") as handle:
            found = rules.after_cursor(handle.readlines(), self.state["cursor"])
        batch = found[:BATCH]
        if cfg is not None and batch:
            self._handle(batch, cfg, now, secrets)
        if batch:
            (recorded, count), _entry = batch[-1]
            self.state["cursor"] = {"recorded": recorded, "count": count}
        self._read = mark if len(found) <= BATCH else None

    def _handle(self, batch, cfg, now, secrets):
        made = []
        for (recorded, _count), entry in batch:
            alert = rules.from_entry(entry, secrets)
            if alert is not None and alert["kind"] in cfg["kinds"]:
                made.append((alert, recorded))
        made.sort(key=lambda pair: rules.RANK.get(pair[0]["severity"], 9))  # the critical first
        for alert, recorded in made:
            incident = alert.pop("incident", None)
            if incident and not rules.note_incident(self.state, incident):
                continue  # alerted already (the status check found it open first)
            if rules.duplicate(self.state["dedup"], alert, recorded, cfg["dedup_seconds"]):
                log.info(
                    "hv_alerts: %s (%s): sent within dedup_seconds already", alert["kind"], _where(alert)
                )
                continue
            self._admit(alert, cfg, now, secrets)

    def _admit(self, alert, cfg, now, secrets):
        rate = cfg["rate"]
        out = rules.admit(self.state["limiter"], alert, now, rate["burst"], rate["per_seconds"])
        if alert not in out:
            log.warning("hv_alerts: %s (%s): held back by the rate limit", alert["kind"], _where(alert))
        for each in out:
            self._send(each, cfg, secrets)
        self._save()  # what was sent is on disk before the next is sent (dedup, the bucket)

    def _flush(self, cfg, now, secrets):
        rate = cfg["rate"]
        for summary in rules.flush(self.state["limiter"], now, rate["burst"], rate["per_seconds"]):
            self._send(summary, cfg, secrets)

    def _check(self, cfg, now, secrets):
        """The status check, when due: conditions started or cleared, open incidents."""
        if self._status is None or (
            self._checked is not None and now - self._checked < cfg["check_interval"]
        ):
            return
        self._checked = now
        try:
            view = self._status()
        except Exception as exc:
            log.warning(
                "hv_alerts: the status check failed: %s: %s", type(exc).__name__, _redact(str(exc), secrets)
            )
            return
        if not isinstance(view, dict):
            return
        found = rules.conditions(view, self.state, cfg["drained_after"], now)
        found += rules.open_incidents(view, self.state)
        found = [a for a in found if a["kind"].removesuffix(rules.CLEARED) in cfg["kinds"]]
        for alert in sorted(found, key=lambda a: rules.RANK.get(a["severity"], 9)):
            self._admit(alert, cfg, now, secrets)

    # ---------------------------------------------------------------- sending

    def _send(self, alert, cfg, secrets):
        """``alert`` by each channel set; each is sent, or given up after its retries."""
        send = cfg["send"]
        hook, mail = cfg["webhook"], cfg["mail"]
        done = []
        if hook.get("url"):
            ok, said = post_webhook(
                hook, rules.webhook_body(alert, cfg["label"]), send["timeout"], send["retries"], self.backoff
            )
            done.append((f"webhook {_shown_url(hook['url'])}", ok, said))
        if mail.get("host"):
            message = rules.mail_message(alert, cfg["label"], mail["from"], mail["to"])
            ok, said = send_mail(mail, message, send["timeout"], send["retries"], self.backoff)
            done.append((f"mail via {mail['host']}:{mail['port']}", ok, said))
        for channel, ok, said in done:
            (log.info if ok else log.error)(
                "hv_alerts: %s %s (%s) by %s: %s",
                "sent" if ok else "gave up",
                alert["kind"],
                _where(alert),
                channel,
                _redact(said, secrets),
            )


def _where(alert):
    return "/".join(alert[k] for k in ("host", "guest", "volume") if alert.get(k)) or "cluster"


def _redact(text, secrets):
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 6:
            text = text.replace(secret, "<redacted>")
    return text


def _shown_url(url):
    """A webhook's URL as a log line may show it: its scheme, host and port (the path, the
    query and any login often carry its token)."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


# ------------------------------------------------------------------ channels


def post_webhook(hook, body, timeout, retries, backoff=BACKOFF):
    """POST ``body`` as JSON to ``hook["url"]``: ``(sent, what happened)``, never raising. A
    5xx or 429 (or no connection, no answer) is tried again ``retries`` times; a 4xx or a
    redirect (never followed) is given up at once. ``what happened`` holds no URL, no token."""
    if requests is None:
        return False, "the requests package is missing from the master's Python"
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        backoff_factor=backoff,
        backoff_max=BACKOFF_MAX,
        status_forcelist=RETRY_STATUS,
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=False,  # a hook's Retry-After must not stall the engine
    )
    headers = {"Content-Type": "application/json", "User-Agent": "hv-alerts"}
    if hook.get("token"):
        name = hook.get("token_header") or "Authorization"
        headers[name] = f"Bearer {hook['token']}" if name.lower() == "authorization" else hook["token"]
    with requests.Session() as session, _quiet_http_libraries():
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            answer = session.post(
                hook["url"],
                data=json.dumps(body, sort_keys=True),
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                verify=hook.get("ca_file") or True,
            )
        except requests.exceptions.SSLError:
            return False, "TLS failed (the certificate is not trusted?)"
        except requests.exceptions.Timeout:
            return False, f"no answer within {timeout} s after {retries} retries"
        except requests.exceptions.RequestException as exc:  # its text holds the URL: not shown
            return False, f"no connection ({type(exc).__name__}) after {retries} retries"
        history = getattr(getattr(answer.raw, "retries", None), "history", ()) or ()
        tries = f" after {len(history)} retr{'y' if len(history) == 1 else 'ies'}" if history else ""
        if 200 <= answer.status_code < 300:
            return True, f"HTTP {answer.status_code}{tries}"
        if 300 <= answer.status_code < 400:
            return False, f"HTTP {answer.status_code}: a redirect, not followed"
        said = rules.text(answer.text, 100) or ""
        return False, f"HTTP {answer.status_code}{tries}{': ' + said if said else ''}"


class _Drop(logging.Filter):
    def filter(self, record):
        return False


@contextlib.contextmanager
def _quiet_http_libraries():
    """No record of urllib3's or requests' own while a webhook is called: theirs name the URL's
    path (a retry's warning, a request's debug line), which often holds the hook's token; the
    engine says what happened itself. Filters, not levels: a level set on a child logger (Salt's
    log_granular_levels) would pass a record a parent's level stops."""
    drop = _Drop()
    names = [n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in ("urllib3", "requests")]
    loggers = [logging.getLogger(n) for n in {"urllib3", "requests", *names}]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


def send_mail(mail, message, timeout, retries, backoff=BACKOFF, sleep=time.sleep):
    """Send ``message`` through ``mail["host"]``: ``(sent, what happened)``, never raising.
    ``tls``: starttls (refused when the relay does not offer it: a login never crosses in
    clear), ssl, or none; certificates checked (``ca_file``, else the system's). A 4xx
    answer, a lost connection or a timeout is tried again ``retries`` times."""
    context = ssl.create_default_context(cafile=mail.get("ca_file") or None)
    tls = mail.get("tls", "starttls")
    last = "not tried"
    for attempt in range(retries + 1):
        if attempt:
            sleep(min(BACKOFF_MAX, backoff * 2 ** (attempt - 1)))
        try:
            if tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    mail["host"], mail["port"], timeout=timeout, context=context, local_hostname=_helo()
                )
            else:
                smtp = smtplib.SMTP(mail["host"], mail["port"], timeout=timeout, local_hostname=_helo())
            with smtp:
                if tls == "starttls":
                    smtp.starttls(context=context)
                if mail.get("user"):
                    smtp.login(mail["user"], mail["password"])
                refused = smtp.send_message(message)
        except smtplib.SMTPNotSupportedError:
            return False, "the relay offers no STARTTLS: not sent (set mail:tls, never a login in clear)"
        except smtplib.SMTPAuthenticationError as exc:
            return False, f"the relay refused the login (SMTP {exc.smtp_code})"
        except smtplib.SMTPRecipientsRefused:
            return False, "the relay refused every recipient"
        except smtplib.SMTPResponseException as exc:
            last = f"SMTP {exc.smtp_code}"
            if 400 <= exc.smtp_code < 500:
                continue
            return False, last
        except ssl.SSLError as exc:
            return False, f"TLS failed ({type(exc).__name__}: the certificate is not trusted?)"
        except (smtplib.SMTPException, OSError) as exc:
            last = f"no answer ({type(exc).__name__})"
            continue
        if refused:
            return True, f"sent; the relay refused {len(refused)} of the recipients"
        return True, f"sent{f' after {attempt} retries' if attempt else ''}"
    return False, f"{last} after {retries} retries"


def _helo():
    return socket.gethostname() or "localhost"
