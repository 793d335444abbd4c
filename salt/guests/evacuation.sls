{#- F25: evacuation at shutdown that really runs. The unit's stop moves the
    guests away before anything it needs goes down: it is ordered after the
    network, the tunnels, the gluster mounts, sanlock and libvirtd, so systemd
    stops it first. Its start (at boot) restores the saved guests. The unit is
    never restarted by a state (a restart would evacuate the host). #}
{%- from "map.jinja" import hv with context %}
{%- set ev = hv.evacuation %}
{%- set mounts = hv.gluster.mounts %}
{%- set tunnels = hv.tunnels.openvpn_nets %}
{%- set salt_call = hv.python.salt_call %}
include:
  - guests.settings_copy
  - libvirt.service
  - sanlock.service

guests-evacuation-script-managed:
  file.managed:
    - name: {{ ev.script }}
    - source: salt://guests/files/hv-evacuate.jinja
    - template: jinja
    - mode: "0755"
    - context:
        unit: {{ ev.unit }}
        master: {{ salt["config.get"]("master") | json }}
        master_port: {{ salt["config.get"]("master_port", 4506) }}
        probe_timeout: {{ ev.peer_timeout }}
        salt_call: {{ salt_call }}
        settings_cache: {{ ev.settings_cache }}

guests-evacuation-unit-managed:
  file.managed:
    - name: /etc/systemd/system/{{ ev.unit }}.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://guests/evacuation.sls): local changes are overwritten.
        # F25: stopped before everything it is ordered after (systemd stops in
        # reverse order): guests leave while the network, tunnels, gluster
        # mounts, sanlock and libvirtd still run.
        [Unit]
        Description=Evacuate the guests at shutdown, restore saved guests at boot
        Wants=network-online.target virt-guest-shutdown.target
        After=network-online.target systemd-networkd.service salt-minion.service
        # libvirt's guest scopes stop only after this target: the guests still run.
        After=virt-guest-shutdown.target
        After={{ hv.gluster.service }}.service sanlock.service hv-sanlock-rejoin.service {{ hv.libvirt.service }}.service
{%- for net in tunnels %}
        After=hv-tunnel@{{ net }}.service
{%- endfor %}
        RequiresMountsFor={{ mounts | join(" ") }}

        [Service]
        # Its main process resumes the guests, then waits for the stop.
        Type=simple
        ExecStart={{ ev.script }} start
        ExecStop={{ ev.script }} evacuate
        TimeoutStopSec={{ ev.stop_timeout }}

        [Install]
        WantedBy=multi-user.target

# libvirt's guest scopes stop after this target at shutdown (it is what
# libvirt-guests uses, which F8 turns off); active, it holds them until the
# unit above has evacuated.
guests-evacuation-guest-shutdown-target-active:
  service.running:
    - name: virt-guest-shutdown.target
    - require:
      - sls: libvirt.service

guests-evacuation-unit-enabled:
  service.running:
    - name: {{ ev.unit }}
    - enable: true
    - require:
      - sls: guests.settings_copy
      - file: guests-evacuation-script-managed
      - file: guests-evacuation-unit-managed
      - service: guests-evacuation-guest-shutdown-target-active
      - sls: libvirt.service
      - sls: sanlock.service
