{#- F14: libvirt's sanlock plugin takes a lease on every guest disk
    automatically (auto_disk_leases), in the lease directory on the shared
    `sanlock` volume, as this host's host_id, with the cluster's io_timeout: a
    guest can never run on two hosts at once. libvirtd reloads it
    (sanlock.service watches this file). #}
{%- from "map.jinja" import hv with context %}
{%- set lease_dir = hv.sanlock.lease_dir %}
include:
  - sanlock.package
  - gluster.mounts

sanlock-libvirt-lease-dir-owned:
  file.directory:
    - name: {{ lease_dir }}
    - group: sanlock
    - mode: "0770"
    # On a first run the sanlock volume was mounted a moment ago: its client
    # may still be connecting to the bricks (over TLS, a handshake each), and
    # the first change of owner can fail; the next one works.
    - retry:
        attempts: 3
        interval: 5
    - require:
      - sls: sanlock.package
      - sls: gluster.mounts

sanlock-libvirt-qemu-sanlock-managed:
  file.managed:
    - name: /etc/libvirt/qemu-sanlock.conf
    - source: salt://sanlock/files/qemu-sanlock.conf.jinja
    - template: jinja
    - mode: "0600"
    - context:
        host_id: {{ hv.me.host_id }}
        lease_dir: {{ lease_dir }}
        io_timeout: {{ hv.sanlock.io_timeout }}
    - require:
      - sls: sanlock.package

sanlock-libvirt-qemu-lock-manager-set:
  file.keyvalue:
    - name: /etc/libvirt/qemu.conf
    - key: lock_manager
    - value: '"sanlock"'
    - separator: " = "
    - uncomment: "#"
    - append_if_not_found: true
    - require:
      - sls: sanlock.package

sanlock-libvirt-libvirtd-after-sanlock:
  file.managed:
    - name: /etc/systemd/system/libvirtd.service.d/50-sanlock.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/libvirt.sls): local changes are overwritten.
        # libvirt's lock manager talks to the sanlock daemon from its start.
        [Unit]
        Wants=sanlock.service
        After=sanlock.service
