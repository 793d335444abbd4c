{#- F11 (private RPN interface) and F18 (guest bridges), declared for the
    OS family's network backend: systemd-networkd (Debian) or NetworkManager
    (EL). Interfaces other than these are left alone. #}
{%- from "map.jinja" import hv with context %}
include:
  - network.{{ hv.network.backend }}
