"""What reached the lab's webhook stand-in (lab/webhook.py) from the master's alerts
engine: the alerts' bodies, each checked for the token (it travels in its header only)."""

import json
import time

from lab import system, webhook


def received(since, **match):
    """The alerts posted since ``since`` whose fields match ``match``: their bodies. Each
    post carries the token in its Authorization header and nowhere else."""
    token = webhook.token()
    bodies = []
    for post in webhook.received(since):
        assert token not in json.dumps(post["body"]) and token not in post["path"], post["body"]
        assert post["headers"].get("Authorization") == f"Bearer {token}", "the token was not sent"
        body = post["body"]
        if all(body.get(key) == value for key, value in match.items()):
            bodies.append(body)
    return bodies


def wait_for_kinds(since, kinds, timeout=60, **match):
    """Wait until alerts of every one of ``kinds`` (matching ``match``) were posted since
    ``since``; then a few seconds more (a second one would come in that time). Returns
    the alerts of those kinds."""
    system.wait_for(
        lambda: kinds <= {a["kind"] for a in received(since, **match)},
        timeout,
        what=f"alerts {sorted(kinds)} at the webhook",
    )
    time.sleep(5)
    return [a for a in received(since, **match) if a["kind"] in kinds]


def shown(body):
    """One alert, as the report line shows it."""
    return json.dumps(body, sort_keys=True)
