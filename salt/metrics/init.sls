{#- Issue 25: the cluster's metrics for Prometheus (docs/metrics.md). Where
    hypervisor:metrics:enabled: the node exporter (its package, its textfile
    directory and flags, its service) and the minion's schedule that writes
    <textfile_dir>/hv.prom every metrics:interval seconds (metrics.write).
    Otherwise: no schedule and no hv.prom (a file left behind would be served,
    stale); the node exporter itself is left as it is. Its port is opened by
    the firewall (salt/firewall/files/rules.jinja) to monitoring_sources. #}
{%- from "map.jinja" import hv with context %}
include:
{%- if hv.metrics.enabled %}
  - metrics.package
  - metrics.config
  - metrics.service
  - metrics.schedule
{%- else %}
  - metrics.off
{%- endif %}
