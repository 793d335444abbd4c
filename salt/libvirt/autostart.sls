{#- F8: the cluster, not libvirt, decides where a guest starts. Autostart
    links are removed and the directory made immutable (as the seed did), so
    `virsh autostart` fails instead of starting a guest on two hosts. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.package

libvirt-autostart-dir-empty:
  file.directory:
    - name: {{ hv.libvirt.autostart_dir }}
    - makedirs: true
    - clean: true
    - require:
      - sls: libvirt.package

libvirt-autostart-dir-immutable:
  file_attr.immutable:
    - name: {{ hv.libvirt.autostart_dir }}
    - require:
      - file: libvirt-autostart-dir-empty
