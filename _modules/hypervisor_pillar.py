"""
Validate the cluster pillar and give the states their settings (F1).

Every state file imports ``map.jinja``, which calls :func:`settings`; when the
pillar is wrong it raises, the render fails and ``state.apply`` stops before a
single state has run, with one line per problem naming the pillar key.

The checks are plain Python (:func:`validate`), importable without Salt, so
the unit tests drive them directly. The pillar is documented in
``pillar.example`` at the top of the repository.
"""

import copy
import difflib
import ipaddress
import logging
import re

import yaml

try:
    from salt.exceptions import CommandExecutionError
except ImportError:  # the pure functions work without Salt
    CommandExecutionError = ValueError

log = logging.getLogger(__name__)

__virtualname__ = "hypervisor_pillar"

TOKEN_KEY = ("online", "api_token")
SECRET_NAME = re.compile(r"(token|api_?key|secret|passw(or)?d)", re.IGNORECASE)
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
NETWORK_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
SSH_KEY = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-\S+@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( .*)?$"
)
SYSCTL_NAME = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")
HOST_ID_RANGE = (1, 2000)  # sanlock host ids
MTU_RANGE = (576, 9000)
PORT_RANGE = (1, 65535)
HOST_UUID_SOURCES = ("smbios", "machine-id")
# Maps of the defaults whose keys are free-form (any sysctl, any boolean, …).
OPEN_MAPS = {("sysctl", "settings"), ("selinux", "booleans"), ("repos",), ("gluster", "bricks", "devices")}
# Parts of the defaults checked by a function of their own (below).
CUSTOM = {("gluster", "volumes"), ("pools",)}
VOLUME_KEYS = ("mount", "size", "options")
POOL_KEYS = ("path",)
BRICK_TYPES = ("directory", "lvm", "device")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SIZE = re.compile(r"^[0-9]+[KMGT]$")
GLUSTER_OPTION = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
# The keys of each part of the cluster description (pillar.example has them all).
CLUSTER_KEYS = ("domain", "hosts", "bridges", "admins")
HOST_KEYS = ("host_id", "peer", "online_server_id", "public", "rpn")
PUBLIC_KEYS = ("interface", "address")
RPN_KEYS = ("interface", "mac", "address", "dhcp", "mtu")
BRIDGE_KEYS = ("name", "vpn_port")
ADMIN_KEYS = ("name", "ssh_keys")
ONLINE_KEYS = ("api_url", "api_token")
DEFAULT_BRIDGES = {
    "wan": {"name": "brwan", "vpn_port": 1195},
    "lan": {"name": "brlan", "vpn_port": 1194},
}


def __virtual__():
    return __virtualname__


def _key(*path):
    return ":".join(str(p) for p in path)


class _Errors(list):
    def add(self, path, message):
        self.append(f"pillar key '{_key(*path)}': {message}")


def _unknown_keys(errors, path, data, allowed):
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.add(path + (key,), f"unknown key{hint}")


def _require_mapping(errors, path, value):
    if not isinstance(value, dict):
        errors.add(path, f"must be a mapping, got {type(value).__name__}")
        return False
    return True


def _int_in_range(errors, path, value, bounds):
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, f"must be an integer, got {value!r}")
    elif not low <= value <= high:
        errors.add(path, f"{value} is out of range {low}..{high}")


def _match(errors, path, value, pattern, what):
    if not isinstance(value, str) or not pattern.match(value):
        errors.add(path, f"{value!r} is not {what}")


def _ipv4(errors, path, value, with_prefix):
    try:
        if not isinstance(value, str):
            raise ValueError
        if with_prefix:
            if "/" not in value:
                raise ValueError
            ipaddress.IPv4Interface(value)
        else:
            ipaddress.IPv4Address(value)
    except ValueError:
        form = "an IPv4 address with prefix length (a.b.c.d/nn)" if with_prefix else "an IPv4 address"
        errors.add(path, f"{value!r} is not {form}")


def _required(errors, path, data, keys):
    for key in keys:
        if key not in data:
            errors.add(path + (key,), "is required but missing")


