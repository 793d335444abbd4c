{#- F7: ksmtuned with the seed's tuning (pillar: hypervisor:ksm:settings),
    and its log rotated. #}
{%- from "map.jinja" import hv with context %}
include:
  - ksm.package

ksm-config-ksmtuned-conf-managed:
  file.managed:
    - name: {{ hv.ksm.config_file }}
    - source: salt://ksm/files/ksmtuned.conf.jinja
    - template: jinja
    - mode: "0644"
    - context:
        settings: {{ hv.ksm.settings | json }}
    - require:
      - sls: ksm.package

ksm-config-logrotate-managed:
  file.managed:
    - name: {{ hv.ksm.logrotate_file }}
    - source: salt://ksm/files/logrotate.jinja
    - template: jinja
    - mode: "0644"
    - context:
        logfile: {{ hv.ksm.settings.LOGFILE }}
    - require:
      - sls: ksm.package
