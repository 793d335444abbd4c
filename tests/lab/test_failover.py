"""Failover IPs that follow the provider's API, in the lab (F22, F24, B4, R2, R6).

The API is the stand-in (lab/online_api.py) in the master's namespace; the
public gateway's namespace plays the provider's router (tests/lab/failover.py).
A route changed at the stand-in is seen by a host's hv_failover beacon, whose
event makes the master's reactor run online.sync_failover on every host.
The events on the master's bus are recorded for the whole module, and the
process list of this machine (hosts and master included) is sampled, so that
the last test can look for the lab's token in all of it.
"""

import contextlib
import ipaddress
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lab import master, provider, system
from tests.lab.conftest import ARBITERS, HYPERVISORS, changed, report
from tests.lab.events import Events
from tests.lab.failover import ArpCapture, answering, public_mac, route, routed_to, wait_answered_by
from tests.lab.standins import parse_arping
from tests.pillar_cases import lab_pillar

pytestmark = pytest.mark.lab
HOSTS = HYPERVISORS
# The hosts that answer for failover IPs (the arbiter carries none, and has no beacon).
GROUP = ("-L", ",".join(HYPERVISORS))
HYP1_IPS = lab_pillar()["hypervisor"]["hosts"]["hyp1"]["failover_ips"]
IP = HYP1_IPS[0]  # the one these tests move; hyp1's others stay
OTHERS = sorted(HYP1_IPS[1:])
FOREIGN_IP = provider.FOREIGN["failover"]
PROXYARP = "/etc/shorewall/proxyarp"


