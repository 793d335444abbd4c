"""The metrics execution module (issue 25), loaded as the real file, on the lab's pillar with
hypervisor:metrics enabled.

Real here: the settings (``hypervisor_pillar.settings`` on the lab's pillar, its shared and
state directories moved into a temporary directory), ``takeover.quorum`` and
``takeover.incidents`` (the takeover module, reading incident records that hv_incidents
writes there), the last evacuation as hv_marks records it, gluster's and sanlock's parsers
on the outputs captured from the lab. Faked, each with ``create_autospec`` of that module's
real function (the project's rule): what needs libvirt (``guests.list_local``), the sanlock
daemon (``sanlock.status``), glusterd (``gluster.peer_status``, ``volume_info``,
``heal_info``, ``split_brain``) or the provider's API (``online.last_poll``).

What is checked: the file as the textfile collector reads it (every series from these
answers, mode 0644, written whole: no temporary file left, an old file replaced), each
source that fails (an exception, an answer that says it failed, a source that hangs past the
timeout) down in ``hv_metrics_source_up`` with its series left out and nothing raised; the
arbiter asks gluster alone; an invalid pillar; nothing written while disabled; no secret of
the pillar in the file or the return; a source's failure logged once."""

import logging
import os
import stat
import threading
import time
from unittest.mock import create_autospec

import hv_incidents
import hv_marks
import hv_metrics
import pytest
import salt.config
import salt.loader

from tests.loaders import REPO, hypervisor_pillar, load
from tests.pillar_cases import HETZNER, lab_pillar, to_hetzner
from tests.unit.test_cluster_module import fixture, sanlock_status

metrics = load("_modules", "metrics")
takeover = load("_modules", "takeover")
gluster = load("_modules", "gluster")
guests = load("_modules", "guests")
guest_backup = load("_modules", "guest_backup")
online = load("_modules", "online")
sanlock = load("_modules", "sanlock")

IP1, IP2 = "203.0.113.101", "203.0.113.102"
# guest_backup.last's records: vm1's last backup failed (its previous one worked), vm2's worked.
BACKUPS = {
    "vm1": {
        "guest": "vm1", "host": "hyp1", "result": "failed", "started": "2024-06-02T04:00:00+00:00",
        "finished": "2024-06-02T04:00:30+00:00", "seconds": 30.0, "bytes": None, "why": "no room",
        "last_success": {"finished": "2024-06-01T04:01:00+00:00", "backup": "20240601T040000Z"},
    },
    "vm2": {
        "guest": "vm2", "host": "hyp1", "result": "done", "started": "2024-06-02T04:00:00+00:00",
        "finished": "2024-06-02T04:02:00+00:00", "seconds": 120.0, "bytes": 1048576,
        "last_success": {"finished": "2024-06-02T04:02:00+00:00", "backup": "20240602T040000Z"},
    },
}  # fmt: skip
TOKEN = lab_pillar()["online"]["api_token"]


def pillar_with_metrics(**metrics_settings):
    pillar = lab_pillar()
    pillar["hypervisor"]["metrics"] = {"enabled": True, **metrics_settings}
    return pillar


@pytest.fixture
def pillar():
    return pillar_with_metrics()


@pytest.fixture
def grains():
    return {"id": "hyp1", "os_family": "Debian"}


@pytest.fixture
def settings(tmp_path):
    """The real settings, their directories in ``tmp_path``: what a test reads and writes."""

    def moved():
        hv = real_settings()
        hv["evacuation"]["state_dir"] = str(tmp_path / "state")
        hv["takeover"]["incidents_dir"] = str(tmp_path / "incidents")
        hv["metrics"]["file"] = str(tmp_path / "textfile" / "hv.prom")
        return hv

    real_settings = hypervisor_pillar.settings
    return create_autospec(hypervisor_pillar.settings, side_effect=moved)


