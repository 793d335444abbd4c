"""The rejoin script's test of the lease volume (salt://sanlock/files/hv-sanlock-rejoin.jinja),
rendered from the lab's pillar with and without its arbiter and run by sh against a
stand-in ``gluster`` that prints a captured ``heal info``.

With client quorum (an arbiter) a majority of bricks is enough: entries left to heal do
not keep the host out (the CI once saw a host back from a 30 s cut kept out until the
others held it dead). Without it (replica 2) the volume must be whole.
"""

import pathlib
import subprocess

import jinja2
import pytest

from tests.loaders import hv_views, layered_parameters
from tests.pillar_cases import lab_pillar, lab_pillar_without_arbiter

TEMPLATE = pathlib.Path(__file__).parents[2] / "salt" / "sanlock" / "files" / "hv-sanlock-rejoin.jinja"


def _brick(host, status, entries=()):
    lines = [f"Brick {host}:/mnt/bricks/sanlock/brick", *entries, f"Status: {status}"]
    if status == "Connected":
        lines.append(f"Number of entries: {len(entries)}")
    else:
        lines.append("Number of entries: -")
    return "\n".join(lines) + "\n\n"


HEALED = _brick("hyp1", "Connected") + _brick("hyp2", "Connected") + _brick("arb1", "Connected")
TO_HEAL = (
    _brick("hyp1", "Connected", ["/__LIBVIRT__DISKS__"])
    + _brick("hyp2", "Connected")
    + _brick("arb1", "Connected", ["/__LIBVIRT__DISKS__"])
)
ONE_DOWN = (
    _brick("hyp1", "Transport endpoint is not connected")
    + _brick("hyp2", "Connected")
    + _brick("arb1", "Connected")
)
ALONE = (
    _brick("hyp1", "Transport endpoint is not connected")
    + _brick("hyp2", "Connected")
    + _brick("arb1", "Transport endpoint is not connected")
)
TWO_HEALED = _brick("hyp1", "Connected") + _brick("hyp2", "Connected")
TWO_TO_HEAL = _brick("hyp1", "Connected", ["/__LIBVIRT__DISKS__"]) + _brick("hyp2", "Connected")
TWO_ONE_DOWN = _brick("hyp1", "Transport endpoint is not connected") + _brick("hyp2", "Connected")


def _script(pillar):
    hv = hv_views.build(pillar, layered_parameters("Debian"), "hyp2")
    context = {"lockspace": hv["sanlock"]["lockspace"], "volume": "sanlock", "interval": 5}
    return jinja2.Template(TEMPLATE.read_text()).render(**context)


def _writable(script, heal_info, tmp_path, rc=0):
    """Run the script's ``writable`` function with ``gluster`` printing ``heal_info``."""
    (tmp_path / "heal-info").write_text(heal_info)
    fake = tmp_path / "gluster"
    fake.write_text(f'#!/bin/sh\ncat "{tmp_path}/heal-info"\nexit {rc}\n')
    fake.chmod(0o755)
    start = script.index("writable() {")
    function = script[start : script.index("\n}\n", start) + 3]
    head = script[: script.index("\nwritable() {")]
    program = f"{head}\n{function}\nwritable"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", program], env=env, check=False).returncode == 0


@pytest.mark.parametrize(
    ("heal_info", "expected"),
    [(HEALED, True), (TO_HEAL, True), (ONE_DOWN, True), (ALONE, False), ("", False)],
    ids=["healed", "entries-to-heal", "one-brick-down", "alone", "no-answer"],
)
def test_with_an_arbiter_a_majority_of_bricks_is_enough(tmp_path, heal_info, expected):
    assert _writable(_script(lab_pillar()), heal_info, tmp_path) is expected


@pytest.mark.parametrize(
    ("heal_info", "expected"),
    [(TWO_HEALED, True), (TWO_TO_HEAL, False), (TWO_ONE_DOWN, False), ("", False)],
    ids=["healed", "entries-to-heal", "one-brick-down", "no-answer"],
)
def test_without_an_arbiter_the_volume_must_be_whole(tmp_path, heal_info, expected):
    assert _writable(_script(lab_pillar_without_arbiter()), heal_info, tmp_path) is expected


def test_a_gluster_that_fails_is_not_writable(tmp_path):
    assert _writable(_script(lab_pillar()), HEALED, tmp_path, rc=1) is False
