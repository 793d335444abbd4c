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
  # The master's own id alone (the nodegroup alerts_master, master.d/alerts.conf):
  # the alerts' webhook and mail settings with their credentials, for its alerts
  # engine (docs/alerts.md). Never a host: the validator refuses `alerts:` in a
  # host's pillar. Without master.d/alerts.conf the nodegroup is unknown and
  # matches nothing.
  alerts_master:
    - match: nodegroup
    - alerts
