{#- F19: this host's TLS identity for the OpenVPN tunnels: an EC key and a
    self-signed certificate (Salt's x509_v2 states), which the peer pins by its
    SHA256 fingerprint (peer-fingerprint; no CA). Made whatever the transport:
    its fingerprint is published with the other keys (peers.published), so a
    switch to openvpn finds it at the peer already. Made once: the certificate
    is renewed only 30 days before it expires (in ten years). #}
{%- from "map.jinja" import hv with context %}
{%- set tls_dir = hv.tunnels.tls_dir %}

tunnels-tls-dir-present:
  file.directory:
    - name: {{ tls_dir }}
    - makedirs: true
    - mode: "0700"

tunnels-tls-key-managed:
  x509.private_key_managed:
    - name: {{ tls_dir }}/host.key
    - algo: ec
    - keysize: 256
    - mode: "0600"
    # x509_v2 writes the file through state.single, which opens a new channel
    # to the master; rarely, Salt's tornado loop bookkeeping raises
    # "dictionary keys changed during iteration" there. A retry is enough.
    - retry:
        attempts: 3
        interval: 2
    - require:
      - file: tunnels-tls-dir-present

tunnels-tls-certificate-managed:
  x509.certificate_managed:
    - name: {{ tls_dir }}/host.crt
    - signing_private_key: {{ tls_dir }}/host.key
    - CN: {{ hv.me.fqdn }}
    - days_valid: 3650
    - days_remaining: 30
    - mode: "0644"
    - retry:
        attempts: 3
        interval: 2
    - require:
      - x509: tunnels-tls-key-managed
