{#- B10: with gluster:tls, gluster's management and I/O connections over TLS.
    Each node publishes its certificate (peer_keys: gluster_cert), waits for
    the other nodes', and trusts exactly those (glusterfs.ca in
    gluster:tls_dir); the secure-access file turns TLS on for glusterd
    (gluster.service restarts it on a change), the volumes' options for the
    bricks and mounts (gluster.volumes). Only when the cluster is built: a node that already
    has volumes without TLS refuses, changing nothing (turning TLS on later
    means stopping every guest and volume: docs/storage.md). #}
{%- from "map.jinja" import hv with context %}
{%- set vols = "/var/lib/glusterd/vols" %}
{%- set secure_access = "/var/lib/glusterd/secure-access" %}
include:
  - gluster.package
  - gluster.tls_cert
{%- if hv.gluster.tls %}
{%- set built = salt["file.directory_exists"](vols) and salt["file.readdir"](vols) | length > 2 %}
{%- if built and not salt["file.file_exists"](secure_access) %}

gluster-tls-refused-on-a-running-cluster:
  test.fail_without_changes:
    - name: >-
        gluster:tls is on, but this node already serves volumes without TLS:
        nothing changed. Turning TLS on in a running cluster stops every
        volume: see docs/storage.md, "Gluster over TLS".
{%- else %}

gluster-tls-certificate-published:
  peer_keys.published:
    - name: hv_peer_keys
    - gluster_cert: {{ hv.gluster.tls_dir }}/glusterfs.pem
    - require:
      - sls: gluster.tls_cert
{%- for peer in hv.gluster.peers if peer != hv.me.name %}

gluster-tls-{{ peer }}-certificate-received:
  peer_keys.received:
    - name: {{ peer }}
    - require_keys: ["gluster_cert"]
    - timeout: 180
    - require:
      - peer_keys: gluster-tls-certificate-published
    - require_in:
      - file: gluster-tls-ca-managed
{%- endfor %}

gluster-tls-ca-managed:
  file.managed:
    - name: {{ hv.gluster.tls_dir }}/glusterfs.ca
    - contents: __slot__:salt:peer_keys.gluster_ca({{ hv.gluster.peers | join(",") }})
    - mode: "0644"
    - require:
      - peer_keys: gluster-tls-certificate-published

gluster-tls-secure-access-present:
  file.managed:
    - name: {{ secure_access }}
    - contents: ""
    - makedirs: true
    - mode: "0644"
    - require:
      - sls: gluster.package
      - file: gluster-tls-ca-managed
{%- endif %}
{%- endif %}

{#- Present with or without TLS, so that `require: - sls: gluster.tls` holds. #}
gluster-tls-settled:
  test.nop:
    - name: gluster's TLS files are in place ({{ "on" if hv.gluster.tls else "off" }})
