"""
The settings every state and module reads: the defaults for the OS family,
the validated pillar on top, and the views derived from them once, here, in
Python (this host and its peer, the tunnels, the firewall's sources, the
volumes' bricks, sanlock's timings, the guests' domain XML, the unit paths).

Plain Python: ``_modules/hypervisor_pillar.py`` serves it to Salt.
"""

import copy
import ipaddress
import os
import sys
import uuid
from urllib.parse import urlsplit

import guest_xml
import hv_check
import hv_layout
import hv_providers
import hv_sanlock_time
import hv_schema
import hv_validate

POLL_TIMEOUT_MAX = 5  # seconds: the failover beacon's one request, at most
BACKUP_UNIT = "hv-backup"  # hv-backup.service, started by hv-backup.timer (salt/backups)
METRICS_FILE = "hv.prom"  # metrics.write's file in the textfile collector's directory


def build(pillar, defaults, minion_id):
    """Validated settings for ``minion_id``: defaults, then pillar, then views.

    Raises ``InvalidPillar`` listing every problem when the pillar is wrong.
    """
    errors = hv_validate.validate(pillar, defaults, minion_id)
    if errors:
        raise InvalidPillar("pillar is invalid, nothing was changed:\n  " + "\n  ".join(errors))
    cfg = hv_check.merge(defaults, pillar["hypervisor"])
    cfg.setdefault("admins", [])
    cfg.setdefault("guests", {})
    provider = hv_providers.named(pillar["hypervisor"])
    api_part = hv_providers.part_of(pillar, provider)
    hosts = {
        name: _host_view(name, host, cfg["domain"], provider) for name, host in sorted(cfg["hosts"].items())
    }
    cfg["hosts"] = hosts
    cfg["me"] = hosts[minion_id]
    cfg["peer"] = hosts[cfg["me"]["peer"]] if cfg["me"]["peer"] else None
    arbiter = hv_layout.arbiter(hosts) or ""
    cfg["gluster"] = dict(cfg["gluster"], arbiter=arbiter)
    cfg["bridges"] = _bridges_view(cfg.get("bridges", hv_schema.DEFAULT_BRIDGES))
    cfg["public_bridge"] = next((dict(b, net=n) for n, b in cfg["bridges"].items() if b["public"]), None)
    # What this host itself has: the arbiter carries no guest (no bridge, no libvirt group).
    guests_here = cfg["me"]["role"] == "hypervisor"
    cfg["local_bridges"] = cfg["bridges"] if guests_here else {}
    cfg["local_public_bridge"] = cfg["public_bridge"] if guests_here else None
    cfg["admin_groups"] = [cfg["libvirt"]["group"]] if guests_here else []
    cfg["tunnels"] = _tunnels_view(cfg["tunnels"], cfg["bridges"], hosts, minion_id)
    cfg["network"] = _network_view(cfg["network"], cfg["me"], cfg["local_bridges"], cfg["tunnels"])
    cfg["firewall"] = _firewall_view(cfg["firewall"], cfg["tunnels"], cfg["bridges"], hosts, minion_id)
    cfg["firewall"]["api_ports"] = _api_ports(api_part, cfg["firewall"]["outbound_tcp"])
    cfg["libvirt"]["migration_ports"] = list(hv_schema.MIGRATION_PORTS)
    cfg["migration"] = _migration_view(cfg["migration"])
    cfg["failover"] = _failover_view(cfg["failover"], hosts, hv_providers.configured(api_part, provider))
    cfg["sysctl"] = dict(cfg["sysctl"], settings=_sysctl_settings(cfg["sysctl"]["settings"], cfg["me"]))
    cfg["gluster"] = _gluster_view(cfg["gluster"], hosts, minion_id)
    cfg["python"] = _python_view(cfg["python"])
    cfg["timings"] = _timings_view(cfg["sanlock"], cfg["gluster"])
    cfg["sanlock"] = _sanlock_view(cfg["sanlock"], cfg["me"], cfg["gluster"])
    cfg["takeover"] = _takeover_view(cfg["takeover"], hv_layout.has_majority(hosts), cfg["gluster"])
    cfg["evacuation"] = _evacuation_view(cfg["evacuation"], cfg["gluster"])
    cfg["keeper"] = _keeper_view(cfg["keeper"], cfg["gluster"])
    cfg["metrics"] = _metrics_view(cfg["metrics"])
    cfg["firewall"]["metrics_port"] = _metrics_port(cfg["metrics"], cfg["firewall"])
    cfg["guests"] = {name: _guest_view(name, guest, cfg) for name, guest in sorted(cfg["guests"].items())}
    cfg["backups"] = _backups_view(cfg["backups"], cfg["guests"])
    cfg["settings_copy"] = _settings_copy(cfg)
    return cfg


