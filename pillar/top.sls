# Pillar top file: every hypervisor gets the cluster description and the
# provider API settings. Replace the two files with your own for real servers
# (see pillar.example and README.md, "Two real servers").
base:
  hypervisors:
    - match: nodegroup
    - hypervisor
    - online
