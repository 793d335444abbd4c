{#- F2, F21, F22, R5: Shorewall as the host's only firewall, its rules and
    proxy ARP applied behind a dead-man that rolls them back unless the host
    still answers; the competing firewalls stopped once it is up. #}
include:
  - firewall.package
  - firewall.apply
  - firewall.competing
  - firewall.service
