"""
The rules of storage, leases and a dead host (F12-F17, F28, B1, B5, B6): the
gluster volumes and each host's bricks, the pools, sanlock's timings against
each other and against the lease volume's ping-timeout, the takeover (only
with a majority, never without client quorum), the shared directories of the
takeover and the keeper, the backups' target (B9). Plain Python.
"""

import hv_check
import hv_layout
import hv_schema

BRICK_TYPES = ("directory", "lvm", "device")
SANLOCK_TIMINGS = ("io_timeout", "watchdog_fire_timeout", "kill_grace")
QUORUM_OFF = ("none", "fixed")  # client quorum off, or a fixed count that a cut can still meet
VOLUME_KEYS = ("mount", "size", "options")
VOLUME_REQUIRED = ("mount", "size")
POOL_KEYS = ("path",)
BRICKS_KEYS = ("type", "vg", "devices")  # hypervisor:gluster:bricks, and a host's own bricks


def _check_volumes(errors, volumes):
    path = ("hypervisor", "gluster", "volumes")
    mounts = {}
    for name, volume in sorted(volumes.items(), key=lambda item: str(item[0])):
        vpath = (*path, name)
        hv_check.match(errors, vpath, name, hv_schema.NAME, "a volume name ([a-z][a-z0-9_-]*)")
        if not hv_check.require_mapping(errors, vpath, volume):
            continue
        hv_check.unknown_keys(errors, vpath, volume, VOLUME_KEYS)
        hv_check.required(errors, vpath, volume, VOLUME_REQUIRED)
        mount = volume.get("mount")
        if mount is not None:
            hv_check.check_path(errors, (*vpath, "mount"), mount)
        if isinstance(mount, str) and mount in mounts:
            other = hv_check.named((*path, mounts[mount], "mount"))
            errors.add((*vpath, "mount"), f"{errors.show(mount)} is already the mount of {other}")
        elif isinstance(mount, str):
            mounts[mount] = name
        if "size" in volume:
            hv_check.match(errors, (*vpath, "size"), volume["size"], hv_schema.SIZE, "a size like 800G")
        options = volume.get("options", {})
        if hv_check.require_mapping(errors, (*vpath, "options"), options):
            for key, value in options.items():
                hv_check.match(
                    errors, (*vpath, "options", key), key, hv_schema.GLUSTER_OPTION, "a gluster option name"
                )
                if key in hv_schema.AUTH_OPTIONS:
                    errors.add(
                        (*vpath, "options", key),
                        "is set by the states (auth.allow: the hosts' RPN addresses; TLS: gluster:tls)",
                    )
                elif isinstance(value, (dict, list)):
                    errors.add((*vpath, "options", key), "must be a single value")
                elif not hv_schema.ONE_VALUE.match(str(value)):
                    errors.add(
                        (*vpath, "options", key),
                        f"{errors.show(value)} is not one value (no quote, backslash or control character)",
                    )
                elif key == hv_schema.PING_TIMEOUT and hv_check.as_seconds(value) is None:
                    errors.add(
                        (*vpath, "options", key), f"{errors.show(value)} is not a number of seconds above 0"
                    )
    _check_nested_mounts(errors, path, mounts)


def _check_nested_mounts(errors, path, mounts):
    """No volume is mounted inside another's mount (B10): its mount would hide or be hidden."""
    for mount, name in sorted(mounts.items()):
        outer = next((m for m in sorted(mounts) if m != mount and mount.startswith(f"{m}/")), None)
        if outer:
            other = hv_check.named((*path, mounts[outer], "mount"))
            errors.add((*path, name, "mount"), f"{errors.show(mount)} is inside the mount of {other}")


