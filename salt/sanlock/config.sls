{#- F14: the sanlock daemon's options: with a watchdog (wdmd) or, where the
    host has none, without (-w 0), and the kill grace (-g); sanlock.conf where
    the OS family's sanlock reads the watchdog fire timeout (conf_settings is
    empty where it is fixed: Debian's 3.8). sanlock.service restarts on a change. #}
{%- from "map.jinja" import hv with context %}
include:
  - sanlock.package

sanlock-config-daemon-options-managed:
  file.managed:
    - name: {{ hv.sanlock.defaults_file }}
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/config.sls): local changes are overwritten.
        # -w 1: sanlock arms the watchdog (through wdmd); -w 0: no watchdog on this host.
        # -g: seconds a lease holder gets (SIGTERM, killpath) before SIGKILL.
        sanlock_opts="{{ hv.sanlock.daemon_opts }}"
    - require:
      - sls: sanlock.package
{%- if hv.sanlock.conf_settings %}

sanlock-config-sanlock-conf-managed:
  file.managed:
    - name: {{ hv.sanlock.conf_file }}
    - mode: "0644"
    - contents: |
        # Managed by Salt (salt://sanlock/config.sls): local changes are overwritten.
{%- for key, value in hv.sanlock.conf_settings | dictsort %}
        {{ key }} = {{ value }}
{%- endfor %}
    - require:
      - sls: sanlock.package
{%- endif %}
