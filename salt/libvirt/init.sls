include:
  - libvirt.package
  - libvirt.config
  - libvirt.service
  - libvirt.autostart
  - libvirt.default_network
