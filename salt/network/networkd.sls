{#- F11/F18/F19/F23 with systemd-networkd: files named 10-hv-public,
    20-hv-rpn, 25-hv-<VLAN link> (rpn:vlan: the private network is a VLAN of
    the public NIC), 30-hv-<bridge>, 31-hv-<vxlan link>. A change is applied behind
    a dead-man (safe_apply, R5): `networkctl reload` (networkd reconfigures the
    links whose file changed), then the probe: every link configured, new
    connections to the master, SSH from the master; otherwise the previous
    files are back and reloaded, at once or when the timer fires. Then proxy
    ARP is reasserted on the public side (F23). #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.network.networkd_dir %}
{#- VXLAN links with transport vxlan (after tunnels.vxlan stopped any OpenVPN
    tunnel: never both in a bridge); with openvpn the same links are removed.
    The arbiter has neither, nor bridges: it carries no guest. The files and
    the links come from the network view (_utils/hv_views.py). #}
{%- set public_bridge_name = hv.network.public_bridge.name if hv.network.public_bridge else None %}
include:
  - network.package
{%- if hv.network.vxlan_on %}
  - tunnels.vxlan
{%- endif %}

{#- F23: networkd keeps the routes it did not make. Shorewall's proxy ARP routes
    (a failover IP to the guests' bridge) are foreign to it: by default networkd
    drops them whenever it reconfigures a link, which a `networkctl reload` does in
    the background, after the reassert below may already have run (a guest's IP
    then goes unanswered until the next Shorewall reload). Read at networkd's
    start: restarted when this file changes (the links keep their configuration). #}
network-networkd-foreign-routes-kept:
  file.managed:
    - name: /etc/systemd/networkd.conf.d/10-hv-foreign-routes.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://network/networkd.sls): local changes are overwritten.
        # Shorewall's proxy ARP routes stay when networkd reconfigures a link.
        [Network]
        ManageForeignRoutes=no

network-networkd-running:
  service.running:
    - name: systemd-networkd
    - enable: true
    - require:
      - sls: network.package
    - watch:
      - file: network-networkd-foreign-routes-kept

network-networkd-applied:
  safe_apply.applied:
    - name: network
    - files: {{ hv.network.networkd_files | json }}
    - state_dir: {{ hv.firewall.state_dir }}
    - apply:
      - [networkctl, reload]
    # networkd reconfigures every link whose file changed (or went), so the
    # previous files bring the previous links back; no name of the new
    # (possibly wrong) configuration is needed.
    - rollback:
      - [networkctl, reload]
    - rollback_after: {{ hv.firewall.rollback_after }}
    - probe:
        links: {{ hv.network.links | json }}
        master_ports: {{ hv.firewall.master_ports | json }}
        ssh_from_master: {{ hv.firewall.probe_ssh_from_master | json }}
    # networkd may still be starting on a first run (D-Bus not answering yet).
    - retry:
        attempts: 2
        interval: 5
    - require:
      - service: network-networkd-running
{%- if hv.network.vxlan_on %}
      - sls: tunnels.vxlan
{%- endif %}

{#- networkd adds the flood entries its files list but keeps those a file no
    longer lists (a host removed from the cluster): each VXLAN link sends to the
    cluster's other hosts only. #}
{%- for link in hv.network.vxlans %}

network-networkd-tunnel-{{ link.net }}-remotes:
  vxlan_remotes.only:
    - name: {{ link.ifname }}
    - remotes: {{ link.remotes | json }}
    - require:
      - safe_apply: network-networkd-applied
{%- endfor %}

{%- for link in hv.network.vxlans_gone %}

network-networkd-vxlan-{{ link.net }}-netdev-absent:
  file.absent:
    - name: {{ dir }}/31-hv-{{ link.ifname }}.netdev
    - onchanges_in:
      - cmd: network-networkd-reloaded-after-removal

network-networkd-vxlan-{{ link.net }}-network-absent:
  file.absent:
    - name: {{ dir }}/31-hv-{{ link.ifname }}.network
    - onchanges_in:
      - cmd: network-networkd-reloaded-after-removal

{#- networkd never deletes a link whose .netdev is gone. #}
network-networkd-vxlan-{{ link.net }}-link-deleted:
  module.run:
    - cmd.run_all:
      - cmd: [ip, link, delete, {{ link.ifname }}]
      - python_shell: false
    - onlyif: ip link show dev {{ link.ifname }}
    - require:
      - cmd: network-networkd-reloaded-after-removal
{%- endfor %}

{%- if hv.network.vxlans_gone %}

{#- VXLAN files removed (transport openvpn): networkd forgets them. #}
network-networkd-reloaded-after-removal:
  cmd.run:
    - name: networkctl reload
    - require:
      - safe_apply: network-networkd-applied
{%- endif %}

{#- F23: `networkctl reload` reconfigured only the links whose file changed;
    once the public ones are configured, Shorewall is reloaded if it runs, which
    puts back any route of its own that went (networkd keeps them now: above). Nothing is restarted again: guests on
    the public bridge keep their traffic when another link's file changed. #}
network-networkd-public-reasserted:
  module.run:
    - public_net.reassert:
      - interface: {{ hv.me.public.interface }}
      - bridge: {{ public_bridge_name | json }}
    - onchanges:
      - safe_apply: network-networkd-applied
