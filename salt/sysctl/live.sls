{#- F3: the same settings applied to the running kernel. Where the kernel
    refuses a write (a container shares its host's vm.*), the state says so in
    its comment and warnings; the persisted file still holds the value. #}
{%- from "map.jinja" import hv with context %}
include:
  - sysctl.config

sysctl-live-values-applied:
  sysctl_live.applied:
    - settings: {{ hv.sysctl.settings | json }}
    - require:
      - sls: sysctl.config
