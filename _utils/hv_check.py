"""
The checks every pillar rule is made of, and the table-driven check of the
settings (hv_schema's rows): an error list that never shows a secret, typed
and bounded values, safe paths, IPv4 forms, unknown keys with a suggestion.

Plain Python, no Salt.
"""

import copy
import difflib
import ipaddress
import os
import re

import hv_providers
import hv_schema
import hv_schema_alerts

TOKEN_KEY = ("online", "api_token")
# The provider's credentials: the pillar's only secrets, each at its own key.
CREDENTIAL_PATHS = hv_providers.CREDENTIAL_PATHS
# The master's alerting credentials (alerts:, issue 25): the master's pillar alone has them.
ALERT_SECRET_PATHS = tuple(
    (hv_schema_alerts.ALERTS_PART, *hv_schema.path_of(key)) for key in hv_schema_alerts.ALERT_REDACTED
)
SECRET_NAME = re.compile(r"(token|api_?key|secret|passw(or)?d|passphrase|private_?key|credential)", re.I)
PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----|b3BlbnNzaC1rZXktdjE|PuTTY-User-Key-File")
SECRET_MIN = 6  # shorter secrets are not searched for: they would match innocent text
SHOWN_MAX = 60  # the longest value a message echoes
# Keys that are read no more, and what replaces them.
RETIRED = {
    ("hypervisor", "gluster", "arbiter"): "is no longer read: the arbiter is a host's role now; set"
    " hypervisor:hosts:<name>:role: arbiter on that host instead",
}


def _key(*path):
    return ":".join(str(p) for p in path)


def named(path):
    """Another key, as a message names it."""
    return f"pillar key '{_key(*path)}'"


class Errors(list):
    """Lines ``pillar key 'a:b': message``, each once, that never show a secret.

    Every line has ``secrets`` redacted (case-insensitively: some checks
    lowercase). A key refused for holding a secret (:meth:`hide`) gets that
    line only: no other check may echo its value.
    """

    def __init__(self, secrets=()):
        super().__init__()
        found = sorted({s for s in secrets if len(s) >= SECRET_MIN}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, found)), re.I) if found else None
        self._hidden = set()

    def redact(self, text):
        return self._secrets.sub("<redacted>", text) if self._secrets else text

    def show(self, value):
        """``value`` as a message may echo it: secrets redacted, at most SHOWN_MAX characters."""
        if isinstance(value, str) and PRIVATE_KEY.search(value):
            return "<a private key>"
        text = repr(self.redact(value)) if isinstance(value, str) else self.redact(repr(value))
        return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"

    def add(self, path, message):
        if any(tuple(path[: len(hidden)]) == hidden for hidden in self._hidden):
            return
        line = self.redact(f"pillar key '{_key(*path)}': {message}")
        if line not in self:
            self.append(line)

    def hide(self, path, message):
        """Refuse the secret at ``path`` with ``message``, and say nothing else about that key."""
        self.add(path, message)
        self._hidden.add(tuple(path))


def unknown_keys(errors, path, data, allowed):
    for key in data:
        if path + (key,) in RETIRED:
            errors.add(path + (key,), RETIRED[path + (key,)])
        elif key not in allowed:
            close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.add(path + (key,), f"unknown key{hint}")


def require_mapping(errors, path, value):
    if not isinstance(value, dict):
        errors.add(path, f"must be a mapping, got {type(value).__name__}")
        return False
    return True


def int_in_range(errors, path, value, bounds):
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, f"must be an integer, got {errors.show(value)}")
    elif not low <= value <= high:
        errors.add(path, f"{value} is out of range {low}..{high}")


def match(errors, path, value, pattern, what):
    if not isinstance(value, str) or not pattern.fullmatch(value):  # "$" alone would allow a final "\n"
        errors.add(path, f"{errors.show(value)} is not {what}")


def ipv4(errors, path, value, with_prefix):
    try:
        if not isinstance(value, str):
            raise ValueError
        if with_prefix:
            if "/" not in value:
                raise ValueError
            address = ipaddress.IPv4Interface(value).ip
        else:
            address = ipaddress.IPv4Address(value)
    except ValueError:
        form = "an IPv4 address with prefix length (a.b.c.d/nn)" if with_prefix else "an IPv4 address"
        errors.add(path, f"{errors.show(value)} is not {form}")
        return
    kind = _special(address)
    if kind:
        errors.add(path, f"{errors.show(value)} is {kind}, not a host's address")


