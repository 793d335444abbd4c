"""
safe_apply: put configuration files in place behind a dead-man (R5, F21, F22).

A change is first checked (read-only commands on the staged files), then
armed: a transient systemd timer, ``hv-rollback-<name>.timer``, will run a
rollback script after ``rollback_after`` seconds, even if the Salt process
that armed it is cut off or killed. Then the files are installed (temporary
file and rename, mode and owner kept), the apply commands run, and the host
is probed: new TCP connections to the master's ports and, if asked, SSH from
the master (the ``reach.ssh`` runner, through ``publish.runner``). If every
probe answers, the timer is stopped; otherwise the rollback script runs at
once: the previous files are back and the rollback commands re-apply them.

Under ``<state_dir>/<name>/``: ``staged/`` (the new files, by base name, so a
check command can be pointed at the directory), ``previous/`` (the files
being replaced, only while an apply is under way), ``rollback.sh`` and the
``rolled-back`` mark the script leaves when it runs.

Commands are argument lists run without a shell (``check``, ``apply`` and
the rollbacks: one command, or a list of them); the argument ``{staged}``
stands for the staging directory. Diffs of the files are reported: this is
not for files that hold secrets.
"""

import contextlib
import difflib
import logging
import os
import shlex
import shutil
import socket
import tempfile
import time

import hv_runtime
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "safe_apply"
STATE_DIR = "/var/lib/hv-safe-apply"
UNIT = "hv-rollback-{}"
NEW_FILE_MODE = 0o644
OUTPUT_LINES = 8  # of a failed command's output, in a comment


def __virtual__():
    # Loaded everywhere (test=True on a bare host previews); arming the
    # dead-man fails plainly where systemd-run is missing.
    return __virtualname__


# ----------------------------------------------------------------- plain helpers


def _paths(state_dir, name):
    base = os.path.join(state_dir, name)
    return {
        "base": base,
        "staged": os.path.join(base, "staged"),
        "previous": os.path.join(base, "previous"),
        "script": os.path.join(base, "rollback.sh"),
        "mark": os.path.join(base, "rolled-back"),
    }


def _commands(value):
    """A list of commands from one command (a list of strings) or a list of them."""
    if not value:
        return []
    return [list(value)] if isinstance(value[0], str) else [list(command) for command in value]


def _with_staged(command, staged_dir):
    return [str(arg).replace("{staged}", staged_dir) for arg in command]


def _shown(command):
    return " ".join(shlex.quote(str(arg)) for arg in command)


def _diff(dest, staged):
    """A unified diff from ``dest`` to ``staged``; None when they are equal."""
    old, new = hv_runtime.read_text(dest), hv_runtime.read_text(staged)
    if old == new:
        return None
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=dest if old is not None else "/dev/null",
        tofile=dest,
    )
    return "".join(lines)


def _rollback_script(name, restore, commands, mark):
    """The script the dead-man (or Salt, at once) runs: ``restore`` maps each
    installed file to its backup, or to None where there was no file."""
    unit = UNIT.format(name)
    lines = [
        "#!/bin/sh",
        f"# Written by Salt (safe_apply) for {name}: puts back the files an apply",
        f"# replaced and re-applies them. Run by {unit}.timer unless the apply is",
        "# confirmed, or by Salt at once when a probe failed.",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH",
        "export PATH",
        f"date > {shlex.quote(mark)}",
        "status=0",
    ]
    for dest, backup in sorted(restore.items()):
        if backup is None:
            lines.append(f"rm -f {shlex.quote(dest)} || status=1")
        else:
            tmp = shlex.quote(dest + ".hv-rollback")
            lines.append(
                f"cp --preserve=mode,ownership {shlex.quote(backup)} {tmp}"
                f" && mv -f {tmp} {shlex.quote(dest)} || status=1"
            )
    lines += [f"{_shown(command)} || status=1" for command in commands]
    lines.append("exit $status")
    return "\n".join(lines) + "\n"


