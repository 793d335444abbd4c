"""
The rules of the cluster description's hosts and network (F10-F12, F18-F22):
each host's keys, roles (one arbiter at most), unique addresses and ids, one
RPN subnet, the bridges and their names, the admins, the failover IPs, and the
tunnels' needs. Each rule names the pillar key it refuses (and the other key,
for a conflict). Plain Python.
"""

import ipaddress

import hv_check
import hv_layout
import hv_providers
import hv_schema

HOST_KEYS = ("role", "host_id", "peer", *hv_providers.SERVER_KEYS, "public", "failover_ips", "rpn", "bricks")
HOST_REQUIRED = ("host_id", "public", "rpn")
ARBITER_REQUIRED = ("public", "rpn")
ARBITER_REFUSED = {
    "host_id": "an arbiter joins no sanlock lockspace (its brick already gives the lease volume its"
    " majority, and a host id would need libvirt and sanlock there): remove it",
    "peer": "an arbiter has no peer: it carries no guest to migrate; remove it",
    "failover_ips": "an arbiter carries no guest, so no failover IP: list them under a hypervisor",
    **{
        key: "nothing of an arbiter is moved or fenced through the provider's API: remove it"
        for key in hv_providers.SERVER_KEYS
    },
}
PUBLIC_KEYS = ("interface", "address", "prefix", "gateway", "dhcp")
PUBLIC_REQUIRED = ("interface", "address", "gateway")
RPN_KEYS = ("interface", "mac", "address", "dhcp", "mtu", "vlan")
RPN_REQUIRED = ("interface", "mac", "address")  # with vlan: no mac (the VLAN has the public NIC's)
BRIDGE_KEYS = ("name", "vpn_port", "vni", "public")
BRIDGE_REQUIRED = ("name", "vpn_port")
ADMIN_KEYS = ("name", "ssh_keys")
ADMIN_REQUIRED = ("name",)

# A source wider than this opens SSH or monitoring to a good part of the internet.
WIDEST_SOURCE_PREFIX = 8


def _check_host(errors, name, host, names):
    path = ("hypervisor", "hosts", name)
    if not hv_check.require_mapping(errors, path, host):
        return
    hv_check.unknown_keys(errors, path, host, HOST_KEYS)
    role = host.get("role", "hypervisor")
    if role not in hv_schema.ROLES:
        errors.add(path + ("role",), f"{errors.show(role)} is not one of {', '.join(hv_schema.ROLES)}")
    hv_check.required(errors, path, host, ARBITER_REQUIRED if role == "arbiter" else HOST_REQUIRED)
    if role == "arbiter":
        for key in sorted(set(host) & set(ARBITER_REFUSED)):
            errors.add(path + (key,), ARBITER_REFUSED[key])
    if "host_id" in host:
        hv_check.int_in_range(errors, path + ("host_id",), host["host_id"], hv_schema.HOST_ID_RANGE)
    if "peer" in host:
        peer = host["peer"]
        if peer == name:
            errors.add(path + ("peer",), "a host cannot be its own peer")
        elif peer not in names:
            hosts = ", ".join(map(str, names))
            errors.add(path + ("peer",), f"{errors.show(peer)} is not a host of the cluster ({hosts})")
    for provider in hv_providers.PROVIDERS.values():
        if provider.server_key in host:
            key = provider.server_key
            hv_check.int_in_range(errors, path + (key,), host[key], provider.server_range)
    if host.get("public") is not None:
        _check_public(errors, path + ("public",), host["public"])
    if host.get("failover_ips") is not None:
        check_failover_list(errors, path + ("failover_ips",), host["failover_ips"])
    if host.get("rpn") is not None:
        _check_rpn(errors, path + ("rpn",), host["rpn"], host.get("public"))


def _check_public(errors, path, public):
    if not hv_check.require_mapping(errors, path, public):
        return
    hv_check.unknown_keys(errors, path, public, PUBLIC_KEYS)
    hv_check.required(errors, path, public, PUBLIC_REQUIRED)
    if "interface" in public:
        hv_check.match(
            errors, path + ("interface",), public["interface"], hv_schema.IFNAME, "an interface name"
        )
    for key in ("address", "gateway"):
        if key in public:
            hv_check.ipv4(errors, path + (key,), public[key], with_prefix=False)
    if "prefix" in public:
        hv_check.int_in_range(errors, path + ("prefix",), public["prefix"], hv_schema.PREFIX_RANGE)
    if "dhcp" in public and not isinstance(public["dhcp"], bool):
        errors.add(path + ("dhcp",), f"must be true or false, got {errors.show(public['dhcp'])}")
    _check_gateway(errors, path, public)


