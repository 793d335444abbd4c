{#- F14: sanlock (and wdmd where a watchdog is used) running, then libvirtd
    restarted whenever its lock manager configuration changed. Which units
    run or stay off comes from the settings (hypervisor_pillar). #}
{%- from "map.jinja" import hv with context %}
include:
  - sanlock.config
  - sanlock.libvirt
  - libvirt.service

sanlock-service-running:
  service.running:
    - name: sanlock
    - enable: true
    # sanlock forks, then may still exit (e.g. it cannot lock its memory):
    # look again after a moment before calling it running.
    - init_delay: 2
    - require:
      - sls: sanlock.libvirt
    - watch:
      - sls: sanlock.config
{%- for unit in hv.sanlock.watchdog_units %}

sanlock-service-{{ unit }}-running:
  service.running:
    - name: {{ unit }}
    - enable: true
    - require_in:
      - service: sanlock-service-running
{%- endfor %}
{%- for unit in hv.sanlock.watchdog_units_off %}

sanlock-service-{{ unit }}-off:
  service.dead:
    - name: {{ unit }}
    - enable: false
{%- endfor %}

sanlock-service-libvirtd-lock-manager-loaded:
  service.running:
    - name: {{ hv.libvirt.service }}
    - require:
      - service: sanlock-service-running
      - sls: libvirt.service
    - watch:
      - sls: sanlock.libvirt
