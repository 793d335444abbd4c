"""B9 (issue 25): guest disk backups and restores in the lab (docs/backups.md).

vm1 runs on hyp1; at its boot it wrote a mark into the first sector of its own disk
(lab/guest.py: a random word and a boot count). It is backed up while it runs
(libvirt's push-mode backup job, beside sanlock's lease and qemu's own locks), then
restored into a new disk file, which a throw-away guest boots from: its console
shows the same word, one boot later. Retention keeps ``backups:keep`` backups. The
timer the states install is there, on the pillar's calendar."""

import re
import time
import uuid

import pytest

from lab import image, system
from tests.lab import evacuation as ev
from tests.lab import guests, scrape
from tests.lab.conftest import HYPERVISORS, report
from tests.loaders import hv_views
from tests.pillar_cases import lab_pillar

pytestmark = pytest.mark.lab
SETTINGS = hv_views.build(lab_pillar(), image.parameters(), "hyp1")
TARGET = SETTINGS["backups"]["target"]["path"]
KEEP = SETTINGS["backups"]["keep"]
MARK = re.compile(r"hvlab-mark:([0-9a-f]{16}):(\d+)")
RESTORED = "vm1-restored"
RESTORED_DISK = f"/var/lib/libvirt/images/customer1/{RESTORED}.img"
CONSOLE = f"/var/log/libvirt/qemu/{RESTORED}-console.log"


def disk_mark(lab, host, disk, timeout=30):
    """The mark in the first sector of ``disk`` (read only, from the host): ``(word,
    boots)``. The guest writes it at its boot (lab/guest.py), within seconds."""

    def read():
        head = lab.sh(host, f"dd if={disk} bs=512 count=1 2>/dev/null | head -n 1 | tr -cd 'a-z0-9:-'")
        return MARK.fullmatch(head.strip())

    found = system.wait_for(read, timeout, interval=1, what=f"a mark in {disk}")
    return found.group(1), int(found.group(2))


@pytest.fixture
def target(lab):
    """The backup target on each host (a mounted backup disk on a real cluster): made
    here, the states never make it; emptied of vm1's backups and the restored disk after."""
    for host in HYPERVISORS:
        lab.sh(host, f"mkdir -p -m 0711 {TARGET}")  # QEMU passes through: docs/backups.md
    yield TARGET
    for host in HYPERVISORS:
        gone = f"rm -rf {TARGET}/vm1 {RESTORED_DISK} {CONSOLE}"
        lab.sh(host, f"virsh -q destroy {RESTORED} >/dev/null 2>&1; {gone}", check=False)


def test_the_states_install_the_timer_on_the_pillars_calendar(lab):
    for host in HYPERVISORS:
        listed = lab.sh(host, "systemctl list-timers --all --no-legend hv-backup.timer")
        assert "hv-backup.timer" in listed and "hv-backup.service" in listed, (host, listed)
        calendar = lab.sh(host, "systemctl show -P TimersCalendar hv-backup.timer")
        assert "OnCalendar=*-01-01 04:00:00" in calendar, (host, calendar)
        assert lab.sh(host, "systemctl is-enabled hv-backup.timer").strip() == "enabled"


def test_a_running_guest_backed_up_then_restored_boots_with_its_mark_and_retention(lab, target):
    disk = SETTINGS["guests"]["vm1"]["disk_path"]
    with ev.guests_on(lab, "hyp1", ["vm1"]):
        word, boots = disk_mark(lab, "hyp1", disk)
        qemu = lab.sh("hyp1", "pgrep -f 'guest=vm1,' | head -n 1").strip()
        rc, made, text = ev.salt_one(lab, "hyp1", "guest_backup.run", "vm1")
        assert rc == 0 and made["result"] is True and made["method"] == "backup-api", text
        assert ev.state(lab, "hyp1", "vm1") == "running", "the backup stopped the guest"
        assert lab.sh("hyp1", "pgrep -f 'guest=vm1,' | head -n 1").strip() == qemu, "the guest was restarted"
        ev.answers("vm1", timeout=10)
        rc, put, text = ev.salt_one(lab, "hyp1", "guest_backup.restore", "vm1", "latest", RESTORED_DISK)
        assert rc == 0 and put["result"] is True and put["backup"] == made["backup"], text
        assert disk_mark(lab, "hyp1", RESTORED_DISK) == (word, boots)
        xml = guests.GUEST_XML.format(name=RESTORED, uuid=uuid.uuid4(), disk=RESTORED_DISK,
                                      serial=guests.SERIAL_FILE.format(path=CONSOLE))  # fmt: skip
        lab.write("hyp1", f"/tmp/{RESTORED}.xml", xml)
        lab.sh("hyp1", f"virsh -q create /tmp/{RESTORED}.xml")
        system.wait_for(
            lambda: "hvlab-guest: disk " in lab.sh("hyp1", f"cat {CONSOLE}", check=False),
            60,
            what="the restored guest to boot and read its disk",
        )
        console = lab.sh("hyp1", f"cat {CONSOLE}")
        assert "hvlab-guest: up" in console, console[-2000:]
        assert f"hvlab-guest: disk hvlab-mark:{word}:{boots + 1}" in console, console[-2000:]
        # Retention: KEEP more, and only the newest KEEP are left.
        names = [made["backup"]]
        for _ in range(KEEP):
            time.sleep(1.1)  # backups are named by the second
            rc, again, text = ev.salt_one(lab, "hyp1", "guest_backup.run", "vm1")
            assert rc == 0 and again["result"] is True, text
            names.append(again["backup"])
        assert again["pruned"] == [names[0]], again
        rc, listed, text = ev.salt_one(lab, "hyp1", "guest_backup.backups", "vm1")
        assert rc == 0 and [b["name"] for b in listed["backups"]] == names[::-1][:KEEP], (names, text)
        assert all(b["complete"] for b in listed["backups"]), listed
        # The run's series, as Prometheus would scrape them from hyp1.
        series = scrape.refreshed(lab, "hyp1")["hyp1"]
        assert series['hv_backup_last_success{guest="vm1"}'] == 1, series
        assert series['hv_backup_last_bytes{guest="vm1"}'] == again["bytes"], series
        assert series['hv_backup_last_success_timestamp_seconds{guest="vm1"}'] == pytest.approx(
            time.time(), abs=120
        ), series
    report(
        f"B9 backup of running vm1 ({made['method']}, {made['consistency']}): {made['bytes']} bytes in"
        f" {made['seconds']:.1f} s; restored in {put['seconds']:.1f} s; the restored disk booted with"
        f" vm1's mark {word}, boot {boots + 1}; {KEEP + 1} backups made, the newest {KEEP} kept"
    )
