"""The stand-in API's endpoints (lab/online_api.py): methods of StandIn, called
with its lock held, and the table that routes a request to them."""

import random
import re
import secrets
import time

from .online_api_answers import MAC_TYPES, error_answer, json_answer, server_mac, split_sources


class Endpoints:
    """What the API answers, and the state helpers the answers share: StandIn's
    state (``_servers``, ``_failovers``, ``_pending``, ``_power``...) is theirs to
    read and change."""

    def _get_server(self, match, _form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        return json_answer(200, self._server_json(server_id))

    def _get_failovers(self, _match, _form):
        return json_answer(
            200,
            [
                {"source": ip, "destination": f["destination"], "mac": f["mac"], "status": "active"}
                for ip, f in self._failovers.items()
            ],
        )

    def _edit(self, _match, form):
        sources = split_sources(form.get("source", ""))
        if not sources:
            return error_answer(400, "Missing parameter: source")
        if "destination" not in form:
            return error_answer(400, "Missing parameter: destination")
        destination = form["destination"].strip() or None
        refusal = self._edit_refusal(sources, destination)
        if refusal:
            return refusal
        now = time.time()
        if self._spacing and self._last_edit is not None and now - self._last_edit < self._spacing:
            return error_answer(429, "Too many requests: wait before changing a failover IP again")
        self._last_edit = now
        for ip in sources:
            self._schedule(ip, destination, now + self._delay)
        self._apply_due(now)
        return json_answer(200, True)

    def _edit_refusal(self, sources, destination):
        """The 404/400/409 answer an edit gets, or None when it is acceptable."""
        unknown = [ip for ip in sources if ip not in self._failovers]
        if unknown:
            return error_answer(404, f"Failover IP not found: {', '.join(unknown)}")
        if destination is not None and destination not in self._mains:
            return error_answer(400, f"Destination {destination} is not the main IP of one of your servers")
        for group in self._mac_groups(sources):
            if not set(group) <= set(sources):
                return error_answer(400, f"{', '.join(group)} share a virtual MAC and move together")
        if all(self._will_have(ip) == destination for ip in sources):
            word = "provisioned" if destination else "deprovisioned"
            return error_answer(409, f"Address already {word}")
        return None

    def _generate_mac(self, _match, form):
        address = form.get("address", "").strip()
        if not address:
            return error_answer(400, "Missing parameter: address")
        if address not in self._failovers:
            return error_answer(404, f"Failover IP not found: {address}")
        if form.get("type") not in MAC_TYPES:
            return error_answer(400, f"Invalid type (one of {', '.join(MAC_TYPES)})")
        if self._failovers[address]["mac"]:
            return error_answer(409, f"Address {address} already has a virtual MAC")
        mac = self._new_mac()
        self._failovers[address]["mac"] = mac
        return json_answer(200, mac)

    def _get_rescue_images(self, match, _form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        return json_answer(200, self._rescue_images)

    def _boot_rescue(self, match, form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        image = form.get("image", "").strip()
        if not image:
            return error_answer(400, "Missing parameter: image")
        if image not in self._rescue_images:
            return error_answer(400, f"Invalid rescue image {image} for server {server_id}")
        credentials = {
            "login": f"sd-{server_id}",
            "password": secrets.token_urlsafe(12),
            "protocol": "ssh",
            "ip": self._servers[server_id]["public"],
        }
        self._power[server_id].update(boot="rescue", image=image, rescue_credentials=credentials)
        return json_answer(200, credentials)

    def _reboot(self, match, form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        reason = form.get("reason", "").strip()
        if not reason:
            return error_answer(400, "Missing parameter: reason")
        power = self._power[server_id]
        power["reboots"] += 1
        power["reasons"].append(reason)
        power["running"] = power["boot"]
        return json_answer(200, True)

    def _boot_normal(self, match, _form):
        server_id = int(match.group(1))
        if server_id not in self._servers:
            return error_answer(404, f"Server {server_id} not found")
        self._power[server_id].update(boot="normal", image=None, rescue_credentials=None)
        return json_answer(200, True)

    # state helpers (lock held) --------------------------------------------------------

    def _server_json(self, server_id):
        server = self._servers[server_id]
        public, private = server["public"], server["private"]
        ipfo = [ip for ip, f in self._failovers.items() if f["destination"] == public]
        ips = [{"address": public, "type": "public", "mac": server_mac(server_id, 0)}]
        if private:
            ips.append({"address": private, "type": "private", "mac": server_mac(server_id, 1)})
        ips += [
            {
                "address": ip,
                "type": "failover",
                "mac": self._failovers[ip]["mac"],
                "destination": public,
                "status": "active",
            }
            for ip in ipfo
        ]
        return {
            "id": server_id,
            "hostname": server["hostname"],
            "network": {"ip": [public], "private": [private] if private else [], "ipfo": ipfo},
            "ip": ips,
        }

    def _mac_groups(self, ips):
        """For each virtual MAC among ``ips``: every failover IP carrying it."""
        macs = dict.fromkeys(self._failovers[ip]["mac"] for ip in ips if self._failovers[ip]["mac"])
        return [[ip for ip, f in self._failovers.items() if f["mac"] == mac] for mac in macs]

    def _will_have(self, ip):
        """Where ``ip`` is routed once its pending move (if any) is done."""
        pending = self._pending.get(ip)
        return pending["destination"] if pending else self._failovers[ip]["destination"]

    def _schedule(self, ip, destination, due):
        """A later move replaces a pending one; a move back to the current route cancels it."""
        if self._failovers[ip]["destination"] == destination:
            self._pending.pop(ip, None)
        else:
            self._pending[ip] = {"destination": destination, "due": due}

    def _apply_due(self, now):
        for ip, pending in list(self._pending.items()):
            if pending["due"] <= now:
                self._failovers[ip]["destination"] = pending["destination"]
                del self._pending[ip]

    def _new_mac(self):
        taken = {f["mac"] for f in self._failovers.values()}
        while True:
            mac = "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
            if mac not in taken:
                return mac


ROUTES = (
    ("GET", re.compile(r"/server/failover"), "_get_failovers"),
    ("POST", re.compile(r"/server/failover/edit"), "_edit"),
    ("POST", re.compile(r"/server/failover/generateMac"), "_generate_mac"),
    ("GET", re.compile(r"/server/(\d+)"), "_get_server"),
    ("GET", re.compile(r"/server/rescue_images/(\d+)"), "_get_rescue_images"),
    ("POST", re.compile(r"/server/boot/rescue/(\d+)"), "_boot_rescue"),
    ("POST", re.compile(r"/server/boot/normal/(\d+)"), "_boot_normal"),
    ("POST", re.compile(r"/server/reboot/(\d+)"), "_reboot"),
)
