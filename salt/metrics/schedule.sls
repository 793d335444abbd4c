{#- Issue 25: the minion's own scheduler runs metrics.write every
    metrics:interval seconds (docs/metrics.md: why not a systemd timer). The
    job is forked from the running minion: no new interpreter, no master round
    trip (the minion's pillar is in memory); one at a time (maxrunning); its
    return stays on the host (return_job: false: no event to the master every
    interval); it runs once at the minion's start. Kept in the minion's
    _schedule.conf (persist), so it survives a restart. #}
{%- from "map.jinja" import hv with context %}
include:
  - metrics.service

metrics-schedule-present:
  schedule.present:
    - name: hv-metrics
    - function: metrics.write
    - seconds: {{ hv.metrics.interval }}
    - maxrunning: 1
    - return_job: false
    - run_on_start: true
    - persist: true
    - require:
      - sls: metrics.service
