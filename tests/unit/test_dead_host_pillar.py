"""Issue 11 in the pillar: the arbiter as a host role (its views, client quorum),
sanlock's timings (cfg["timings"], rules b and c), the takeover settings
(cfg["takeover"]), and the refusals, word for word. The one-mutation cases
are in tests/pillar_cases.py (also run in the lab)."""

import pytest

from tests import pillar_cases as pc
from tests.loaders import hv_validate, hv_views, layered_parameters

LEASE_OPTIONS = ("hypervisor", "gluster", "volumes", "sanlock", "options")


def with_arbiter(*mutations):
    """The lab's pillar with arb1, its arbiter, then ``mutations``."""
    return pc.case_pillar(pc._both(pc._hosts(arb1=pc.ARB1), *mutations))


def without_arbiter(*mutations):
    """The lab's pillar without its arbiter (hyp1 and hyp2 alone), then ``mutations``."""
    return pc.case_pillar(pc._both(pc._no_arbiter, *mutations))


def build(pillar, host="hyp1", family="Debian"):
    return hv_views.build(pc.as_seen_by(pillar, host), layered_parameters(family), host)


def validate(pillar, family="Debian"):
    return hv_validate.validate(pillar, layered_parameters(family), "hyp1")


# ---------------------------------------------------------------- the arbiter's views


def test_every_host_has_its_role():
    cfg = build(with_arbiter())
    assert {name: host["role"] for name, host in cfg["hosts"].items()} == {
        "arb1": "arbiter",
        "hyp1": "hypervisor",
        "hyp2": "hypervisor",
    }
    assert (cfg["me"]["role"], cfg["peer"]["name"], cfg["gluster"]["arbiter"]) == (
        "hypervisor",
        "hyp2",
        "arb1",
    )


def test_the_arbiters_own_view():
    """No peer, no host id in the lockspace, no bridge, no libvirt group, no tunnel."""
    cfg = build(with_arbiter(), host="arb1")
    assert (cfg["me"]["role"], cfg["me"]["peer"], cfg["peer"]) == ("arbiter", None, None)
    assert cfg["sanlock"]["lockspace"]["host_id"] is None
    assert (cfg["local_bridges"], cfg["local_public_bridge"], cfg["admin_groups"]) == ({}, None, [])
    assert cfg["bridges"] == build(with_arbiter())["bridges"]  # the guests' views need them all
    assert (cfg["tunnels"]["members"], cfg["tunnels"]["vxlan"]) == (["hyp1", "hyp2"], [])
    assert cfg["firewall"]["tunnel_udp_ports"] == []
    assert cfg["gluster"]["local_bricks"]["vmstore"]["path"] == "/mnt/bricks/vmstore/brick"


def test_a_hypervisors_local_bridges_are_the_clusters():
    cfg = build(pc.lab_pillar())
    assert (cfg["local_bridges"], cfg["local_public_bridge"]) == (cfg["bridges"], cfg["public_bridge"])
    assert cfg["admin_groups"] == ["libvirt"]


def test_an_arbiter_puts_client_quorum_on_every_volume():
    volumes = build(with_arbiter())["gluster"]["volumes"]
    assert {name: v["options"].get("cluster.quorum-type") for name, v in volumes.items()} == {
        "sanlock": "auto",
        "save": "auto",
        "vmstore": "auto",
    }
    assert {(v["replica"], v["arbiter"]) for v in volumes.values()} == {(3, 1)}


def test_no_arbiter_no_client_quorum():
    """Replica 2 (two hosts, no arbiter): client quorum would stop the survivor's writes."""
    volumes = build(pc.lab_pillar_without_arbiter())["gluster"]["volumes"]
    assert {(v["replica"], v["arbiter"]) for v in volumes.values()} == {(2, 0)}
    assert not [name for name, v in volumes.items() if "cluster.quorum-type" in v["options"]]


