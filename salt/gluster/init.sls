{#- The arbiter holds bricks only: it mounts no volume (no guest, no lease). #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.package
  - gluster.service
  - gluster.bricks
  - gluster.peers
  - gluster.volumes
{%- if hv.me.role != "arbiter" %}
  - gluster.mounts
{%- endif %}
