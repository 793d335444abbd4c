{#- F28: bring a reinstalled hypervisor back into the gluster pool, no data lost.

    Run on the master once the node is reinstalled and its minion accepted:
      salt-run state.orchestrate orch.rebuild_node pillar='{"node": "hyp2", "source": "hyp1"}'

    `source` is a healthy host holding every volume's data. Each step stops
    the run when it fails.
    0. both get this tree's modules (gluster_rebuild among them);
    1. a healthy node is refused, before anything is changed; the node leaves
       sanlock cleanly (no daemon is left on the storage being rebuilt), then
       takes back the glusterd UUID the pool knows it by;
    2. it probes the source and copies every volume definition (volume sync);
    3. gluster.bricks formats its blank brick devices and mounts them; its
       empty bricks are marked with their volume's id (refused on a brick
       device that is not mounted); the source marks every volume root as
       needing heal towards them; they are started;
    4. a full heal copies the data back, and the run waits until nothing is
       left to heal and nothing is in split-brain;
    5. the node's highstate brings back its mounts, sanlock and libvirt.
    The seed's "rsync the bricks with xattrs" is replaced by gluster's own
    full heal, which copies data and metadata through the replication layer. #}
{%- set node = pillar.get("node") %}
{%- set source = pillar.get("source") %}

rebuild-arguments-given:
  test.check_pillar:
    - present:
      - node
      - source
    - failhard: true

rebuild-{{ node }}-modules-synced:
  salt.function:
    - name: saltutil.sync_all
    - tgt: {{ node }},{{ source }}
    - tgt_type: list
    - failhard: true
    - require:
      - test: rebuild-arguments-given

rebuild-{{ node }}-checked:
  salt.function:
    - name: gluster_rebuild.rebuild_check
    - tgt: {{ node }}
    - arg:
      - {{ source }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-modules-synced

rebuild-{{ node }}-leases-left:
  salt.function:
    - name: sanlock.leave
    - tgt: {{ node }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-checked

rebuild-{{ node }}-identity-restored:
  salt.function:
    - name: gluster_rebuild.restore_identity
    - tgt: {{ node }}
    - arg:
      - {{ source }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-leases-left

rebuild-{{ node }}-rejoined:
  salt.function:
    - name: gluster_rebuild.rejoin
    - tgt: {{ node }}
    - arg:
      - {{ source }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-identity-restored

rebuild-{{ node }}-bricks-mounted:
  salt.state:
    - tgt: {{ node }}
    - sls: gluster.bricks
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-rejoined

rebuild-{{ node }}-bricks-prepared:
  salt.function:
    - name: gluster_rebuild.prepare_bricks
    - tgt: {{ node }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-bricks-mounted

rebuild-{{ node }}-marked-for-heal:
  salt.function:
    - name: gluster_rebuild.mark_for_heal
    - tgt: {{ source }}
    - arg:
      - {{ node }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-bricks-prepared

rebuild-{{ node }}-bricks-started:
  salt.function:
    - name: gluster_rebuild.start_local_bricks
    - tgt: {{ node }}
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-marked-for-heal

rebuild-{{ node }}-healed:
  salt.function:
    - name: gluster_rebuild.heal_and_wait
    - tgt: {{ source }}
    - timeout: 900
    - failhard: true
    - require:
      - salt: rebuild-{{ node }}-bricks-started

rebuild-{{ node }}-highstate:
  salt.state:
    - tgt: {{ node }}
    - highstate: true
    - require:
      - salt: rebuild-{{ node }}-healed