def check_bricks(errors, path, bricks):
    """A bricks mapping, the cluster's or a host's own: its keys, type, vg and devices."""
    if not hv_check.require_mapping(errors, path, bricks):
        return False
    hv_check.unknown_keys(errors, path, bricks, BRICKS_KEYS)
    if "type" in bricks and bricks["type"] not in BRICK_TYPES:
        errors.add((*path, "type"), f"{errors.show(bricks['type'])} is not one of {', '.join(BRICK_TYPES)}")
    if bricks.get("vg"):
        hv_check.match(errors, (*path, "vg"), bricks["vg"], hv_schema.VG_NAME, "an LVM volume group name")
    devices = bricks.get("devices") or {}
    if hv_check.require_mapping(errors, (*path, "devices"), devices):
        for volume, device in devices.items():
            hv_check.check_path(errors, (*path, "devices", volume), device, under="/dev/")
    return True


def _bricks_key(name, own, *keys):
    """The pillar key of a host's bricks setting: under the host when it sets it, else the cluster's."""
    node = own
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return ("hypervisor", "gluster", "bricks", *keys)
        node = node[key]
    return ("hypervisor", "hosts", name, "bricks", *keys)


def _check_host_bricks(errors, gluster, name, host):
    """A host's bricks (the cluster's, its own on top) have what their type needs, one device per volume."""
    own = host.get("bricks") or {}
    if not isinstance(own, dict):
        return
    bricks = hv_check.merge(gluster["bricks"], own)
    base = _bricks_key(name, own, "type")[:-1]  # where a missing setting belongs
    devices = bricks.get("devices") if isinstance(bricks.get("devices"), dict) else {}
    if bricks.get("type") == "lvm" and not bricks.get("vg"):
        errors.add((*base, "vg"), "is required when bricks:type is lvm")
    elif bricks.get("type") == "device":
        seen = {}
        for volume in sorted(gluster["volumes"], key=str):
            device, key = devices.get(volume), _bricks_key(name, own, "devices", volume)
            if device is None:
                errors.add((*base, "devices", volume), "is required when bricks:type is device")
            elif isinstance(device, str) and device in seen:
                errors.add(
                    key, f"{errors.show(device)} is already the device of {hv_check.named(seen[device])}"
                )
            elif isinstance(device, str):
                seen[device] = key


def _check_brick_hosts(errors, named, hosts):
    """``gluster:brick_hosts``: required once more hosts carry guests than hold bricks (so that
    adding a host never moves a brick); exactly that many distinct hosts that carry guests."""
    path = ("hypervisor", "gluster", "brick_hosts")
    carriers = hv_layout.members(hosts)
    places = hv_layout.guest_brick_places(hosts)
    if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
        return  # the row's own check says what is wrong
    if not named:
        if len(carriers) > places:
            errors.add(
                path,
                f"is required: {len(carriers)} hosts carry guests and {places} of them hold the"
                f" bricks; name them (e.g. {', '.join(carriers[:places])}), so that adding a host"
                " never moves a brick",
            )
        return
    for name in sorted({n for n in named if named.count(n) > 1}):
        errors.add(path, f"names {errors.show(name)} twice")
    for name in named:
        if name not in carriers:
            errors.add(path, f"{errors.show(name)} is not a host that carries guests ({', '.join(carriers)})")
    if len(named) != places:
        errors.add(path, f"names {len(named)} hosts; the volumes have {places} bricks on hosts with guests")


def check_gluster(errors, gluster, hosts):
    """Bricks (each host's) and volumes, on the defaults merged with the pillar."""
    path = ("hypervisor", "gluster")
    for name, host in sorted(hosts.items() if isinstance(hosts, dict) else (), key=lambda item: str(item[0])):
        if isinstance(host, dict) and host.get("bricks") is not None:
            check_bricks(errors, ("hypervisor", "hosts", name, "bricks"), host["bricks"])
    hv_check.check_path(errors, (*path, "brick_root"), gluster.get("brick_root"))
    if not hv_check.require_mapping(errors, (*path, "volumes"), gluster.get("volumes", {})):
        return
    _check_volumes(errors, gluster["volumes"])
    if isinstance(hosts, dict):
        _check_brick_hosts(errors, gluster.get("brick_hosts"), hosts)
    if check_bricks(errors, (*path, "bricks"), gluster.get("bricks", {})) and isinstance(hosts, dict):
        for name in sorted(hosts, key=str):
            if isinstance(hosts[name], dict):
                _check_host_bricks(errors, gluster, name, hosts[name])


