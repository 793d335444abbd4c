"""The views hv_views.build adds for the states, as plain functions:
how the modules' libraries reach the minion's Python (OS packages or pip),
sanlock's watchdog units and lockspace, and, for the lab's pillar, each host's
bricks (hyp2's on block devices, hyp1's and the arbiter arb1's plain
directories), the leader and what only the leader manages."""

import pytest

from tests.loaders import hv_views, layered_parameters
from tests.pillar_cases import as_seen_by, lab_pillar, lab_pillar_without_arbiter

PYTHON = {
    "pip": ["libvirt-python==12.8.0", "PyYAML>=6.0", "requests<3", "jmespath"],
    "os_pkgs": ["python3-libvirt"],
    "build_pkgs": ["gcc", "pkg-config", "libvirt-dev", "python3-dev"],
}
PIP_BY_PROJECT = {
    "libvirt-python": "libvirt-python==12.8.0",
    "PyYAML": "PyYAML>=6.0",
    "requests": "requests<3",
    "jmespath": "jmespath",
}
SANLOCK = {
    "use_watchdog": True,
    "watchdog_service": "wdmd",
    "rejoin_interval": 5,
    "io_timeout": 2,
    "watchdog_fire_timeout": 60,
    "watchdog_fire_timeout_fixed": 60,
    "kill_grace": 10,
}
# Replica 2: no client quorum on the lease volume.
GLUSTER = {
    "volumes": {
        "sanlock": {"mount": "/srv/leases", "options": {}},
        "vmstore": {"mount": "/srv/images", "options": {}},
    }
}


# ---------------------------------------------------------------- _python_view


def _files(*paths):
    """An ``exists`` that knows only ``paths`` (the salt-call each layout installs)."""
    return lambda path: path in paths


def test_python_system_interpreter_uses_os_packages():
    view = hv_views._python_view(PYTHON, "/usr", "/usr", _files("/usr/bin/salt-call"))
    assert view == {"method": "os", "pkgs": ["python3-libvirt"], "pip": {}, "salt_call": "/usr/bin/salt-call"}


def test_python_system_interpreter_with_salt_from_pip_runs_its_salt_call():
    view = hv_views._python_view(PYTHON, "/usr", "/usr", _files("/usr/local/bin/salt-call"))
    assert view["salt_call"] == "/usr/local/bin/salt-call"


def test_python_venv_uses_pip_after_the_build_packages():
    view = hv_views._python_view(PYTHON, "/srv/salt-venv", "/usr", _files("/srv/salt-venv/bin/salt-call"))
    assert view == {
        "method": "pip",
        "pkgs": ["gcc", "pkg-config", "libvirt-dev", "python3-dev"],
        "pip": PIP_BY_PROJECT,
        "prefix": "/srv/salt-venv",
        "salt_call": "/srv/salt-venv/bin/salt-call",
    }


def test_python_salt_onedir_uses_pip_and_the_onedir_salt_call():
    """Salt's onedir keeps its scripts in the prefix, beside bin/ (which holds python3.10)."""
    onedir = "/opt/saltstack/salt"
    assert hv_views._python_view(PYTHON, onedir, onedir, _files(f"{onedir}/salt-call")) == {
        "method": "pip",
        "pkgs": ["gcc", "pkg-config", "libvirt-dev", "python3-dev"],
        "pip": PIP_BY_PROJECT,
        "prefix": onedir,
        "salt_call": f"{onedir}/salt-call",
    }


def test_python_view_of_the_layered_debian_parameters_in_a_venv():
    python = layered_parameters("Debian")["python"]
    assert hv_views._python_view(python, "/srv/salt-venv", "/usr", _files()) == {
        "method": "pip",
        "pkgs": ["gcc", "pkg-config", "libvirt-dev", "python3-dev"],
        "pip": {"libvirt-python": "libvirt-python==12.8.0"},
        "prefix": "/srv/salt-venv",
        "salt_call": "/srv/salt-venv/bin/salt-call",
    }


# ---------------------------------------------------------------- _sanlock_view


def test_sanlock_with_the_watchdog():
    assert hv_views._sanlock_view(SANLOCK, {"host_id": 7}, GLUSTER) == {
        **SANLOCK,
        "watchdog_units": ["wdmd"],
        "watchdog_units_off": [],
        "daemon_opts": "-w 1 -g 10",
        "conf_settings": {},
        "lease_dir": "/srv/leases",
        "lockspace": {
            "name": "__LIBVIRT__DISKS__",
            "host_id": 7,
            "path": "/srv/leases/__LIBVIRT__DISKS__",
            "io_timeout": 2,
            "client_quorum": False,
        },
    }


