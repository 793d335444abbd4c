{#- F24, B10: the failover IPs routed to a host changed at the provider (the
    hv_failover beacon), an evacuation ended or a takeover moved a dead
    host's IPs: every host that carries guests syncs its proxy ARP with the
    API: the one that got an IP answers for it, the one that lost it stops,
    even before its own beacon has seen the change, or if its beacon is down.
    The hv_failover runner acts only when the sender (the minion id the master
    verified) is a host of the cluster; nothing else is taken from the event:
    neither names from its payload nor the IPs (each host asks the API again). #}
failover-sync-every-host:
  runner.hv_failover.sync:
    - args:
      - data: {{ data | json }}
