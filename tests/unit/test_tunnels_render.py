"""F19/F20 as rendered. The OpenVPN config from salt://tunnels/files (jinja2,
the lab's tunnels as hv_views builds them): TLS point to point,
tls-server with `dh none` on the lower host id, tls-client on the other,
the peer pinned by fingerprint, the `up` command joining the tap to its
bridge. Then the SLS of network, tunnels and peers through ``salt-call
state.show_sls`` (masterless minions of pytest-salt-factories,
tests/saltcall.py) for the lab's pillar (vxlan, two hosts) and a second
cluster (openvpn over a private NIC, two hypervisors and an arbiter, whose network has no
bridge and no tunnel): which states each host gets, and that the peer's
keys reach the states through slots read when they run, after
peer_keys.received."""

import copy

import jinja2
import pytest

from tests.loaders import REPO, hv_views, layered_parameters
from tests.pillar_cases import lab_pillar
from tests.render.test_render import SECOND_PILLAR, write_pillar
from tests.saltcall import Ahead, call, factories, minion, text

TEMPLATE = REPO / "salt" / "tunnels" / "files" / "openvpn.conf.jinja"
FINGERPRINT = ":".join(["AB"] * 32)
NETWORKD = "/etc/systemd/network"
NETWORKD_SOURCES = "salt://network/files/networkd"


def lab_tunnels(host):
    """hv.tunnels of a lab host, as hv_views builds it (hyp1, host id 1, is the
    server of each OpenVPN tunnel; hyp2 the client)."""
    return hv_views.build(lab_pillar(), layered_parameters("Debian"), host)["tunnels"]


def render_conf(host, group="nogroup"):
    """The wan bridge's OpenVPN config on a lab host."""
    (tunnel,) = [t for t in lab_tunnels(host)["openvpn"] if t["net"] == "wan"]
    return jinja2.Template(TEMPLATE.read_text(), keep_trailing_newline=True).render(
        tunnel=tunnel,
        cert="/etc/openvpn/hv/tls/host.crt",
        key="/etc/openvpn/hv/tls/host.key",
        peer="hyp2",
        peer_fingerprint=FINGERPRINT,
        group=group,
        join_script="/usr/local/sbin/hv-tunnel-join",
    )