def _check_rpn(errors, path, rpn, public):
    if not hv_check.require_mapping(errors, path, rpn):
        return
    hv_check.unknown_keys(errors, path, rpn, RPN_KEYS)
    vlan = "vlan" in rpn
    hv_check.required(errors, path, rpn, [k for k in RPN_REQUIRED if not (vlan and k == "mac")])
    if "interface" in rpn:
        hv_check.match(errors, path + ("interface",), rpn["interface"], hv_schema.IFNAME, "an interface name")
    if vlan:
        _check_rpn_vlan(errors, path, rpn, public)
    elif "mac" in rpn:
        mac = rpn["mac"].lower() if isinstance(rpn["mac"], str) else rpn["mac"]
        hv_check.match(errors, path + ("mac",), mac, hv_schema.MAC, "a MAC address (aa:bb:cc:dd:ee:ff)")
    if "address" in rpn:
        hv_check.ipv4(errors, path + ("address",), rpn["address"], with_prefix=True)
    if "dhcp" in rpn and not isinstance(rpn["dhcp"], bool):
        errors.add(path + ("dhcp",), f"must be true or false, got {errors.show(rpn['dhcp'])}")
    if "mtu" in rpn:
        hv_check.int_in_range(errors, path + ("mtu",), rpn["mtu"], hv_schema.MTU_RANGE)


def _check_rpn_vlan(errors, path, rpn, public):
    """rpn:vlan: the private network is a VLAN of the public NIC (a Hetzner vSwitch), a link
    the states make and name rpn:interface: no MAC of its own, a name of its own without a
    dot (a dot in a link's name is a slash in its sysctl keys, and reads as <nic>.<id>)."""
    hv_check.int_in_range(errors, path + ("vlan",), rpn["vlan"], hv_schema.VLAN_RANGE)
    if "mac" in rpn:
        errors.add(
            path + ("mac",),
            "a VLAN (rpn:vlan) has the public NIC's MAC, and the states find it by its name"
            " (rpn:interface): remove rpn:mac",
        )
    name = rpn.get("interface")
    vlan = rpn["vlan"] if isinstance(rpn["vlan"], int) and not isinstance(rpn["vlan"], bool) else 4000
    if not isinstance(name, str) or not hv_schema.IFNAME.fullmatch(name):
        return  # reported above
    if "." in name:
        errors.add(
            path + ("interface",),
            f"{errors.show(name)} has a dot: a link named so needs a slash in its sysctl keys"
            f" (net.ipv4.conf.<link>.*) and reads as <nic>.<id>; name the VLAN link without one,"
            f" e.g. vlan{vlan}",
        )
    elif isinstance(public, dict) and name == public.get("interface"):
        errors.add(
            path + ("interface",),
            f"{errors.show(name)} is the public NIC (public:interface): with rpn:vlan it names the VLAN"
            f" link made on that NIC; choose another name, e.g. vlan{vlan}",
        )


def _check_unique(errors, hosts, getter, label):
    """No two hosts share the value at ``label``; the second is refused, naming the first."""
    seen = {}
    for name in sorted(hosts, key=str):
        try:
            value = getter(hosts[name])
        except (KeyError, TypeError, AttributeError):
            continue
        if isinstance(value, str):
            value = value.split("/")[0].lower()
        elif isinstance(value, bool) or not isinstance(value, int):
            continue
        if value in seen:
            other = ("hypervisor", "hosts", seen[value], *label)
            errors.add(
                ("hypervisor", "hosts", name, *label),
                f"{errors.show(value)} is already used by host {errors.show(seen[value])}"
                f" ({hv_check.named(other)})",
            )
        else:
            seen[value] = name


def _rpn_network(host):
    """The host's RPN address as an IPv4Interface, or None when it is not one."""
    try:
        address = host["rpn"]["address"]
        return ipaddress.IPv4Interface(address) if "/" in address else None
    except (KeyError, TypeError, ValueError):
        return None


