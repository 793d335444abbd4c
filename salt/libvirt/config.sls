{#- F8: libvirtd's own configuration (no network listener; the socket's mode
    is systemd's: libvirt/socket.sls), no idle exit, and qemu's live migration
    ports outside the bricks' range (the firewall opens them to the hosts that
    carry guests only, B10). #}
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

libvirt-config-migration-ports-set:
  file.keyvalue:
    - name: /etc/libvirt/qemu.conf
    - key_values:
        migration_port_min: "{{ hv.libvirt.migration_ports[0] }}"
        migration_port_max: "{{ hv.libvirt.migration_ports[1] }}"
    - separator: " = "
    - uncomment: "#"
    - append_if_not_found: true
    - require:
      - sls: libvirt.package
