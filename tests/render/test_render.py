"""The highstate renders on Debian 12 and EL 9 for the lab's cluster (hyp1, hyp2;
its arbiter arb1 where said) and for a second cluster with other names, bridges, networks, an arbiter
and another failover provider (kvm-a, kvm-b, witness; Hetzner Robot, a vSwitch as the private
network, guests at MTU 1350), each with every feature present and its own values;
a pillar that is invalid, or has no entry for the minion, fails the render. OpenVPN tunnels
render in tests/unit/test_tunnels_render.py (the second cluster with a private NIC)."""

import copy

import jinja2
import pytest
import yaml

from tests.loaders import hv_validate, hv_views, layered_parameters
from tests.pillar_cases import as_seen_by, lab_pillar
from tests.saltcall import MASTER, OS_GRAINS, REPO, Ahead, call, factories, minion, text
from tests.unit.test_firewall_render import render as firewall_files
from tests.unit.test_network_render import keyfile, section, sections

LAB = ("hyp1", "hyp2")
LAB_ARBITER = ("arb1",)
SECOND = ("kvm-a", "kvm-b", "witness")
# A family's name is its reference platform (tests/saltcall.py: Debian 12, Rocky 9).
FAMILIES = ("Debian", "RedHat")
# Debian 13's grains: one host of each cluster (a private NIC, a vSwitch).
DEBIAN_13 = [("hyp1", "Debian-13"), ("kvm-a", "Debian-13")]
ADMIN = {"hyp1": "fws", "hyp2": "fws", "kvm-a": "ops", "kvm-b": "ops", "witness": "ops"}
PEER = {"hyp1": "hyp2", "hyp2": "hyp1", "kvm-a": "kvm-b", "kvm-b": "kvm-a"}
# tunnels:transport: the lab's is the default, the second cluster's the same over its vSwitch.
TRANSPORT = {"hyp1": "vxlan", "hyp2": "vxlan", "kvm-a": "vxlan", "kvm-b": "vxlan"}
# The public bridge (net wan) by its name.
WAN_BRIDGE = {"hyp1": "brwan", "hyp2": "brwan", "kvm-a": "br-out", "kvm-b": "br-out"}
NETWORKD = "/etc/systemd/network"


def _second_host(index, name):
    """A host of the second cluster: witness is its arbiter (no host id, peer nor server number).
    Its private network is a Hetzner vSwitch: VLAN 4000 on the public NIC, the link vlan4000
    (no MAC), MTU 1400, no DHCP (a VLAN's default)."""
    own = (
        {"role": "arbiter"}
        if name == "witness"
        else {"host_id": 10 + index, "hetzner_server_number": 3000 + index, "peer": PEER[name]}
    )
    return {
        **own,
        "public": {
            "interface": "enp1s0",
            "address": f"198.18.0.{20 + index}",
            "gateway": "198.18.0.1",
        },
        "rpn": {"interface": "vlan4000", "vlan": 4000, "address": f"192.0.2.{20 + index}/24", "mtu": 1400},
    }


# The second cluster: other host names, interfaces, networks (198.18.0.0/24
# public, gateway 198.18.0.1; 192.0.2.0/24 on a vSwitch, VLAN 4000), domain, brick
# root, three bridges (br-out public), an arbiter, VXLAN with the guests at MTU 1350
# (the vSwitch's 1400 less VXLAN's 50 bytes), its own trusted sources, a guest,
# gluster over TLS, Hetzner Robot's failover IPs.
SECOND_PILLAR = {
    "hypervisor": {
        "domain": "dc2.example.net",
        "hosts": {name: _second_host(index, name) for index, name in enumerate(SECOND, start=1)},
        "bridges": {
            "wan": {"name": "br-out", "vpn_port": 1201, "public": True},
            "lan": {"name": "br-in", "vpn_port": 1202},
            "dmz": {"name": "br-dmz", "vpn_port": 1203},
        },
        "admins": [
            {"name": "ops", "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@dc2.example.net"]}
        ],
        "gluster": {"brick_root": "/srv/gluster", "tls": True},
        "guests": {
            "web": {
                "home": "kvm-b",
                "memory": 1024,
                "disk": {"pool": "iso", "size": "10G"},
                "nics": [{"bridge": "dmz"}],
            }
        },
        "tunnels": {"transport": "vxlan", "guest_mtu": 1350},
        "firewall": {"trusted": ["198.18.0.10", "198.18.1.0/28"]},
        "failover": {"provider": "hetzner"},
    },
    "hetzner": {
        "api_url": "https://robot-ws.example.net",
        "user": "#ws+SecondCl",
        "password": "second-cluster-fake-password",
    },
}
PROVIDER_PARTS = ("online", "hetzner")