def _check_rpn_subnet(errors, hosts):
    """RPN addresses are host addresses of one subnet, the first host's."""
    first = None
    for name in sorted(hosts, key=str):
        address = _rpn_network(hosts[name])
        if address is None:
            continue
        path = ("hypervisor", "hosts", name, "rpn", "address")
        net = address.network
        if net.prefixlen < 31 and address.ip in (net.network_address, net.broadcast_address):
            kind = "network" if address.ip == net.network_address else "broadcast"
            errors.add(path, f"{address} is the {kind} address of {net}, not a host's address")
        if first is None:
            first = (path, net)
        elif net != first[1]:
            errors.add(path, f"{address} is not in {first[1]}, the RPN subnet of {hv_check.named(first[0])}")


def check_hosts(errors, hosts, minion_id):
    path = ("hypervisor", "hosts")
    if not hv_check.require_mapping(errors, path, hosts):
        return
    names = sorted(hosts, key=str)
    for name in names:
        if not isinstance(name, str) or not hv_schema.HOSTNAME.fullmatch(name):
            errors.add(path + (name,), f"{errors.show(name)} is not a valid host name")
    if len(names) < 2:
        errors.add(path, f"a cluster needs at least 2 hosts, got {len(names)}")
    for name in names:
        _check_host(errors, name, hosts[name], names)
    _check_unique(errors, hosts, lambda h: h["host_id"], ("host_id",))
    for key in hv_providers.SERVER_KEYS:
        _check_unique(errors, hosts, lambda h, key=key: h[key], (key,))
    _check_unique(errors, hosts, lambda h: h["public"]["address"], ("public", "address"))
    _check_unique(errors, hosts, lambda h: h["rpn"]["address"], ("rpn", "address"))
    _check_unique(errors, hosts, lambda h: h["rpn"]["mac"], ("rpn", "mac"))  # absent with a VLAN
    _check_rpn_subnet(errors, hosts)
    _check_roles(errors, hosts)
    if minion_id is not None and minion_id not in hosts:
        errors.add(
            path,
            f"has no entry for this minion {errors.show(minion_id)} (hosts: {', '.join(map(str, names))}):"
            f" add it, or take it out of the master's nodegroup '{hv_schema.NODEGROUP}'"
            " (master.d/hypervisor.conf)",
        )


def _check_roles(errors, hosts):
    """At most one arbiter, 2 to 8 hosts that carry guests, none paired with the arbiter."""
    arbiters = hv_layout.arbiters(hosts)
    first = ("hypervisor", "hosts", arbiters[0], "role") if arbiters else None
    for name in arbiters[1:]:
        errors.add(
            ("hypervisor", "hosts", name, "role"),
            f"only one host can be the arbiter, and {hv_check.named(first)} is",
        )
    carriers = len(hosts) - len(arbiters)
    if len(hosts) >= 2 and not hv_layout.MIN_GUEST_HOSTS <= carriers <= hv_layout.MAX_GUEST_HOSTS:
        errors.add(
            ("hypervisor", "hosts"),
            f"a cluster has {hv_layout.MIN_GUEST_HOSTS} to {hv_layout.MAX_GUEST_HOSTS} hosts that carry"
            f" guests (besides at most one arbiter), this one has {carriers}",
        )
    for name in sorted(hosts, key=str):
        peer = hosts[name].get("peer") if isinstance(hosts[name], dict) else None
        if name not in arbiters and isinstance(peer, str) and peer in arbiters:
            errors.add(
                ("hypervisor", "hosts", name, "peer"),
                f"{errors.show(peer)} is the arbiter, which carries no guest: pair this host with another",
            )


def _host_interfaces(hosts):
    """The public and RPN interface names of every host that gets the bridges (not the
    arbiter: it carries no guest, so no bridge), with their pillar key."""
    found = {}
    for name in hv_layout.members(hosts) if isinstance(hosts, dict) else ():
        for side in ("public", "rpn"):
            nic = hosts[name].get(side) if isinstance(hosts[name], dict) else None
            if isinstance(nic, dict) and isinstance(nic.get("interface"), str):
                found.setdefault(nic["interface"], ("hypervisor", "hosts", name, side, "interface"))
    return found


