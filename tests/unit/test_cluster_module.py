"""The cluster execution module (B3): ``local`` and ``shared`` built from the
other modules' answers (gluster and sanlock as their parsers read the outputs
captured from the lab; ``guests.*`` as the guests module documents them), each
part that fails, or whose function this host does not have, an error of its
own; the takeover's parts (quorum, the other hosts' leases, the last 10
incidents) in the shapes the takeover module documents, None where it is not
loaded; the arbiter, which has none of the guest-side parts; ``publish``
sends ``cluster.local`` to the mine as hv_status; ``status`` takes the other
hosts' parts from the mine, marked so; the hosts, roles and guests from the
real settings of the lab's pillar (``hypervisor_pillar``); and the module's
functions, loaded by Salt's own loader, print ``status`` with hv_status."""

from pathlib import Path
from unittest.mock import call, create_autospec

import pytest
import salt.config
import salt.loader
import salt.modules.mine
from salt.exceptions import CommandExecutionError

from tests.loaders import REPO, hypervisor_pillar, load
from tests.pillar_cases import lab_pillar

cluster = load("_modules", "cluster")
gluster = load("_modules", "gluster")
guests = load("_modules", "guests")
online = load("_modules", "online")
sanlock = load("_modules", "sanlock")
takeover = load("_modules", "takeover")
keeper = load("_modules", "keeper")
FIXTURES = Path(__file__).parent / "fixtures"
IP1 = "203.0.113.101"


def fixture(path):
    return (FIXTURES / path).read_text()


def sanlock_status():
    state = sanlock.parse_client_status(fixture("sanlock/client_status_holding.txt"))
    state["can_take_guests"], state["reason"] = True, "lockspace __LIBVIRT__DISKS__ joined as host 1"
    return state


def quorum():
    return {
        "quorum": True,
        "connected": 3,
        "of": 3,
        "lockspace": True,
        "reason": "sees 3 of the 3 gluster nodes, lockspace joined",
    }


def peers():
    """``takeover.peers`` on hyp1: hyp2's lease as sanlock.host_status reads the lab's output."""
    row = sanlock.parse_host_status(fixture("sanlock/host_status_two_hosts.txt"))[2]
    return {
        "hyp2": {
            "host_id": 2,
            "name": row["owner_name"],
            "generation": row["owner_generation"],
            "timestamp": row["timestamp"],
            "io_timeout": row["io_timeout"],
            "silent": 0.0,
            "state": "live",
        }
    }


def incidents(count):
    """``takeover.incidents``: ``count`` records, newest first, each hyp1 taken over by hyp2."""
    return [
        {
            "host": "hyp1",
            "host_id": 1,
            "generation": generation,
            "detected": f"2024-05-{generation:02d}T12:00:00+00:00",
            "by": "hyp2",
            "guests": {"vm1": {"outcome": "started", "host": "hyp2", "at": "2024-05-01T12:00:02+00:00"}},
            "failover": {"moved": [IP1], "at": "2024-05-01T12:00:04+00:00"},
            "fence": {"result": True, "comment": "rescue boot set, reboot sent", "at": "2024-05-01T12:00:06"},
            "done": "2024-05-01T12:00:06+00:00",
            "closed": None if generation == count else "2024-06-01T00:00:00+00:00",
        }
        for generation in range(count, 0, -1)
    ]


def keeper_record():
    """``keeper.status`` on hyp1: vm2 down by sanlock's kill, waiting for the lockspace."""
    return {
        "enabled": True,
        "host": "hyp1",
        "at": "2024-05-01T12:00:00+00:00",
        "lockspace": False,
        "drained": False,
        "evacuating": False,
        "guests": {
            "vm2": {
                "state": "down",
                "since": "2024-05-01T11:59:40+00:00",
                "why": "killed by sanlock: this host lost its lease storage",
                "restarts": [],
            }
        },
        "acting": {"vm2": "waits for hyp1: is not in its sanlock lockspace"},
    }


