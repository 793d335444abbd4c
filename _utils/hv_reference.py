"""
hv_reference: the pillar reference (docs/pillar.md) made from the schema's rows
(``make pillar-reference``; a unit test keeps it up to date). Plain Python.
"""

import hv_schema
import hv_schema_alerts


def _cell(value):
    text = (
        ""
        if value is None
        else repr(value)
        if not isinstance(value, str)
        else f"`{value}`"
        if value
        else '`""`'
    )
    return text if len(text) <= 60 else text[:57] + "…"


def _limits(row):
    if row.bounds:
        return f"{row.bounds[0]}..{row.bounds[1]}"
    if row.choices:
        return ", ".join(row.choices)
    if row.pattern:
        return row.pattern[1]
    return ""


def reference():
    """The pillar reference, as Markdown."""
    lines = [
        "# Pillar reference",
        "",
        "Made from `_utils/hv_schema.py` by `make pillar-reference`; do not edit by hand.",
        "Every key is under `hypervisor:`. A default is the row's, else its OS family's, else its",
        "release's (Debian 12 is the Debian family's reference; Debian 13's own values are named).",
        "The cluster description (`domain`, `hosts`, `bridges`,",
        "`admins`, `guests`) and the API settings (`online:`) are described in `pillar.example`.",
        "",
        "| key | kind | default | limits | what it is |",
        "|---|---|---|---|---|",
    ]
    for row in hv_schema.ROWS:
        default = _cell(row.default)
        for family in hv_schema.OS_FAMILIES:
            if row.key in hv_schema.OS_DEFAULTS[family]:
                default += f"<br>{family}: {_cell(hv_schema.OS_DEFAULTS[family][row.key])}"
        for (family, release), values in sorted(hv_schema.RELEASE_DEFAULTS.items()):
            if row.key in values:
                default += f"<br>{family} {release}: {_cell(values[row.key]) or 'none'}"
        doc = row.doc + ("" if row.pillar else " (set by the OS release only)")
        lines.append(f"| `{row.key}` | {row.kind} | {default} | {_limits(row)} | {doc} |")
    lines += [
        "",
        "## Each host's private network",
        "",
        "Under `hypervisor:hosts:<name>:rpn` (the rest of a host: `pillar.example`). A Hetzner",
        "vSwitch as the private network: [hetzner.md](hetzner.md#a-vswitch-as-the-private-network).",
        "",
        "| key | kind | default | limits | what it is |",
        "|---|---|---|---|---|",
    ]
    for row in hv_schema.RPN_ROWS:
        lines.append(f"| `{row.key}` | {row.kind} | {_cell(row.default)} | {_limits(row)} | {row.doc} |")
    part, group = hv_schema_alerts.ALERTS_PART, hv_schema_alerts.ALERTS_NODEGROUP
    lines += [
        "",
        "## The master's alerts",
        "",
        f"Under `{part}:`, not `hypervisor:`: the master's own pillar ({part}.sls, given to the",
        f"nodegroup `{group}` alone, which names the master's id), read by its alerts engine",
        f"([alerts.md](alerts.md)). A host's pillar with `{part}:` is refused. A secret's value",
        "is never shown, logged, sent in an alert or written to the engine's state.",
        "",
        "| key | kind | default | limits | what it is |",
        "|---|---|---|---|---|",
    ]
    for row in hv_schema_alerts.ALERT_ROWS:
        default = "" if row.kind == "secret" else _cell(row.default)
        lines.append(f"| `{part}:{row.key}` | {row.kind} | {default} | {_limits(row)} | {row.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
