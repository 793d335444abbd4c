{#- F15: stale disk leases removed daily by virt-sanlock-cleanup, at a random
    time on each host (RandomizedDelaySec) so that they never run together. #}
{%- from "map.jinja" import hv with context %}
include:
  - sanlock.service

sanlock-cleanup-service-managed:
  file.managed:
    - name: /etc/systemd/system/hv-sanlock-cleanup.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/cleanup.sls): local changes are overwritten.
        [Unit]
        Description=Remove stale libvirt sanlock disk leases
        After=sanlock.service libvirtd.service
        Requires=sanlock.service

        [Service]
        Type=oneshot
        ExecStart=/usr/sbin/virt-sanlock-cleanup

sanlock-cleanup-timer-managed:
  file.managed:
    - name: /etc/systemd/system/hv-sanlock-cleanup.timer
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/cleanup.sls): local changes are overwritten.
        [Unit]
        Description=Daily stale sanlock lease cleanup, at a random time per host

        [Timer]
        OnCalendar={{ hv.sanlock.cleanup_calendar }}
        RandomizedDelaySec={{ hv.sanlock.cleanup_random_delay }}
        Persistent=true

        [Install]
        WantedBy=timers.target

sanlock-cleanup-timer-running:
  service.running:
    - name: hv-sanlock-cleanup.timer
    - enable: true
    - require:
      - file: sanlock-cleanup-service-managed
      - sls: sanlock.service
    - watch:
      - file: sanlock-cleanup-timer-managed
