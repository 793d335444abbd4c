"""The sanlock execution module around its parsers: libvirt's configuration
(as salt://sanlock/files/qemu-sanlock.conf.jinja renders it), whether a guest
can start here and why not, ``status`` with the daemon down or sanlock not
installed, and ``leave``, which refuses while a guest holds a lease and
otherwise stops the units above sanlock, leaves each lockspace and shuts the
daemon down, in that order (forced, and reported so, only when a lockspace
could not be left; ``left`` names only the lockspaces actually removed).
A failed sanlock command is reported with its exit code and what it said.
``cmd.run_all`` and ``service.*`` are specs of Salt's; systemd is a dict of
units."""

import shutil
import types
from pathlib import Path
from unittest.mock import call, create_autospec

import jinja2
import pytest
import salt.modules.cmdmod
import salt.modules.systemd_service
from salt.exceptions import CommandExecutionError

from tests.loaders import REPO, hv_views, layered_parameters, load
from tests.pillar_cases import lab_pillar

sanlock = load("_modules", "sanlock")
FIXTURES = Path(__file__).parent / "fixtures" / "sanlock"
TEMPLATE = REPO / "salt" / "sanlock" / "files" / "qemu-sanlock.conf.jinja"
LEASE = "05dff0f75d152ae7668eb55384788d57"
# hyp2's settings (the real view of the lab pillar): its lockspace is host id 2's.
HYP2 = hv_views.build(lab_pillar(), layered_parameters("Debian"), "hyp2")
LOCKSPACE = HYP2["sanlock"]["lockspace"]
LS_NAME, LS_PATH = LOCKSPACE["name"], LOCKSPACE["path"]
RUN_KWARGS = {"python_shell": False, "ignore_retcode": True}


def fixture(name):
    return (FIXTURES / f"{name}.txt").read_text()


def rendered_conf(host_id=None, lease_dir=None):
    """qemu-sanlock.conf as sanlock/libvirt.sls renders it on hyp2 (its view's host id,
    lease directory and io_timeout), or with ``host_id`` and ``lease_dir`` when given."""
    return jinja2.Template(TEMPLATE.read_text()).render(
        host_id=HYP2["me"]["host_id"] if host_id is None else host_id,
        lease_dir=lease_dir or HYP2["sanlock"]["lease_dir"],
        io_timeout=HYP2["sanlock"]["io_timeout"],
    )


def ran(stdout="", retcode=0, stderr=""):
    return {"pid": 900, "retcode": retcode, "stdout": stdout, "stderr": stderr}


def lockspace(host_id=2, state="joined", name=LS_NAME):
    return {"name": name, "host_id": host_id, "path": LS_PATH, "offset": 0, "state": state}


def client_state(*lockspaces, daemon="993f69ff-769c-43e2-84af-acc2c89c470a.hyp2"):
    return {"daemon": daemon, "lockspaces": list(lockspaces), "resources": []}


WANTED = {key: LOCKSPACE[key] for key in ("name", "host_id", "path")}


@pytest.fixture
def salt_mods():
    return {
        "cmd.run_all": create_autospec(salt.modules.cmdmod.run_all),
        "service.available": create_autospec(salt.modules.systemd_service.available),
        "service.status": create_autospec(salt.modules.systemd_service.status),
        "service.stop": create_autospec(salt.modules.systemd_service.stop, return_value=True),
    }


@pytest.fixture
def configure_loader_modules(salt_mods):
    return {sanlock: {"__salt__": salt_mods}}


@pytest.fixture
def which(monkeypatch):
    """shutil.which as the module sees it: sanlock installed unless a test says not."""
    mock = create_autospec(shutil.which, side_effect=lambda cmd, *a, **k: f"/usr/sbin/{cmd}")
    monkeypatch.setattr(sanlock, "shutil", types.SimpleNamespace(which=mock))
    return mock