def _check_bridge_name(errors, path, name, nics):
    """An interface name that no physical NIC has or could have."""
    takeover = "systemd-networkd would take that NIC over as the bridge and cut the host off"
    if isinstance(name, str) and len(name) > 15:
        errors.add(path, f"{errors.show(name)} is longer than 15 characters (Linux IFNAMSIZ)")
    elif not isinstance(name, str) or not hv_schema.IFNAME.fullmatch(name):
        hv_check.match(errors, path, name, hv_schema.IFNAME, "an interface name")
    elif name in nics:
        errors.add(path, f"{errors.show(name)} is the NIC of {hv_check.named(nics[name])}: {takeover}")
    elif hv_schema.NIC_NAME.search(name):
        errors.add(path, f"{errors.show(name)} is named like a NIC (eth0, enp3s0, …): {takeover}")
    elif hv_schema.RESERVED_LINK.fullmatch(name):
        errors.add(
            path,
            f"{errors.show(name)} is a link the states make (vx<net>, tap<net>) or that other software"
            " owns (virbr0, docker0, veth…): choose another name",
        )


def check_bridges(errors, bridges, hosts):
    path = ("hypervisor", "bridges")
    if not hv_check.require_mapping(errors, path, bridges):
        return
    nics = _host_interfaces(hosts)
    names, ports, vnis, publics = {}, {}, {}, []
    for net, bridge in sorted(bridges.items(), key=lambda item: str(item[0])):
        bpath = path + (net,)
        hv_check.match(
            errors,
            bpath,
            net,
            hv_schema.NETWORK_NAME,
            "a network name ([a-z][a-z0-9]*, at most 12 characters)",
        )
        if not hv_check.require_mapping(errors, bpath, bridge):
            continue
        hv_check.unknown_keys(errors, bpath, bridge, BRIDGE_KEYS)
        hv_check.required(errors, bpath, bridge, BRIDGE_REQUIRED)
        _check_bridge_vni(errors, bpath, bridge, vnis)
        _check_bridge_public(errors, bpath, bridge, publics)
        name = bridge.get("name")
        if name is not None:
            _check_bridge_name(errors, bpath + ("name",), name, nics)
        if isinstance(name, str) and name in names:
            other = hv_check.named((*path, names[name], "name"))
            errors.add(bpath + ("name",), f"{errors.show(name)} is already the bridge of {other}")
        elif isinstance(name, str):
            names[name] = net
        port = bridge.get("vpn_port")
        if port is not None:
            hv_check.int_in_range(errors, bpath + ("vpn_port",), port, hv_schema.PORT_RANGE)
        if isinstance(port, int) and port in ports:
            other = hv_check.named((*path, ports[port], "vpn_port"))
            errors.add(bpath + ("vpn_port",), f"port {port} is already used by {other}")
        elif isinstance(port, int):
            ports[port] = net
            _check_port_taken(errors, bpath + ("vpn_port",), port)


def _check_port_taken(errors, path, port):
    """A tunnel port no software of the hosts uses already (B10)."""
    if isinstance(port, bool) or not isinstance(port, int):
        return
    owner = hv_schema.FIXED_PORTS.get(port)
    if owner is None and hv_schema.BRICK_PORTS[0] <= port <= hv_schema.BRICK_PORTS[1]:
        owner = "gluster's bricks ({}-{})".format(*hv_schema.BRICK_PORTS)
    if owner is None and hv_schema.MIGRATION_PORTS[0] <= port <= hv_schema.MIGRATION_PORTS[1]:
        owner = "libvirt's migrations ({}-{})".format(*hv_schema.MIGRATION_PORTS)
    if owner:
        errors.add(path, f"port {port} is {owner}'s: choose another")


def check_admins(errors, admins):
    path = ("hypervisor", "admins")
    if not isinstance(admins, list):
        errors.add(path, f"must be a list, got {type(admins).__name__}")
        return
    seen = {}
    for index, admin in enumerate(admins):
        apath = path + (index,)
        if not hv_check.require_mapping(errors, apath, admin):
            continue
        hv_check.unknown_keys(errors, apath, admin, ADMIN_KEYS)
        hv_check.required(errors, apath, admin, ADMIN_REQUIRED)
        name = admin.get("name")
        if name is not None:
            hv_check.match(errors, apath + ("name",), name, hv_schema.USERNAME, "a valid user name")
        if isinstance(name, str) and name in hv_schema.SYSTEM_ACCOUNTS:
            errors.add(
                apath + ("name",),
                f"{errors.show(name)} is a system account: an admin is a person's own account",
            )
        if isinstance(name, str) and name in seen:
            other = hv_check.named((*path, seen[name], "name"))
            errors.add(apath + ("name",), f"user {errors.show(name)} is already listed by {other}")
        elif isinstance(name, str):
            seen[name] = index
        keys = admin.get("ssh_keys", [])
        if not isinstance(keys, list):
            errors.add(apath + ("ssh_keys",), "must be a list of public keys")
            continue
        for kindex, key in enumerate(keys):
            hv_check.match(
                errors, apath + ("ssh_keys", kindex), key, hv_schema.SSH_KEY, "an SSH public key line"
            )


