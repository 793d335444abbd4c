"""Import the project's Salt modules and its plain ``_utils`` modules, for the unit tests."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The plain modules of _utils import each other by name, as Salt's loader lets them.
if str(REPO / "_utils") not in sys.path:
    sys.path.insert(0, str(REPO / "_utils"))

import hv_check  # noqa: E402
import hv_layout  # noqa: E402
import hv_reference  # noqa: E402
import hv_schema  # noqa: E402
import hv_validate  # noqa: E402
import hv_views  # noqa: E402


def load(kind, name):
    spec = importlib.util.spec_from_file_location(f"hv_{kind}_{name}", REPO / kind / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layered_parameters(os_family, release=None):
    """The schema's defaults for ``os_family`` and its major ``release`` (what the pillar is
    layered over)."""
    return hv_schema.defaults(os_family, release)


hypervisor_pillar = load("_modules", "hypervisor_pillar")
__all__ = [
    "REPO",
    "hv_check",
    "hv_layout",
    "hv_reference",
    "hv_schema",
    "hv_validate",
    "hv_views",
    "hypervisor_pillar",
    "layered_parameters",
    "load",
]
