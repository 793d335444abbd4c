{#- F7: Kernel Samepage Merging and its tuning daemon. #}
{%- from "map.jinja" import hv with context %}

ksm-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.ksm | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
