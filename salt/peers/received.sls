{#- F19/F20: the other hypervisors' keys have reached the mine (each host
    publishes first, then waits up to 2 minutes for the others, so that one
    highstate of all hosts at once converges). Hosts that take guests are the
    tunnels' members (all but the gluster arbiter). #}
{%- from "map.jinja" import hv with context %}
{%- set peers = hv.tunnels.peers %}
{%- set needed = hv.tunnels.peer_keys %}
include:
  - peers.published
{%- for peer in peers %}

peers-received-{{ peer }}-keys:
  peer_keys.received:
    - name: {{ peer }}
    - require_keys: {{ needed | json }}
    - timeout: 120
    - require:
      - sls: peers.published
{%- endfor %}
