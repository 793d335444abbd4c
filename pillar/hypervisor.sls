# Embedded default: the two-node lab that `make lab` builds on this machine.
# Addresses are documentation ranges that exist only inside the lab's network
# namespaces (203.0.113.0/24 public, 198.51.100.0/24 private RPN).
# Every key is documented in ../pillar.example.
hypervisor:
  domain: lab.example
  hosts:
    hyp1:
      host_id: 1
      peer: hyp2
      online_server_id: 1001
      public:
        interface: eth0
        address: 203.0.113.11
        prefix: 24
        gateway: 203.0.113.254
      # Failover IPs routed to hyp1, one per test guest (guests: below).
      failover_ips:
        - 203.0.113.101
        - 203.0.113.102
        - 203.0.113.103
        - 203.0.113.104
      rpn:
        interface: eth1
        mac: "02:00:c6:33:64:0b"
        address: 198.51.100.11/24
        dhcp: false
        mtu: 9000
    hyp2:
      host_id: 2
      peer: hyp1
      online_server_id: 1002
      public:
        interface: eth0
        address: 203.0.113.12
        prefix: 24
        gateway: 203.0.113.254
      rpn:
        interface: eth1
        mac: "02:00:c6:33:64:0c"
        address: 198.51.100.12/24
        dhcp: false
        mtu: 9000
      # hyp2's bricks are XFS file systems on block devices of their own
      # (loop devices in the lab); hyp1's are directories (the default).
      bricks:
        type: device
        devices:
          vmstore: /dev/hvlab-vmstore
          sanlock: /dev/hvlab-sanlock
          save: /dev/hvlab-save
    # The arbiter: a third, small machine that carries no guest. Its brick in
    # every volume (metadata only) gives gluster a majority (client quorum), so
    # a host cut off from the others loses write access, and a dead host's
    # guests are taken over by the survivor (hypervisor:takeover, on by default
    # with an arbiter).
    arb1:
      role: arbiter
      public:
        interface: eth0
        address: 203.0.113.13
        prefix: 24
        gateway: 203.0.113.254
      rpn:
        interface: eth1
        mac: "02:00:c6:33:64:0d"
        address: 198.51.100.13/24
        dhcp: false
        mtu: 9000
  bridges:
    wan:
      name: brwan
      vpn_port: 1195
      vni: 101
      public: true
    lan:
      name: brlan
      vpn_port: 1194
      vni: 102
  admins:
    - name: fws
      ssh_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPjTm7g3FpyZzGRccdNEgQlUQpsYWn7+i9HspS0FdFDB admin@lab.example
  libvirt:
    # Both lab hosts share the machine's SMBIOS UUID; libvirt must tell them apart.
    host_uuid_source: machine-id
  sanlock:
    # The lab hosts have no watchdog device: lab only, never on real servers.
    use_watchdog: false
    lab_without_watchdog: true
  pools:
    iso:
      path: /var/lib/libvirt/images/iso
    customer1:
      path: /var/lib/libvirt/images/customer1
  # The test guests (lab/guest.py: a kernel and a busybox initramfs that
  # answers ping on its failover IP), under qemu TCG: the lab hosts have no
  # /dev/kvm. Not kept running: the tests that need them start them.
  guests:
    vm1:
      home: hyp1
      memory: 128
      vcpus: 1
      virt_type: qemu
      running: false
      disk:
        pool: customer1
        size: 16M
      nics:
        - bridge: wan
      failover_ips:
        - 203.0.113.101
      boot:
        kernel: /opt/hvlab-guest/vmlinuz
        initrd: /opt/hvlab-guest/initrd.img
        cmdline: "console=ttyS0 panic=-1 hvlab.ip=203.0.113.101 hvlab.gw=203.0.113.254"
    vm2:
      home: hyp1
      memory: 128
      vcpus: 1
      virt_type: qemu
      running: false
      disk:
        pool: customer1
        size: 16M
      nics:
        - bridge: wan
      failover_ips:
        - 203.0.113.102
      boot:
        kernel: /opt/hvlab-guest/vmlinuz
        initrd: /opt/hvlab-guest/initrd.img
        cmdline: "console=ttyS0 panic=-1 hvlab.ip=203.0.113.102 hvlab.gw=203.0.113.254"
    vm3:
      home: hyp1
      memory: 128
      vcpus: 1
      virt_type: qemu
      running: false
      disk:
        pool: customer1
        size: 16M
      nics:
        - bridge: wan
      failover_ips:
        - 203.0.113.103
      boot:
        kernel: /opt/hvlab-guest/vmlinuz
        initrd: /opt/hvlab-guest/initrd.img
        cmdline: "console=ttyS0 panic=-1 hvlab.ip=203.0.113.103 hvlab.gw=203.0.113.254"
    vm4:
      home: hyp1
      memory: 128
      vcpus: 1
      virt_type: qemu
      running: false
      disk:
        pool: customer1
        size: 16M
      nics:
        - bridge: wan
      failover_ips:
        - 203.0.113.104
      boot:
        kernel: /opt/hvlab-guest/vmlinuz
        initrd: /opt/hvlab-guest/initrd.img
        cmdline: "console=ttyS0 panic=-1 hvlab.ip=203.0.113.104 hvlab.gw=203.0.113.254"
  failover:
    # The lab's API stand-in answers at once: poll every second, space moves
    # by 2 s, and give a move 30 s to show.
    poll_interval: 1
    move_spacing: 2
    confirm_timeout: 30
    confirm_interval: 1
    # The tests move the same IPs back and forth many times an hour.
    move_budget:
      moves: 100
  firewall:
    # The lab's master and its admin namespace; 203.0.113.3 is the lab's
    # untrusted stranger.
    trusted:
      - 203.0.113.1
      - 203.0.113.2
  # B9: the hv_* series for Prometheus on every host, the arbiter's too, served
  # by the node exporter to the trusted addresses (docs/metrics.md). The lab
  # writes them every 5 minutes to spare its two cores (the default: 30 s).
  metrics:
    enabled: true
    interval: 300
  # B9: the guests' disks backed up to a directory of each host (a backup disk's
  # mount on a real cluster: docs/backups.md), two kept per guest. The lab's timer
  # fires once a year: its tests run guest_backup by hand.
  backups:
    enabled: true
    target:
      path: /var/backups/hv-guests
    keep: 2
    schedule: "*-01-01 04:00:00"
