{#- F11/F18/F19/F23 with NetworkManager keyfiles named hv-* (EL). A changed
    keyfile is read (`nmcli connection reload`) and its connection brought up;
    the public side is restarted on its own (public_net.restart: hv-public and
    the public bridge, then proxy ARP). hv-rpn is the RPN NIC (by its MAC) or,
    with rpn:vlan, a VLAN connection on the public NIC (a vSwitch). #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.network.nm_dir %}
{#- VXLAN links with transport vxlan (after tunnels.vxlan stopped any OpenVPN
    tunnel: never both in a bridge); with openvpn the same links are removed.
    The arbiter has neither, nor bridges (hv.local_bridges): it carries no guest.
    The links come from the network view (_utils/hv_views.py). #}
{%- set public_bridge = hv.network.public_bridge %}
include:
  - network.package
{%- if hv.network.vxlan_on %}
  - tunnels.vxlan
{%- endif %}

network-networkmanager-running:
  service.running:
    - name: NetworkManager
    - enable: true
    - require:
      - sls: network.package

network-networkmanager-hv-public-managed:
  file.managed:
    - name: {{ dir }}/hv-public.nmconnection
    - source: salt://network/files/networkmanager/public.nmconnection.jinja
    - template: jinja
    - mode: "0600"
    - context:
        id: hv-public
        public: {{ hv.me.public | json }}
    - onchanges_in:
      - module: network-networkmanager-reloaded

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
{%- for net, bridge in hv.local_bridges | dictsort %}

network-networkmanager-bridge-{{ net }}-managed:
  file.managed:
    - name: {{ dir }}/hv-{{ bridge.name }}.nmconnection
    - source: salt://network/files/networkmanager/bridge.nmconnection.jinja
    - template: jinja
    - mode: "0600"
    - context:
        id: hv-{{ bridge.name }}
        bridge: {{ bridge.name }}
        mtu: {{ hv.network.bridge_mtu | json }}
    - onchanges_in:
      - module: network-networkmanager-reloaded
{%- endfor %}
{#- The public bridge comes up with the public side (below). #}
{%- for net, bridge in hv.local_bridges | dictsort if not bridge.public %}

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
{%- for link in hv.network.vxlans %}

network-networkmanager-vxlan-{{ link.net }}-managed:
  file.managed:
    - name: {{ dir }}/hv-{{ link.ifname }}.nmconnection
    - source: salt://network/files/networkmanager/vxlan.nmconnection.jinja
    - template: jinja
    - mode: "0600"
    - context:
        id: hv-{{ link.ifname }}
        link: {{ link | json }}
        parent: {{ hv.me.rpn.interface }}
    - require:
      - sls: tunnels.vxlan
    - onchanges_in:
      - module: network-networkmanager-reloaded

network-networkmanager-vxlan-{{ link.net }}-up:
  module.run:
    - cmd.run_all:
      - cmd: [nmcli, connection, up, id, "hv-{{ link.ifname }}"]
      - python_shell: false
    - onchanges:
      - file: network-networkmanager-vxlan-{{ link.net }}-managed
    - require:
      - module: network-networkmanager-reloaded
{%- endfor %}
{%- for link in hv.network.vxlans_gone %}

network-networkmanager-vxlan-{{ link.net }}-absent:
  file.absent:
    - name: {{ dir }}/hv-{{ link.ifname }}.nmconnection
    - onchanges_in:
      - module: network-networkmanager-reloaded

{#- A link NetworkManager did not remove with its connection. #}
network-networkmanager-vxlan-{{ link.net }}-link-deleted:
  module.run:
    - cmd.run_all:
      - cmd: [ip, link, delete, {{ link.ifname }}]
      - python_shell: false
    - onlyif: ip link show dev {{ link.ifname }}
    - require:
      - module: network-networkmanager-reloaded
{%- endfor %}

{#- F23: the public side restarted on its own, then Shorewall reloaded if it runs. #}
network-networkmanager-public-restarted:
  module.run:
    - public_net.restart:
      - interface: {{ hv.me.public.interface }}
      - bridge: {{ (public_bridge.name if public_bridge else None) | json }}
      - backend: networkmanager
    - onchanges:
      - file: network-networkmanager-hv-public-managed
{%- if public_bridge %}
      - file: network-networkmanager-bridge-{{ public_bridge.net }}-managed
{%- endif %}
    - require:
      - module: network-networkmanager-reloaded
