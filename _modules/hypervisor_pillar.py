"""
Validate the cluster pillar and give the states and modules their settings (F1).

Every state file imports ``map.jinja``, which calls :func:`settings`; when the
pillar is wrong it raises, the render fails and ``state.apply`` stops before a
single state has run, with one line per problem naming the pillar key (and,
for a conflict, the other key too). No line shows a secret.

The settings are built once per pillar content and kept in ``__context__``
for the rest of the run: the states of one ``state.apply`` and the modules
they call share them. The schema, the checks and the views are plain Python
in ``_utils/`` (``hv_schema``, ``hv_check``, ``hv_rules_*``, ``hv_validate``,
``hv_views``); this module is their Salt face.
"""

import copy
import hashlib
import json

import hv_schema
import hv_validate
import hv_views
from salt.exceptions import CommandExecutionError

__virtualname__ = "hypervisor_pillar"


def __virtual__():
    return __virtualname__


def _pillar():
    """This minion's pillar as a plain dict (Salt hands modules a loader
    context object, which the validator's walk would not descend into)."""
    return dict(__pillar__)


def _defaults():
    try:
        return hv_schema.defaults(__grains__["os_family"], __grains__.get("osmajorrelease"))
    except ValueError as err:
        raise CommandExecutionError(str(err)) from err


def settings():
    """
    The validated settings of this host, as ``map.jinja`` and the modules use them.

    Built once per pillar content and OS family in a run (``__context__``).

    CLI Example:

    .. code-block:: bash

        salt-call hypervisor_pillar.settings
    """
    pillar = _pillar()
    seed = json.dumps([pillar, __grains__["os_family"], __grains__["id"]], sort_keys=True, default=str)
    key = "hypervisor_pillar.settings." + hashlib.sha256(seed.encode()).hexdigest()
    if key not in __context__:
        try:
            __context__[key] = hv_views.build(pillar, _defaults(), __grains__["id"])
        except hv_views.InvalidPillar as err:
            raise CommandExecutionError(str(err)) from err
    return copy.deepcopy(__context__[key])


def role():
    """
    This host's role (``hypervisor`` or ``arbiter``) from the validated settings, for the top
    file. With an invalid pillar: ``hypervisor``, so that every state is listed and each
    stops the run naming the bad keys (a top file that fails to render shows nothing).

    CLI Example:

    .. code-block:: bash

        salt-call hypervisor_pillar.role
    """
    try:
        return settings()["me"]["role"]
    except CommandExecutionError:
        return "hypervisor"


def check():
    """
    Validate this host's pillar; return the list of problems (empty: valid).

    Run it before ``state.apply`` after editing the pillar.

    CLI Example:

    .. code-block:: bash

        salt -N hypervisors hypervisor_pillar.check
    """
    return hv_validate.validate(_pillar(), _defaults(), __grains__["id"])
