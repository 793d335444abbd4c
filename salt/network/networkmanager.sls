{#- F11/F18 with NetworkManager keyfiles named hv-*. #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.network.nm_dir %}
{%- set connections = {"hv-rpn": {"template": "rpn", "context": {"rpn": hv.me.rpn}}} %}
{%- for net, bridge in hv.bridges | dictsort %}
{%-   do connections.update({"hv-" ~ bridge.name: {"template": "bridge", "context": {"bridge": bridge.name}}}) %}
{%- endfor %}

network-networkmanager-running:
  service.running:
    - name: NetworkManager
    - enable: true
{%- for id, conn in connections | dictsort %}

network-networkmanager-{{ id }}-managed:
  file.managed:
    - name: {{ dir }}/{{ id }}.nmconnection
    - source: salt://network/files/networkmanager/{{ conn.template }}.nmconnection.jinja
    - template: jinja
    - mode: "0600"
    - context: {{ dict(conn.context, id=id) | json }}

network-networkmanager-{{ id }}-up:
  cmd.run:
    - name: nmcli connection reload && nmcli connection up id {{ id }}
    - onchanges:
      - file: network-networkmanager-{{ id }}-managed
    - require:
      - service: network-networkmanager-running
{%- endfor %}
