{#- B9: the scheduled backup: hv-backup.timer starts hv-backup.service, which
    runs `salt-call guest_backup.run_all` (each guest of backups:guests that
    runs here, or runs nowhere and has its home here). A run missed while the
    host was off runs at the next boot (Persistent). The target is never
    created here: a backup disk that is not mounted must not be written
    through to the root file system (guest_backup refuses a missing target). #}
{%- from "map.jinja" import hv with context %}
{%- set backups = hv.backups %}

backups-state-dir:
  file.directory:
    - name: {{ backups.state_dir }}
    - mode: "0700"

backups-service-unit-managed:
  file.managed:
    - name: /etc/systemd/system/{{ backups.unit }}.service
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://backups/timer.sls): local changes are overwritten.
        # B9: back up the guests of this host (docs/backups.md).
        [Unit]
        Description=Back the guests' disks up (guest_backup.run_all)
        After=network-online.target salt-minion.service {{ hv.gluster.service }}.service {{ hv.libvirt.service }}.service
        RequiresMountsFor={{ hv.gluster.mounts | join(" ") }}

        [Service]
        Type=oneshot
        ExecStart={{ hv.python.salt_call }} --out=json guest_backup.run_all
        Nice=10
        IOSchedulingClass=idle

backups-timer-unit-managed:
  file.managed:
    - name: /etc/systemd/system/{{ backups.unit }}.timer
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://backups/timer.sls): local changes are overwritten.
        [Unit]
        Description=Back the guests' disks up on schedule (hypervisor:backups:schedule)

        [Timer]
        OnCalendar={{ backups.schedule }}
        Persistent=true
        RandomizedDelaySec=60

        [Install]
        WantedBy=timers.target

backups-timer-running:
  service.running:
    - name: {{ backups.unit }}.timer
    - enable: true
    - require:
      - file: backups-state-dir
      - file: backups-service-unit-managed
    - watch:
      - file: backups-timer-unit-managed
