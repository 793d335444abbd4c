{#- F6: libvirt, qemu and the bridge tools. #}
{%- from "map.jinja" import hv with context %}
include:
  - repos

libvirt-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.virt | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
    - require:
      - sls: repos
