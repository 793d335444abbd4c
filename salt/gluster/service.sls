{#- F13: glusterd enabled (Debian does not enable it) and running; with
    gluster:tls, restarted when its TLS files change (gluster.tls). #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.package
  - gluster.tls

gluster-service-running:
  service.running:
    - name: {{ hv.gluster.service }}
    - enable: true
    - require:
      - sls: gluster.package
      - sls: gluster.tls
    - watch:
      - sls: gluster.tls