def test_the_pillar_may_set_client_quorum_but_on_the_lease_and_incidents_volumes():
    pillar = with_arbiter(
        pc._put(("hypervisor", "gluster", "volumes", "vmstore", "options", "cluster.quorum-type"), "none")
    )
    assert build(pillar)["gluster"]["volumes"]["vmstore"]["options"]["cluster.quorum-type"] == "none"
    # The save volume holds the incidents (takeover:incidents_dir ""): quorum stays while takeover runs.
    pillar = with_arbiter(
        pc._put(("hypervisor", "gluster", "volumes", "save", "options", "cluster.quorum-type"), "none")
    )
    assert validate(pillar) == [
        "pillar key 'hypervisor:gluster:volumes:save:options:cluster.quorum-type': 'none' takes client"
        " quorum off the volume that holds the takeover's incidents while takeover is on: a host cut off"
        " from the others could still write them; leave it auto"
    ]
    # The lease volume too, once takeover is off.
    pillar = with_arbiter(
        pc._put((*LEASE_OPTIONS, "cluster.quorum-type"), "fixed"),
        pc._put(("hypervisor", "takeover", "enabled"), False),
    )
    assert validate(pillar) == []


def test_takeover_without_a_watchdog_is_refused_but_in_a_lab():
    pillar = with_arbiter(pc._put(("hypervisor", "sanlock", "lab_without_watchdog"), False))
    assert validate(pillar) == [
        "pillar key 'hypervisor:sanlock:use_watchdog': false while takeover is on"
        " (hypervisor:takeover:enabled): a host that hangs would keep its guests running beside the"
        " survivor's; keep the watchdog (a lab without a watchdog device sets"
        " hypervisor:sanlock:lab_without_watchdog: true)"
    ]
    assert validate(with_arbiter()) == []  # the lab's pillar says it is a lab
    pillar = with_arbiter(
        pc._put(("hypervisor", "sanlock", "lab_without_watchdog"), False),
        pc._put(("hypervisor", "takeover", "enabled"), False),
    )
    assert validate(pillar) == []


def test_the_settings_copy_maps_host_ids_to_hosts():
    hosts = build(with_arbiter())["settings_copy"]["hosts"]
    assert hosts["arb1"] == {
        "rpn": {"ip": "198.51.100.13"},
        "role": "arbiter",
        "host_id": None,
        "server_id": None,
    }
    assert {name: h["host_id"] for name, h in hosts.items() if h["role"] == "hypervisor"} == {
        "hyp1": 1,
        "hyp2": 2,
    }


# ---------------------------------------------------------------- timings


def test_the_lab_pillar_has_the_default_timings():
    cfg = build(pc.lab_pillar(), host="hyp2")
    assert cfg["timings"] == {
        "io_timeout": 2,
        "renewal": 4,
        "renewal_fail": 16,
        "watchdog_fire_timeout": 60,
        "host_dead": 76,
        "kill_grace": 10,
        "ping_timeout": 5,
        "takeover_after": 76,
    }
    assert (cfg["sanlock"]["daemon_opts"], cfg["sanlock"]["lockspace"]["io_timeout"]) == ("-w 0 -g 10", 2)


def test_timings_follow_the_pillar_where_the_watchdog_fire_timeout_is_settable():
    pillar = pc.case_pillar(
        pc._both(
            pc._put(
                ("hypervisor", "sanlock"), {"io_timeout": 5, "watchdog_fire_timeout": 90, "kill_grace": 20}
            ),
            pc._put((*LEASE_OPTIONS, "network.ping-timeout"), 20),
        )
    )
    cfg = build(pillar, family="RedHat")
    assert cfg["timings"] == {
        "io_timeout": 5,
        "renewal": 10,
        "renewal_fail": 40,
        "watchdog_fire_timeout": 90,
        "host_dead": 130,
        "kill_grace": 20,
        "ping_timeout": 20,
        "takeover_after": 130,
    }
    assert cfg["sanlock"]["conf_settings"] == {"watchdog_fire_timeout": 90}
    assert cfg["gluster"]["volumes"]["sanlock"]["options"]["network.ping-timeout"] == "20"