def directives(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def head(local, remote):
    return [
        "dev tapwan",
        "dev-type tap",
        "proto udp",
        f"local {local}",
        "lport 1195",
        f"remote {remote} 1195",
    ]


HYP1, HYP2 = "198.51.100.11", "198.51.100.12"
COMMON_TAIL = [
    "cert /etc/openvpn/hv/tls/host.crt",
    "key /etc/openvpn/hv/tls/host.key",
    f"peer-fingerprint {FINGERPRINT}",
    "data-ciphers AES-256-GCM:CHACHA20-POLY1305",
    "keepalive 5 30",
    "persist-tun",
    "persist-key",
    "user nobody",
    "group nogroup",
    "script-security 2",
    'up "/usr/local/sbin/hv-tunnel-join brwan"',
    "verb 3",
]


def test_openvpn_server_side():
    text = render_conf("hyp1")
    assert text.startswith("# Managed by Salt (salt://tunnels/openvpn.sls)")
    assert directives(text) == head(HYP1, HYP2) + ["tls-server", "dh none"] + COMMON_TAIL


def test_openvpn_client_side():
    assert directives(render_conf("hyp2")) == head(HYP2, HYP1) + ["tls-client"] + COMMON_TAIL


def test_openvpn_el_group():
    assert "group nobody" in directives(render_conf("hyp2", group="nobody"))


def test_openvpn_never_a_static_key_or_a_pki():
    text = render_conf("hyp1")
    for word in ("secret", "cipher none", "ca ", "server ", "client\n", "tls-crypt"):
        assert f"\n{word}" not in text


# ------------------------------------------------------------------ the SLS, rendered by Salt


SLS = "network,tunnels,peers"


def second_with_openvpn():
    """The second cluster (tests/render/test_render.py) with a private NIC of its own (enp2s0,
    found by its MAC, a 1500-byte MTU) in place of its vSwitch, and OpenVPN tunnels."""
    pillar = copy.deepcopy(SECOND_PILLAR)
    for index, host in enumerate(pillar["hypervisor"]["hosts"].values(), start=1):
        address = host["rpn"]["address"]
        host["rpn"] = {
            "interface": "enp2s0",
            "mac": f"02:00:c0:00:02:{20 + index}",
            "address": address,
            "mtu": 1500,
        }
    pillar["hypervisor"]["tunnels"] = {"transport": "openvpn"}
    return pillar


@pytest.fixture(scope="module")
def show_sls(tmp_path_factory):
    """state.show_sls of a host, rendered once: all that this module reads, started ahead."""
    salt_factories = factories(tmp_path_factory.mktemp("salt-factories"))
    second = write_pillar(tmp_path_factory.mktemp("second"), second_with_openvpn())

    def render(host, family, mods):
        roots = None if host.startswith("hyp") else second
        ret = call(minion(salt_factories, host, family, roots), "state.show_sls", mods)
        assert ret.returncode == 0 and isinstance(ret.data, dict), f"{host}/{family}:\n{text(ret)[:3000]}"
        return ret.data

    keys = [("hyp1", "Debian", SLS), ("kvm-a", "Debian", SLS), ("kvm-a", "RedHat", SLS)]
    keys += [("kvm-b", "Debian", SLS), ("witness", "Debian", "network"), ("witness", "RedHat", "network")]
    ahead = Ahead(render, keys)
    yield lambda host, family="Debian", mods=SLS: ahead.get(host, family, mods)
    ahead.close()


def args(states, state_id):
    (body,) = (v for k, v in states[state_id].items() if not k.startswith("__"))
    return {k: v for a in body if isinstance(a, dict) for k, v in a.items() if k != "order"}


def function(states, state_id):
    return next(
        f"{k}.{a}"
        for k, v in states[state_id].items()
        if not k.startswith("__")
        for a in v
        if isinstance(a, str)
    )


def starting(states, prefix):
    return sorted(s for s in states if s.startswith(prefix))


def networkd_files(states):
    """network-networkd-applied's files: destination -> {source, context}."""
    assert function(states, "network-networkd-applied") == "safe_apply.applied"
    return args(states, "network-networkd-applied")["files"]


def test_lab_vxlan_host_stops_openvpn_and_makes_vxlan_links(show_sls):
    states = show_sls("hyp1")
    assert starting(states, "tunnels-openvpn-") == []
    assert function(states, "tunnels-vxlan-openvpn-wan-stopped") == "service.dead"
    assert args(states, "tunnels-vxlan-openvpn-wan-stopped") == {
        "name": "hv-tunnel@wan",
        "enable": False,
        # Only a tunnel that is there: test=True reports no stop that would not happen.
        "onlyif": "systemctl is-active --quiet hv-tunnel@wan || systemctl is-enabled --quiet hv-tunnel@wan",
        "require_in": [{"module": "tunnels-vxlan-openvpn-others-stopped"}],
    }
    cleared = args(states, "tunnels-vxlan-openvpn-failed-cleared")
    assert cleared["cmd.run_all"] == [
        {"cmd": ["systemctl", "reset-failed", "hv-tunnel@*.service"]},
        {"python_shell": False},
    ]
    assert args(states, "tunnels-vxlan-openvpn-wan-config-absent")["name"] == "/etc/openvpn/hv/wan.conf"
    # One VXLAN .netdev and .network per bridge, among the files applied
    # behind the dead-man, after tunnels.vxlan stopped OpenVPN.
    files = networkd_files(states)
    links = {link["ifname"]: link for link in lab_tunnels("hyp1")["vxlan"]}
    assert {i: (link["bridge"], link["vni"], link["remotes"]) for i, link in links.items()} == {
        "vxlan": ("brlan", 102, ["198.51.100.12"]),
        "vxwan": ("brwan", 101, ["198.51.100.12"]),
    }
    assert sorted(dest for dest in files if dest.startswith(f"{NETWORKD}/31-")) == [
        f"{NETWORKD}/31-hv-{ifname}.{kind}" for ifname in links for kind in ("netdev", "network")
    ]
    for ifname, link in links.items():
        for kind in ("netdev", "network"):
            assert files[f"{NETWORKD}/31-hv-{ifname}.{kind}"] == {
                "source": f"{NETWORKD_SOURCES}/vxlan.{kind}.jinja",
                "context": {"link": link},
            }
    assert files[f"{NETWORKD}/20-hv-rpn.network"]["context"]["vxlans"] == ["vxlan", "vxwan"]
    applied = args(states, "network-networkd-applied")
    assert {"sls": "tunnels.vxlan"} in applied["require"]
    assert applied["probe"]["links"] == ["eth0", "eth1", "brlan", "brwan", "vxlan", "vxwan"]
    # Each link sends to the other hosts only (a flood entry networkd left behind goes).
    for ifname, link in links.items():
        remotes = args(states, f"network-networkd-tunnel-{ifname.removeprefix('vx')}-remotes")
        assert remotes == {
            "name": ifname,
            "remotes": link["remotes"],
            "require": [{"safe_apply": "network-networkd-applied"}],
        }
    # Nothing removed with transport vxlan.
    assert starting(states, "network-networkd-vxlan-") == []
    assert "network-networkd-reloaded-after-removal" not in states


def test_lab_networkd_files_applied_behind_the_dead_man(show_sls):
    applied = args(show_sls("hyp1"), "network-networkd-applied")
    assert applied["name"] == "network"
    assert applied["state_dir"] == "/var/lib/hv-safe-apply"
    assert applied["rollback_after"] == 90
    assert applied["apply"] == [["networkctl", "reload"]]
    links = ["eth0", "eth1", "brlan", "brwan", "vxlan", "vxwan"]
    assert applied["rollback"] == [["networkctl", "reload"]]
    assert applied["probe"] == {"links": links, "master_ports": [4505, 4506], "ssh_from_master": True}
    assert {"service": "network-networkd-running"} in applied["require"]
    files = applied["files"]
    assert files[f"{NETWORKD}/30-hv-brwan.netdev"] == {
        "source": f"{NETWORKD_SOURCES}/bridge.netdev.jinja",
        "context": {"bridge": "brwan"},
    }
    assert files[f"{NETWORKD}/20-hv-rpn.network"]["source"] == f"{NETWORKD_SOURCES}/rpn.network.jinja"
    rpn = files[f"{NETWORKD}/20-hv-rpn.network"]["context"]["rpn"]
    assert (rpn["mac"], rpn["address"], rpn["mtu"]) == ("02:00:c6:33:64:0b", "198.51.100.11/24", 9000)


def test_lab_proxy_arp_reasserted_after_a_network_change(show_sls):
    states = show_sls("hyp1")
    assert networkd_files(states)[f"{NETWORKD}/10-hv-public.network"] == {
        "source": f"{NETWORKD_SOURCES}/public.network.jinja",
        "context": {
            "public": {
                "interface": "eth0",
                "address": "203.0.113.11",
                "prefix": 24,
                "cidr": "203.0.113.11/24",
                "gateway": "203.0.113.254",
                "dhcp": False,
            },
            "vlans": [],
        },
    }
    reassert = args(states, "network-networkd-public-reasserted")
    assert reassert["public_net.reassert"] == [{"interface": "eth0"}, {"bridge": "brwan"}]
    assert reassert["onchanges"] == [{"safe_apply": "network-networkd-applied"}]


def test_lab_peers_need_no_fingerprint_with_vxlan(show_sls):
    states = show_sls("hyp1")
    assert args(states, "peers-received-hyp2-keys")["require_keys"] == ["host_key", "migration_key"]
    assert starting(states, "peers-trusted-hyp2-known-as-") == [
        "peers-trusted-hyp2-known-as-198.51.100.12",
        "peers-trusted-hyp2-known-as-hyp2",
        "peers-trusted-hyp2-known-as-hyp2.lab.example",
    ]
    authorized = args(states, "peers-trusted-hyp2-migration-key-authorized")
    assert authorized["name"] == "__slot__:salt:peer_keys.get(hyp2, migration_key)"
    assert authorized["options"] == ['from="198.51.100.12"']
    assert {"sls": "peers.received"} in authorized["require"]
    known = args(states, "peers-trusted-hyp2-known-as-hyp2.lab.example")
    assert known["key"] == "__slot__:salt:peer_keys.known_host(hyp2).key"
    assert known["enc"] == "__slot__:salt:peer_keys.known_host(hyp2).enc"
    assert known["hash_known_hosts"] is False
    config = args(states, "peers-trusted-ssh-client-config-managed")
    assert config["name"] == "/etc/ssh/ssh_config.d/hv-migration.conf"
    assert config["context"]["peers"] == ["hyp2"]
    assert config["context"]["key"] == "/root/.ssh/id_ed25519_hv"


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
def test_second_cluster_openvpn_to_the_peer(show_sls, family):
    states = show_sls("kvm-a", family)
    assert starting(states, "tunnels-vxlan-") == []
    conf = args(states, "tunnels-openvpn-dmz-config-managed")
    assert conf["name"] == "/etc/openvpn/hv/dmz.conf"
    assert conf["mode"] == "0600"
    assert conf["context"]["peer_fingerprint"] == "__slot__:salt:peer_keys.get(kvm-b, tunnel_fingerprint)"
    assert conf["context"]["tunnel"]["role"] == "server"
    assert conf["context"]["group"] == {"Debian": "nogroup", "RedHat": "nobody"}[family]
    assert {"sls": "peers.received"} in conf["require"]
    running = args(states, "tunnels-openvpn-dmz-running")
    assert running["name"] == "hv-tunnel@dmz"
    assert {"file": "tunnels-openvpn-dmz-config-managed"} in running["watch"]
    unit = args(states, "tunnels-openvpn-unit-managed")["contents"]
    assert "ExecStart=/usr/sbin/openvpn --config /etc/openvpn/hv/%i.conf" in unit
    assert "ConditionPathExists=/etc/openvpn/hv/%i.conf" in unit
    assert "Restart=on-failure" in unit
    script = args(states, "tunnels-openvpn-join-script-managed")
    assert script["mode"] == "0755"
    assert 'ip link set dev "$dev" master "$1" up' in script["contents"]
    assert args(states, "peers-received-kvm-b-keys")["require_keys"] == [
        "host_key",
        "migration_key",
        "tunnel_fingerprint",
    ]
    assert not [s for s in states if "witness" in s], "the arbiter is no migration peer"


def test_second_cluster_vxlan_links_removed(show_sls):
    states = show_sls("kvm-a")
    assert starting(states, "network-networkd-vxlan-") == [
        f"network-networkd-vxlan-{net}-{what}"
        for net in ("dmz", "lan", "wan")
        for what in ("link-deleted", "netdev-absent", "network-absent")
    ]
    reload = {"cmd": "network-networkd-reloaded-after-removal"}
    for kind in ("netdev", "network"):
        absent = args(states, f"network-networkd-vxlan-dmz-{kind}-absent")
        assert function(states, f"network-networkd-vxlan-dmz-{kind}-absent") == "file.absent"
        assert absent == {"name": f"{NETWORKD}/31-hv-vxdmz.{kind}", "onchanges_in": [reload]}
    deleted = args(states, "network-networkd-vxlan-dmz-link-deleted")
    assert deleted["cmd.run_all"] == [{"cmd": ["ip", "link", "delete", "vxdmz"]}, {"python_shell": False}]
    assert deleted["onlyif"] == "ip link show dev vxdmz"
    assert deleted["require"] == [reload]
    # networkd forgets the removed files once the others are applied.
    assert function(states, "network-networkd-reloaded-after-removal") == "cmd.run"
    assert args(states, "network-networkd-reloaded-after-removal") == {
        "name": "networkctl reload",
        "require": [{"safe_apply": "network-networkd-applied"}],
    }
    files = networkd_files(states)
    assert not [dest for dest in files if dest.startswith(f"{NETWORKD}/31-")]
    assert files[f"{NETWORKD}/20-hv-rpn.network"]["context"]["vxlans"] == []
    applied = args(states, "network-networkd-applied")
    assert applied["probe"]["links"] == ["enp1s0", "enp2s0", "br-dmz", "br-in", "br-out"]
    assert {"sls": "tunnels.vxlan"} not in applied["require"]
    assert args(states, "network-networkd-public-reasserted")["onchanges"] == [
        {"safe_apply": "network-networkd-applied"}
    ]


def test_the_other_side_is_the_client(show_sls):
    conf = args(show_sls("kvm-b"), "tunnels-openvpn-wan-config-managed")
    assert conf["context"]["tunnel"]["role"] == "client"
    assert conf["context"]["peer"] == "kvm-a"


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
def test_arbiter_network_has_no_bridge_and_no_tunnel(show_sls, family):
    """The arbiter gets neither peers nor tunnels (salt/top.sls); its network is
    its public NIC and its RPN: no bridge, no VXLAN link."""
    states = show_sls("witness", family, mods="network")
    assert not [s for s in states if s.startswith(("tunnels-", "peers-")) or "-bridge-" in s]
    assert not [s for s in states if "vxlan" in s]
    if family == "Debian":
        assert sorted(networkd_files(states)) == [
            f"{NETWORKD}/10-hv-public.network",
            f"{NETWORKD}/20-hv-rpn.network",
        ]
        assert args(states, "network-networkd-applied")["probe"]["links"] == ["enp1s0", "enp2s0"]
        reassert = args(states, "network-networkd-public-reasserted")["public_net.reassert"]
        assert reassert[1] == {"bridge": None}
