"""
cluster: the cluster's status, every host asked live (B3).

``salt-run cluster.status`` runs ``cluster.local`` on the master's nodegroup
``hypervisors`` (a host that does not answer within the timeout is shown down)
and ``cluster.shared`` on the first host that answered (one that carries
guests: the arbiter has no sanlock and no incidents to read), then puts them
together with the cluster's hosts and guests (``_utils/cluster_view.py``).
Those come from the validated settings (``hv_views.build``) of the first host
whose pillar has a ``hypervisor`` mapping; when that pillar is invalid, from
the raw mapping, the status showing it as its first problem. Printed as a table
by the ``hv_status`` outputter; ``--out=json`` gives the data.

The master needs (see ``master.d/hypervisor.conf``)::

    runner_dirs:
      - /srv/hypervisor/_runners
    utils_dirs:
      - /srv/hypervisor/_utils
    outputter_dirs:
      - /srv/hypervisor/_output
"""

import logging

import cluster_view
import hv_schema
import hv_views
import salt.client

log = logging.getLogger(__name__)

__virtualname__ = "cluster"
NODEGROUP = "hypervisors"
TIMEOUT = 10  # seconds each host has to answer
OUTPUTTER = "hv_status"


def __virtual__():
    return __virtualname__


def _parts(answers):
    """LocalClient answers → ``{host: part}``: a host that answered with
    something else than a part (the module missing, an exception) gets
    ``{"error": what it said}``; a host that did not answer is absent."""
    return {
        host: ret if isinstance(ret, dict) else {"error": str(ret).strip() or "no answer"}
        for host, ret in answers.items()
    }


def _ask(client, timeout):
    """``cluster.local`` on the nodegroup: (the hosts targeted, ``{host: answer}`` of those that answered)."""
    targeted, answers = [], {}
    for item in client.cmd_iter(
        NODEGROUP, "cluster.local", timeout=timeout, tgt_type="nodegroup", expect_minions=True
    ):
        for host, ret in (item or {}).items():
            targeted.append(host)
            if isinstance(ret, dict) and not ret.get("failed") and "ret" in ret:
                answers[host] = ret["ret"]
    return targeted, answers


def _shared(client, parts, timeout, arbiters=()):
    """``cluster.shared`` from the first host whose part has no error of its own,
    the ``arbiters`` last (what they read lacks the lockspace and the incidents)."""
    answered = [h for h, part in parts.items() if set(part) != {"error"}]
    for host in sorted(answered, key=lambda h: (h in arbiters, h)):
        ret = client.cmd(host, "cluster.shared", timeout=timeout).get(host)
        if isinstance(ret, dict):
            return ret
        log.warning("cluster.status: %s answered cluster.shared with %r", host, ret)
    return {"error": "no host answered cluster.shared"}


def _pillar(targeted, parts):
    """``(host, pillar)``: the first host (those that answered first) whose pillar, as the
    master compiles it, has a ``hypervisor`` mapping, a host that carries guests rather
    than the arbiter (its pillar has the API settings: the validator then knows the
    token and shows it nowhere); ``(None, {})`` when none has."""
    found = None, {}
    # The hosts whose part shows guests first: one pillar compiled, not the arbiter's too.
    shows_guests = {h: isinstance(p, dict) and isinstance(p.get("guests"), dict) for h, p in parts.items()}
    answered = sorted(parts, key=lambda h: (not shows_guests[h], h))
    for host in answered + sorted(set(targeted) - set(parts)):
        pillar = __salt__["pillar.show_pillar"](host) or {}
        if isinstance(pillar.get("hypervisor"), dict):
            if "online" in pillar:
                return host, pillar
            found = found if found[0] else (host, pillar)
    return found


def _os_family(host):
    """``host``'s OS family from the master's grains cache, else the schema's first
    (the hosts and guests the status reads do not depend on it)."""
    grains = (__salt__["cache.grains"](tgt=host) or {}).get(host) or {}
    family = grains.get("os_family")
    if family in hv_schema.OS_FAMILIES:
        return family
    fallback = hv_schema.OS_FAMILIES[0]
    log.warning("cluster.status: no known OS family of %s cached (%r), using %s", host, family, fallback)
    return fallback


def _first_problem(err):
    """The first problem an ``InvalidPillar`` lists (its message: a header, then one per line)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[1:] or lines or [type(err).__name__])[0]


def _settings(host, pillar):
    """``(cluster, problems)``: the validated settings of ``host`` (their ``hosts`` and
    ``guests``), or, when its pillar is invalid, the raw ``hypervisor`` mapping and the
    problem saying so (the validator's messages never show a secret)."""
    if host is None:
        return {}, []
    try:
        return hv_views.build(pillar, hv_schema.defaults(_os_family(host)), host), []
    except hv_views.InvalidPillar as err:
        log.warning("cluster.status: the pillar of %s: %s", host, err)
        return pillar["hypervisor"], [f"the cluster pillar is invalid: {_first_problem(err)}"]


def _view(answers, shared, cluster, targeted=(), problems=()):
    """The view from LocalClient's answers, ``cluster.shared``'s and the cluster's settings
    (its hosts, plus those targeted, are expected to answer); ``problems`` come first."""
    hosts = cluster_view.hosts_config(cluster)
    for host in targeted:
        hosts.setdefault(host, {"arbiter": False})
    # The placement limits come with validated settings only (an invalid pillar has none).
    placement = cluster.get("placement") if not problems else None
    view = cluster_view.assemble(_parts(answers), shared, hosts, cluster.get("guests"), placement=placement)
    view["problems"] = [*problems, *view["problems"]]
    return view


def status(timeout=TIMEOUT):
    """
    The cluster's status, every host of the nodegroup ``hypervisors`` asked
    live (``timeout`` seconds to answer). Returns ``{"hosts", "peers",
    "volumes", "lockspace", "failover", "guests", "incidents", "problems"}``
    (see ``_utils/cluster_view.py``), printed as a table.

    CLI Example:

    .. code-block:: bash

        salt-run cluster.status
        salt-run cluster.status --out=json
    """
    with salt.client.get_local_client(__opts__["conf_file"]) as client:
        targeted, answers = _ask(client, int(timeout))
        parts = _parts(answers)
        cluster, problems = _settings(*_pillar(targeted, parts))
        arbiters = {h for h, c in cluster_view.hosts_config(cluster).items() if c["arbiter"]}
        shared = _shared(client, parts, int(timeout), arbiters)
    view = _view(answers, shared, cluster, targeted, problems)
    # salt-run ignores __outputter__: a runner names its outputter in its return.
    return {"outputter": OUTPUTTER, "data": view}