# Feature -> (state module.function, a state ID that must be present[, a file
# among that safe_apply state's files]); for a module.run state, the function
# it runs. {admin}, {peer} and {bridge} (the public bridge) are the host's.
COMMON = {
    "F2": ("competing_firewalls.stopped", "firewall-competing-stopped"),
    "F3": ("file.managed", "sysctl-config-file-managed"),
    "F3-live": ("sysctl_live.applied", "sysctl-live-values-applied"),
    "F5": ("pkg.installed", "tools-admin-packages-installed"),
    "F6": ("pkg.installed", "libvirt-packages-installed"),
    "F6-service": ("service.running", "libvirt-service-running"),
    "F7": ("file.managed", "ksm-config-ksmtuned-conf-managed"),
    "F7-logrotate": ("file.managed", "ksm-config-logrotate-managed"),
    "F7-service": ("service.enabled", "ksm-service-enabled"),
    "F8": ("file.managed", "libvirt-config-libvirtd-conf-managed"),
    "F8-socket": ("file.managed", "libvirt-socket-dropin-managed"),
    "F8-autostart": ("file_attr.immutable", "libvirt-autostart-dir-immutable"),
    "F8-guests": ("service.dead", "libvirt-service-libvirt-guests.service-disabled"),
    "F9": ("user.present", "users-{admin}-present"),
    "F9-keys": ("ssh_auth.present", "users-{admin}-ssh-keys-present"),
    "F12": ("file.managed", "hosts-file-managed"),
    "F18-default-net": ("cmd.run", "libvirt-default-network-undefined"),
    "F13-glusterd": ("service.running", "gluster-service-running"),
    "F13-brick": ("gluster_brick.ready", "gluster-brick-vmstore-ready"),
    "F13-mount": ("mount.mounted", "gluster-mount-vmstore-mounted"),
    "F13-order": ("file.managed", "gluster-mounts-before-libvirtd.service"),
    "F14": ("file.managed", "sanlock-libvirt-qemu-sanlock-managed"),
    "F14-lock-manager": ("file.keyvalue", "sanlock-libvirt-qemu-lock-manager-set"),
    "F14-service": ("service.running", "sanlock-service-running"),
    "F15": ("service.running", "sanlock-cleanup-timer-running"),
    "F16": ("libvirt_pool.running", "libvirt-pool-iso-running"),
    "F17": ("mount.mounted", "gluster-mount-save-mounted"),
    "F19-tls": ("x509.certificate_managed", "tunnels-tls-certificate-managed"),
    "F20": ("ssh_auth.present", "peers-trusted-{peer}-migration-key-authorized"),
    "F20-known-host": ("ssh_known_hosts.present", "peers-trusted-{peer}-known-as-{peer}"),
    "F20-mine": ("peer_keys.received", "peers-received-{peer}-keys"),
    "F21": ("safe_apply.applied", "firewall-shorewall-applied"),
    # proxyarp from the provider's API, and the beacon: test_failover_sync_follows_the_firewall
    "F22": ("online.synced", "failover-proxyarp-synced"),
    "F24": ("beacon.present", "failover-beacon-present"),
}
PER_FAMILY = {
    "Debian": {
        # systemd-networkd's files: one safe_apply state installs them all.
        "F11": ("safe_apply.applied", "network-networkd-applied", f"{NETWORKD}/20-hv-rpn.network"),
        "F18": ("safe_apply.applied", "network-networkd-applied", f"{NETWORKD}/30-hv-{{bridge}}.netdev"),
        "F18-network": (
            "safe_apply.applied",
            "network-networkd-applied",
            f"{NETWORKD}/30-hv-{{bridge}}.network",
        ),
        "F23": ("public_net.reassert", "network-networkd-public-reasserted"),
        "F23-file": ("safe_apply.applied", "network-networkd-applied", f"{NETWORKD}/10-hv-public.network"),
    },
    "RedHat": {
        "F4": ("pkg.installed", "repos-centos-release-gluster10-installed"),
        "F4-epel": ("pkg.installed", "repos-epel-release-installed"),
        "F10": ("selinux.boolean", "selinux-boolean-virt_use_fusefs"),
        "F11": ("file.managed", "network-networkmanager-hv-rpn-managed"),
        "F18": ("file.managed", "network-networkmanager-bridge-wan-managed"),
        "F23": ("public_net.restart", "network-networkmanager-public-restarted"),
        "F23-file": ("file.managed", "network-networkmanager-hv-public-managed"),
    },
}
# F19 by the cluster's transport, then the family: VXLAN links from the
# family's network backend (OpenVPN stopped). Both clusters use VXLAN: OpenVPN's
# tunnels (and the VXLAN links removed) render in tests/unit/test_tunnels_render.py.
PER_TRANSPORT = {
    "vxlan": {
        "Debian": {
            # net lan's link is vx + lan
            "F19": ("safe_apply.applied", "network-networkd-applied", f"{NETWORKD}/31-hv-vxlan.netdev"),
            "F19-fdb": ("safe_apply.applied", "network-networkd-applied", f"{NETWORKD}/31-hv-vxlan.network"),
            "F19-no-openvpn": ("service.dead", "tunnels-vxlan-openvpn-lan-stopped"),
        },
        "RedHat": {
            "F19": ("file.managed", "network-networkmanager-vxlan-lan-managed"),
            "F19-up": ("cmd.run_all", "network-networkmanager-vxlan-lan-up"),
            "F19-no-openvpn": ("service.dead", "tunnels-vxlan-openvpn-lan-stopped"),
        },
    },
}
# The second cluster's network files: the public NIC, the private network (a VLAN of
# the public NIC: its .netdev with networkd), three bridges and their VXLAN links, by
# their names; the arbiter's, the public NIC and the private network only (it carries
# no guest).
NM_DIR = "/etc/NetworkManager/system-connections"
SECOND_BRIDGES = ("br-out", "br-in", "br-dmz")
SECOND_VXLANS = ("vxwan", "vxlan", "vxdmz")
ARBITER_NETWORK_FILES = {
    "Debian": {
        f"{NETWORKD}/{n}" for n in ("10-hv-public.network", "20-hv-rpn.network", "25-hv-vlan4000.netdev")
    },
    "RedHat": {f"{NM_DIR}/hv-{n}.nmconnection" for n in ("public", "rpn")},
}
SECOND_NETWORK_FILES = {
    "Debian": ARBITER_NETWORK_FILES["Debian"]
    | {f"{NETWORKD}/30-hv-{b}.{k}" for b in SECOND_BRIDGES for k in ("netdev", "network")}
    | {f"{NETWORKD}/31-hv-{v}.{k}" for v in SECOND_VXLANS for k in ("netdev", "network")},
    "RedHat": ARBITER_NETWORK_FILES["RedHat"]
    | {f"{NM_DIR}/hv-{n}.nmconnection" for n in SECOND_BRIDGES + SECOND_VXLANS},
}
# Each family's public and RPN files.
PUBLIC_FILE = {
    "Debian": f"{NETWORKD}/10-hv-public.network",
    "RedHat": f"{NM_DIR}/hv-public.nmconnection",
}
RPN_FILE = {
    "Debian": f"{NETWORKD}/20-hv-rpn.network",
    "RedHat": f"{NM_DIR}/hv-rpn.nmconnection",
}
# The seed's vmstore options (the schema's gluster:volumes), as gluster gets them.
VMSTORE_OPTIONS = {
    "network.ping-timeout": "5",
    "cluster.heal-timeout": "60",
    "network.frame-timeout": "300",
    "performance.stat-prefetch": "off",
    "performance.io-cache": "off",
    "performance.read-ahead": "off",
    "network.remote-dio": "enable",
    "cluster.eager-lock": "on",
    "server.tcp-user-timeout": "5",
    "server.keepalive-time": "2",
    "server.keepalive-interval": "1",
    "server.keepalive-count": "3",
}


