{#- F19, transport vxlan: the bridges are joined by VXLAN links (salt/network,
    which runs this first: a tap and a VXLAN link in the same bridge on both
    hosts would loop). Every OpenVPN tunnel of this tree stops: each unit is
    stopped and disabled and its configuration removed; a unit left enabled
    without its configuration does not start (ConditionPathExists). #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.tunnels.openvpn_dir %}
{%- for tunnel in hv.tunnels.openvpn %}

tunnels-vxlan-openvpn-{{ tunnel.net }}-stopped:
  service.dead:
    - name: hv-tunnel@{{ tunnel.net }}
    - enable: false
    # Only a tunnel that runs or is enabled (so test=True does not report one
    # that was never there as one to stop).
    - onlyif: systemctl is-active --quiet hv-tunnel@{{ tunnel.net }} || systemctl is-enabled --quiet hv-tunnel@{{ tunnel.net }}
    - require_in:
      - module: tunnels-vxlan-openvpn-others-stopped

tunnels-vxlan-openvpn-{{ tunnel.net }}-config-absent:
  file.absent:
    - name: {{ dir }}/{{ tunnel.net }}.conf
    - require:
      - service: tunnels-vxlan-openvpn-{{ tunnel.net }}-stopped
{%- endfor %}

{#- A tunnel of a bridge no longer in the pillar. #}
tunnels-vxlan-openvpn-others-stopped:
  module.run:
    - cmd.run_all:
      - cmd: [systemctl, stop, "hv-tunnel@*.service"]
      - python_shell: false
    - onlyif: systemctl is-active --quiet 'hv-tunnel@*.service'

{#- A tunnel that had failed stays listed until its failure is cleared. #}
tunnels-vxlan-openvpn-failed-cleared:
  module.run:
    - cmd.run_all:
      - cmd: [systemctl, reset-failed, "hv-tunnel@*.service"]
      - python_shell: false
    - onlyif: systemctl is-failed --quiet 'hv-tunnel@*.service'
    - require:
      - module: tunnels-vxlan-openvpn-others-stopped
