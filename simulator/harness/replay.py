"""`smsc-sim run SCENARIO...`: replay YAML scenarios for QA, in process or against a running simulator.

Exit codes: 0 every scenario passed, 1 some failed, 2 usage or scenario file (schema) error. The
report is one line per scenario run, the failure reports, and a summary; --junit-xml writes the same
results for CI.
"""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import click

from ..config import ConfigError
from .scenario import Scenario, ScenarioError, load_scenarios
from .scenario_runner import ControlError, RemoteTarget, RunResult, Target, remote_configuration, run_scenario

PATTERNS = ("*.scenario.yaml", "*.scenario.yml")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def scenario_files(paths: tuple[str, ...]) -> list[Path]:
    """The files named, and the scenario files under the directories named, sorted per directory."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted({f for pattern in PATTERNS for f in path.rglob(pattern)}))
        elif path.exists():
            files.append(path)
        else:
            raise click.UsageError(f"no such file or directory: {name}")
    return files


def selected(name: str, keyword: str | None) -> bool:
    """-k: a case-insensitive substring of 'scenario[variant]'; 'not X' excludes."""
    if not keyword:
        return True
    if keyword.startswith("not "):
        return keyword[4:].strip().lower() not in name.lower()
    return keyword.lower() in name.lower()


def junit_xml(results: list[RunResult], duration: float) -> bytes:
    """A JUnit XML report: one testsuite, one testcase per scenario run, the failure report as text."""
    failures = sum(1 for r in results if not r.passed)
    suites = ET.Element("testsuites", tests=str(len(results)), failures=str(failures), errors="0", time=f"{duration:.3f}")
    suite = ET.SubElement(
        suites, "testsuite", name="smsc-sim scenarios", tests=str(len(results)), failures=str(failures), errors="0", skipped="0", time=f"{duration:.3f}"
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=Path(result.scenario.source).name, name=result.name, time=f"{result.duration:.3f}", file=result.scenario.source, line=str(result.scenario.line)
        )
        if result.failure is not None:
            failure = ET.SubElement(case, "failure", message=result.failure.title)
            failure.text = result.failure.report()
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


@click.command("run")
@click.argument("scenarios", nargs=-1, required=True, type=click.Path())
@click.option("--smsc", "smsc", metavar="HOST:PORT", help="Run against a running simulator's SMPP port (needs --control).")
@click.option("--control", "control", metavar="URL", help="That simulator's control API, e.g. http://127.0.0.1:8775.")
@click.option(
    "--keep-config",
    is_flag=True,
    help="With --smsc: run against the simulator's own network and accounts instead of giving it each scenario's.",
)
@click.option("--junit-xml", "junit", type=click.Path(dir_okay=False), help="Also write a JUnit XML report here.")
@click.option("-k", "keyword", metavar="NAME", help="Only scenarios whose name[variant] contains NAME ('not NAME' excludes).")
@click.option("-q", "--quiet", is_flag=True, help="Print failures and the summary only.")
def run_command(
    scenarios: tuple[str, ...], smsc: str | None, control: str | None, keep_config: bool, junit: str | None, keyword: str | None, quiet: bool
) -> None:
    """Replay YAML scenarios (files or directories) and report; exit 0 all passed, 1 failures, 2 usage/schema error."""
    if (smsc is None) != (control is None):
        raise click.UsageError("--smsc and --control go together (a running simulator and its control API)")
    if keep_config and smsc is None:
        raise click.UsageError("--keep-config goes with --smsc and --control (a running simulator)")
    factory: Callable[[Scenario], Target] | None = None
    if smsc is not None and control is not None:
        try:
            RemoteTarget(smsc, control)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--smsc") from None
        address, url = smsc, control
        factory = lambda scenario: RemoteTarget(  # noqa: E731 - one fresh client per run
            address, url, configuration=None if keep_config else remote_configuration(scenario)
        )
    loaded: list[Scenario] = []
    for path in scenario_files(scenarios):
        try:
            loaded.extend(load_scenarios(path))
        except ScenarioError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    runs = [(s, v) for s in loaded for v in s.variants if selected(s.name + (f"[{v.id}]" if v else ""), keyword)]
    if not runs:
        click.echo("error: no scenario selected", err=True)
        sys.exit(EXIT_USAGE)
    started = time.monotonic()
    results: list[RunResult] = []
    for scenario, variant in runs:
        try:
            result = run_scenario(scenario, variant, factory(scenario) if factory else None)
        except ControlError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except (ConfigError, OSError) as exc:  # the scenario's network for a running simulator could not be read
            click.echo(f"error: {scenario.name}: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        results.append(result)
        if keep_config and (scenario.network != "default" or scenario.config is not None):
            # The running simulator kept its own network and accounts; say so next to the result.
            click.echo(f"note: {result.name} sets its own network/config, which --keep-config did not give the simulator")
        if not quiet:
            mark = "PASS" if result.passed else "FAIL"
            click.echo(f"{mark} {result.name} ({result.duration:.2f} s) - {scenario.description}")
    duration = time.monotonic() - started
    failed = [r for r in results if not r.passed]
    for result in failed:
        assert result.failure is not None
        click.echo("\n" + result.failure.report())
    passed = len(results) - len(failed)
    click.echo(f"\n{passed} passed, {len(failed)} failed in {duration:.2f} s")
    if junit:
        Path(junit).write_bytes(junit_xml(results, duration))
    sys.exit(EXIT_FAILED if failed else EXIT_OK)
