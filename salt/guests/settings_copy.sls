{#- F25, B1: what the units read when the master cannot be reached (the
    evacuation, the takeover and the keeper): the settings copy, no secret
    (hv.settings_copy). The units that read it watch this file as a whole
    (sls: guests.settings_copy). #}
{%- from "map.jinja" import hv with context %}

guests-settings-copy-state-dir:
  file.directory:
    - name: {{ hv.evacuation.state_dir }}
    - mode: "0700"

guests-settings-copy-written:
  file.serialize:
    - name: {{ hv.evacuation.settings_cache }}
    - dataset: {{ hv.settings_copy | json }}
    - serializer: json
    - mode: "0600"
    - require:
      - file: guests-settings-copy-state-dir
