"""Free-form settings that reach a file, a unit or a command are refused unless they have
their form, naming the key (B10): unit and group names, modes, calendars, time spans, package
names, pip requirements, command arguments, SELinux booleans, a map's values."""

import pytest

from tests.loaders import hv_layout, hv_schema, hv_validate
from tests.pillar_cases import lab_pillar

CASES = [
    ("libvirt:group", 'libvirt"\nunix_sock_rw_perms = "0777'),
    ("libvirt:group", "root group"),
    ("libvirt:service", "libvirtd.service\nExecStart=/bin/sh"),
    ("libvirt:socket", "libvirtd"),
    ("libvirt:socket_mode", "0777 ; rm"),
    ("libvirt:socket_mode", "rw"),
    ("gluster:service", "glusterd --foo"),
    ("gluster:bricks:vg", "vg0; reboot"),
    ("sanlock:watchdog_service", "wdmd.service x"),
    ("sanlock:cleanup_calendar", "daily\nExecStart=/bin/true"),
    ("sanlock:cleanup_random_delay", "30 minutes"),
    ("tunnels:openvpn_group", "no group"),
    ("competing_firewalls", ["ufw", "x y"]),
    ("ksm:services", ["ksmtuned", "../evil"]),
    ("libvirt:units_off", ["libvirtd-tcp"]),
    ("repo_packages", ["epel-release", "-o APT::x"]),
    ("pkgs:virt", ["qemu;reboot"]),
    ("python:pip", ["libvirt-python --index-url http://x"]),
    ("python:os_pkgs", ["python3 libvirt"]),
    ("failover:garp_command", ["arping", "-U\n-c"]),
    ("selinux:booleans", {"virt use": True}),
    ("sysctl:settings", {"vm.swappiness": "0\nkernel.panic = 1"}),
    ("sysctl:settings", {"vm.swappiness": '1"'}),
]


def _set(pillar, key, value):
    node = pillar["hypervisor"]
    *parents, last = key.split(":")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k}={v!r}"[:60] for k, v in CASES])
def test_a_setting_without_its_form_is_refused_naming_the_key(key, value):
    pillar = lab_pillar()
    _set(pillar, key, value)
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert errors and all(e.startswith(f"pillar key 'hypervisor:{key}") for e in errors), errors


@pytest.mark.parametrize("family", hv_schema.OS_FAMILIES)
def test_every_default_has_its_form(family):
    pillar = lab_pillar()
    for row in hv_schema.ROWS:
        if row.pillar and row.key not in ("firewall:trusted", "pools", "gluster:volumes"):
            _set(
                pillar,
                row.key,
                hv_schema.defaults(family)[row.key.split(":")[0]]
                if ":" not in row.key
                else _get(hv_schema.defaults(family), row.key),
            )
    assert hv_validate.validate(pillar, hv_schema.defaults(family), "hyp1") == []


def _get(tree, key):
    for part in key.split(":"):
        tree = tree[part]
    return tree


ADDRESSES = [
    ("0.0.0.0", "the unspecified address"),
    ("127.0.0.1", "a loopback address"),
    ("224.0.0.5", "a multicast address"),
    ("169.254.1.1", "a link-local address"),
    ("255.255.255.255", "the broadcast address"),
    ("240.0.0.1", "a reserved address (240.0.0.0/4)"),
]
PLACES = [
    (("hosts", "hyp1", "public", "address"), False),
    (("hosts", "hyp1", "public", "gateway"), False),
    (("hosts", "hyp1", "rpn", "address"), True),
    (("hosts", "hyp1", "failover_ips", 0), False),
]


@pytest.mark.parametrize(("address", "kind"), ADDRESSES, ids=[a for a, _k in ADDRESSES])
@pytest.mark.parametrize(("place", "prefix"), PLACES, ids=[":".join(map(str, p)) for p, _x in PLACES])
def test_an_address_that_is_no_hosts_is_refused_where_a_host_address_goes(address, kind, place, prefix):
    pillar = lab_pillar()
    node = pillar["hypervisor"]
    for part in place[:-1]:
        node = node[part]
    node[place[-1]] = f"{address}/24" if prefix else address
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    key = "hypervisor:" + ":".join(map(str, place))
    assert (
        f"pillar key '{key}': '{address}{'/24' if prefix else ''}' is {kind}, not a host's address" in errors
    )