def test_sanlock_without_the_watchdog():
    sanlock = dict(SANLOCK, use_watchdog=False)
    assert hv_views._sanlock_view(sanlock, {"host_id": 2}, GLUSTER) == {
        **sanlock,
        "watchdog_units": [],
        "watchdog_units_off": ["wdmd"],
        "daemon_opts": "-w 0 -g 10",
        "conf_settings": {},
        "lease_dir": "/srv/leases",
        "lockspace": {
            "name": "__LIBVIRT__DISKS__",
            "host_id": 2,
            "path": "/srv/leases/__LIBVIRT__DISKS__",
            "io_timeout": 2,
            "client_quorum": False,
        },
    }


def test_sanlock_conf_where_the_watchdog_fire_timeout_is_settable():
    """sanlock 3.9+ reads it from sanlock.conf; 3.8 (Debian 12) has it fixed: no conf_settings."""
    sanlock = dict(SANLOCK, watchdog_fire_timeout_fixed=None, watchdog_fire_timeout=90, kill_grace=0)
    view = hv_views._sanlock_view(sanlock, {"name": "arb1", "role": "arbiter"}, GLUSTER)
    assert view["conf_settings"] == {"watchdog_fire_timeout": 90}
    assert view["daemon_opts"] == "-w 1 -g 0"
    assert view["lockspace"]["host_id"] is None  # the arbiter joins no lockspace


@pytest.mark.parametrize(("quorum_type", "expected"), [("auto", True), ("AUTO", True), ("fixed", False)])
def test_the_lockspace_knows_whether_the_lease_volume_has_client_quorum(quorum_type, expected):
    """With client quorum (an arbiter) the rejoin need not wait for the heal; "fixed" is
    a count a cut-off host can still meet, so it does not count."""
    options = {"cluster.quorum-type": quorum_type}
    gluster = {"volumes": {"sanlock": {"mount": "/srv/leases", "options": options}}}
    view = hv_views._sanlock_view(SANLOCK, {"host_id": 1}, gluster)
    assert view["lockspace"]["client_quorum"] is expected


def test_the_lab_without_its_arbiter_has_no_client_quorum_on_the_lease_volume():
    assert settings("hyp1", lab_pillar_without_arbiter())["sanlock"]["lockspace"]["client_quorum"] is False


# ---------------------------------------------------------------- build, the lab's pillar


def settings(minion_id, pillar=None):
    """What map.jinja gives ``minion_id`` on Debian 12, from the lab's pillar by default."""
    return hv_views.build(
        as_seen_by(pillar or lab_pillar(), minion_id), layered_parameters("Debian"), minion_id
    )


