"""
The rules of the guests, the provider's API settings and the failover IPs'
servers (F22, F24, F26): each guest's keys, its home a host that carries
guests, its disk in a pool, its NICs on the bridges with unique unicast MACs,
its failover IPs the cluster's, each held once. Plain Python.
"""

import re

import hv_check
import hv_layout
import hv_providers
import hv_rules_hosts
import hv_schema

GUEST_KEYS = (
    "home",
    "memory",
    "vcpus",
    "virt_type",
    "running",
    "disk",
    "nics",
    "failover_ips",
    "boot",
    "anti_affinity",
    "backup",
)
GUEST_REQUIRED = ("home", "memory", "disk")
GUEST_RANGES = {"memory": (32, 1048576), "vcpus": (1, 64)}  # MiB, count
VIRT_TYPES = ("kvm", "qemu")  # qemu: TCG, without /dev/kvm
DISK_KEYS = ("pool", "size")
NIC_KEYS = ("bridge", "mac")
BOOT_KEYS = ("kernel", "initrd", "cmdline")


def check_provider_part(errors, provider, part):
    """A provider's pillar part (``online:``, ``hetzner:``): its keys, its URL (https unless
    allow_http, for a local stand-in), its credentials non-empty strings."""
    path = (provider.part,)
    if not hv_check.require_mapping(errors, path, part):
        return
    hv_check.unknown_keys(errors, path, part, provider.keys)
    allow_http = part.get("allow_http", False)
    if not isinstance(allow_http, bool):
        errors.add(path + ("allow_http",), f"must be true or false, got {errors.show(allow_http)}")
    url = part.get("api_url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url)):
        errors.add(path + ("api_url",), f"{errors.show(url)} is not an http(s) URL")
    elif isinstance(url, str) and url.startswith("http://") and allow_http is not True:
        errors.add(
            path + ("api_url",),
            f"{errors.show(url)} is plain http: the credentials would cross the network in clear; use"
            f" https:// (plain http only for a local stand-in, with {provider.part}:allow_http: true)",
        )
    for key in provider.credentials:
        value = part.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            errors.add(path + (key,), "must be a non-empty string")


def check_credentials_placement(errors, hosts, pillar, minion_id):
    """B10: a provider's credentials only on hosts that carry guests (they move and fence
    through the API); an arbiter never calls it."""
    if not isinstance(hosts, dict) or minion_id not in hv_layout.arbiters(hosts):
        return
    for provider in hv_providers.PROVIDERS.values():
        part = hv_providers.part_of(pillar, provider)
        for key in provider.credentials:
            if part is not None and key in part:
                errors.add(
                    (provider.part, key),
                    f"reaches the arbiter {errors.show(minion_id)}, which never calls the provider's API:"
                    f" target {provider.part}.sls at the nodegroup '{hv_schema.GUEST_NODEGROUP}' only"
                    " (pillar/top.sls, master.d/hypervisor.conf)",
                )


def check_failover(errors, hv, pillar):
    """F22, F24, B7: the settings of the provider ``failover:provider`` names, not another's:
    a server number per guest host when its API part is there (it routes failover IPs to
    servers, not to names); another provider's part or server keys are refused."""
    hosts = hv.get("hosts")
    if not isinstance(hosts, dict):
        return
    chosen = hv_providers.named(hv)
    for other in hv_providers.PROVIDERS.values():
        if other is chosen:
            continue
        if hv_providers.part_of(pillar, other) is not None:
            errors.add(
                (other.part,),
                f"is {other.label}'s settings, but hypervisor:failover:provider is {chosen.name}: serve"
                f" no {other.part}.sls to this cluster (an empty one shadows the repository's)",
            )
        for name in sorted(hosts, key=str):
            if isinstance(hosts[name], dict) and other.server_key in hosts[name]:
                errors.add(
                    ("hypervisor", "hosts", name, other.server_key),
                    f"belongs to {other.label}, but hypervisor:failover:provider is {chosen.name}:"
                    f" use {chosen.server_key}",
                )
    if hv_providers.part_of(pillar, chosen) is None:
        return
    for name in hv_layout.members(hosts):
        if isinstance(hosts[name], dict) and chosen.server_key not in hosts[name]:
            errors.add(
                ("hypervisor", "hosts", name, chosen.server_key),
                f"is required with the {chosen.part}: API settings: the API routes failover IPs to"
                " server numbers",
            )


def _check_guest_disk(errors, path, disk, pools):
    if not hv_check.require_mapping(errors, path, disk):
        return
    hv_check.unknown_keys(errors, path, disk, DISK_KEYS)
    hv_check.required(errors, path, disk, DISK_KEYS)
    pool = disk.get("pool")
    if pool is not None and (not isinstance(pool, str) or pool not in pools):
        names = ", ".join(sorted(map(str, pools)))
        errors.add(path + ("pool",), f"{errors.show(pool)} is not a pool of hypervisor:pools ({names})")
    size = disk.get("size")
    if size is not None:
        hv_check.match(errors, path + ("size",), size, hv_schema.SIZE, "a size like 16G")
        if isinstance(size, str) and hv_schema.SIZE.fullmatch(size) and int(size[:-1]) == 0:
            errors.add(path + ("size",), "must be more than 0")


def _check_guest_boot(errors, path, boot):
    """Direct kernel boot: a kernel, optionally an initrd, a one-line command line."""
    if not hv_check.require_mapping(errors, path, boot):
        return
    hv_check.unknown_keys(errors, path, boot, BOOT_KEYS)
    hv_check.required(errors, path, boot, ("kernel",))
    for key in ("kernel", "initrd"):
        if boot.get(key) is not None:
            hv_check.check_path(errors, path + (key,), boot[key])
    cmdline = boot.get("cmdline", "")
    if not isinstance(cmdline, str) or not cmdline.isprintable():
        errors.add(path + ("cmdline",), f"{errors.show(cmdline)} is not one line of text")


def _check_guest_nics(errors, path, name, nics, bridges, macs):
    """Each NIC on a network of hypervisor:bridges, with a unicast MAC no other NIC has."""
    if not isinstance(nics, list):
        errors.add(path, f"must be a list of NICs ({{bridge: <net>, mac: ...}}), got {type(nics).__name__}")
        return
    for index, nic in enumerate(nics):
        npath = path + (index,)
        if not hv_check.require_mapping(errors, npath, nic):
            continue
        hv_check.unknown_keys(errors, npath, nic, NIC_KEYS)
        hv_check.required(errors, npath, nic, ("bridge",))
        net = nic.get("bridge")
        if net is not None and (not isinstance(net, str) or net not in bridges):
            nets = ", ".join(sorted(map(str, bridges)))
            errors.add(
                npath + ("bridge",), f"{errors.show(net)} is not a network of hypervisor:bridges ({nets})"
            )
        mac = nic.get("mac", hv_schema.default_mac(name, index))
        mac = mac.lower() if isinstance(mac, str) else mac
        if "mac" in nic:
            hv_check.match(errors, npath + ("mac",), mac, hv_schema.MAC, "a MAC address (aa:bb:cc:dd:ee:ff)")
        if not isinstance(mac, str) or not hv_schema.MAC.fullmatch(mac):
            continue
        if int(mac[:2], 16) & 1:
            errors.add(npath + ("mac",), f"{errors.show(mac)} is a multicast address, not a NIC's")
        elif mac in macs:
            errors.add(
                npath + ("mac",), f"{errors.show(mac)} is already the MAC of {hv_check.named(macs[mac])}"
            )
        else:
            macs[mac] = npath + ("mac",)


def _check_guest_ips(errors, path, ips, cluster_ips, held):
    """Failover IPs of the cluster (hosts:<host>:failover_ips), each held by one guest."""
    hv_rules_hosts.check_failover_list(errors, path, ips)
    for index, ip in hv_check.list_items(ips, str):
        if ip not in cluster_ips:
            errors.add(
                path + (index,),
                f"{errors.show(ip)} is not a failover IP of the cluster (hosts:<host>:failover_ips)",
            )
        elif ip in held:
            errors.add(path + (index,), f"{errors.show(ip)} is already held by {hv_check.named(held[ip])}")
        else:
            held[ip] = path + (index,)


def check_guests(errors, guests, hv, merged):
    """F26: each guest's keys and values; its home a host that carries guests, its disk in a
    pool, its NICs on the bridges, its failover IPs the cluster's and on the public bridge."""
    path = ("hypervisor", "guests")
    if not hv_check.require_mapping(errors, path, guests):
        return
    hosts = hv.get("hosts") if isinstance(hv.get("hosts"), dict) else {}
    homes = hv_layout.members(hosts)
    pools = merged.get("pools") if isinstance(merged.get("pools"), dict) else {}
    bridges = hv.get("bridges", hv_schema.DEFAULT_BRIDGES)
    bridges = bridges if isinstance(bridges, dict) else {}
    public = [n for n, b in bridges.items() if isinstance(b, dict) and b.get("public") is True]
    cluster_ips = {
        ip
        for host in hosts.values()
        if isinstance(host, dict)
        for _i, ip in hv_check.list_items(host.get("failover_ips"), str)
    }
    macs, held = {}, {}
    for name, guest in sorted(guests.items(), key=lambda item: str(item[0])):
        gpath = path + (name,)
        hv_check.match(
            errors, gpath, name, hv_schema.NAME, "a guest name ([a-z][a-z0-9_-]*, at most 32 characters)"
        )
        if not hv_check.require_mapping(errors, gpath, guest):
            continue
        hv_check.unknown_keys(errors, gpath, guest, GUEST_KEYS)
        hv_check.required(errors, gpath, guest, GUEST_REQUIRED)
        if "home" in guest and guest["home"] not in homes:
            where = f"({', '.join(homes)})" + (
                " (not the gluster arbiter)" if hv_layout.arbiter(hosts) else ""
            )
            errors.add(
                gpath + ("home",), f"{errors.show(guest['home'])} is not a host that carries guests {where}"
            )
        for key, bounds in GUEST_RANGES.items():
            if key in guest:
                hv_check.int_in_range(errors, gpath + (key,), guest[key], bounds)
        if "virt_type" in guest and guest["virt_type"] not in VIRT_TYPES:
            errors.add(
                gpath + ("virt_type",),
                f"{errors.show(guest['virt_type'])} is not one of {', '.join(VIRT_TYPES)}",
            )
        if guest.get("anti_affinity") is not None:
            hv_check.match(
                errors,
                gpath + ("anti_affinity",),
                guest["anti_affinity"],
                hv_schema.NAME,
                "a group name ([a-z][a-z0-9_-]*, at most 32 characters)",
            )
        for key in ("running", "backup"):
            if key in guest and not isinstance(guest[key], bool):
                errors.add(gpath + (key,), f"must be true or false, got {errors.show(guest[key])}")
        if "disk" in guest:
            _check_guest_disk(errors, gpath + ("disk",), guest["disk"], pools)
        if guest.get("boot") is not None:
            _check_guest_boot(errors, gpath + ("boot",), guest["boot"])
        nics = guest.get("nics", [])
        _check_guest_nics(errors, gpath + ("nics",), name, nics, bridges, macs)
        ips = guest.get("failover_ips", [])
        _check_guest_ips(errors, gpath + ("failover_ips",), ips, cluster_ips, held)
        on_public = isinstance(nics, list) and any(
            isinstance(n, dict) and n.get("bridge") in public for n in nics
        )
        if isinstance(ips, list) and ips and not on_public:
            wan = f"'{public[0]}'" if public else "none is public"
            errors.add(
                gpath + ("nics",), f"a guest holding failover IPs needs a NIC on the public bridge ({wan})"
            )
