{#- F20: the migration user's own SSH key (ed25519, hv.migration.key), made
    once and never replaced: the peers authorize it (peers.trusted). Commands
    run as argument lists, never through a shell. #}
{%- from "map.jinja" import hv with context %}
{%- set migration = hv.migration %}
include:
  - tools

peers-key-ssh-dir-present:
  file.directory:
    - name: {{ migration.home }}/.ssh
    - user: {{ migration.user }}
    - mode: "0700"

peers-key-migration-key-created:
  module.run:
    - cmd.run_all:
      - cmd: [ssh-keygen, -q, -t, ed25519, -N, "", -C, "hv-migration@{{ hv.me.fqdn }}", -f, {{ migration.key }}]
      - runas: {{ migration.user }}
      - python_shell: false
    - creates: {{ migration.key }}
    - require:
      - file: peers-key-ssh-dir-present
      - sls: tools

{#- The public half, should it alone have been lost. #}
peers-key-migration-public-key-present:
  module.run:
    - peer_keys.write_public_key:
      - private_key: {{ migration.key }}
      - user: {{ migration.user }}
    - creates: {{ migration.key }}.pub
    - require:
      - module: peers-key-migration-key-created
