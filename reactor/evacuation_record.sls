{#- B4: an evacuation, takeover, keeper, fence, failover-error or backup step
    announced by a host (hv/evacuation/..., hv/takeover/..., hv/keeper/...,
    hv/fence/..., hv/failover/error, hv/backup/...), kept on the master by the
    hv_events runner (only from a host of the nodegroup hypervisors). The tag
    and payload are the host's own words and are only recorded, never acted
    upon; the recorder adds which minion sent them. The alerts engine reads
    the record (docs/alerts.md). #}
evacuation-step-recorded:
  runner.hv_events.record:
    - args:
      - tag: {{ tag | json }}
      - data: {{ data | json }}
