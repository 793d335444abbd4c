# The master's alerts (docs/alerts.md): nothing here by default, so the alerts
# engine sends nothing. A cluster puts its `alerts:` part (a webhook and/or a
# mail relay, their credentials: pillar.example) into
# /etc/salt/hypervisor-pillar/alerts.sls on the master (directory 0700, file
# 0600), which shadows this file. pillar/top.sls gives it to the nodegroup
# `alerts_master` alone, the master's own id (master.d/alerts.conf), never to
# a host: the validator refuses `alerts:` in a host's pillar.
{}
