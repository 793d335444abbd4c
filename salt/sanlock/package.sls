{#- F14: sanlock, its watchdog multiplexer and libvirt's sanlock plugin. #}
{%- from "map.jinja" import hv with context %}
include:
  - libvirt.package

sanlock-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.sanlock | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
    - require:
      - sls: libvirt.package
