{#- F8: libvirtd listens on its unix socket only (group libvirt, 0770, no
    auth on the socket). With socket activation systemd owns the socket, so
    its group and mode are set in a drop-in; libvirt/service.sls re-creates
    the socket when it changes. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.package

libvirt-socket-dropin-managed:
  file.managed:
    - name: /etc/systemd/system/{{ hv.libvirt.socket }}.d/50-hypervisor.conf
    - makedirs: true
    - contents: |
        # Managed by Salt (salt://libvirt/socket.sls): local changes are overwritten.
        [Socket]
        SocketGroup={{ hv.libvirt.group }}
        SocketMode={{ hv.libvirt.socket_mode }}
    - mode: "0644"
    - require:
      - sls: libvirt.package
