"""The pytest plugin (entry point `pytest11: smsc_sim`): fixtures `smsc`, `esme`, `smsc_factory`, the `smsc` marker,
and collection of YAML scenario files as test items.

Public pytest API only. Each test gets fresh simulators (a few milliseconds each) on ephemeral ports,
so tests are independent and safe under pytest-xdist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .esme import SyncEsme
from .kannel_fixtures import KANNEL_MARKER_HELP, kannel, kannel_factory, webhook  # noqa: F401 - gateway fixtures
from .smsc import SimulatedSmsc

MARKER_HELP = (
    "smsc(config=None, network=None, clock='virtual', seed=None, accounts=None, strict=True): "
    "configure the `smsc` fixture's simulator (network profile name/file, clock real|virtual|scaled:N, seed, accounts)"
)
MARKER_KEYS = frozenset({"config", "network", "clock", "seed", "accounts", "strict"})
DEFAULT_SCENARIO_PATTERNS = "*.scenario.yaml *.scenario.yml"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini setting naming which files are scenarios."""
    parser.addini(
        "smsc_scenario_patterns",
        "glob patterns of YAML scenario files pytest collects as tests",
        type="args",
        default=DEFAULT_SCENARIO_PATTERNS.split(),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker so --strict-markers accepts it."""
    config.addinivalue_line("markers", MARKER_HELP)
    config.addinivalue_line("markers", KANNEL_MARKER_HELP)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect YAML scenario files (see the smsc_scenario_patterns ini setting)."""
    patterns = parent.config.getini("smsc_scenario_patterns")
    if not any(file_path.match(pattern) for pattern in patterns):
        return None
    from .scenario_pytest import ScenarioFile

    return ScenarioFile.from_parent(parent, path=file_path)


def _options(node: pytest.Item | None, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if node is not None:
        # Closest marker last, so a function's marker beats its class's or module's.
        for marker in reversed(list(node.iter_markers("smsc"))):
            if marker.args:
                pytest.fail(f"{node.nodeid}: @pytest.mark.smsc takes keyword arguments only", pytrace=False)
            options.update(marker.kwargs)
    options.update(overrides)
    unknown = set(options) - MARKER_KEYS
    if unknown:
        pytest.fail(f"unknown smsc option(s) {sorted(unknown)}; use {sorted(MARKER_KEYS)}", pytrace=False)
    return options


class SmscFactory:
    """Makes simulators for one test and stops and checks them all at its end."""

    def __init__(self, node: pytest.Item | None) -> None:
        self._node = node
        self.made: list[SimulatedSmsc] = []

    def __call__(self, **options: Any) -> SimulatedSmsc:
        """A started simulator; the test's `smsc` marker gives defaults, keyword options override them."""
        resolved = _options(self._node, options)
        smsc = SimulatedSmsc(name=f"smsc{len(self.made) + 1}", **resolved).start()
        self.made.append(smsc)
        return smsc

    def finish(self) -> list[str]:
        """Check every simulator, stop them, and return the failure reports."""
        reports = []
        for smsc in self.made:
            try:
                problems = smsc.problems()
                if problems:
                    reports.append(smsc.report(problems))
            finally:
                smsc.stop()
        self.made.clear()
        return reports


def _finish(factory: SmscFactory, request: pytest.FixtureRequest) -> None:
    reports = factory.finish()
    failed = getattr(request.node, "rep_call", None)
    if reports and not (failed is not None and failed.failed):
        pytest.fail("\n\n".join(reports), pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Remember each phase's report on the item, so teardown knows whether the test already failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def smsc_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., SimulatedSmsc]]:
    """Start several simulators in one test: `smsc_factory(network='open', seed=3)`; all are checked at teardown."""
    factory = SmscFactory(request.node)
    yield factory
    _finish(factory, request)


@pytest.fixture
def smsc(request: pytest.FixtureRequest) -> Iterator[SimulatedSmsc]:
    """An SMSC simulator for this test, configured by @pytest.mark.smsc(...); fails the test at teardown
    when something went wrong unnoticed (unmet expectations, unanswered PDUs, errors)."""
    factory = SmscFactory(request.node)
    simulator = factory()
    yield simulator
    _finish(factory, request)


@pytest.fixture
def esme(smsc: SimulatedSmsc) -> SyncEsme:
    """Our own ESME, bound as transceiver to `smsc` with its first account."""
    return smsc.esme()
