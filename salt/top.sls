# The whole hypervisor build. Feature IDs (F1-F28, B1-B11) in comments;
# docs/features.md maps each ID to its files. The hosts are the master's
# nodegroup `hypervisors` (master.d/hypervisor.conf): one setting names them,
# whatever they are called. The arbiter (hypervisor:hosts:<id>:role: arbiter)
# carries no guest: it gets the states not marked "guests only" (its gluster
# brick, network, firewall). The role comes from the validated settings; with
# an invalid pillar every state is listed, and each stops the run naming the
# bad keys (map.jinja).
{%- set guests = salt["hypervisor_pillar.role"]() != "arbiter" %}
base:
  hypervisors:
    - match: nodegroup
    - sysctl        # F3
    - repos         # F4
    - python        # what the custom modules import
    - tools         # F5
{%- if guests %}
    - libvirt       # F6, F8, F18 (no default network); guests only
    - ksm           # F7; guests only
{%- endif %}
    - users         # F9
    - selinux       # F10
    - network       # F11, F18, F19 (vxlan), F23
    - hosts         # F12
{%- if guests %}
    - peers         # F20; guests only
    - tunnels       # F19 (openvpn); guests only
{%- endif %}
    - firewall      # F2, F21, R5
{%- if guests %}
    - failover      # F22, F24 (proxy ARP from the API, beacon); guests only
{%- endif %}
    - gluster       # F13, F17 (save volume)
{%- if guests %}
    - sanlock       # F14, F15; guests only
    - libvirt.pools # F16; guests only
    - guests        # F25, F26; guests only
    - takeover      # B1, B6 (a dead host's guests); guests only
    - keeper        # B1 (guests that come back by themselves); guests only
    - backups       # B9 (the guests' disks on schedule); guests only
{%- endif %}
    - metrics       # B9 (the hv_* series for Prometheus)