def _check_host(errors, name, host, names):
    path = ("hypervisor", "hosts", name)
    if not _require_mapping(errors, path, host):
        return
    _unknown_keys(errors, path, host, HOST_KEYS)
    _required(errors, path, host, ("host_id", "peer", "public", "rpn"))
    if "host_id" in host:
        _int_in_range(errors, path + ("host_id",), host["host_id"], HOST_ID_RANGE)
    if "peer" in host:
        peer = host["peer"]
        if peer == name:
            errors.add(path + ("peer",), "a host cannot be its own peer")
        elif peer not in names:
            errors.add(path + ("peer",), f"{peer!r} is not a host of the cluster ({', '.join(names)})")
    if "online_server_id" in host:
        _int_in_range(errors, path + ("online_server_id",), host["online_server_id"], (1, 10**9))
    public = host.get("public")
    if public is not None and _require_mapping(errors, path + ("public",), public):
        _unknown_keys(errors, path + ("public",), public, ("interface", "address"))
        _required(errors, path + ("public",), public, ("interface", "address"))
        if "interface" in public:
            _match(errors, path + ("public", "interface"), public["interface"], IFNAME, "an interface name")
        if "address" in public:
            _ipv4(errors, path + ("public", "address"), public["address"], with_prefix=False)
    rpn = host.get("rpn")
    if rpn is not None and _require_mapping(errors, path + ("rpn",), rpn):
        _unknown_keys(errors, path + ("rpn",), rpn, ("interface", "mac", "address", "dhcp", "mtu"))
        _required(errors, path + ("rpn",), rpn, ("interface", "mac", "address"))
        if "interface" in rpn:
            _match(errors, path + ("rpn", "interface"), rpn["interface"], IFNAME, "an interface name")
        if "mac" in rpn:
            mac = rpn["mac"].lower() if isinstance(rpn["mac"], str) else rpn["mac"]
            _match(errors, path + ("rpn", "mac"), mac, MAC, "a MAC address (aa:bb:cc:dd:ee:ff)")
        if "address" in rpn:
            _ipv4(errors, path + ("rpn", "address"), rpn["address"], with_prefix=True)
        if "dhcp" in rpn and not isinstance(rpn["dhcp"], bool):
            errors.add(path + ("rpn", "dhcp"), f"must be true or false, got {rpn['dhcp']!r}")
        if "mtu" in rpn:
            _int_in_range(errors, path + ("rpn", "mtu"), rpn["mtu"], MTU_RANGE)


def _check_unique(errors, hosts, getter, label):
    seen = {}
    for name in sorted(hosts):
        try:
            value = getter(hosts[name])
        except (KeyError, TypeError, AttributeError):
            continue
        if isinstance(value, str):
            value = value.split("/")[0].lower()
        if value in seen:
            errors.add(
                ("hypervisor", "hosts", name) + label,
                f"{value!r} is already used by host {seen[value]!r}",
            )
        else:
            seen[value] = name


def _check_hosts(errors, hosts, minion_id):
    path = ("hypervisor", "hosts")
    if not _require_mapping(errors, path, hosts):
        return
    names = sorted(hosts)
    for name in names:
        if not isinstance(name, str) or not HOSTNAME.match(name):
            errors.add(path + (name,), f"{name!r} is not a valid host name")
    if len(names) < 2:
        errors.add(path, f"a cluster needs at least 2 hosts, got {len(names)}")
    for name in names:
        _check_host(errors, name, hosts[name], names)
    _check_unique(errors, hosts, lambda h: h["host_id"], ("host_id",))
    _check_unique(errors, hosts, lambda h: h["public"]["address"], ("public", "address"))
    _check_unique(errors, hosts, lambda h: h["rpn"]["address"], ("rpn", "address"))
    _check_unique(errors, hosts, lambda h: h["rpn"]["mac"], ("rpn", "mac"))
    if minion_id is not None and minion_id not in hosts:
        errors.add(path, f"has no entry for this minion {minion_id!r}")


