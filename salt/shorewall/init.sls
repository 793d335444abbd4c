include:
  - shorewall.competing
