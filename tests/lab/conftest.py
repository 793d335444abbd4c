"""The live lab, booted once per test session and shared by every lab test.

If a lab is already up (``make lab``), it is reused and left running;
otherwise the session brings one up and takes it down at the end.
"""

import contextlib
import json
import os
import shlex
import time

import pytest
import yaml

from lab import __main__ as labctl
from lab import machines, master, system, topology
from tests import pillar_cases

GROUP = ("-N", master.NODEGROUP)
# The lab's hosts from its pillar: those that carry guests, and the arbiter.
HYPERVISORS = tuple(h.name for h in topology.hosts() if h.role != "arbiter")
ARBITERS = tuple(h.name for h in topology.hosts() if h.role == "arbiter")


class Lab:
    def __init__(self, hosts):
        self.hosts = {h.name: h for h in hosts}
        self.first_apply_rc = None
        self.first_apply_text = ""
        self.booted = False  # this session booted the lab (else it reused one)

    def sh(self, host, command, check=True):
        """Run a shell command on a lab host; return its stdout."""
        proc = machines.run(self.hosts[host], "sh", "-c", command, check=check)
        return proc.stdout

    def salt(self, *args, timeout=600):
        """``salt ... --out=json``: (exit code, {minion: return}, raw text).

        Not ``--static``: with it, salt exits 0 even when a minion's render
        failed. Without it, each minion's return is a JSON document of its own.
        """
        proc = master.salt(*args, "--out=json", timeout=timeout)
        return proc.returncode, _json_documents(proc.stdout), proc.stdout + proc.stderr

    def run(self, *args, timeout=1200):
        """``salt-run ... --out=json``: (exit code, parsed output, raw text)."""
        proc = system.run(*master.command("salt-run", *args, "--out=json"), check=False, timeout=timeout)
        return proc.returncode, _json_documents(proc.stdout), proc.stdout + proc.stderr

    def apply(self, *args, target=GROUP):
        target = (target,) if isinstance(target, str) else target
        rc, data, text = self.salt(*target, "state.apply", *args)
        assert isinstance(data, dict), text
        return rc, data, text

    def fingerprint(self, host):
        """What a state run could change on ``host``: files, links, addresses."""
        return self.sh(
            host,
            "find /etc /home /var/lib/libvirt -xdev -printf '%p %m %u %g %s %T@ %l\\n' | sort | sha256sum;"
            " ip -o link | sed 's/ qlen.*//' | sha256sum; ip -o addr | sha256sum",
        )

    def apply_each(self, cases, target=GROUP):
        """``state.apply`` on ``target`` once per pillar case ``(name, mutation)``, each
        served by the master in place of the lab's: ``{name: (rc, data, text)}``."""
        out = {}
        try:
            for name, mutation in cases:
                # Both parts, the case's token included: these runs are refused
                # before any state (and any API call) runs.
                _serve(pillar_cases.case_pillar(mutation), always_online=True)
                out[name] = self.salt(*target, "state.apply")
        finally:
            master.clear_pillar_override()
        return out

    @contextlib.contextmanager
    def pillar(self, mutation):
        """Serve the lab's pillar changed by ``mutation`` (see tests/pillar_cases.py)
        until the block ends; then the lab's own again (not re-applied)."""
        pillar = pillar_cases.case_pillar(mutation)
        try:
            _serve(pillar)
            yield pillar
        finally:
            master.clear_pillar_override()

    def write(self, host, path, text):
        self.sh(host, f"printf %s {shlex.quote(text)} > {shlex.quote(path)}")


def _serve(pillar, always_online=False):
    """Have the master serve ``pillar`` in place of the lab's. Its ``online``
    part only when changed (or asked): else the lab's own, with the token of
    this boot (lab/provider.py), stays in force."""
    online = always_online or pillar["online"] != pillar_cases.lab_pillar()["online"]
    parts = ["hypervisor"] + (["online"] if online else [])
    for part in parts:
        (master.PILLAR_OVERRIDE / f"{part}.sls").write_text(yaml.safe_dump({part: pillar[part]}))


def _json_documents(text):
    decoder, data, pos = json.JSONDecoder(), {}, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return data
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return data
        if not isinstance(doc, dict):
            return doc  # a runner's list (or value): one document
        data.update(doc)


def assert_refused(result, key, hosts):
    """A state.apply refused on every host before any state ran, naming ``key``."""
    rc, data, text = result
    assert rc != 0, f"not refused:\n{text}"
    for host in hosts:
        assert isinstance(data[host], list), f"{host} ran states:\n{text}"
        assert any(f"pillar key '{key}'" in line for line in data[host]), text


def changed(result):
    """State IDs of a state.apply result that changed, or would (test=True)."""
    return sorted(
        key.split("_|-")[1] for key, ret in result.items() if ret.get("changes") or ret.get("result") is None
    )


def failed(result):
    return sorted(key for key, ret in result.items() if ret.get("result") is False)


# The labs of their own (the three-host lab, the cluster named otherwise, the main lab
# the rolling upgrade reboots) run in a session of their own beside the main one (`make
# test-many` and `make test-upgrade` set HVLAB_MANY=1).
SIDE_LABS = ["test_many_hosts.py", "test_other_cluster.py", "test_upgrade.py"]
collect_ignore = [] if os.environ.get("HVLAB_MANY") == "1" else SIDE_LABS

FIGURES = []


def report(line):
    """A measured figure, printed at the end of the run (pytest hides test output)."""
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("lab figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items):
    """Tests marked ``last`` run after all others (the lab's final health check)."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def lab():
    hosts = topology.hosts()
    reused = labctl.healthy(hosts)
    lab = Lab(hosts)
    master.clear_pillar_override()
    lines = []
    start = time.monotonic()
    lab.first_apply_rc = labctl.up(hosts, echo=lines.append)
    lab.first_apply_text = "\n".join(lines)
    lab.booted = not reused
    took = next((line for line in lines if line.startswith("lab: state.apply took")), "")
    what = "bare hosts booted, first" if lab.booted else "running lab reused, its"
    report(f"{what} state.apply: {took.removeprefix('lab: ')}; lab up in {time.monotonic() - start:.0f}s")
    yield lab
    if not reused:
        labctl.down(hosts, echo=lambda *_: None)