HYP2_BRICKS = {
    "sanlock": {
        "dir": "/mnt/bricks/sanlock",
        "path": "/mnt/bricks/sanlock/brick",
        "device": "/dev/hvlab-sanlock",
        "lv": None,
        "label": "sanlock",
        "mount_point": "/mnt/bricks/sanlock",
    },
    "save": {
        "dir": "/mnt/bricks/save",
        "path": "/mnt/bricks/save/brick",
        "device": "/dev/hvlab-save",
        "lv": None,
        "label": "save",
        "mount_point": "/mnt/bricks/save",
    },
    "vmstore": {
        "dir": "/mnt/bricks/vmstore",
        "path": "/mnt/bricks/vmstore/brick",
        "device": "/dev/hvlab-vmstore",
        "lv": None,
        "label": "vmstore",
        "mount_point": "/mnt/bricks/vmstore",
    },
}
HYP1_BRICKS = {
    "sanlock": {
        "dir": "/mnt/bricks/sanlock",
        "path": "/mnt/bricks/sanlock/brick",
        "device": None,
        "lv": None,
        "label": "sanlock",
        "mount_point": None,
    },
    "save": {
        "dir": "/mnt/bricks/save",
        "path": "/mnt/bricks/save/brick",
        "device": None,
        "lv": None,
        "label": "save",
        "mount_point": None,
    },
    "vmstore": {
        "dir": "/mnt/bricks/vmstore",
        "path": "/mnt/bricks/vmstore/brick",
        "device": None,
        "lv": None,
        "label": "vmstore",
        "mount_point": None,
    },
}
# Every volume admits the hosts' RPN addresses (arb1, hyp1, hyp2) and the loopback alone (B10).
ALLOWED = "127.0.0.1,198.51.100.13,198.51.100.11,198.51.100.12"
VOLUMES = {
    "sanlock": {
        "mount": "/var/lib/libvirt/sanlock",
        "size": "10G",
        "options": {
            "cluster.quorum-type": "auto",
            "network.ping-timeout": "5",
            "cluster.heal-timeout": "60",
            "network.frame-timeout": "10",
            "cluster.eager-lock": "off",
            "server.tcp-user-timeout": "5",
            "server.keepalive-time": "2",
            "server.keepalive-interval": "1",
            "server.keepalive-count": "3",
            "auth.allow": ALLOWED,
        },
        "brick_dir": "/mnt/bricks/sanlock",
        "bricks": [
            "hyp1:/mnt/bricks/sanlock/brick",
            "hyp2:/mnt/bricks/sanlock/brick",
            "arb1:/mnt/bricks/sanlock/brick",
        ],
        "replica": 3,
        "arbiter": 1,
    },
    "save": {
        "mount": "/var/lib/libvirt/qemu/save",
        "size": "50G",
        "options": {
            "cluster.quorum-type": "auto",
            "network.ping-timeout": "5",
            "cluster.heal-timeout": "60",
            "network.frame-timeout": "300",
            "server.tcp-user-timeout": "5",
            "server.keepalive-time": "2",
            "server.keepalive-interval": "1",
            "server.keepalive-count": "3",
            "auth.allow": ALLOWED,
        },
        "brick_dir": "/mnt/bricks/save",
        "bricks": [
            "hyp1:/mnt/bricks/save/brick",
            "hyp2:/mnt/bricks/save/brick",
            "arb1:/mnt/bricks/save/brick",
        ],
        "replica": 3,
        "arbiter": 1,
    },
    "vmstore": {
        "mount": "/var/lib/libvirt/images",
        "size": "800G",
        "options": {
            "cluster.quorum-type": "auto",
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
            "auth.allow": ALLOWED,
        },
        "brick_dir": "/mnt/bricks/vmstore",
        "bricks": [
            "hyp1:/mnt/bricks/vmstore/brick",
            "hyp2:/mnt/bricks/vmstore/brick",
            "arb1:/mnt/bricks/vmstore/brick",
        ],
        "replica": 3,
        "arbiter": 1,
    },
}


def test_hyp2_bricks_are_file_systems_on_its_devices():
    gluster = settings("hyp2")["gluster"]
    assert gluster["local_bricks"] == HYP2_BRICKS
    assert gluster["brick_filesystems"] == HYP2_BRICKS
    assert gluster["brick_lvs"] == {}


def test_hyp1_bricks_are_plain_directories():
    gluster = settings("hyp1")["gluster"]
    assert gluster["local_bricks"] == HYP1_BRICKS
    assert gluster["brick_filesystems"] == {}
    assert gluster["brick_lvs"] == {}


def test_the_arbiters_bricks_are_plain_directories():
    gluster = settings("arb1")["gluster"]
    assert gluster["local_bricks"] == HYP1_BRICKS
    assert (gluster["is_leader"], gluster["managed_volumes"]) == (False, {})
    assert gluster["awaited_volumes"] == {}  # it mounts none: nothing to wait for


def test_hyp1_leads_and_manages_the_volumes():
    gluster = settings("hyp1")["gluster"]
    assert (gluster["leader"], gluster["is_leader"], gluster["data_hosts"], gluster["peers"]) == (
        "hyp1",
        True,
        ["hyp1", "hyp2"],
        ["arb1", "hyp1", "hyp2"],  # the arbiter is a gluster peer, not a data host
    )
    assert gluster["volumes"] == VOLUMES
    assert gluster["managed_volumes"] == VOLUMES
    assert gluster["awaited_volumes"] == {}


def test_hyp2_follows_and_manages_no_volume():
    gluster = settings("hyp2")["gluster"]
    assert (gluster["leader"], gluster["is_leader"]) == ("hyp1", False)
    assert gluster["volumes"] == VOLUMES
    assert gluster["managed_volumes"] == {}
    assert gluster["awaited_volumes"] == VOLUMES  # mounted once hyp1 started them


@pytest.mark.parametrize("minion_id", ["hyp1", "hyp2"])
def test_force_create_since_hyp1_bricks_are_directories(minion_id):
    assert settings(minion_id)["gluster"]["force_create"] is True