def write_pillar(tmp_path, pillar):
    """A pillar root holding ``pillar`` (key hypervisor and a provider's part), listed before
    the repository's own as master.d/hypervisor.conf does: its files shadow the lab's (an
    empty one for a provider it does not use), and the top file is the repository's
    (nodegroup ``hypervisors``)."""
    roots = tmp_path / "pillar"
    roots.mkdir()
    for name in ("hypervisor", *PROVIDER_PARTS):
        (roots / f"{name}.sls").write_text(yaml.safe_dump({name: pillar[name]} if name in pillar else {}))
    return [roots, REPO / "pillar"]


@pytest.fixture(scope="module")
def salt_factories(tmp_path_factory):
    """pytest-salt-factories' manager, for this module's masterless minions."""
    return factories(tmp_path_factory.mktemp("salt-factories"))


@pytest.fixture(scope="module")
def second_roots(tmp_path_factory):
    """The pillar roots of the second cluster."""
    return write_pillar(tmp_path_factory.mktemp("second"), SECOND_PILLAR)


def roots(host, second_roots):
    return second_roots if host in SECOND else None


@pytest.fixture(scope="module")
def highstate(salt_factories, second_roots):
    """show_highstate of a host of either cluster on a platform, rendered once: all
    that this module reads, started ahead (in the order the tests read them)."""

    def render(host, platform):
        ret = call(minion(salt_factories, host, platform, roots(host, second_roots)), "state.show_highstate")
        assert ret.returncode == 0 and isinstance(ret.data, dict), (
            f"{host}/{platform} failed to render:\n{text(ret)[:2000]}"
        )
        return ret.data

    hosts = LAB + SECOND[:2]
    keys = (
        [(h, p) for p in FAMILIES for h in hosts]
        + DEBIAN_13
        + [(h, p) for p in FAMILIES for h in LAB_ARBITER + SECOND[2:]]
    )
    ahead = Ahead(render, keys)
    yield ahead.get
    ahead.close()


def _functions(chunk):
    """The state's module.function and, for module.run, the functions it runs."""
    functions = set()
    for mod, args in chunk.items():
        if mod.startswith("__"):
            continue
        functions |= {f"{mod}.{arg}" for arg in args if isinstance(arg, str)}
        if mod == "module":
            functions |= {key for arg in args if isinstance(arg, dict) for key in arg if "." in key}
    return functions


def _args(states, state_id):
    """The arguments of one rendered state, as a single mapping."""
    (args,) = (v for k, v in states[state_id].items() if not k.startswith("__"))
    return {k: v for a in args if isinstance(a, dict) for k, v in a.items()}


def _network_files(states):
    """The network files a host installs, destination -> the context its
    template gets: by a file.managed state each (NetworkManager) or among the
    files of a safe_apply state (systemd-networkd, a context per file)."""
    files = {}
    for state_id, chunk in states.items():
        if not state_id.startswith("network-"):
            continue
        functions = _functions(chunk)
        if "file.managed" in functions:
            args = _args(states, state_id)
            if "context" in args:  # not networkd's own setting (contents, no template)
                files[args["name"]] = args["context"]
        elif "safe_apply.applied" in functions:
            for dest, entry in _args(states, state_id)["files"].items():
                files[dest] = entry["context"]
    return files


def _starting(states, prefix):
    return sorted(s for s in states if s.startswith(prefix))


def _created(states):
    """The volumes this host creates (gluster.volume_present)."""
    return sorted(
        _args(states, s)["name"] for s in states if "gluster.volume_present" in _functions(states[s])
    )


@pytest.mark.parametrize(
    ("host", "platform"), [(h, p) for p in FAMILIES for h in LAB + SECOND[:2]] + DEBIAN_13
)
def test_every_feature_present(highstate, host, platform):
    """Every hypervisor (the arbiter's states: test_the_arbiter_runs_nothing_of_what_carries_guests)."""
    states = highstate(host, platform)
    family = OS_GRAINS[platform]["os_family"]
    features = {**COMMON, **PER_FAMILY[family], **PER_TRANSPORT[TRANSPORT[host]][family]}
    for feature, (function, state_id, *dests) in features.items():
        state_id = state_id.format(admin=ADMIN[host], peer=PEER[host])
        assert state_id in states, f"{feature}: {state_id} missing for {host}/{family}"
        assert function in _functions(states[state_id]), f"{feature}: {state_id} is not {function}"
        for dest in dests:
            dest = dest.format(bridge=WAN_BRIDGE[host])
            assert dest in _args(states, state_id)["files"], f"{feature}: {state_id} does not install {dest}"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", LAB + SECOND[:2])
