{#- F9: unprivileged admin users in the libvirt group, with their SSH keys. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.package

users-libvirt-group-present:
  group.present:
    - name: {{ hv.libvirt.group }}
    - system: true
    - require:
      - sls: libvirt.package
{%- for admin in hv.admins %}

users-{{ admin.name }}-present:
  user.present:
    - name: {{ admin.name }}
    - shell: /bin/bash
    - createhome: true
    - groups:
      - {{ hv.libvirt.group }}
    - remove_groups: false
    - require:
      - group: users-libvirt-group-present
{%- if admin.ssh_keys | default([]) %}

users-{{ admin.name }}-ssh-keys-present:
  ssh_auth.present:
    - user: {{ admin.name }}
    - names: {{ admin.ssh_keys | json }}
    - require:
      - user: users-{{ admin.name }}-present
{%- endif %}
{%- endfor %}
