{#- F24: the hv_failover beacon (_beacons/hv_failover.py) polls the provider
    every failover:poll_interval seconds and fires an event when the failover
    IPs routed to this host change; reactor/failover_sync.sls answers it. Its
    configuration holds no secret: the beacon reads the credentials from the pillar.
    Without the provider's API settings there is nothing to poll, and no beacon. #}
{%- from "map.jinja" import hv with context %}
{%- set failover = hv.failover %}
{%- if failover.configured and hv.me.server_id %}

failover-beacon-present:
  beacon.present:
    - name: hv_failover
    - save: true
    - interval: {{ failover.poll_interval }}
    # One request per poll, never longer than the poll interval (nor 5 s).
    - timeout: {{ failover.poll_timeout }}
    - resync: 60
{%- else %}

failover-beacon-absent:
  beacon.absent:
    - name: hv_failover
    - save: true
{%- endif %}