def test_no_force_create_when_every_brick_has_its_own_file_system():
    pillar = lab_pillar()
    devices = {
        "type": "device",
        "devices": {"vmstore": "/dev/sdb", "sanlock": "/dev/sdc", "save": "/dev/sdd"},
    }
    pillar["hypervisor"]["hosts"]["hyp1"]["bricks"] = devices
    # The arbiter's bricks (plain directories in the lab) count too.
    assert settings("hyp2", pillar)["gluster"]["force_create"] is True
    pillar["hypervisor"]["hosts"]["arb1"]["bricks"] = devices
    assert settings("hyp2", pillar)["gluster"]["force_create"] is False


def test_hyp2_sanlock_settings_from_the_lab_pillar():
    assert settings("hyp2")["sanlock"] == {
        "use_watchdog": False,
        "lab_without_watchdog": True,
        "watchdog_service": "wdmd",
        "rejoin_script": "/usr/local/sbin/hv-sanlock-rejoin",
        "rejoin_interval": 5,
        "defaults_file": "/etc/default/sanlock",
        "cleanup_calendar": "daily",
        "cleanup_random_delay": "30min",
        "io_timeout": 2,
        "watchdog_fire_timeout": 60,
        "watchdog_fire_timeout_fixed": 60,
        "kill_grace": 10,
        "conf_file": "/etc/sanlock/sanlock.conf",
        "watchdog_units": [],
        "watchdog_units_off": ["wdmd"],
        "daemon_opts": "-w 0 -g 10",
        "conf_settings": {},
        "lease_dir": "/var/lib/libvirt/sanlock",
        "lockspace": {
            "name": "__LIBVIRT__DISKS__",
            "host_id": 2,
            "path": "/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__",
            "io_timeout": 2,
            "client_quorum": True,
        },
    }


@pytest.mark.parametrize(
    ("poll_interval", "request_timeout", "seconds"), [(10, 10, 5), (2, 10, 2), (10, 3, 3), (1, 1, 1)]
)
def test_the_failover_beacons_request_takes_the_least_of_a_poll_its_timeout_and_5_s(
    poll_interval, request_timeout, seconds
):
    failover = {"poll_interval": poll_interval, "request_timeout": request_timeout}
    hosts = {"hyp1": {"failover_ips": ["203.0.113.9"], "public": {"gateway": "203.0.113.254"}}}
    view = hv_views._failover_view(failover, hosts, True)
    assert view["poll_timeout"] == seconds and view["ips"] == {"203.0.113.9": "hyp1"}


def test_the_public_bridge_answers_for_each_hosts_gateway_once_in_address_order():
    failover = {"poll_interval": 10, "request_timeout": 10}
    gateways = {"hyp1": "203.0.113.254", "hyp2": "192.0.2.1", "hyp3": "203.0.113.254", "arb": "198.18.0.9"}
    hosts = {name: {"failover_ips": [], "public": {"gateway": gw}} for name, gw in gateways.items()}
    view = hv_views._failover_view(failover, hosts, True)
    assert view["gateways"] == ["192.0.2.1", "198.18.0.9", "203.0.113.254"]


# ------------------------------------------------- network, tunnels, mounts: what the states loop over


def test_network_view_of_a_host_that_carries_guests_lists_its_files_and_links():
    network = settings("hyp1")["network"]
    directory = network["networkd_dir"]
    assert sorted(network["networkd_files"]) == sorted(
        [
            f"{directory}/10-hv-public.network",
            f"{directory}/20-hv-rpn.network",
            *(f"{directory}/30-hv-{b}.{k}" for b in ("brlan", "brwan") for k in ("netdev", "network")),
            *(f"{directory}/31-hv-{v}.{k}" for v in ("vxlan", "vxwan") for k in ("netdev", "network")),
        ]
    )
    rpn = network["networkd_files"][f"{directory}/20-hv-rpn.network"]
    assert rpn["source"] == "salt://network/files/networkd/rpn.network.jinja"
    assert rpn["context"]["vxlans"] == ["vxlan", "vxwan"]
    assert network["links"] == ["eth0", "eth1", "brlan", "brwan", "vxlan", "vxwan"]
    assert (
        network["vxlan_on"] and network["vxlans_gone"] == [] and network["public_bridge"]["name"] == "brwan"
    )