def check_pools(errors, pools):
    path = ("hypervisor", "pools")
    for name, pool in sorted(pools.items(), key=lambda item: str(item[0])):
        hv_check.match(errors, (*path, name), name, hv_schema.NAME, "a pool name ([a-z][a-z0-9_-]*)")
        if hv_check.require_mapping(errors, (*path, name), pool):
            hv_check.unknown_keys(errors, (*path, name), pool, POOL_KEYS)
            hv_check.required(errors, (*path, name), pool, POOL_KEYS)
            if "path" in pool:
                hv_check.check_path(errors, (*path, name, "path"), pool["path"])


def _sanlock_ints(sanlock):
    """io_timeout, watchdog_fire_timeout and kill_grace when each is an integer in range, else None."""
    values = [sanlock.get(key) for key in SANLOCK_TIMINGS]
    valid = all(
        isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        for v, (low, high) in zip(values, _bounds("sanlock", SANLOCK_TIMINGS), strict=True)
    )
    return values if valid else None


def _check_sanlock(errors, sanlock):
    """The watchdog fire timeout the OS family's where its sanlock fixes it; (c) a cut host's
    guests are dead before the others may take their leases."""
    path = ("hypervisor", "sanlock")
    fixed, wft = sanlock.get("watchdog_fire_timeout_fixed"), sanlock.get("watchdog_fire_timeout")
    if fixed is not None and isinstance(wft, int) and wft != fixed:
        errors.add(
            path + ("watchdog_fire_timeout",),
            f"{errors.show(wft)} s cannot be set: sanlock on this OS family (3.8) has it fixed at {fixed} s",
        )
    values = _sanlock_ints(sanlock)
    if values is None:
        return
    io_timeout, wft, grace = values[0], fixed or values[1], values[2]
    if grace + 2 * io_timeout >= wft:
        errors.add(
            path + ("kill_grace",),
            f"{grace} s + 2 x hypervisor:sanlock:io_timeout ({2 * io_timeout} s) must be below"
            f" hypervisor:sanlock:watchdog_fire_timeout ({wft} s): a cut host's guests must be dead"
            " before the others may take their leases",
        )


def _lease_options(gluster):
    """The lease volume's options (the merged pillar's), or {} where malformed."""
    volume = (
        (gluster.get("volumes") or {}).get(hv_schema.LEASE_VOLUME)
        if isinstance(gluster.get("volumes"), dict)
        else None
    )
    options = volume.get("options", {}) if isinstance(volume, dict) else {}
    return options if isinstance(options, dict) else {}


def _check_lease_ping(errors, gluster, io_timeout):
    """(b) gluster gives up on a dead host's brick of the lease volume within half of
    sanlock's renewal-fail time, so that the survivor's own renewals go on."""
    ping = hv_check.as_seconds(
        _lease_options(gluster).get(hv_schema.PING_TIMEOUT, hv_schema.GLUSTER_PING_TIMEOUT)
    )
    if ping is not None and ping > 4 * io_timeout:
        errors.add(
            ("hypervisor", "gluster", "volumes", hv_schema.LEASE_VOLUME, "options", hv_schema.PING_TIMEOUT),
            f"{ping} s must be at most half of sanlock's renewal-fail time, 8 x hypervisor:sanlock:io_timeout"
            f" ({8 * io_timeout} s): when a host dies, the survivor's own lease renewals would fail while"
            " gluster waits for it",
        )


def _takeover_on(takeover, hosts):
    """Whether the takeover runs: ``auto`` is on where the bricks have a majority."""
    enabled = takeover.get("enabled")
    return hv_layout.has_majority(hosts) if enabled == "auto" else enabled is True


def _check_shared_dir(errors, path, value, gluster, what):
    """Empty (derived), or an absolute path under a gluster volume's mount."""
    if value == "":
        return
    volumes = gluster.get("volumes") if isinstance(gluster.get("volumes"), dict) else {}
    mounts = sorted(
        v["mount"] for v in volumes.values() if isinstance(v, dict) and isinstance(v.get("mount"), str)
    )
    before = len(errors)
    hv_check.check_path(errors, path, value)
    if len(errors) == before and not any(value.startswith(f"{mount}/") for mount in mounts):
        errors.add(
            path,
            f"{errors.show(value)} is not under a gluster volume's mount ({', '.join(mounts)}): {what}"
            " must be on shared storage that client quorum protects",
        )


