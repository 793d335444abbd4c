{#- F6/F8: libvirtd enabled and running; its network sockets and
    libvirt-guests (which restarts guests at boot) stay off. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.config
  - libvirt.socket
{%- for unit in hv.libvirt.units_off %}

libvirt-service-{{ unit }}-disabled:
  service.dead:
    - name: {{ unit }}
    - enable: false
    - onlyif:
      - fun: service.available
        name: {{ unit }}
    - require:
      - sls: libvirt.config
{%- endfor %}

{#- A new socket mode needs the socket re-created, with the daemon stopped
    while it is (running guests are not affected). #}
libvirt-service-socket-recreated:
  module.run:
    - service.systemctl_reload: []
    - service.stop:
      - name: {{ hv.libvirt.service }}
    - service.restart:
      - name: {{ hv.libvirt.socket }}
    - onchanges:
      - sls: libvirt.socket

libvirt-service-socket-running:
  service.running:
    - name: {{ hv.libvirt.socket }}
    - enable: true
    - require:
      - module: libvirt-service-socket-recreated

libvirt-service-running:
  service.running:
    - name: {{ hv.libvirt.service }}
    - enable: true
    - require:
      - service: libvirt-service-socket-running
    - watch:
      - sls: libvirt.config