@pytest.fixture
def salt_mods(settings):
    parse = gluster.parse_heal_info
    split = {"vmstore": "gluster/split_brain_sbtest.xml"}  # one entry on each of its two bricks
    return {
        "hypervisor_pillar.settings": settings,
        "guests.list_local": create_autospec(
            guests.list_local,
            return_value={
                "vm1": {"state": "running", "persistent": True},
                "vm2": {"state": "shut off", "persistent": True},
            },
        ),
        "sanlock.status": create_autospec(sanlock.status, return_value=sanlock_status()),
        "gluster.peer_status": create_autospec(
            gluster.peer_status, return_value=gluster.parse_peers(fixture("gluster/peer_status.xml"))
        ),
        "gluster.volume_info": create_autospec(
            gluster.volume_info,
            return_value=gluster.parse_volume_info(fixture("gluster/volume_info_all.xml")),
        ),
        "gluster.heal_info": create_autospec(
            gluster.heal_info, side_effect=lambda name: parse(fixture("gluster/heal_info_vmstore.xml"))
        ),
        "gluster.split_brain": create_autospec(
            gluster.split_brain,
            side_effect=lambda name: parse(fixture(split.get(name, "gluster/split_brain_vmstore.xml"))),
        ),
        "takeover.quorum": takeover.quorum,
        "takeover.incidents": takeover.incidents,
        "online.last_poll": create_autospec(
            online.last_poll,
            return_value={"result": True, "ips": [IP1, IP2], "answered": [IP1], "kind": None, "comment": ""},
        ),
        "guest_backup.last": create_autospec(guest_backup.last, return_value=BACKUPS),
    }


@pytest.fixture
def configure_loader_modules(salt_mods, pillar, grains):
    return {
        metrics: {"__salt__": salt_mods, "__pillar__": pillar, "__grains__": grains, "__context__": {}},
        takeover: {"__salt__": salt_mods, "__pillar__": pillar},
        hypervisor_pillar: {"__pillar__": pillar, "__grains__": grains, "__context__": {}},
    }


@pytest.fixture
def hv(settings):
    return settings()