def _host_view(name, host, domain, provider):
    """A host with its defaults filled in: names, ``role``, ``peer`` (None on the arbiter), RPN
    ``ip``, ``vlan`` and ``parent`` (a VLAN's id and the public NIC it is made on; None for
    an RPN NIC, ``mac`` None for a VLAN), public ``cidr``, failover IPs, ``server_id`` (its
    number at the failover provider: ``online_server_id`` or ``hetzner_server_number``; None
    when unset)."""
    rpn = dict(hv_schema.rpn_defaults(host["rpn"]), **host["rpn"])
    rpn["mac"] = rpn["mac"].lower() if rpn.get("mac") else None
    rpn["ip"] = rpn["address"].split("/")[0]
    rpn["vlan"] = rpn.get("vlan")
    rpn["parent"] = host["public"]["interface"] if rpn["vlan"] else None
    public = dict(hv_schema.PUBLIC_DEFAULTS, **host["public"])
    public["cidr"] = f"{public['address']}/{public['prefix']}"
    failover_ips = list(host.get("failover_ips") or [])
    return dict(
        host,
        name=name,
        fqdn=f"{name}.{domain}",
        role=host.get("role", "hypervisor"),
        peer=host.get("peer"),
        rpn=rpn,
        public=public,
        failover_ips=failover_ips,
        server_id=host.get(provider.server_key),
    )


def _bridges_view(bridges):
    """Every bridge with its ``vni`` (default: its vpn_port) and ``public`` (default false)."""
    return {
        net: dict(bridge, vni=bridge.get("vni", bridge["vpn_port"]), public=bridge.get("public", False))
        for net, bridge in sorted(bridges.items())
    }


def _tunnels_view(tunnels, bridges, hosts, me):
    """F19, F20: the hosts joined (``members``: all but the arbiter), this member's ``peers``
    (the other members) and the keys it needs of them (``peer_keys``), ``tls_dir``, ``units``
    (OpenVPN's bridges, with transport openvpn) and, on a member, one tunnel per bridge of
    each transport: VXLAN to every other member, OpenVPN to the peer."""
    members = hv_layout.members(hosts)
    keys = ["host_key", "migration_key"] + (
        ["tunnel_fingerprint"] if tunnels["transport"] == "openvpn" else []
    )
    view = dict(
        tunnels,
        members=members,
        peers=[h for h in members if h != me] if me in members else [],
        peer_keys=keys,
        tls_dir=f"{tunnels['openvpn_dir']}/tls",
        openvpn_nets=sorted(bridges) if tunnels["transport"] == "openvpn" and me in members else [],
        vxlan=[],
        openvpn=[],
    )
    if me not in members:
        return view
    local = hosts[me]["rpn"]["ip"]
    remotes = [hosts[h]["rpn"]["ip"] for h in members if h != me]
    # OpenVPN joins exactly two hosts (the validator's rule): the other one is the peer.
    peer = hosts[next(h for h in members if h != me)]
    role = "server" if hosts[me]["host_id"] < peer["host_id"] else "client"
    for net, bridge in sorted(bridges.items()):
        common = {"net": net, "bridge": bridge["name"], "local": local}
        view["vxlan"].append(
            dict(
                common,
                ifname=f"vx{net}",
                vni=bridge["vni"],
                port=tunnels["vxlan_port"],
                remotes=remotes,
                mtu=tunnels["guest_mtu"],
            )
        )
        view["openvpn"].append(
            dict(
                common,
                dev=f"tap{net}",
                port=bridge["vpn_port"],
                remote=peer["rpn"]["ip"],
                peer=peer["name"],
                role=role,
            )
        )
    return view


