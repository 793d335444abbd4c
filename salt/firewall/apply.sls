{#- F21, R5: /etc/shorewall rendered from files/ (zones, interfaces,
    policy, params, rules, shorewall.conf) and
    applied by safe_apply: `shorewall check` on the staged copy first (also
    under test=True), then a dead-man timer, the files, `shorewall reload`
    (which starts a stopped Shorewall), and
    the probe: new connections to the master, SSH from the master. A failed
    probe, or a Salt run cut off, brings the previous files and rules back:
    reloaded where Shorewall ran before, cleared (opened, as before) where it
    did not. The bridges must exist first: the zones name them. The proxyarp
    file (F22) is online.sync_failover's (salt/failover/proxyarp.sls). #}
{%- from "map.jinja" import hv with context %}
{%- set fw = hv.firewall %}
{#- The master, as this minion's config names it (one address or several). #}
{%- set master = salt["config.get"]("master") %}
{%- set masters = [master] if master is string else master %}
{%- set context = {
      "me": {"public": hv.me.public, "rpn": hv.me.rpn},
      "bridges": hv.local_bridges,
      "public_bridge": hv.local_public_bridge,
      "firewall": fw,
      "masters": masters,
    } %}
include:
  - firewall.package
  - network

firewall-shorewall-applied:
  safe_apply.applied:
    - name: firewall
    - files:
{%- for file in ("shorewall.conf", "params", "zones", "interfaces", "policy", "rules") %}
        {{ fw.config_dir }}/{{ file }}: salt://firewall/files/{{ file }}.jinja
{%- endfor %}
    - context:
        hv: {{ context | json }}
    - state_dir: {{ fw.state_dir }}
    # Exit code 0 only while Shorewall's rules are in place.
    - running: [shorewall, status]
    - check:
      - [shorewall, check, "{staged}"]
    # -c: compile now, never reuse an older compiled script.
    - apply:
      - [shorewall, reload, -c]
    - rollback:
      - [shorewall, reload, -c]
    # Shorewall was not running: `clear` (everything open, as before) needs
    # Shorewall's compiled script (VARDIR/firewall), which a failed first
    # start does not leave behind: compile one from the staged files.
    - rollback_stopped:
      - [shorewall, compile, "{staged}", /var/lib/shorewall/firewall]
      - [shorewall, clear]
    - rollback_after: {{ fw.rollback_after }}
    - probe:
        master_ports: {{ fw.master_ports | json }}
        ssh_from_master: {{ fw.probe_ssh_from_master | json }}
    - require:
      - sls: firewall.package
      - sls: network