def samples(path):
    """The file's samples: ``{line's name and labels: value}``."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def record_incidents(hv):
    """Two takeovers of hyp1 as hv_incidents writes them: generation 2, done and closed; then
    generation 3, opened 40 s later than 2, its fence failed, open."""
    log = logging.getLogger("test")
    send = create_autospec(lambda tag, data: True)
    old = hv_incidents.claim(hv, "hyp1", {"host_id": 1, "generation": 2}, send, log)
    old.update(
        detected="2024-05-01T10:00:00+00:00",
        done="2024-05-01T10:00:41+00:00",
        fence={"result": True, "attempts": 1, "at": "2024-05-01T10:00:40+00:00"},
    )
    hv_incidents.save(hv, old)
    hv_incidents.close(hv, "hyp1", send, log)
    new = hv_incidents.claim(hv, "hyp1", {"host_id": 1, "generation": 3}, send, log)
    new.update(
        detected="2024-06-01T10:00:00+00:00",
        fence={"result": False, "attempts": 10, "at": "2024-06-01T10:05:00+00:00"},
    )
    hv_incidents.save(hv, new)


def test_write_on_a_host_with_guests(hv, tmp_path):
    record_incidents(hv)
    hv_marks.record_evacuation(hv, {"host": "hyp1", "guests": {}, "seconds": 12.5, "result": False})
    ret = metrics.write()
    path = tmp_path / "textfile" / "hv.prom"
    assert ret["written"] is True and ret["path"] == str(path)
    assert ret["errors"] == {}
    assert ret["sources"] == dict.fromkeys(hv_metrics.SOURCES, True)
    found = samples(path)
    evacuated = found.pop("hv_evacuation_last_timestamp_seconds")
    assert abs(float(evacuated) - time.time()) < 60
    ran = found.pop("hv_metrics_last_run_timestamp_seconds")
    assert abs(float(ran) - time.time()) < 60 and float(found.pop("hv_metrics_collect_duration_seconds")) < 10
    volumes = ("sanlock", "save", "vmstore")
    assert found == {
        "hv_guests_running": "1",
        "hv_guests_defined": "2",
        "hv_lockspace_joined": "1",
        # hyp1 itself and hyp2 (the captured peer status) of the lab's three brick hosts
        "hv_quorum": "1",
        **{f'hv_gluster_volume_started{{volume="{v}"}}': "1" for v in volumes},
        **{f'hv_gluster_heal_entries{{volume="{v}"}}': "0" for v in volumes},
        'hv_gluster_split_brain_entries{volume="sanlock"}': "0",
        'hv_gluster_split_brain_entries{volume="save"}': "0",
        'hv_gluster_split_brain_entries{volume="vmstore"}': "2",
        "hv_incidents_open": "1",
        # IP2 is routed here and not answered
        "hv_failover_ips_mismatched": "1",
        "hv_evacuation_last_success": "0",
        "hv_evacuation_last_duration_seconds": "12.5",
        "hv_takeover_last_timestamp_seconds": str(hv_metrics.timestamp("2024-06-01T10:00:00+00:00")),
        "hv_fence_last_success": "0",
        "hv_fence_last_timestamp_seconds": str(hv_metrics.timestamp("2024-06-01T10:05:00+00:00")),
        'hv_backup_last_success{guest="vm1"}': "0",
        'hv_backup_last_timestamp_seconds{guest="vm1"}': str(
            hv_metrics.timestamp("2024-06-02T04:00:30+00:00")
        ),
        'hv_backup_last_duration_seconds{guest="vm1"}': "30.0",
        'hv_backup_last_success_timestamp_seconds{guest="vm1"}': str(
            hv_metrics.timestamp("2024-06-01T04:01:00+00:00")
        ),
        'hv_backup_last_success{guest="vm2"}': "1",
        'hv_backup_last_timestamp_seconds{guest="vm2"}': str(
            hv_metrics.timestamp("2024-06-02T04:02:00+00:00")
        ),
        'hv_backup_last_duration_seconds{guest="vm2"}': "120.0",
        'hv_backup_last_bytes{guest="vm2"}': "1048576",
        'hv_backup_last_success_timestamp_seconds{guest="vm2"}': str(
            hv_metrics.timestamp("2024-06-02T04:02:00+00:00")
        ),
        **{f'hv_metrics_source_up{{source="{s}"}}': "1" for s in hv_metrics.SOURCES},
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(path.parent) == ["hv.prom"]  # no temporary file left behind
    text = path.read_text()
    assert {k: ret[k] for k in ("families", "samples", "bytes")} == hv_metrics.counts(text)


def test_the_file_is_replaced_whole(tmp_path):
    path = tmp_path / "textfile" / "hv.prom"
    path.parent.mkdir()
    path.write_text("hv_old_series 1\n")
    os.chmod(path, 0o600)
    assert metrics.write()["written"] is True
    assert "hv_old_series" not in path.read_text() and stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_each_failing_source_is_down_and_its_series_left_out(salt_mods, tmp_path):
    salt_mods["sanlock.status"].side_effect = OSError("no sanlock here")

    def split_brain(name):
        if name == "save":
            raise RuntimeError(f"gluster: Volume {name} is not started")
        return gluster.parse_heal_info(fixture("gluster/split_brain_vmstore.xml"))

    salt_mods["gluster.split_brain"].side_effect = split_brain
    salt_mods["online.last_poll"].return_value = {
        "result": False,
        "ips": [],
        "answered": [IP1],
        "kind": "auth",
        "comment": "not sent: hetzner's API refused these credentials",
    }
    del salt_mods["guests.list_local"]
    ret = metrics.write()
    assert ret["written"] is True
    assert ret["sources"] == {
        "settings": True,
        "guests": False,
        "sanlock": False,
        "quorum": False,  # takeover.quorum asks sanlock.status too
        "gluster": False,
        "incidents": True,
        "evacuation": True,
        "failover": False,
        "backups": True,
    }
    assert ret["errors"] == {
        "guests": "guests.list_local is not available here (saltutil.sync_modules)",
        "sanlock": "no sanlock here",
        "quorum": "no sanlock here",
        "gluster": "save: gluster: Volume save is not started",
        "failover": "auth: not sent: hetzner's API refused these credentials",
    }
    found = samples(tmp_path / "textfile" / "hv.prom")
    for gone in ("hv_guests_running", "hv_lockspace_joined", "hv_quorum", "hv_failover_ips_mismatched"):
        assert gone not in found
    assert 'hv_gluster_heal_entries{volume="save"}' in found  # its heal answered
    assert 'hv_gluster_split_brain_entries{volume="save"}' not in found
    assert found['hv_gluster_split_brain_entries{volume="vmstore"}'] == "0"
    assert found['hv_metrics_source_up{source="sanlock"}'] == "0"
    # no evacuation, no incident on record: nothing to say, and the sources answered
    assert "hv_evacuation_last_success" not in found and found["hv_incidents_open"] == "0"


def test_a_source_that_hangs_is_down_after_the_timeout(salt_mods):
    release = threading.Event()
    salt_mods["guests.list_local"].side_effect = lambda: release.wait(30) and {}
    started = time.monotonic()
    try:
        facts = metrics.collect(timeout=0.5)
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert facts["sources"]["guests"] is False and "guests" not in facts
    assert facts["errors"]["guests"] == "no answer within 0.5 s"
    assert facts["sources"]["gluster"] is True and facts["quorum"] is True


def test_the_default_timeout_is_the_interval_less_5_s(salt_mods, monkeypatch):
    waited = []
    real = metrics._gather
    monkeypatch.setattr(
        metrics, "_gather", lambda plan, hv, timeout: waited.append(timeout) or real(plan, hv, 5)
    )
    metrics.collect()
    assert waited == [25.0]


def test_a_stopped_volume_is_said_so_without_its_heal(salt_mods, tmp_path):
    info = gluster.parse_volume_info(fixture("gluster/volume_info_all.xml"))
    info["save"]["status"] = "Stopped"
    salt_mods["gluster.volume_info"].return_value = info
    facts = metrics.collect()
    assert facts["sources"]["gluster"] is True
    assert facts["volumes"]["save"] == {"started": False}
    assert [c.args[0] for c in salt_mods["gluster.heal_info"].call_args_list] == ["sanlock", "vmstore"]


def test_the_arbiter_asks_gluster_alone(salt_mods, grains, pillar, tmp_path):
    grains["id"] = "arb1"
    pillar.pop("online")  # the arbiter gets no provider part (pillar/top.sls)
    ret = metrics.write()
    assert ret["sources"] == {"settings": True, "gluster": True}
    for name in ("guests.list_local", "sanlock.status", "online.last_poll", "gluster.peer_status"):
        assert not salt_mods[name].called, name
    assert "hv_guests_running" not in samples(tmp_path / "textfile" / "hv.prom")


def test_without_a_provider_there_is_no_failover_source(salt_mods, pillar):
    """No provider configured (no online part): the proxy ARP is the pillar's, nothing to compare."""
    pillar.pop("online")
    facts = metrics.collect()
    assert "failover" not in facts["sources"] and "failover_mismatched" not in facts
    assert not salt_mods["online.last_poll"].called


