"""
failover_api: the failover-IP provider's API, behind one small interface (F22, F24),
and the server verbs fencing needs (rescue boot, reboot, normal boot).

Plain importable Python. Salt modules reach it as
``__utils__["failover_api.provider"](config)`` (the loader exposes functions
only: the factory returns the provider object; its ``Error`` attribute is
:class:`ProviderError`, for ``except``).

:class:`OnlineProvider` talks to the Online.net / Scaleway Dedibox API
(as public clients and its documentation show it): one ``requests`` session, the header
``Authorization: Bearer <token>``, certificates always verified, 429, 5xx and
connection errors retried with backoff (urllib3 ``Retry``), 401/403 never.
A reboot is the exception: it is retried only when the request cannot have
been taken (no connection made, or 429), never after it was sent (a timeout,
a reset, a 5xx), so that one call never reboots a server twice.
Every answer's shape is checked before it is used. The token is the only
secret: it is in no message, no log record and no exception; the rescue
credentials the API answers a rescue boot with are dropped, never quoted.
"""

import dataclasses
import ipaddress
import json
import logging
import re
import time
from urllib.parse import urlsplit

import requests
import requests.auth
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

ONLINE_API_URL = "https://api.online.net/api/v1"
STATUS_RETRIED = (429, 500, 502, 503, 504)
# A request that must not be sent twice (a reboot): only the statuses that say it was not taken.
STATUS_RETRIED_ONCE = (429,)
ERROR_TEXT_MAX = 200  # characters of the API's error text in a message
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}")  # a rescue image: debian-12_amd64
ALREADY = re.compile(r"already (de)?provisioned", re.I)
HIDDEN = "<token>"


class ProviderError(Exception):
    """A failed API call. ``kind``: ``auth`` (401/403), ``not_found`` (404),
    ``refused`` (another 4xx), ``rate_limited`` (429 after the retries),
    ``server`` (5xx after the retries), ``bad_response`` (HTML, invalid or cut
    JSON, an empty body, the wrong shape), ``timeout``, ``connection``.
    ``status``: the HTTP status, or None. ``str(e)`` is one line, without the token."""

    def __init__(self, message, kind, status=None):
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclasses.dataclass(frozen=True)
class Server:
    id: int
    hostname: str
    main_ip: str
    failover_ips: tuple


@dataclasses.dataclass(frozen=True)
class Failover:
    ip: str
    destination: str | None
    mac: str | None


