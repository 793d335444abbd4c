"""F1: the validator on its own — every malformed case refused, naming its key;
no secret ever shown."""

import pytest

from tests import pillar_cases
from tests.loaders import hv_check, hv_validate, hv_views, layered_parameters


@pytest.fixture(scope="module")
def params():
    return layered_parameters("Debian")


def test_lab_pillar_is_valid_for_every_host(params):
    for host in ("hyp1", "hyp2", "arb1"):
        assert hv_validate.validate(pillar_cases.lab_pillar(host), params, host) == []


def test_lab_pillar_without_its_arbiter_is_valid_for_both_hosts(params):
    pillar = pillar_cases.lab_pillar_without_arbiter()
    assert sorted(pillar["hypervisor"]["hosts"]) == ["hyp1", "hyp2"]
    for host in ("hyp1", "hyp2"):
        assert hv_validate.validate(pillar, params, host) == []


@pytest.mark.parametrize(
    ("case", "mutation", "key"), pillar_cases.CASES, ids=[c[0] for c in pillar_cases.CASES]
)
def test_malformed_pillar_names_the_key(params, case, mutation, key):
    errors = hv_validate.validate(pillar_cases.case_pillar(mutation), params, "hyp1")
    assert errors, f"{case} was accepted"
    assert any(f"pillar key '{key}'" in e for e in errors), errors


