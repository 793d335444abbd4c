{#- F13: this host's brick of each volume at <brick_root>/<volume>/brick. With
    bricks of type lvm or device, <brick_root>/<volume> is an XFS file system
    (-i size=512): made only on a blank device (a device carrying anything is
    never formatted, the state fails instead), mounted, and the brick directory
    created only once it is mounted. The brick directory's owner and mode are
    the volume root's (gluster sets them). Per-host layout: hypervisor_pillar. #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.package
{%- for name, lv in hv.gluster.brick_lvs | dictsort %}

gluster-brick-{{ name }}-lv-present:
  lvm.lv_present:
    - name: {{ lv.name }}
    - vgname: {{ lv.vg }}
    - size: {{ lv.size }}
    - require:
      - sls: gluster.package
    - require_in:
      - gluster_brick: gluster-brick-{{ name }}-xfs
{%- endfor %}
{%- for name, fs in hv.gluster.brick_filesystems | dictsort %}

gluster-brick-{{ name }}-xfs:
  gluster_brick.formatted:
    - name: {{ fs.device }}
    - label: {{ fs.label }}
    - require:
      - sls: gluster.package

gluster-brick-{{ name }}-mounted:
  mount.mounted:
    - name: {{ fs.dir }}
    - device: {{ fs.device }}
    - fstype: xfs
    - opts: noatime
    - mkmnt: true
    - persist: true
    - require:
      - gluster_brick: gluster-brick-{{ name }}-xfs
    - require_in:
      - gluster_brick: gluster-brick-{{ name }}-ready
{%- endfor %}
{%- for name, brick in hv.gluster.local_bricks | dictsort %}

gluster-brick-{{ name }}-ready:
  gluster_brick.ready:
    - name: {{ brick.path }}
    - mount_point: {{ brick.mount_point | json }}
    - require:
      - sls: gluster.package
{%- endfor %}