@pytest.fixture
def libvirt_conf(tmp_path, monkeypatch):
    """libvirt's qemu-sanlock.conf as Salt writes it for hyp2."""
    path = tmp_path / "qemu-sanlock.conf"
    path.write_text(rendered_conf(2))
    monkeypatch.setattr(sanlock, "LIBVIRT_CONF", str(path))
    return path


class Host:
    """The sanlock commands answered from ``answers`` (by their arguments), the
    units in ``units`` (name: running); ``calls`` what was run and stopped, in order."""

    def __init__(self, salt_mods):
        self.calls = []
        self.answers = {}
        self.units = {"hv-sanlock-rejoin": True, "libvirtd": True, "sanlock": True}
        salt_mods["cmd.run_all"].side_effect = self.run_all
        salt_mods["service.available"].side_effect = lambda name: name in self.units
        salt_mods["service.status"].side_effect = lambda name, sig=None: self.units.get(name, False)
        salt_mods["service.stop"].side_effect = self.stop

    def run_all(self, cmd, **kwargs):
        assert kwargs == RUN_KWARGS, "sanlock must run as an argument list, without a shell"
        self.calls.append(tuple(cmd))
        if tuple(cmd[1:3]) == ("client", "shutdown"):
            self.units["sanlock"] = False  # the daemon exits; systemd sees it stopped
        return self.answers.get(tuple(cmd[1:]), ran())

    def stop(self, name, no_block=None):
        self.calls.append(("service.stop", name))
        self.units[name] = False
        return True


@pytest.fixture
def host(salt_mods, which, libvirt_conf):
    return Host(salt_mods)


# ---------------------------------------------------------------- parse_libvirt_conf


def test_libvirt_conf_as_salt_renders_it():
    """The lockspace libvirt joins from the file Salt renders is the one the view names."""
    assert sanlock.parse_libvirt_conf(rendered_conf()) == WANTED
    assert WANTED == {
        "name": "__LIBVIRT__DISKS__",
        "host_id": 2,
        "path": "/var/lib/libvirt/sanlock/__LIBVIRT__DISKS__",
    }


def test_libvirt_conf_lease_dir_sets_the_lockspace_path():
    assert sanlock.parse_libvirt_conf(rendered_conf(17, "/srv/leases")) == {
        "name": LS_NAME,
        "host_id": 17,
        "path": "/srv/leases/__LIBVIRT__DISKS__",
    }


def test_libvirt_conf_commented_lines_are_ignored():
    text = '#host_id = 9\n  # disk_lease_dir = "/elsewhere"\n' + rendered_conf(2) + "#host_id = 5\n"
    assert sanlock.parse_libvirt_conf(text) == {"name": LS_NAME, "host_id": 2, "path": LS_PATH}


def test_libvirt_conf_a_trailing_comment_is_not_part_of_the_value():
    text = (
        'disk_lease_dir = "/var/lib/libvirt/sanlock"  # on the sanlock gluster volume\n'
        "host_id = 2 # hyp2\n"
        "auto_disk_leases = 1#keep\n"
    )
    assert sanlock.parse_libvirt_conf(text) == {"name": LS_NAME, "host_id": 2, "path": LS_PATH}


def test_libvirt_conf_the_stock_file_all_commented_is_not_configured():
    stock = '#auto_disk_leases = 0\n#disk_lease_dir = "/var/lib/libvirt/sanlock"\n#host_id = 1\n'
    assert sanlock.parse_libvirt_conf(stock) is None


@pytest.mark.parametrize("missing", ["host_id", "disk_lease_dir"])
def test_libvirt_conf_missing_key_is_not_configured(missing):
    text = "\n".join(line for line in rendered_conf(2).splitlines() if not line.startswith(missing))
    assert sanlock.parse_libvirt_conf(text) is None


def test_libvirt_lockspace_reads_the_file(libvirt_conf):
    assert sanlock.libvirt_lockspace() == {"name": LS_NAME, "host_id": 2, "path": LS_PATH}


