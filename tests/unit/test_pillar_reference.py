"""docs/pillar.md is the schema's reference, row for row (make pillar-reference writes it)."""

from tests.loaders import REPO, hv_reference, hv_schema


def test_docs_pillar_reference_is_made_from_the_schema():
    assert (REPO / "docs" / "pillar.md").read_text() == hv_reference.reference()


def test_every_row_is_in_the_reference_with_its_limits():
    text = hv_reference.reference()
    for row in hv_schema.ROWS:
        line = next(line for line in text.splitlines() if line.startswith(f"| `{row.key}` |"))
        if row.bounds:
            assert f"{row.bounds[0]}..{row.bounds[1]}" in line
        if row.choices:
            assert ", ".join(row.choices) in line


def test_every_os_family_value_is_a_key_of_the_schema():
    for family, values in hv_schema.OS_DEFAULTS.items():
        assert set(values) <= set(hv_schema.BY_KEY), family


def test_defaults_of_an_unknown_os_family_are_refused():
    try:
        hv_schema.defaults("Gentoo")
    except ValueError as err:
        assert "Gentoo" in str(err) and "Debian" in str(err)
    else:
        raise AssertionError("an unknown OS family got defaults")


def test_every_default_passes_its_own_rows_check_for_each_os_family():
    """A pillar that sets every setting (the lab's where it has one, else its OS family's default)
    is valid: the table's defaults, kinds and limits agree (but the OS-only row: a pillar may
    not set it)."""
    import copy

    from tests.loaders import hv_check, hv_validate
    from tests.pillar_cases import lab_pillar

    for family in hv_schema.OS_FAMILIES:
        defaults = hv_schema.defaults(family)
        pillar = lab_pillar()
        settings = copy.deepcopy(defaults)
        del settings["sanlock"]["watchdog_fire_timeout_fixed"]
        pillar["hypervisor"] = hv_check.merge(settings, pillar["hypervisor"])  # the lab's own on top
        assert hv_validate.validate(pillar, defaults, "hyp1") == [], family


def test_a_sysctl_setting_is_named_like_a_sysctl_and_holds_one_value():
    from tests.loaders import hv_validate
    from tests.pillar_cases import lab_pillar

    pillar = lab_pillar()
    pillar["hypervisor"]["sysctl"] = {"settings": {"vm swappiness": 1, "vm.overcommit_memory": [1]}}
    errors = hv_validate.validate(pillar, hv_schema.defaults("Debian"), "hyp1")
    assert errors == [
        "pillar key 'hypervisor:sysctl:settings:vm swappiness': 'vm swappiness' is not a sysctl name",
        "pillar key 'hypervisor:sysctl:settings:vm.overcommit_memory': must be a single value",
    ]


def test_every_setting_a_pillar_may_set_has_limits():
    """What reaches a file, a unit or a command has a form: every string a pattern or choices,
    every integer a range, every list of strings a pattern for its items (issue B10)."""
    loose = [
        row.key
        for row in hv_schema.ROWS
        if row.pillar
        and (
            (row.kind == "str" and not (row.pattern or row.choices))
            or (row.kind in ("int", "ints") and not row.bounds)
            or (row.kind in ("names", "args") and not row.pattern)
        )
    ]
    assert loose == []


def test_a_release_layers_its_own_defaults_over_its_family():
    """Debian 13 (issue 22): sanlock's watchdog fire timeout no longer fixed, gluster's TLS
    files in /etc/ssl, the libvirt sanlock plugin under its new name; Debian 12 (and no
    release given) keeps the family's; a release with no entry is its family."""
    from tests.loaders import hv_schema

    trixie, bookworm = hv_schema.defaults("Debian", "13"), hv_schema.defaults("Debian", 12)
    assert bookworm == hv_schema.defaults("Debian") == hv_schema.defaults("Debian", "not a number")
    assert (
        trixie["sanlock"]["watchdog_fire_timeout_fixed"],
        bookworm["sanlock"]["watchdog_fire_timeout_fixed"],
    ) == (
        None,
        60,
    )
    assert (trixie["gluster"]["tls_dir"], bookworm["gluster"]["tls_dir"]) == ("/etc/ssl", "/usr/lib/ssl")
    assert trixie["pkgs"]["sanlock"] == ["sanlock", "libvirt-daemon-plugin-sanlock"]
    assert hv_schema.defaults("RedHat", 10) == hv_schema.defaults("RedHat", 9)
