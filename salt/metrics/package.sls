{#- Issue 25: the Prometheus node exporter (Debian's prometheus-node-exporter;
    on EL, EPEL's golang-github-prometheus-node-exporter: pkgs:metrics). #}
{%- from "map.jinja" import hv with context %}

metrics-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.metrics | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
