"""The lab's list of the hosts that run, whatever the cluster file says (``python -m
lab shrink`` finds the hosts that left it this way): a host runs while the PID of its
container's file is alive."""

import os
import subprocess

from lab import machines, topology


def test_booted_names_are_the_hosts_whose_container_pid_lives(tmp_path, monkeypatch):
    monkeypatch.setattr(machines, "RUN", tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "hyp4.nspawn.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "hyp1.nspawn.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "hyp2.nspawn.pid").write_text(f"{dead.pid}\n")
    (tmp_path / "hyp3.nspawn.pid").write_text("not a pid\n")
    (tmp_path / "hyp5.other").write_text(f"{os.getpid()}\n")
    assert machines.booted_names() == ["hyp1", "hyp4"]
    gone = machines.by_name("hyp4")
    assert (gone.netns, machines.pid_file(gone)) == (topology.PREFIX + "hyp4", tmp_path / "hyp4.nspawn.pid")
