{#- F12: every cluster host resolves every other without DNS; `peer` is this
    host's partner (the arbiter has none). Addresses are the private (RPN) ones. #}
{%- from "map.jinja" import hv with context %}

hosts-file-managed:
  file.managed:
    - name: {{ hv.hosts_file }}
    - source: salt://hosts/files/hosts.jinja
    - template: jinja
    - mode: "0644"
    - context:
        hosts: {{ hv.hosts | json }}
        me: {{ hv.me.name }}
        peer: {{ hv.me.peer | json }}