def _check_bridges(errors, bridges):
    path = ("hypervisor", "bridges")
    if not _require_mapping(errors, path, bridges):
        return
    names, ports = {}, {}
    for net, bridge in sorted(bridges.items()):
        bpath = path + (net,)
        _match(errors, bpath, net, NETWORK_NAME, "a network name ([a-z][a-z0-9]*, at most 12 characters)")
        if not _require_mapping(errors, bpath, bridge):
            continue
        _unknown_keys(errors, bpath, bridge, BRIDGE_KEYS)
        _required(errors, bpath, bridge, ("name", "vpn_port"))
        name = bridge.get("name")
        if name is not None:
            if isinstance(name, str) and len(name) > 15:
                errors.add(bpath + ("name",), f"{name!r} is longer than 15 characters (Linux IFNAMSIZ)")
            else:
                _match(errors, bpath + ("name",), name, IFNAME, "an interface name")
            if name in names:
                errors.add(bpath + ("name",), f"{name!r} is already the bridge of network {names[name]!r}")
            names.setdefault(name, net)
        port = bridge.get("vpn_port")
        if port is not None:
            _int_in_range(errors, bpath + ("vpn_port",), port, PORT_RANGE)
            if port in ports:
                errors.add(bpath + ("vpn_port",), f"port {port} is already used by network {ports[port]!r}")
            ports.setdefault(port, net)


def _check_admins(errors, admins):
    path = ("hypervisor", "admins")
    if not isinstance(admins, list):
        errors.add(path, f"must be a list, got {type(admins).__name__}")
        return
    seen = set()
    for index, admin in enumerate(admins):
        apath = path + (index,)
        if not _require_mapping(errors, apath, admin):
            continue
        _unknown_keys(errors, apath, admin, ADMIN_KEYS)
        _required(errors, apath, admin, ("name",))
        name = admin.get("name")
        if name is not None:
            _match(errors, apath + ("name",), name, USERNAME, "a valid user name")
            if name in seen:
                errors.add(apath + ("name",), f"user {name!r} is listed twice")
            seen.add(name)
        keys = admin.get("ssh_keys", [])
        if not isinstance(keys, list):
            errors.add(apath + ("ssh_keys",), "must be a list of public keys")
            continue
        for kindex, key in enumerate(keys):
            _match(errors, apath + ("ssh_keys", kindex), key, SSH_KEY, "an SSH public key line")


def _check_overrides(errors, path, value, default):
    """Keys layered over the defaults must exist there and keep their type."""
    if isinstance(default, dict):
        if not _require_mapping(errors, path, value) or path[1:] in CUSTOM:
            return
        if path[1:] in OPEN_MAPS:
            for key, item in value.items():
                if path[1:] == ("sysctl", "settings"):
                    _match(errors, path + (key,), key, SYSCTL_NAME, "a sysctl name")
                if isinstance(item, (dict, list)):
                    errors.add(path + (key,), "must be a single value")
            return
        _unknown_keys(errors, path, value, list(default))
        for key, item in value.items():
            if key in default:
                _check_overrides(errors, path + (key,), item, default[key])
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.add(path, "must be a list of names")
    elif isinstance(default, bool) or isinstance(value, bool):
        if type(value) is not type(default):
            errors.add(path, f"must be {type(default).__name__}, got {value!r}")
    elif isinstance(default, int):
        if not isinstance(value, int):
            errors.add(path, f"must be an integer, got {value!r}")
    elif isinstance(value, (dict, list)):
        errors.add(path, "must be a single value")


def _abs_path(errors, path, value):
    if not isinstance(value, str) or not value.startswith("/") or "//" in value or ".." in value:
        errors.add(path, f"{value!r} is not an absolute path")


def _check_volumes(errors, volumes):
    path = ("hypervisor", "gluster", "volumes")
    mounts = {}
    for name, volume in sorted(volumes.items()):
        vpath = (*path, name)
        _match(errors, vpath, name, NAME, "a volume name ([a-z][a-z0-9_-]*)")
        if not _require_mapping(errors, vpath, volume):
            continue
        _unknown_keys(errors, vpath, volume, VOLUME_KEYS)
        _required(errors, vpath, volume, ("mount", "size"))
        if "mount" in volume:
            _abs_path(errors, (*vpath, "mount"), volume["mount"])
            if volume["mount"] in mounts:
                errors.add(
                    (*vpath, "mount"),
                    f"{volume['mount']!r} is already the mount of {mounts[volume['mount']]!r}",
                )
            mounts.setdefault(volume["mount"], name)
        if "size" in volume:
            _match(errors, (*vpath, "size"), volume["size"], SIZE, "a size like 800G")
        options = volume.get("options", {})
        if _require_mapping(errors, (*vpath, "options"), options):
            for key, value in options.items():
                _match(errors, (*vpath, "options", key), key, GLUSTER_OPTION, "a gluster option name")
                if isinstance(value, (dict, list)):
                    errors.add((*vpath, "options", key), "must be a single value")


