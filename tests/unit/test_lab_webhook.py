"""The lab's webhook stand-in (lab/webhook.py), served here on 127.0.0.1: each POST
answered 200 and kept as one JSON line; the alerts pillar it writes is one the
alerts' validator takes."""

import http.server
import json
import threading

import requests

from lab import webhook
from tests.loaders import load

hv_alerts = load("_utils", "hv_alerts")


def test_each_post_is_kept_with_its_headers_and_body(tmp_path, monkeypatch):
    log = tmp_path / "received.jsonl"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), webhook._handler(str(log)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/hvlab"
        auth = {"Authorization": "Bearer t"}
        answer = requests.post(url, json={"kind": "takeover"}, headers=auth, timeout=5)
        assert answer.status_code == 200 and answer.json() == {"ok": True}
        requests.post(url, data=b"not json", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setattr(webhook, "LOG", log)
    posts = webhook.received()
    assert [p["body"] for p in posts] == [{"kind": "takeover"}, "not json"]
    assert posts[0]["path"] == "/hooks/hvlab" and posts[0]["headers"]["Authorization"] == "Bearer t"
    assert webhook.received(since=posts[1]["time"] + 1) == []
    assert json.loads(log.read_text().splitlines()[0])["body"] == {"kind": "takeover"}


def test_the_alerts_pillar_it_writes_is_valid():
    settings, problems = hv_alerts.settings(webhook.settings("hvlab-hook-" + "0" * 32)["alerts"])
    assert problems == []
    assert settings["rate"] == {"burst": webhook.BURST, "per_seconds": webhook.PER}
    assert settings["webhook"]["url"].startswith("http://127.0.0.1:")
