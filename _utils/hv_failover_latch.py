"""
hv_failover_latch: after a provider refused this host's credentials, no other call
with the same credentials for a while (B7). Hetzner Robot blocks an address after
repeated failed logins, and this host calls the API from several processes (the
beacon's poll, the reactor's syncs, takeover): one refusal must not become many.

The latch is a root-only file in ``failover:state_dir``: when, and a salted
SHA-256 of the credentials (never the credentials). New credentials in the
pillar lift it at once; else it holds ``HOLD`` seconds. Plain Python.
"""

import hashlib
import json
import logging
import os
import secrets
import time

log = logging.getLogger(__name__)

LATCH = "auth-refused.json"
HOLD = 900  # seconds without a call after a refusal, unless the credentials change


class Guarded:
    """``prov`` (a FailoverProvider) whose verbs are refused, nothing sent, while the
    latch holds for ``credentials``; a refusal (ProviderError kind ``auth``) sets it."""

    def __init__(self, prov, state_dir, credentials, hold=HOLD):
        self._prov = prov
        self._path = os.path.join(state_dir, LATCH)
        self._credentials = credentials
        self._hold = hold
        self.Error = prov.Error
        self.name = prov.name

    def __repr__(self):
        return f"Guarded({self._prov!r})"

    def __getattr__(self, verb):
        call = getattr(self._prov, verb)
        if not callable(call):
            return call

        def guarded(*args, **kwargs):
            held = self.held()
            if held:
                raise self.Error(held, "auth")
            try:
                return call(*args, **kwargs)
            except self.Error as exc:
                if exc.kind == "auth":
                    self._set(str(exc))
                raise

        return guarded

    def held(self):
        """Why no call may be made now, or None."""
        latch = _read(self._path)
        if not latch:
            return None
        if latch.get("fingerprint") != _fingerprint(latch.get("salt", ""), self._credentials):
            return None  # new credentials: they get their one try
        left = latch.get("at", 0) + self._hold - time.time()
        if left <= 0:
            return None
        return (
            f"not sent: {self.name}'s API refused these credentials {time.time() - latch['at']:.0f} s ago"
            f" ({latch.get('said', 'auth')}); no call with them for {left:.0f} s more (repeated failed"
            " logins get this address blocked): fix the credentials in the pillar"
        )

    def _set(self, said):
        salt = secrets.token_hex(16)
        record = {
            "at": time.time(),
            "salt": salt,
            "fingerprint": _fingerprint(salt, self._credentials),
            "said": said[:300],
        }
        try:
            os.makedirs(os.path.dirname(self._path), mode=0o700, exist_ok=True)
            fd = os.open(f"{self._path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            os.replace(f"{self._path}.tmp", self._path)
        except OSError as exc:
            log.warning("failover: cannot record the refused credentials in %s: %s", self._path, exc)


def _fingerprint(salt, credentials):
    text = "\0".join([salt, *(str(c) for c in credentials)])
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("at"), (int, float)) else None