def _install(dest, staged):
    """Put ``staged`` at ``dest`` atomically, with the mode and owner ``dest`` had."""
    directory = os.path.dirname(dest)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    try:
        st = os.stat(dest)
        mode, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
    except FileNotFoundError:
        mode, uid, gid = NEW_FILE_MODE, 0, 0
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, open(staged, "rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.chown(tmp, uid, gid)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _backup(dests, previous):
    """Copy each existing ``dest`` into ``previous``; map dest -> backup or None."""
    shutil.rmtree(previous, ignore_errors=True)
    os.makedirs(previous, mode=0o700)
    restore = {}
    for dest in dests:
        if not os.path.lexists(dest):
            restore[dest] = None
            continue
        backup = os.path.join(previous, os.path.basename(dest))
        shutil.copy2(dest, backup)
        st = os.stat(dest)
        os.chown(backup, st.st_uid, st.st_gid)
        restore[dest] = backup
    return restore


def _tcp(host, port, timeout):
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _retry(check, attempts, pause):
    for attempt in range(attempts):
        if check():
            return True
        if attempt + 1 < attempts:
            time.sleep(pause)
    return False


# ------------------------------------------------------------- with Salt


def _run(command, staged_dir=""):
    """Run an argument list; (ok, what it said)."""
    argv = _with_staged(command, staged_dir)
    if shutil.which(argv[0]) is None:
        return False, f"`{argv[0]}` is not installed"
    ret = __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True)
    said = "\n".join(part for part in (ret["stdout"].strip(), ret["stderr"].strip()) if part)
    if ret["retcode"] != 0:
        said = "\n".join(said.splitlines()[-OUTPUT_LINES:])  # the tool's error is at the end
        return False, f"`{_shown(argv)}` failed (exit code {ret['retcode']}): {said or 'no output'}"
    return True, said


def _run_each(commands, staged_dir=""):
    for command in _commands(commands):
        ok, said = _run(command, staged_dir)
        if not ok:
            raise CommandExecutionError(said)


def _stage(files, staged_dir, context, saltenv):
    """Render (``salt://`` sources, Jinja with ``context``) or copy each source
    into ``staged_dir`` under its destination's base name; map dest -> staged."""
    names = [os.path.basename(dest) for dest in files]
    if len(set(names)) != len(names):
        raise CommandExecutionError(f"destinations must have distinct base names: {sorted(files)}")
    shutil.rmtree(staged_dir, ignore_errors=True)
    os.makedirs(staged_dir, mode=0o700)
    staged = {}
    for dest, source in files.items():
        path = os.path.join(staged_dir, os.path.basename(dest))
        own = context or {}
        if isinstance(source, dict):  # {"source": ..., "context": {...}}: a context of its own
            source, own = source["source"], dict(own, **(source.get("context") or {}))
        if str(source).startswith("salt://"):
            done = __salt__["cp.get_template"](source, path, saltenv=saltenv, **own)
            if not done:
                raise CommandExecutionError(f"could not render {source} for {dest}")
        else:
            shutil.copyfile(source, path)
        staged[dest] = path
    return staged


def _live(running):
    return True if not running else _run(running)[0]


def _armed(name):
    unit = UNIT.format(name)
    ret = __salt__["cmd.run_all"](
        ["systemctl", "is-active", "--quiet", f"{unit}.timer", f"{unit}.service"],
        python_shell=False,
        ignore_retcode=True,
    )
    return ret["retcode"] == 0


def _arm(name, script, seconds):
    unit = UNIT.format(name)
    _run_each(
        [
            [
                "systemd-run",
                f"--unit={unit}",
                "--collect",
                f"--on-active={int(seconds)}s",
                # A timer's default accuracy is a minute: fire when told.
                "--timer-property=AccuracySec=1s",
                script,
            ]
        ]
    )


