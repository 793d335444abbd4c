"""The real result of state.apply on each lab host (F2, F3, F6-F9, F11, F12, F18)."""

import ipaddress

import pytest

from tests.lab.conftest import failed
from tests.pillar_cases import lab_pillar

pytestmark = pytest.mark.lab
HOSTS = ("hyp1", "hyp2")
PILLAR = lab_pillar()["hypervisor"]


@pytest.mark.parametrize("host", HOSTS)
def test_sysctl_live_and_persisted(lab, host):
    assert lab.sh(host, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6").strip() == "1"
    persisted = lab.sh(host, "cat /etc/sysctl.d/90-hypervisor.conf")
    assert "vm.swappiness = 0" in persisted
    assert "vm.vfs_cache_pressure = 10000" in persisted


def test_sysctl_read_only_knobs_are_reported_not_faked(lab):
    """vm.* belongs to the lab machine's kernel: the state must say so."""
    assert lab.sh("hyp1", "test -w /proc/sys/vm/swappiness || echo ro").strip() == "ro"
    rc, data, text = lab.salt("hyp1", "state.sls", "sysctl.live")
    assert rc == 0, text
    ret = next(r for k, r in data["hyp1"].items() if "sysctl-live-values-applied" in k)
    assert ret["result"] is True
    assert "not writable here: vm.swappiness, vm.vfs_cache_pressure" in ret["comment"]
    assert any(w.startswith("vm.swappiness: the running kernel keeps") for w in ret["warnings"])


@pytest.mark.parametrize("host", HOSTS)
def test_libvirtd_running_on_its_socket_only(lab, host):
    assert lab.sh(host, "systemctl is-active libvirtd; systemctl is-enabled libvirtd").split() == [
        "active",
        "enabled",
    ]
    assert lab.sh(host, "stat -c '%a %G' /run/libvirt/libvirt-sock").strip() == "770 libvirt"
    listeners = lab.sh(host, "ss -Hltn")
    assert ":16509" not in listeners and ":16514" not in listeners
    tcp = lab.sh(host, "systemctl is-enabled libvirtd-tcp.socket libvirtd-tls.socket", check=False)
    assert tcp.split() == ["disabled", "disabled"]
    assert lab.sh(host, "systemctl is-enabled libvirt-guests", check=False).strip() == "disabled"


@pytest.mark.parametrize("host", HOSTS)
def test_guests_never_autostart(lab, host):
    assert "i" in lab.sh(host, "lsattr -d /etc/libvirt/qemu/autostart").split()[0]
    assert lab.sh(host, "virsh -q net-list --all --name").strip() == ""


@pytest.mark.parametrize("host", HOSTS)
def test_ksm_settings(lab, host):
    conf = dict(
        line.split("=", 1) for line in lab.sh(host, "cat /etc/ksmtuned.conf").splitlines() if "=" in line
    )
    assert conf["KSM_NPAGES_BOOST"] == "600"
    assert conf["KSM_THRES_COEF"] == "45"
    assert conf["KSM_SLEEP_MSEC"] == "5"
    assert "/var/log/ksmtuned.log" in lab.sh(host, "cat /etc/logrotate.d/ksmtuned")
    assert lab.sh(host, "systemctl is-enabled ksm ksmtuned").split() == ["enabled", "enabled"]


def test_ksm_not_started_where_the_kernel_is_not_ours_and_says_so(lab):
    writable = lab.sh("hyp1", "test -w /sys/kernel/mm/ksm/run && echo yes || echo no").strip()
    rc, data, text = lab.salt("hyp1", "state.sls", "ksm.service")
    assert rc == 0, text
    notices = [r for k, r in data["hyp1"].items() if "ksm-service-kernel-read-only" in k]
    if writable == "no":
        assert notices and "not writable here" in notices[0]["comment"]
        assert lab.sh("hyp1", "systemctl is-active ksmtuned", check=False).strip() != "active"
    else:
        assert lab.sh("hyp1", "systemctl is-active ksmtuned").strip() == "active"


@pytest.mark.parametrize(("host", "peer"), [("hyp1", "hyp2"), ("hyp2", "hyp1")])
def test_peer_resolves_and_answers_jumbo_frames(lab, host, peer):
    peer_ip = PILLAR["hosts"][peer]["rpn"]["address"].split("/")[0]
    assert lab.sh(host, "getent hosts peer").split()[:2] == [peer_ip, f"{peer}.lab.example"]
    assert lab.sh(host, f"getent hosts {peer}").split()[0] == peer_ip
    # 8972 bytes of payload + 28 of headers = 9000, with "don't fragment".
    lab.sh(host, "ping -c 1 -W 2 -M do -s 8972 peer")


@pytest.mark.parametrize("host", HOSTS)
def test_rpn_interface(lab, host):
    rpn = PILLAR["hosts"][host]["rpn"]
    link = lab.sh(host, f"ip -o link show {rpn['interface']}")
    assert "mtu 9000" in link and rpn["mac"] in link
    addr = lab.sh(host, f"ip -o -4 addr show {rpn['interface']}")
    assert str(ipaddress.ip_interface(rpn["address"])) in addr


@pytest.mark.parametrize("host", HOSTS)
def test_bridges_exist(lab, host):
    bridges = lab.sh(host, "ip -o link show type bridge")
    for bridge in PILLAR["bridges"].values():
        assert f" {bridge['name']}:" in bridges


@pytest.mark.parametrize("host", HOSTS)
def test_admin_user(lab, host):
    assert "libvirt" in lab.sh(host, "id -nG fws").split()
    keys = lab.sh(host, "cat ~fws/.ssh/authorized_keys")
    assert PILLAR["admins"][0]["ssh_keys"][0].split()[1] in keys


@pytest.mark.parametrize("host", HOSTS)
def test_no_competing_firewall(lab, host):
    """The lab enables nftables.service in its image; F2 turns it off."""
    state = lab.sh(host, "systemctl is-enabled nftables; systemctl is-active nftables", check=False)
    assert state.split() == ["disabled", "inactive"]


def test_no_failed_state_in_a_full_apply(lab):
    rc, data, text = lab.apply()
    assert rc == 0, text
    for host in HOSTS:
        assert failed(data[host]) == []
