"""
hv_schema_alerts: the settings of the master's own pillar part ``alerts:`` (issue 25),
one row per key, as hv_schema's rows are for ``hypervisor:``.

Not under ``hypervisor:``: pillar/top.sls gives alerts.sls to the nodegroup
``alerts_master`` alone (master.d/alerts.conf: the master's id), read by the alerts
engine (``_engines/hv_alerts.py``, rules in ``_utils/hv_alerts.py``). No host may get
it: the validator refuses the part in a host's pillar, never showing it.

Plain Python, like hv_schema.
"""

import re

from hv_schema import OPTIONAL_PATH, PORT_RANGE, Row

ALERTS_PART = "alerts"
ALERTS_NODEGROUP = "alerts_master"
# What is alerted: the kinds a person may turn off (alerts:kinds), each with what it says.
ALERT_KINDS = {
    "takeover": "a host taken for dead, its guests started elsewhere (hv/takeover/dead, an open incident)",
    "fence_done": "a dead host fenced through the provider's API (hv/fence/done)",
    "fence_failed": "a fence that failed (hv/fence/failed, hv/takeover/fence/failed)",
    "evacuation_failed": "an evacuation that left a guest running or the failover IPs behind",
    "guest_unplaced": "a guest no host had room for (hv/evacuation|takeover/guest/unplaced)",
    "split_brain": "a volume with entries in split-brain (the status check), and when it clears",
    "failover_error": "a failover provider's error (hv/failover/error)",
    "drained_too_long": "a host drained for longer than alerts:drained_after, and when undrained",
    "backup_failed": "a guest backup or restore that failed, a guest left frozen (hv/backup/...)",
}
HEADER_NAME = (re.compile(r"^[A-Za-z0-9-]{1,64}$"), "an HTTP header name")
MAIL_HOST = (
    re.compile(
        r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    ),
    "a host name or an IPv4 address",
)
MAIL_ADDRESS = (
    re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,63}$"),
    "a mail address",
)
LABEL = (re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"), "a short name (letters, digits, ' ._-')")
ALERT_KIND = (
    re.compile("^(" + "|".join(ALERT_KINDS) + ")$"),
    "an alert kind (" + ", ".join(ALERT_KINDS) + ")",
)
# The keys whose values are secrets: never in a message, a log line, an alert or a state
# file. A webhook URL counts (Slack's, Mattermost's and most others carry their token).
ALERT_SECRETS = ("webhook:url", "webhook:token", "mail:user", "mail:password")
# Those whose values are also searched for in every other text, and replaced: not the mail
# login, which may well be a common word ("alerts") that would blank every line holding it;
# it is never printed itself.
ALERT_REDACTED = ("webhook:url", "webhook:token", "mail:password")
ALERT_ROWS = (
    Row("enabled", True, "bool", "Send alerts (needs webhook:url or mail:host)."),
    Row("label", "hypervisor-cluster", "str", "Names the cluster in every alert.", pattern=LABEL),
    Row("kinds", list(ALERT_KINDS), "names", "The kinds alerted (docs/alerts.md).", pattern=ALERT_KIND),
    Row("rate:burst", 5, "int", "Alerts sent at once before the rate limit holds them.", bounds=(1, 100)),
    Row(
        "rate:per_seconds",
        60,
        "int",
        "Then one alert per this many seconds; one more says how many were held back.",
        bounds=(1, 86400),
    ),
    Row(
        "dedup_seconds",
        600,
        "int",
        "The same kind for the same host and guest (or volume) within this many seconds: sent once.",
        bounds=(0, 86400),
    ),
    Row(
        "drained_after",
        14400,
        "int",
        "Seconds a host may stay drained before it is alerted.",
        bounds=(300, 30 * 86400),
    ),
    Row(
        "check_interval",
        60,
        "int",
        "Seconds between two status checks (split-brain, drained hosts, open incidents).",
        bounds=(10, 3600),
    ),
    Row("send:timeout", 10, "int", "Seconds one try of a webhook call or a mail may take.", bounds=(1, 120)),
    Row(
        "send:retries",
        3,
        "int",
        "Tries again after a webhook's 5xx (or 429) or a transient mail error, then gives up.",
        bounds=(0, 10),
    ),
    Row("webhook:url", None, "secret", "The webhook (https://): a secret, never shown."),
    Row("webhook:token", None, "secret", "Sent in token_header (as Bearer with Authorization): a secret."),
    Row(
        "webhook:token_header",
        "Authorization",
        "str",
        "The header that carries the token.",
        pattern=HEADER_NAME,
    ),
    Row("webhook:allow_http", False, "bool", "Lets url be plain http://: a local stand-in only."),
    Row("webhook:ca_file", "", "str", 'The CA bundle to trust ("": the system\'s).', pattern=OPTIONAL_PATH),
    Row("mail:host", "", "str", 'The SMTP relay ("": no mail).', pattern=MAIL_HOST),
    Row("mail:port", 587, "int", "Its port.", bounds=PORT_RANGE),
    Row(
        "mail:tls",
        "starttls",
        "str",
        "STARTTLS, TLS from the start, or none.",
        choices=("starttls", "ssl", "none"),
    ),
    Row("mail:ca_file", "", "str", 'The CA bundle to trust ("": the system\'s).', pattern=OPTIONAL_PATH),
    Row("mail:user", None, "secret", "Login, with password (never over tls: none): a secret."),
    Row("mail:password", None, "secret", "Its password: a secret."),
    Row("mail:from", "", "str", "The sender; required with mail:host.", pattern=MAIL_ADDRESS),
    Row("mail:to", [], "names", "The recipients; required with mail:host.", pattern=MAIL_ADDRESS),
)
ALERTS_BY_KEY = {row.key: row for row in ALERT_ROWS}