@pytest.fixture
def salt_mods():
    heal = gluster.parse_heal_info(fixture("gluster/heal_info_vmstore.xml"))
    return {
        "guests.list_local": create_autospec(
            guests.list_local,
            return_value={
                "vm1": {"state": "running", "persistent": True},
                "vm2": {"state": "shut off", "persistent": True},
            },
        ),
        "guests.saved": create_autospec(
            guests.saved, return_value={"vm3": "/var/lib/libvirt/qemu/save/vm3.save"}
        ),
        "guests.drained": create_autospec(
            guests.drained, return_value={"drained": False, "since": None, "reason": None}
        ),
        "sanlock.status": create_autospec(sanlock.status, return_value=sanlock_status()),
        "sanlock.hosts": create_autospec(sanlock.hosts, return_value={1: {"name": "x.hyp1", "timestamp": 5}}),
        "online.proxyarp_ips": create_autospec(online.proxyarp_ips, return_value=[IP1]),
        "online.failover_status": create_autospec(
            online.failover_status,
            return_value={
                "ips": [
                    {
                        "ip": IP1,
                        "api_host": "hyp1",
                        "destination": "203.0.113.11",
                        "proxyarp_hosts": [],
                        "ok": False,
                    }
                ],
                "mismatches": 1,
                "unreported": ["hyp1", "hyp2"],
            },
        ),
        "gluster.peer_status": create_autospec(
            gluster.peer_status, return_value=gluster.parse_peers(fixture("gluster/peer_status.xml"))
        ),
        "gluster.volume_info": create_autospec(
            gluster.volume_info,
            return_value=gluster.parse_volume_info(fixture("gluster/volume_info_vmstore.xml")),
        ),
        "gluster.heal_info": create_autospec(gluster.heal_info, return_value=heal),
        "gluster.split_brain": create_autospec(
            gluster.split_brain,
            return_value=gluster.parse_heal_info(fixture("gluster/split_brain_vmstore.xml")),
        ),
        "takeover.quorum": create_autospec(takeover.quorum, return_value=quorum()),
        "takeover.peers": create_autospec(takeover.peers, return_value=peers()),
        "takeover.incidents": create_autospec(takeover.incidents, return_value=incidents(12)),
        "keeper.status": create_autospec(keeper.status, return_value=keeper_record()),
        "keeper.records": create_autospec(keeper.records, return_value={"hyp1": keeper_record()}),
        "keeper.stop_marks": create_autospec(keeper.stop_marks, return_value={}),
        "mine.send": create_autospec(salt.modules.mine.send, return_value=True),
        "mine.get": create_autospec(salt.modules.mine.get, return_value={}),
        # The real settings of the lab's pillar, as hypervisor_pillar builds them for this host.
        "hypervisor_pillar.settings": hypervisor_pillar.settings,
        "hypervisor_pillar.role": hypervisor_pillar.role,
    }


@pytest.fixture
def grains():
    return {"id": "hyp1", "os_family": "Debian"}


@pytest.fixture
def configure_loader_modules(salt_mods, grains):
    return {
        cluster: {"__salt__": salt_mods, "__grains__": grains},
        # The settings alone (no API token): what every host, the arbiter too, may read.
        hypervisor_pillar: {"__pillar__": lab_pillar("arb1"), "__grains__": grains, "__context__": {}},
    }


def test_local():
    part = cluster.local()
    assert part.pop("time").endswith("+00:00")
    assert part == {
        "host": "hyp1",
        "drained": {"drained": False, "since": None, "reason": None},
        "guests": {"vm1": "running", "vm2": "shut off"},
        "saved": ["vm3"],
        "sanlock": {
            "can_take_guests": True,
            "reason": "lockspace __LIBVIRT__DISKS__ joined as host 1",
            "lockspaces": ["__LIBVIRT__DISKS__"],
            "leases_held": ["05dff0f75d152ae7668eb55384788d57"],
        },
        "proxyarp": [IP1],
        "quorum": quorum(),
        "sanlock_hosts": peers(),
        "keeper": keeper_record(),
    }


def test_each_part_of_local_fails_alone(salt_mods):
    del salt_mods["guests.list_local"]
    salt_mods["sanlock.status"].side_effect = OSError("no sanlock here")
    salt_mods["takeover.peers"].side_effect = CommandExecutionError(
        "sanlock is not installed (package sanlock)"
    )
    part = cluster.local()
    assert part["guests"] == {"error": "guests.list_local is not available here (saltutil.sync_modules)"}
    assert part["sanlock"] == {"error": "no sanlock here"}
    assert part["sanlock_hosts"] == {"error": "sanlock is not installed (package sanlock)"}
    assert part["saved"] == ["vm3"] and part["proxyarp"] == [IP1] and part["quorum"] == quorum()


def test_without_the_takeover_module_its_parts_are_none(salt_mods):
    for name in ("takeover.quorum", "takeover.peers", "takeover.incidents"):
        del salt_mods[name]
    part = cluster.local()
    assert part["quorum"] is None and part["sanlock_hosts"] is None and part["guests"]["vm1"] == "running"
    assert cluster.shared()["incidents"] is None


def test_the_arbiter_has_none_of_the_guest_side_parts(salt_mods, grains):
    grains["id"] = "arb1"
    part = cluster.local()
    assert part.pop("time").endswith("+00:00")
    keys = ("drained", "guests", "saved", "sanlock", "proxyarp", "quorum", "sanlock_hosts", "keeper")
    assert part == dict({"host": "arb1"}, **dict.fromkeys(keys))
    facts = cluster.shared()
    assert facts["lockspace"] is None and facts["incidents"] is None and facts["keeper"] is None
    assert isinstance(facts["peers"], list) and facts["volumes"]["vmstore"]["status"] == "Started"
    for name in ("guests.list_local", "sanlock.status", "takeover.quorum", "takeover.peers", "sanlock.hosts"):
        salt_mods[name].assert_not_called()
    salt_mods["takeover.incidents"].assert_not_called()
    salt_mods["keeper.status"].assert_not_called()
    salt_mods["keeper.records"].assert_not_called()