def test_failover_sync_follows_the_firewall(highstate, host, family):
    """F22, F24: proxyarp is left to online.synced, which runs once the firewall is
    applied; the beacon polls at the pillar's interval, with no secret in its config."""
    states = highstate(host, family)
    assert not [f for f in _args(states, "firewall-shorewall-applied")["files"] if f.endswith("proxyarp")]
    assert {"sls": "firewall"} in _args(states, "failover-proxyarp-synced")["require"]
    beacon = _args(states, "failover-beacon-present")
    interval = 1 if host in LAB else 10  # the lab pillar's failover:poll_interval, else the default
    assert (beacon["name"], beacon["interval"], beacon["timeout"]) == (
        "hv_failover",
        interval,
        min(interval, 5),
    )
    assert not [v for v in beacon.values() if "token" in str(v)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", LAB + SECOND)
def test_firewall_files_render_with_the_context_the_state_gives(highstate, host, family):
    """Each Shorewall file renders (undefined names fail, as in Salt) from the
    context firewall-shorewall-applied passes to safe_apply."""
    applied = _args(highstate(host, family), "firewall-shorewall-applied")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "salt")), undefined=jinja2.StrictUndefined
    )
    for source in applied["files"].values():
        env.get_template(source.removeprefix("salt://")).render(**applied["context"])


@pytest.mark.parametrize("host", LAB)
def test_lab_firewall_files_from_the_context_the_state_gives(highstate, host):
    """The Shorewall files of a lab host, rendered from firewall-shorewall-applied's context."""
    files = firewall_files(_args(highstate(host, "Debian"), "firewall-shorewall-applied")["context"]["hv"])
    # The other host that carries guests (everything between them), and arb1, the arbiter
    # (glusterd and its bricks only).
    peers = {"hyp1": "198.51.100.12", "hyp2": "198.51.100.11"}[host]
    assert files["params"] == [
        "TRUSTED=203.0.113.1,203.0.113.2",
        "MONITORING=203.0.113.1,203.0.113.2",
        f"PEERS={peers}",
        "STORAGE=198.51.100.13",
        f"MASTER={MASTER}",
    ]
    assert files["zones"] == ["fw firewall", "wan ipv4", "rpn ipv4", "pwan ipv4", "guest ipv4"]
    assert files["interfaces"][1:] == [
        "wan eth0 tcpflags,nosmurfs,routefilter",
        "rpn eth1 tcpflags",
        "pwan brwan bridge,proxyarp=0",
        "guest brlan bridge",
    ]
    assert "ACCEPT rpn:$PEERS $FW udp 4789" in files["rules"]
    # The lab's API stand-in listens on 8080 (online:api_url).
    assert "ACCEPT $FW wan tcp 8080" in files["rules"]


@pytest.mark.parametrize("host", LAB + SECOND)
def test_networkd_files_render_with_the_context_the_state_gives(highstate, host):
    """Each systemd-networkd file renders (undefined names fail, as in Salt)
    from its own context in network-networkd-applied's files."""
    applied = _args(highstate(host, "Debian"), "network-networkd-applied")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "salt")), undefined=jinja2.StrictUndefined
    )
    for dest, entry in applied["files"].items():
        text = env.get_template(entry["source"].removeprefix("salt://")).render(**entry["context"])
        assert text.startswith("# Managed by Salt"), dest


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", LAB + SECOND)
def test_guests_defined_on_every_host_but_the_arbiter(highstate, host, family):
    """F26: each guest's disk, then its definition, wherever it may run."""
    states = highstate(host, family)
    guests = {"witness": []}.get(host, ["web"] if host in SECOND else ["vm1", "vm2", "vm3", "vm4"])
    steps = sorted(s for s in states if _functions(states[s]) & {"guests.disk_present", "guests.defined"})
    assert steps == sorted(f"guests-{g}-{step}" for g in guests for step in ("defined", "disk-present"))
    for name in guests:
        disk = _args(states, f"guests-{name}-disk-present")
        assert (disk["name"], disk["require"]) == (name, [{"sls": "libvirt.pools"}])
        assert {"guests": f"guests-{name}-disk-present"} in _args(states, f"guests-{name}-defined")["require"]


def test_el_only_features_absent_on_debian(highstate):
    debian = highstate("hyp1", "Debian")
    assert not [s for s in debian if s.startswith("selinux-boolean-")]
    assert not [s for s in debian if s.startswith("repos-") and s != "repos-sources-ready"]


@pytest.mark.parametrize("family", FAMILIES)
def test_lab_volumes_created_by_one_host_only(highstate, family):
    """hyp1 creates them, replica 3 arbiter 1 with arb1 (the lab's arbiter), under client quorum."""
    hyp1, hyp2, arb1 = (highstate(host, family) for host in ("hyp1", "hyp2", "arb1"))
    assert _created(hyp1) == ["sanlock", "save", "vmstore"]
    assert (_created(hyp2), _created(arb1)) == ([], [])
    present = _args(hyp1, "gluster-volume-vmstore-present")
    assert (present["bricks"], present["replica"], present["arbiter"], present["force"]) == (
        [
            "hyp1:/mnt/bricks/vmstore/brick",
            "hyp2:/mnt/bricks/vmstore/brick",
            "arb1:/mnt/bricks/vmstore/brick",
        ],
        3,
        1,
        True,
    )
    assert _args(hyp1, "gluster-volume-vmstore-options")["options"] == {
        **VMSTORE_OPTIONS,
        "cluster.quorum-type": "auto",
        "auth.allow": "127.0.0.1,198.51.100.13,198.51.100.11,198.51.100.12",  # B10: the hosts alone
    }
    # The pool grows from hyp1 only: it probes both others, they wait for it.
    assert _starting(hyp1, "gluster-peer-") == ["gluster-peer-arb1-peered", "gluster-peer-hyp2-peered"]
    for other in (hyp2, arb1):
        assert _starting(other, "gluster-peer-") == ["gluster-peer-hyp1-peered"]
        assert _args(other, "gluster-peer-hyp1-peered")["probe"] is False
    assert _args(hyp1, "gluster-peer-hyp2-peered")["probe"] is True


