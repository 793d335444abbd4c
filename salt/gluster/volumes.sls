{#- F13/F14/F17: the volumes, created, started and tuned by one host (the
    first data host, "leader": hv.gluster.managed_volumes is empty on the
    others, which only mount them). Retried: the other hosts' bricks may not
    be ready yet in a first run. #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.bricks
  - gluster.peers
{%- for name, volume in hv.gluster.managed_volumes | dictsort %}

gluster-volume-{{ name }}-present:
  gluster.volume_present:
    - name: {{ name }}
    - bricks: {{ volume.bricks | json }}
    - replica: {{ volume.replica }}
    - arbiter: {{ volume.arbiter }}
    - force: {{ hv.gluster.force_create }}
    - retry:
        attempts: 20
        interval: 3
    - require:
      - sls: gluster.bricks
      - sls: gluster.peers

{#- Tuned before it starts: its bricks start with their options (TLS among them). #}
gluster-volume-{{ name }}-options:
  gluster.volume_options:
    - name: {{ name }}
    - options: {{ volume.options | json }}
    - require:
      - gluster: gluster-volume-{{ name }}-present

gluster-volume-{{ name }}-started:
  gluster.volume_started:
    - name: {{ name }}
    - require:
      - gluster: gluster-volume-{{ name }}-options
{%- endfor %}

{#- The other data hosts mount what the leader starts: not before (a client that
    finds no volume leaves a dead mount, which mount.mounted takes for mounted). #}
{%- for name in hv.gluster.awaited_volumes | sort %}

gluster-volume-{{ name }}-started-by-leader:
  gluster.volume_started:
    - name: {{ name }}
    - start: false
    - retry:
        attempts: 40
        interval: 3
{%- endfor %}

{#- Present on every host, so that `require: - sls: gluster.volumes` holds. #}
gluster-volumes-ready:
  test.nop:
    - name: volumes are created and tuned by {{ hv.gluster.leader }}
