"""The highstate renders for clusters of 2, 3, 5 and 8 hosts that carry guests, with an
arbiter and without (B8): the bricks on the brick hosts only (replica 3 on three hosts, or
two and the arbiter, or replica 2 for two hosts alone), client quorum where there is a
majority, every host a gluster peer that mounts every volume, VXLAN to every other host,
the takeover on where there is a majority, and every host in /etc/hosts."""

import pytest

from tests.loaders import hv_layout
from tests.pillar_cases import many_hosts_pillar
from tests.render.test_render import _args, _created, _network_files, _starting, write_pillar
from tests.saltcall import Ahead, call, factories, minion, text

SIZES = (2, 3, 5, 8)
LAYOUTS = [(count, arbiter) for count in SIZES for arbiter in (False, True)]
VOLUMES = ("sanlock", "save", "vmstore")


def _hosts_to_render(count, arbiter):
    """The leader (hyp1), the last host that carries guests (a brick host up to three, a
    host without bricks past three) and the arbiter."""
    return ["hyp1", f"hyp{count}"] + (["arb1"] if arbiter else [])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """show_highstate of each host of :func:`_hosts_to_render` in each layout, on Debian,
    rendered once, ahead, in parallel."""
    manager = factories(tmp_path_factory.mktemp("salt-factories"))
    roots = {
        layout: write_pillar(
            tmp_path_factory.mktemp(f"many-{layout[0]}-{layout[1]}"), many_hosts_pillar(*layout)
        )
        for layout in LAYOUTS
    }

    def render(count, arbiter, host):
        ret = call(minion(manager, host, "Debian", roots[(count, arbiter)]), "state.show_highstate")
        assert ret.returncode == 0 and isinstance(ret.data, dict), (
            f"{host} of {count} hosts (arbiter: {arbiter}) failed to render:\n{text(ret)[:2000]}"
        )
        return ret.data

    ahead = Ahead(render, [(*layout, host) for layout in LAYOUTS for host in _hosts_to_render(*layout)])
    yield lambda count, arbiter, host: ahead.get(count, arbiter, host)
    ahead.close()


def _expected_bricks(count, arbiter):
    """The brick hosts the pillar of many_hosts_pillar gives (its brick_hosts: hyp1..hyp3)."""
    hosts = many_hosts_pillar(count, arbiter)["hypervisor"]["hosts"]
    named = many_hosts_pillar(count, arbiter)["hypervisor"].get("gluster", {}).get("brick_hosts")
    return hv_layout.brick_hosts(hosts, named)


@pytest.mark.parametrize(("count", "arbiter"), LAYOUTS)
def test_the_leader_makes_every_volume_on_the_brick_hosts(rendered, count, arbiter):
    leader = rendered(count, arbiter, "hyp1")
    assert _created(leader) == list(VOLUMES)
    bricks = _expected_bricks(count, arbiter)
    assert len(bricks) == (2 if count == 2 and not arbiter else 3)
    majority = len(bricks) == 3
    for name in VOLUMES:
        present = _args(leader, f"gluster-volume-{name}-present")
        assert present["bricks"] == [f"{h}:/mnt/bricks/{name}/brick" for h in bricks]
        assert (present["replica"], present["arbiter"]) == (len(bricks), 1 if arbiter else 0)
        options = _args(leader, f"gluster-volume-{name}-options")["options"]
        assert (options.get("cluster.quorum-type") == "auto") is majority, (name, options)
        # Every host of the cluster may mount it (B10), the hosts without bricks among them.
        assert len(options["auth.allow"].split(",")) == 1 + count + (1 if arbiter else 0)
    others = [h for h in many_hosts_pillar(count, arbiter)["hypervisor"]["hosts"] if h != "hyp1"]
    assert _starting(leader, "gluster-peer-") == sorted(f"gluster-peer-{h}-peered" for h in others)


@pytest.mark.parametrize(("count", "arbiter"), LAYOUTS)
def test_the_last_host_holds_bricks_only_when_it_is_a_brick_host(rendered, count, arbiter):
    host = f"hyp{count}"
    states = rendered(count, arbiter, host)
    holds = host in _expected_bricks(count, arbiter)
    assert bool(_starting(states, "gluster-brick-")) is holds, _starting(states, "gluster-brick-")
    assert _created(states) == []
    for name in VOLUMES:
        assert f"gluster-mount-{name}-mounted" in states
        assert f"gluster-volume-{name}-started-by-leader" in states
    assert _starting(states, "gluster-peer-") == ["gluster-peer-hyp1-peered"]


@pytest.mark.parametrize(("count", "arbiter"), [layout for layout in LAYOUTS if layout[0] > 2])
def test_vxlan_joins_every_host_that_carries_guests(rendered, count, arbiter):
    states = rendered(count, arbiter, f"hyp{count}")
    links = [
        ctx["link"]
        for dest, ctx in _network_files(states).items()
        if dest.endswith(".network") and "link" in ctx
    ]
    assert sorted(link["ifname"] for link in links) == ["vxlan", "vxwan"]
    others = {"198.51.100.11", "198.51.100.12", *(f"198.51.100.{20 + n}" for n in range(3, count))}
    for link in links:
        assert sorted(link["remotes"]) == sorted(others), link


@pytest.mark.parametrize(("count", "arbiter"), LAYOUTS)
def test_takeover_runs_where_the_bricks_have_a_majority(rendered, count, arbiter):
    states = rendered(count, arbiter, "hyp1")
    majority = count > 2 or arbiter
    assert ("takeover-unit-running" in states, "takeover-unit-dead" in states) == (majority, not majority)


@pytest.mark.parametrize(("count", "arbiter"), LAYOUTS)
def test_every_host_resolves_every_other(rendered, count, arbiter):
    hosts = _args(rendered(count, arbiter, f"hyp{count}"), "hosts-file-managed")["context"]["hosts"]
    assert sorted(hosts) == sorted(many_hosts_pillar(count, arbiter)["hypervisor"]["hosts"])


def test_the_arbiter_holds_a_brick_of_every_volume_and_carries_no_guest(rendered):
    for count in SIZES:
        states = rendered(count, True, "arb1")
        assert _starting(states, "gluster-brick-") and not _starting(states, "guests-")