def test_libvirt_lockspace_without_the_file_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(sanlock, "LIBVIRT_CONF", str(tmp_path / "qemu-sanlock.conf"))
    assert sanlock.libvirt_lockspace() is None


# ---------------------------------------------------------------- _readiness


def test_readiness_not_configured():
    assert sanlock._readiness(client_state(lockspace()), None) == (
        False,
        "libvirt's sanlock plugin is not configured (/etc/libvirt/qemu-sanlock.conf)",
    )


def test_readiness_daemon_down():
    assert sanlock._readiness(client_state(daemon=None), WANTED) == (
        False,
        "the sanlock daemon is not running",
    )


def test_readiness_lockspace_missing():
    other = lockspace(name="lvm_vg0")
    assert sanlock._readiness(client_state(other), WANTED) == (
        False,
        "lockspace __LIBVIRT__DISKS__ is not joined: no guest can start here until it is "
        "(its file /var/lib/libvirt/sanlock/__LIBVIRT__DISKS__ must answer)",
    )


def test_readiness_joined_as_another_host_id():
    assert sanlock._readiness(client_state(lockspace(host_id=1)), WANTED) == (
        False,
        "joined as host 1, configured as host 2",
    )


def test_readiness_being_joined():
    assert sanlock._readiness(client_state(lockspace(state="ADD")), WANTED) == (
        False,
        "lockspace __LIBVIRT__DISKS__ is being joined",
    )


def test_readiness_being_left():
    assert sanlock._readiness(client_state(lockspace(state="REM")), WANTED) == (
        False,
        "lockspace __LIBVIRT__DISKS__ is being left",
    )


def test_readiness_joined():
    assert sanlock._readiness(client_state(lockspace(name="lvm_vg0"), lockspace()), WANTED) == (
        True,
        "lockspace __LIBVIRT__DISKS__ joined as host 2",
    )


# ---------------------------------------------------------------- parse_client_status


def test_client_status_lockspace_being_joined():
    text = fixture("client_status_idle").replace(f"{LS_PATH}:0", f"{LS_PATH}:0 ADD")
    assert sanlock.parse_client_status(text) == {
        "daemon": "993f69ff-769c-43e2-84af-acc2c89c470a.hyp2",
        "lockspaces": [lockspace(state="ADD")],
        "resources": [],
    }


# ---------------------------------------------------------------- status


def test_status_daemon_down(salt_mods, which, libvirt_conf):
    # Without its socket, `sanlock client status` prints nothing and exits with -ENOENT.
    salt_mods["cmd.run_all"].return_value = ran(retcode=254)
    assert sanlock.status() == {
        "daemon": None,
        "lockspaces": [],
        "resources": [],
        "error": "sanlock client status: exit code 254, no output",
        "can_take_guests": False,
        "reason": "the sanlock daemon is not running",
    }
    salt_mods["cmd.run_all"].assert_called_once_with(["sanlock", "client", "status"], **RUN_KWARGS)


def test_status_joined_host_can_take_guests(salt_mods, which, libvirt_conf):
    salt_mods["cmd.run_all"].return_value = ran(fixture("client_status_idle"))
    assert sanlock.status() == {
        "daemon": "993f69ff-769c-43e2-84af-acc2c89c470a.hyp2",
        "lockspaces": [lockspace()],
        "resources": [],
        "can_take_guests": True,
        "reason": "lockspace __LIBVIRT__DISKS__ joined as host 2",
    }


# ---------------------------------------------------------------- leave

STATUS = ("sanlock", "client", "status")
REM = ("sanlock", "client", "rem_lockspace", "-s", f"{LS_NAME}:2:{LS_PATH}:0")


