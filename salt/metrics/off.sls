{#- Issue 25: metrics disabled: no schedule writes hv.prom, and the file is
    gone (the node exporter would serve it stale). The node exporter, if
    installed, is left as it is. #}
{%- from "map.jinja" import hv with context %}

metrics-schedule-absent:
  schedule.absent:
    - name: hv-metrics
    - persist: true

metrics-file-absent:
  file.absent:
    - name: {{ hv.metrics.file }}
    - require:
      - schedule: metrics-schedule-absent
