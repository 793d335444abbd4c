"""Small wrappers around the commands the lab runs on this machine."""

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger("lab")


def run(*cmd, check=True, capture=False, timeout=None, env=None, input=None, cwd=None):
    """Run a command given as arguments; raise with its output when it fails."""
    log.debug("+ %s", " ".join(map(str, cmd)))
    proc = subprocess.run(
        [str(c) for c in cmd],
        check=False,
        text=True,
        capture_output=True,
        timeout=timeout,
        env=env,
        input=input,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"{proc.stdout}{proc.stderr}".rstrip()
        )
    return proc.stdout if capture else proc


def netns_list():
    out = run("ip", "netns", "list", capture=True)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(name):
    out = run("ip", "netns", "pids", name, check=False, capture=True)
    return [int(p) for p in out.split()]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def kill_and_wait(pids, sig=signal.SIGKILL, timeout=10):
    """Send ``sig`` to each PID, then wait until all of them are gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def read_pid(path):
    try:
        pid = int(Path(path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def stop_pid_file(path):
    """Stop the process a PID file names (SIGTERM, then SIGKILL after 10 s), and remove the file."""
    pid = read_pid(path)
    if pid:
        kill_and_wait(kill_and_wait([pid], sig=signal.SIGTERM, timeout=10))
    Path(path).unlink(missing_ok=True)


def mounts_under(path):
    """Mount points at or below ``path`` (as findmnt lists them), deepest first."""
    prefix = str(path).rstrip("/") + "/"
    out = run("findmnt", "--raw", "--noheadings", "--output", "TARGET", check=False, capture=True)
    points = [p for p in out.splitlines() if p == str(path) or p.startswith(prefix)]
    return sorted(points, key=len, reverse=True)


def remove_tree(path):
    """Delete ``path``, never through a mount: leftover mounts below it are
    unmounted (not lazily); if one stays, stop and say so instead."""
    path = Path(path)
    for point in mounts_under(path):
        run("umount", point, check=False)
    left = mounts_under(path)
    if left:
        raise RuntimeError(
            f"not removing {path}: still mounted below it: {', '.join(left)}. "
            "Unmount these (umount) and run again."
        )
    if not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # the states make some directories immutable (F8)
        run("chattr", "-R", "-i", path, check=False)
        shutil.rmtree(path)


def wait_for(predicate, timeout, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
