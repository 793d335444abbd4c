{#- B4: an evacuation, takeover or keeper step announced by a host
    (hv/evacuation/..., hv/takeover/..., hv/keeper/...), kept on
    the master by the hv_events runner. The tag and payload are the host's
    own words and are only recorded, never acted upon; the recorder adds
    which minion sent them. #}
evacuation-step-recorded:
  runner.hv_events.record:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
