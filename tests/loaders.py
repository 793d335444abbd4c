"""Import the project's Salt modules as plain Python, for the unit tests."""

import importlib.util
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "_utils"))  # the modules import _utils/ as Salt's loader lets them


def load(kind, name):
    spec = importlib.util.spec_from_file_location(f"hv_{kind}_{name}", REPO / kind / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layered_parameters(os_family):
    """defaults.yaml with the OS family's file layered on top (as map.jinja does)."""
    params = REPO / "salt" / "parameters"
    base = yaml.safe_load((params / "defaults.yaml").read_text())["hypervisor"]
    family = yaml.safe_load((params / "os_family" / f"{os_family}.yaml").read_text())["hypervisor"]
    return hypervisor_pillar.merge(base, family)


hypervisor_pillar = load("_modules", "hypervisor_pillar")
