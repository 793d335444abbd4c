{#- F22: /etc/shorewall/proxyarp lists the cluster's failover IPs that the
    provider's API routes to this host (all of this host's own when the pillar
    has no online: settings), through online.sync_failover: rewritten only
    when it changes, then Shorewall reloaded and a gratuitous ARP sent for each
    IP that arrived. An API failure changes nothing and fails this state. #}
include:
  - firewall

failover-proxyarp-synced:
  online.synced:
    - require:
      - sls: firewall
