"""vxlan_remotes.only against a real VXLAN link, in a network namespace this test
creates (root, like the lab): the flood entry and the learned MACs toward a host
that left the cluster go, those toward the others stay; test=True says so first
and changes nothing; a second run changes nothing; no link, nothing to do."""

import subprocess
import uuid

import pytest

from tests.loaders import load

vxlan_remotes = load("_states", "vxlan_remotes")
LINK = "vxtest"
LOCAL, STAYS, GONE = "198.51.100.11", "198.51.100.12", "198.51.100.14"
ZERO, GUEST = "00:00:00:00:00:00", "52:54:00:60:19:c4"


def _ip(ns, *args):
    return subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True)


@pytest.fixture
def netns():
    name = f"hvtest-vx-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        _ip(
            name,
            "link",
            "add",
            LINK,
            "type",
            "vxlan",
            "id",
            "42",
            "dstport",
            "4789",
            "local",
            "198.51.100.11",
        )
        for dst in (STAYS, GONE):
            subprocess.run(
                ["ip", "netns", "exec", name, "bridge", "fdb", "append", ZERO, "dev", LINK, "dst", dst],
                check=True,
            )
        subprocess.run(
            ["ip", "netns", "exec", name, "bridge", "fdb", "add", GUEST, "dev", LINK, "dst", GONE],
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _in(ns):
    """cmd.run_all and cmd.retcode, run for real inside namespace ``ns``."""

    def run_all(cmd, python_shell=False, ignore_retcode=False):
        assert python_shell is False
        proc = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, check=False)
        return {"retcode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}

    return {"cmd.run_all": run_all, "cmd.retcode": lambda cmd, **kw: run_all(cmd, **kw)["retcode"]}


def _fdb(ns):
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "bridge", "fdb", "show", "dev", LINK], capture_output=True, text=True
    )
    return sorted(" ".join(line.split()[:3]) for line in out.stdout.splitlines() if " dst " in line)


def _only(ns, test, remotes=(STAYS,), link=LINK):
    vxlan_remotes.__salt__ = _in(ns)
    vxlan_remotes.__opts__ = {"test": test}
    return vxlan_remotes.only(link, list(remotes))


def test_a_removed_host_gets_nothing_more_and_the_others_keep_their_entries(netns):
    before = _fdb(netns)
    assert before == sorted([f"{ZERO} dst {STAYS}", f"{ZERO} dst {GONE}", f"{GUEST} dst {GONE}"])
    dry = _only(netns, test=True)
    assert dry["result"] is None and dry["comment"] == f"would stop {LINK} sending to {GONE}", dry
    assert dry["changes"] == {"removed": sorted([f"{ZERO} dst {GONE}", f"{GUEST} dst {GONE}"])}
    assert _fdb(netns) == before
    done = _only(netns, test=False)
    assert done["result"] is True and done["changes"] == dry["changes"], done
    assert _fdb(netns) == [f"{ZERO} dst {STAYS}"]
    again = _only(netns, test=False)
    assert (again["result"], again["changes"], again["comment"]) == (
        True,
        {},
        f"{LINK} sends to {STAYS} only",
    )


def test_no_link_yet_nothing_to_remove(netns):
    ret = _only(netns, test=False, link="vxnone")
    assert (ret["result"], ret["changes"]) == (True, {}), ret
    assert "does not exist" in ret["comment"]
