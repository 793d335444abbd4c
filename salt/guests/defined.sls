{#- F26: every guest of pillar hypervisor:guests, its disk file on the shared
    vmstore (created once, sparse) and its libvirt definition, on every host
    that carries guests (not the gluster arbiter): any of them may run it.
    Defined only: where each guest runs is the cluster's decision. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.pools
{%- for name in (hv.guests if hv.me.name in hv.tunnels.members else {}) | sort %}

guests-{{ name }}-disk-present:
  guests.disk_present:
    - name: {{ name }}
    - require:
      - sls: libvirt.pools

guests-{{ name }}-defined:
  guests.defined:
    - name: {{ name }}
    - require:
      - guests: guests-{{ name }}-disk-present
      - sls: libvirt.pools
{%- endfor %}
