{#- F21: Shorewall and iptables (the nft flavour on both families). #}
{%- from "map.jinja" import hv with context %}

firewall-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.pkgs.firewall | json }}
    # What is named and its dependencies: nothing recommended comes along.
    - install_recommends: false