def _disarm(name):
    """Stop the timer (one that fired is gone already: not an error)."""
    unit = UNIT.format(name)
    __salt__["cmd.run_all"](["systemctl", "stop", f"{unit}.timer"], python_shell=False, ignore_retcode=True)
    if _armed(name):
        raise CommandExecutionError(f"{name}: could not stop {unit}.timer: it will roll back the change")


def probe(master_ports=(), ssh_from_master=False, master=None, timeout=5, attempts=3, pause=2, links=()):
    """
    Whether this host still answers: systemd-networkd has configured each of
    ``links`` (a failed one is reconfigured, see ``public_net.settle``), then a
    new TCP connection to each of the
    master's ``master_ports`` (the master from this minion's config unless
    ``master`` is given) and, with ``ssh_from_master``, the master's
    ``reach.ssh`` runner opening this host's SSH port (the master must allow
    it: ``peer_run``; not tried when the master is not reached). Each check
    is tried ``attempts`` times, ``pause`` seconds apart. Returns
    ``{"ok": bool, "passed": [...], "failed": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt hyp1 safe_apply.probe master_ports='[4505, 4506]' ssh_from_master=True
    """
    masters = master or __opts__["master"]
    masters = [masters] if isinstance(masters, str) else list(masters)
    passed, failed = [], []
    if links:
        try:
            __salt__["public_net.settle"](list(links))
            passed.append(f"networkd configured {', '.join(links)}")
        except CommandExecutionError as exc:
            failed.append(str(exc))
    unreached = []
    for host in masters:
        for port in master_ports:
            what = f"TCP connection to the master {host}:{port}"
            ok = _retry(lambda h=host, p=port: _tcp(h, p, timeout), attempts, pause)
            (passed if ok else unreached).append(what)
    failed += unreached
    if ssh_from_master and unreached:
        failed.append(f"SSH to {__opts__['id']} from the master: not tried, the master is not reached")
    elif ssh_from_master:
        minion = __opts__["id"]
        answers = []

        def reached():
            answers.append(__salt__["publish.runner"]("reach.ssh", arg=[minion], timeout=timeout * 3))
            return answers[-1] is True

        ok = _retry(reached, attempts, pause)
        what = f"SSH to {minion} from the master (reach.ssh)"
        (passed if ok else failed).append(what if ok else f"{what}: {answers[-1]!r}")
    return {"ok": not failed, "passed": passed, "failed": failed}


def preview(name, files, check=(), running=None, context=None, saltenv="base"):
    """
    What :func:`apply` would do, changing nothing: the files are rendered into
    a temporary directory and compared with their destinations, the ``check``
    commands (read-only) run on them when something would be done, and the
    ``running`` command says whether the configuration is live. Returns
    ``{"diff": {dest: diff}, "live": bool, "check": {"ok": bool, "said": str}}``
    (``ok`` None: not run, nothing to do or a command not installed yet).

    CLI Example:

    .. code-block:: bash

        salt hyp1 safe_apply.preview firewall \\
            '{"/etc/shorewall/rules": "salt://firewall/files/rules.jinja"}' \\
            check='[["shorewall", "check", "{staged}"]]' running='["shorewall", "status"]'
    """
    staged_dir = tempfile.mkdtemp(prefix=f"hv-safe-apply-{name}-")
    try:
        staged = _stage(files, os.path.join(staged_dir, "staged"), context, saltenv)
        diff = {dest: d for dest, path in staged.items() if (d := _diff(dest, path)) is not None}
        live = _live(running)
        outcome = {"ok": None, "said": "nothing to check"}
        missing = [command[0] for command in _commands(check) if shutil.which(command[0]) is None]
        if check and (diff or not live):
            try:
                if missing:
                    outcome["said"] = f"not run: `{missing[0]}` is not installed yet"
                else:
                    _run_each(check, os.path.join(staged_dir, "staged"))
                    outcome = {"ok": True, "said": "passed"}
            except CommandExecutionError as exc:
                outcome = {"ok": False, "said": str(exc)}
        return {"diff": diff, "live": live, "check": outcome}
    finally:
        shutil.rmtree(staged_dir, ignore_errors=True)