def _check_gateway(errors, path, public):
    """The public gateway is another address of the subnet public:address/prefix."""
    try:
        if not isinstance(public["address"], str) or not isinstance(public["gateway"], str):
            return
        own = ipaddress.IPv4Interface(
            f"{public['address']}/{public.get('prefix', hv_schema.PUBLIC_DEFAULTS['prefix'])}"
        )
        gateway = ipaddress.IPv4Address(public["gateway"])
    except (KeyError, TypeError, ValueError):
        return  # reported by the check of each key
    if gateway == own.ip:
        errors.add(path + ("gateway",), f"{gateway} is the host's own address (public:address)")
    elif gateway not in own.network:
        errors.add(
            path + ("gateway",), f"{gateway} is not in {own.network}, the subnet of public:address/prefix"
        )


def check_failover_list(errors, path, ips):
    if not isinstance(ips, list):
        errors.add(path, f"must be a list of IPv4 addresses, got {type(ips).__name__}")
        return
    for index, ip in enumerate(ips):
        hv_check.ipv4(errors, path + (index,), ip, with_prefix=False)


def _host_addresses(hosts):
    """Every host's public and RPN address and public gateway, with its pillar key."""
    found = {}
    for name in sorted(hosts, key=str):
        host = hosts[name] if isinstance(hosts[name], dict) else {}
        for side, key in (("public", "address"), ("rpn", "address"), ("public", "gateway")):
            address = host.get(side, {}).get(key) if isinstance(host.get(side), dict) else None
            if isinstance(address, str):
                found.setdefault(address.split("/")[0], ("hypervisor", "hosts", name, side, key))
    return found


def _check_failover_ips(errors, hosts, bridges):
    """F22: each failover IP on one host only, never a host's own address, and a public bridge for them."""
    owned, seen = _host_addresses(hosts), {}
    # A malformed bridges mapping or public flag is reported by check_bridges alone.
    public = not isinstance(bridges, dict) or any(
        not isinstance(b, dict) or b.get("public", False) is not False for b in bridges.values()
    )
    for name in sorted(hosts, key=str):
        ips = hosts[name].get("failover_ips") if isinstance(hosts[name], dict) else None
        path = ("hypervisor", "hosts", name, "failover_ips")
        if not isinstance(ips, list):
            continue
        if ips and not public:
            errors.add(
                path, "no bridge is public (bridges:<net>:public: true) to carry the guests' failover IPs"
            )
        for index, ip in enumerate(ips):
            if not isinstance(ip, str):
                continue
            if ip in owned:
                errors.add(
                    path + (index,), f"{errors.show(ip)} is the address of {hv_check.named(owned[ip])}"
                )
            elif ip in seen:
                errors.add(
                    path + (index,), f"{errors.show(ip)} is already listed by {hv_check.named(seen[ip])}"
                )
            else:
                seen[ip] = path + (index,)


def _check_bridge_vni(errors, path, bridge, vnis):
    """A bridge's VNI (its vpn_port unless given) is 1..16777215 and no other bridge's."""
    key = path + ("vni",) if "vni" in bridge else path + ("vpn_port",)
    vni = bridge.get("vni", bridge.get("vpn_port"))
    if "vni" in bridge:
        hv_check.int_in_range(errors, key, vni, hv_schema.VNI_RANGE)
    if isinstance(vni, bool) or not isinstance(vni, int):
        return
    if vni in vnis:
        defaulted = "vpn_port" in (key[-1], vnis[vni][-1])
        hint = " (a bridge's vni defaults to its vpn_port)" if defaulted else ""
        errors.add(key, f"VNI {vni} is already that of {hv_check.named(vnis[vni])}{hint}")
    else:
        vnis[vni] = key


def _check_bridge_public(errors, path, bridge, publics):
    """At most one bridge is public (the wan bridge: failover IPs, proxy ARP)."""
    public = bridge.get("public", False)
    if not isinstance(public, bool):
        errors.add(path + ("public",), f"must be true or false, got {errors.show(public)}")
    elif public and publics:
        errors.add(path + ("public",), f"only one bridge can be public, and {hv_check.named(publics[0])} is")
    elif public:
        publics.append(path + ("public",))


