{#- F11/F18 with systemd-networkd: files named 20-hv-* / 30-hv-*. #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.network.networkd_dir %}

network-networkd-rpn-managed:
  file.managed:
    - name: {{ dir }}/20-hv-rpn.network
    - source: salt://network/files/networkd/rpn.network.jinja
    - template: jinja
    - makedirs: true
    - mode: "0644"
    - context:
        rpn: {{ hv.me.rpn | json }}
    - onchanges_in:
      - cmd: network-networkd-reloaded
{%- for net, bridge in hv.bridges | dictsort %}

network-networkd-bridge-{{ net }}-netdev-managed:
  file.managed:
    - name: {{ dir }}/30-hv-{{ bridge.name }}.netdev
    - source: salt://network/files/networkd/bridge.netdev.jinja
    - template: jinja
    - makedirs: true
    - mode: "0644"
    - context:
        bridge: {{ bridge.name }}
    - onchanges_in:
      - cmd: network-networkd-reloaded

network-networkd-bridge-{{ net }}-network-managed:
  file.managed:
    - name: {{ dir }}/30-hv-{{ bridge.name }}.network
    - source: salt://network/files/networkd/bridge.network.jinja
    - template: jinja
    - makedirs: true
    - mode: "0644"
    - context:
        bridge: {{ bridge.name }}
    - onchanges_in:
      - cmd: network-networkd-reloaded
{%- endfor %}

network-networkd-running:
  service.running:
    - name: systemd-networkd
    - enable: true

network-networkd-reloaded:
  cmd.run:
    - name: networkctl reload
    - require:
      - service: network-networkd-running
