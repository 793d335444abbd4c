"""The gluster module's commands: argument lists (no shell), ``--remote-host``
where asked, gluster's answers (captured from the lab) parsed."""

from pathlib import Path
from unittest.mock import create_autospec

import pytest
import salt.modules.cmdmod

from tests.loaders import load

gluster = load("_modules", "gluster")
FIXTURES = Path(__file__).parent / "fixtures" / "gluster"


def answer(fixture=None, retcode=0, stdout=""):
    if fixture:
        stdout = (FIXTURES / f"{fixture}.xml").read_text()
    return {"retcode": retcode, "stdout": stdout, "stderr": "", "pid": 1}


@pytest.fixture
def run_all():
    return create_autospec(salt.modules.cmdmod.run_all)


@pytest.fixture
def configure_loader_modules(run_all):
    return {gluster: {"__salt__": {"cmd.run_all": run_all}}}


def ran(run_all):
    """The command lines run, each checked to be run without a shell."""
    assert all(kwargs["python_shell"] is False for _, kwargs in run_all.call_args_list)
    return [args[0] for args, _ in run_all.call_args_list]


def test_peer_status_of_another_node(run_all):
    run_all.return_value = answer("peer_status")
    assert gluster.peer_status(remote_host="hyp1") == [
        {
            "uuid": "a03f277c-8862-407b-b91c-6e39be206d38",
            "hostname": "hyp2",
            "hostnames": ["hyp2"],
            "connected": True,
            "state": "Peer in Cluster",
        }
    ]
    assert ran(run_all) == [["gluster", "--mode=script", "--xml", "--remote-host=hyp1", "peer", "status"]]


def test_volume_info_of_one_volume_on_another_node(run_all):
    run_all.return_value = answer("volume_info_vmstore")
    assert list(gluster.volume_info("vmstore", remote_host="hyp1")) == ["vmstore"]
    assert ran(run_all) == [
        ["gluster", "--mode=script", "--xml", "--remote-host=hyp1", "volume", "info", "vmstore"]
    ]


def test_volume_info_of_a_missing_volume_is_empty(run_all):
    run_all.return_value = answer("volume_info_missing", retcode=1)
    assert gluster.volume_info("nosuch") == {}
    assert ran(run_all) == [["gluster", "--mode=script", "--xml", "volume", "info", "nosuch"]]


def test_volume_get(run_all):
    run_all.return_value = answer("volume_get")
    assert gluster.volume_get("vmstore", "network.ping-timeout") == "5"
    assert ran(run_all) == [
        ["gluster", "--mode=script", "--xml", "volume", "get", "vmstore", "network.ping-timeout"]
    ]


def test_heal_granular_off_and_on(run_all):
    run_all.return_value = answer(stdout="Disable granular entry heal on volume vmstore has been successful")
    assert gluster.heal_granular("vmstore", False) is True
    assert gluster.heal_granular("vmstore", True) is True
    assert ran(run_all) == [
        ["gluster", "--mode=script", "volume", "heal", "vmstore", "granular-entry-heal", "disable"],
        ["gluster", "--mode=script", "volume", "heal", "vmstore", "granular-entry-heal", "enable"],
    ]


def test_failed_plain_text_command_raises_with_its_message(run_all):
    run_all.return_value = {"retcode": 1, "stdout": "", "stderr": "Volume nosuch does not exist\n", "pid": 1}
    with pytest.raises(gluster.CommandExecutionError) as exc:
        gluster.heal("nosuch", full=True)
    assert str(exc.value) == "gluster volume heal nosuch full: Volume nosuch does not exist"
