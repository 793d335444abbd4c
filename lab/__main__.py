"""``python -m lab up|down|status|salt ARGS|shell HOST [CMD]|apply|crash HOST|revive HOST
|private HOST on|off|grow|shrink|api METHOD PATH`` (run as root)."""

import argparse
import concurrent.futures
import json
import logging
import os
import sys
import time

from . import guest, image, machines, master, network, provider, topology, webhook


def healthy(hosts):
    """True when the master (serving this checkout) and every host are running,
    on the release asked for (LAB_RELEASE): a lab to reuse."""
    return (
        bool(master.pid())
        and bool(provider.pid())
        and bool(webhook.pid())
        and master.serves_this_checkout()
        and all(machines.leader(h) for h in hosts)
        and all(machines.release(h) == topology.RELEASE for h in hosts)
    )


def down(hosts, echo=print):
    """Remove everything the lab created: processes (by PID), namespaces, root fs. The
    hosts power off side by side (each waits for its own shutdown)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        list(pool.map(machines.stop, hosts))
    master.stop()
    provider.stop()
    webhook.stop()
    gone = network.down()
    machines.remove_all()
    echo(f"lab: down (removed namespaces: {', '.join(gone) or 'none'})")


def up(hosts, echo=print):
    """Bring the lab up (or reuse it), then apply the states to every host."""
    if healthy(hosts):
        echo("lab: already up, reusing it")
    else:
        others = {machines.release(h) for h in hosts} - {None, topology.RELEASE}
        if others:
            echo(f"lab: the lab here runs {', '.join(sorted(others))}; replacing it with {topology.RELEASE}")
        down(hosts, echo=lambda *_: None)  # clear leftovers of an earlier run
        img = image.build(echo=echo)
        guest_dir = guest.build(echo=echo)
        network.up(hosts)
        master.configure(hosts)
        provider.configure()
        webhook.configure()
        for host in hosts:
            machines.prepare(host, img, master.KEYS)
        webhook.start()
        master.start()
        provider.start()
        for host in hosts:
            machines.boot(host, img, guest_dir)
        for host in hosts:
            machines.wait_running(host)
        echo("lab: hosts booted: " + ", ".join(h.name for h in hosts))
    master.ping_all(hosts)
    return apply(echo=echo)


def apply(echo=print):
    group = ("-N", master.NODEGROUP)
    master.salt(*group, "saltutil.sync_all", "--out=quiet", check=True)
    start = time.monotonic()
    proc = master.salt(*group, "state.apply", "--state-verbose=False", "--state-output=mixed")
    echo(proc.stdout.rstrip())
    if proc.stderr.strip():
        echo(proc.stderr.rstrip())
    echo(f"lab: state.apply took {time.monotonic() - start:.1f}s, exit code {proc.returncode}")
    return proc.returncode


def grow(hosts, echo=print):
    """Boot the hosts of the pillar that do not run yet (hosts added to the cluster's
    pillar), the master and the API stand-in told of them, then apply the states to
    every host: adding a host is pillar + state.apply."""
    new = [h for h in hosts if machines.leader(h) is None]
    if not new:
        echo("lab: every host of the pillar runs already")
        return apply(echo=echo)
    img, guest_dir = image.build(echo=echo), guest.build(echo=echo)
    for host in new:
        network.plug(host)
    master.configure(hosts, fresh=False)
    master.stop()
    master.start()
    provider.restart_with_the_pillars_servers()
    for host in new:
        machines.prepare(host, img, master.KEYS)
        machines.boot(host, img, guest_dir)
    for host in new:
        machines.wait_running(host)
    echo("lab: hosts added: " + ", ".join(h.name for h in new))
    master.ping_all(hosts, timeout=120)
    return apply(echo=echo)


def shrink(hosts, echo=print):
    """Take out of the cluster the hosts that run but left the pillar, the way an
    operator removes a drained host without bricks (docs/many-hosts.md): the
    master's nodegroups and the API stand-in told, the gone host detached from the
    gluster pool by the first host that stays (while it still reaches it), the
    states applied to the hosts that stay, then the gone host powered off (its
    disks and cables stay until ``down``). Returns the apply's exit code, or the
    detach's when that failed."""
    names = {h.name for h in hosts}
    gone = [machines.by_name(n) for n in machines.booted_names() if n not in names]
    if not gone:
        echo("lab: no running host has left the pillar")
        return apply(echo=echo)
    master.configure(hosts, fresh=False)
    master.stop()
    master.start()
    provider.restart_with_the_pillars_servers()
    master.ping_all(hosts, timeout=120)
    stays = next(h for h in hosts if h.role == "hypervisor")
    for host in gone:
        proc = machines.run(stays, "gluster", "--mode=script", "peer", "detach", host.name, check=False)
        echo(f"lab: gluster peer detach {host.name} on {stays.name}: {(proc.stdout + proc.stderr).strip()}")
        if proc.returncode != 0:
            return proc.returncode
    rc = apply(echo=echo)
    for host in gone:
        machines.stop(host)
    echo("lab: hosts removed: " + ", ".join(h.name for h in gone))
    return rc


