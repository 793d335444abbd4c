"""The two-node lab: Debian 12 hypervisors as systemd-nspawn containers.

Everything the lab creates carries the ``hvlab`` prefix (network namespaces,
state under ``/var/lib/hvlab``) so that ``python -m lab down`` can find and
remove it, also when an earlier run was killed half-way.

Layout of the lab network (all addresses exist only inside its namespaces)::

    hvlab-sw   switch namespace: bridge "pub" (203.0.113.0/24, MTU 1500)
                                 bridge "rpn" (198.51.100.0/24, MTU 9000)
    hvlab-master  salt-master, 203.0.113.1 on "pub"
    hvlab-hyp1    container hyp1: eth0 on "pub", eth1 on "rpn"
    hvlab-hyp2    container hyp2: eth0 on "pub", eth1 on "rpn"
"""
