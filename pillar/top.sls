# Pillar top file: every host of the master's nodegroup `hypervisors`
# (master.d/hypervisor.conf) gets the cluster description and the provider
# API settings. The files here are the lab's defaults; a real cluster keeps
# its own hypervisor.sls and online.sls in /etc/salt/hypervisor-pillar/ on
# the master, which shadow these (see pillar.example and README.md, "Using it
# on real servers").
base:
  hypervisors:
    - match: nodegroup
    - hypervisor
    - online
