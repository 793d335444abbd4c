"""The Salt face of the settings: built once per pillar content in a run (``__context__``),
a copy to each caller, an invalid pillar refused with every problem, the role for the top
file (every state when the pillar is invalid), an unknown OS family refused."""

import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, load
from tests.pillar_cases import lab_pillar

mod = load("_modules", "hypervisor_pillar")


@pytest.fixture
def minion(monkeypatch):
    """The module as the loader gives it to arb1 (Debian), counting the builds."""
    builds = []
    real = hv_views.build

    def counted(*args):
        builds.append(args[2])
        return real(*args)

    monkeypatch.setattr(mod.hv_views, "build", counted)
    monkeypatch.setattr(mod, "__pillar__", lab_pillar("arb1"), raising=False)
    monkeypatch.setattr(mod, "__grains__", {"id": "arb1", "os_family": "Debian"}, raising=False)
    monkeypatch.setattr(mod, "__context__", {}, raising=False)
    return builds


def test_settings_are_built_once_per_pillar_and_each_caller_gets_a_copy(minion, monkeypatch):
    first = mod.settings()
    first["me"]["role"] = "changed by a caller"
    assert mod.settings()["me"]["role"] == "arbiter" and minion == ["arb1"]
    pillar = lab_pillar("arb1")
    pillar["hypervisor"]["firewall"]["rollback_after"] = 120
    monkeypatch.setattr(mod, "__pillar__", pillar)
    assert mod.settings()["firewall"]["rollback_after"] == 120 and minion == ["arb1", "arb1"]


def test_an_invalid_pillar_is_refused_with_its_problems_and_the_top_file_lists_every_state(
    minion, monkeypatch
):
    pillar = lab_pillar("arb1")
    pillar["hypervisor"]["firewall"]["rollback_after"] = 5
    monkeypatch.setattr(mod, "__pillar__", pillar)
    with pytest.raises(
        CommandExecutionError, match=r"hypervisor:firewall:rollback_after': 5 is out of range"
    ):
        mod.settings()
    assert mod.role() == "hypervisor"
    assert mod.check() == ["pillar key 'hypervisor:firewall:rollback_after': 5 is out of range 30..900"]


def test_role_of_the_arbiter_and_of_a_host_that_carries_guests(minion, monkeypatch):
    assert mod.role() == "arbiter"
    monkeypatch.setattr(mod, "__grains__", {"id": "hyp1", "os_family": "RedHat"})
    assert mod.role() == "hypervisor" and mod.check() == []


def test_an_unknown_os_family_is_refused(minion, monkeypatch):
    monkeypatch.setattr(mod, "__grains__", {"id": "hyp1", "os_family": "Gentoo"})
    with pytest.raises(CommandExecutionError, match="OS family 'Gentoo' is not supported"):
        mod.settings()
