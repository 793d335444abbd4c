{#- Issue 25: the node exporter runs, and starts at boot; restarted when its
    flags change. #}
{%- from "map.jinja" import hv with context %}
include:
  - metrics.config

metrics-service-running:
  service.running:
    - name: {{ hv.metrics.service }}
    - enable: true
    - watch:
      - sls: metrics.config
