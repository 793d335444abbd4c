"""The takeover's incident records (B1, B6, B10): created whole or not at all, by one host
only; a record a crash left empty or torn is set aside (kept for a person) once it is old
enough to be no record in the making, and the takeover goes on."""

import logging
import os

import hv_incidents
import pytest

from tests.loaders import hv_views, layered_parameters
from tests.pillar_cases import lab_pillar

LOG = logging.getLogger("test")
ROW = {"host_id": 1, "generation": 7}


def view(host, tmp_path):
    hv = hv_views.build(lab_pillar(), layered_parameters("Debian"), host)
    hv["takeover"]["incidents_dir"] = str(tmp_path / "incidents")
    return hv


@pytest.fixture
def sent():
    return []


def send(sent):
    return lambda tag, data: sent.append((tag, data)) or True


def test_one_host_creates_the_record_whole_and_another_gets_none(tmp_path, sent):
    hyp2, arb1_like = view("hyp2", tmp_path), view("hyp1", tmp_path)
    record = hv_incidents.claim(hyp2, "hyp1", ROW, send(sent), LOG)
    assert record["by"] == "hyp2" and sent[0][0] == "hv/takeover/dead"
    assert hv_incidents.claim(hyp2, "hyp1", ROW, send(sent), LOG) == record  # its own, read back
    assert hv_incidents.claim(arb1_like, "hyp1", ROW, send(sent), LOG) is None
    assert sorted(os.listdir(tmp_path / "incidents")) == ["hyp1-g7.json"]  # no temporary left


def test_an_old_empty_record_is_set_aside_and_the_takeover_goes_on(tmp_path, sent):
    hyp2 = view("hyp2", tmp_path)
    (tmp_path / "incidents").mkdir()
    torn = tmp_path / "incidents" / "hyp1-g7.json"
    torn.write_text("")
    os.utime(torn, (1, 1))
    record = hv_incidents.claim(hyp2, "hyp1", ROW, send(sent), LOG)
    assert record["by"] == "hyp2" and hv_incidents.open_against(hyp2, "hyp1") == [record]
    names = sorted(os.listdir(tmp_path / "incidents"))
    assert names[0] == "hyp1-g7.json" and names[1].startswith("hyp1-g7.json.broken-")


def test_a_record_in_the_making_is_not_taken_for_a_broken_one(tmp_path, sent):
    hyp2 = view("hyp2", tmp_path)
    (tmp_path / "incidents").mkdir()
    (tmp_path / "incidents" / "hyp1-g7.json").write_text("")
    assert hv_incidents.claim(hyp2, "hyp1", ROW, send(sent), LOG) is None and sent == []