def _check_gluster(errors, gluster, hosts):
    """Bricks, arbiter and volumes, on the defaults merged with the pillar."""
    path = ("hypervisor", "gluster")
    bricks = gluster.get("bricks", {})
    kind = bricks.get("type") if isinstance(bricks, dict) else None
    if kind not in BRICK_TYPES:
        errors.add((*path, "bricks", "type"), f"must be one of {', '.join(BRICK_TYPES)}")
    elif kind == "lvm" and not bricks.get("vg"):
        errors.add((*path, "bricks", "vg"), "is required when bricks:type is lvm")
    elif kind == "device":
        devices = bricks.get("devices") or {}
        for volume in sorted(gluster.get("volumes", {})):
            if volume not in devices:
                errors.add((*path, "bricks", "devices", volume), "is required when bricks:type is device")
        for volume, device in devices.items():
            if not isinstance(device, str) or not device.startswith("/dev/"):
                errors.add((*path, "bricks", "devices", volume), f"{device!r} is not a /dev/ path")
    _abs_path(errors, (*path, "brick_root"), gluster.get("brick_root"))
    arbiter = gluster.get("arbiter")
    if arbiter and isinstance(hosts, dict) and arbiter not in hosts:
        errors.add((*path, "arbiter"), f"{arbiter!r} is not a host of the cluster")
    if _require_mapping(errors, (*path, "volumes"), gluster.get("volumes", {})):
        _check_volumes(errors, gluster["volumes"])


def _check_pools(errors, pools):
    path = ("hypervisor", "pools")
    for name, pool in sorted(pools.items()):
        _match(errors, (*path, name), name, NAME, "a pool name ([a-z][a-z0-9_-]*)")
        if _require_mapping(errors, (*path, name), pool):
            _unknown_keys(errors, (*path, name), pool, POOL_KEYS)
            _required(errors, (*path, name), pool, POOL_KEYS)
            if "path" in pool:
                _abs_path(errors, (*path, name, "path"), pool["path"])


