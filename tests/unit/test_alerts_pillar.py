"""Where the alerts' secrets live (issue 25): the master's own pillar id alone gets
alerts.sls (pillar/top.sls through the nodegroup alerts_master, compiled by Salt's own
pillar compiler as the master compiles it), and a host's pillar that has ``alerts:`` is
refused by the key, with none of its values shown (a webhook URL, a token, a password,
a private key) and no other check echoing them."""

import copy

import pytest
import salt.config
import salt.pillar

from tests.loaders import REPO, hv_validate, layered_parameters
from tests.pillar_cases import lab_pillar

FAKE_TOKEN = "alerts-FAKE-token-Zq81xW"
HOOK = f"https://hooks.example.net/services/T00/B00/{FAKE_TOKEN}"
ALERTS = {
    "webhook": {"url": HOOK, "token": FAKE_TOKEN},
    "mail": {"host": "smtp.example.net", "user": "alerts", "password": f"{FAKE_TOKEN}-pw", "to": ["x"]},
    "label": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-"
    "----",
}
MASTER_ID = "hvlab_master"


@pytest.mark.parametrize("host", ["hyp1", "arb1"])
def test_a_hosts_pillar_with_the_alerts_part_is_refused_by_its_key(host):
    pillar = dict(lab_pillar(host), alerts=copy.deepcopy(ALERTS))
    errors = hv_validate.validate(pillar, layered_parameters("Debian"), host)
    assert errors == [
        f"pillar key 'alerts': reaches the host '{host}': the alerts' settings and credentials are the"
        " master's alone; give alerts.sls to the nodegroup 'alerts_master' only (pillar/top.sls,"
        " master.d/alerts.conf), never to a host"
    ]


def test_an_alerts_secret_pasted_elsewhere_in_a_hosts_pillar_is_not_shown():
    pillar = dict(lab_pillar("hyp1"), alerts=copy.deepcopy(ALERTS))
    pillar["hypervisor"]["domain"] = HOOK
    errors = hv_validate.validate(pillar, layered_parameters("Debian"), "hyp1")
    assert any(e.startswith("pillar key 'hypervisor:domain':") for e in errors), errors
    assert FAKE_TOKEN not in "\n".join(errors) and "hooks.example.net" not in "\n".join(errors)


def test_the_master_alone_gets_alerts_sls(tmp_path):
    """The repository's pillar/top.sls, behind a cluster's own alerts.sls (as
    /etc/salt/hypervisor-pillar/ shadows pillar/), compiled by Salt for the master's id
    and for the hosts, with master.d's nodegroups."""
    own = tmp_path / "hypervisor-pillar"
    own.mkdir()
    (own / "alerts.sls").write_text(f"alerts:\n  webhook:\n    url: {HOOK}\n    token: {FAKE_TOKEN}\n")
    opts = salt.config.master_config(None)
    opts.update(
        id=MASTER_ID,
        cachedir=str(tmp_path / "cache"),
        pki_dir=str(tmp_path / "pki"),
        file_roots={"base": [str(REPO / "salt")]},
        pillar_roots={"base": [str(own), str(REPO / "pillar")]},
        nodegroups={
            "hypervisors": "L@hyp1,hyp2,arb1",
            "guest_hosts": "L@hyp1,hyp2",
            "alerts_master": f"L@{MASTER_ID}",
        },
    )

    def compiled(minion_id):
        return salt.pillar.Pillar(opts, {"id": minion_id}, minion_id, "base").compile_pillar()

    master = compiled(MASTER_ID)
    assert master == {"alerts": {"webhook": {"url": HOOK, "token": FAKE_TOKEN}}}
    for host in ("hyp1", "hyp2", "arb1"):
        pillar = compiled(host)
        assert "hypervisor" in pillar and "alerts" not in pillar, host
        assert FAKE_TOKEN not in repr(pillar)
    # Without master.d/alerts.conf the nodegroup is unknown: nobody gets the file.
    del opts["nodegroups"]["alerts_master"]
    assert "alerts" not in compiled(MASTER_ID)
