{#- F2: Shorewall is the host's only firewall; stop and disable the others
    that are installed (units that do not exist are skipped, not reported). #}
{%- from "map.jinja" import hv with context %}
{%- for unit in hv.competing_firewalls %}

shorewall-competing-{{ unit }}-disabled:
  service.dead:
    - name: {{ unit }}
    - enable: false
    - onlyif:
      - fun: service.available
        name: {{ unit }}
{%- endfor %}
