include:
  - sysctl.config
  - sysctl.live
