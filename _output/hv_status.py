"""
hv_status: the cluster status view (``cluster.status``) as a table (B3).

The default outputter of ``cluster.status`` (``salt``, ``salt-call``: the
module's ``__outputter__``; ``salt-run``: the runner names it in its return).
It prints ``cluster_view.table`` of each view it is given (under the minion's
id when the view comes as ``{minion: view}``): hosts (up, drained, sanlock,
quorum, the other hosts' leases as each sees them, guests), volumes, guests,
failover IPs, takeover incidents and problems; anything else, or everything
when the utility is not there, prints as ``nested`` would. ``--out=json`` (or
any ``--out``) still wins. Outputters get no ``__utils__``: the table comes
from the utils loader (``utils_dirs`` on the master, the synced utils on a
minion).
"""

import salt.loader

__virtualname__ = "hv_status"


def __virtual__():
    return __virtualname__


def _views(data):
    """(``[(title, view)]``, the table function) when ``data`` is a view or
    ``{minion: view}`` (title None for a bare view); else None."""
    if not isinstance(data, dict) or not data:
        return None
    utils = salt.loader.utils(__opts__)
    try:
        is_view, table = utils["cluster_view.is_view"], utils["cluster_view.table"]
    except KeyError:
        return None
    if is_view(data):
        return [(None, data)], table
    if all(is_view(value) for value in data.values()):
        return list(data.items()), table
    return None


def output(data, **kwargs):
    """The view(s) in ``data`` as tables, or ``data`` as ``nested`` prints it."""
    found = _views(data)
    if found is None:
        return __salt__["nested"](data, **kwargs)
    views, table = found
    return "\n\n".join(table(view) if title is None else f"{title}:\n{table(view)}" for title, view in views)
