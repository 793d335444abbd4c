{#- F8: libvirtd's own configuration (no network listener; the socket's mode
    is systemd's: libvirt/socket.sls) and no idle exit. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.package

libvirt-config-libvirtd-conf-managed:
  file.managed:
    - name: {{ hv.libvirt.config_file }}
    - source: salt://libvirt/files/libvirtd.conf.jinja
    - template: jinja
    - mode: "0644"
    - context:
        libvirt: {{ hv.libvirt | json }}
    - require:
      - sls: libvirt.package

libvirt-config-daemon-args-managed:
  file.managed:
    - name: {{ hv.libvirt.args_file }}
    - contents: |
        # Managed by Salt (salt://libvirt/config.sls): local changes are overwritten.
        # No --timeout: the daemon must be up whenever the cluster acts.
        LIBVIRTD_ARGS=""
    - mode: "0644"
    - require:
      - sls: libvirt.package
