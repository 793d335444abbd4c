{#- F11 (private RPN interface), F18 (guest bridges), F19 (VXLAN links when
    the bridges are joined by VXLAN), F23 (the public interface, restarted on
    its own), declared for the OS family's network backend: systemd-networkd
    (Debian) or NetworkManager (EL). Interfaces other than these are left alone. #}
{%- from "map.jinja" import hv with context %}
include:
  - network.package
  - network.{{ hv.network.backend }}
