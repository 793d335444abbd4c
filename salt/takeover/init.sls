{#- B1, B6: the takeover watcher on every host that carries guests. It
    starts after the storage, sanlock and libvirtd; restarted when its script
    or unit changes (a restart only restarts the watching). Stopped and
    disabled where the cluster has no majority (takeover:enabled false). #}
{%- from "map.jinja" import hv with context %}
{%- set to = hv.takeover %}
{%- set ev = hv.evacuation %}
{%- set mounts = hv.gluster.mounts %}
{%- set salt_call = hv.python.salt_call %}
include:
  - guests
  - guests.settings_copy

takeover-script-managed:
  file.managed:
    - name: {{ to.script }}
    - source: salt://takeover/files/hv-takeover.jinja
    - template: jinja
    - mode: "0755"
    - context:
        unit: {{ to.unit }}
        master: {{ salt["config.get"]("master") | json }}
        master_port: {{ salt["config.get"]("master_port", 4506) }}
        probe_timeout: {{ ev.peer_timeout }}
        salt_call: {{ salt_call }}
        settings_cache: {{ ev.settings_cache }}

takeover-unit-managed:
  file.managed:
    - name: /etc/systemd/system/{{ to.unit }}.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://takeover/init.sls): local changes are overwritten.
        [Unit]
        Description=Take over the guests of a host that sanlock declares dead
        Wants=network-online.target
        After=network-online.target salt-minion.service {{ hv.gluster.service }}.service
        After=sanlock.service hv-sanlock-rejoin.service {{ hv.libvirt.service }}.service {{ ev.unit }}.service
        RequiresMountsFor={{ mounts | join(" ") }}

        [Service]
        ExecStart={{ to.script }}
        Restart=always
        RestartSec=5
        # Takes the pillar again (after a start without the master) every hour.
        RuntimeMaxSec=3600

        [Install]
        WantedBy=multi-user.target

{%- if to.enabled %}

takeover-unit-running:
  service.running:
    - name: {{ to.unit }}
    - enable: true
    - watch:
      - file: takeover-script-managed
      - file: takeover-unit-managed
      - sls: guests.settings_copy
    - require:
      - sls: guests
{%- else %}

takeover-unit-dead:
  service.dead:
    - name: {{ to.unit }}
    - enable: false
    - require:
      - file: takeover-unit-managed
{%- endif %}