def _walk(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield path + (key,), value
            yield from _walk(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield path + (index,), value
            yield from _walk(value, path + (index,))


def _check_secrets(errors, pillar):
    token = (pillar.get("online") or {}).get("api_token") if isinstance(pillar.get("online"), dict) else None
    for path, value in _walk(pillar):
        if path == TOKEN_KEY:
            continue
        if SECRET_NAME.search(str(path[-1])):
            errors.add(path, f"looks like a secret; the API token belongs in '{_key(*TOKEN_KEY)}' only")
        elif token and isinstance(value, str) and token in value:
            errors.add(path, f"contains the API token; it belongs in '{_key(*TOKEN_KEY)}' only")


def _check_online(errors, online):
    path = ("online",)
    if not _require_mapping(errors, path, online):
        return
    _unknown_keys(errors, path, online, ONLINE_KEYS)
    url = online.get("api_url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url)):
        errors.add(path + ("api_url",), f"{url!r} is not an http(s) URL")
    token = online.get("api_token")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        errors.add(path + ("api_token",), "must be a non-empty string")


def validate(pillar, defaults, minion_id=None):
    """Return the list of problems with ``pillar`` (empty when it is valid).

    ``defaults`` is the ``hypervisor`` mapping of the parameters (defaults and
    OS family layered); ``minion_id`` is the host the pillar is rendered for.
    """
    errors = _Errors()
    _check_secrets(errors, pillar)
    if "online" in pillar:
        _check_online(errors, pillar["online"])
    hv = pillar.get("hypervisor")
    if hv is None:
        errors.add(("hypervisor",), "is required but missing")
        return list(errors)
    if not _require_mapping(errors, ("hypervisor",), hv):
        return list(errors)
    _unknown_keys(errors, ("hypervisor",), hv, list(CLUSTER_KEYS) + list(defaults))
    _required(errors, ("hypervisor",), hv, ("domain", "hosts"))
    if "domain" in hv:
        _match(errors, ("hypervisor", "domain"), hv["domain"], DOMAIN, "a DNS domain")
    if "hosts" in hv:
        _check_hosts(errors, hv["hosts"], minion_id)
    if "bridges" in hv:
        _check_bridges(errors, hv["bridges"])
    if "admins" in hv:
        _check_admins(errors, hv["admins"])
    for key, value in hv.items():
        if key in defaults:
            _check_overrides(errors, ("hypervisor", key), value, defaults[key])
    merged = merge(defaults, {k: v for k, v in hv.items() if isinstance(v, dict)})
    if isinstance(merged.get("gluster"), dict):
        _check_gluster(errors, merged["gluster"], hv.get("hosts"))
    if isinstance(merged.get("pools"), dict):
        _check_pools(errors, merged["pools"])
    source = (
        (hv.get("libvirt") or {}).get("host_uuid_source") if isinstance(hv.get("libvirt"), dict) else None
    )
    if source is not None and source not in HOST_UUID_SOURCES:
        errors.add(
            ("hypervisor", "libvirt", "host_uuid_source"), f"must be one of {', '.join(HOST_UUID_SOURCES)}"
        )
    return list(errors)


def merge(base, over):
    """Deep-merge ``over`` into a copy of ``base`` (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build(pillar, defaults, minion_id):
    """Validated settings for ``minion_id``: defaults, then pillar, then views.

    Raises ``CommandExecutionError`` listing every problem when the pillar is wrong.
    """
    errors = validate(pillar, defaults, minion_id)
    if errors:
        raise CommandExecutionError("pillar is invalid, nothing was changed:\n  " + "\n  ".join(errors))
    cfg = merge(defaults, pillar["hypervisor"])
    cfg.setdefault("bridges", copy.deepcopy(DEFAULT_BRIDGES))
    cfg.setdefault("admins", [])
    hosts = {}
    for name, host in sorted(cfg["hosts"].items()):
        rpn = dict({"dhcp": True, "mtu": 9000}, **host["rpn"])
        rpn["mac"] = rpn["mac"].lower()
        rpn["ip"] = rpn["address"].split("/")[0]
        hosts[name] = dict(host, name=name, fqdn=f"{name}.{cfg['domain']}", rpn=rpn)
    cfg["hosts"] = hosts
    cfg["me"] = hosts[minion_id]
    cfg["peer"] = hosts[hosts[minion_id]["peer"]]
    cfg["gluster"] = _gluster_view(cfg["gluster"], hosts)
    return cfg


def _gluster_view(gluster, hosts):
    """Add what the states need: data hosts, the host that creates volumes, bricks."""
    arbiter = gluster["arbiter"] or None
    data_hosts = [name for name in sorted(hosts) if name != arbiter]
    view = dict(gluster, data_hosts=data_hosts, leader=data_hosts[0], peers=sorted(hosts))
    volumes = {}
    for name, volume in sorted(gluster["volumes"].items()):
        brick_dir = f"{gluster['brick_root']}/{name}"
        members = data_hosts + ([arbiter] if arbiter else [])
        volumes[name] = dict(
            volume,
            brick_dir=brick_dir,
            bricks=[f"{host}:{brick_dir}/brick" for host in members],
            replica=len(members),
            arbiter=1 if arbiter else 0,
            options={k: str(v) for k, v in volume.get("options", {}).items()},
        )
    view["volumes"] = volumes
    return view


def _parameters():
    """The defaults layered with this OS family's, read from the state tree."""
    layered = {}
    for path in ("defaults.yaml", f"os_family/{__grains__['os_family']}.yaml"):
        text = __salt__["cp.get_file_str"](f"salt://parameters/{path}")
        if not text:
            raise CommandExecutionError(f"salt://parameters/{path} is missing")
        layered = merge(layered, yaml.safe_load(text)["hypervisor"])
    return layered


def settings(defaults=None, os_defaults=None):
    """
    The validated settings of this host, as ``map.jinja`` uses them.

    defaults
        The ``hypervisor`` mapping of ``parameters/defaults.yaml`` (read from
        the state tree when not given).
    os_defaults
        The ``hypervisor`` mapping of ``parameters/os_family/<family>.yaml``.

    CLI Example:

    .. code-block:: bash

        salt-call hypervisor_pillar.settings
    """
    layered = _parameters() if defaults is None else merge(defaults, os_defaults or {})
    return build(__pillar__, layered, __grains__["id"])


def check():
    """
    Validate this host's pillar; return the list of problems (empty: valid).

    Run it before ``state.apply`` after editing the pillar.

    CLI Example:

    .. code-block:: bash

        salt 'hyp*' hypervisor_pillar.check
    """
    return validate(__pillar__, _parameters(), __grains__["id"])
