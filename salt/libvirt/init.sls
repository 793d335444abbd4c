include:
  - libvirt.package
  - libvirt.config
  - libvirt.socket
  - libvirt.service
  - libvirt.autostart
  - libvirt.default_network
