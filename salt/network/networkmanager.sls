{#- F11/F18 with NetworkManager keyfiles named hv-* (EL). #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.network.nm_dir %}

network-networkmanager-running:
  service.running:
    - name: NetworkManager
    - enable: true

network-networkmanager-hv-rpn-managed:
  file.managed:
    - name: {{ dir }}/hv-rpn.nmconnection
    - source: salt://network/files/networkmanager/rpn.nmconnection.jinja
    - template: jinja
    - mode: "0600"
    - context:
        id: hv-rpn
        rpn: {{ hv.me.rpn | json }}

network-networkmanager-hv-rpn-up:
  cmd.run:
    - name: nmcli connection reload && nmcli connection up id hv-rpn
    - onchanges:
      - file: network-networkmanager-hv-rpn-managed
    - require:
      - service: network-networkmanager-running
{%- for net, bridge in hv.bridges | dictsort %}

network-networkmanager-bridge-{{ net }}-managed:
  file.managed:
    - name: {{ dir }}/hv-{{ bridge.name }}.nmconnection
    - source: salt://network/files/networkmanager/bridge.nmconnection.jinja
    - template: jinja
    - mode: "0600"
    - context:
        id: hv-{{ bridge.name }}
        bridge: {{ bridge.name }}

network-networkmanager-bridge-{{ net }}-up:
  cmd.run:
    - name: nmcli connection reload && nmcli connection up id hv-{{ bridge.name }}
    - onchanges:
      - file: network-networkmanager-bridge-{{ net }}-managed
    - require:
      - service: network-networkmanager-running
{%- endfor %}