def test_build_refuses_with_every_problem(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["host_id"] = 0
    pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["mtu"] = 1
    with pytest.raises(Exception, match="nothing was changed") as err:
        hv_views.build(pillar, params, "hyp1")
    assert "hypervisor:hosts:hyp1:host_id" in str(err.value)
    assert "hypervisor:hosts:hyp1:rpn:mtu" in str(err.value)


def test_minion_not_in_cluster(params):
    errors = hv_validate.validate(pillar_cases.lab_pillar(), params, "hyp7")
    assert errors == [
        "pillar key 'hypervisor:hosts': has no entry for this minion 'hyp7' (hosts: arb1, hyp1, hyp2):"
        " add it, or take it out of the master's nodegroup 'hypervisors' (master.d/hypervisor.conf)"
    ]


def test_minion_without_cluster_pillar_is_told_why(params):
    errors = hv_validate.validate({"online": pillar_cases.lab_pillar()["online"]}, params, "kvm-a")
    assert errors == [
        "pillar key 'hypervisor': this minion 'kvm-a' has no cluster pillar: it is not in the master's"
        " nodegroup 'hypervisors' (master.d/hypervisor.conf), or the pillar top does not give it"
        " hypervisor.sls"
    ]


def test_lab_pillar_with_device_bricks_on_hyp2_is_valid(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["bricks"] = {"type": "device", "devices": pillar_cases.HYP2_DEVICES}
    for host in ("hyp1", "hyp2"):
        assert hv_validate.validate(pillar, params, host) == []


def test_host_bricks_layer_over_the_clusters(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["gluster"] = {"bricks": {"type": "lvm", "vg": "main"}}
    # hyp2 only changes its volume group; its type (lvm) comes from the cluster.
    pillar["hypervisor"]["hosts"]["hyp2"]["bricks"] = {"vg": "data"}
    assert hv_validate.validate(pillar, params, "hyp1") == []
    # A cluster-wide type device needs every volume's device, named at the cluster's key.
    pillar["hypervisor"]["gluster"] = {"bricks": {"type": "device", "devices": {"vmstore": "/dev/vdb"}}}
    errors = hv_validate.validate(pillar, params, "hyp1")
    line = "pillar key 'hypervisor:gluster:bricks:devices:sanlock': is required when bricks:type is device"
    assert line in errors


@pytest.mark.parametrize(
    ("mutation", "line"),
    [
        (
            pillar_cases._set(("hypervisor", "hosts", "hyp2", "online_server_id"), 1001),
            "pillar key 'hypervisor:hosts:hyp2:online_server_id': 1001 is already used by host 'hyp1'"
            " (pillar key 'hypervisor:hosts:hyp1:online_server_id')",
        ),
        (
            pillar_cases._set(("hypervisor", "hosts", "hyp1", "rpn", "address"), "198.51.101.11/24"),
            # The subnet is the first host's (by name): arb1's.
            "pillar key 'hypervisor:hosts:hyp1:rpn:address': 198.51.101.11/24 is not in 198.51.100.0/24,"
            " the RPN subnet of pillar key 'hypervisor:hosts:arb1:rpn:address'",
        ),
        (
            pillar_cases._set(("hypervisor", "bridges", "lan", "name"), "eth0"),
            "pillar key 'hypervisor:bridges:lan:name': 'eth0' is the NIC of pillar key"
            " 'hypervisor:hosts:hyp1:public:interface': systemd-networkd would take that NIC over as the"
            " bridge and cut the host off",
        ),
    ],
    ids=["same-server-id", "other-subnet", "bridge-is-a-nic"],
)
def test_a_conflict_names_both_keys(params, mutation, line):
    assert line in hv_validate.validate(pillar_cases.case_pillar(mutation), params, "hyp1")


@pytest.mark.parametrize(
    "name",
    ["eth0", "eno1", "ens18", "enp3s0", "enx0200c6336400", "em1", "wlan0", "wlp2s0", "ib0", "p1p1", "bond0"]
    + ["vlan10", "br0.100", "lo"],
)
def test_bridge_named_like_a_nic_is_refused(params, name):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["bridges"]["wan"]["name"] = name
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert [e for e in errors if e.startswith("pillar key 'hypervisor:bridges:wan:name'")], errors


@pytest.mark.parametrize("name", ["br0", "vmbr0", "brwan", "br-guests"])
def test_bridge_names_that_no_nic_takes_are_accepted(params, name):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["bridges"]["wan"]["name"] = name
    assert hv_validate.validate(pillar, params, "hyp1") == []


BAD_PATHS = [
    *("/var/lib/x;touch /tmp/pwn", "/srv/`id`", "/srv/$HOME", "/srv/a|b", "/srv/a&b", "/srv/a>b"),
    *("/srv/a'b", '/srv/a"b', "/srv/*", "/srv/?", "/srv/my images", "/srv/a\nb", "/srv/x\n"),
    *("images", "/var/lib/../etc", "/var/lib/libvirt/./x", "/srv/a//b", "/srv/x/"),
    *("/", "/etc", "/var/lib", "/usr/local"),
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_unsafe_path_is_refused_wherever_a_path_goes(params, path):
    places = {
        "hypervisor:gluster:volumes:vmstore:mount": {"gluster": {"volumes": {"vmstore": {"mount": path}}}},
        "hypervisor:gluster:brick_root": {"gluster": {"brick_root": path}},
        "hypervisor:pools:iso:path": {"pools": {"iso": {"path": path}}},
        "hypervisor:ksm:settings:LOGFILE": {"ksm": {"settings": {"LOGFILE": path}}},
        "hypervisor:libvirt:autostart_dir": {"libvirt": {"autostart_dir": path}},
    }
    for key, override in places.items():
        pillar = pillar_cases.lab_pillar()
        pillar["hypervisor"].update(override)
        errors = hv_validate.validate(pillar, params, "hyp1")
        assert any(e.startswith(f"pillar key '{key}': ") for e in errors), (key, errors)


@pytest.mark.parametrize("path", ["/srv/vm-images", "/data/gluster/vmstore", "/var/lib/libvirt/a_b.c+d@e"])
def test_safe_paths_are_accepted(params, path):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["pools"]["iso"]["path"] = path
    assert hv_validate.validate(pillar, params, "hyp1") == []


@pytest.mark.parametrize("device", ["/dev", "/dev/", "/tmp/disk", "dev/sdb", "/dev/../sdb", "/dev/sdb;id"])
def test_brick_device_is_a_safe_path_under_dev(params, device):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["bricks"] = {
        "type": "device",
        "devices": dict(pillar_cases.HYP2_DEVICES, vmstore=device),
    }
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert any(e.startswith("pillar key 'hypervisor:hosts:hyp2:bricks:devices:vmstore': ") for e in errors)


def _leaks(errors, secret):
    """Whether any line shows ``secret``, or 8 characters of it in a row (any case)."""
    pieces = {secret[i : i + 8].lower() for i in range(len(secret) - 7)}
    return [e for e in errors if any(p in e.lower() for p in pieces)]


PLACEMENTS = list(pillar_cases.token_placements())


def test_token_placements_cover_every_kind_of_string():
    keys = {key for _case, _mutation, key in PLACEMENTS}
    assert {
        "hypervisor:domain",
        "hypervisor:hosts:hyp1:peer",
        "hypervisor:hosts:hyp1:public:interface",
        "hypervisor:hosts:hyp1:rpn:mac",
        "hypervisor:hosts:hyp2:rpn:address",
        "hypervisor:admins:0:name",
        "hypervisor:admins:0:ssh_keys:0",
        "hypervisor:bridges:wan:name",
        "hypervisor:pools:iso:path",
        "hypervisor:gluster:volumes:vmstore:mount",
        "hypervisor:gluster:bricks:devices:vmstore",
        "hypervisor:hosts:hyp2:bricks:devices:sanlock",
        "online:api_url",
    } <= keys
    assert "online:api_token" not in keys


@pytest.mark.parametrize(("case", "mutation", "key"), PLACEMENTS, ids=[p[0] for p in PLACEMENTS])
def test_token_pasted_anywhere_is_refused_and_never_shown(params, case, mutation, key):
    errors = hv_validate.validate(pillar_cases.case_pillar(mutation), params, "hyp1")
    assert [e for e in errors if e.startswith(f"pillar key '{key}': ")] == [
        f"pillar key '{key}': holds the API token, which belongs in 'online:api_token' only"
    ]
    assert not _leaks(errors, pillar_cases.TOKEN)


def test_token_as_a_mapping_key_is_redacted(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["pools"][pillar_cases.TOKEN] = {"path": "/srv/x;y"}
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert errors[0].startswith("pillar key 'hypervisor:pools:<redacted>': ")
    assert not _leaks(errors, pillar_cases.TOKEN)


def test_private_key_as_ssh_key_is_refused_unseen(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["admins"][0]["ssh_keys"].append(pillar_cases.PRIVATE_KEY)
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert errors == [
        "pillar key 'hypervisor:admins:0:ssh_keys:1': is a private key, not a public key line:"
        " give its .pub, and replace the pair"
    ]


@pytest.mark.parametrize(
    "key",
    ["-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"],
    ids=["pem", "openssh-body"],
)
def test_private_key_anywhere_is_refused_unseen(params, key):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["domain"] = key
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert errors == [
        "pillar key 'hypervisor:domain': is a private key: no private key belongs in the pillar"
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("hypervisor", "hosts", "hyp1", "password"), "S3cret-Passw0rd"),
        (("hypervisor", "admins", 0, "api_key"), "ak-0123456789abcdef"),
        (("hypervisor", "vault_secret"), {"value": "nested-secret-value"}),
        (("hypervisor", "gluster", "token"), ["listed-secret-value"]),
    ],
    ids=["password", "api-key", "nested", "listed"],
)
def test_secret_named_key_is_refused_unseen(params, path, value):
    pillar = pillar_cases.case_pillar(pillar_cases._put(path, value))
    errors = hv_validate.validate(pillar, params, "hyp1")
    key = ":".join(map(str, path))
    secret = (
        "looks like a secret: the pillar's only secrets are the provider's credentials, in"
        " 'online:api_token', 'hetzner:user', 'hetzner:password'"
    )
    assert errors == [f"pillar key '{key}': {secret}"]


def test_no_other_check_echoes_a_secret_value(params):
    # The token in the domain: refused as the token, not as "… is not a DNS domain".
    pillar = pillar_cases.case_pillar(pillar_cases._set(("hypervisor", "domain"), pillar_cases.TOKEN))
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert errors == [
        "pillar key 'hypervisor:domain': holds the API token, which belongs in 'online:api_token' only"
    ]


def test_safety_net_redacts_secrets_in_any_case():
    errors = hv_check.Errors(["MixedCase-Secret-42"])
    errors.add(("a",), "was 'mixedcase-secret-42' and 'MIXEDCASE-SECRET-42'")
    assert errors == ["pillar key 'a': was '<redacted>' and '<redacted>'"]


def test_an_echoed_value_is_cut_at_60_characters(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["domain"] = "x" * 500
    (line,) = hv_validate.validate(pillar, params, "hyp1")
    assert line == f"pillar key 'hypervisor:domain': '{'x' * 58}… is not a DNS domain"


def test_misspelled_key_gets_a_suggestion(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["adress"] = pillar["hypervisor"]["hosts"]["hyp1"]["rpn"].pop(
        "address"
    )
    errors = hv_validate.validate(pillar, params, "hyp1")
    assert "pillar key 'hypervisor:hosts:hyp1:rpn:adress': unknown key (did you mean 'address'?)" in errors


def test_build_derives_this_host_and_its_peer(params):
    cfg = hv_views.build(pillar_cases.lab_pillar(), params, "hyp2")
    assert cfg["me"]["name"] == "hyp2"
    assert cfg["peer"]["name"] == "hyp1"
    assert cfg["peer"]["rpn"]["ip"] == "198.51.100.11"
    assert cfg["me"]["fqdn"] == "hyp2.lab.example"
    # Pillar overrides the defaults; untouched defaults stay.
    assert cfg["libvirt"]["host_uuid_source"] == "machine-id"
    assert cfg["libvirt"]["group"] == "libvirt"
    assert cfg["sysctl"]["settings"]["vm.swappiness"] == 0


def test_default_bridges_when_pillar_names_none(params):
    pillar = pillar_cases.lab_pillar()
    del pillar["hypervisor"]["bridges"]
    cfg = hv_views.build(pillar, params, "hyp1")
    assert {b["name"] for b in cfg["bridges"].values()} == {"brwan", "brlan"}


def test_sysctl_override_merges_into_defaults(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["sysctl"] = {"settings": {"vm.swappiness": 1, "net.core.somaxconn": 4096}}
    cfg = hv_views.build(pillar, params, "hyp1")
    assert cfg["sysctl"]["settings"]["vm.swappiness"] == 1
    assert cfg["sysctl"]["settings"]["net.core.somaxconn"] == 4096
    assert cfg["sysctl"]["settings"]["vm.vfs_cache_pressure"] == 10000


def _with_arbiter():
    """The lab's pillar with a third host, arb1, whose role is arbiter."""
    return pillar_cases.case_pillar(pillar_cases._hosts(arb1=pillar_cases.ARB1))


def test_arbiter_makes_replica_3_arbiter_1(params):
    cfg = hv_views.build(_with_arbiter(), params, "hyp1")
    vmstore = cfg["gluster"]["volumes"]["vmstore"]
    assert (vmstore["replica"], vmstore["arbiter"]) == (3, 1)
    assert vmstore["bricks"] == [
        "hyp1:/mnt/bricks/vmstore/brick",
        "hyp2:/mnt/bricks/vmstore/brick",
        "arb1:/mnt/bricks/vmstore/brick",
    ]
    assert cfg["gluster"]["data_hosts"] == ["hyp1", "hyp2"]
    assert cfg["gluster"]["leader"] == "hyp1"


def test_two_hosts_make_replica_2(params):
    pillar = pillar_cases.lab_pillar_without_arbiter()
    vmstore = hv_views.build(pillar, params, "hyp2")["gluster"]["volumes"]["vmstore"]
    assert (vmstore["replica"], vmstore["arbiter"]) == (2, 0)
    assert vmstore["bricks"] == ["hyp1:/mnt/bricks/vmstore/brick", "hyp2:/mnt/bricks/vmstore/brick"]
    assert vmstore["options"]["network.ping-timeout"] == "5"


# ------------------------------------------------ network, tunnels, firewall, migration


def _three_hosts(arbiter=True):
    """The lab's pillar with a third host, arb1: the gluster arbiter, or a third data host."""
    pillar = _with_arbiter()
    if not arbiter:
        # A data host needs its sanlock host id, a peer and its server id at the provider (failover IPs).
        arb1 = pillar["hypervisor"]["hosts"]["arb1"]
        del arb1["role"]
        arb1.update(host_id=3, peer="hyp1", online_server_id=1003)
    return pillar


def test_public_view_fills_in_the_defaults_and_the_cidr(params):
    cfg = hv_views.build(pillar_cases.lab_pillar(), params, "hyp1")
    assert cfg["me"]["public"] == {
        "interface": "eth0",
        "address": "203.0.113.11",
        "prefix": 24,
        "gateway": "203.0.113.254",
        "dhcp": False,
        "cidr": "203.0.113.11/24",
    }
    assert cfg["hosts"]["hyp2"]["public"]["cidr"] == "203.0.113.12/24"
    lab_ips = [f"203.0.113.{n}" for n in (101, 102, 103, 104)]
    assert (cfg["me"]["failover_ips"], cfg["hosts"]["hyp2"]["failover_ips"]) == (lab_ips, [])


def test_bridges_view_and_the_public_bridge(params):
    cfg = hv_views.build(pillar_cases.lab_pillar(), params, "hyp1")
    assert cfg["bridges"] == {
        "lan": {"name": "brlan", "vpn_port": 1194, "vni": 102, "public": False},
        "wan": {"name": "brwan", "vpn_port": 1195, "vni": 101, "public": True},
    }
    assert cfg["public_bridge"] == {
        "net": "wan",
        "name": "brwan",
        "vpn_port": 1195,
        "vni": 101,
        "public": True,
    }


def test_default_bridges_take_their_vni_from_the_vpn_port(params):
    pillar = pillar_cases.lab_pillar()
    del pillar["hypervisor"]["bridges"]
    cfg = hv_views.build(pillar, params, "hyp1")
    assert {net: (b["vni"], b["public"]) for net, b in cfg["bridges"].items()} == {
        "lan": (1194, False),
        "wan": (1195, True),
    }
    assert cfg["public_bridge"]["name"] == "brwan"


def test_a_bridge_may_have_the_name_of_a_nic_only_the_arbiter_has(params):
    """The arbiter gets no bridge: there, the name takes no NIC over."""
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["hosts"]["arb1"]["public"]["interface"] = "uplink0"
    pillar["hypervisor"]["bridges"]["lan"]["name"] = "uplink0"
    for host in ("hyp1", "hyp2", "arb1"):
        assert hv_validate.validate(pillar_cases.as_seen_by(pillar, host), params, host) == []


def test_no_public_bridge_without_failover_ips(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["bridges"]["wan"]["public"] = False
    del pillar["hypervisor"]["hosts"]["hyp1"]["failover_ips"]
    del pillar["hypervisor"]["guests"]  # they hold those IPs
    assert hv_views.build(pillar, params, "hyp1")["public_bridge"] is None


def test_vxlan_tunnels_of_two_hosts(params):
    tunnels = hv_views.build(pillar_cases.lab_pillar(), params, "hyp2")["tunnels"]
    assert (tunnels["transport"], tunnels["members"]) == ("vxlan", ["hyp1", "hyp2"])
    assert tunnels["vxlan"] == [
        {
            "net": net,
            "bridge": name,
            "ifname": f"vx{net}",
            "vni": vni,
            "port": 4789,
            "local": "198.51.100.12",
            "remotes": ["198.51.100.11"],
            "mtu": 1500,
        }
        for net, name, vni in (("lan", "brlan", 102), ("wan", "brwan", 101))
    ]


@pytest.mark.parametrize(
    ("host", "role", "local", "remote"),
    [
        ("hyp1", "server", "198.51.100.11", "198.51.100.12"),
        ("hyp2", "client", "198.51.100.12", "198.51.100.11"),
    ],
)
def test_openvpn_tunnels_to_the_peer_lower_host_id_serves(params, host, role, local, remote):
    pillar = pillar_cases.case_pillar(pillar_cases._put(("hypervisor", "tunnels", "transport"), "openvpn"))
    tunnels = hv_views.build(pillar, params, host)["tunnels"]
    assert tunnels["openvpn"] == [
        {
            "net": "lan",
            "bridge": "brlan",
            "dev": "taplan",
            "port": 1194,
            "local": local,
            "remote": remote,
            "peer": "hyp2" if host == "hyp1" else "hyp1",
            "role": role,
        },
        {
            "net": "wan",
            "bridge": "brwan",
            "dev": "tapwan",
            "port": 1195,
            "local": local,
            "remote": remote,
            "peer": "hyp2" if host == "hyp1" else "hyp1",
            "role": role,
        },
    ]


def test_tunnels_of_three_hosts_leave_the_arbiter_out(params):
    hyp1 = hv_views.build(_three_hosts(), params, "hyp1")["tunnels"]
    assert hyp1["members"] == ["hyp1", "hyp2"]
    assert [t["remotes"] for t in hyp1["vxlan"]] == [["198.51.100.12"]] * 2
    assert [t["remote"] for t in hyp1["openvpn"]] == ["198.51.100.12"] * 2
    arb1 = hv_views.build(pillar_cases.as_seen_by(_three_hosts(), "arb1"), params, "arb1")["tunnels"]
    assert (arb1["members"], arb1["vxlan"], arb1["openvpn"]) == (["hyp1", "hyp2"], [], [])


def test_vxlan_of_three_data_hosts_reaches_both_others(params):
    tunnels = hv_views.build(_three_hosts(arbiter=False), params, "hyp2")["tunnels"]
    assert tunnels["members"] == ["arb1", "hyp1", "hyp2"]
    assert [t["remotes"] for t in tunnels["vxlan"]] == [["198.51.100.13", "198.51.100.11"]] * 2


def test_firewall_view_defaults_and_peers(params):
    firewall = hv_views.build(pillar_cases.lab_pillar(), params, "hyp1")["firewall"]
    assert firewall["trusted"] == ["203.0.113.1", "203.0.113.2"]
    assert firewall["monitoring_sources"] == firewall["trusted"]
    # hyp2 carries guests too: everything between them; arb1, the arbiter: gluster only.
    assert (firewall["peers_rpn"], firewall["storage_rpn"]) == (["198.51.100.12"], ["198.51.100.13"])
    assert (firewall["brick_ports"], firewall["migration_ports"]) == ("49152:60999", "61000:61063")
    assert firewall["tunnel_udp_ports"] == [4789]
    assert (firewall["ssh_port"], firewall["rollback_after"]) == (22, 90)


def test_firewall_view_of_three_hosts_openvpn_and_own_monitoring(params):
    pillar = _three_hosts()
    pillar["hypervisor"]["tunnels"] = {"transport": "openvpn"}
    pillar["hypervisor"]["firewall"]["monitoring_sources"] = ["192.0.2.0/28"]
    firewall = hv_views.build(pillar, params, "hyp2")["firewall"]
    assert (firewall["peers_rpn"], firewall["storage_rpn"]) == (["198.51.100.11"], ["198.51.100.13"])
    assert firewall["monitoring_sources"] == ["192.0.2.0/28"]
    assert firewall["tunnel_udp_ports"] == [1194, 1195]


@pytest.mark.parametrize(
    ("user", "home"), [("root", "/root"), ("migrate", "/home/migrate")], ids=["root", "other"]
)
def test_migration_view(params, user, home):
    pillar = pillar_cases.case_pillar(pillar_cases._put(("hypervisor", "migration", "user"), user))
    assert hv_views.build(pillar, params, "hyp1")["migration"] == {
        "user": user,
        "home": home,
        "key": f"{home}/.ssh/id_ed25519_hv",
    }


@pytest.mark.parametrize(
    ("mutation", "line"),
    [
        (
            pillar_cases._set(("hypervisor", "hosts", "hyp1", "public", "gateway"), "203.0.114.1"),
            "pillar key 'hypervisor:hosts:hyp1:public:gateway': 203.0.114.1 is not in 203.0.113.0/24,"
            " the subnet of public:address/prefix",
        ),
        (
            pillar_cases._set(("hypervisor", "hosts", "hyp2", "failover_ips"), ["203.0.113.101"]),
            "pillar key 'hypervisor:hosts:hyp2:failover_ips:0': '203.0.113.101' is already listed by"
            " pillar key 'hypervisor:hosts:hyp1:failover_ips:0'",
        ),
        (
            pillar_cases._set(("hypervisor", "bridges", "lan", "public"), True),
            "pillar key 'hypervisor:bridges:wan:public': only one bridge can be public, and"
            " pillar key 'hypervisor:bridges:lan:public' is",
        ),
        (
            lambda p: p["hypervisor"]["bridges"].update(
                lan={"name": "brlan", "vpn_port": 1194, "vni": 1195}, wan={"name": "brwan", "vpn_port": 1195}
            ),
            "pillar key 'hypervisor:bridges:wan:vpn_port': VNI 1195 is already that of pillar key"
            " 'hypervisor:bridges:lan:vni' (a bridge's vni defaults to its vpn_port)",
        ),
        (
            pillar_cases._set(("hypervisor", "hosts", "hyp2", "rpn", "mtu"), 1500),
            "pillar key 'hypervisor:hosts:hyp2:rpn:mtu': host hyp2's RPN MTU is 1500: tunnels:transport"
            " vxlan needs 1550 there, the guests' 1500-byte frames (tunnels:guest_mtu) and VXLAN's 50"
            " bytes; set tunnels:guest_mtu: 1450 (the guests then get that MTU), raise rpn:mtu, or use"
            " openvpn",
        ),
        (
            pillar_cases._set(("hypervisor", "firewall", "trusted"), []),
            "pillar key 'hypervisor:firewall:trusted': is required: the IPv4 addresses or networks"
            " allowed SSH (the master's too)",
        ),
        (
            pillar_cases._set(("hypervisor", "firewall", "trusted"), ["203.0.113.1/24"]),
            "pillar key 'hypervisor:firewall:trusted:0': '203.0.113.1/24' has host bits set"
            " (did you mean 203.0.113.0/24?)",
        ),
    ],
    ids=[
        "gateway-outside",
        "failover-twice",
        "two-public",
        "vni-of-a-port",
        "vxlan-mtu",
        "no-trusted",
        "host-bits",
    ],
)
def test_network_refusals_say_why(params, mutation, line):
    assert line in hv_validate.validate(pillar_cases.case_pillar(mutation), params, "hyp1")


def test_openvpn_allows_a_1500_byte_rpn(params):
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["tunnels"] = {"transport": "openvpn"}
    pillar["hypervisor"]["hosts"]["hyp2"]["rpn"]["mtu"] = 1500
    assert hv_validate.validate(pillar, params, "hyp1") == []


def test_vxlan_ignores_the_arbiters_rpn_mtu(params):
    pillar = _three_hosts()
    pillar["hypervisor"]["hosts"]["arb1"]["rpn"]["mtu"] = 1500
    assert hv_validate.validate(pillar, params, "hyp1") == []


def test_the_public_nic_answers_proxy_arp_at_once(params):
    """F22: no random proxy ARP delay on the public NIC (a failover IP that
    arrives is answered at once); the pillar's own value wins; none for a VLAN."""
    settings = hv_views.build(pillar_cases.lab_pillar(), params, "hyp1")["sysctl"]["settings"]
    assert settings["net.ipv4.neigh.eth0.proxy_delay"] == 0
    assert settings["vm.swappiness"] == 0
    pillar = pillar_cases.lab_pillar()
    pillar["hypervisor"]["sysctl"] = {"settings": {"net.ipv4.neigh.eth0.proxy_delay": 5}}
    settings = hv_views.build(pillar, params, "hyp1")["sysctl"]["settings"]
    assert settings["net.ipv4.neigh.eth0.proxy_delay"] == 5
    pillar["hypervisor"]["hosts"]["hyp1"]["public"]["interface"] = "eth0.100"
    settings = hv_views.build(pillar, params, "hyp1")["sysctl"]["settings"]
    assert not [key for key in settings if "eth0.100" in key]
