"""online.synced: the state shape over online.sync_failover. Nothing to do:
result True, no changes. test=True: sync_failover(test=True), result None and
the predicted added/removed when it would change, nothing else called. A
change: changes {added, removed}. A failure (an API error, a failed reload):
result False with sync_failover's comment. First with sync_failover replaced
by a spec of the real function, then through the real module against the
stand-in API."""

import os
from unittest.mock import call, create_autospec

import pytest
import salt.modules.cmdmod
import salt.modules.event
import salt.modules.mine
import salt.modules.pillar
from salt.exceptions import CommandExecutionError

from lab.online_api import StandIn
from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import lab_pillar

online = load("_modules", "online")
online_states = load("_states", "online")
TOKEN = "unit-token-Pq3Lx8Vn1Bz6"
IP1, IP2 = "203.0.113.101", "203.0.113.102"
NAME = "proxyarp"


def sync_ret(**over):
    ret = {
        "result": True,
        "changed": False,
        "added": [],
        "removed": [],
        "ips": [IP1],
        "ignored": [],
        "reloaded": False,
        "garp": [],
        "comment": f"/etc/shorewall/proxyarp answers for {IP1}, as the API says",
    }
    return dict(ret, **over)


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def sync():
    return create_autospec(online.sync_failover, return_value=sync_ret())


@pytest.fixture
def configure_loader_modules(opts, sync):
    return {online_states: {"__salt__": {"online.sync_failover": sync}, "__opts__": opts}}


def test_nothing_to_do(sync):
    assert online_states.synced(NAME) == {
        "name": NAME,
        "changes": {},
        "result": True,
        "comment": f"/etc/shorewall/proxyarp answers for {IP1}, as the API says",
    }
    assert sync.call_args_list == [call(test=False)]


def test_test_mode_predicts_and_passes_test_on(opts, sync):
    opts["test"] = True
    sync.return_value = sync_ret(
        result=None, changed=True, added=[IP2], removed=[IP1], ips=[IP2], comment="would write …"
    )
    assert online_states.synced(NAME) == {
        "name": NAME,
        "changes": {"added": [IP2], "removed": [IP1]},
        "result": None,
        "comment": "would write …",
    }
    assert sync.call_args_list == [call(test=True)]


def test_test_mode_nothing_to_do(opts, sync):
    opts["test"] = True
    ret = online_states.synced(NAME)
    assert (ret["result"], ret["changes"]) == (True, {})


def test_change(sync):
    sync.return_value = sync_ret(
        changed=True, added=[IP2], removed=[], ips=[IP1, IP2], reloaded=True, garp=[IP2], comment="wrote …"
    )
    assert online_states.synced(NAME) == {
        "name": NAME,
        "changes": {"added": [IP2], "removed": []},
        "result": True,
        "comment": "wrote …",
    }


@pytest.mark.parametrize("test", [False, True])
def test_failure(opts, sync, test):
    opts["test"] = test
    said = "Online API: GET /server/1001: HTTP 503 after 3 retries: Service temporarily unavailable"
    sync.return_value = sync_ret(result=False, comment=said)
    assert online_states.synced(NAME) == {"name": NAME, "changes": {}, "result": False, "comment": said}


def test_module_error_is_a_failure(sync):
    sync.side_effect = CommandExecutionError("pillar is invalid, nothing was changed")
    ret = online_states.synced(NAME)
    assert (ret["result"], ret["comment"]) == (False, "pillar is invalid, nothing was changed")


# ------------------------------------------------------- through the real module


class TestThroughTheModule:
    @pytest.fixture
    def standin(self):
        api = StandIn(
            {1001: {"hostname": "sd-1001", "public": "203.0.113.11", "private": None}},
            {IP1: {"destination": "203.0.113.11", "mac": None}},
            TOKEN,
        )
        api.serve()
        yield api
        api.close()

    @pytest.fixture
    def hv(self, tmp_path):
        settings = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp1")
        settings["failover"].update(state_dir=str(tmp_path / "state"), retries=1)
        settings["firewall"]["config_dir"] = str(tmp_path)
        return settings

    @pytest.fixture
    def ran(self):
        return []

    @pytest.fixture
    def configure_loader_modules(self, opts, hv, standin, ran):
        online_pillar = {"api_url": standin.url, "api_token": TOKEN, "allow_http": True}

        def run_all(cmd, *args, **kwargs):
            ran.append(list(cmd))
            return {"retcode": 0, "stdout": "", "stderr": "", "pid": 1}

        mods = {
            "hypervisor_pillar.settings": create_autospec(hypervisor_pillar.settings, return_value=hv),
            "pillar.get": create_autospec(
                salt.modules.pillar.get, side_effect=lambda key, default=None, **kw: online_pillar
            ),
            "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all, side_effect=run_all),
            "event.send": create_autospec(salt.modules.event.send, return_value=True),
            "mine.send": create_autospec(salt.modules.mine.send, return_value=True),
        }
        return {
            online: {"__salt__": mods},
            online_states: {"__salt__": {"online.sync_failover": online.sync_failover}, "__opts__": opts},
        }

    def test_predict_apply_then_nothing(self, opts, hv, ran):
        proxyarp = os.path.join(hv["firewall"]["config_dir"], "proxyarp")
        opts["test"] = True
        ret = online_states.synced(NAME)
        assert (ret["result"], ret["changes"]) == (None, {"added": [IP1], "removed": []})
        assert not os.path.exists(proxyarp) and ran == []
        opts["test"] = False
        ret = online_states.synced(NAME)
        assert (ret["result"], ret["changes"]) == (True, {"added": [IP1], "removed": []})
        assert online.proxyarp_ips() == [IP1]
        ret = online_states.synced(NAME)
        assert (ret["result"], ret["changes"]) == (True, {})

    def test_api_fault_fails_the_state(self, standin, hv):
        standin.inject("500", times=2)
        ret = online_states.synced(NAME)
        assert ret["result"] is False and ret["changes"] == {}
        assert ret["comment"].startswith("Online API: GET /server/1001: HTTP 500 after 1 retry")
        assert TOKEN not in str(ret)
