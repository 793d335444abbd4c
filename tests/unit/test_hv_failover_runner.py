"""The reactor's failover sync on the master (F24, B10): only for a trigger from a host of
the cluster (Salt's own nodegroup matching, CkMinions, on accepted keys in a temporary
pki_dir), then one asynchronous online.sync_failover on the hosts that carry guests. The
LocalClient is the one thing replaced: no master runs here (the lab drives it for real)."""

import pytest

from tests.loaders import load
from tests.unit.master_opts import master_opts

hv_failover = load("_runners", "hv_failover")


class Client:
    """salt.client.LocalClient's cmd_async, recorded."""

    def __init__(self):
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cmd_async(self, tgt, fun, arg=(), tgt_type="glob", kwarg=None):
        self.calls.append((tgt, fun, tgt_type, kwarg))
        return "20261206000000000001"


@pytest.fixture
def client(monkeypatch):
    made = Client()
    monkeypatch.setattr(hv_failover.salt.client, "get_local_client", lambda conf: made)
    return made


@pytest.fixture
def configure_loader_modules(tmp_path):
    return {hv_failover: {"__opts__": master_opts(tmp_path)}}


def test_a_cluster_hosts_trigger_syncs_the_guest_hosts(client):
    ret = hv_failover.sync({"id": "arb1", "data": {"ips": ["198.51.100.250"]}})
    assert ret == {"synced": True, "minion": "arb1", "jid": "20261206000000000001"}
    assert client.calls == [("guest_hosts", "online.sync_failover", "nodegroup", {"wait": False})]


@pytest.mark.parametrize("data", [{"id": "stranger"}, {"id": None}, {}, None, "hyp1"])
def test_a_trigger_from_outside_the_cluster_syncs_nothing(client, data):
    assert hv_failover.sync(data)["synced"] is False
    assert client.calls == []
