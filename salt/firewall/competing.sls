{#- F2: Shorewall is the host's only firewall. The others (those installed)
    are stopped and disabled once Shorewall is up and the probe passed, in
    the same run, without clearing any rules on the way (a plain stop of
    Debian's nftables.service runs `nft flush ruleset`, Shorewall's tables
    included): see _states/competing_firewalls.py. #}
{%- from "map.jinja" import hv with context %}
include:
  - firewall.apply

firewall-competing-stopped:
  competing_firewalls.stopped:
    - units: {{ hv.competing_firewalls | json }}
    - reload:
      - [shorewall, reload, -c]
    - require:
      - sls: firewall.apply
