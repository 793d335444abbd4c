{#- F13: the trusted pool grows from one host, the leader (the first data
    host): it probes every other host by name (names from /etc/hosts, F12);
    the others wait until it has (two hosts probing at once can make two
    pools). Retried: in a first run the other hosts' glusterd, or the
    leader's run, may still be starting. #}
{%- from "map.jinja" import hv with context %}
{%- set leader = hv.gluster.leader %}
include:
  - gluster.service
  - hosts
{%- for peer in hv.gluster.peers if peer != hv.me.name and (hv.gluster.is_leader or peer == leader) %}

gluster-peer-{{ peer }}-peered:
  gluster.peered:
    - name: {{ peer }}
    - probe: {{ hv.gluster.is_leader }}
    - retry:
        attempts: 100
        interval: 3
    - require:
      - sls: gluster.service
      - sls: hosts
{%- endfor %}
