{#- F19: how the guest bridges are joined between the hosts, per
    tunnels:transport: vxlan (kernel links made by salt/network; here only
    the OpenVPN tunnels are removed) or openvpn (TLS tap tunnels to the peer). #}
{%- from "map.jinja" import hv with context %}
include:
  - tunnels.{{ hv.tunnels.transport }}
