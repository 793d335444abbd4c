{#- F13/F14/F17: each volume mounted from localhost on every data host, at
    boot after glusterd. libvirtd and sanlock need these mounts: systemd starts
    them after the mounts and stops them before unmounting. A mount point
    that already holds files is refused rather than hidden. #}
{%- from "map.jinja" import hv with context %}
{%- set mounts = hv.gluster.mounts %}
include:
  - gluster.volumes
{%- for name, volume in hv.gluster.volumes | dictsort %}

gluster-mount-{{ name }}-point-safe:
  mount_point.free:
    - name: {{ volume.mount }}

gluster-mount-{{ name }}-mounted:
  mount.mounted:
    - name: {{ volume.mount }}
    - device: localhost:/{{ name }}
    - fstype: glusterfs
    # Ordered after glusterd at boot, but not bound to it: stopping glusterd
    # (an upgrade, a test) must not unmount the guests' disks.
    - opts: defaults,_netdev,x-systemd.after=glusterd.service
    # Read by systemd at boot, not shown by the live mount: not a reason to remount.
    - hidden_opts: x-systemd.after=glusterd.service
    - mkmnt: true
    - persist: true
    - retry:
        attempts: 20
        interval: 3
    - require:
      - mount_point: gluster-mount-{{ name }}-point-safe
      - sls: gluster.volumes
{%- endfor %}
{%- for unit in ["libvirtd.service", "sanlock.service"] %}

gluster-mounts-before-{{ unit }}:
  file.managed:
    - name: /etc/systemd/system/{{ unit }}.d/50-gluster-mounts.conf
    - makedirs: true
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://gluster/mounts.sls): local changes are overwritten.
        [Unit]
        RequiresMountsFor={{ mounts | join(" ") }}
    - onchanges_in:
      - cmd: gluster-mounts-systemd-reloaded
{%- endfor %}

gluster-mounts-systemd-reloaded:
  cmd.run:
    - name: systemctl daemon-reload