def test_leave_refuses_while_a_lease_is_held(host):
    host.answers[STATUS[1:]] = ran(fixture("client_status_holding"))
    with pytest.raises(CommandExecutionError) as exc:
        sanlock.leave()
    assert str(exc.value) == f"leases are held here ({LEASE}): stop or move the guests first"
    assert host.calls == [STATUS]
    assert host.units == {"hv-sanlock-rejoin": True, "libvirtd": True, "sanlock": True}


def test_leave_stops_the_units_leaves_then_shuts_down(host):
    host.answers[STATUS[1:]] = ran(fixture("client_status_idle"))
    assert sanlock.leave() == {
        "left": [LS_NAME],
        "forced": False,
        "stopped": ["hv-sanlock-rejoin", "libvirtd"],
    }
    assert host.calls == [
        STATUS,
        ("service.stop", "hv-sanlock-rejoin"),
        ("service.stop", "libvirtd"),
        REM,
        ("sanlock", "client", "shutdown", "-f", "0", "-w", "1"),
    ]
    assert host.units == {"hv-sanlock-rejoin": False, "libvirtd": False, "sanlock": False}


def test_leave_leaves_every_lockspace(host):
    host.answers[STATUS[1:]] = ran(
        fixture("client_status_idle") + "s lvm_vg0:2:/dev/mapper/vg0-lvmlock:1048576\n"
    )
    assert sanlock.leave() == {
        "left": [LS_NAME, "lvm_vg0"],
        "forced": False,
        "stopped": ["hv-sanlock-rejoin", "libvirtd"],
    }
    assert host.calls[3:] == [
        REM,
        ("sanlock", "client", "rem_lockspace", "-s", "lvm_vg0:2:/dev/mapper/vg0-lvmlock:1048576"),
        ("sanlock", "client", "shutdown", "-f", "0", "-w", "1"),
    ]


def test_leave_forces_the_shutdown_when_a_lockspace_cannot_be_left(host, caplog):
    host.answers[STATUS[1:]] = ran(fixture("client_status_idle"))
    host.answers[REM[1:]] = ran(retcode=240, stdout="rem_lockspace\nrem_lockspace done -16\n")
    assert sanlock.leave() == {"left": [], "forced": True, "stopped": ["hv-sanlock-rejoin", "libvirtd"]}
    assert host.calls == [
        STATUS,
        ("service.stop", "hv-sanlock-rejoin"),
        ("service.stop", "libvirtd"),
        REM,
        ("sanlock", "client", "shutdown", "-f", "1", "-w", "1"),
    ]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"leaving lockspace {LS_NAME}: sanlock {' '.join(REM[1:])}: exit code 240, "
        "rem_lockspace\nrem_lockspace done -16"
    ]


def test_leave_names_only_the_lockspaces_it_left(host):
    host.answers[STATUS[1:]] = ran(
        fixture("client_status_idle") + "s lvm_vg0:2:/dev/mapper/vg0-lvmlock:1048576\n"
    )
    host.answers[REM[1:]] = ran(retcode=240, stdout="rem_lockspace\nrem_lockspace done -16\n")
    assert sanlock.leave() == {
        "left": ["lvm_vg0"],
        "forced": True,
        "stopped": ["hv-sanlock-rejoin", "libvirtd"],
    }
    assert host.calls[3:] == [
        REM,
        ("sanlock", "client", "rem_lockspace", "-s", "lvm_vg0:2:/dev/mapper/vg0-lvmlock:1048576"),
        ("sanlock", "client", "shutdown", "-f", "1", "-w", "1"),
    ]


def test_leave_without_a_lockspace_shuts_the_daemon_down_unforced(host):
    host.answers[STATUS[1:]] = ran("daemon 993f69ff-769c-43e2-84af-acc2c89c470a.hyp2\np -1 helper\n")
    assert sanlock.leave() == {"left": [], "forced": False, "stopped": ["hv-sanlock-rejoin", "libvirtd"]}
    assert host.calls == [
        STATUS,
        ("service.stop", "hv-sanlock-rejoin"),
        ("service.stop", "libvirtd"),
        ("sanlock", "client", "shutdown", "-f", "0", "-w", "1"),
    ]


