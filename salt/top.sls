# The whole hypervisor build. FEATURES.md IDs in comments; README.md maps
# each ID to its file. The hosts are the master's nodegroup `hypervisors`
# (master.d/hypervisor.conf): one setting names them, whatever they are called.
base:
  hypervisors:
    - match: nodegroup
    - sysctl        # F3
    - repos         # F4
    - python        # what the custom modules import
    - tools         # F5
    - libvirt       # F6, F8, F18 (no default network)
    - ksm           # F7
    - users         # F9
    - selinux       # F10
    - network       # F11, F18, F19 (vxlan), F23
    - hosts         # F12
    - peers         # F20
    - tunnels       # F19 (openvpn)
    - firewall      # F2, F21, R5
    - failover      # F22, F24 (proxy ARP from the API, beacon)
    - gluster       # F13, F17 (save volume)
    - sanlock       # F14, F15
    - libvirt.pools # F16
    - guests        # F25, F26
