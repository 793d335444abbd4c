# Pillar top file. Every host of the master's nodegroup `hypervisors`
# (master.d/hypervisor.conf) gets the cluster description; only the hosts
# that carry guests (nodegroup `guest_hosts`) get the provider API settings
# and their token: the arbiter never calls the API, and the validator refuses
# a token on it. The files here are the lab's defaults; a real cluster keeps
# its own hypervisor.sls and online.sls in /etc/salt/hypervisor-pillar/ on
# the master, which shadow these (see pillar.example and docs/install.md).
base:
  hypervisors:
    - match: nodegroup
    - hypervisor
  guest_hosts:
    - match: nodegroup
    - online
