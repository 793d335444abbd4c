"""The highstate renders for hyp1 and hyp2 on Debian 12 and EL 9, with every
feature of the foundation present and no duplicate state IDs."""

import collections

import pytest
import yaml

from tests.pillar_cases import lab_pillar
from tests.saltcall import REPO, LocalMinion

HOSTS = ("hyp1", "hyp2")
FAMILIES = ("Debian", "RedHat")

# Feature -> (state module.function, a state ID that must be present).
COMMON = {
    "F2": ("service.dead", "shorewall-competing-firewalld-disabled"),
    "F3": ("file.managed", "sysctl-config-file-managed"),
    "F3-live": ("sysctl_live.applied", "sysctl-live-values-applied"),
    "F5": ("pkg.installed", "tools-admin-packages-installed"),
    "F6": ("pkg.installed", "libvirt-packages-installed"),
    "F6-service": ("service.running", "libvirt-service-running"),
    "F7": ("file.managed", "ksm-config-ksmtuned-conf-managed"),
    "F7-logrotate": ("file.managed", "ksm-config-logrotate-managed"),
    "F7-service": ("service.enabled", "ksm-service-enabled"),
    "F8": ("file.managed", "libvirt-config-libvirtd-conf-managed"),
    "F8-socket": ("file.managed", "libvirt-config-socket-dropin-managed"),
    "F8-autostart": ("cmd.run", "libvirt-autostart-dir-immutable"),
    "F8-guests": ("service.dead", "libvirt-service-libvirt-guests.service-disabled"),
    "F9": ("user.present", "users-fws-present"),
    "F9-keys": ("ssh_auth.present", "users-fws-ssh-keys-present"),
    "F12": ("file.managed", "hosts-file-managed"),
    "F18-default-net": ("cmd.run", "libvirt-default-network-undefined"),
    "F13-glusterd": ("service.running", "gluster-service-running"),
    "F13-brick": ("file.directory", "gluster-brick-vmstore-dir-present"),
    "F13-mount": ("mount.mounted", "gluster-mount-vmstore-mounted"),
    "F13-order": ("file.managed", "gluster-mounts-before-libvirtd.service"),
    "F14": ("file.managed", "sanlock-config-qemu-sanlock-managed"),
    "F14-lock-manager": ("file.keyvalue", "sanlock-config-qemu-lock-manager-set"),
    "F14-service": ("service.running", "sanlock-service-running"),
    "F15": ("service.running", "sanlock-cleanup-timer-running"),
    "F16": ("libvirt_pool.running", "libvirt-pool-iso-running"),
    "F17": ("mount.mounted", "gluster-mount-save-mounted"),
}
PER_FAMILY = {
    "Debian": {
        "F11": ("file.managed", "network-networkd-rpn-managed"),
        "F18": ("file.managed", "network-networkd-bridge-wan-netdev-managed"),
    },
    "RedHat": {
        "F4": ("pkgrepo.managed", "repos-centos-gluster10-managed"),
        "F4-epel": ("pkgrepo.managed", "repos-epel-managed"),
        "F10": ("selinux.boolean", "selinux-boolean-virt_use_fusefs"),
        "F11": ("file.managed", "network-networkmanager-hv-rpn-managed"),
        "F18": ("file.managed", "network-networkmanager-bridge-wan-managed"),
    },
}


