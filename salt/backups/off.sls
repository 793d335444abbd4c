{#- B9: backups off: the timer stopped and disabled, its units removed (only
    where they are: a host that never had them shows no change). The backups
    made and the target are left as they are. #}
{%- from "map.jinja" import hv with context %}
{%- set unit = "/etc/systemd/system/" ~ hv.backups.unit %}
{%- if salt["file.file_exists"](unit ~ ".timer") %}

backups-timer-dead:
  service.dead:
    - name: {{ hv.backups.unit }}.timer
    - enable: false

backups-units-absent:
  file.absent:
    - names:
      - {{ unit }}.timer
      - {{ unit }}.service
    - require:
      - service: backups-timer-dead
{%- endif %}
