include:
  - sanlock.package
  - sanlock.config
  - sanlock.service
  - sanlock.cleanup
