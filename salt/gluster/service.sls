{#- F13: glusterd enabled (Debian does not enable it) and running. #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.package

gluster-service-running:
  service.running:
    - name: {{ hv.gluster.service }}
    - enable: true
    - require:
      - sls: gluster.package
