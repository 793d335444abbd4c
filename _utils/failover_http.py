"""
failover_http: the HTTP side every provider's API client shares. One ``requests``
session, certificates always verified, no redirect followed; 5xx and
connection errors retried with backoff (urllib3 ``Retry``), credentials'
refusals never. A request that must not be sent twice (a reboot) is retried
only when it cannot have been taken (no connection made, or a status that says
it was refused). Every answer is JSON; the credentials are in no message, no
log record and no exception. Plain importable Python.
"""

import json
import logging
import re
import time
from urllib.parse import urlsplit

import requests
from failover_provider import FailoverProvider, ProviderError, one_line
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)


class JsonApi(FailoverProvider):
    """A provider whose API answers JSON over HTTPS. Subclasses set ``label`` (for
    messages), ``STATUS_RETRIED``, ``STATUS_RETRIED_ONCE`` and ``METHODS_RETRIED``,
    and say what a non-2xx answer means (``_status_error``)."""

    label = "API"
    hidden = "<secret>"  # what a credential is replaced with in a message
    STATUS_RETRIED = (429, 500, 502, 503, 504)
    STATUS_RETRIED_ONCE = (429,)  # for a request never sent twice: statuses that say it was not taken
    METHODS_RETRIED = frozenset({"GET", "POST"})

    def __init__(self, api_url, auth, secrets, timeout=10, retries=3, backoff=0.5, allow_http=False):
        if not isinstance(api_url, str) or not re.match(r"^https?://[^\s/]+", api_url):
            raise ValueError(f"{self.label}: api_url must be an http(s) URL")
        if urlsplit(api_url).scheme != "https" and not allow_http:
            raise ValueError(
                f"{self.label}: api_url {one_line(api_url, 80)} is not https:// (allow_http is off)"
            )
        self.api_url = api_url.rstrip("/")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._secrets = _Hidden(s for s in secrets if s)
        self._auth = auth
        retry = Retry(
            total=self.retries,
            backoff_factor=backoff,
            status_forcelist=self.STATUS_RETRIED,
            allowed_methods=self.METHODS_RETRIED,
            respect_retry_after_header=True,
            raise_on_status=False,
            redirect=False,
        )
        self._session = self._new_session(retry)
        # For a request that must not be sent twice (a reboot): retried only when no
        # connection could be made (the request was not sent) or on a status that says
        # it was refused; never on a timeout, a reset or a 5xx once it was sent
        # (read=False: the error as it came). Each call starts on a new connection (see
        # _call), so that a kept-alive one the server dropped is not taken for a reset.
        once = Retry(
            total=self.retries,
            connect=self.retries,
            read=False,
            status=self.retries,
            other=0,
            backoff_factor=backoff,
            status_forcelist=self.STATUS_RETRIED_ONCE,
            allowed_methods=frozenset({"POST"}),
            respect_retry_after_header=True,
            raise_on_status=False,
            redirect=False,
        )
        self._once = self._new_session(once)

    def _new_session(self, retry):
        session = requests.Session()
        session.mount("https://", HTTPAdapter(max_retries=retry))
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.auth = self._auth  # an auth object: no .netrc entry replaces it
        session.verify = True
        session.headers.update({"Accept": "application/json", "User-Agent": "hv-failover"})
        return session

    def __repr__(self):
        return f"{type(self).__name__}({self.api_url!r})"

    # --------------------------------------------------------------- errors

    def _redact(self, text):
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, self.hidden)
        return text

    def _error(self, where, said, kind, status=None):
        return ProviderError(self._redact(f"{self.label}: {where}: {said}"), kind, status)

    def _shape(self, where, what):
        return self._error(where, f"unexpected answer: {what}", "bad_response")

    def _status_error(self, where, status, body, after):
        """The ProviderError for a non-2xx answer (``after``: " after N retries" or "")."""
        raise NotImplementedError

    # ----------------------------------------------------------------- HTTP

    def _call(self, method, path, form=None, once=False, quote=True):
        """The JSON answer of ``method path`` (a 2xx), or raise ProviderError.
        ``once``: never sent twice (see ``_once``); ``quote``: a 2xx body that is
        not JSON may be quoted in the error (not when it may hold a secret)."""
        where = f"{method} {path}"
        start = time.monotonic()
        session = self._once if once else self._session
        if once:
            session.close()  # no kept-alive connection: this call opens its own
        try:
            resp = session.request(
                method,
                self.api_url + path,
                data=form,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
            )
            body = resp.content
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(where, exc, once) from None
        retried = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
        after = retries_text(len(retried))
        log.debug(
            "%s: %s -> %s%s (%.2f s)", self.label, where, resp.status_code, after, time.monotonic() - start
        )
        if 200 <= resp.status_code < 300:
            return self._json(where, resp, body, quote)
        if 300 <= resp.status_code < 400:
            said = f"HTTP {resp.status_code}: not an answer the API gives (a redirect is not followed)"
            raise self._error(where, said, "bad_response", resp.status_code)
        raise self._status_error(where, resp.status_code, body, after)

    def _json(self, where, resp, body, quote=True):
        ctype = resp.headers.get("Content-Type", "")
        text = body.decode("utf-8", "replace").strip()
        if not text:
            raise self._error(where, f"HTTP {resp.status_code} with an empty body", "bad_response")
        if "html" in ctype.lower() or text.startswith("<"):
            shown = f": {one_line(text)}" if quote else ""
            raise self._error(
                where, f"HTTP {resp.status_code}: an HTML page, not JSON{shown}", "bad_response"
            )
        try:
            return json.loads(text)
        except ValueError as exc:
            shown = f": {one_line(text, 80)}" if quote else ""
            raise self._error(
                where, f"HTTP {resp.status_code}: invalid JSON ({exc}){shown}", "bad_response"
            ) from None

    def _transport_error(self, where, exc, once=False):
        """A ProviderError for a request that got no usable answer (after the retries;
        ``once``: none once the request was sent, and the message says it may be taken)."""
        reason = exc.args[0] if exc.args else None
        retried = isinstance(reason, MaxRetryError)
        if retried:
            reason = reason.reason
        after = retries_text(self.retries)
        if once and isinstance(exc, requests.exceptions.SSLError):
            after = ""  # TLS failed before the request was sent; not retried either
        elif once and not (retried and isinstance(reason, ConnectTimeoutError)):
            after = " (not retried: the API may have taken it)"  # a connection was made
        timed_out = isinstance(reason, (ReadTimeoutError, ConnectTimeoutError)) and not isinstance(
            reason,
            NewConnectionError,  # a subclass of ConnectTimeoutError in urllib3 2
        )
        if timed_out or isinstance(exc, requests.exceptions.Timeout):
            return self._error(where, f"no answer within {self.timeout:g} s{after}", "timeout")
        if isinstance(
            exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
        ):
            return self._error(where, "the answer was cut short", "bad_response")
        if isinstance(exc, requests.exceptions.SSLError):
            return self._error(where, f"TLS failed ({_cause(reason)}){after}", "connection")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return self._error(where, f"connection failed{after}: {_cause(reason)}", "connection")
        return self._error(where, f"request failed: {type(exc).__name__}", "connection")


class _Hidden(tuple):
    """The credentials, kept to be scrubbed from messages; their repr shows none."""

    def __repr__(self):
        return f"<{len(self)} hidden>"


def json_body(body):
    """``body`` (bytes) decoded as JSON, or None."""
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None


def retries_text(retries):
    return f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""


def _cause(reason):
    """The innermost OS-level reason of a connection error, in a few words."""
    seen = reason
    for _ in range(5):
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        inner = getattr(seen, "__cause__", None) or getattr(seen, "__context__", None)
        if inner is None:
            break
        seen = inner
    text = str(reason or "").rsplit(": ", 1)[-1].strip("')\"(")
    return one_line(text, 120) or type(reason).__name__
