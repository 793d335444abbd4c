{#- F14: this host is in libvirt's disk lockspace, and comes back to it by
    itself. A service watches every few seconds and rejoins once the storage
    answers again (sanlock never does after it dropped the lockspace); the
    state below joins now if needed, so a highstate is green only where a
    guest can start. `salt -N hypervisors sanlock.status` says it plainly. #}
{%- from "map.jinja" import hv with context %}
{%- set lockspace = hv.sanlock.lockspace %}
include:
  - sanlock.service

sanlock-lockspace-rejoin-script-managed:
  file.managed:
    - name: {{ hv.sanlock.rejoin_script }}
    - source: salt://sanlock/files/hv-sanlock-rejoin.jinja
    - template: jinja
    - mode: "0755"
    - context:
        lockspace: {{ lockspace | json }}
        volume: sanlock
        interval: {{ hv.sanlock.rejoin_interval }}

sanlock-lockspace-rejoin-unit-managed:
  file.managed:
    - name: /etc/systemd/system/hv-sanlock-rejoin.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/lockspace.sls): local changes are overwritten.
        [Unit]
        Description=Rejoin libvirt's sanlock lockspace whenever it was lost
        After=sanlock.service libvirtd.service

        [Service]
        ExecStart={{ hv.sanlock.rejoin_script }}
        Restart=always
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

sanlock-lockspace-rejoin-running:
  service.running:
    - name: hv-sanlock-rejoin
    - enable: true
    - require:
      - sls: sanlock.service
    - watch:
      - file: sanlock-lockspace-rejoin-script-managed
      - file: sanlock-lockspace-rejoin-unit-managed

sanlock-lockspace-joined:
  sanlock.lockspace_joined:
    - name: {{ lockspace.name }}
    - host_id: {{ lockspace.host_id }}
    - path: {{ lockspace.path }}
    - io_timeout: {{ lockspace.io_timeout }}
    # A first apply's join can meet the rejoin service's own, just started, or a lease
    # file another host is still writing (seen once: add_lockspace -19): look again.
    - retry:
        attempts: 3
        interval: 10
    - require:
      - sls: sanlock.service

# F25: at shutdown (after the guests left, hv-evacuate), sanlock leaves the
# lockspace, releasing this host's lease at once, and exits: it ignores
# SIGTERM while it is in a lockspace. Never restarts sanlock (with a joined
# lockspace a restart hangs): systemd reads it at the next stop.
sanlock-lockspace-leave-at-stop:
  file.managed:
    - name: /etc/systemd/system/sanlock.service.d/50-leave-at-stop.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/lockspace.sls): local changes are overwritten.
        [Service]
        ExecStop=-/usr/sbin/sanlock client rem_lockspace -s {{ lockspace.name }}:{{ lockspace.host_id }}:{{ lockspace.path }}:0
        ExecStop=-/usr/sbin/sanlock client shutdown -w 1

sanlock-lockspace-leave-at-stop-loaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: sanlock-lockspace-leave-at-stop
