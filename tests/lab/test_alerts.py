"""B9 (issue 25): alerts that reach a person, in the lab. The master runs the alerts
engine as master.d/alerts.conf sets it up (lab/master.py: engines, engines_dirs, its
own id in the nodegroup alerts_master); its settings and the webhook's token are the
master's pillar alone (lab/webhook.py writes alerts.sls with a token made at each
boot); it posts to the webhook stand-in in the master's namespace. A host's death
sends one takeover and one fence alert (test_takeover.py); here, a burst."""

import re
import shlex
import time

import pytest

from lab import master, webhook
from tests.lab import alerts
from tests.lab.conftest import report

pytestmark = pytest.mark.lab
BURST_EVENTS = 100
# What a host runs to fire a burst of backup failures at the master, one Salt client, the
# way guest_backup fires each (event.send): each for another guest, so no two are the same
# alert (dedup) and only the rate limit can hold them back.
FIRE = """
import salt.client
caller = salt.client.Caller()
for i in range({n}):
    caller.cmd("event.send", "hv/backup/failed", {{"guest": f"burst{{i}}", "why": "the lab's burst"}})
"""


def test_the_master_alone_holds_the_alerts_settings(lab):
    """The hosts' pillar has no alerts part; the master's has it, with the token."""
    rc, ret, text = lab.salt("-N", "hypervisors", "pillar.item", "alerts")
    assert rc == 0 and all(value == {"alerts": ""} for value in ret.values()), text
    rc, shown, text = lab.run("pillar.show_pillar", master.MASTER_ID)
    assert rc == 0 and shown["alerts"]["webhook"]["token"] == webhook.token(), text[-2000:].replace(
        webhook.token(), "<token>"
    )


def test_a_burst_of_events_sends_at_most_the_burst_then_a_summary(lab):
    """100 backup failures fired at once (each its own alert): the bucket's alerts are
    sent, the rest held back and counted in a summary once a token is back; none lost
    from the count."""
    python = lab.sh("hyp2", 'head -n 1 "$(command -v salt-call)" | cut -c3-').strip()
    since = time.time()
    lab.sh("hyp2", f"{python} -c {shlex.quote(FIRE.format(n=BURST_EVENTS))}")
    alerts.wait_for_kinds(since, {"backup_failed"}, host="hyp2")
    time.sleep(webhook.PER * 3 + 5)  # a token back: the summary
    sent = alerts.received(since)
    burst = [a for a in sent if a["kind"] == "backup_failed" and str(a.get("guest")).startswith("burst")]
    summaries = [a for a in sent if a["kind"] == "suppressed"]
    held = sum(int(re.search(r"(\d+) alerts? suppressed", a["text"]).group(1)) for a in summaries)
    assert 1 <= len(burst) <= webhook.BURST + 1 and 1 <= len(summaries) <= 2, [a["text"] for a in sent]
    assert len(burst) + held == BURST_EVENTS, [a["text"] for a in sent]
    report(
        f"B9 alerts: {BURST_EVENTS} backup failures fired at once: {len(burst)} sent (alerts:rate:burst"
        f" {webhook.BURST}), {held} held back and counted: {summaries[0]['text']!r}"
    )