def _network_view(network, me, bridges, tunnels):
    """F11, F18, F19, F23: this host's VXLAN links (``vxlans``; with transport openvpn they
    are ``vxlans_gone``: removed), the public bridge's name, ``bridge_mtu`` (the guest bridges'
    MTU, tunnels:guest_mtu; None at 1500, the kernel's own, so that nothing is written for
    it), the ``links`` the safe apply's probe waits for, and ``networkd_files``: every
    systemd-networkd file with its template and context (10-hv-public, 20-hv-rpn,
    25-hv-<VLAN link> with rpn:vlan, 30-hv-<bridge>, 31-hv-<vxlan link>)."""
    vxlan_on = tunnels["transport"] == "vxlan" and me["name"] in tunnels["members"]
    vxlans = tunnels["vxlan"] if vxlan_on else []
    public = next((dict(b, net=n) for n, b in sorted(bridges.items()) if b["public"]), None)
    rpn = me["rpn"]
    bridge_mtu = None if tunnels["guest_mtu"] == hv_schema.GUEST_MTU else tunnels["guest_mtu"]
    files, source, directory = {}, "salt://network/files/networkd", network["networkd_dir"]
    files[f"{directory}/10-hv-public.network"] = {
        "source": f"{source}/public.network.jinja",
        "context": {"public": me["public"], "vlans": [rpn["interface"]] if rpn["vlan"] else []},
    }
    files[f"{directory}/20-hv-rpn.network"] = {
        "source": f"{source}/rpn.network.jinja",
        "context": {"rpn": rpn, "vxlans": [link["ifname"] for link in vxlans]},
    }
    if rpn["vlan"]:
        files[f"{directory}/25-hv-{rpn['interface']}.netdev"] = {
            "source": f"{source}/vlan.netdev.jinja",
            "context": {"rpn": rpn},
        }
    for kind in ("netdev", "network"):
        for _net, bridge in sorted(bridges.items()):
            files[f"{directory}/30-hv-{bridge['name']}.{kind}"] = {
                "source": f"{source}/bridge.{kind}.jinja",
                "context": {"bridge": bridge["name"], **({"mtu": bridge_mtu} if bridge_mtu else {})},
            }
        for link in vxlans:
            files[f"{directory}/31-hv-{link['ifname']}.{kind}"] = {
                "source": f"{source}/vxlan.{kind}.jinja",
                "context": {"link": link},
            }
    return dict(
        network,
        vxlan_on=vxlan_on,
        vxlans=vxlans,
        vxlans_gone=[] if vxlan_on else tunnels["vxlan"],
        public_bridge=public,
        bridge_mtu=bridge_mtu,
        links=[
            me["public"]["interface"],
            rpn["interface"],
            *(bridge["name"] for _net, bridge in sorted(bridges.items())),
            *(link["ifname"] for link in vxlans),
        ],
        networkd_files=dict(sorted(files.items())),
    )


