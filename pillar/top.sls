# Pillar top file. Every host of the master's nodegroup `hypervisors`
# (master.d/hypervisor.conf) gets the cluster description; only the hosts
# that carry guests (nodegroup `guest_hosts`) get the provider API settings
# and their credentials (online.sls or hetzner.sls, as failover:provider
# says): the arbiter never calls the API, and the validator refuses them on
# it. The files here are the lab's defaults; a real cluster keeps its own
# hypervisor.sls and online.sls (or hetzner.sls, and an empty online.sls) in
# /etc/salt/hypervisor-pillar/ on the master, which shadow these (see
# pillar.example, docs/install.md and docs/hetzner.md).
base:
  hypervisors:
    - match: nodegroup
    - hypervisor
  guest_hosts:
    - match: nodegroup
    - online
    - hetzner
