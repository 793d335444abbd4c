"""The Shorewall files (salt/firewall/files/*.jinja) rendered with Jinja from a
sample host (the lab's hosts, from the context the state gives: tests/render): the
zones, interfaces, policy, params, rules, proxy ARP lines and shorewall.conf
options each host gets; every other guest bridge in the zone guest; no public
bridge, no pwan and no proxy ARP; no other bridge, no guest zone; every file
says it is managed by Salt; every template is one the state applies.
That Shorewall accepts them: `shorewall check` in the lab (tests/lab)."""

import jinja2

from tests.loaders import REPO

FILES = REPO / "salt" / "firewall" / "files"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FILES)), undefined=jinja2.StrictUndefined)
FIREWALL = {
    "trusted": ["198.51.100.7", "192.0.2.0/28"],
    "monitoring_sources": ["198.51.100.9"],
    "peers_rpn": ["10.90.0.2", "10.90.0.3"],
    "storage_rpn": ["10.90.0.9"],
    "rpn_network": "10.90.0.0/24",
    "brick_ports": "49152:60999",
    "migration_ports": "61000:61063",
    "tunnel_udp_ports": [4789],
    "ssh_port": 2222,
    "monitoring_port": 10050,
    "metrics_port": None,
    "log_level": "notice",
    "outbound_tcp": [80, 443],
    "outbound_udp": [53, 123],
    "master_ports": [4505, 4506],
    "api_ports": [],
}
# br-out public (pwan); br-in and br-dmz the other guest bridges (guest).
BRIDGES = {
    "wan": {"name": "br-out", "vpn_port": 1201, "vni": 1201, "public": True},
    "lan": {"name": "br-in", "vpn_port": 1202, "vni": 1202, "public": False},
    "dmz": {"name": "br-dmz", "vpn_port": 1203, "vni": 1203, "public": False},
}
SAMPLE = {
    "me": {
        "public": {"interface": "enp1s0", "address": "198.18.0.21", "dhcp": False},
        "rpn": {"interface": "enp2s0", "ip": "10.90.0.1", "dhcp": True},
        "failover_ips": ["198.18.0.101", "198.18.0.102"],
    },
    "bridges": BRIDGES,
    "public_bridge": dict(BRIDGES["wan"], net="wan"),
    "firewall": FIREWALL,
    "masters": ["198.18.0.5"],
}


def render(hv):
    """Each file's data lines (no comments, no blank lines), by file name."""
    out = {}
    for template in sorted(FILES.glob("*.jinja")):
        text = ENV.get_template(template.name).render(hv=hv)
        assert text.startswith("# Managed by Salt (salt://firewall/files/"), template.name
        out[template.stem] = [
            " ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")
        ]
    return out


def test_zones_interfaces_policy():
    files = render(SAMPLE)
    assert files["zones"] == ["fw firewall", "wan ipv4", "rpn ipv4", "pwan ipv4", "guest ipv4"]
    assert files["interfaces"] == [
        "?FORMAT 2",
        "wan enp1s0 tcpflags,nosmurfs,routefilter",
        "rpn enp2s0 tcpflags,dhcp",
        "pwan br-out bridge,proxyarp=0",
        "guest br-dmz bridge",
        "guest br-in bridge",
    ]
    # The guest zone has no policy of its own: all all DROP isolates it.
    assert files["policy"] == ["wan pwan ACCEPT", "pwan wan ACCEPT", "all all DROP notice"]


def test_params():
    assert render(SAMPLE)["params"] == [
        "TRUSTED=198.51.100.7,192.0.2.0/28",
        "MONITORING=198.51.100.9",
        "PEERS=10.90.0.2,10.90.0.3",
        "STORAGE=10.90.0.9",
        "MASTER=198.18.0.5",
    ]


def test_rules():
    assert render(SAMPLE)["rules"] == [
        "?SECTION NEW",
        "REJECT $FW wan:10.90.0.0/24",
        "ACCEPT wan:$TRUSTED $FW tcp 2222",
        "ACCEPT wan:$MONITORING $FW tcp 10050",
        "ACCEPT all $FW icmp 8",
        "ACCEPT $FW all icmp 8",
        "ACCEPT $FW wan tcp 80",
        "ACCEPT $FW wan tcp 443",
        "ACCEPT $FW wan udp 53",
        "ACCEPT $FW wan udp 123",
        "ACCEPT $FW wan tcp 4505",
        "ACCEPT $FW rpn tcp 4505",
        "ACCEPT wan:$MASTER $FW tcp - 4505 ;; -m tcp ! --syn",
        "ACCEPT rpn:$MASTER $FW tcp - 4505 ;; -m tcp ! --syn",
        "ACCEPT $FW wan tcp 4506",
        "ACCEPT $FW rpn tcp 4506",
        "ACCEPT wan:$MASTER $FW tcp - 4506 ;; -m tcp ! --syn",
        "ACCEPT rpn:$MASTER $FW tcp - 4506 ;; -m tcp ! --syn",
        "ACCEPT rpn:$PEERS $FW tcp 2222",
        "ACCEPT rpn:$PEERS $FW tcp 24007:24008",
        "ACCEPT rpn:$PEERS $FW tcp 49152:60999",
        "ACCEPT rpn:$PEERS $FW tcp 61000:61063",
        "ACCEPT rpn:$PEERS $FW udp 4789",
        "ACCEPT $FW rpn:$PEERS tcp 2222",
        "ACCEPT $FW rpn:$PEERS tcp 24007:24008",
        "ACCEPT $FW rpn:$PEERS tcp 49152:60999",
        "ACCEPT $FW rpn:$PEERS tcp 61000:61063",
        "ACCEPT $FW rpn:$PEERS udp 4789",
        # The arbiter: gluster only.
        "ACCEPT rpn:$STORAGE $FW tcp 24007:24008",
        "ACCEPT rpn:$STORAGE $FW tcp 49152:60999",
        "ACCEPT $FW rpn:$STORAGE tcp 24007:24008",
        "ACCEPT $FW rpn:$STORAGE tcp 49152:60999",
    ]


