{#- F5: the administrator's everyday tools (list: pkgs.admin_tools). #}
{%- from "map.jinja" import hv with context %}
include:
  - repos

tools-admin-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.admin_tools | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
    - require:
      - sls: repos
