{#- F20: the migration user's own SSH key (ed25519, hv.migration.key), made
    once and never replaced: the peers authorize it (peers.trusted). #}
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
  cmd.run:
    - name: ssh-keygen -q -t ed25519 -N "" -C "hv-migration@{{ hv.me.fqdn }}" -f {{ migration.key }}
    - runas: {{ migration.user }}
    - creates: {{ migration.key }}
    - require:
      - file: peers-key-ssh-dir-present
      - sls: tools

{#- The public half, should it alone have been lost. #}
peers-key-migration-public-key-present:
  cmd.run:
    - name: ssh-keygen -y -f {{ migration.key }} > {{ migration.key }}.pub
    - runas: {{ migration.user }}
    - creates: {{ migration.key }}.pub
    - require:
      - cmd: peers-key-migration-key-created
