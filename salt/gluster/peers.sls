{#- F13: every host probes the others by name (names from /etc/hosts, F12).
    Retried: in a first run the other hosts' glusterd may still be starting. #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.service
  - hosts
{%- for peer in hv.gluster.peers if peer != hv.me.name %}

gluster-peer-{{ peer }}-peered:
  gluster.peered:
    - name: {{ peer }}
    - retry:
        attempts: 20
        interval: 3
    - require:
      - sls: gluster.service
      - sls: hosts
{%- endfor %}
