include:
  - sanlock.package
  - sanlock.config
  - sanlock.libvirt
  - sanlock.service
  - sanlock.lockspace
  - sanlock.cleanup