def revive(host):
    """Boot a crashed ``host`` again (cables in) and wait until its minion answers."""
    machines.boot_again(host)
    master.ping_all([host], timeout=120)


SUMMARY = """
The lab is up. What runs where:
  salt-master   namespace {master_ns}, {master_ip} (config {conf})
  API stand-in  namespace {master_ns}, {api} ({module}; control {control})
{host_lines}
Use it:
  make lab-salt ARGS="-N hypervisors test.ping"
  make lab-salt ARGS="-N hypervisors state.apply test=True"
  make lab-shell HOST=hyp1                  (a root shell on hyp1)
  make lab-down                             (remove everything the lab made)
"""


def summary(hosts):
    lines = "\n".join(
        f"  {h.name:<13} container (nspawn PID {machines.nspawn_pid(h)}), "
        f"{h.public_if} {h.public_ip}, {h.rpn_if} {h.rpn_mac} on the RPN segment"
        for h in hosts
    )
    return SUMMARY.format(
        master_ns=topology.MASTER_NS,
        master_ip=topology.MASTER_IP,
        conf=master.CONF,
        api=provider.listen_address(),
        module=provider.process().module,
        control=provider.process().control,
        host_lines=lines,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("image", help="build (or find cached) the bare image of LAB_RELEASE")
    sub.add_parser("apply")
    for tool in ("salt", "run"):
        sub.add_parser(tool).add_argument("args", nargs=argparse.REMAINDER)
    for name in ("crash", "revive"):
        sub.add_parser(name).add_argument("host")
    p_private = sub.add_parser("private", help="a host cut off from its private network, or back on it")
    p_private.add_argument("host")
    p_private.add_argument("joined", choices=("on", "off"))
    sub.add_parser("grow")
    sub.add_parser("shrink")
    p_api = sub.add_parser("api")
    p_api.add_argument("method", choices=("GET", "POST"))
    p_api.add_argument("path")
    p_api.add_argument("body", nargs="?", help="JSON")
    p_shell = sub.add_parser("shell")
    p_shell.add_argument("host")
    p_shell.add_argument("command", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["salt"], ["run"]):  # everything after it is salt's or salt-run's
        args = argparse.Namespace(cmd=argv[0], args=argv[1:], verbose=False)
    else:
        args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    if os.geteuid() != 0:
        parser.error("the lab needs root (network namespaces, containers)")
    hosts = topology.hosts()

    if args.cmd == "up":
        rc = up(hosts)
        print(summary(hosts))
        return rc
    if args.cmd == "down":
        down(hosts)
        return 0
    if args.cmd == "apply":
        return apply()
    if args.cmd == "image":
        print(image.build())
        return 0
    if args.cmd == "status":
        print(summary(hosts) if healthy(hosts) else "lab: not (fully) up; run make lab")
        return 0 if healthy(hosts) else 1
    if args.cmd in ("salt", "run"):
        tool = "salt" if args.cmd == "salt" else "salt-run"
        os.execvp("ip", master.command(tool, *args.args))
    if args.cmd == "grow":
        return grow(hosts)
    if args.cmd == "shrink":
        return shrink(hosts)
    if args.cmd == "api":
        body = json.loads(args.body) if args.body else None
        print(json.dumps(provider.control(args.method, args.path, body)))
        return 0
    if args.cmd == "private":
        host = next((h for h in hosts if h.name == args.host), None)
        if host is None:
            parser.error(f"no lab host {args.host!r}")
        network.private(host, joined=args.joined == "on")
        return 0
    if args.cmd in ("crash", "revive"):
        host = next((h for h in hosts if h.name == args.host), None)
        if host is None:
            parser.error(f"no lab host {args.host!r}")
        (machines.crash if args.cmd == "crash" else revive)(host)
        return 0
    if args.cmd == "shell":
        host = next((h for h in hosts if h.name == args.host), None)
        if host is None:
            parser.error(f"no lab host {args.host!r}")
        os.execvp("nsenter", machines.nsenter(host, *(args.command or ["bash", "-l"])))
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, TimeoutError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        sys.exit(1)
