"""docs/pillar.md is the schema's reference, row for row (make pillar-reference writes it)."""

from tests.loaders import REPO, hv_schema


def test_docs_pillar_reference_is_made_from_the_schema():
    assert (REPO / "docs" / "pillar.md").read_text() == hv_schema.reference()


def test_every_row_is_in_the_reference_with_its_limits():
    text = hv_schema.reference()
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
