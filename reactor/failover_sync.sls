{#- F24: the failover IPs routed to a host changed at the provider (the
    hv_failover beacon, tag salt/beacon/<minion id>/hv_failover/). Every host
    of the cluster syncs its proxy ARP with the API: the one that got an IP
    answers for it, the one that lost it stops, even before its own beacon
    has seen the change, or if its beacon is down. The targets are the
    master's own nodegroup; nothing is taken from the event: neither names
    from its payload nor the IPs (each host asks the API again). #}
failover-sync-every-host:
  local.online.sync_failover:
    - tgt: hypervisors
    - tgt_type: nodegroup
