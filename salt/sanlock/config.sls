{#- F14: the sanlock daemon's options: with a watchdog (wdmd) or, where the
    host has none, without (-w 0), and the kill grace (-g); sanlock.conf where
    the OS family's sanlock reads the watchdog fire timeout (conf_settings is
    empty where it is fixed: Debian 12's 3.8). sanlock.service restarts on a change.
    Nothing is written while a peer published another watchdog fire timeout:
    sanlock judges a peer dead by its own value, so every host must share it. #}
{%- from "map.jinja" import hv with context %}
include:
  - sanlock.package

sanlock-config-fire-timeout-agreed:
  peer_keys.agreed:
    - name: the sanlock watchdog fire timeout (seconds)
    - item: sanlock_fire_timeout
    - value: {{ hv.timings.watchdog_fire_timeout }}
    - peers: {{ hv.tunnels.peers | json }}
    - fix: >-
        A cluster with a Debian 12 host (sanlock 3.8: 60 s, fixed) sets
        hypervisor:sanlock:watchdog_fire_timeout: 60 until its last Debian 12 host is upgraded.

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
      - peer_keys: sanlock-config-fire-timeout-agreed
{%- if hv.sanlock.conf_settings %}

sanlock-config-sanlock-conf-managed:
  file.managed:
    - name: {{ hv.sanlock.conf_file }}
    - mode: "0644"
    # Debian 13's sanlock ships no /etc/sanlock.
    - makedirs: true
    - contents: |
        # Managed by Salt (salt://sanlock/config.sls): local changes are overwritten.
{%- for key, value in hv.sanlock.conf_settings | dictsort %}
        {{ key }} = {{ value }}
{%- endfor %}
    - require:
      - sls: sanlock.package
      - peer_keys: sanlock-config-fire-timeout-agreed
{%- endif %}
