{#- F25, F26: the cluster's guests, defined on every host that carries guests,
    and the unit that evacuates them at shutdown. #}
{%- from "map.jinja" import hv with context %}
include:
  - guests.defined
{%- if hv.me.name in hv.tunnels.members %}
  - guests.evacuation
  - guests.placed
{%- endif %}