def _special(address):
    """What makes ``address`` no host's unicast address (B10), or None."""
    for kind, test in (
        ("the unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a multicast address", address.is_multicast),
        ("a link-local address", address.is_link_local),
        ("the broadcast address", address == ipaddress.IPv4Address("255.255.255.255")),
        ("a reserved address (240.0.0.0/4)", address in ipaddress.IPv4Network("240.0.0.0/4")),
    ):
        if test:
            return kind
    return None


def required(errors, path, data, keys):
    for key in keys:
        if key not in data:
            errors.add(path + (key,), "is required but missing")


def check_settings(errors, hv):
    """The settings the pillar layers over the defaults: every key a row of hv_schema (or a
    section of rows), every value of its row's kind and within its limits."""
    for key, value in hv.items():
        if hv_schema.children((key,)) or hv_schema.row_at((key,)):
            _check_node(errors, (key,), value)


def _check_node(errors, path, value):
    row = hv_schema.row_at(path)
    if row is not None:
        _check_row(errors, ("hypervisor", *path), value, row)
    elif require_mapping(errors, ("hypervisor", *path), value):
        allowed = hv_schema.children(path)
        unknown_keys(errors, ("hypervisor", *path), value, allowed)
        for key, item in value.items():
            if key in allowed:
                _check_node(errors, (*path, key), item)


def check_row(errors, path, value, row):
    """``value`` at ``path`` (the whole key, its part first) against ``row``: what the
    alerts' settings (hv_schema_alerts.ALERT_ROWS, not under ``hypervisor:``) are checked with."""
    _check_row(errors, path, value, row)


def _check_row(errors, path, value, row):
    """One value against its row; a rule's value is left to its rule."""
    if not row.pillar:
        errors.add(path, "is set by the OS family (its sanlock fixes it), not a pillar setting")
    elif row.kind == "rule":
        if isinstance(row.default, dict):
            require_mapping(errors, path, value)
    elif row.kind in ("map", "fixed"):
        _check_map(errors, path, value, row)
    elif row.kind in ("names", "args", "sources", "ints"):
        _check_list(errors, path, value, row)
    else:
        _check_scalar(errors, path, value, row.kind, row)


def _check_map(errors, path, value, row):
    if not require_mapping(errors, path, value):
        return
    if row.kind == "fixed":
        unknown_keys(errors, path, value, list(row.default))
    for key, item in value.items():
        if row.pattern:
            match(errors, path + (key,), key, *row.pattern)
        if isinstance(item, (dict, list)):
            errors.add(path + (key,), "must be a single value")
        elif isinstance(item, str) and not hv_schema.ONE_VALUE.fullmatch(item):
            errors.add(
                path + (key,), f"{errors.show(item)} is not one value (no newline, quote or backslash)"
            )
        elif row.kind == "fixed" and key in row.default:
            default = row.default[key]
            kind = "path" if str(default).startswith("/") else "int" if isinstance(default, int) else "str"
            _check_scalar(errors, path + (key,), item, kind)


def _check_list(errors, path, value, row):
    kind, what = (int, "integers") if row.kind == "ints" else (str, hv_schema.LIST_ITEMS[row.kind])
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        errors.add(path, f"must be a list of {what}")
    elif row.kind == "ints" and row.bounds:
        for index, port in enumerate(value):
            int_in_range(errors, path + (index,), port, row.bounds)
    elif row.kind == "sources":
        for index, source in enumerate(value):
            ipv4_source(errors, path + (index,), source)
    elif row.pattern:
        for index, item in enumerate(value):
            match(errors, path + (index,), item, *row.pattern)


def _check_scalar(errors, path, value, kind, row=None):
    if kind == "bool":
        if not isinstance(value, bool):
            errors.add(path, f"must be bool, got {errors.show(value)}")
    elif kind == "int":
        if row is not None and row.bounds:
            int_in_range(errors, path, value, row.bounds)
        elif isinstance(value, bool) or not isinstance(value, int):
            errors.add(path, f"must be an integer, got {errors.show(value)}")
    elif kind == "path":
        before = len(errors)
        check_path(errors, path, value)
        if row is not None and row.pattern and len(errors) == before and not row.pattern[0].fullmatch(value):
            errors.add(path, f"{errors.show(value)} is not {row.pattern[1]}")
    elif isinstance(value, bool):
        errors.add(path, f"must be str, got {errors.show(value)}")
    elif isinstance(value, (dict, list)):
        errors.add(path, "must be a single value")
    elif row is not None and row.choices and value not in row.choices:
        errors.add(path, f"{errors.show(value)} is not one of {', '.join(row.choices)}")
    elif row is not None and row.pattern and not (value == "" == row.default):
        match(errors, path, value, *row.pattern)


