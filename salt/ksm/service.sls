{#- F7: KSM and ksmtuned enabled for every boot, and running wherever the
    kernel lets this host drive KSM. In a container /sys/kernel/mm/ksm is the
    host machine's and read-only: the services stay enabled but stopped, and
    the state below says so instead of failing or pretending. #}
{%- from "map.jinja" import hv with context %}
{%- set knob = "/sys/kernel/mm/ksm/run" %}
include:
  - ksm.config

ksm-service-enabled:
  service.enabled:
    - names: {{ hv.ksm.services | json }}
    - require:
      - sls: ksm.config

ksm-service-running:
  service.running:
    - names: {{ hv.ksm.services | json }}
    - onlyif: test -w {{ knob }}
    - watch:
      - sls: ksm.config

ksm-service-kernel-read-only:
  test.configurable_test_state:
    - name: KSM and ksmtuned enabled, not started
    - comment: "{{ knob }} is not writable here (a container?): KSM is not started; enabled for boot"
    - changes: false
    - result: true
    - warnings: "{{ knob }} is read-only: KSM and ksmtuned are enabled but not running"
    - unless: test -w {{ knob }}
