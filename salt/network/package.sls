{#- F11/F19: the network tools of the OS family (pkgs.network: iproute, the
    backend where it is a package, OpenVPN for transport openvpn; EL takes
    OpenVPN from EPEL). #}
{%- from "map.jinja" import hv with context %}
include:
  - repos

network-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.network | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
    - require:
      - sls: repos