def _firewall_view(firewall, tunnels, bridges, hosts, me):
    """F21, B10: the settings, ``monitoring_sources`` (default: trusted), ``peers_rpn`` (the RPN
    addresses of the other hosts that carry guests: everything between them), ``storage_rpn``
    (those this host shares only gluster with: the arbiter, or on the arbiter every host),
    ``rpn_network`` (the RPN subnet), ``brick_ports`` and ``migration_ports`` (ranges) and
    ``tunnel_udp_ports`` (none on the arbiter: it joins no tunnel)."""
    guest_hosts = hv_layout.members(hosts)
    if me not in tunnels["members"]:
        ports = []
    elif tunnels["transport"] == "vxlan":
        ports = [tunnels["vxlan_port"]]
    else:
        ports = sorted(bridge["vpn_port"] for bridge in bridges.values())
    return dict(
        firewall,
        monitoring_sources=list(firewall["monitoring_sources"] or firewall["trusted"]),
        peers_rpn=[
            hosts[h]["rpn"]["ip"] for h in sorted(hosts) if h != me and me in guest_hosts and h in guest_hosts
        ],
        storage_rpn=[
            hosts[h]["rpn"]["ip"]
            for h in sorted(hosts)
            if h != me and (me not in guest_hosts or h not in guest_hosts)
        ],
        rpn_network=str(ipaddress.ip_interface(hosts[me]["rpn"]["address"]).network),
        brick_ports="{}:{}".format(*hv_schema.BRICK_PORTS),
        migration_ports="{}:{}".format(*hv_schema.MIGRATION_PORTS),
        tunnel_udp_ports=ports,
    )


def _sysctl_settings(settings, me):
    """F3, F22: the settings, and the public NIC's proxy ARP answers without the
    kernel's random delay (up to 0.8 s), so a failover IP that arrives is
    answered at once; the pillar may set the key itself. Not for a NIC named
    with a dot (a VLAN): its sysctl name would need a slash."""
    nic = me["public"]["interface"]
    return settings if "." in nic else {f"net.ipv4.neigh.{nic}.proxy_delay": 0, **settings}


def _api_ports(api_part, outbound_tcp):
    """The provider API's TCP port, when the outbound rules do not already let it out."""
    url = urlsplit(api_part["api_url"]) if isinstance(api_part, dict) and api_part.get("api_url") else None
    if url is None:
        return []
    port = url.port or (443 if url.scheme == "https" else 80)
    return [] if port in outbound_tcp else [port]


def _failover_view(failover, hosts, configured):
    """The failover settings, with ``ips``: each cluster failover IP and its home host (the
    host whose pillar lists it; where the provider routes it now is the API's to say), and
    ``poll_timeout``: the seconds of the beacon's one request, never longer than a poll nor
    POLL_TIMEOUT_MAX, and ``gateways``: the hosts' public gateways, the only addresses a
    host answers ARP for on the public bridge (a guest's gateway is its host's, wherever it
    runs); ``configured``: whether this host has the provider's API settings (never the
    credentials themselves)."""
    ips = {ip: name for name, host in hosts.items() for ip in host["failover_ips"]}
    timeout = min(failover["poll_interval"], failover["request_timeout"], POLL_TIMEOUT_MAX)
    gateways = sorted({host["public"]["gateway"] for host in hosts.values()}, key=ipaddress.IPv4Address)
    return dict(
        failover,
        ips=dict(sorted(ips.items())),
        poll_timeout=timeout,
        gateways=gateways,
        configured=configured,
    )