class ProcessSampler(threading.Thread):
    """Every command line on this machine (the lab's hosts and master included), sampled."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen = set()
        self.samples = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.2):
            proc = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=False)
            self.seen.update(proc.stdout.splitlines())
            self.samples += 1


@pytest.fixture(scope="module")
def watch(lab, tmp_path_factory):
    """The master's events and this machine's process lists while the module runs."""
    events = Events(tmp_path_factory.mktemp("failover") / "events.txt")
    sampler = ProcessSampler()
    sampler.start()
    time.sleep(1)  # salt-run state.event subscribes
    yield events, sampler
    sampler.stopped.set()
    sampler.join()
    events.stop()


@pytest.fixture
def home(lab):
    """Every test starts and ends with IP routed to hyp1 and answered by hyp1 alone."""
    _back_home(lab)
    yield
    provider.control("POST", "/clear")
    _back_home(lab)


def _back_home(lab):
    if routed_to(IP) != lab_pillar()["hypervisor"]["hosts"]["hyp1"]["public"]["address"]:
        route(IP, "hyp1")
    lab.salt(*GROUP, "beacons.enable_beacon", "hv_failover")
    lab.salt(*GROUP, "online.sync_failover")
    wait_answered_by(IP, "hyp1", time.time(), timeout=30)


@contextlib.contextmanager
def beacons_off(lab):
    """No beacon polls (nor reactor syncs) while the block runs."""
    rc, _data, text = lab.salt(*GROUP, "beacons.disable_beacon", "hv_failover")
    assert rc == 0, text
    try:
        yield
    finally:
        lab.salt(*GROUP, "beacons.enable_beacon", "hv_failover")


def proxyarp(lab, host):
    """The failover IPs of a host's proxyarp file (not the gateways' lines: no INTERFACE)."""
    text = lab.sh(host, f"cat {PROXYARP} 2>/dev/null || true")
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return sorted(fields[0] for fields in rows if fields[1] != "-")


def host_state(lab, host):
    """What a sync may change on a host: the proxyarp file, its proxy ARP and routes, the rules."""
    return lab.sh(
        host,
        f"sha256sum {PROXYARP}; stat -c '%i %Y' {PROXYARP}; ip neigh show proxy; ip route;"
        " iptables-save -t filter | grep -v -e '^#' | sed 's/\\[[0-9:]*\\]//' | sha256sum",
    )


def firewall_actions(lab, host):
    log = lab.sh(host, "cat /var/log/shorewall-init.log")
    return [line.split()[3] for line in log.splitlines() if line.endswith("Shorewall....")]


def test_each_host_answers_for_what_the_api_routes_to_it(lab, watch, home):
    """F22: after the highstate, hyp1's proxyarp holds IP, hyp2's nothing; a sync
    changes nothing; the status view agrees from either host; an IP routed to a
    server outside the cluster is listed but answered by no host."""
    assert (proxyarp(lab, "hyp1"), proxyarp(lab, "hyp2")) == (sorted(HYP1_IPS), [])
    rc, data, text = lab.salt(*GROUP, "online.sync_failover")
    assert rc == 0, text
    assert [data[h]["changed"] for h in HOSTS] == [False, False], text
    rc, data, text = lab.salt("hyp2", "online.failover_status")
    assert rc == 0, text
    status = {row["ip"]: row for row in data["hyp2"]["ips"]}
    assert status[IP]["api_host"] == "hyp1" and status[IP]["proxyarp_hosts"] == ["hyp1"], text
    assert status[IP]["ok"] and data["hyp2"]["mismatches"] == 0, text
    rc, data, text = lab.salt("hyp1", "online.failover_list")
    listed = {row["ip"]: row for row in data["hyp1"]}
    assert listed[FOREIGN_IP]["cluster"] is False and listed[FOREIGN_IP]["host"] is None, text
    assert answering(FOREIGN_IP) == []


def _unheld_public_address():
    """An address of the public subnet that no host, gateway, failover IP or stand-in holds."""
    cluster = lab_pillar()["hypervisor"]["hosts"]
    public = cluster["hyp1"]["public"]
    held = {FOREIGN_IP, provider.FOREIGN["public"]}
    for host in cluster.values():
        held.update([host["public"]["address"], host["public"]["gateway"], *host.get("failover_ips", [])])
    subnet = ipaddress.ip_interface(f"{public['address']}/{public.get('prefix', 24)}").network
    return next(str(a) for a in reversed(list(subnet.hosts())) if str(a) not in held and a.packed[-1] > 200)


def test_on_the_public_bridge_a_host_answers_arp_for_the_gateway_only(lab):
    """F22: hyp2 asks on its public bridge (joined to hyp1's) for an address that
    nobody holds: no host answers; for the public gateway: hyp1 answers (its
    proxy ARP entry there, for the guests). A host that answered there for
    other addresses would pull in the traffic of a guest that has just started
    on the other host and send it back out of its public NIC, in a loop (three
    hosts: a taken-over guest that never answered)."""
    pillar = lab_pillar()["hypervisor"]
    bridge = next(b["name"] for b in pillar["bridges"].values() if b.get("public"))
    hyp2 = pillar["hosts"]["hyp2"]["public"]
    hyp1_bridge_mac = lab.sh("hyp1", f"cat /sys/class/net/{bridge}/address").strip().lower()

    def answers(address):
        out = lab.sh("hyp2", f"arping -c 2 -w 3 -i {bridge} -S {hyp2['address']} {address}", check=False)
        return parse_arping(out)

    nobody = _unheld_public_address()
    assert answers(nobody) == [], f"{nobody} is answered on {bridge}"
    assert answers(hyp2["gateway"]) == [hyp1_bridge_mac]
    report(f"public bridge: {nobody} answered by nobody, the gateway {hyp2['gateway']} by hyp1's bridge")


def test_a_move_at_the_provider_is_followed_by_both_hosts(lab, watch, home, tmp_path):
    """F24, B4: the stand-in routes IP to hyp2; hyp2's beacon fires, the reactor
    syncs both hosts: hyp2 answers ARP for IP (a Shorewall reload, nothing more)
    and sends a gratuitous ARP, hyp1 stops answering. Events tell each step."""
    events, _sampler = watch
    reloads = {h: len(firewall_actions(lab, h)) for h in HOSTS}
    with ArpCapture(tmp_path / "arp.txt") as capture:
        since = route(IP, "hyp2")
        took = wait_answered_by(IP, "hyp2", since)
        system.wait_for(lambda: capture.gratuitous(IP), 10, what="a gratuitous ARP")
        assert capture.gratuitous(IP)[0] == public_mac("hyp2")
    report(f"P1 (one move): failover IP answered by the new host {took:.2f}s after the route changed")
    beacon = events.wait("salt/beacon/hyp2/hv_failover/", since - 1)
    assert any(IP in d["added"] for d in beacon), beacon
    updated = events.wait("hv/failover/proxyarp/updated", since - 1, where=lambda d: d.get("id") == "hyp1")
    assert any(IP in d["data"]["removed"] for d in updated), updated
    assert (proxyarp(lab, "hyp1"), proxyarp(lab, "hyp2")) == (OTHERS, [IP])
    assert firewall_actions(lab, "hyp2")[reloads["hyp2"] :] == ["Reloading"]
    assert firewall_actions(lab, "hyp1")[reloads["hyp1"] :] == ["Reloading"]


def test_an_operator_move_is_confirmed_and_followed(lab, watch, home):
    """F24: online.failover_move from hyp2 (any host) moves IP to hyp2: done once
    the API shows it; the beacon and reactor do the rest; then back to hyp1."""
    events, _sampler = watch
    since = time.time()
    rc, data, text = lab.salt("hyp2", "online.failover_move", IP, "hyp2")
    assert rc == 0 and data["hyp2"]["result"] is True and data["hyp2"]["confirmed"] is True, text
    wait_answered_by(IP, "hyp2", since)
    done = events.wait("hv/failover/move/done", since - 1)
    assert any(IP in d["data"]["ips"] for d in done), done
    rc, data, text = lab.salt("hyp1", "online.failover_move", IP, "hyp1")
    assert rc == 0 and data["hyp1"]["result"] is True, text
    wait_answered_by(IP, "hyp1", since)


def test_the_state_under_test_tells_the_truth(lab, watch, home):
    """F22: with the beacons off, a route change is what failover.proxyarp
    test=True predicts, with nothing touched; the state then does it."""
    with beacons_off(lab):
        route(IP, "hyp2")
        before = {h: host_state(lab, h) for h in HOSTS}
        rc, data, text = lab.apply("failover.proxyarp", "test=True")
        assert rc == 0, text
        assert changed(data["hyp1"]) == changed(data["hyp2"]) == ["failover-proxyarp-synced"], text
        assert {h: host_state(lab, h) for h in HOSTS} == before
        rc, data, text = lab.apply("failover.proxyarp")
        assert rc == 0, text
        assert (proxyarp(lab, "hyp1"), proxyarp(lab, "hyp2")) == (OTHERS, [IP])
        rc, data, text = lab.apply("failover.proxyarp")
        assert rc == 0 and changed(data["hyp1"]) == changed(data["hyp2"]) == [], text


@pytest.mark.parametrize(
    "kind", ["401", "403", "404", "429", "503", "html", "invalid_json", "empty", "shape", "reset"]
)
def test_an_api_failure_changes_nothing(lab, watch, home, kind):
    """R2: whatever the API answers wrong, the sync returns a clear error, fires
    an error event, and the host keeps its proxyarp, proxy ARP and rules."""
    events, _sampler = watch
    with beacons_off(lab):
        before = host_state(lab, "hyp1")
        since = time.time()
        provider.control("POST", "/fault", {"kind": kind, "times": 20})
        _rc, data, text = lab.salt("hyp1", "online.sync_failover")
        provider.control("POST", "/clear")
        ret = data["hyp1"]
        assert ret["result"] is False and ret["changed"] is False, text
        assert "Online API" in ret["comment"] and "Traceback" not in text, text
        assert host_state(lab, "hyp1") == before
        errors = events.wait("hv/failover/error", since - 1, where=lambda d: d.get("id") == "hyp1")
        assert errors, kind
    assert answering(IP) == [public_mac("hyp1")]


FLOOD = """
import salt.client
caller = salt.client.Caller()
for index in range(100):
    caller.cmd("event.send", "salt/beacon/hyp1/hv_failover/", {"added": [], "removed": [], "n": index})
"""


def api_requests():
    return provider.control("GET", "/requests")


def quiet_api(seconds=4, timeout=180):
    """Wait until the API stand-in has had no request for ``seconds``: (its request count,
    the monotonic time of the last one seen arriving)."""
    last, since = len(api_requests()), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() - since < seconds:
        assert time.monotonic() < deadline, "the API never went quiet"
        time.sleep(0.5)
        now = len(api_requests())
        if now != last:
            last, since = now, time.monotonic()
    return last, since


def test_a_flood_of_triggers_costs_each_host_one_sync_at_a_time(lab, watch):
    """B10: 100 beacon events from hyp1 (a host of the cluster, one process firing them as
    fast as it can). The reactor has both hosts sync for each; a host syncs one at a time,
    at most one per online.SYNC_GAP, so the API sees a bounded rate of requests while the
    triggers arrive, not one sync per trigger and host. A trigger that names a minion
    outside the cluster (fired on the master's bus) syncs nothing."""
    from tests.loaders import load

    gap = load("_modules", "online").SYNC_GAP
    with beacons_off(lab):  # the API then hears the syncs alone
        before, _ = quiet_api()
        rc, _data, text = lab.salt("hyp1", "online.sync_failover")
        assert rc == 0, text
        per_sync = quiet_api()[0] - before
        before, _ = quiet_api()
        start = time.monotonic()
        lab.sh("hyp1", f"/opt/salt/bin/python3 -c '{FLOOD}'")
        fired = time.monotonic() - start
        after, last = quiet_api()
        during, busy = after - before, last - start
        bound = len(HOSTS) * per_sync * (int(busy / gap) + 3)  # and each host's first and last
        report(
            f"B10: 100 triggers fired in {fired:.1f}s, the reactor busy {busy:.0f}s: {during} API requests"
            f" (at most {bound} at one sync per {gap:g}s and host; one sync per trigger: {200 * per_sync})"
        )
        assert 0 < during <= bound, (during, bound)
        before, _ = quiet_api()
        forged = ("salt/beacon/stranger/hv_failover/", "data={'id': 'stranger'}")
        rc, _data, text = lab.run("event.send", *forged)
        assert rc == 0, text
        assert quiet_api()[0] == before


def test_the_token_is_nowhere(lab, watch):
    """R6, B10: the lab's token (a fresh fake one per boot) in no process list sampled
    during this module, not in the arbiter's pillar, no file under /etc, /var or /tmp of a host, no journal,
    no job cache or log of the master, no recorded event, and no world-readable
    file of the lab's; the two files that hold it are root's alone."""
    events, sampler = watch
    token = provider.token()
    assert token.startswith("hvlab-token-")
    assert sampler.samples > 10
    assert [line for line in sampler.seen if token in line] == []
    assert token not in events.path.read_text()
    assert len(events.all()) > 10
    # Every host, the arbiter too. The arbiter's pillar has no API settings at all
    # (only the guest_hosts nodegroup gets online.sls).
    for host in ARBITERS:
        _rc, data, text = lab.salt(host, "pillar.items")
        assert "hypervisor" in data[host] and "online" not in data[host], text
    for host in HOSTS + ARBITERS:
        found = lab.sh(
            host,
            f"grep -rlsF '{token}' /etc /var /tmp /root /home /run 2>/dev/null;"
            f" journalctl --no-pager | grep -cF '{token}'",
            check=False,
        ).split()
        assert found == ["0"], f"{host}: {found}"
    # Where it must be: the stand-in's token file, the master's pillar file, and
    # the master's cache of each guest host's pillar (Salt's minion data cache, as
    # on any master), the arbiter's not: each root's alone. Nowhere else: not the
    # job cache, not a log.
    proc = system.run("grep", "-rlsF", token, str(master.HOME), str(provider.HOME), check=False)
    holders = {Path(p) for p in proc.stdout.split()}
    cached = {master.HOME / "cache" / "pillar" / f"{h}.p" for h in HOSTS}
    assert holders - cached == {provider.TOKEN_FILE, provider.SECRET_PILLAR / "online.sls"}, holders
    for path in holders:
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    assert oct(provider.SECRET_PILLAR.stat().st_mode & 0o777) == "0o700"
