{#- F19/F20: this host's SSH host key, migration key and tunnel certificate
    fingerprint, published in the Salt mine under hv_peer_keys (read back with
    `salt hyp1 peer_keys.peer hyp2`), after this host's bricks are ready; on a
    host that joins the lockspace, its sanlock watchdog fire timeout too, which
    every such host must share (salt/sanlock/config.sls checks it). #}
{%- from "map.jinja" import hv with context %}
include:
  - peers.key
  - tunnels.tls
  - gluster.bricks

peers-published-keys-in-mine:
  peer_keys.published:
    - name: hv_peer_keys
    - migration_key: {{ hv.migration.key }}.pub
    - tunnel_cert: {{ hv.tunnels.openvpn_dir }}/tls/host.crt
{%- if hv.sanlock.lockspace.host_id %}
    - sanlock_fire_timeout: {{ hv.timings.watchdog_fire_timeout }}
{%- endif %}
    - require:
      - sls: peers.key
      - sls: tunnels.tls
      # A barrier too: once a host has seen the others publish (peers.received),
      # their bricks are ready, so the volumes can be created on all of them.
      - sls: gluster.bricks
