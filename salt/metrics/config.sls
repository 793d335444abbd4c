{#- Issue 25: the textfile collector's directory (Debian's package makes its
    default one, root's, 0755: left as it is), and the node exporter's flags
    where the settings differ from its own defaults (hv.metrics.args: its port,
    the textfile directory its package reads): none on a default Debian
    install, whose ARGS="" is then left as the package wrote it. #}
{%- from "map.jinja" import hv with context %}
{%- set m = hv.metrics %}
include:
  - metrics.package

metrics-config-textfile-dir-managed:
  file.directory:
    - name: {{ m.textfile_dir }}
    - user: root
    - group: root
    - mode: "0755"
    - makedirs: true
    - require:
      - sls: metrics.package

metrics-config-args-set:
  file.keyvalue:
    - name: {{ m.args_file }}
    - key_values:
        ARGS: {{ ('"' ~ m.args | join(" ") ~ '"') | json }}
    - separator: "="
    - append_if_not_found: true
    - require:
      - sls: metrics.package