def _settings_copy(cfg):
    """F25, B1: what the guests and takeover modules need when the master cannot be
    reached (the units' settings copy; no secret): the hosts' RPN addresses,
    roles, sanlock host ids and server ids (a dead host id is mapped to its
    host), this host and its peer, the migration user, the SSH port, the
    evacuation, takeover, keeper, timing and placement settings, the hosts that carry
    guests and those that hold bricks, the guests' home, wish, failover IPs, size,
    anti-affinity group and disk (its sanlock lease is named after it). Nothing else,
    so that unrelated pillar changes leave the copy alone."""
    guest_keys = ("home", "running", "failover_ips", "disk_path", "memory", "vcpus", "anti_affinity")
    host_keys = ("role", "host_id", "server_id")
    return {
        "me": {"name": cfg["me"]["name"], "peer": cfg["me"].get("peer")},
        "hosts": {
            name: {"rpn": {"ip": host["rpn"]["ip"]}, **{key: host.get(key) for key in host_keys}}
            for name, host in cfg["hosts"].items()
        },
        "migration": {"user": cfg["migration"]["user"]},
        "firewall": {"ssh_port": cfg["firewall"]["ssh_port"]},
        "evacuation": cfg["evacuation"],
        "takeover": cfg["takeover"],
        "keeper": cfg["keeper"],
        "timings": cfg["timings"],
        "placement": cfg["placement"],
        "gluster": {"brick_hosts": cfg["gluster"]["brick_hosts"]},
        "tunnels": {"members": cfg["tunnels"]["members"]},
        "guests": {name: {k: g[k] for k in guest_keys} for name, g in cfg["guests"].items()},
        "failover": {"ips": cfg["failover"]["ips"]},
    }


def _migration_view(migration):
    """F20: the migration user, its home and the key it logs in to the peer with."""
    user = migration["user"]
    home = "/root" if user == "root" else f"/home/{user}"
    return dict(migration, home=home, key=f"{home}/.ssh/id_ed25519_hv")


def _sanlock_view(sanlock, me, gluster):
    """The watchdog units on or off, the daemon's options (-w, and -g: the kill grace),
    ``conf_settings`` (sanlock.conf's, where this OS family's sanlock reads the watchdog fire
    timeout), libvirt's lockspace (joined with the cluster's io_timeout; no host id on the arbiter;
    ``client_quorum``: whether the lease volume refuses writes without a majority)."""
    watchdog = [sanlock["watchdog_service"]]
    lease_dir = gluster["volumes"][hv_schema.LEASE_VOLUME]["mount"]
    quorum = str(
        gluster["volumes"][hv_schema.LEASE_VOLUME]["options"].get(hv_schema.QUORUM_TYPE, "none")
    ).lower()
    fixed = sanlock.get("watchdog_fire_timeout_fixed") is not None
    return dict(
        sanlock,
        watchdog_units=watchdog if sanlock["use_watchdog"] else [],
        watchdog_units_off=[] if sanlock["use_watchdog"] else watchdog,
        daemon_opts=f"-w {1 if sanlock['use_watchdog'] else 0} -g {sanlock['kill_grace']}",
        conf_settings={} if fixed else {"watchdog_fire_timeout": sanlock["watchdog_fire_timeout"]},
        lease_dir=lease_dir,
        lockspace={
            "name": "__LIBVIRT__DISKS__",
            "host_id": me.get("host_id"),
            "path": f"{lease_dir}/__LIBVIRT__DISKS__",
            "io_timeout": sanlock["io_timeout"],
            # The lease volume refuses a write without a majority of its bricks
            # (an arbiter): the rejoin need not wait for the heal to end.
            "client_quorum": quorum == "auto",
        },
    )


def _timings_view(sanlock, gluster):
    """In seconds: sanlock renews its host lease every 2 x io_timeout (``renewal``) and gives it
    up after 8 x io_timeout (``renewal_fail``); a host silent that long and the watchdog fire
    timeout more is dead (``host_dead``): then its leases may be taken (``takeover_after``)."""
    io_timeout, wft = sanlock["io_timeout"], sanlock["watchdog_fire_timeout"]
    options = gluster["volumes"][hv_schema.LEASE_VOLUME]["options"]
    return {
        "io_timeout": io_timeout,
        "renewal": hv_sanlock_time.renewal(io_timeout),
        "renewal_fail": hv_sanlock_time.renewal_fail(io_timeout),
        "watchdog_fire_timeout": wft,
        "host_dead": hv_sanlock_time.host_dead(io_timeout, wft),
        "kill_grace": sanlock["kill_grace"],
        "ping_timeout": int(options.get(hv_schema.PING_TIMEOUT, hv_schema.GLUSTER_PING_TIMEOUT)),
        "takeover_after": hv_sanlock_time.host_dead(io_timeout, wft),
    }