@pytest.mark.parametrize("family", FAMILIES)
def test_hyp2_mounts_each_volume_only_once_hyp1_started_it(highstate, family):
    """A first run: hyp2 waits (retried, starting nothing) for each volume hyp1 starts,
    and its mounts require that; hyp1 starts them itself, arb1 mounts none."""
    hyp1, hyp2, arb1 = (highstate(host, family) for host in ("hyp1", "hyp2", "arb1"))
    waits = sorted(i for i in hyp2 if i.endswith("-started-by-leader"))
    assert waits == [f"gluster-volume-{name}-started-by-leader" for name in ("sanlock", "save", "vmstore")]
    for name in ("sanlock", "save", "vmstore"):
        wait = _args(hyp2, f"gluster-volume-{name}-started-by-leader")
        assert (wait["start"], wait["retry"]["attempts"] * wait["retry"]["interval"]) == (False, 120)
        assert {"sls": "gluster.volumes"} in _args(hyp2, f"gluster-mount-{name}-mounted")["require"]
    assert not [i for states in (hyp1, arb1) for i in states if i.endswith("-started-by-leader")]


def test_lab_hosts_render_their_own_values(highstate):
    for host, peer, rpn in (("hyp1", "hyp2", "198.51.100.11/24"), ("hyp2", "hyp1", "198.51.100.12/24")):
        context = _args(highstate(host, "Debian"), "hosts-file-managed")["context"]
        assert (context["me"], context["peer"]) == (host, peer)
        assert _network_files(highstate(host, "Debian"))[RPN_FILE["Debian"]]["rpn"]["address"] == rpn


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", SECOND)
def test_second_cluster_pillar_is_valid(host, family):
    pillar = as_seen_by(copy.deepcopy(SECOND_PILLAR), host)
    assert hv_validate.validate(pillar, layered_parameters(family), host) == []


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", SECOND)
def test_second_cluster_renders_its_own_network(highstate, host, family):
    states = highstate(host, family)
    files = _network_files(states)
    assert set(files) == (ARBITER_NETWORK_FILES if host == "witness" else SECOND_NETWORK_FILES)[family]
    public = files[PUBLIC_FILE[family]]["public"]
    number = 21 + SECOND.index(host)
    assert (public["interface"], public["cidr"], public["gateway"], public["dhcp"]) == (
        "enp1s0",
        f"198.18.0.{number}/24",
        "198.18.0.1",
        False,
    )
    rpn = files[RPN_FILE[family]]["rpn"]
    assert (rpn["interface"], rpn["vlan"], rpn["parent"], rpn["address"], rpn["mtu"], rpn["dhcp"]) == (
        "vlan4000",
        4000,
        "enp1s0",
        f"192.0.2.{number}/24",
        1400,
        False,
    )
    context = _args(states, "hosts-file-managed")["context"]
    assert (context["me"], context["peer"]) == (host, PEER.get(host))
    assert {name: (h["fqdn"], h["rpn"]["ip"]) for name, h in context["hosts"].items()} == {
        "kvm-a": ("kvm-a.dc2.example.net", "192.0.2.21"),
        "kvm-b": ("kvm-b.dc2.example.net", "192.0.2.22"),
        "witness": ("witness.dc2.example.net", "192.0.2.23"),
    }
    # The arbiter has no libvirt: its admins join no libvirt group.
    libvirt_group = [] if host == "witness" else ["users-libvirt-group-present"]
    assert _starting(states, "users-") == [*libvirt_group, "users-ops-present", "users-ops-ssh-keys-present"]
    assert _args(states, "users-ops-present")["groups"] == ([] if host == "witness" else ["libvirt"])


