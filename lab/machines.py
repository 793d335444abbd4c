"""The lab hosts: copies of the bare image booted with systemd-nspawn.

Each host runs systemd as PID 1 in its own network namespace, with the
salt-minion the image installed as a real server's (minion/), the lab's
package caches bound read-only as its only package sources, and loop devices
standing for the block devices its pillar names for bricks.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import disks, guest, image, network, system
from .topology import MASTER_IP, STATE, Host

MACHINES = STATE / "machines"
RUN = STATE / "run"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def root(host):
    return MACHINES / host.name


def release(host):
    """The Debian codename of ``host``'s root file system (its os-release), or None."""
    try:
        text = (root(host) / "etc/os-release").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"') or None
    return None


def prepare(host, img, key_dir):
    """Copy the image's root file system for ``host`` and make it that host."""
    rootfs = root(host)
    system.remove_tree(rootfs)  # never reused: every lab boot starts bare
    tmp = MACHINES / f".copy-{host.name}"
    system.remove_tree(tmp)
    MACHINES.mkdir(parents=True, exist_ok=True)
    system.run("cp", "-a", "--reflink=auto", img / "rootfs", tmp)
    (tmp / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
    # Host keys of its own, as an installed server has.
    for key in (tmp / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    system.run("ssh-keygen", "-q", "-A", "-f", tmp)
    tmp.rename(rootfs)
    (rootfs / "etc/hostname").write_text(host.name + "\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    salt = rootfs / "etc/salt"
    (salt / "pki/minion").mkdir(parents=True, exist_ok=True)
    # What the operator's minion.d file says (docs/install.md), and quicker key retries.
    (salt / "minion.d/hypervisor.conf").write_text(f"master: {MASTER_IP}\nid: {host.name}\n")
    (salt / "minion").write_text("acceptance_wait_time: 1\nlog_level_logfile: info\n")
    for suffix, mode in (("pem", 0o600), ("pub", 0o644)):
        dest = salt / f"pki/minion/minion.{suffix}"
        shutil.copy(key_dir / f"{host.name}.{suffix}", dest)
        dest.chmod(mode)
    _lab_only_tweaks(rootfs)
    nftables = rootfs / "etc/systemd/system/multi-user.target.wants/nftables.service"
    if not nftables.is_symlink():
        nftables.symlink_to("/lib/systemd/system/nftables.service")


SHIM_SOURCE = Path(__file__).parent / "files" / "rlimit_shim.c"
SHIM = "/usr/local/lib/hvlab-rlimit-shim.so"
GUEST_DIR = "/opt/hvlab-guest"
SANLOCK_STOP_WAIT = (
    "PIDFile=/run/sanlock/sanlock.pid\n"
    "ExecStopPost=-/usr/bin/timeout 10 /bin/sh -c"
    " 'while pgrep -f \"^/usr/sbin/sanlock daemon\" >/dev/null; do sleep 0.1; done'"
)
QEMU_CGROUPS_OFF = (
    'ExecStartPre=/bin/sh -c \'grep -q "^cgroup_controllers" /etc/libvirt/qemu.conf'
    ' || echo "cgroup_controllers = [ ]" >> /etc/libvirt/qemu.conf\''
)


def _lab_only_tweaks(rootfs):
    """What only a container on this machine needs; the product states never do this.

    - sanlock cannot raise RLIMIT_MEMLOCK here (no CAP_SYS_RESOURCE): preload a
      shim that turns that EPERM into success (see files/rlimit_shim.c);
    - qemu cannot create cgroup v1 controllers here: libvirt must use none.
      libvirt is not installed yet (the states install it), so a drop-in on
      libvirtd adds ``cgroup_controllers = [ ]`` to qemu.conf before each start;
    - the bricks' block devices are mounted at boot by a unit (``brick_mounts``);
    - systemd here cannot read a unit's cgroup ("Failed to kill control group
      … Input/output error"): for sanlock, a forking daemon without PIDFile=,
      it may not know the main process, so a restart either never signals the
      old daemon or races it while it exits (the new one loses the pid lock,
      then no daemon is left). Here systemd is told the PID file, and a stop
      waits for the daemon to be gone.
    """
    system.run("gcc", "-shared", "-fPIC", "-O2", "-o", f"{rootfs}{SHIM}", SHIM_SOURCE, "-ldl")
    brick_mounts(rootfs)
    sanlock = f"Environment=LD_PRELOAD={SHIM}\n{SANLOCK_STOP_WAIT}"
    for unit, text in (("sanlock", sanlock), ("libvirtd", QEMU_CGROUPS_OFF)):
        dropin = rootfs / f"etc/systemd/system/{unit}.service.d/hvlab-lab.conf"
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(f"# lab only (lab/machines.py)\n[Service]\n{text}\n")


BRICK_MOUNTS = "hvlab-brick-mounts.service"


def brick_mounts(rootfs):
    """Lab only: systemd's fstab generator skips block devices in a container (no udev
    here), so after a reboot the bricks' file systems (``/etc/fstab``, written by the
    states) would stay unmounted where a real server mounts them. A unit mounts them
    before glusterd starts, as the real boot does."""
    unit = rootfs / f"etc/systemd/system/{BRICK_MOUNTS}"
    unit.write_text(
        "# lab only (lab/machines.py)\n[Unit]\nDescription=Mount the bricks' block devices (lab only)\n"
        "After=local-fs.target\nBefore=glusterd.service\n\n[Service]\nType=oneshot\n"
        "ExecStart=-/bin/mount -a -t xfs\nRemainAfterExit=yes\n\n[Install]\nWantedBy=multi-user.target\n"
    )
    wants = rootfs / f"etc/systemd/system/multi-user.target.wants/{BRICK_MOUNTS}"
    if not wants.is_symlink():
        wants.parent.mkdir(parents=True, exist_ok=True)
        wants.symlink_to(f"/etc/systemd/system/{BRICK_MOUNTS}")


def booted_names():
    """The names of the hosts whose container runs now (pillar or not)."""
    return sorted(p.name.removesuffix(".nspawn.pid") for p in RUN.glob("*.nspawn.pid") if system.read_pid(p))


def by_name(name):
    """A host known by its name only (one that left the pillar): enough to run
    commands in it and to stop it."""
    return Host(name=name, public_if="", public_ip="", rpn_if="", rpn_mac="")


def pid_file(host, state=None):
    """Where ``host``'s systemd-nspawn PID is kept: in this lab's state directory, or in
    ``state`` (another lab's)."""
    return (RUN if state is None else Path(state) / "run") / f"{host.name}.nspawn.pid"


# The cgroup hierarchies this machine mounts (hybrid: systemd's named one and the
# unified one; a pure cgroup v2 machine: the unified one at the top).
CGROUP_ROOTS = {"name=systemd": Path("/sys/fs/cgroup/systemd"), "": Path("/sys/fs/cgroup/unified")}


def _cgroup_dirs(host):
    """A cgroup of ``host``'s own in each hierarchy, under this process's.

    nspawn puts the container's tree in a ``payload`` group under its own cgroup;
    started from the same cgroup, every host would share one tree, and a host's
    systemd (257, which only watches the unified hierarchy) would wait forever for
    a unit's group to empty of the other hosts' processes at shutdown."""
    dirs = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _num, controllers, path = line.split(":", 2)
        if controllers not in CGROUP_ROOTS:
            continue
        root = CGROUP_ROOTS[controllers]
        if controllers == "" and not (root / "cgroup.procs").exists():
            root = Path("/sys/fs/cgroup")  # a pure cgroup v2 machine
        if (root / "cgroup.procs").exists():
            dirs.append(root / path.lstrip("/") / host.netns)
    return dirs


def _own_cgroups(dirs):
    """For Popen's preexec_fn: the child moves itself into ``dirs`` (made before)."""

    def move():
        for folder in dirs:
            (folder / "cgroup.procs").write_text(f"{os.getpid()}\n")

    return move


def remove_cgroups(host):
    """Remove ``host``'s own cgroups once empty (they are only ever empty directories)."""
    for folder in _cgroup_dirs(host):
        for sub in sorted(folder.glob("**/"), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                sub.rmdir()


def boot(host, img, guest_dir, fresh_disks=True):
    """Start ``host``'s container in the background; return the nspawn PID.

    ``img``'s package caches are bound read-only where the host's apt and pip
    look for packages; ``guest_dir`` (a test guest's kernel and initramfs) at
    GUEST_DIR, the same path on every host so that guests can migrate; a loop
    device at each block device path the host's pillar names.
    """
    binds = [
        f"--bind-ro={img / 'debs'}:{image.DEBS_IN_HOST}",
        f"--bind-ro={img / 'wheels'}:{image.WHEELS_IN_HOST}",
        f"--bind-ro={guest_dir}:{GUEST_DIR}",
    ]
    binds += [f"--bind={loop}:{path}" for loop, path in disks.attach(host, fresh=fresh_disks)]
    RUN.mkdir(parents=True, exist_ok=True)
    log = open(RUN / f"{host.name}.console.log", "w")  # noqa: SIM115 (kept by the child)
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="network")
    cgroups = _cgroup_dirs(host)
    for folder in cgroups:
        folder.mkdir(exist_ok=True)
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
            *binds,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=_own_cgroups(cgroups),
    )
    pid_file(host).write_text(f"{proc.pid}\n")
    system.wait_for(lambda: leader(host), 30, what=f"{host.name}'s init")
    return proc.pid


def nspawn_pid(host):
    return system.read_pid(pid_file(host))


class HostDown(RuntimeError):
    """The lab host has no init: not booted, crashed, or booting again."""


def leader(host):
    """PID (seen from here) of the container's systemd, or None."""
    return leader_of(pid_file(host))


def leader_of(nspawn_pid_file):
    """PID of the systemd of the container whose systemd-nspawn PID file this is, or
    None (another lab's host too: its state directory is not this process's)."""
    pid = system.read_pid(nspawn_pid_file)
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
        raise HostDown(f"lab host {host.name} is not running (make lab)")
    return nsenter_pid(pid, *cmd)


def nsenter_pid(pid, *cmd):
    """The argument list that runs ``cmd`` with a clean env in the container whose
    systemd is ``pid``."""
    return ["nsenter", "-t", str(pid), "-a", "--", "env", "-i", f"PATH={PATH}", *cmd]


def run(host, *cmd, check=True, timeout=120):
    """Run ``cmd`` inside ``host``; return the CompletedProcess."""
    return system.run(*nsenter(host, *cmd), check=check, timeout=timeout)


def wait_running(host, timeout=60):
    def state():
        try:
            out = run(host, "systemctl", "is-system-running", check=False, timeout=10).stdout
        except RuntimeError:  # init not found yet, early in a boot
            return False
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
    remove_cgroups(host)


def poweroff(host, timeout=600):
    """Shut ``host`` down the way a server's power button does (systemd's
    poweroff: every unit stopped in order); seconds until it was gone."""
    pid, init = nspawn_pid(host), leader(host)
    if init is None:
        raise RuntimeError(f"lab host {host.name} is not running")
    start = time.monotonic()
    os.kill(init, signal.SIGRTMIN + 4)
    system.wait_for(lambda: not system.alive(pid), timeout, interval=0.3, what=f"{host.name} to power off")
    pid_file(host).unlink(missing_ok=True)
    remove_cgroups(host)
    return time.monotonic() - start


def crash(host):
    """Stop ``host`` at once, the way a power loss does: its cables pulled first
    (nothing it sends reaches anyone: no FIN, no RST), then its init killed,
    which kills every process of the container. Nothing of its shutdown runs."""
    pid, init = nspawn_pid(host), leader(host)
    if init is None:
        raise RuntimeError(f"lab host {host.name} is not running")
    network.cable(host, plugged=False)
    system.kill_and_wait([init])  # the kernel kills the rest of its PID namespace
    if system.kill_and_wait([pid], sig=0, timeout=15):  # systemd-nspawn cleans up, then exits
        system.kill_and_wait([pid])
    pid_file(host).unlink(missing_ok=True)
    remove_cgroups(host)


def boot_again(host):
    """Boot ``host`` again after a power-off or a crash, with its root file system
    and disks as they were, its cables plugged in."""
    network.cable(host, plugged=True)
    boot(host, image.build(echo=lambda *_: None), guest.build(echo=lambda *_: None), fresh_disks=False)
    wait_running(host, timeout=120)


def power_on_after_reboot(host):
    """What a server's firmware does after a reboot: systemd in ``host`` rebooted, which
    ends its systemd-nspawn (it does not boot the container again); boot it again with
    its root file system and disks as they were. False (nothing done) while its
    container still runs."""
    if nspawn_pid(host) is not None:
        return False
    pid_file(host).unlink(missing_ok=True)
    remove_cgroups(host)
    boot_again(host)
    return True


def remove_all():
    """Delete every host's root file system and disks (the image cache stays)."""
    system.remove_tree(MACHINES)
    disks.detach_all()