def test_an_invalid_pillar_is_a_source_down_and_the_rest_still_answers(pillar, tmp_path):
    del pillar["hypervisor"]["domain"]
    path = tmp_path / "elsewhere.prom"
    ret = metrics.write(path=str(path))
    assert ret["written"] is True
    assert ret["sources"]["settings"] is False and "hypervisor:domain" in ret["errors"]["settings"]
    assert ret["sources"]["evacuation"] is False and ret["sources"]["gluster"] is True
    assert ret["sources"]["guests"] is True and ret["sources"]["failover"] is True
    assert samples(path)['hv_metrics_source_up{source="settings"}'] == "0"


def test_where_the_file_goes_without_settings(pillar, salt_mods):
    """No settings: the schema's directory (a default node exporter's), not a guess of the pillar's."""
    assert metrics._default_file() == "/var/lib/prometheus/node-exporter/hv.prom"


def test_nothing_is_written_while_disabled(pillar, tmp_path):
    pillar["hypervisor"]["metrics"]["enabled"] = False
    ret = metrics.write()
    assert ret["written"] is False and "enabled is false" in ret["comment"]
    assert not (tmp_path / "textfile").exists()
    assert metrics.write(path=str(tmp_path / "asked.prom"))["written"] is True  # asked for: written


def test_a_file_that_cannot_be_written_is_said_so(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    ret = metrics.write(path=str(blocker / "hv.prom"))
    assert ret["written"] is False and "could not be written" in ret["comment"]
    assert metrics.__context__["retcode"] == 1


def test_no_secret_of_the_pillar_reaches_the_file_or_the_return(salt_mods, tmp_path):
    """Even a source whose error held the token (none should): redacted in the return, and
    no error text goes into the file at all."""
    salt_mods["online.last_poll"].return_value = {
        "result": False,
        "ips": [],
        "answered": [],
        "kind": "http",
        "comment": f"HTTP 500 for Bearer {TOKEN}",
    }
    salt_mods["sanlock.status"].side_effect = RuntimeError(f"sanlock said {TOKEN.upper()}")
    ret = metrics.write()
    assert ret["errors"]["failover"] == "http: HTTP 500 for Bearer <redacted>"
    assert ret["errors"]["sanlock"] == "sanlock said <redacted>"
    text = (tmp_path / "textfile" / "hv.prom").read_text()
    for value in lab_pillar()["online"].values():
        if isinstance(value, str) and len(value) > 5:
            assert value not in text and value not in str(ret)
    assert "HTTP 500" not in text and "sanlock said" not in text


def test_a_source_going_down_is_logged_once_and_its_return_too(salt_mods, caplog):
    caplog.set_level(logging.WARNING)
    metrics.write()
    assert not [r for r in caplog.records if "metrics:" in r.getMessage()]
    salt_mods["guests.list_local"].side_effect = OSError("libvirt does not answer")
    metrics.write()
    metrics.write()
    said = [r.getMessage() for r in caplog.records if "metrics:" in r.getMessage()]
    assert said == ["metrics: the source guests failed: libvirt does not answer"]
    salt_mods["guests.list_local"].side_effect = None
    metrics.write()
    said = [r.getMessage() for r in caplog.records if "metrics:" in r.getMessage()]
    assert said[1:] == ["metrics: the source guests answers again"]


def test_collect_writes_nothing(tmp_path):
    facts = metrics.collect()
    assert facts["errors"] == {} and facts["guests"] == {"running": 1, "defined": 2}
    assert not (tmp_path / "textfile").exists()


def test_salt_loader_loads_it_as_metrics(tmp_path):
    opts = salt.config.minion_config(None)
    opts.update(extension_modules=str(tmp_path), module_dirs=[str(REPO / "_modules")], grains={"id": "hyp1"})
    functions = salt.loader.minion_mods(opts, whitelist=["metrics"])
    assert {"metrics.collect", "metrics.write"} <= set(functions)


def test_a_torn_evacuation_record_is_the_evacuation_source_down(hv):
    os.makedirs(hv["evacuation"]["state_dir"])
    with open(
        os.path.join(hv["evacuation"]["state_dir"], hv_marks.LAST_RESULT), "w", encoding="utf-8"
    ) as out:
        out.write('{"result": tr')
    facts = metrics.collect()
    assert facts["sources"]["evacuation"] is False and "evacuation" not in facts
    assert "Expecting" in facts["errors"]["evacuation"]


def test_no_hetzner_credential_reaches_the_file_or_the_return(salt_mods, pillar, tmp_path):
    """A Hetzner cluster's pillar (Robot's user and password): the same."""
    to_hetzner(pillar)
    said = f"HTTP 401 for {HETZNER['user']}:{HETZNER['password']}"
    salt_mods["online.last_poll"].return_value = {"result": False, "ips": [], "answered": [], "kind": "auth"}
    salt_mods["online.last_poll"].return_value["comment"] = said
    ret = metrics.write()
    assert ret["sources"]["settings"] is True and ret["sources"]["failover"] is False
    assert ret["errors"]["failover"] == "auth: HTTP 401 for <redacted>:<redacted>"
    text = (tmp_path / "textfile" / "hv.prom").read_text()
    for value in (HETZNER["user"], HETZNER["password"]):
        assert value not in text and value not in str(ret)