def _rendered(entry):
    """A network file's text from its template and context, as the state renders it
    (an undefined name fails, as in Salt)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "salt")), undefined=jinja2.StrictUndefined
    )
    return env.get_template(entry["source"].removeprefix("salt://")).render(**entry["context"])


def _sources(states):
    """Each network file a host installs: destination -> {source, context}."""
    found = {}
    for state_id, chunk in states.items():
        if not state_id.startswith("network-"):
            continue
        if "file.managed" in _functions(chunk):
            args = _args(states, state_id)
            if "source" in args:  # not networkd's own setting (contents, no template)
                found[args["name"]] = {"source": args["source"], "context": args["context"]}
        elif "safe_apply.applied" in _functions(chunk):
            found.update(_args(states, state_id)["files"])
    return found


@pytest.mark.parametrize("host", ["hyp1", "arb1"])
def test_networkd_keeps_shorewalls_routes_and_restarts_when_told(highstate, host):
    """F23: networkd told to keep the routes it did not make (Shorewall's proxy ARP
    routes), read at its start: restarted when that file changes, before any link file
    is applied."""
    states = highstate(host, "Debian")
    conf = _args(states, "network-networkd-foreign-routes-kept")
    assert conf["name"] == "/etc/systemd/networkd.conf.d/10-hv-foreign-routes.conf"
    assert "[Network]\nManageForeignRoutes=no\n" in conf["contents"]
    running = _args(states, "network-networkd-running")
    assert running["watch"] == [{"file": "network-networkd-foreign-routes-kept"}]
    assert {"service": "network-networkd-running"} in _args(states, "network-networkd-applied")["require"]


@pytest.mark.parametrize("host", SECOND)
def test_second_cluster_networkd_on_a_vswitch(highstate, host):
    """rpn:vlan 4000: the VLAN link's .netdev, named by the public NIC's .network, and the
    private network's .network matching it by name (the VLAN has the public NIC's MAC), at
    MTU 1400; tunnels:guest_mtu 1350 on the bridges and the VXLAN links."""
    files = {dest: _rendered(entry) for dest, entry in _sources(highstate(host, "Debian")).items()}
    assert sections(files[f"{NETWORKD}/25-hv-vlan4000.netdev"]) == [
        ("NetDev", {"Name": ["vlan4000"], "Kind": ["vlan"], "MTUBytes": ["1400"]}),
        ("VLAN", {"Id": ["4000"]}),
    ]
    public = files[f"{NETWORKD}/10-hv-public.network"]
    assert section(public, "Match") == {"Name": ["enp1s0"]}
    assert section(public, "Network")["VLAN"] == ["vlan4000"]
    rpn = files[f"{NETWORKD}/20-hv-rpn.network"]
    assert (section(rpn, "Match"), section(rpn, "Link")) == ({"Name": ["vlan4000"]}, {"MTUBytes": ["1400"]})
    number = 21 + SECOND.index(host)
    assert section(rpn, "Network")["Address"] == [f"192.0.2.{number}/24"]
    assert "DHCP" not in section(rpn, "Network")
    vxlans = [] if host == "witness" else ["vxdmz", "vxlan", "vxwan"]
    assert section(rpn, "Network").get("VXLAN", []) == vxlans
    for bridge in [] if host == "witness" else SECOND_BRIDGES:
        netdev = section(files[f"{NETWORKD}/30-hv-{bridge}.netdev"], "NetDev")
        assert netdev == {"Name": [bridge], "Kind": ["bridge"], "MTUBytes": ["1350"]}
    for link in vxlans:
        assert section(files[f"{NETWORKD}/31-hv-{link}.netdev"], "NetDev")["MTUBytes"] == ["1350"]


@pytest.mark.parametrize("host", SECOND)
def test_second_cluster_networkmanager_on_a_vswitch(highstate, host):
    """EL: hv-rpn a VLAN connection on the public NIC (not an ethernet one matched by MAC),
    the bridges and the VXLAN links at the guests' MTU, the VXLAN over the VLAN link."""
    files = {dest: keyfile(_rendered(entry)) for dest, entry in _sources(highstate(host, "RedHat")).items()}
    rpn = files[f"{NM_DIR}/hv-rpn.nmconnection"]
    assert (rpn["connection"]["type"], rpn["connection"]["interface-name"]) == ("vlan", "vlan4000")
    assert (rpn["vlan"], rpn["ethernet"]) == ({"id": "4000", "parent": "enp1s0"}, {"mtu": "1400"})
    assert rpn["ipv4"] == {"method": "manual", "address1": f"192.0.2.{21 + SECOND.index(host)}/24"}
    for bridge in [] if host == "witness" else SECOND_BRIDGES:
        assert files[f"{NM_DIR}/hv-{bridge}.nmconnection"]["ethernet"] == {"mtu": "1350"}
    for link in [] if host == "witness" else SECOND_VXLANS:
        vxlan = files[f"{NM_DIR}/hv-{link}.nmconnection"]
        assert (vxlan["ethernet"], vxlan["vxlan"]["parent"]) == ({"mtu": "1350"}, "vlan4000")


@pytest.mark.parametrize("family", FAMILIES)
def test_second_cluster_firewall_and_guests_on_a_vswitch(highstate, family):
    """Shorewall's rpn zone is the VLAN link; the guest's NIC tells it MTU 1350 (libvirt's
    <mtu>); the lab's guests (guest_mtu 1500) have none."""
    context = _args(highstate("kvm-a", family), "firewall-shorewall-applied")["context"]["hv"]
    assert "rpn vlan4000 tcpflags" in firewall_files(context)["interfaces"]
    second = hv_views.build(
        as_seen_by(copy.deepcopy(SECOND_PILLAR), "kvm-a"), layered_parameters(family), "kvm-a"
    )
    assert "      <mtu size='1350'/>\n" in second["guests"]["web"]["xml"]
    lab = hv_views.build(lab_pillar(), layered_parameters(family), "hyp1")
    assert not [name for name, guest in lab["guests"].items() if "<mtu" in guest["xml"]]


@pytest.mark.parametrize("family", FAMILIES)
def test_second_cluster_volumes_are_arbitrated_and_made_by_kvm_a(highstate, family):
    for host in SECOND:
        states = highstate(host, family)
        others = [h for h in SECOND if h != host] if host == "kvm-a" else ["kvm-a"]
        assert _starting(states, "gluster-peer-") == [f"gluster-peer-{h}-peered" for h in others]
        assert _args(states, "gluster-brick-vmstore-ready")["name"] == "/srv/gluster/vmstore/brick"
        assert _created(states) == (["sanlock", "save", "vmstore"] if host == "kvm-a" else []), host
    kvm_a = highstate("kvm-a", family)
    for name in ("vmstore", "sanlock", "save"):
        present = _args(kvm_a, f"gluster-volume-{name}-present")
        assert (present["bricks"], present["replica"], present["arbiter"]) == (
            [
                f"kvm-a:/srv/gluster/{name}/brick",
                f"kvm-b:/srv/gluster/{name}/brick",
                f"witness:/srv/gluster/{name}/brick",
            ],
            3,
            1,
        )
    # With an arbiter, client quorum on every volume.
    assert _args(kvm_a, "gluster-volume-vmstore-options")["options"] == {
        **VMSTORE_OPTIONS,
        "cluster.quorum-type": "auto",
        "auth.allow": "127.0.0.1,192.0.2.21,192.0.2.22,192.0.2.23",
        "client.ssl": "on",
        "server.ssl": "on",
        "auth.ssl-allow": "kvm-a,kvm-b,witness",
    }
    assert _args(kvm_a, "gluster-volume-sanlock-options")["options"]["cluster.quorum-type"] == "auto"


# ------------------------------------------------------------ the arbiter, sanlock's timings