class FailoverProvider:
    """What the failover code needs from a provider: three verbs.

    - ``server(server_id)`` -> :class:`Server`: a server's main IP and the
      failover IPs routed to it;
    - ``failovers()`` -> [:class:`Failover`]: every failover IP of the
      account, where it is routed and its virtual MAC;
    - ``move(ips, destination)`` -> bool: route ``ips`` (moved together) to
      the server whose main IP is ``destination`` (None: un-route them);
      True when the provider accepted the move, False when they were there
      already. The move may take effect later: callers read back.

    And the four a fence needs (there is no power-off call at Online):

    - ``rescue_images(server_id)`` -> [str]: the rescue systems the server
      may boot, the provider's default first;
    - ``boot_rescue(server_id, image)`` -> True: the server's next boot is
      that rescue system (the credentials the provider answers are dropped);
    - ``reboot(server_id, reason)`` -> True: a hard reboot, now (``reason``
      is mandatory); sent at most once per call;
    - ``boot_normal(server_id)`` -> True: the next boot is from disk again.

    Each raises :class:`ProviderError`. Other providers fit the same verbs:
    Hetzner Robot (basic auth; ``GET /server/<number>`` for a server,
    ``GET /failover``, and a synchronous ``POST /failover/<ip>`` with
    ``active_server_ip=<main ip>``), OVH (signed requests; ``POST
    /ip/{block}/move`` returns a task to poll until done).
    """

    name = "abstract"
    Error = ProviderError

    def server(self, server_id):
        raise NotImplementedError

    def failovers(self):
        raise NotImplementedError

    def move(self, ips, destination):
        raise NotImplementedError

    def rescue_images(self, server_id):
        raise NotImplementedError

    def boot_rescue(self, server_id, image):
        raise NotImplementedError

    def reboot(self, server_id, reason):
        raise NotImplementedError

    def boot_normal(self, server_id):
        raise NotImplementedError


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` (as an auth object, so that no
    ``.netrc`` entry replaces it); its repr does not show the token."""

    def __init__(self, token):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self):
        return "_Bearer(<token>)"


def _ip(value):
    """``value`` as a normalised IP address string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _one_line(text, limit=ERROR_TEXT_MAX):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OnlineProvider(FailoverProvider):
    """The Online.net / Scaleway Dedibox API (``api_url``: its ``/api/v1`` base)."""

    name = "online"

    def __init__(self, api_url, token, timeout=10, retries=3, backoff=0.5, allow_http=False):
        if not isinstance(api_url, str) or not re.match(r"^https?://[^\s/]+", api_url):
            raise ValueError("Online API: api_url must be an http(s) URL")
        if urlsplit(api_url).scheme != "https" and not allow_http:
            raise ValueError(
                f"Online API: api_url {_one_line(api_url, 80)} is not https:// (allow_http is off)"
            )
        if not isinstance(token, str) or not token.strip():
            raise ValueError("Online API: the API token (online:api_token) is missing")
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in token):
            raise ValueError(
                "Online API: the API token (online:api_token) holds whitespace or control characters"
            )
        self.api_url = api_url.rstrip("/")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._token = token
        retry = Retry(
            total=self.retries,
            backoff_factor=backoff,
            status_forcelist=STATUS_RETRIED,
            allowed_methods=frozenset({"GET", "POST"}),
            respect_retry_after_header=True,
            raise_on_status=False,
            redirect=False,
        )
        self._session = self._new_session(retry)
        # For a request that must not be sent twice (a reboot): retried only when no
        # connection could be made (the request was not sent) or on 429 (refused, not
        # taken); never on a timeout, a reset or a 5xx once it was sent (read=False:
        # the error as it came). Each call starts on a new connection (see _call), so
        # that a kept-alive one the server dropped meanwhile is not taken for a reset.
        once = Retry(
            total=self.retries,
            connect=self.retries,
            read=False,
            status=self.retries,
            other=0,
            backoff_factor=backoff,
            status_forcelist=STATUS_RETRIED_ONCE,
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
        session.auth = _Bearer(self._token)
        session.verify = True
        session.headers.update({"Accept": "application/json", "User-Agent": "hv-failover"})
        return session

    def __repr__(self):
        return f"OnlineProvider({self.api_url!r})"

    # ------------------------------------------------------------ the verbs

    def server(self, server_id):
        path = f"/server/{int(server_id)}"
        data = self._call("GET", path)
        where = f"GET {path}"
        if not isinstance(data, dict):
            raise self._shape(where, "not an object")
        sid, hostname = data.get("id"), data.get("hostname")
        if not isinstance(sid, int) or isinstance(sid, bool):
            raise self._shape(where, "no integer id")
        if not isinstance(hostname, str):
            raise self._shape(where, "no hostname")
        entries = data.get("ip")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self._shape(where, "no ip list")
        public = [e for e in entries if e.get("type") == "public"]
        if len(public) != 1 or _ip(public[0].get("address")) is None:
            raise self._shape(where, f"{len(public)} public addresses in ip[] (one expected)")
        network = data.get("network")
        ipfo = network.get("ipfo") if isinstance(network, dict) else None
        if not isinstance(ipfo, list) or any(_ip(ip) is None for ip in ipfo):
            raise self._shape(where, "network.ipfo is not a list of IP addresses")
        return Server(
            id=sid,
            hostname=hostname,
            main_ip=_ip(public[0]["address"]),
            failover_ips=tuple(_ip(ip) for ip in ipfo),
        )

    def failovers(self):
        path = "/server/failover"
        data = self._call("GET", path)
        where = f"GET {path}"
        if not isinstance(data, list):
            raise self._shape(where, "not a list")
        found = []
        for entry in data:
            if not isinstance(entry, dict) or _ip(entry.get("source")) is None:
                raise self._shape(where, "an entry without a source IP address")
            destination, mac = entry.get("destination"), entry.get("mac")
            if destination not in (None, "") and _ip(destination) is None:
                raise self._shape(where, f"{entry['source']}: the destination is not an IP address")
            if mac is not None and (not isinstance(mac, str) or not MAC.match(mac.lower())):
                raise self._shape(where, f"{entry['source']}: the mac is not a MAC address")
            found.append(Failover(_ip(entry["source"]), _ip(destination), mac.lower() if mac else None))
        return sorted(found, key=lambda f: ipaddress.ip_address(f.ip))

    def move(self, ips, destination):
        ips = [ips] if isinstance(ips, str) else list(ips)
        if not ips or any(_ip(ip) is None for ip in ips):
            raise ValueError(f"Online API: move: {ips!r} is not a list of IP addresses")
        if destination and _ip(destination) is None:
            raise ValueError(f"Online API: move: destination {destination!r} is not an IP address")
        path = "/server/failover/edit"
        form = {"source": ",".join(ips), "destination": destination or ""}
        try:
            data = self._call("POST", path, form)
        except ProviderError as exc:
            if exc.status == 409 and ALREADY.search(str(exc)):
                log.info("Online API: %s already routed to %s", ",".join(ips), destination or "nowhere")
                return False
            raise
        if data is not True:
            raise self._shape(f"POST {path}", "not true")
        return True

    def generate_mac(self, ip, kind="kvm"):
        """A new virtual MAC for failover IP ``ip`` (``kind``: kvm, vmware, xen)."""
        if _ip(ip) is None:
            raise ValueError(f"Online API: generateMac: {ip!r} is not an IP address")
        path = "/server/failover/generateMac"
        data = self._call("POST", path, {"address": _ip(ip), "type": kind})
        if not isinstance(data, str) or not MAC.match(data.lower()):
            raise self._shape(f"POST {path}", "not a MAC address")
        return data.lower()

    # ------------------------------------------------------- fencing verbs

    def rescue_images(self, server_id):
        path = f"/server/rescue_images/{int(server_id)}"
        data = self._call("GET", path)
        if not isinstance(data, list) or not all(isinstance(i, str) and i.strip() for i in data):
            raise self._shape(f"GET {path}", "not a list of image names")
        return [image.strip() for image in data]

    def boot_rescue(self, server_id, image):
        if not isinstance(image, str) or not IMAGE.fullmatch(image.strip()):
            raise ValueError(f"Online API: boot rescue: {image!r} is not a rescue image name")
        path = f"/server/boot/rescue/{int(server_id)}"
        # The answer holds the rescue system's login and password: checked, then dropped;
        # an answer that is not JSON is not quoted either.
        data = self._call("POST", path, {"image": image.strip()}, quote=False)
        if data is not True and not isinstance(data, dict):
            raise self._shape(f"POST {path}", "neither rescue credentials nor true")
        return True

    def reboot(self, server_id, reason):
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("Online API: reboot: a reason is required")
        path = f"/server/reboot/{int(server_id)}"
        data = self._call("POST", path, {"reason": _one_line(reason)}, once=True)
        if data is not True:
            raise self._shape(f"POST {path}", "not true")
        return True

    def boot_normal(self, server_id):
        path = f"/server/boot/normal/{int(server_id)}"
        data = self._call("POST", path)
        if data is not True:
            raise self._shape(f"POST {path}", "not true")
        return True

    # --------------------------------------------------------------- HTTP

    def _redact(self, text):
        return str(text).replace(self._token, HIDDEN)

    def _error(self, where, said, kind, status=None):
        return ProviderError(self._redact(f"Online API: {where}: {said}"), kind, status)

    def _shape(self, where, what):
        return self._error(where, f"unexpected answer: {what}", "bad_response")

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
        after = _after(len(retried))
        log.debug("Online API: %s -> %s%s (%.2f s)", where, resp.status_code, after, time.monotonic() - start)
        status = resp.status_code
        if 200 <= status < 300:
            return self._json(where, resp, body, quote)
        text = self._error_text(body)
        said = f"HTTP {status}{after}: {text}"
        if status in (401, 403):
            kind = "auth"
            said = f"HTTP {status} (the API token is refused: check online:api_token): {text}"
        elif status == 404:
            kind = "not_found"
        elif status == 429:
            kind = "rate_limited"
        elif 400 <= status < 500:
            kind = "refused"
        elif status >= 500:
            kind = "server"
        else:
            kind = "bad_response"
            said = f"HTTP {status}: not an answer the API gives (a redirect is not followed)"
        raise self._error(where, said, kind, status)

    def _json(self, where, resp, body, quote=True):
        ctype = resp.headers.get("Content-Type", "")
        text = body.decode("utf-8", "replace").strip()
        if not text:
            raise self._error(where, f"HTTP {resp.status_code} with an empty body", "bad_response")
        if "html" in ctype.lower() or text.startswith("<"):
            shown = f": {_one_line(text)}" if quote else ""
            raise self._error(
                where, f"HTTP {resp.status_code}: an HTML page, not JSON{shown}", "bad_response"
            )
        try:
            return json.loads(text)
        except ValueError as exc:
            shown = f": {_one_line(text, 80)}" if quote else ""
            raise self._error(
                where, f"HTTP {resp.status_code}: invalid JSON ({exc}){shown}", "bad_response"
            ) from None

    def _error_text(self, body):
        """The API's error (``error``, ``error_description``) or the body, on one short line."""
        text = body.decode("utf-8", "replace").strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("error"):
            parts = [str(data["error"])]
            if data.get("error_description"):
                parts.append(str(data["error_description"]))
            text = ": ".join(parts)
        return _one_line(self._redact(text)) or "no error text"

    def _transport_error(self, where, exc, once=False):
        """A ProviderError for a request that got no usable answer (after the retries;
        ``once``: none once the request was sent, and the message says it may be taken)."""
        reason = exc.args[0] if exc.args else None
        retried = isinstance(reason, MaxRetryError)
        if retried:
            reason = reason.reason
        after = _after(self.retries)
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


def _after(retries):
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
    return _one_line(text, 120) or type(reason).__name__


def provider(config):
    """
    The provider described by ``config``: ``{"provider": "online", "api_url",
    "api_token", "allow_http", "timeout", "retries"}`` (``backoff``, the
    retries' backoff factor, is optional). Raises ValueError for a wrong one.
    """
    name = config.get("provider", "online")
    if name != "online":
        raise ValueError(f"failover provider {name!r} is not supported (supported: online)")
    return OnlineProvider(
        config.get("api_url") or ONLINE_API_URL,
        config.get("api_token"),
        timeout=config.get("timeout", 10),
        retries=config.get("retries", 3),
        backoff=config.get("backoff", 0.5),
        allow_http=bool(config.get("allow_http", False)),
    )
