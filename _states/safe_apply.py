"""
Configuration files applied behind a dead-man, rolled back unless the host
still answers (R5; the firewall, F21/F22, and the network files).

.. code-block:: yaml

    firewall-shorewall-applied:
      safe_apply.applied:
        - name: firewall
        - files:
            /etc/shorewall/rules: salt://firewall/files/rules.jinja
        - context: {hv: {...}}
        - running: [shorewall, status]
        - check:
          - [shorewall, check, "{staged}"]
        - apply:
          - [shorewall, reload, -c]
        - rollback:
          - [shorewall, reload, -c]
        - rollback_after: 90
        - probe: {master_ports: [4505, 4506], ssh_from_master: true}

How it works, and what ``{staged}`` means: the ``safe_apply`` execution
module. Under ``test=True`` the files are rendered into a temporary directory,
compared and checked; nothing else runs.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "safe_apply"


def __virtual__():
    if "safe_apply.apply" in __salt__:
        return __virtualname__
    return (False, "the safe_apply execution module is not available")


def _would(name, preview):
    """The test=True answer: what would be done, and whether the check passed."""
    ret = {"name": name, "changes": {}, "result": None, "comment": ""}
    check = preview["check"]
    if preview["diff"]:
        ret["changes"] = {"diff": preview["diff"]}
        doing = f"would install {len(preview['diff'])} file(s) and apply them"
    else:
        ret["changes"] = {"live": {"old": False, "new": True}}
        doing = "every file is in place but not live: would apply them"
    if check["ok"] is False:
        ret["result"] = False
        ret["comment"] = f"{name}: {doing}, but the check fails, so nothing would change: {check['said']}"
    else:
        ret["comment"] = f"{name}: {doing} behind a dead-man, then probe; check {check['said']}"
    return ret


def applied(
    name,
    files,
    check=None,
    apply=None,
    rollback=None,
    rollback_stopped=None,
    running=None,
    rollback_after=90,
    probe=None,
    context=None,
    state_dir=None,
):
    """
    Ensure ``files`` (destination -> ``salt://`` template or file on the host)
    are in place and live, applied with ``apply``, probed, and otherwise
    rolled back (see the ``safe_apply`` execution module for each argument).
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    saltenv = __env__ if "__env__" in globals() else "base"
    try:
        if __opts__["test"]:
            preview = __salt__["safe_apply.preview"](
                name, files, check=check or [], running=running, context=context, saltenv=saltenv
            )
            if not preview["diff"] and preview["live"]:
                ret["comment"] = f"{name}: every file is in place and live"
                return ret
            return _would(name, preview)
        extra = {"state_dir": state_dir} if state_dir else {}
        done = __salt__["safe_apply.apply"](
            name,
            files,
            check=check or [],
            apply=apply or [],
            rollback=rollback or [],
            rollback_stopped=rollback_stopped,
            running=running,
            rollback_after=rollback_after,
            probe=probe,
            context=context,
            saltenv=saltenv,
            **extra,
        )
    except (CommandExecutionError, OSError) as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if done["changed"]:
        ret["changes"] = {"diff": done["diff"]} if done["diff"] else {}
        if not done["live_before"]:
            ret["changes"]["live"] = {"old": False, "new": True}
    ret["comment"] = done["comment"]
    return ret