# The highstate's state files in order (salt/top.sls): a host that carries
# guests gets them all, the arbiter those that carry no guest.
HYPERVISOR_TOP = [
    *("sysctl", "repos", "python", "tools", "libvirt", "ksm", "users", "selinux", "network", "hosts"),
    *("peers", "tunnels", "firewall", "failover", "gluster", "sanlock", "libvirt.pools", "guests"),
    *("takeover", "keeper", "backups", "metrics"),
]
ARBITER_TOP = [
    *("sysctl", "repos", "python", "tools", "users", "selinux", "network", "hosts", "firewall"),
    *("gluster", "metrics"),
]
NOT_ON_THE_ARBITER = (
    "libvirt",
    "ksm",
    "peers",
    "tunnels",
    "failover",
    "sanlock",
    "guests",
    "takeover",
    "keeper",
    "backups",
)


@pytest.fixture(scope="module")
def top(salt_factories, second_roots):
    """state.show_top of a host of either cluster (Debian)."""

    def show_top(host):
        ret = call(minion(salt_factories, host, "Debian", roots(host, second_roots)), "state.show_top")
        assert ret.returncode == 0 and isinstance(ret.data, dict), f"{host}:\n{text(ret)[:2000]}"
        return ret.data["base"]

    ahead = Ahead(show_top, [(host,) for host in LAB + SECOND])
    yield ahead.get
    ahead.close()


@pytest.mark.parametrize("host", [*LAB, *SECOND])
def test_the_top_file_gives_each_host_the_states_of_its_role(top, host):
    assert top(host) == (ARBITER_TOP if host == "witness" else HYPERVISOR_TOP)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_arbiter_runs_nothing_of_what_carries_guests(highstate, family):
    """No libvirt, sanlock, bridge, tunnel, proxy ARP or guest on the arbiter: its
    firewall has no bridge zone nor tunnel port, its gluster brick is there."""
    states = highstate("witness", family)
    sls = {chunk["__sls__"] for chunk in states.values()}
    assert not [s for s in sls if s.split(".")[0] in NOT_ON_THE_ARBITER], sorted(sls)
    assert {"gluster.bricks", "gluster.peers", "firewall.apply", "network.package"} <= sls
    context = _args(states, "firewall-shorewall-applied")["context"]["hv"]
    assert (context["bridges"], context["public_bridge"]) == ({}, None)
    assert context["firewall"]["tunnel_udp_ports"] == []
    # The arbiter shares gluster with the hosts, nothing else (B10).
    assert (context["firewall"]["peers_rpn"], context["firewall"]["storage_rpn"]) == (
        [],
        ["192.0.2.21", "192.0.2.22"],
    )
    assert _args(states, "gluster-brick-vmstore-ready")["name"] == "/srv/gluster/vmstore/brick"


@pytest.mark.parametrize("family", FAMILIES)
def test_libvirt_joins_the_lockspace_with_the_clusters_io_timeout(highstate, family):
    """qemu-sanlock.conf's io_timeout (the same on every host), rendered from the context the state gives."""
    args = _args(highstate("hyp2", family), "sanlock-libvirt-qemu-sanlock-managed")
    assert args["context"] == {"host_id": 2, "lease_dir": "/var/lib/libvirt/sanlock", "io_timeout": 2}
    text = jinja2.Template(
        (REPO / "salt" / "sanlock" / "files" / "qemu-sanlock.conf.jinja").read_text()
    ).render(**args["context"])
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "auto_disk_leases = 1",
        'disk_lease_dir = "/var/lib/libvirt/sanlock"',
        "host_id = 2",
        "io_timeout = 2",
        "require_lease_for_disks = 1",
        'user = "sanlock"',
        'group = "sanlock"',
    ]


@pytest.mark.parametrize(
    ("host", "family", "opts"),
    [("hyp1", "Debian", "-w 0 -g 10"), ("kvm-a", "RedHat", "-w 1 -g 10")],
)
def test_the_daemon_options_carry_the_kill_grace(highstate, host, family, opts):
    contents = _args(highstate(host, family), "sanlock-config-daemon-options-managed")["contents"]
    assert f'sanlock_opts="{opts}"' in contents.splitlines()


def test_sanlock_conf_only_where_the_watchdog_fire_timeout_is_settable(highstate):
    """Debian 12's sanlock (3.8) has it fixed: its sanlock.conf is not touched; EL's gets it."""
    assert "sanlock-config-sanlock-conf-managed" not in highstate("kvm-a", "Debian")
    conf = _args(highstate("kvm-a", "RedHat"), "sanlock-config-sanlock-conf-managed")
    assert conf["name"] == "/etc/sanlock/sanlock.conf"
    assert conf["contents"].splitlines()[1:] == ["watchdog_fire_timeout = 60"]
    assert conf["contents"].startswith("# Managed by Salt")


def test_the_rejoin_script_joins_with_the_clusters_io_timeout(highstate):
    args = _args(highstate("hyp1", "Debian"), "sanlock-lockspace-rejoin-script-managed")
    assert args["context"]["lockspace"]["io_timeout"] == 2
    text = jinja2.Template(
        (REPO / "salt" / "sanlock" / "files" / "hv-sanlock-rejoin.jinja").read_text()
    ).render(**args["context"])
    assert "io_timeout=2" in text.splitlines()
    assert 'sanlock client add_lockspace -o "$io_timeout" -s "$lockspace:$host_id:$file:0"' in text


def test_invalid_pillar_fails_the_render_naming_the_key(salt_factories, tmp_path):
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["host_id"] = 1
    salt_minion = minion(salt_factories, "hyp1", "Debian", write_pillar(tmp_path, pillar))
    ret = call(salt_minion, "state.show_highstate")
    assert ret.returncode != 0
    assert "pillar key 'hypervisor:hosts:hyp2:host_id': 1 is already used by host 'hyp1'" in text(ret)


def test_minion_missing_from_the_pillar_fails_the_render(salt_factories):
    """hyp3 matches the nodegroup (e.g. 'hyp*') but the pillar does not describe it."""
    ret = call(minion(salt_factories, "hyp3", "Debian"), "state.show_highstate")
    assert ret.returncode != 0
    assert "pillar key 'hypervisor:hosts': has no entry for this minion 'hyp3'" in text(ret)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", ["hyp2", "kvm-b"])