def test_network_view_of_the_arbiter_has_no_bridge_and_no_vxlan():
    network = settings("arb1")["network"]
    assert network["links"] == ["eth0", "eth1"] and network["public_bridge"] is None
    assert not network["vxlan_on"] and network["vxlans"] == []
    assert sorted(f.rsplit("/", 1)[1] for f in network["networkd_files"]) == [
        "10-hv-public.network",
        "20-hv-rpn.network",
    ]


def test_with_openvpn_the_vxlan_links_are_gone_and_openvpn_nets_listed():
    pillar = lab_pillar_without_arbiter()
    pillar["hypervisor"]["tunnels"] = {"transport": "openvpn"}
    cfg = settings("hyp1", pillar)
    assert cfg["network"]["vxlans"] == [] and [v["ifname"] for v in cfg["network"]["vxlans_gone"]] == [
        "vxlan",
        "vxwan",
    ]
    assert cfg["tunnels"]["openvpn_nets"] == ["lan", "wan"]
    assert cfg["tunnels"]["peer_keys"] == ["host_key", "migration_key", "tunnel_fingerprint"]


def test_tunnel_peers_and_keys_and_the_gluster_mounts():
    hyp1, arb1 = settings("hyp1"), settings("arb1")
    assert hyp1["tunnels"]["peers"] == ["hyp2"] and arb1["tunnels"]["peers"] == []
    assert hyp1["tunnels"]["peer_keys"] == ["host_key", "migration_key"]
    assert hyp1["tunnels"]["openvpn_nets"] == [] and hyp1["tunnels"]["tls_dir"] == "/etc/openvpn/hv/tls"
    assert hyp1["gluster"]["mounts"] == sorted(v["mount"] for v in hyp1["gluster"]["volumes"].values())


def test_gluster_over_tls_sets_every_volumes_tls_options():
    """B10: gluster:tls puts TLS on every volume, for the hosts' own certificates (named
    after them); without it, none of those options."""
    pillar = lab_pillar()
    pillar["hypervisor"]["gluster"] = {"tls": True}
    volumes = settings("hyp1", pillar)["gluster"]["volumes"]
    for volume in volumes.values():
        assert {k: volume["options"][k] for k in ("client.ssl", "server.ssl", "auth.ssl-allow")} == {
            "client.ssl": "on",
            "server.ssl": "on",
            "auth.ssl-allow": "arb1,hyp1,hyp2",
        }
    plain = settings("hyp1")["gluster"]["volumes"]["vmstore"]["options"]
    assert not {"client.ssl", "server.ssl", "auth.ssl-allow"} & set(plain)


# ---------------------------------------------------------------- metrics (issue 25)


def _metrics(family, **metrics):
    """The lab's pillar with ``metrics`` as given (none: the defaults, not the lab's own)."""
    pillar = lab_pillar()
    pillar["hypervisor"].pop("metrics", None)
    if metrics:
        pillar["hypervisor"]["metrics"] = metrics
    return hv_views.build(pillar, layered_parameters(family), "hyp1")


def test_metrics_off_by_default_no_port_opened_and_no_flag_on_debian():
    hv = _metrics("Debian")
    assert hv["metrics"]["enabled"] is False and hv["firewall"]["metrics_port"] is None
    assert hv["metrics"]["file"] == "/var/lib/prometheus/node-exporter/hv.prom"
    assert hv["metrics"]["args"] == []


def test_metrics_on_el_always_name_the_textfile_directory():
    """EPEL's package reads no known directory by default: the flag is always given."""
    hv = _metrics("RedHat", enabled=True)
    assert hv["metrics"]["args"] == ["--collector.textfile.directory=/var/lib/prometheus/node-exporter"]
    assert hv["firewall"]["metrics_port"] == 9100


def test_metrics_flags_only_for_what_differs():
    hv = _metrics("Debian", enabled=True, listen_port=9200, textfile_dir="/var/lib/hv-metrics")
    assert hv["metrics"]["args"] == [
        "--web.listen-address=:9200",
        "--collector.textfile.directory=/var/lib/hv-metrics",
    ]
    assert hv["metrics"]["file"] == "/var/lib/hv-metrics/hv.prom"
    assert hv["firewall"]["metrics_port"] == 9200


def test_metrics_on_the_monitoring_port_need_no_rule_of_their_own():
    pillar = lab_pillar()
    pillar["hypervisor"]["metrics"] = {"enabled": True, "listen_port": 9100}
    pillar["hypervisor"]["firewall"]["monitoring_port"] = 9100
    hv = hv_views.build(pillar, layered_parameters("Debian"), "hyp1")
    assert hv["firewall"]["metrics_port"] is None
