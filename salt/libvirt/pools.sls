{#- F16: libvirt storage pools (pillar: hypervisor:pools), directories on
    the shared vmstore mount, defined, started and autostarted on every host. #}
{%- from "map.jinja" import hv with context %}
include:
  - python
  - gluster.mounts
  - sanlock.service
{%- for name, pool in hv.pools | dictsort %}

libvirt-pool-{{ name }}-dir-present:
  file.directory:
    - name: {{ pool.path }}
    - mode: "0755"
    # On the shared volume, the hosts' first applies create it at the same moment:
    # the one that loses the race finds it made on its next try.
    - retry:
        attempts: 3
        interval: 2
    - require:
      - sls: gluster.mounts

libvirt-pool-{{ name }}-running:
  libvirt_pool.running:
    - name: {{ name }}
    - path: {{ pool.path }}
    - require:
      - file: libvirt-pool-{{ name }}-dir-present
      - sls: sanlock.service
      - sls: python
{%- endfor %}
