{#- F3: the kernel settings, persisted for every boot. #}
{%- from "map.jinja" import hv with context %}

sysctl-config-file-managed:
  file.managed:
    - name: {{ hv.sysctl.file }}
    - source: salt://sysctl/files/hypervisor.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: "0644"
    - context:
        settings: {{ hv.sysctl.settings | json }}
