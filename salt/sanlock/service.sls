{#- F14: sanlock (and wdmd where a watchdog is used) running, then libvirtd
    restarted whenever its lock manager configuration changed. #}
{%- from "map.jinja" import hv with context %}
include:
  - sanlock.config
  - libvirt.service

sanlock-service-running:
  service.running:
    - names: {{ hv.sanlock.services | json }}
    - enable: true
    # sanlock forks, then may still exit (e.g. it cannot lock its memory):
    # look again after a moment before calling it running.
    - init_delay: 2
    - require:
      - sls: sanlock.config
    - watch:
      - file: sanlock-config-daemon-options-managed
{%- if hv.sanlock.use_watchdog %}

sanlock-service-watchdog-running:
  service.running:
    - name: {{ hv.sanlock.watchdog_service }}
    - enable: true
    - require_in:
      - service: sanlock-service-running
{%- else %}

sanlock-service-watchdog-off:
  service.dead:
    - name: {{ hv.sanlock.watchdog_service }}
    - enable: false
{%- endif %}

sanlock-service-libvirtd-lock-manager-loaded:
  service.running:
    - name: {{ hv.libvirt.service }}
    - require:
      - service: sanlock-service-running
      - sls: libvirt.service
    - watch:
      - file: sanlock-config-qemu-sanlock-managed
      - file: sanlock-config-qemu-lock-manager-set
