{#- What the custom modules import (libvirt_pool: libvirt), in the minion's
    own Python, whatever runs it: the OS packages for a minion on the system
    Python; otherwise the build tools, then pip into the minion's environment
    (a venv, Salt's onedir). Modules are reloaded after each, so that every
    custom module loads in this same run (`salt -N hypervisors sys.list_modules`). #}
{%- from "map.jinja" import hv with context %}
include:
  - repos

python-packages-installed:
  pkg.installed:
    - pkgs: {{ hv.python.pkgs | json }}
    - install_recommends: false
    - reload_modules: true
    - require:
      - sls: repos
{%- for name, requirement in hv.python.pip | dictsort %}

python-pip-{{ name }}-installed:
  pip.installed:
    - name: {{ requirement }}
    - reload_modules: true
    - require:
      - pkg: python-packages-installed
{%- endfor %}