def test_leave_with_the_daemon_down_stops_what_runs(host):
    host.answers[STATUS[1:]] = ran(retcode=254)
    host.units["sanlock"] = False
    assert sanlock.leave() == {"left": [], "forced": False, "stopped": ["hv-sanlock-rejoin", "libvirtd"]}
    assert host.calls == [STATUS, ("service.stop", "hv-sanlock-rejoin"), ("service.stop", "libvirtd")]


def test_leave_a_dead_daemon_whose_unit_still_runs_is_stopped(host):
    host.answers[STATUS[1:]] = ran(retcode=254)
    assert sanlock.leave() == {
        "left": [],
        "forced": False,
        "stopped": ["hv-sanlock-rejoin", "libvirtd", "sanlock"],
    }
    assert host.calls[-1] == ("service.stop", "sanlock")


def test_leave_where_sanlock_is_not_installed_touches_only_what_runs(host, which):
    which.side_effect = lambda cmd, *a, **k: None
    del host.units["sanlock"], host.units["hv-sanlock-rejoin"]
    host.units["libvirtd"] = False
    assert sanlock.leave() == {"left": [], "forced": False, "stopped": []}
    assert host.calls == []


def test_status_where_sanlock_is_not_installed(host, which):
    which.side_effect = lambda cmd, *a, **k: None
    assert sanlock.status() == {
        "daemon": None,
        "lockspaces": [],
        "resources": [],
        "error": "sanlock is not installed (package sanlock)",
        "can_take_guests": False,
        "reason": "the sanlock daemon is not running",
    }
    assert host.calls == []


def test_join_lockspace_runs_add_lockspace(salt_mods, which):
    salt_mods["cmd.run_all"].return_value = ran("add_lockspace\nadd_lockspace done 0\n")
    assert sanlock.join_lockspace(LS_NAME, "2", LS_PATH) is True
    assert salt_mods["cmd.run_all"].call_args_list == [
        call(["sanlock", "client", "add_lockspace", "-s", f"{LS_NAME}:2:{LS_PATH}:0"], **RUN_KWARGS)
    ]


def test_join_lockspace_with_the_clusters_io_timeout(salt_mods, which):
    salt_mods["cmd.run_all"].return_value = ran("add_lockspace\nadd_lockspace done 0\n")
    assert sanlock.join_lockspace(LS_NAME, 2, LS_PATH, io_timeout=2) is True
    assert salt_mods["cmd.run_all"].call_args_list == [
        call(
            ["sanlock", "client", "add_lockspace", "-o", "2", "-s", f"{LS_NAME}:2:{LS_PATH}:0"], **RUN_KWARGS
        ),
    ]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            ran(retcode=239, stdout="add_lockspace\nadd_lockspace done -17\n"),
            "add_lockspace\nadd_lockspace done -17",
        ),
        (ran(retcode=1, stdout="add_lockspace\n", stderr="connect error: -2\n"), "connect error: -2"),
        (ran(retcode=254), "no output"),
    ],
    ids=["stdout", "stderr-first", "silent"],
)
def test_a_failed_sanlock_command_reports_its_exit_code_and_what_it_said(salt_mods, which, answer, said):
    salt_mods["cmd.run_all"].return_value = answer
    with pytest.raises(CommandExecutionError) as exc:
        sanlock.join_lockspace(LS_NAME, 2, LS_PATH)
    assert str(exc.value) == (
        f"sanlock client add_lockspace -s {LS_NAME}:2:{LS_PATH}:0: exit code {answer['retcode']}, {said}"
    )
    assert salt_mods["cmd.run_all"].call_args_list == [
        call(["sanlock", "client", "add_lockspace", "-s", f"{LS_NAME}:2:{LS_PATH}:0"], **RUN_KWARGS)
    ]
