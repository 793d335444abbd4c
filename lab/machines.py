"""The lab hosts: copies of the image booted with systemd-nspawn.

Each host runs systemd as PID 1 in its own network namespace and a salt-minion
started from the host machine's venv, bind-mounted read-only at the same path.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import system
from .topology import MASTER_IP, STATE

MACHINES = STATE / "machines"
RUN = STATE / "run"
VENV = Path(sys.prefix)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MINION_UNIT = """\
[Unit]
Description=Salt minion (lab: runs from the bind-mounted venv {venv})
After=network.target

[Service]
ExecStart={venv}/bin/salt-minion -c /etc/salt
KillMode=process
TimeoutStopSec=5
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def root(host):
    return MACHINES / host.name


def prepare(host, image, key_dir):
    """Copy the image for ``host`` (if not there yet) and make it that host."""
    rootfs = root(host)
    if rootfs.exists() and not (rootfs / ".hvlab-complete").exists():
        _remove(rootfs)  # a half-removed or half-copied leftover
    if not rootfs.exists():
        tmp = MACHINES / f".copy-{host.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        MACHINES.mkdir(parents=True, exist_ok=True)
        system.run("cp", "-a", "--reflink=auto", image, tmp)
        (tmp / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
        tmp.rename(rootfs)
    (rootfs / "etc/hostname").write_text(host.name + "\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    salt = rootfs / "etc/salt"
    (salt / "pki/minion").mkdir(parents=True, exist_ok=True)
    (salt / "minion").write_text(
        f"id: {host.name}\nmaster: {MASTER_IP}\nacceptance_wait_time: 1\nlog_level_logfile: info\n"
    )
    for suffix, mode in (("pem", 0o600), ("pub", 0o644)):
        dest = salt / f"pki/minion/minion.{suffix}"
        shutil.copy(key_dir / f"{host.name}.{suffix}", dest)
        dest.chmod(mode)
    _lab_only_tweaks(rootfs)
    unit = rootfs / "etc/systemd/system/salt-minion.service"
    unit.write_text(MINION_UNIT.format(venv=VENV))
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    for unit, target in (
        ("salt-minion.service", "/etc/systemd/system/salt-minion.service"),
        ("nftables.service", "/lib/systemd/system/nftables.service"),
    ):
        if not (wants / unit).is_symlink():
            (wants / unit).symlink_to(target)


SHIM_SOURCE = Path(__file__).parent / "files" / "rlimit_shim.c"
SHIM = "/usr/local/lib/hvlab-rlimit-shim.so"
GUEST_DIR = "/opt/hvlab-guest"


def _lab_only_tweaks(rootfs):
    """What only a container on this machine needs; the product states never do this.

    - sanlock cannot raise RLIMIT_MEMLOCK here (no CAP_SYS_RESOURCE): preload a
      shim that turns that EPERM into success (see files/rlimit_shim.c);
    - qemu cannot create cgroup v1 controllers here: tell libvirt to use none.
    """
    system.run("gcc", "-shared", "-fPIC", "-O2", "-o", f"{rootfs}{SHIM}", SHIM_SOURCE, "-ldl")
    dropin = rootfs / "etc/systemd/system/sanlock.service.d/hvlab-lab.conf"
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(f"# lab only (lab/machines.py)\n[Service]\nEnvironment=LD_PRELOAD={SHIM}\n")
    qemu_conf = rootfs / "etc/libvirt/qemu.conf"
    text = qemu_conf.read_text()
    if "\ncgroup_controllers = [ ]" not in text:
        note = "# lab only (lab/machines.py): no cgroup v1 controllers here"
        qemu_conf.write_text(f"{text}\n{note}\ncgroup_controllers = [ ]\n")


def pid_file(host):
    return RUN / f"{host.name}.nspawn.pid"


def boot(host, guest_dir):
    """Start ``host``'s container in the background; return the nspawn PID.

    ``guest_dir`` (a test guest's kernel and initramfs) is bound read-only at
    GUEST_DIR, the same path on every host so that guests can migrate.
    """
    RUN.mkdir(parents=True, exist_ok=True)
    log = open(RUN / f"{host.name}.console.log", "w")  # noqa: SIM115 (kept by the child)
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="network")
    proc = subprocess.Popen(
        [
            "systemd-nspawn",
            "-D",
            str(root(host)),
            "-M",
            host.name,
            "--register=no",
            "--keep-unit",
            "--boot",
            f"--network-namespace-path=/run/netns/{host.netns}",
            "--bind=/dev/fuse",
            "--capability=CAP_NET_ADMIN,CAP_IPC_LOCK",
            "--console=read-only",
            f"--bind-ro={VENV}",
            f"--bind-ro={guest_dir}:{GUEST_DIR}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    pid_file(host).write_text(f"{proc.pid}\n")
    system.wait_for(lambda: leader(host), 30, what=f"{host.name}'s init")
    return proc.pid


def nspawn_pid(host):
    return system.read_pid(pid_file(host))


def leader(host):
    """PID (seen from here) of the container's systemd, or None."""
    pid = nspawn_pid(host)
    if pid is None:
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return None
    for child in map(int, children):
        if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
            return child
    return None


def nsenter(host, *cmd):
    """The argument list that runs ``cmd`` inside ``host`` with a clean env."""
    pid = leader(host)
    if pid is None:
        raise RuntimeError(f"lab host {host.name} is not running (make lab)")
    return ["nsenter", "-t", str(pid), "-a", "--", "env", "-i", f"PATH={PATH}", *cmd]


def run(host, *cmd, check=True, timeout=120):
    """Run ``cmd`` inside ``host``; return the CompletedProcess."""
    return system.run(*nsenter(host, *cmd), check=check, timeout=timeout)


def wait_running(host, timeout=60):
    def state():
        out = run(host, "systemctl", "is-system-running", check=False, timeout=10).stdout
        return out.strip() in ("running", "degraded")

    system.wait_for(state, timeout, what=f"{host.name} to finish booting")


def stop(host, timeout=25):
    """Power ``host`` off cleanly; kill it if it does not stop in time."""
    pid = nspawn_pid(host)
    if pid is None:
        pid_file(host).unlink(missing_ok=True)
        return
    init = leader(host)
    if init:
        # sanlock ignores SIGTERM while it holds a lockspace.
        run(host, "sanlock", "client", "shutdown", "-f", "1", check=False, timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.kill(init, signal.SIGRTMIN + 4)  # systemd: poweroff
    deadline = time.monotonic() + timeout
    while system.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    if system.alive(pid):
        system.kill_and_wait([p for p in (init, pid) if p])
    pid_file(host).unlink(missing_ok=True)


def _remove(path):
    """Delete a tree, also where the states made something immutable (F8)."""
    system.unmount_all(path)
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        system.run("chattr", "-R", "-i", path, check=False)
        shutil.rmtree(path)


def remove_all():
    """Delete every host's root file system (the image cache stays)."""
    if MACHINES.exists():
        _remove(MACHINES)