def _check_tunnels(errors, tunnels, hosts):
    """F19: openvpn joins two hosts; VXLAN needs room for the guests' frames (tunnels:guest_mtu)
    and its own 50 bytes on every member's RPN."""
    transport = tunnels.get("transport")
    if transport == "openvpn" and isinstance(hosts, dict):
        joined = hv_layout.members(hosts)
        if len(joined) != 2:
            errors.add(
                ("hypervisor", "tunnels", "transport"),
                f"openvpn joins exactly two hosts (a tap per bridge between peers), this cluster has"
                f" {len(joined)} that carry guests: use vxlan",
            )
    guest_mtu = tunnels.get("guest_mtu", hv_schema.GUEST_MTU)
    low, high = hv_schema.GUEST_MTU_RANGE
    if (
        transport != "vxlan"
        or not isinstance(hosts, dict)
        or not (_is_int(guest_mtu) and low <= guest_mtu <= high)
    ):
        return  # a guest_mtu that is no integer or out of its range: its row says so
    need = guest_mtu + hv_schema.VXLAN_OVERHEAD
    for name in hv_layout.members(hosts):
        rpn = hosts[name].get("rpn") if isinstance(hosts[name], dict) else None
        mtu = rpn.get("mtu", hv_schema.rpn_defaults(rpn)["mtu"]) if isinstance(rpn, dict) else None
        if not _is_int(mtu) or mtu >= need or not hv_schema.MTU_RANGE[0] <= mtu <= hv_schema.MTU_RANGE[1]:
            continue
        fits = mtu - hv_schema.VXLAN_OVERHEAD
        lower = f"set tunnels:guest_mtu: {fits} (the guests then get that MTU), " if fits >= low else ""
        default = "" if "mtu" in rpn else " (the default with rpn:vlan)"
        errors.add(
            ("hypervisor", "hosts", name, "rpn", "mtu"),
            f"host {name}'s RPN MTU is {mtu}{default}: tunnels:transport vxlan needs {need} there,"
            f" the guests' {guest_mtu}-byte frames (tunnels:guest_mtu) and VXLAN's"
            f" {hv_schema.VXLAN_OVERHEAD} bytes; {lower}raise rpn:mtu, or use openvpn",
        )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_network(errors, hv, merged):
    """The checks that span the hosts, the bridges, the tunnels and the firewall."""
    hosts = hv.get("hosts")
    if isinstance(hosts, dict):
        _check_failover_ips(errors, hosts, hv.get("bridges", hv_schema.DEFAULT_BRIDGES))
    if isinstance(merged.get("tunnels"), dict):
        _check_tunnels(errors, merged["tunnels"], hosts)
    if isinstance(merged.get("firewall"), dict):
        _check_trusted(errors, merged["firewall"])
    if isinstance(merged.get("metrics"), dict):
        _check_metrics_port(errors, merged["metrics"], merged.get("firewall"))


def _check_metrics_port(errors, metrics, firewall):
    """The node exporter's port is no port the hosts use already (SSH's, glusterd's, the
    bricks', libvirt's, its migrations')."""
    port = metrics.get("listen_port")
    if not _is_int(port):
        return  # its own row reports it
    path = ("hypervisor", "metrics", "listen_port")
    ssh = (firewall or {}).get("ssh_port") if isinstance(firewall, dict) else None
    if port == ssh:
        errors.add(path, f"port {port} is SSH's ({hv_check.named(('hypervisor', 'firewall', 'ssh_port'))})")
    else:
        _check_port_taken(errors, path, port)


def _check_trusted(errors, firewall):
    if firewall.get("trusted") == []:
        errors.add(
            ("hypervisor", "firewall", "trusted"),
            "is required: the IPv4 addresses or networks allowed SSH (the master's too)",
        )
    if firewall.get("wide_sources") is True:
        return
    for key in ("trusted", "monitoring_sources"):
        for index, source in hv_check.list_items(firewall.get(key), str):
            try:
                network = ipaddress.IPv4Network(source)
            except ValueError:
                continue  # its own row reports it
            if network.prefixlen < WIDEST_SOURCE_PREFIX:
                errors.add(
                    ("hypervisor", "firewall", key, index),
                    f"{source} opens the host to {network.num_addresses} addresses; list the networks you"
                    " administer from, or set firewall:wide_sources: true to mean it",
                )