def test_a_failover_ip_that_is_a_hosts_gateway_is_refused():
    pillar = lab_pillar()
    gateway = pillar["hypervisor"]["hosts"]["hyp2"]["public"]["gateway"]
    pillar["hypervisor"]["hosts"]["hyp1"]["failover_ips"][0] = gateway
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    line = next(e for e in errors if e.startswith("pillar key 'hypervisor:hosts:hyp1:failover_ips:0'"))
    assert line.startswith(
        f"pillar key 'hypervisor:hosts:hyp1:failover_ips:0': '{gateway}' is the address of"
    )
    assert line.endswith(":public:gateway'")


@pytest.mark.parametrize("key", ["trusted", "monitoring_sources"])
@pytest.mark.parametrize("source", ["0.0.0.0/0", "128.0.0.0/1", "10.0.0.0/7"])
def test_a_source_wider_than_a_slash_8_is_refused_unless_meant(key, source):
    pillar = lab_pillar()
    firewall = pillar["hypervisor"].setdefault("firewall", {})
    firewall[key] = [*firewall.get(key, ["192.0.2.10"]), source]
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    prefix = f"pillar key 'hypervisor:firewall:{key}:"
    assert [e for e in errors if e.startswith(prefix) and source in e], errors
    firewall["wide_sources"] = True
    assert hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1") == []


def test_a_slash_8_source_is_accepted():
    pillar = lab_pillar()
    pillar["hypervisor"]["firewall"]["trusted"].append("10.0.0.0/8")
    assert hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1") == []


@pytest.mark.parametrize(
    "name", ["vxlan", "tapwan", "virbr0", "docker0", "lo", "veth12ab", "br-0123456789ab"]
)
def test_a_bridge_named_like_a_link_the_states_or_others_make_is_refused(name):
    pillar = lab_pillar()
    pillar["hypervisor"]["bridges"]["wan"]["name"] = name
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert [e for e in errors if e.startswith("pillar key 'hypervisor:bridges:wan:name'")], errors


@pytest.mark.parametrize("port", [24007, 24008, 16509, 49152, 55000, 60999])
def test_a_tunnel_port_that_other_software_uses_is_refused(port):
    pillar = lab_pillar()
    pillar["hypervisor"]["bridges"]["wan"]["vpn_port"] = port
    pillar["hypervisor"]["bridges"]["wan"]["vni"] = 1195
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert [
        e for e in errors if e.startswith(f"pillar key 'hypervisor:bridges:wan:vpn_port': port {port} is")
    ]


@pytest.mark.parametrize("name", ["root", "nobody", "www-data", "libvirt-qemu", "sshd"])
def test_an_admin_named_like_a_system_account_is_refused(name):
    pillar = lab_pillar()
    pillar["hypervisor"]["admins"] = [{"name": name}]
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert errors == [
        f"pillar key 'hypervisor:admins:0:name': '{name}' is a system account:"
        " an admin is a person's own account"
    ]


@pytest.mark.parametrize("name", ["-c", "-eth0", "--all"])
def test_an_interface_name_that_reads_as_an_option_is_refused(name):
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp1"]["rpn"]["interface"] = name
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert f"pillar key 'hypervisor:hosts:hyp1:rpn:interface': '{name}' is not an interface name" in errors


def test_a_volume_mounted_inside_another_volumes_mount_is_refused():
    pillar = lab_pillar()
    volumes = pillar["hypervisor"].setdefault("gluster", {}).setdefault("volumes", {})
    volumes["save"] = {"mount": "/var/lib/libvirt/images/save", "size": "50G"}
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert (
        "pillar key 'hypervisor:gluster:volumes:save:mount': '/var/lib/libvirt/images/save' is inside"
        " the mount of pillar key 'hypervisor:gluster:volumes:vmstore:mount'"
    ) in errors


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("auth.allow", "*", "is set by the states (auth.allow: the hosts' RPN addresses; TLS: gluster:tls)"),
        (
            "auth.reject",
            "198.51.100.12",
            "is set by the states (auth.allow: the hosts' RPN addresses; TLS: gluster:tls)",
        ),
        (
            "server.ssl",
            "off",
            "is set by the states (auth.allow: the hosts' RPN addresses; TLS: gluster:tls)",
        ),
        ("performance.cache-size", "64MB'", "is not one value (no quote, backslash or control character)"),
        ("performance.cache-size", "64MB\nx", "is not one value (no quote, backslash or control character)"),
    ],
)
def test_a_volume_option_the_cluster_sets_or_that_is_no_single_value_is_refused(option, value, says):
    pillar = lab_pillar()
    volumes = pillar["hypervisor"].setdefault("gluster", {}).setdefault("volumes", {})
    volumes["vmstore"] = {"options": {option: value}}  # merged into the default vmstore
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    key = f"pillar key 'hypervisor:gluster:volumes:vmstore:options:{option}'"
    assert any(e.startswith(key) and e.endswith(says) for e in errors), errors