@pytest.mark.parametrize(("grace", "refused"), [(5, False), (6, True)])
def test_rule_c_uses_the_settable_watchdog_fire_timeout(grace, refused):
    """kill_grace + 2 x io_timeout < watchdog_fire_timeout: 5 + 4 < 10, 6 + 4 is not."""
    pillar = pc.case_pillar(
        pc._put(
            ("hypervisor", "sanlock"), {"io_timeout": 2, "watchdog_fire_timeout": 10, "kill_grace": grace}
        )
    )
    errors = validate(pillar, family="RedHat")
    assert bool([e for e in errors if e.startswith("pillar key 'hypervisor:sanlock:kill_grace'")]) is refused


# ---------------------------------------------------------------- takeover


@pytest.mark.parametrize(
    ("arbiter", "enabled", "on"),
    [
        (False, "auto", False),
        (True, "auto", True),
        (True, False, False),
        (True, True, True),
        (False, False, False),
    ],
)
def test_takeover_enabled_resolved(arbiter, enabled, on):
    mutation = pc._put(("hypervisor", "takeover", "enabled"), enabled)
    pillar = with_arbiter(mutation) if arbiter else without_arbiter(mutation)
    takeover = build(pillar)["takeover"]
    assert takeover == {
        "enabled": on,
        "poll_interval": 2,
        "fence": True,
        "rescue_image": "",
        "incidents_dir": "/var/lib/libvirt/qemu/save/.hv-incidents",
        "script": "/usr/local/sbin/hv-takeover",
        "unit": "hv-takeover",
    }


def test_takeover_settings_from_the_pillar():
    takeover = {
        "incidents_dir": "/var/lib/libvirt/sanlock/incidents",
        "rescue_image": "ubuntu-22.04",
        "fence": False,
    }
    cfg = build(with_arbiter(pc._put(("hypervisor", "takeover"), takeover)))
    assert {key: cfg["takeover"][key] for key in takeover} == takeover


# ---------------------------------------------------------------- refusals, word for word