def test_the_provider_api_port_is_let_out():
    rules = render(dict(SAMPLE, firewall=dict(FIREWALL, api_ports=[8080])))["rules"]
    assert "ACCEPT $FW wan tcp 8080" in rules
    assert not [line for line in render(SAMPLE)["rules"] if "8080" in line]


def test_proxyarp_is_not_a_firewall_file():
    """F22: the proxyarp file is online.sync_failover's, from the provider's API."""
    assert "proxyarp" not in render(SAMPLE)


def test_shorewall_conf():
    conf = dict(line.split("=", 1) for line in render(SAMPLE)["shorewall.conf"])
    assert conf == {
        "STARTUP_ENABLED": "Yes",
        "AUTOMAKE": "No",
        "LOG_LEVEL": '"notice"',
        "LOGFILE": "systemd",
        "STARTUP_LOG": "/var/log/shorewall-init.log",
        "DROP_DEFAULT": '"Broadcast(DROP),Multicast(DROP)"',
        "IP_FORWARDING": "On",
        "ROUTE_FILTER": "Keep",
        "LOG_MARTIANS": "Keep",
        "ADMINISABSENTMINDED": "Yes",
        "CONFIG_PATH": '":${CONFDIR}/shorewall:${SHAREDIR}/shorewall"',
    }


def test_no_public_bridge_no_pwan_and_no_proxy_arp():
    """br-out no longer public: a guest bridge like the others."""
    bridges = dict(BRIDGES, wan=dict(BRIDGES["wan"], public=False))
    hv = dict(SAMPLE, bridges=bridges, public_bridge=None, me=dict(SAMPLE["me"], failover_ips=[]))
    hv["me"]["public"] = dict(SAMPLE["me"]["public"], dhcp=True)
    files = render(hv)
    assert files["zones"] == ["fw firewall", "wan ipv4", "rpn ipv4", "guest ipv4"]
    assert files["interfaces"][1:] == [
        "wan enp1s0 tcpflags,nosmurfs,routefilter,dhcp",
        "rpn enp2s0 tcpflags,dhcp",
        "guest br-dmz bridge",
        "guest br-in bridge",
        "guest br-out bridge",
    ]
    assert files["policy"] == ["all all DROP notice"]


def test_only_the_public_bridge_no_guest_zone():
    hv = dict(SAMPLE, bridges={"wan": BRIDGES["wan"]})
    files = render(hv)
    assert files["zones"] == ["fw firewall", "wan ipv4", "rpn ipv4", "pwan ipv4"]
    assert files["interfaces"][1:] == [
        "wan enp1s0 tcpflags,nosmurfs,routefilter",
        "rpn enp2s0 tcpflags,dhcp",
        "pwan br-out bridge,proxyarp=0",
    ]


def test_no_bridge_at_all_no_pwan_and_no_guest_zone():
    hv = dict(SAMPLE, bridges={}, public_bridge=None, me=dict(SAMPLE["me"], failover_ips=[]))
    files = render(hv)
    assert files["zones"] == ["fw firewall", "wan ipv4", "rpn ipv4"]
    assert len(files["interfaces"]) == 3


def test_no_peers_no_peer_rules():
    hv = dict(SAMPLE, firewall=dict(FIREWALL, peers_rpn=[], storage_rpn=[]))
    assert not [line for line in render(hv)["rules"] if "PEERS" in line or "STORAGE" in line]


def test_nothing_connects_from_the_masters_ports():
    """B10: no rule lets a new connection in by its source port alone."""
    for line in render(SAMPLE)["rules"]:
        fields = line.split()
        if fields[0] == "ACCEPT" and fields[2] == "$FW" and len(fields) > 4 and fields[4] == "-":
            assert line.endswith(";; -m tcp ! --syn"), line


def test_every_template_is_applied():
    apply_sls = (REPO / "salt" / "firewall" / "apply.sls").read_text()
    for template in FILES.glob("*.jinja"):
        assert f'"{template.stem}"' in apply_sls, template.name


def test_the_node_exporters_port_only_when_metrics_are_enabled():
    """Issue 25: hypervisor:metrics:listen_port opened to the monitoring sources, right after
    the monitoring port's rule, only where the view gives it (metrics enabled, another port)."""
    rules = render(dict(SAMPLE, firewall=dict(FIREWALL, metrics_port=9100)))["rules"]
    at = rules.index("ACCEPT wan:$MONITORING $FW tcp 10050")
    assert rules[at + 1] == "ACCEPT wan:$MONITORING $FW tcp 9100"
    assert not [line for line in render(SAMPLE)["rules"] if "9100" in line]