def test_a_pillar_that_refers_to_itself_is_refused_with_a_message():
    pillar = lab_pillar()
    loop = {"a": 1}
    loop["self"] = loop  # what a YAML anchor used inside its own value loads as
    pillar["hypervisor"]["sysctl"] = {"settings": loop}
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert len(errors) == 1 and "refers to itself" in errors[0]


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("hosts_file", "/etc/passwd", "is a system file or directory that no setting may own"),
        ("failover:state_dir", "/etc/ssh", "is a system file or directory that no setting may own"),
        ("firewall:state_dir", "/etc/hv-safe-apply", "is not under /var/lib, /var/local or /srv"),
        ("evacuation:state_dir", "/home/hv", "is not under /var/lib, /var/local or /srv"),
        ("keeper:script", "/usr/bin/hv-keeper", "is not a file in /usr/local/sbin or /usr/local/bin"),
        ("takeover:script", "/etc/cron.daily/hv", "is not a file in /usr/local/sbin or /usr/local/bin"),
        ("sysctl:file", "/etc/sudoers", "is a system file or directory that no setting may own"),
    ],
)
def test_a_path_setting_that_names_a_system_file_or_leaves_its_place_is_refused(key, value, says):
    pillar = lab_pillar()
    _set(pillar, key, value)
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert f"pillar key 'hypervisor:{key}': '{value}' {says}" in errors


def test_the_shipped_master_names_the_hosts_and_gives_the_token_to_guest_hosts_only():
    """master.d/hypervisor.conf (B10): nodegroups list ids (no glob that misses an arbiter);
    peer_run lets exactly the `hypervisors` ids ask, for reach.ssh only; pillar/top.sls gives
    online.sls to `guest_hosts` alone, and alerts.sls to `alerts_master` alone (the master's
    own id, master.d/alerts.conf: no host of the cluster)."""
    import re

    import yaml

    from tests.loaders import REPO

    master = yaml.safe_load((REPO / "master.d" / "hypervisor.conf").read_text())
    groups = master["nodegroups"]
    assert all(v.startswith("L@") for v in groups.values()), groups
    every, guests = (set(groups[g][2:].split(",")) for g in ("hypervisors", "guest_hosts"))
    hosts = lab_pillar()["hypervisor"]["hosts"]
    assert every == set(hosts) and guests == set(hv_layout.members(hosts))
    (pattern, runners), *others = master["peer_run"].items()
    assert others == [] and runners == ["reach.ssh"]
    assert all(re.match(pattern, name) for name in every)
    assert not any(re.match(pattern, name) for name in ("stranger", "hyp1-evil", "xhyp1", "hyp12", ""))
    top = yaml.safe_load((REPO / "pillar" / "top.sls").read_text())["base"]
    assert top == {
        "hypervisors": [{"match": "nodegroup"}, "hypervisor"],
        "guest_hosts": [{"match": "nodegroup"}, "online", "hetzner"],
        "alerts_master": [{"match": "nodegroup"}, "alerts"],
    }
    alerts = yaml.safe_load((REPO / "master.d" / "alerts.conf").read_text())["nodegroups"]
    assert list(alerts) == ["alerts_master"] and alerts["alerts_master"].startswith("L@")
    assert not set(alerts["alerts_master"][2:].split(",")) & every


def test_a_token_in_the_arbiters_pillar_is_refused_and_never_shown():
    pillar = lab_pillar()
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "arb1")
    assert any(e.startswith("pillar key 'online:api_token': reaches the arbiter 'arb1'") for e in errors), (
        errors
    )
    assert not any(pillar["online"]["api_token"] in e for e in errors)
    del pillar["online"]
    assert hv_validate.validate(pillar, hv_schema.defaults("Debian"), "arb1") == []