@pytest.fixture(scope="module")
def highstates(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("render")
    out = {}
    for host in HOSTS:
        for family in FAMILIES:
            rc, data, text = LocalMinion(tmp, host, family).call("state.show_highstate")
            assert rc == 0 and isinstance(data, dict), f"{host}/{family} failed to render:\n{text}"
            out[host, family] = data
    return out


def _functions(chunk):
    return {
        f"{mod}.{arg}"
        for mod, args in chunk.items()
        if not mod.startswith("__")
        for arg in args
        if isinstance(arg, str)
    }


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("host", HOSTS)
def test_every_feature_present(highstates, host, family):
    states = highstates[host, family]
    for feature, (function, state_id) in {**COMMON, **PER_FAMILY[family]}.items():
        assert state_id in states, f"{feature}: {state_id} missing for {host}/{family}"
        assert function in _functions(states[state_id]), f"{feature}: {state_id} is not {function}"


def test_el_only_features_absent_on_debian(highstates):
    debian = highstates["hyp1", "Debian"]
    assert not [s for s in debian if s.startswith("selinux-boolean-")]
    assert not [s for s in debian if s.startswith("repos-") and s != "repos-sources-ready"]


@pytest.mark.parametrize("family", FAMILIES)
def test_volumes_created_by_one_host_only(highstates, family):
    for name in ("vmstore", "sanlock", "save"):
        assert f"gluster-volume-{name}-present" in highstates["hyp1", family]
        assert f"gluster-volume-{name}-present" not in highstates["hyp2", family]
    peers = [s for s in highstates["hyp2", family] if s.startswith("gluster-peer-")]
    assert peers == ["gluster-peer-hyp1-peered"]


def test_state_ids_unique_across_files():
    """Salt refuses duplicate IDs at compile time; also check the source."""
    ids = collections.Counter()
    for sls in (REPO / "salt").rglob("*.sls"):
        for line in sls.read_text().splitlines():
            if line and not line[0].isspace() and line.endswith(":") and not line.startswith(("{", "#")):
                ids[line[:-1]] += 1
    dupes = {k: v for k, v in ids.items() if v > 1 and k not in ("include", "base")}
    assert not dupes


def test_hosts_render_their_own_values(highstates):
    for host, peer, rpn in (("hyp1", "hyp2", "198.51.100.11/24"), ("hyp2", "hyp1", "198.51.100.12/24")):
        hosts = highstates[host, "Debian"]["hosts-file-managed"]["file"]
        context = next(a["context"] for a in hosts if isinstance(a, dict) and "context" in a)
        assert context["me"] == host and context["peer"] == peer
        rpn_file = highstates[host, "Debian"]["network-networkd-rpn-managed"]["file"]
        context = next(a["context"] for a in rpn_file if isinstance(a, dict) and "context" in a)
        assert context["rpn"]["address"] == rpn


def write_pillar(tmp_path, pillar):
    """A pillar root holding ``pillar`` (keys hypervisor and online) for every host."""
    roots = tmp_path / "pillar"
    roots.mkdir()
    (roots / "top.sls").write_text("base:\n  '*':\n    - hypervisor\n    - online\n")
    for name in ("hypervisor", "online"):
        (roots / f"{name}.sls").write_text(yaml.safe_dump({name: pillar[name]}))
    return roots


def test_invalid_pillar_fails_the_render_naming_the_key(tmp_path):
    pillar = lab_pillar()
    pillar["hypervisor"]["hosts"]["hyp2"]["host_id"] = 1
    roots = write_pillar(tmp_path, pillar)
    rc, _data, text = LocalMinion(tmp_path, "hyp1", "Debian", pillar_roots=[roots]).call(
        "state.show_highstate"
    )
    assert rc != 0
    assert "pillar key 'hypervisor:hosts:hyp2:host_id': 1 is already used by host 'hyp1'" in text


@pytest.mark.parametrize(
    ("bricks", "device"),
    [
        ({"type": "lvm", "vg": "main"}, "/dev/main/vmstore"),
        (
            {"type": "device", "devices": {"vmstore": "/dev/vdb", "sanlock": "/dev/vdc", "save": "/dev/vdd"}},
            "/dev/vdb",
        ),
    ],
    ids=["lvm", "device"],
)
def test_brick_file_systems_are_created_only_on_empty_devices(tmp_path, bricks, device):
    pillar = lab_pillar()
    pillar["hypervisor"]["gluster"] = {"bricks": bricks}
    roots = write_pillar(tmp_path, pillar)
    rc, data, text = LocalMinion(tmp_path, "hyp1", "Debian", pillar_roots=[roots]).call(
        "state.show_sls", "gluster.bricks"
    )
    assert rc == 0, text
    mkfs = data["gluster-brick-vmstore-xfs-created"]["cmd"]
    args = {k: v for a in mkfs if isinstance(a, dict) for k, v in a.items()}
    assert args["name"] == f"mkfs.xfs -i size=512 -L vmstore {device}"
    assert args["unless"] == f"blkid -p {device}"
    mount = {
        k: v
        for a in data["gluster-brick-vmstore-mounted"]["mount"]
        if isinstance(a, dict)
        for k, v in a.items()
    }
    assert (mount["device"], mount["fstype"], mount["name"]) == (device, "xfs", "/mnt/bricks/vmstore")
    assert ("gluster-brick-vmstore-lv-present" in data) == (bricks["type"] == "lvm")
