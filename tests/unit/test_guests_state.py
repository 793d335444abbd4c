"""F26: guests.disk_present and guests.defined, from the lab pillar's settings;
guests.running's errors.

Disks are real files under a temporary directory. Definitions go through the
guests execution module (as on a host) to libvirt's ``test:///default`` driver:
a real in-process libvirt (its state lasts as long as the process), so the
domains each test defines are removed after it. An execution module that
raises fails the state with its message."""

import os
from unittest.mock import create_autospec

import libvirt
import pytest
from salt.exceptions import CommandExecutionError

from tests.loaders import hv_views, hypervisor_pillar, layered_parameters, load
from tests.pillar_cases import lab_pillar

guests = load("_states", "guests")
module = load("_modules", "guests")
TEST_URI = "test:///default"
MiB = 1 << 20
libvirt.registerErrorHandler(lambda _ctx, _error: None, None)  # the tests read the errors they expect


def settings(tmp_path, **vm1):
    """This host's settings, vm1's disk under ``tmp_path`` and ``vm1`` overriding its pillar."""
    pillar = lab_pillar()
    pillar["hypervisor"]["guests"]["vm1"].update(vm1)
    pillar["hypervisor"]["pools"]["customer1"]["path"] = str(tmp_path / "customer1")
    return hv_views.build(pillar, layered_parameters("Debian"), "hyp1")


@pytest.fixture
def hv(tmp_path):
    (tmp_path / "customer1").mkdir()
    return settings(tmp_path)


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def salt_mods(hv):
    settings = {"hypervisor_pillar.settings": lambda: hv}
    return dict(settings, **{f"guests.{fun}": getattr(module, fun) for fun in ("definition", "define")})


@pytest.fixture
def configure_loader_modules(hv, opts, salt_mods):
    return {
        guests: {"__salt__": salt_mods, "__opts__": opts, "__grains__": {"id": "hyp1"}},
        module: {"__salt__": {"hypervisor_pillar.settings": lambda: hv}, "__pillar__": {"hypervisor": {}}},
    }


@pytest.fixture
def conn(monkeypatch):
    monkeypatch.setattr(module.hv_domains, "URI", TEST_URI)
    conn = libvirt.open(TEST_URI)
    yield conn
    for dom in conn.listAllDomains():
        if dom.name() != "test":  # the driver's own
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
    conn.close()


def fingerprint(dom):
    return module.definition(dom.name())["fingerprint"]


# ------------------------------------------------------------------ disk_present


def test_missing_disk_is_created_sparse_and_private(hv):
    path = hv["guests"]["vm1"]["disk_path"]
    assert guests.disk_present("vm1") == {
        "name": "vm1",
        "changes": {"created": path},
        "result": True,
        "comment": f"disk {path} created (16M, sparse)",
    }
    st = os.stat(path)
    assert (st.st_size, st.st_mode & 0o777, st.st_blocks) == (16 * MiB, 0o600, 0)


def test_missing_disk_under_test_is_only_announced(hv, opts):
    opts["test"] = True
    path = hv["guests"]["vm1"]["disk_path"]
    ret = guests.disk_present("vm1")
    assert (ret["result"], ret["changes"], ret["comment"]) == (
        None,
        {"created": path},
        f"would create disk {path} (16M)",
    )
    assert not os.path.exists(path)


def test_present_disk_is_never_resized_nor_touched(hv):
    path = hv["guests"]["vm1"]["disk_path"]
    with open(path, "wb") as handle:
        handle.write(b"guest data")
    before = os.stat(path)
    ret = guests.disk_present("vm1")
    assert (ret["result"], ret["changes"]) == (True, {})
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_disk_created_meanwhile_by_another_host_is_left_alone(hv, monkeypatch):
    """The other host created it between our look and our create: O_EXCL, nothing overwritten."""
    path = hv["guests"]["vm1"]["disk_path"]
    with open(path, "wb") as handle:
        handle.write(b"the other host's")
    monkeypatch.setattr(guests.os.path, "exists", lambda _path: False)
    ret = guests.disk_present("vm1")
    assert (ret["result"], ret["changes"], ret["comment"]) == (
        True,
        {},
        f"disk {path} is present (created by another host)",
    )
    with open(path, "rb") as handle:
        assert handle.read() == b"the other host's"


def test_pool_directory_missing_fails(tmp_path, hv):
    (tmp_path / "customer1").rmdir()
    ret = guests.disk_present("vm1")
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"].startswith(f"cannot create disk {hv['guests']['vm1']['disk_path']}: ")


def test_unknown_guest_fails():
    assert guests.disk_present("vm9")["comment"] == "no guest vm9 in pillar hypervisor:guests"
    assert guests.defined("vm9")["result"] is False


# ----------------------------------------------------------------------- defined


def test_missing_guest_is_defined_with_its_fingerprint_and_not_started(hv, conn):
    assert guests.defined("vm1") == {
        "name": "vm1",
        "changes": {"defined": "vm1"},
        "result": True,
        "comment": "guest vm1 defined",
    }
    dom = conn.lookupByName("vm1")
    assert (dom.UUIDString(), fingerprint(dom)) == (
        hv["guests"]["vm1"]["uuid"],
        hv["guests"]["vm1"]["fingerprint"],
    )
    assert (dom.isPersistent(), dom.isActive(), dom.autostart()) == (1, 0, 0)


