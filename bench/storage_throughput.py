"""Sequential write and read through the gluster mount, against the brick's
own file system, on a running lab (``make lab`` first). Prints MB/s and the
gluster/local ratios; it asserts nothing.

    .venv/bin/python -m bench.storage_throughput [--host hyp1] [--size-mib 256] [--runs 3]

Writes end with fsync (``conv=fsync``) and reads use O_DIRECT
(``iflag=direct``), so that neither measures the page cache alone. Both
files live on the same disk of this machine: the ratio is the cost of the
gluster layers (FUSE, replication to the peer over the lab's RPN), not a
hardware figure.
"""

import argparse
import re
import statistics
import sys

from lab import machines, topology

TARGETS = {
    "brick fs (local)": "/mnt/bricks/bench.bin",
    "gluster vmstore": "/var/lib/libvirt/images/bench.bin",
}


def dd_rate(host, args):
    """MB/s (10^6 bytes per second) that one dd run reports."""
    out = machines.run(host, "sh", "-c", f"dd {args} 2>&1").stdout
    match = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", out)
    if not match:
        raise RuntimeError(f"unexpected dd output: {out}")
    return int(match.group(1)) / float(match.group(2)) / 1e6


def measure(host, path, size_mib, runs):
    writes, reads = [], []
    for _ in range(runs):
        writes.append(dd_rate(host, f"if=/dev/zero of={path} bs=1M count={size_mib} conv=fsync"))
        reads.append(dd_rate(host, f"if={path} of=/dev/null bs=1M iflag=direct"))
        machines.run(host, "rm", "-f", path)
    return statistics.median(writes), statistics.median(reads)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="hyp1")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    host = next(h for h in topology.hosts() if h.name == args.host)
    results = {name: measure(host, path, args.size_mib, args.runs) for name, path in TARGETS.items()}
    print(f"{args.size_mib} MiB sequential, median of {args.runs} runs, on {args.host}")
    print(f"{'target':<20} {'write MB/s':>11} {'read MB/s':>10}")
    for name, (write, read) in results.items():
        print(f"{name:<20} {write:>11.1f} {read:>10.1f}")
    local, gluster = results["brick fs (local)"], results["gluster vmstore"]
    print(f"{'gluster / local':<20} {gluster[0] / local[0]:>11.2f} {gluster[1] / local[1]:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