def _takeover_view(takeover, majority, gluster):
    """The takeover settings, ``enabled`` resolved (auto: on where the bricks have a majority) and
    ``incidents_dir`` (default: ``.hv-incidents`` on the save volume, shared and protected by client
    quorum)."""
    enabled = majority if takeover["enabled"] == "auto" else takeover["enabled"]
    incidents_dir = (
        takeover["incidents_dir"] or f"{gluster['volumes'][hv_schema.SAVE_VOLUME]['mount']}/.hv-incidents"
    )
    return dict(takeover, enabled=enabled, incidents_dir=incidents_dir)


def _keeper_view(keeper, gluster):
    """B1: the keeper settings, ``dir`` resolved (default: ``.hv-keeper`` on the save volume,
    shared and protected by client quorum), with ``hosts_dir`` (each host's published record)
    and ``stopped_dir`` (a person's stops of ``running: true`` guests)."""
    directory = keeper["dir"] or f"{gluster['volumes'][hv_schema.SAVE_VOLUME]['mount']}/.hv-keeper"
    return dict(keeper, dir=directory, hosts_dir=f"{directory}/hosts", stopped_dir=f"{directory}/stopped")


def _metrics_view(metrics):
    """Issue 25: the settings, with ``file`` (``<textfile_dir>/hv.prom``, what metrics.write
    writes) and ``args``: the node exporter's flags where the settings differ from its own
    defaults (its port 9100, the textfile directory its package reads; always that flag
    where the package's is not known), so that a default Debian install keeps its file as
    it came."""
    args = []
    if metrics["listen_port"] != hv_schema.METRICS_PORT:
        args.append(f"--web.listen-address=:{metrics['listen_port']}")
    if metrics["textfile_dir"] != metrics["packaged_textfile_dir"]:
        args.append(f"--collector.textfile.directory={metrics['textfile_dir']}")
    return dict(metrics, file=f"{metrics['textfile_dir']}/{METRICS_FILE}", args=args)


def _metrics_port(metrics, firewall):
    """The node exporter's port for the firewall (open to ``monitoring_sources``): only where
    metrics are enabled, and only when the monitoring port's rule does not open it already."""
    if not metrics["enabled"] or metrics["listen_port"] == firewall["monitoring_port"]:
        return None
    return metrics["listen_port"]


def _evacuation_view(evacuation, gluster):
    """F25: the settings, with ``save_dir`` (the save volume's mount, F17) and ``settings_cache``
    (the copy of the settings the shutdown unit reads when the master is out of reach)."""
    return dict(
        evacuation,
        save_dir=gluster["volumes"]["save"]["mount"],
        settings_cache=f"{evacuation['state_dir']}/settings.json",
    )


def _backups_view(backups, guests):
    """B9: the backup settings, ``guests`` resolved (those listed, else every guest; never
    one with ``backup: false``), ``last_dir`` (each guest's last result) and ``unit`` (the
    systemd service and timer's name)."""
    listed = backups["guests"] or sorted(guests)
    return dict(
        backups,
        guests=[name for name in listed if name in guests and guests[name]["backup"]],
        last_dir=f"{backups['state_dir']}/last",
        unit=BACKUP_UNIT,
    )


