{#- B1: the keeper on every host that carries guests: it starts again the
    guests the cluster keeps running (docs/keeper.md). It
    starts after the storage, sanlock and libvirtd, and before the shutdown
    unit (so it stops after it: it sees the evacuation's moves and starts
    nothing meanwhile). Restarted when its script, unit or the settings copy
    change (a restart only restarts the watching). Stopped and disabled where
    keeper:enabled is false. #}
{%- from "map.jinja" import hv with context %}
{%- set kp = hv.keeper %}
{%- set ev = hv.evacuation %}
{%- set mounts = hv.gluster.mounts %}
{%- set salt_call = hv.python.salt_call %}
include:
  - guests
  - guests.settings_copy

keeper-script-managed:
  file.managed:
    - name: {{ kp.script }}
    - source: salt://keeper/files/hv-keeper.jinja
    - template: jinja
    - mode: "0755"
    - context:
        unit: {{ kp.unit }}
        master: {{ salt["config.get"]("master") | json }}
        master_port: {{ salt["config.get"]("master_port", 4506) }}
        probe_timeout: {{ ev.peer_timeout }}
        salt_call: {{ salt_call }}
        settings_cache: {{ ev.settings_cache }}

keeper-unit-managed:
  file.managed:
    - name: /etc/systemd/system/{{ kp.unit }}.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://keeper/init.sls): local changes are overwritten.
        [Unit]
        Description=Keep the cluster's guests running: start again those a fault stopped
        Wants=network-online.target
        After=network-online.target salt-minion.service {{ hv.gluster.service }}.service
        After=sanlock.service hv-sanlock-rejoin.service {{ hv.libvirt.service }}.service
        Before={{ ev.unit }}.service
        # Stopped with libvirtd (F28's sanlock.leave, an operator), started with it: a
        # keeper left running would start libvirtd again through its socket.
        PartOf={{ hv.libvirt.service }}.service
        RequiresMountsFor={{ mounts | join(" ") }}

        [Service]
        ExecStart={{ kp.script }}
        Restart=always
        RestartSec=5
        # Takes the pillar again (after a start without the master) every hour.
        RuntimeMaxSec=3600

        [Install]
        WantedBy=multi-user.target {{ hv.libvirt.service }}.service

{%- if kp.enabled %}

keeper-unit-running:
  service.running:
    - name: {{ kp.unit }}
    - enable: true
    - watch:
      - file: keeper-script-managed
      - file: keeper-unit-managed
      - sls: guests.settings_copy
    - require:
      - sls: guests
{%- else %}

keeper-unit-dead:
  service.dead:
    - name: {{ kp.unit }}
    - enable: false
    - require:
      - file: keeper-unit-managed
{%- endif %}
