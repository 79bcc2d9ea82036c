"""pytest collection of YAML scenario files: one test item per scenario and variant.

The plugin (plugin.py) hands files matching the `smsc_scenario_patterns` ini setting to ScenarioFile.
A file that does not load fails collection with `file:line: key: problem`; a failing scenario shows
its report (file:line, stage, expected vs observed, seed, last PDUs), not a Python traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from .scenario import Scenario, ScenarioError, Variant, load_scenarios
from .scenario_runner import ScenarioFailure, run_scenario


class ScenarioFile(pytest.File):
    """A *.scenario.yaml file: its scenarios (and their variants) are the items."""

    def collect(self) -> Iterator[ScenarioItem]:
        """One item per scenario and variant."""
        try:
            scenarios = load_scenarios(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for scenario in scenarios:
            for variant in scenario.variants:
                name = scenario.name + (f"[{variant.id}]" if variant is not None else "")
                yield ScenarioItem.from_parent(self, name=name, scenario=scenario, variant=variant)


class ScenarioItem(pytest.Item):
    """One scenario (variant) run against a fresh in-process simulator."""

    def __init__(self, *, scenario: Scenario, variant: Variant | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.variant = variant

    def runtest(self) -> None:
        """Run it; a failure raises its ScenarioFailure. Kannel scenarios skip without Kannel only outside CI."""
        if any(actor.start == "kannel" for actor in self.scenario.actors.values()):
            from .kannel_fixtures import require_kannel

            require_kannel()
        result = run_scenario(self.scenario, self.variant)
        if result.failure is not None:
            raise result.failure

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The scenario's report for scenario failures; pytest's usual output otherwise."""
        if isinstance(excinfo.value, ScenarioFailure):
            return excinfo.value.report()
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the scenario is: file, 0-based line, name."""
        return self.path, max(0, self.scenario.line - 1), f"scenario: {self.name}"