def _guest_view(name, guest, cfg):
    """F26: a guest with its defaults, ``uuid`` (the same on every host, for migrations),
    ``disk_path``, NICs by Linux bridge (``bridge``), network (``net``), MAC, libvirt
    traffic filter (``filter``, ``ips``: B10, see :func:`_nic_filter`) and ``mtu`` (only
    when tunnels:guest_mtu is not 1500), and its domain
    ``xml`` with the ``fingerprint`` embedded in it."""
    view = dict(copy.deepcopy(hv_schema.GUEST_DEFAULTS), **copy.deepcopy(guest), name=name)
    view["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{cfg['domain']}"))
    view["disk_path"] = f"{cfg['pools'][guest['disk']['pool']]['path']}/{name}.img"
    mtu = cfg["tunnels"]["guest_mtu"]
    view["nics"] = [
        {
            "bridge": cfg["bridges"][nic["bridge"]]["name"],
            "net": nic["bridge"],
            "mac": nic.get("mac", hv_schema.default_mac(name, index)).lower(),
            **_nic_filter(cfg["bridges"][nic["bridge"]], view["failover_ips"]),
            # tunnels:guest_mtu, told to the guest (virtio's host_mtu); none at 1500, so that
            # the guests of a cluster without it keep their definition.
            **({"mtu": mtu} if mtu != hv_schema.GUEST_MTU else {}),
        }
        for index, nic in enumerate(view["nics"])
    ]
    view["boot"] = dict(hv_schema.BOOT_DEFAULTS, **view["boot"]) if view["boot"] else None
    view["xml"] = guest_xml.render(view)
    view["fingerprint"] = guest_xml.fingerprint(view["xml"])
    return view


def _nic_filter(bridge, failover_ips):
    """B10: what a guest's NIC may send, by libvirt's own filters. On the public bridge:
    ``clean-traffic`` with the guest's failover IPs (its MAC, its IPs as sources and in
    its ARP, IPv4 and ARP only: it cannot claim another guest's IP nor spoof a source);
    elsewhere ``no-mac-spoofing`` (the addresses there are the guests' own business)."""
    if bridge.get("public"):
        return {"filter": "clean-traffic", "ips": list(failover_ips)}
    return {"filter": "no-mac-spoofing", "ips": []}


def _python_view(python, prefix=sys.prefix, base_prefix=sys.base_prefix, exists=os.path.exists):
    """How the libraries the modules import reach the minion's own Python, and ``salt_call``:
    the salt-call of that Python, which the units run.

    On the system Python (Debian's or EL's own, no venv): OS packages. In a
    venv or Salt's onedir: pip, run by the pip state with the minion's own
    interpreter, after the packages needed to build from source.
    """
    salt_call = salt_call_path(prefix, base_prefix, exists)
    if prefix == base_prefix == "/usr":
        return {"method": "os", "pkgs": python["os_pkgs"], "pip": {}, "salt_call": salt_call}
    pip = {req.split("==")[0].split(">")[0].split("<")[0].strip(): req for req in python["pip"]}
    return {
        "method": "pip",
        "pkgs": python["build_pkgs"],
        "pip": pip,
        "prefix": prefix,
        "salt_call": salt_call,
    }


def salt_call_path(prefix, base_prefix, exists=os.path.exists):
    """salt-call of the Python at ``prefix``: Salt's onedir keeps it in the prefix itself
    (/opt/saltstack/salt/salt-call), a venv in its bin/; on the system Python it is the
    package's /usr/bin/salt-call, or pip's /usr/local/bin/salt-call."""
    candidates = [f"{prefix}/salt-call", f"{prefix}/bin/salt-call"]
    if prefix == base_prefix == "/usr":
        candidates.append("/usr/local/bin/salt-call")
    return next((path for path in candidates if exists(path)), candidates[1])


def _host_bricks(gluster, host):
    """This host's bricks settings: the cluster's, with the host's own on top."""
    return hv_check.merge(gluster["bricks"], host.get("bricks") or {})


