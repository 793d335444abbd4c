{#- F4: package sources per OS family: the release packages that add them
    (EL: epel-release, centos-release-gluster10; Debian: its stock archive,
    so nothing to add). Every other package state requires this one. #}
{%- from "map.jinja" import hv with context %}
{%- for package in hv.repo_packages %}

repos-{{ package }}-installed:
  pkg.installed:
    - name: {{ package }}
    - require_in:
      - test: repos-sources-ready
{%- endfor %}

{#- Always present, so that `require: - sls: repos` holds on every family. #}
repos-sources-ready:
  test.nop:
    - name: package sources for {{ grains.os_family }} in place
