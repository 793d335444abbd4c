{#- F13: one brick per volume under <brick_root>/<volume>; the brick itself is
    the subdirectory "brick", so that an unmounted brick file system leaves
    glusterd nothing to write into. With bricks:type lvm or device, the file
    system is XFS -i size=512, created only on a device without any signature
    (blkid finds none): nothing existing is ever reformatted. The brick
    directory's owner and mode are the volume root's (gluster sets them), so
    they are not managed here. #}
{%- from "map.jinja" import hv with context %}
{%- set bricks = hv.gluster.bricks %}
include:
  - gluster.package
{%- for name, volume in hv.gluster.volumes | dictsort %}
{%-   set device = bricks.devices.get(name) if bricks.type == "device" else "/dev/" ~ bricks.vg ~ "/" ~ name %}
{%-   if bricks.type == "lvm" %}

gluster-brick-{{ name }}-lv-present:
  lvm.lv_present:
    - name: {{ name }}
    - vgname: {{ bricks.vg }}
    - size: {{ volume.size }}
    - require:
      - sls: gluster.package
    - require_in:
      - cmd: gluster-brick-{{ name }}-xfs-created
{%-   endif %}
{%-   if bricks.type in ("lvm", "device") %}

gluster-brick-{{ name }}-xfs-created:
  cmd.run:
    - name: mkfs.xfs -i size=512 -L {{ name[:12] }} {{ device }}
    - unless: blkid -p {{ device }}
    - require:
      - sls: gluster.package

gluster-brick-{{ name }}-mounted:
  mount.mounted:
    - name: {{ volume.brick_dir }}
    - device: {{ device }}
    - fstype: xfs
    - opts: noatime
    - mkmnt: true
    - persist: true
    - require:
      - cmd: gluster-brick-{{ name }}-xfs-created
    - require_in:
      - file: gluster-brick-{{ name }}-dir-present
{%-   endif %}

gluster-brick-{{ name }}-dir-present:
  file.directory:
    - name: {{ volume.brick_dir }}/brick
    - makedirs: true
    - require:
      - sls: gluster.package
{%- endfor %}