def test_shared(salt_mods):
    facts = cluster.shared()
    assert facts["peers"] == [
        {"hostname": p["hostname"], "connected": p["connected"], "state": p["state"]}
        for p in salt_mods["gluster.peer_status"].return_value
    ]
    heal = sum(b["entries"] for b in salt_mods["gluster.heal_info"].return_value)
    split = sum(b["entries"] for b in salt_mods["gluster.split_brain"].return_value)
    assert facts["volumes"] == {"vmstore": {"status": "Started", "heal_entries": heal, "split_brain": split}}
    assert salt_mods["gluster.heal_info"].call_args_list == [call("vmstore")]
    assert facts["lockspace"] == {1: {"name": "x.hyp1", "timestamp": 5}}
    assert facts["failover"]["mismatches"] == 1
    assert facts["incidents"] == incidents(12)[:10]  # the newest 10
    assert facts["keeper"] == {"records": {"hyp1": keeper_record()}, "stop_marks": {}}


def test_incidents_that_cannot_be_read(salt_mods):
    salt_mods["takeover.incidents"].side_effect = OSError(107, "Transport endpoint is not connected")
    assert cluster.shared()["incidents"] == {"error": "[Errno 107] Transport endpoint is not connected"}


def test_a_failed_shared_part_and_a_volume_whose_heal_cannot_be_read(salt_mods):
    salt_mods["online.failover_status"].side_effect = RuntimeError("the provider's API answered 503")
    salt_mods["gluster.split_brain"].side_effect = RuntimeError("gluster: Volume vmstore is not started")
    facts = cluster.shared()
    assert facts["failover"] == {"error": "the provider's API answered 503"}
    assert facts["volumes"] == {
        "vmstore": {"status": "Started", "error": "gluster: Volume vmstore is not started"}
    }
    assert isinstance(facts["peers"], list)


def test_publish(salt_mods):
    assert cluster.publish() is True
    assert salt_mods["mine.send"].call_args_list == [call("hv_status", mine_function="cluster.local")]


def test_status_with_the_other_host_from_the_mine(salt_mods, grains):
    other = cluster.local()
    other.update(host="hyp2", guests={}, proxyarp=[], keeper=None)
    grains["id"] = "arb1"
    arbiter = cluster.local()
    grains["id"] = "hyp1"
    salt_mods["mine.get"].return_value = {"hyp2": other, "arb1": arbiter}
    view = cluster.status()
    assert salt_mods["mine.get"].call_args_list == [call(["arb1", "hyp2"], "hv_status", tgt_type="list")]
    assert view["hosts"]["hyp1"]["source"] == "live" and view["hosts"]["hyp2"]["source"] == "mine"
    assert view["hosts"]["arb1"]["arbiter"] and sorted(view["guests"]) == ["vm1", "vm2", "vm3", "vm4"]
    assert view["guests"]["vm1"]["running_on"] == ["hyp1"]
    assert view["hosts"]["hyp1"]["failover"] == {"api": [IP1], "proxyarp": [IP1], "mismatch": []}
    assert view["hosts"]["hyp2"]["quorum"] == quorum()
    assert view["hosts"]["hyp1"]["sanlock_hosts"]["hyp2"]["state"] == "live"
    assert len(view["incidents"]) == 10
    assert view["problems"] == [
        "guest vm2 is down since 2024-05-01T11:59:40+00:00 on hyp1 (killed by sanlock: this host lost"
        " its lease storage); keeper on hyp1: waits for hyp1: is not in its sanlock lockspace",
        "host hyp1 was taken over by hyp2 at 2024-05-12T12:00:00+00:00: undrain it when repaired",
    ]


def test_with_an_invalid_pillar_local_still_answers_as_a_host_with_guests(salt_mods, grains):
    del hypervisor_pillar.__pillar__["hypervisor"]["domain"]
    grains["id"] = "arb1"
    with pytest.raises(CommandExecutionError, match="hypervisor:domain"):
        hypervisor_pillar.settings()
    part = cluster.local()
    assert part["guests"] == {"vm1": "running", "vm2": "shut off"} and part["saved"] == ["vm3"]
    with pytest.raises(CommandExecutionError, match="hypervisor:domain"):
        cluster.status()


def test_status_with_nothing_in_the_mine(salt_mods):
    view = cluster.status()
    assert view["hosts"]["hyp2"]["up"] is False
    assert "host hyp2 does not answer" in view["problems"]


def test_salt_loader_gives_status_the_hv_status_outputter(tmp_path):
    opts = salt.config.minion_config(None)
    opts.update(extension_modules=str(tmp_path), module_dirs=[str(REPO / "_modules")], grains={"id": "hyp1"})
    functions = salt.loader.minion_mods(opts, whitelist=["cluster"])
    assert functions["cluster.status"].__outputter__ == "hv_status"
    assert not hasattr(functions["cluster.local"], "__outputter__")
