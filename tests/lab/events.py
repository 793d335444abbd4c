"""The master's event bus, recorded to a file while a test runs (``salt-run
state.event``): shared by the lab tests that check events (B4)."""

import contextlib
import datetime
import json
import subprocess

from lab import master, system


class Events:
    """``salt-run state.event`` on the master, recorded to a file (``command``: how to
    run it on another lab's master; default: the lab of this process)."""

    def __init__(self, path, command=None, env=None, cwd=None):
        self.path = path
        with open(path, "w") as out:
            self.proc = subprocess.Popen(
                command or master.command("salt-run", "state.event", "pretty=False"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
            )

    def all(self):
        found = []
        for line in self.path.read_text().splitlines():
            tag, _, data = line.partition("\t")
            with contextlib.suppress(ValueError):
                found.append((tag, json.loads(data)))
        return found

    def tagged(self, prefix, since=0.0):
        return [(t, d) for t, d in self.all() if t.startswith(prefix) and _stamp(d) >= since]

    def wait(self, prefix, since=0.0, timeout=30, where=None):
        def seen():
            return [d for _t, d in self.tagged(prefix, since) if where is None or where(d)]

        system.wait_for(seen, timeout, interval=0.2, what=f"an event {prefix}")
        return seen()

    def stop(self):
        system.kill_and_wait([self.proc.pid], sig=15, timeout=5)
        self.proc.wait()


def _stamp(data):
    """An event's time stamp (``_stamp``, UTC, ISO) as seconds since the epoch."""
    with contextlib.suppress(KeyError, ValueError):
        return datetime.datetime.fromisoformat(data["_stamp"]).replace(tzinfo=datetime.UTC).timestamp()
    return 0.0
