{#- F14: the sanlock daemon's options: with a watchdog (wdmd) or, where the
    host has none, without (-w 0). sanlock.service restarts on a change. #}
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
        sanlock_opts="{{ hv.sanlock.daemon_opts }}"
    - require:
      - sls: sanlock.package
