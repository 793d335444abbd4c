{#- F22, F24: proxy ARP for the failover IPs the provider routes to this host,
    and the beacon that notices a route change within seconds. #}
include:
  - failover.proxyarp
  - failover.beacon