TIMEOUT = "hypervisor:gluster:volumes:sanlock:options:network.ping-timeout"
REFUSALS = [
    (
        "old-arbiter-key",
        pc._put(("hypervisor", "gluster", "arbiter"), "hyp2"),
        "pillar key 'hypervisor:gluster:arbiter': is no longer read: the arbiter is a host's role now;"
        " set hypervisor:hosts:<name>:role: arbiter on that host instead",
    ),
    (
        "role-unknown",
        pc._set(("hypervisor", "hosts", "hyp2", "role"), "witness"),
        "pillar key 'hypervisor:hosts:hyp2:role': 'witness' is not one of hypervisor, arbiter",
    ),
    (
        "two-arbiters",
        pc._hosts(arb1=pc.ARB1, arb2=pc.ARB2),
        "pillar key 'hypervisor:hosts:arb2:role': only one host can be the arbiter, and pillar key"
        " 'hypervisor:hosts:arb1:role' is",
    ),
    (
        "arbiter-host-id",
        pc._hosts(arb1=dict(pc.ARB1, host_id=3)),
        "pillar key 'hypervisor:hosts:arb1:host_id': an arbiter joins no sanlock lockspace (its brick"
        " already gives the lease volume its majority, and a host id would need libvirt and sanlock"
        " there): remove it",
    ),
    (
        "arbiter-server-id",
        pc._hosts(arb1=dict(pc.ARB1, online_server_id=1003)),
        "pillar key 'hypervisor:hosts:arb1:online_server_id': nothing of an arbiter is moved or fenced"
        " through the provider's API: remove it",
    ),
    (
        "peer-is-the-arbiter",
        pc._both(pc._hosts(arb1=pc.ARB1), pc._set(("hypervisor", "hosts", "hyp2", "peer"), "arb1")),
        "pillar key 'hypervisor:hosts:hyp2:peer': 'arb1' is the arbiter, which carries no guest: pair this"
        " host with another",
    ),
    (
        "ping-timeout-rule-b",
        pc._put((*LEASE_OPTIONS, "network.ping-timeout"), "9"),
        f"pillar key '{TIMEOUT}': 9 s must be at most half of sanlock's renewal-fail time,"
        " 8 x hypervisor:sanlock:io_timeout (16 s): when a host dies, the survivor's own lease renewals"
        " would fail while gluster waits for it",
    ),
    (
        "ping-timeout-not-seconds",
        pc._put(("hypervisor", "gluster", "volumes", "vmstore", "options", "network.ping-timeout"), "0"),
        "pillar key 'hypervisor:gluster:volumes:vmstore:options:network.ping-timeout': '0' is not a number"
        " of seconds above 0",
    ),
    (
        "kill-grace-rule-c",
        pc._put(("hypervisor", "sanlock", "kill_grace"), 56),
        "pillar key 'hypervisor:sanlock:kill_grace': 56 s + 2 x hypervisor:sanlock:io_timeout (4 s) must be"
        " below hypervisor:sanlock:watchdog_fire_timeout (60 s): a cut host's guests must be dead before"
        " the others may take their leases",
    ),
    (
        "watchdog-fire-timeout-fixed",
        pc._put(("hypervisor", "sanlock", "watchdog_fire_timeout"), 90),
        "pillar key 'hypervisor:sanlock:watchdog_fire_timeout': 90 s cannot be set: sanlock on this OS"
        " family (3.8) has it fixed at 60 s",
    ),
    (
        "fixed-is-no-pillar-setting",
        pc._put(("hypervisor", "sanlock", "watchdog_fire_timeout_fixed"), 60),
        "pillar key 'hypervisor:sanlock:watchdog_fire_timeout_fixed': is set by the OS family (its"
        " sanlock fixes it), not a pillar setting",
    ),
    (
        "takeover-without-arbiter",
        pc._both(pc._no_arbiter, pc._put(("hypervisor", "takeover", "enabled"), True)),
        "pillar key 'hypervisor:takeover:enabled': automatic takeover needs a majority: add a host with"
        " role arbiter, or a third host with guests (replica 2 has no quorum: a cut private link would"
        " let both hosts take the leases)",
    ),
    (
        "takeover-enabled-unknown",
        pc._put(("hypervisor", "takeover", "enabled"), "sometimes"),
        "pillar key 'hypervisor:takeover:enabled': 'sometimes' is not one of auto, true, false",
    ),
    (
        "takeover-lease-quorum-off",
        pc._both(pc._hosts(arb1=pc.ARB1), pc._put((*LEASE_OPTIONS, "cluster.quorum-type"), "fixed")),
        "pillar key 'hypervisor:gluster:volumes:sanlock:options:cluster.quorum-type': 'fixed' takes client"
        " quorum off the lease volume while takeover is on (hypervisor:takeover:enabled): a host cut off"
        " from the others could still write the leases; leave it auto",
    ),
    (
        "incidents-outside-gluster",
        pc._put(("hypervisor", "takeover", "incidents_dir"), "/var/lib/hv-incidents"),
        "pillar key 'hypervisor:takeover:incidents_dir': '/var/lib/hv-incidents' is not under a gluster"
        " volume's mount (/var/lib/libvirt/images, /var/lib/libvirt/qemu/save, /var/lib/libvirt/sanlock):"
        " the incidents must be on shared storage that client quorum protects",
    ),
    (
        "incidents-relative",
        pc._put(("hypervisor", "takeover", "incidents_dir"), "incidents"),
        "pillar key 'hypervisor:takeover:incidents_dir': 'incidents' is not an absolute path",
    ),
    (
        "rescue-image-not-a-name",
        pc._put(("hypervisor", "takeover", "rescue_image"), "debian 12; reboot"),
        "pillar key 'hypervisor:takeover:rescue_image': 'debian 12; reboot' is not an image name"
        ' ("": the API\'s first)',
    ),
]


@pytest.mark.parametrize(("case", "mutation", "line"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_dead_host_refusal_says_why(case, mutation, line):
    assert validate(pc.case_pillar(mutation)) == [line]
