"""
failover_online: the Online.net / Scaleway Dedibox API (as public clients and its
documentation show it) behind the provider interface (failover_provider).

The header ``Authorization: Bearer <token>``; 429, 5xx and connection errors
retried, 401/403 never (failover_http). A move is one call for all its IPs and
may take effect later (callers read back). A reboot is retried only when the
request cannot have been taken. The token is the only secret; the rescue
credentials the API answers a rescue boot with are dropped, never quoted.
Plain importable Python.
"""

import ipaddress
import logging
import re

import requests.auth
from failover_http import JsonApi, json_body
from failover_provider import Failover, Server, checked_ips, ip_text, one_line

log = logging.getLogger(__name__)

ONLINE_API_URL = "https://api.online.net/api/v1"
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}")  # a rescue image: debian-12_amd64
ALREADY = re.compile(r"already (de)?provisioned", re.I)


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; its repr does not show the token."""

    def __init__(self, token):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self):
        return "_Bearer(<token>)"


class OnlineProvider(JsonApi):
    """The Online.net / Scaleway Dedibox API (``api_url``: its ``/api/v1`` base)."""

    name = "online"
    label = "Online API"
    hidden = "<token>"

    def __init__(self, api_url, token, timeout=10, retries=3, backoff=0.5, allow_http=False):
        if not isinstance(token, str) or not token.strip():
            raise ValueError("Online API: the API token (online:api_token) is missing")
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in token):
            raise ValueError(
                "Online API: the API token (online:api_token) holds whitespace or control characters"
            )
        super().__init__(api_url, _Bearer(token), (token,), timeout, retries, backoff, allow_http)

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
        if len(public) != 1 or ip_text(public[0].get("address")) is None:
            raise self._shape(where, f"{len(public)} public addresses in ip[] (one expected)")
        network = data.get("network")
        ipfo = network.get("ipfo") if isinstance(network, dict) else None
        if not isinstance(ipfo, list) or any(ip_text(ip) is None for ip in ipfo):
            raise self._shape(where, "network.ipfo is not a list of IP addresses")
        return Server(
            id=sid,
            hostname=hostname,
            main_ip=ip_text(public[0]["address"]),
            failover_ips=tuple(ip_text(ip) for ip in ipfo),
        )

    def failovers(self):
        path = "/server/failover"
        data = self._call("GET", path)
        where = f"GET {path}"
        if not isinstance(data, list):
            raise self._shape(where, "not a list")
        found = []
        for entry in data:
            if not isinstance(entry, dict) or ip_text(entry.get("source")) is None:
                raise self._shape(where, "an entry without a source IP address")
            destination, mac = entry.get("destination"), entry.get("mac")
            if destination not in (None, "") and ip_text(destination) is None:
                raise self._shape(where, f"{entry['source']}: the destination is not an IP address")
            if mac is not None and (not isinstance(mac, str) or not MAC.match(mac.lower())):
                raise self._shape(where, f"{entry['source']}: the mac is not a MAC address")
            found.append(
                Failover(ip_text(entry["source"]), ip_text(destination), mac.lower() if mac else None)
            )
        return sorted(found, key=lambda f: ipaddress.ip_address(f.ip))

    def move(self, ips, destination):
        ips = checked_ips(self.label, ips, destination)
        path = "/server/failover/edit"
        form = {"source": ",".join(ips), "destination": destination or ""}
        try:
            data = self._call("POST", path, form)
        except self.Error as exc:
            if exc.status == 409 and ALREADY.search(str(exc)):
                log.info("Online API: %s already routed to %s", ",".join(ips), destination or "nowhere")
                return False
            raise
        if data is not True:
            raise self._shape(f"POST {path}", "not true")
        return True

    def generate_mac(self, ip, kind="kvm"):
        """A new virtual MAC for failover IP ``ip`` (``kind``: kvm, vmware, xen)."""
        if ip_text(ip) is None:
            raise ValueError(f"Online API: generateMac: {ip!r} is not an IP address")
        path = "/server/failover/generateMac"
        data = self._call("POST", path, {"address": ip_text(ip), "type": kind})
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
        data = self._call("POST", path, {"reason": one_line(reason)}, once=True)
        if data is not True:
            raise self._shape(f"POST {path}", "not true")
        return True

    def boot_normal(self, server_id):
        path = f"/server/boot/normal/{int(server_id)}"
        data = self._call("POST", path)
        if data is not True:
            raise self._shape(f"POST {path}", "not true")
        return True

    # --------------------------------------------------------------- errors

    def _status_error(self, where, status, body, after):
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
            said = f"HTTP {status}: not an answer the API gives"
        return self._error(where, said, kind, status)

    def _error_text(self, body):
        """The API's error (``error``, ``error_description``) or the body, on one short line."""
        data = json_body(body)
        text = body.decode("utf-8", "replace").strip()
        if isinstance(data, dict) and data.get("error"):
            parts = [str(data["error"])]
            if data.get("error_description"):
                parts.append(str(data["error_description"]))
            text = ": ".join(parts)
        return one_line(self._redact(text)) or "no error text"
