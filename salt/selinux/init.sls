{#- F10: SELinux booleans for FUSE (gluster) and sanlock, on EL only: the
    Debian parameters list none, so this renders to nothing there. #}
{%- from "map.jinja" import hv with context %}
{%- for boolean, value in hv.selinux.booleans | dictsort %}

selinux-boolean-{{ boolean }}:
  selinux.boolean:
    - name: {{ boolean }}
    - value: {{ value }}
    - persist: true
{%- endfor %}
