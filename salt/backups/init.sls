{#- B9 (issue 25): the guests' disks backed up on schedule (docs/backups.md).
    Where hypervisor:backups:enabled: a systemd timer (backups:schedule, a
    calendar) that runs guest_backup.run_all. Otherwise the timer is stopped
    and its units removed; the backups already made are left where they are. #}
{%- from "map.jinja" import hv with context %}
include:
{%- if hv.backups.enabled %}
  - backups.timer
{%- else %}
  - backups.off
{%- endif %}
