{#- F13: GlusterFS server, FUSE client, XFS and LVM tools. #}
{%- from "map.jinja" import hv with context %}
include:
  - repos

gluster-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.gluster | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
    - require:
      - sls: repos
