{#- F26: the guests of `running: true` run where the cluster decides: each on
    its home host, unless that host is drained or another host runs it
    already (an evacuation put it there). Never libvirt's autostart. #}
{%- from "map.jinja" import hv with context %}
include:
  - guests.defined
{%- for name, guest in hv.guests | dictsort if guest.home == hv.me.name %}

guests-{{ name }}-running:
  guests.running:
    - name: {{ name }}
    - require:
      - sls: guests.defined
{%- endfor %}
