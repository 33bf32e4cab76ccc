"""Scenario registry: every module in this package defines `SCENARIO = Scenario(...)`.

Adding a scenario is adding a module; nothing else to register (see bench/README.md).
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.model import Scenario


def all_scenarios() -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if not isinstance(scenario, Scenario):
            raise RuntimeError(f"bench/scenarios/{info.name}.py must define SCENARIO = Scenario(...)")
        if scenario.name in found:
            raise RuntimeError(f"two scenarios are named {scenario.name!r}")
        found[scenario.name] = scenario
    return found
