{#- F21: Shorewall starts at boot, and systemd knows it runs (`shorewall
    start` on a running firewall changes nothing). No watch on the files: a
    restart would clear the rules for a moment (the unit's ExecStop); changes
    are reloaded by firewall.apply. After the competing units are gone, so
    that the unit's Conflicts= has nothing left to stop. #}
include:
  - firewall.competing

firewall-service-running:
  service.running:
    - name: shorewall
    - enable: true
    - require:
      - sls: firewall.competing
