{#- F13/F14/F17: the volumes, created, started and tuned by one host (the
    first data host, "leader"); the others only mount them. Retried: the
    other hosts' bricks may not be ready yet in a first run. #}
{%- from "map.jinja" import hv with context %}
include:
  - gluster.bricks
  - gluster.peers
{%- if hv.me.name == hv.gluster.leader %}
{%-   for name, volume in hv.gluster.volumes | dictsort %}

gluster-volume-{{ name }}-present:
  gluster.volume_present:
    - name: {{ name }}
    - bricks: {{ volume.bricks | json }}
    - replica: {{ volume.replica }}
    - arbiter: {{ volume.arbiter }}
    - force: {{ hv.gluster.bricks.type == "directory" }}
    - retry:
        attempts: 20
        interval: 3
    - require:
      - sls: gluster.bricks
      - sls: gluster.peers

gluster-volume-{{ name }}-started:
  gluster.volume_started:
    - name: {{ name }}
    - require:
      - gluster: gluster-volume-{{ name }}-present

gluster-volume-{{ name }}-options:
  gluster.volume_options:
    - name: {{ name }}
    - options: {{ volume.options | json }}
    - require:
      - gluster: gluster-volume-{{ name }}-started
{%-   endfor %}
{%- endif %}

{#- Present on every host, so that `require: - sls: gluster.volumes` holds. #}
gluster-volumes-ready:
  test.nop:
    - name: volumes are created and tuned by {{ hv.gluster.leader }}
