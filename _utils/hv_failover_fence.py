"""
hv_failover_fence: ``online.fence``'s work: a dead host kept out through the
provider's API (its next boot a rescue system, then one hard reboot), refused
with nothing sent for this host or one the API cannot reach.

Plain Python (imported by ``_modules/online.py``); Salt is reached through the
:class:`hv_failover_base.Minion` callbacks it is given.
"""

import logging

from hv_failover_base import NO_PROVIDER, UNCERTAIN, ApiError, api, refused, server_id
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

EVENT_KEYS = ("host", "server_id", "image", "reason", "rescue", "rebooted", "may_have_rebooted", "comment")


def fence_target(hv, host, minion_id):
    """``host``'s number at the provider; refused, nothing sent, for this host or one the
    API cannot reach (not a cluster host, no server number: the arbiter)."""
    if host in (hv["me"]["name"], minion_id):
        raise refused(f"a host does not fence itself ({host} is this host)")
    try:
        return server_id(hv, host)
    except CommandExecutionError as exc:
        raise refused(str(exc)) from None


def rescue_image(hv, prov, sid, image):
    """(the rescue image to boot, where it comes from): ``image``, else
    ``hypervisor:takeover:rescue_image``, else the first one the API lists."""
    if image:
        return str(image).strip(), "given"
    configured = (hv.get("takeover") or {}).get("rescue_image") or ""
    if configured:
        return str(configured).strip(), "hypervisor:takeover:rescue_image"
    try:
        images = api(prov, "rescue_images", sid)
    except ApiError as exc:
        raise CommandExecutionError(f"{exc}: not fenced (no rescue image to boot)") from None
    if not images:
        raise CommandExecutionError(f"the API lists no rescue image for server {sid}: not fenced")
    return images[0], "the first the API lists"


def fence(minion, hv, prov, host, reason, image, ret, minion_id=None):
    """fence's work; fills ``ret``, raises CommandExecutionError on a refusal or an API error."""
    sid = fence_target(hv, host, minion_id)
    if prov is None:
        raise refused(f"{NO_PROVIDER}: no host can be fenced")
    me = hv["me"]["name"]
    reason = " ".join(str(reason or "").split()) or (
        f"fenced by {me}: its HA cluster holds {host} for dead (next boot: rescue)"
    )
    ret.update(server_id=sid, reason=reason)
    doing = f"fencing {host} (server {sid}): rescue boot, then a hard reboot"
    minion.event("hv/fence/started", {"host": host, "server_id": sid, "reason": reason, "comment": doing})
    log.warning("online: %s (%s)", doing, reason)
    ret["image"], source = rescue_image(hv, prov, sid, image)
    try:
        api(prov, "boot_rescue", sid, ret["image"])
    except (ApiError, ValueError) as exc:  # ValueError: not an image name, nothing sent
        raise CommandExecutionError(f"{exc}: not fenced (no reboot asked)") from None
    ret["rescue"] = True
    ret["may_have_rebooted"] = True  # from here on the API may take the reboot
    try:
        api(prov, "reboot", sid, reason)
    except ApiError as exc:
        rescue = f"the next boot of {host} is the rescue system {ret['image']}"
        ret["may_have_rebooted"] = exc.kind in UNCERTAIN
        if exc.kind in UNCERTAIN:
            said = (
                f"not known to be fenced: {rescue}, but the API may or may not have taken the reboot"
                " (not sent again: one call never reboots twice)"
            )
        else:
            said = f"not fenced: {rescue}, but the API refused the reboot"
        raise CommandExecutionError(f"{exc}: {said}") from None
    ret.update(
        rebooted=True,
        result=True,
        comment=f"{host} (server {sid}) fenced: the API took its hard reboot into the rescue system"
        f" {ret['image']} ({source}); it stays out until booted normally (online.unfence {host})",
    )