def _check_takeover(errors, takeover, hosts, gluster):
    """A dead host's guests taken over: on only with a majority (an arbiter), the incidents on a
    gluster volume, and, while on, client quorum kept on the lease volume."""
    path = ("hypervisor", "takeover")
    enabled = takeover.get("enabled")
    if enabled != "auto" and not isinstance(enabled, bool):
        errors.add(path + ("enabled",), f"{errors.show(enabled)} is not one of auto, true, false")
    elif enabled is True and not hv_layout.has_majority(hosts):
        errors.add(
            path + ("enabled",),
            "automatic takeover needs a majority: add a host with role arbiter, or a third host with guests"
            " (replica 2 has no quorum: a cut private link would let both hosts take the leases)",
        )
    _check_shared_dir(
        errors, path + ("incidents_dir",), takeover.get("incidents_dir"), gluster, "the incidents"
    )
    quorum = _lease_options(gluster).get(hv_schema.QUORUM_TYPE)
    if _takeover_on(takeover, hosts) and isinstance(quorum, str) and quorum.lower() in QUORUM_OFF:
        errors.add(
            ("hypervisor", "gluster", "volumes", hv_schema.LEASE_VOLUME, "options", hv_schema.QUORUM_TYPE),
            f"{errors.show(quorum)} takes client quorum off the lease volume while takeover is on"
            " (hypervisor:takeover:enabled): a host cut off from the others could still write the leases;"
            " leave it auto",
        )


def check_keeper(errors, keeper, gluster):
    """B1: the keepers' records on a gluster volume."""
    path = ("hypervisor", "keeper", "dir")
    _check_shared_dir(errors, path, keeper.get("dir"), gluster, "what the keepers record")


def _inside(path, directory):
    return path == directory or path.startswith(f"{directory}/")


def _backup_target_clash(target, gluster, pools):
    """Why backups may not go to ``target`` (a valid path), or None: not with the guests'
    disks (a pool's directory, the volume that holds one), not on the lease or save volume,
    not above any of them (``<target>/<guest>`` would reach into them)."""
    volumes = gluster.get("volumes") if isinstance(gluster.get("volumes"), dict) else {}
    mounts = {
        n: v["mount"] for n, v in volumes.items() if isinstance(v, dict) and isinstance(v.get("mount"), str)
    }
    pool_paths = {
        n: p["path"]
        for n, p in (pools or {}).items()
        if isinstance(p, dict) and isinstance(p.get("path"), str)
    }
    for name, pool in sorted(pool_paths.items()):
        if _inside(target, pool):
            return f"in pool {name}'s directory, with the guests' disks: a backup there is lost with them"
    disk_volumes = {_volume_under(p, volumes) for p in pool_paths.values()} - {None}
    for name, mount in sorted(mounts.items()):
        if not _inside(target, mount):
            continue
        if name in disk_volumes:
            return f"on gluster volume {name}, with the guests' disks: a backup there is lost with them"
        if name in (hv_schema.LEASE_VOLUME, hv_schema.SAVE_VOLUME):
            return f"on gluster volume {name}, the cluster's own ({mount}): backups would fill it"
    for what, path in sorted([*(("pool " + n, p) for n, p in pool_paths.items()), *mounts.items()]):
        if _inside(path, target):
            return f"above {what} ({path}): a guest's directory there could be it"
    return None