def apply(
    name,
    files,
    check=(),
    apply=(),
    rollback=(),
    rollback_stopped=None,
    running=None,
    rollback_after=90,
    probe=None,
    context=None,
    saltenv="base",
    state_dir=STATE_DIR,
):
    """
    Install ``files`` (destination -> source: a ``salt://`` template rendered
    with ``context``, or a file on this host) behind a dead-man, as the module
    docstring tells. ``running`` (a command) says whether the configuration is
    live; with every file in place and the configuration live there is
    nothing to do. ``rollback`` re-applies the previous files when the
    configuration was live before, ``rollback_stopped`` (default:
    ``rollback``) when it was not. ``probe``: keyword arguments of
    :func:`probe`, or None for none. Returns ``{"changed": bool, "diff":
    {dest: diff}, "live_before": bool, "comment": str}``; raises
    ``CommandExecutionError`` when the check fails (nothing changed) or when a
    command or probe failed (rolled back).

    CLI Example:

    .. code-block:: bash

        salt hyp1 safe_apply.apply firewall \\
            '{"/etc/shorewall/rules": "salt://firewall/files/rules.jinja"}' \\
            check='[["shorewall", "check", "{staged}"]]' apply='[["shorewall", "reload", "-c"]]' \\
            rollback='[["shorewall", "reload", "-c"]]'
    """
    paths = _paths(state_dir, name)
    if _armed(name):
        raise CommandExecutionError(
            f"an earlier apply of {name} is still armed or rolling back ({UNIT.format(name)}.timer): "
            "nothing done; run again once it has fired"
        )
    os.makedirs(paths["base"], mode=0o700, exist_ok=True)
    staged = _stage(files, paths["staged"], context, saltenv)
    diff = {dest: d for dest, path in staged.items() if (d := _diff(dest, path)) is not None}
    live = _live(running)
    result = {"changed": False, "diff": diff, "live_before": live}
    if not diff and live:
        result["comment"] = f"{name}: every file is in place and live"
        return result
    _run_each(check, paths["staged"])  # raises: nothing changed

    restore = _backup(sorted(diff), paths["previous"])
    commands = _commands(rollback if live or rollback_stopped is None else rollback_stopped)
    with open(paths["script"], "w", encoding="utf-8") as handle:
        commands = [_with_staged(command, paths["staged"]) for command in commands]
        handle.write(_rollback_script(name, restore, commands, paths["mark"]))
    os.chmod(paths["script"], 0o700)
    if os.path.exists(paths["mark"]):
        os.unlink(paths["mark"])
    _arm(name, paths["script"], rollback_after)

    failed = []
    try:
        for dest in sorted(diff):
            _install(dest, staged[dest])
        _run_each(apply, paths["staged"])
        if probe:
            failed = __salt__["safe_apply.probe"](**probe)["failed"]
    except (CommandExecutionError, OSError) as exc:
        failed = [str(exc)]

    if failed:
        ok, said = _run([paths["script"]])
        with contextlib.suppress(CommandExecutionError):  # firing later restores the same
            _disarm(name)
        back = (
            "rolled back at once: the previous configuration is back"
            if ok
            else f"the rollback script {paths['script']} failed too, look at the host: {said}"
        )
        raise CommandExecutionError(f"{name}: {'; '.join(failed)}; {back}")

    _disarm(name)
    if os.path.exists(paths["mark"]):
        raise CommandExecutionError(
            f"{name}: the dead-man fired ({rollback_after}s) before the probe was through: "
            "the previous configuration is back; raise rollback_after"
        )
    shutil.rmtree(paths["previous"], ignore_errors=True)
    os.unlink(paths["script"])
    result["changed"] = True
    passed = "probe passed" if probe else "no probe"
    result["comment"] = f"{name}: applied {len(diff)} file(s), {passed}, dead-man disarmed"
    return result