def check_path(errors, path, value, under="/"):
    """An absolute path under ``under``, normalised, of safe characters only, not a system directory."""
    if not isinstance(value, str) or not value.startswith(under):
        where = "an absolute path" if under == "/" else f"a path under {under}"
        errors.add(path, f"{errors.show(value)} is not {where}")
    elif not hv_schema.SAFE_PATH.fullmatch(value):
        errors.add(path, f"{errors.show(value)} has characters other than letters, digits, '._+@-' and '/'")
    elif os.path.normpath(value) != value or "//" in value:
        errors.add(path, f"{errors.show(value)} is not a normal path (no '.', '..', '//' or trailing '/')")
    elif value in hv_schema.SYSTEM_DIRS or hv_schema.USR_DIR.fullmatch(value):
        errors.add(path, f"{errors.show(value)} is a system directory")
    elif value in hv_schema.SYSTEM_FILES:
        errors.add(path, f"{errors.show(value)} is a system file or directory that no setting may own")


def as_seconds(value):
    """A gluster option's whole number of seconds above 0 ("5" or 5), or None."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def ipv4_source(errors, path, value):
    """An IPv4 address or network (a.b.c.d or a.b.c.d/nn), as a firewall source."""
    try:
        if isinstance(value, str):
            ipaddress.IPv4Network(value)
            return
    except ValueError as err:
        if "host bits" in str(err):
            network = ipaddress.IPv4Network(value, strict=False)
            errors.add(path, f"{errors.show(value)} has host bits set (did you mean {network}?)")
            return
    errors.add(path, f"{errors.show(value)} is not an IPv4 address or network (a.b.c.d or a.b.c.d/nn)")


def list_items(value, kind):
    """(index, item) for the items of type ``kind`` of a list; the rest check_overrides reports."""
    items = value if isinstance(value, list) else []
    return [(i, v) for i, v in enumerate(items) if isinstance(v, kind) and not isinstance(v, bool)]


def _walk(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield path + (key,), value
            yield from _walk(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield path + (index,), value
            yield from _walk(value, path + (index,))


def secrets(pillar):
    """Every value no message may show: the providers' credentials, the alerts' (a
    webhook's URL among them), values under secret-looking keys, private keys."""
    found = []
    for path, value in _walk(pillar):
        if path in CREDENTIAL_PATHS or path in ALERT_SECRET_PATHS or SECRET_NAME.search(str(path[-1])):
            found += [str(v) for _p, v in _walk([value]) if v is not None and not isinstance(v, (dict, list))]
        elif isinstance(value, str) and PRIVATE_KEY.search(value):
            found += [value, *(line.strip() for line in value.splitlines())]
    return found


def _credentials(pillar):
    """{credential path: its value, lowercased}, for those long enough to be searched for."""
    found = {}
    for part, key in CREDENTIAL_PATHS:
        section = pillar.get(part) if isinstance(pillar, dict) else None
        value = section.get(key) if isinstance(section, dict) else None
        if isinstance(value, str) and len(value) >= SECRET_MIN:
            found[(part, key)] = value.lower()
    return found


def _credential_name(path):
    return "the API token" if path == TOKEN_KEY else f"a credential of {_key(path[0])}"


def check_secrets(errors, pillar):
    """A secret outside the providers' credential keys is refused by its key alone; a
    credential's value anywhere else too; no value is ever shown."""
    credentials = _credentials(pillar)
    homes = ", ".join(f"'{_key(*p)}'" for p in CREDENTIAL_PATHS)
    for path, value in _walk(pillar):
        text = value if isinstance(value, str) else ""
        if path in CREDENTIAL_PATHS:
            continue
        held = [p for p, v in credentials.items() if v in text.lower() or v in str(path[-1]).lower()]
        if SECRET_NAME.search(str(path[-1])):
            errors.hide(
                path,
                f"looks like a secret: the pillar's only secrets are the provider's credentials, in {homes}",
            )
        elif held:
            errors.hide(path, f"holds {_credential_name(held[0])}, which belongs in '{_key(*held[0])}' only")
        elif PRIVATE_KEY.search(text) and path[-2:-1] == ("ssh_keys",):
            errors.hide(path, "is a private key, not a public key line: give its .pub, and replace the pair")
        elif PRIVATE_KEY.search(text):
            errors.hide(path, "is a private key: no private key belongs in the pillar")


def merge(base, over):
    """Deep-merge ``over`` into a copy of ``base`` (dicts merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
