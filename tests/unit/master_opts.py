"""A master's options for the runners' unit tests: the cluster's nodegroups, and accepted
keys (the lab's hosts and a stranger) in a temporary pki_dir, so that Salt's own nodegroup
matching (CkMinions) answers as on a real master."""

import salt.config

NODEGROUPS = {"hypervisors": "L@hyp1,hyp2,arb1", "guest_hosts": "L@hyp1,hyp2"}


def master_opts(tmp_path, nodegroups=NODEGROUPS):
    opts = salt.config.master_config(None)
    (tmp_path / "pki" / "minions").mkdir(parents=True)
    for host in ("hyp1", "hyp2", "arb1", "stranger"):
        (tmp_path / "pki" / "minions" / host).write_text("key")
    opts.update(cachedir=str(tmp_path), pki_dir=str(tmp_path / "pki"), nodegroups=dict(nodegroups))
    return opts
