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
    - onchanges_in:
      - module: network-networkmanager-reloaded

{#- NetworkManager reads changed keyfiles on reload; each one is then brought up. #}
network-networkmanager-reloaded:
  module.run:
    - cmd.run_all:
      - cmd: [nmcli, connection, reload]
      - python_shell: false
    - require:
      - service: network-networkmanager-running

network-networkmanager-hv-rpn-up:
  module.run:
    - cmd.run_all:
      - cmd: [nmcli, connection, up, id, hv-rpn]
      - python_shell: false
    - onchanges:
      - file: network-networkmanager-hv-rpn-managed
    - require:
      - module: network-networkmanager-reloaded
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
    - onchanges_in:
      - module: network-networkmanager-reloaded

network-networkmanager-bridge-{{ net }}-up:
  module.run:
    - cmd.run_all:
      - cmd: [nmcli, connection, up, id, "hv-{{ bridge.name }}"]
      - python_shell: false
    - onchanges:
      - file: network-networkmanager-bridge-{{ net }}-managed
    - require:
      - module: network-networkmanager-reloaded
{%- endfor %}
