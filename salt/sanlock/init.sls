include:
  - sanlock.package
  - sanlock.config
  - sanlock.service
  - sanlock.lockspace
  - sanlock.cleanup
