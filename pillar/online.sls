# Online/Scaleway Dedibox API: the lab's settings. The lab points at a
# stand-in on its own network; the token is a fake value, not a secret.
# A real cluster never edits this file: its token goes into
# /etc/salt/hypervisor-pillar/online.sls on the master (directory 0700, file
# 0600), which shadows this one (master.d/hypervisor.conf, pillar.example).
online:
  api_url: http://203.0.113.1:8080/api/v1
  api_token: lab-fake-token-not-a-secret
