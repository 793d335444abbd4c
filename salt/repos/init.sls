{#- F4: package sources per OS family (EL: EPEL and the Storage SIG's
    GlusterFS; Debian: its stock archive, so nothing to add). #}
{%- from "map.jinja" import hv with context %}
{%- for name, repo in hv.repos | dictsort %}

repos-{{ name }}-managed:
  pkgrepo.managed:
    - name: {{ name }}
    - humanname: {{ repo.humanname }}
    - baseurl: {{ repo.baseurl }}
    - gpgcheck: 1
    - gpgkey: {{ repo.gpgkey }}
    - enabled: 1
{%- endfor %}

{#- Always present, so that `require: - sls: repos` holds on every family. #}
repos-sources-ready:
  test.nop:
    - name: package sources for {{ grains.os_family }} in place
