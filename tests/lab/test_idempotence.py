"""A converged host stays converged; test=True tells the truth and touches nothing."""

import time

import pytest

from tests.lab.conftest import changed, report

pytestmark = pytest.mark.lab
KSM_CONF = "/etc/ksmtuned.conf"


def test_second_apply_changes_nothing(lab):
    lab.apply()  # converge, whatever ran before
    start = time.monotonic()
    rc, data, text = lab.apply()
    elapsed = time.monotonic() - start
    assert rc == 0, text
    for host in ("hyp1", "hyp2"):
        assert changed(data[host]) == [], f"{host} changed on a second apply"
    report(f"converged state.apply on hyp1+hyp2: {elapsed:.1f}s, {len(data['hyp1'])} states each, 0 changes")


def test_test_mode_on_a_converged_host_reports_nothing(lab):
    rc, data, text = lab.apply("test=True")
    assert rc == 0, text
    for host in ("hyp1", "hyp2"):
        assert changed(data[host]) == []


def test_test_mode_reports_exactly_a_hand_change_and_keeps_it(lab):
    original = lab.sh("hyp1", f"cat {KSM_CONF}")
    edited = original.replace("KSM_SLEEP_MSEC=5", "KSM_SLEEP_MSEC=50")
    assert edited != original
    lab.write("hyp1", KSM_CONF, edited)
    try:
        rc, data, text = lab.apply("test=True", target="hyp1")
        assert changed(data["hyp1"]) == ["ksm-config-ksmtuned-conf-managed"], text
        ret = next(r for k, r in data["hyp1"].items() if "ksm-config-ksmtuned-conf-managed" in k)
        assert "-KSM_SLEEP_MSEC=50" in ret["changes"]["diff"]
        assert "+KSM_SLEEP_MSEC=5" in ret["changes"]["diff"]
        assert lab.sh("hyp1", f"cat {KSM_CONF}") == edited, "test=True changed the file"
    finally:
        rc, data, text = lab.apply(target="hyp1")
    assert rc == 0, text
    assert changed(data["hyp1"]) == ["ksm-config-ksmtuned-conf-managed"]
    assert lab.sh("hyp1", f"cat {KSM_CONF}") == original
