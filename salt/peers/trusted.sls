{#- F20: `virsh -c qemu+ssh://<peer>/system` works unattended as the migration
    user, both ways, over the RPN (/etc/hosts maps the names to RPN addresses):
    the peer's migration key is authorized from its RPN address only, its host
    key is known under its name, FQDN and RPN address, and ssh uses the
    migration key for them. The keys are read from the mine when each state
    runs (slots), after peers.received saw them. #}
{%- from "map.jinja" import hv with context %}
{%- set migration = hv.migration %}
{%- set peers = hv.tunnels.peers %}
include:
  - peers.key
  - peers.received
{%- for peer in peers %}
{%- set host = hv.hosts[peer] %}

peers-trusted-{{ peer }}-migration-key-authorized:
  ssh_auth.present:
    - name: "__slot__:salt:peer_keys.get({{ peer }}, migration_key)"
    - user: {{ migration.user }}
    - options:
      - 'from="{{ host.rpn.ip }}"'
    - require:
      - sls: peers.key
      - sls: peers.received
{%- for alias in [peer, host.fqdn, host.rpn.ip] %}

peers-trusted-{{ peer }}-known-as-{{ alias }}:
  ssh_known_hosts.present:
    - name: {{ alias }}
    - user: {{ migration.user }}
    - enc: "__slot__:salt:peer_keys.known_host({{ peer }}).enc"
    - key: "__slot__:salt:peer_keys.known_host({{ peer }}).key"
    - hash_known_hosts: false
    - require:
      - sls: peers.key
      - sls: peers.received
{%- endfor %}
{%- endfor %}

peers-trusted-ssh-client-config-managed:
  file.managed:
    - name: /etc/ssh/ssh_config.d/hv-migration.conf
    - source: salt://peers/files/hv-migration.conf.jinja
    - template: jinja
    - makedirs: true
    - mode: "0644"
    - context:
        key: {{ migration.key }}
        peers: {{ peers | json }}
        hosts: {{ hv.hosts | json }}
