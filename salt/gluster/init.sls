include:
  - gluster.package
  - gluster.service
  - gluster.bricks
  - gluster.peers
  - gluster.volumes
  - gluster.mounts
