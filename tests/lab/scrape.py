"""The node exporter of a lab host, scraped from the master's namespace (issue 25's
metrics, docs/metrics.md): what a Prometheus server beside the master would get."""

import re
import sys

from lab import topology
from tests.lab import standins

# An HTTP GET printed, by this venv's Python (no other client needed in the namespace).
GET = "import sys, urllib.request as u; sys.stdout.write(u.urlopen(sys.argv[1], timeout=10).read().decode())"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def parse(text):
    """Prometheus text exposition -> ``{"name" or "name{labels}": value}`` (comments and
    blank lines left out; the labels as the exporter printed them)."""
    samples = {}
    for line in text.splitlines():
        found = _SAMPLE.match(line.strip())
        if found:
            samples[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    return samples


def hv_series(samples):
    """The ``hv_*`` samples alone."""
    return {key: value for key, value in samples.items() if key.startswith("hv_")}


def scrape(host, port=9100):
    """``GET http://<host's public address>:<port>/metrics`` from the master's namespace."""
    address = next(h.public_ip for h in topology.hosts() if h.name == host)
    proc = standins._exec(
        topology.MASTER_NS, sys.executable, "-c", GET, f"http://{address}:{port}/metrics", timeout=30
    )
    assert proc.returncode == 0, f"{host}: {proc.stdout}{proc.stderr}"
    return parse(proc.stdout)


def refreshed(lab, *hosts):
    """Have each host write its hv.prom now (what its schedule does every interval), then
    scrape it: ``{host: samples}``."""
    rc, ret, text = lab.salt("-L", ",".join(hosts), "metrics.write", timeout=120)
    assert rc == 0 and all(ret.get(h, {}).get("written") for h in hosts), text
    return {host: scrape(host) for host in hosts}
