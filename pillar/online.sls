# Online/Scaleway Dedibox API: the lab's settings. The lab points at its
# stand-in (lab/online_api.py) on the master's address; plain http is allowed
# for it alone. The lab replaces this token, at each boot, with a random one
# kept in a root-only file (lab/master.py); this value is not a secret.
# A real cluster never edits this file: its token goes into
# /etc/salt/hypervisor-pillar/online.sls on the master (directory 0700, file
# 0600), which shadows this one (master.d/hypervisor.conf, pillar.example).
online:
  api_url: http://203.0.113.1:8080/api/v1
  api_token: lab-fake-token-not-a-secret
  allow_http: true
