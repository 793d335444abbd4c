{#- F18: libvirt's NAT network "default" is not used: guests join the
    cluster's bridges. It is stopped, then undefined (it holds no data). #}
include:
  - libvirt.service

libvirt-default-network-stopped:
  cmd.run:
    - name: virsh net-destroy default
    - onlyif: virsh -q net-list --name | grep -qx default
    - require:
      - sls: libvirt.service

libvirt-default-network-undefined:
  cmd.run:
    - name: virsh net-undefine default
    - onlyif: virsh -q net-list --all --name | grep -qx default
    - require:
      - cmd: libvirt-default-network-stopped
