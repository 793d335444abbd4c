# Hetzner Robot webservice (hypervisor:failover:provider: hetzner): nothing
# here by default (the lab's cluster uses the Online API). A Hetzner cluster
# puts its settings into /etc/salt/hypervisor-pillar/hetzner.sls on the
# master (directory 0700, file 0600), which shadows this file, and an empty
# online.sls beside it (which shadows the lab's Online settings):
#
#   hetzner:
#     user: "#ws+XXXXXXXX"        # the webservice user (not the account login)
#     password: "..."             # its password
#
# See docs/hetzner.md. Only the hosts that carry guests get this file
# (pillar/top.sls); the validator refuses it on the arbiter.
{}
