{#- F8: libvirtd listens on its unix socket only (group libvirt, 0770, no
    auth on the socket) and runs all the time (no idle exit). With socket
    activation systemd owns the socket, so its mode is set in a drop-in. #}
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

libvirt-config-socket-dropin-managed:
  file.managed:
    - name: /etc/systemd/system/{{ hv.libvirt.socket }}.d/50-hypervisor.conf
    - makedirs: true
    - contents: |
        # Managed by Salt (salt://libvirt/config.sls): local changes are overwritten.
        [Socket]
        SocketGroup={{ hv.libvirt.group }}
        SocketMode={{ hv.libvirt.socket_mode }}
    - mode: "0644"