def test_the_keeper_runs_with_libvirtd_and_stops_after_the_evacuation(highstate, host, family):
    """B1: the keeper's unit is bound to libvirtd (stopped with it: it would start it again
    through its socket; started with it), starts before the shutdown unit (so it stops
    after it, and sees the evacuation), runs the keeper with the settings copy."""
    states = highstate(host, family)
    unit = _args(states, "keeper-unit-managed")["contents"]
    assert "PartOf=libvirtd.service" in unit and "WantedBy=multi-user.target libvirtd.service" in unit
    assert "Before=hv-evacuate.service" in unit and "ExecStart=/usr/local/sbin/hv-keeper" in unit
    assert _args(states, "keeper-unit-running")["watch"] == [
        {"file": "keeper-script-managed"},
        {"file": "keeper-unit-managed"},
        {"sls": "guests.settings_copy"},
    ]
    script = _args(states, "keeper-script-managed")
    assert script["context"]["settings_cache"] == "/var/lib/hv-evacuation/settings.json"


@pytest.mark.parametrize("family", FAMILIES)
def test_gluster_over_tls_where_the_pillar_asks_for_it(highstate, family):
    """B10: the second cluster (gluster:tls) makes each node's certificate, publishes it,
    waits for the others' and trusts them all, then turns TLS on for glusterd, which it
    restarts on a change; the lab (no TLS) has none of it."""
    for host in SECOND:
        states = highstate(host, family)
        others = [h for h in SECOND if h != host]
        assert _starting(states, "gluster-tls-") == sorted(
            [
                "gluster-tls-ca-managed",
                "gluster-tls-certificate-managed",
                "gluster-tls-certificate-published",
                "gluster-tls-key-managed",
                "gluster-tls-secure-access-present",
                "gluster-tls-settled",
            ]
            + [f"gluster-tls-{h}-certificate-received" for h in others]
        ), host
        ca = _args(states, "gluster-tls-ca-managed")
        tls_dir = {"Debian": "/usr/lib/ssl", "RedHat": "/etc/ssl"}[family]  # where each one's glusterfs looks
        assert (ca["name"], ca["contents"]) == (
            f"{tls_dir}/glusterfs.ca",
            "__slot__:salt:peer_keys.gluster_ca(kvm-a,kvm-b,witness)",
        )
        assert _args(states, "gluster-tls-certificate-managed")["CN"] == host
        assert {"sls": "gluster.tls"} in _args(states, "gluster-service-running")["watch"]
    for host in LAB:
        assert _starting(highstate(host, family), "gluster-tls-") == ["gluster-tls-settled"]


def test_debian_13_takes_its_releases_defaults(highstate):
    """A Debian 13 host gets trixie's own defaults (the schema's RELEASE_DEFAULTS): the
    libvirt sanlock plugin under its new name, sanlock.conf with a 10 s watchdog fire
    timeout and no kill grace (SIGKILL at once); Debian 12 the old plugin, no sanlock.conf,
    10 s grace."""
    trixie, bookworm = highstate("hyp1", "Debian-13"), highstate("hyp1", "Debian")
    assert (
        _args(trixie, "sanlock-packages-installed")["pkgs"],
        _args(bookworm, "sanlock-packages-installed")["pkgs"],
    ) == (["sanlock", "libvirt-daemon-plugin-sanlock"], ["sanlock", "libvirt-sanlock"])
    conf = _args(trixie, "sanlock-config-sanlock-conf-managed")
    assert conf["contents"].splitlines()[1:] == ["watchdog_fire_timeout = 10"]
    assert "sanlock-config-sanlock-conf-managed" not in bookworm
    opts = [_args(state, "sanlock-config-daemon-options-managed")["contents"] for state in (trixie, bookworm)]
    assert ['sanlock_opts="-w 0 -g 0"' in opts[0], 'sanlock_opts="-w 0 -g 10"' in opts[1]] == [True, True]


@pytest.mark.parametrize(("family", "seconds"), [("Debian-13", 10), ("Debian", 60), ("RedHat", 60)])
def test_the_fire_timeout_is_published_and_agreed_before_sanlock_is_configured(highstate, family, seconds):
    """Every host with sanlock publishes its watchdog fire timeout and checks the peers'
    before writing sanlock's configuration (a Debian 12 host beside Debian 13 ones)."""
    host = "hyp1" if family != "RedHat" else "kvm-a"
    peer = "hyp2" if family != "RedHat" else "kvm-b"
    state = highstate(host, family)
    assert _args(state, "peers-published-keys-in-mine")["sanlock_fire_timeout"] == seconds
    agreed = _args(state, "sanlock-config-fire-timeout-agreed")
    assert (agreed["item"], agreed["value"], agreed["peers"]) == ("sanlock_fire_timeout", seconds, [peer])
    requires = _args(state, "sanlock-config-daemon-options-managed")["require"]
    assert {"peer_keys": "sanlock-config-fire-timeout-agreed"} in requires


def test_the_arbiter_has_no_fire_timeout_to_agree_on(highstate):
    arbiter = highstate("arb1", "Debian-13")
    assert "sanlock-config-fire-timeout-agreed" not in arbiter
    assert "peers-published-keys-in-mine" not in arbiter  # it publishes no keys at all


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", SECOND[:2])
def test_hetzner_credentials_are_in_no_state(highstate, host, family):
    """The Robot credentials stay in the pillar: the beacon, the firewall's API port and
    the proxyarp sync render from the settings (online.routed_ips reads the pillar)."""
    rendered = yaml.safe_dump(highstate(host, family))
    for key in ("user", "password"):
        assert SECOND_PILLAR["hetzner"][key] not in rendered
    assert "failover-beacon-present" in rendered
