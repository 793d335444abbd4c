{#- F9: admin users with their SSH keys, in the libvirt group
    (hv.admin_groups) on a host that carries guests; the arbiter has no libvirt.
    The libvirt group is root-equivalent on that host (libvirt's socket lets
    it manage guests and their disks, auth_unix_rw none): only trusted people. #}
{%- from "map.jinja" import hv with context %}
{%- if hv.admin_groups %}
include:
  - libvirt.package

users-libvirt-group-present:
  group.present:
    - name: {{ hv.libvirt.group }}
    - system: true
    - require:
      - sls: libvirt.package
{%- endif %}
{%- for admin in hv.admins %}

users-{{ admin.name }}-present:
  user.present:
    - name: {{ admin.name }}
    - shell: /bin/bash
    - createhome: true
    - groups: {{ hv.admin_groups | json }}
    - remove_groups: false
{%- if hv.admin_groups %}
    - require:
      - group: users-libvirt-group-present
{%- endif %}
{%- if admin.ssh_keys | default([]) %}

users-{{ admin.name }}-ssh-keys-present:
  ssh_auth.present:
    - user: {{ admin.name }}
    - names: {{ admin.ssh_keys | json }}
    - require:
      - user: users-{{ admin.name }}-present
{%- endif %}
{%- endfor %}