def check_backups(errors, backups, gluster, pools, guests):
    """B9: the backups' target (required when they are enabled) a normal absolute path away
    from the guests' disks and the cluster's own volumes; the guests listed, pillar guests
    that do not opt out (``guests:<name>:backup: false``)."""
    path = ("hypervisor", "backups")
    target = backups.get("target")
    value = target.get("path") if isinstance(target, dict) else None
    where = (*path, "target", "path")
    if value == "":
        if backups.get("enabled") is True:
            errors.add(where, "is required with hypervisor:backups:enabled: true")
    elif value is not None:
        before = len(errors)
        hv_check.check_path(errors, where, value)
        why = _backup_target_clash(value, gluster, pools) if len(errors) == before else None
        if why:
            errors.add(where, f"{errors.show(value)} is {why}")
    listed = backups.get("guests")
    guests = guests if isinstance(guests, dict) else {}
    for index, name in hv_check.list_items(listed, str):
        if name not in guests:
            errors.add((*path, "guests", index), f"{errors.show(name)} is not a guest of hypervisor:guests")
        elif isinstance(guests[name], dict) and guests[name].get("backup") is False:
            errors.add(
                (*path, "guests", index),
                f"{errors.show(name)} opts out of backups (hypervisor:guests:{name}:backup: false)",
            )


def check_dead_host(errors, hv, merged):
    """sanlock's timings, the lease volume's ping-timeout against them, the takeover settings."""
    gluster = merged.get("gluster") if isinstance(merged.get("gluster"), dict) else {}
    sanlock = merged.get("sanlock")
    if isinstance(sanlock, dict):
        _check_sanlock(errors, sanlock)
        values = _sanlock_ints(sanlock)
        if values is not None:
            _check_lease_ping(errors, gluster, values[0])
    if isinstance(merged.get("takeover"), dict):
        _check_takeover(errors, merged["takeover"], hv.get("hosts"), gluster)
        if isinstance(sanlock, dict):
            _check_watchdog(errors, sanlock, merged["takeover"], hv.get("hosts"))
        _check_incidents_quorum(errors, merged["takeover"], hv.get("hosts"), gluster)


def _check_watchdog(errors, sanlock, takeover, hosts):
    """B10: while the takeover runs, a host that hangs must be reset by its watchdog, or its
    guests could run beside the survivor's; only a lab (no watchdog device) may say otherwise."""
    lab = sanlock.get("lab_without_watchdog") is True
    if _takeover_on(takeover, hosts) and sanlock.get("use_watchdog") is False and not lab:
        errors.add(
            ("hypervisor", "sanlock", "use_watchdog"),
            "false while takeover is on (hypervisor:takeover:enabled): a host that hangs would keep"
            " its guests running beside the survivor's; keep the watchdog (a lab without a watchdog"
            " device sets hypervisor:sanlock:lab_without_watchdog: true)",
        )


def _check_incidents_quorum(errors, takeover, hosts, gluster):
    """B10: the volume that holds the incidents keeps client quorum while the takeover runs."""
    directory = takeover.get("incidents_dir")
    volumes = gluster.get("volumes") if isinstance(gluster.get("volumes"), dict) else {}
    if not _takeover_on(takeover, hosts) or not isinstance(directory, str):
        return
    name = hv_schema.SAVE_VOLUME if directory == "" else _volume_under(directory, volumes)
    volume = volumes.get(name) if name else None
    options = volume.get("options") if isinstance(volume, dict) else None
    quorum = options.get(hv_schema.QUORUM_TYPE) if isinstance(options, dict) else None
    if name != hv_schema.LEASE_VOLUME and isinstance(quorum, str) and quorum.lower() in QUORUM_OFF:
        errors.add(
            ("hypervisor", "gluster", "volumes", name, "options", hv_schema.QUORUM_TYPE),
            f"{errors.show(quorum)} takes client quorum off the volume that holds the takeover's"
            " incidents while takeover is on: a host cut off from the others could still write them;"
            " leave it auto",
        )


def _volume_under(path, volumes):
    """The volume whose mount holds ``path`` (the longest mount), or None."""
    found = [
        (len(v["mount"]), n)
        for n, v in volumes.items()
        if isinstance(v, dict) and isinstance(v.get("mount"), str) and path.startswith(f"{v['mount']}/")
    ]
    return max(found)[1] if found else None


def _bounds(section, keys):
    return [hv_schema.BY_KEY[f"{section}:{key}"].bounds for key in keys]
