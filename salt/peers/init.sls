{#- F20: the hypervisors trust each other for live migration (qemu+ssh://
    over the RPN, as the migration user): each one's migration key and SSH
    host key, and its tunnel certificate's fingerprint (F19), go through the
    Salt mine to the others. #}
include:
  - peers.key
  - peers.published
  - peers.received
  - peers.trusted