def test_defined_guest_is_left_alone(conn):
    guests.defined("vm1")
    assert guests.defined("vm1") == {
        "name": "vm1",
        "changes": {},
        "result": True,
        "comment": "guest vm1 is defined as the pillar says",
    }


def test_missing_guest_under_test_is_only_announced(opts, conn):
    opts["test"] = True
    ret = guests.defined("vm1")
    assert (ret["result"], ret["changes"], ret["comment"]) == (
        None,
        {"defined": "vm1"},
        "guest vm1 would be defined",
    )
    assert "vm1" not in [d.name() for d in conn.listAllDomains()]


def test_changed_pillar_redefines_a_running_guest_for_its_next_start(tmp_path, hv, conn):
    guests.defined("vm1")
    conn.lookupByName("vm1").create()
    old = hv["guests"]["vm1"]["fingerprint"]
    hv.update(settings(tmp_path, memory=256))
    new = hv["guests"]["vm1"]["fingerprint"]
    assert guests.defined("vm1") == {
        "name": "vm1",
        "changes": {"redefined": {"old": old, "new": new}},
        "result": True,
        "comment": "guest vm1 defined again (it runs: it takes the new definition at its next start)",
    }
    dom = conn.lookupByName("vm1")
    assert (dom.isActive(), fingerprint(dom)) == (1, new)
    assert dom.maxMemory() == 128 * 1024  # the running guest keeps its memory
    inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert "<memory unit='KiB'>262144</memory>" in inactive


def test_changed_pillar_under_test_changes_nothing(tmp_path, hv, opts, conn):
    guests.defined("vm1")
    old = hv["guests"]["vm1"]["fingerprint"]
    hv.update(settings(tmp_path, vcpus=2))
    opts["test"] = True
    ret = guests.defined("vm1")
    assert (ret["result"], ret["comment"]) == (None, "guest vm1 would be defined again")
    assert ret["changes"] == {"redefined": {"old": old, "new": hv["guests"]["vm1"]["fingerprint"]}}
    assert fingerprint(conn.lookupByName("vm1")) == old


def test_definition_without_our_metadata_is_replaced(hv, conn):
    """Same UUID, defined by hand: no fingerprint, so the pillar's definition replaces it."""
    xml = hv["guests"]["vm1"]["xml"]
    start = xml.index("  <metadata>")
    conn.defineXML(xml[:start] + xml[xml.index("</metadata>\n") + len("</metadata>\n") :])
    ret = guests.defined("vm1")
    assert (ret["result"], ret["changes"]) == (
        True,
        {"redefined": {"old": None, "new": hv["guests"]["vm1"]["fingerprint"]}},
    )


def test_domain_of_that_name_with_another_uuid_is_left_alone(hv, conn):
    other = "0b7e0f8e-1d1e-4c4e-9d3a-000000000001"
    conn.defineXML(hv["guests"]["vm1"]["xml"].replace(hv["guests"]["vm1"]["uuid"], other))
    before = conn.lookupByName("vm1").XMLDesc(0)
    assert guests.defined("vm1") == {
        "name": "vm1",
        "changes": {},
        "result": False,
        "comment": f"a domain vm1 with UUID {other} exists, not the pillar's guest"
        f" ({hv['guests']['vm1']['uuid']}): left as it is",
    }
    assert conn.lookupByName("vm1").XMLDesc(0) == before


def test_libvirt_unreachable_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(module.hv_domains, "URI", f"test://{tmp_path}/missing.xml")
    ret = guests.defined("vm1")
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"].startswith(f"libvirt (test://{tmp_path}/missing.xml): ")


# ------------------------------------------------------------- errors of the module


@pytest.mark.parametrize("state", ["disk_present", "defined", "running"])
def test_a_module_that_raises_fails_the_state_with_its_message(salt_mods, state):
    """No settings here (an invalid pillar): each state fails with the reason, no traceback."""
    why = "pillar is invalid, nothing was changed:\n  hypervisor:guests:vm1:memory: 0 is below 64"
    salt_mods["hypervisor_pillar.settings"] = create_autospec(
        hypervisor_pillar.settings, side_effect=CommandExecutionError(why)
    )
    assert getattr(guests, state)("vm1") == {"name": "vm1", "changes": {}, "result": False, "comment": why}


def test_a_start_the_module_refuses_fails_running_with_its_message(tmp_path, hv, salt_mods):
    """vm1 (running: true, home hyp1) is to start; the host was drained meanwhile."""
    hv.update(settings(tmp_path, running=True))
    refused = "hyp1 is drained: `guests.undrain` first"
    salt_mods.update(
        {
            "guests.drained": create_autospec(module.drained, return_value={"drained": False}),
            "guests.stop_mark": create_autospec(module.stop_mark, return_value=None),
            "guests.where": create_autospec(
                module.where, return_value={"hyp1": "shut off", "hyp2": "absent"}
            ),
            "guests.start": create_autospec(module.start, side_effect=CommandExecutionError(refused)),
        }
    )
    assert guests.running("vm1") == {"name": "vm1", "changes": {}, "result": False, "comment": refused}
    salt_mods["guests.start"].assert_called_once_with("vm1")


def test_libvirt_failing_while_defining_fails_the_state(hv, salt_mods, conn):
    salt_mods["guests.define"] = create_autospec(
        module.define, side_effect=CommandExecutionError("libvirt: internal error: no space left")
    )
    ret = guests.defined("vm1")
    assert (ret["result"], ret["comment"]) == (False, "libvirt: internal error: no space left")
