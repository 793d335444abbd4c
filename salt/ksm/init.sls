include:
  - ksm.package
  - ksm.config
  - ksm.service
