{#- B10: with gluster:tls, this node's TLS identity for gluster (management
    and I/O): an RSA key and a self-signed certificate named after the host
    (the volumes' auth.ssl-allow lists the hosts by name), in
    gluster:tls_dir, where glusterfs reads them. Made once: renewed only 30
    days before it expires (in ten years). Nothing without gluster:tls. #}
{%- from "map.jinja" import hv with context %}
{%- set tls_dir = hv.gluster.tls_dir %}
{%- if hv.gluster.tls %}

gluster-tls-key-managed:
  x509.private_key_managed:
    - name: {{ tls_dir }}/glusterfs.key
    - algo: rsa
    - keysize: 3072
    - mode: "0600"
    # See tunnels/tls.sls: x509_v2 may rarely trip over Salt's event loop.
    - retry:
        attempts: 3
        interval: 2

gluster-tls-certificate-managed:
  x509.certificate_managed:
    - name: {{ tls_dir }}/glusterfs.pem
    - signing_private_key: {{ tls_dir }}/glusterfs.key
    - CN: {{ hv.me.name }}
    # Its own trust anchor in every node's glusterfs.ca, as gluster's
    # documented `openssl req -x509` makes it.
    - basicConstraints: "critical, CA:true"
    - subjectKeyIdentifier: hash
    - authorityKeyIdentifier: keyid:always
    - days_valid: 3650
    - days_remaining: 30
    - mode: "0644"
    - retry:
        attempts: 3
        interval: 2
    - require:
      - x509: gluster-tls-key-managed
{%- endif %}
