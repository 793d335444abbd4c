{#- F19, transport openvpn: one OpenVPN tunnel per guest bridge to the peer
    (UDP over the RPN, its vpn_port), TLS point to point: the host with the
    lower host_id is tls-server; each side pins the other's self-signed
    certificate (peer-fingerprint, read from the mine when the config is
    written). Its `up` command puts the tap device into the bridge. Runs after
    salt/network removed the VXLAN links (never both in a bridge). #}
{%- from "map.jinja" import hv with context %}
{%- set dir = hv.tunnels.openvpn_dir %}
include:
  - network
  - tunnels.tls
  - peers.received

tunnels-openvpn-join-script-managed:
  file.managed:
    - name: {{ hv.tunnels.openvpn_join_script }}
    - mode: "0755"
    - makedirs: true
    - contents: |
        #!/bin/sh
        # Managed by Salt (salt://tunnels/openvpn.sls): local changes are overwritten.
        # F19: OpenVPN's `up` command: puts the tap device ($dev, set by OpenVPN)
        # into the guest bridge given as the first argument, and brings it up.
        set -e
        ip link set dev "$dev" master "$1" up

tunnels-openvpn-unit-managed:
  file.managed:
    - name: /etc/systemd/system/hv-tunnel@.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://tunnels/openvpn.sls): local changes are overwritten.
        # F19: the OpenVPN tunnel of guest bridge network %i to the peer
        # ({{ dir }}/%i.conf); without that file the unit does nothing.
        [Unit]
        Description=Guest bridge tunnel %i (OpenVPN)
        After=network-online.target
        Wants=network-online.target
        ConditionPathExists={{ dir }}/%i.conf

        [Service]
        ExecStart=/usr/sbin/openvpn --config {{ dir }}/%i.conf
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target
{%- for tunnel in hv.tunnels.openvpn %}

tunnels-openvpn-{{ tunnel.net }}-config-managed:
  file.managed:
    - name: {{ dir }}/{{ tunnel.net }}.conf
    - source: salt://tunnels/files/openvpn.conf.jinja
    - template: jinja
    - makedirs: true
    - mode: "0600"
    - context:
        tunnel: {{ tunnel | json }}
        cert: {{ hv.tunnels.tls_dir }}/host.crt
        key: {{ hv.tunnels.tls_dir }}/host.key
        peer: {{ tunnel.peer }}
        peer_fingerprint: "__slot__:salt:peer_keys.get({{ tunnel.peer }}, tunnel_fingerprint)"
        # OpenVPN drops to nobody once the tap is up (persist-key/-tun: nothing to reopen).
        group: {{ hv.tunnels.openvpn_group }}
        join_script: {{ hv.tunnels.openvpn_join_script }}
    - require:
      - sls: tunnels.tls
      - sls: peers.received

tunnels-openvpn-{{ tunnel.net }}-running:
  service.running:
    - name: hv-tunnel@{{ tunnel.net }}
    - enable: true
    - require:
      - file: tunnels-openvpn-join-script-managed
      - sls: network
    - watch:
      - file: tunnels-openvpn-unit-managed
      - file: tunnels-openvpn-{{ tunnel.net }}-config-managed
      - sls: tunnels.tls
{%- endfor %}