def _brick_layout(bricks, volumes, brick_root):
    """Per volume, where this host's brick lives and what it stands on.

    ``dir`` is ``<brick_root>/<volume>``; the brick is its ``brick``
    subdirectory, so an unmounted brick file system leaves glusterd nothing to
    write into. ``device`` is the block device holding its XFS file system
    (None for a plain directory); ``lv`` the logical volume to create first.
    """
    layout = {}
    for name, volume in sorted(volumes.items()):
        brick_dir = f"{brick_root}/{name}"
        device = lv = None
        if bricks["type"] == "device":
            device = bricks["devices"][name]
        elif bricks["type"] == "lvm":
            device = f"/dev/{bricks['vg']}/{name}"
            lv = {"vg": bricks["vg"], "name": name, "size": volume["size"]}
        layout[name] = {
            "dir": brick_dir,
            "path": f"{brick_dir}/brick",
            "device": device,
            "lv": lv,
            "label": name[:12],
            # Where the brick file system must be mounted before the brick exists.
            "mount_point": brick_dir if device else None,
        }
    return layout


def _gluster_view(gluster, hosts, me):
    """Add what the states need: the hosts that hold bricks (``brick_hosts``, hv_layout's), the
    host that creates volumes (the first of them), this host's bricks; with three bricks (a
    majority), client quorum (``cluster.quorum-type: auto``) on every volume unless the pillar
    sets it; on every volume ``auth.allow``: the hosts' RPN addresses and the loopback (B10),
    so that a machine that merely sends from the private network mounts nothing; with
    ``tls``, TLS on the volumes' connections, for the hosts' certificates alone. Every host
    is a gluster peer and mounts every volume; only brick hosts hold bricks."""
    arbiter = gluster["arbiter"] or None
    data_hosts = hv_layout.members(hosts)
    members = hv_layout.brick_hosts(hosts, gluster["brick_hosts"])
    majority = len(members) > hv_layout.MIN_GUEST_HOSTS
    leader = members[0]
    view = dict(gluster, data_hosts=data_hosts, brick_hosts=members, leader=leader, peers=sorted(hosts))
    view["is_leader"] = me == leader
    view["local_bricks"] = (
        _brick_layout(_host_bricks(gluster, hosts[me]), gluster["volumes"], gluster["brick_root"])
        if me in members
        else {}
    )
    # The states loop over these, one per kind of step: no decisions in Jinja.
    view["brick_lvs"] = {n: b["lv"] for n, b in view["local_bricks"].items() if b["lv"]}
    view["brick_filesystems"] = {n: b for n, b in view["local_bricks"].items() if b["device"]}
    # Bricks on a root file system (type directory) need `volume create … force`.
    view["force_create"] = any(_host_bricks(gluster, hosts[h])["type"] == "directory" for h in members)
    allowed = ",".join(["127.0.0.1", *(hosts[h]["rpn"]["ip"] for h in sorted(hosts))])
    tls = (
        {"client.ssl": "on", "server.ssl": "on", "auth.ssl-allow": ",".join(sorted(hosts))}
        if gluster["tls"]
        else {}
    )
    volumes = {}
    for name, volume in sorted(gluster["volumes"].items()):
        brick_dir = f"{gluster['brick_root']}/{name}"
        volumes[name] = dict(
            volume,
            brick_dir=brick_dir,
            bricks=[f"{host}:{brick_dir}/brick" for host in members],
            replica=len(members),
            arbiter=1 if arbiter else 0,
            options={
                **({hv_schema.QUORUM_TYPE: "auto"} if majority else {}),
                **_options(volume),
                hv_schema.AUTH_ALLOW: allowed,
                **tls,
            },
        )
    view["volumes"] = volumes
    view["mounts"] = sorted(volume["mount"] for volume in volumes.values())
    # Only the leader creates, starts and tunes the volumes; the other data hosts
    # wait until it has started each before they mount it.
    view["managed_volumes"] = volumes if view["is_leader"] else {}
    view["awaited_volumes"] = {} if view["is_leader"] or me == arbiter else volumes
    return view


def _options(volume):
    """A volume's options as gluster takes them: strings."""
    return {k: str(v) for k, v in volume.get("options", {}).items()}


class InvalidPillar(ValueError):
    """The pillar is wrong: the message has one line per problem."""
