"""A watch for double runs, shared by every lab: samples where each guest runs while
a block runs (tests/lab/takeover.py for the main lab, bench/takeover_many.py for the
three-host lab)."""

import threading
import time


class DoubleRunWatch:
    """Calls ``where()`` (``{guest: [hosts running it]}``) every ``every`` seconds until
    the block ends. ``doubles``: the samples that found a guest on two hosts;
    ``largest_gap``: the longest time between two samples, the longest a double run
    could have gone unseen. An error ends the watch and is raised when the block
    ends (a watch that stopped proves nothing)."""

    SEEN_WITHIN = 10  # seconds: a test trusts a watch whose samples were never further apart

    def __init__(self, where, every=0.5):
        self.where, self.every = where, every
        self.samples, self.doubles, self.error = 0, [], None
        self.largest_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        last = time.monotonic()
        try:
            while not self._stop.is_set():
                found = self.where()
                now = time.monotonic()
                self.doubles += [(now, name, hosts) for name, hosts in found.items() if len(hosts) > 1]
                self.largest_gap = max(self.largest_gap, now - last)
                self.samples, last = self.samples + 1, now
                self._stop.wait(self.every)
        except Exception as exc:  # kept, raised when the block ends
            self.error = exc

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, exc_type, *_exc):
        self._stop.set()
        self._thread.join(60)
        if self.error is not None and exc_type is None:
            raise RuntimeError(f"the double-run watch stopped after {self.samples} samples") from self.error

    def summary(self):
        gap = f"at most {self.largest_gap:.1f} s apart"
        return f"{len(self.doubles)} double runs in {self.samples} samples ({gap})"
