"""The hv_status outputter (B3), through Salt's own output path
(``salt.output.out_format`` with ``outputter_dirs`` and ``utils_dirs`` as the
master config sets them): a view prints as ``cluster_view.table`` (salt-run
gives the view itself, salt and salt-call ``{minion: view}``, shown under the
minion's id); anything else prints as ``nested``; ``--out=json`` wins."""

import datetime
import json

import pytest
import salt.config
import salt.loader
import salt.output

from tests.loaders import REPO, load

cv = load("_utils", "cluster_view")
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture
def opts(tmp_path):
    opts = salt.config.minion_config(None)
    opts.update(
        extension_modules=str(tmp_path),
        outputter_dirs=[str(REPO / "_output")],
        utils_dirs=[str(REPO / "_utils")],
        color=False,
    )
    return opts


@pytest.fixture
def view():
    part = {"host": "hyp1", "guests": {"vm1": "running"}, "proxyarp": []}
    return cv.assemble({"hyp1": part}, {"error": "no host answered"}, {"hyp1": {}, "hyp2": {}}, now=NOW)


def test_a_view_prints_as_the_table(opts, view):
    assert salt.output.out_format(view, "hv_status", opts) == cv.table(view)


def test_a_view_with_the_takeover_prints_its_quorum_and_incidents(opts):
    quorum = {"quorum": False, "connected": 1, "of": 3, "lockspace": True, "reason": "not a majority"}
    peers = {"hyp2": {"host_id": 2, "generation": 3, "state": "dead", "silent": 95.0}}
    part = {"host": "hyp1", "guests": {}, "proxyarp": [], "quorum": quorum, "sanlock_hosts": peers}
    part["sanlock"] = {"can_take_guests": True, "reason": "joined", "lockspaces": [], "leases_held": []}
    record = {
        "host": "hyp2",
        "host_id": 2,
        "generation": 3,
        "detected": "2024-05-01T11:50:00+00:00",
        "by": "hyp1",
        "guests": {"vm2": {"outcome": "started", "host": "hyp1", "at": "2024-05-01T11:50:02+00:00"}},
        "failover": None,
        "fence": None,
        "closed": None,
    }
    view = cv.assemble({"hyp1": part}, {"incidents": [record]}, {"hyp1": {}, "hyp2": {}}, now=NOW)
    text = salt.output.out_format(view, "hv_status", opts)
    assert text == cv.table(view)
    assert "  hyp1  yes  ?        ok       no 1/3  hyp2 dead 95 s  -        0        live" in text
    assert (
        "Incidents\n  HOST  DETECTED                   BY    GUESTS       IPS MOVED  FENCE  STATE\n" in text
    )
    assert "  hyp2  2024-05-01T11:50:00+00:00  hyp1  vm2 started  not yet    -      open, in progress" in text


def test_a_view_of_a_minion_prints_under_its_id(opts, view):
    assert salt.output.out_format({"hyp1": view}, "hv_status", opts) == f"hyp1:\n{cv.table(view)}"


def test_anything_else_prints_as_nested(opts):
    data = {"hyp1": "'cluster.status' is not available."}
    hv_status = salt.loader.outputters(opts)["hv_status"]  # called itself: out_format hides a failure
    assert hv_status(data) == salt.output.out_format(data, "nested", opts)


def test_out_json_wins(opts, view):
    opts["output"] = "json"
    assert json.loads(salt.output.out_format(view, "hv_status", opts)) == json.loads(json.dumps(view))
