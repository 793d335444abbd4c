"""Every Salt-facing function of the execution modules documents a CLI example.

The pure parsing/validation core (``parse_*`` and the listed helpers) is what
the unit tests drive; it is public for them, not meant for the CLI.
"""

import inspect

import pytest

from tests.loaders import REPO, load

PURE_CORE = {"validate", "merge", "build", "pool_xml"}
MODULES = sorted(p.stem for p in (REPO / "_modules").glob("*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_have_cli_examples(name):
    module = load("_modules", name)
    missing = [
        fname
        for fname, func in inspect.getmembers(module, inspect.isfunction)
        if func.__module__ == module.__name__
        and not fname.startswith("_")
        and not fname.startswith("parse_")
        and fname not in PURE_CORE
        and "CLI Example" not in (func.__doc__ or "")
    ]
    assert missing == [], f"{name}: no CLI example in {missing}"
