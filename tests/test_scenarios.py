"""The YAML scenario language: loader errors, matchers, variables, faker, variants, failure reports,
pytest collection and `smsc-sim run` replay (in process and against a running simulator)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from simulator import matching as M
from simulator.clock import VirtualClock
from simulator.config import default_config
from simulator.harness.replay import run_command
from simulator.harness.runner import ThreadedServer
from simulator.schema import shipped_schema
from simulator.harness.scenario import (
    ScenarioError,
    Variables,
    VariableError,
    parse_scenarios,
    to_matcher,
)
from simulator.harness.scenario_runner import run_scenario, scenario_variables

pytest_plugins = ["pytester"]

SCENARIOS = Path(__file__).parent.parent / "scenarios"

PASSING = """\
name: delivered
description: a receipt 2 s after acceptance
actors:
  shop: {}
stages:
  - name: submit
    steps:
      - submit: {actor: shop, source_addr: SIMULATOR, source_addr_ton: 5, destination_addr: "+33612345678", text: hi, registered_delivery: 1}
        save: {id: message_id}
      - advance: 2s
      - expect_receipt: {actor: shop, message_id: "{id}", stat: DELIVRD}
"""

FAILING = """\
name: wrong-state
description: expects EXPIRED where the network delivers
seed: 11
actors:
  shop: {}
stages:
  - name: submit
    steps:
      - submit: {actor: shop, source_addr: SIMULATOR, source_addr_ton: 5, destination_addr: "+33612345678", text: hi, registered_delivery: 1}
        save: {id: message_id}
  - name: receipt
    steps:
      - advance: 2s
      - expect_receipt: {actor: shop, message_id: "{id}", stat: EXPIRED}
        timeout: 0.2
"""


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenarios(text, "s.yaml")
    return str(info.value)


# --- loader errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ndescription: d\ncolour: red\nstages: []\n", "s.yaml:3: colour: unknown key"),
        ("name: x\ndescription: d\nseed: lots\nstages: []\n", "s.yaml:3: seed: expected int, got 'lots'"),
        ("name: x\nstages: []\n", "s.yaml:1: description: required key missing"),
        ("name: x\ndescription: [d\n", "s.yaml:3: invalid YAML"),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - advance: 2s\n        colour: red\n",
            "s.yaml:7: stages[0].steps[0].colour: unknown key",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - advance: 2s\n        wait: 1\n",
            "s.yaml:7: stages[0].steps[0].wait: a step takes exactly one of",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - {save: {a: b}}\n",
            "s.yaml:6: stages[0].steps[0].(step): a step takes exactly one of",
        ),
        (
            "name: x\ndescription: d\nactors: {a: {}}\nstages:\n  - name: s\n    steps:\n"
            "      - submit: {actor: a,\n                 destination_adr: '1'}\n",
            "s.yaml:8: stages[0].steps[0].submit.destination_adr: unknown key: not a field or TLV of submit_sm",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_pdu: {command: submit_sm, text: {regex: '('}}\n",
            "s.yaml:6: stages[0].steps[0].expect_pdu.text: bad matcher: bad regex",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_pdu: {command: submit_sm_typo}\n",
            "s.yaml:6: stages[0].steps[0].expect_pdu.command: unknown command 'submit_sm_typo'",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - handset: {number: '+336', state: sleeping}\n",
            "s.yaml:6: stages[0].steps[0].handset.state: must be one of on, off",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n\n      - submit: {actor: ghost}\n",
            "s.yaml:7: stages: submit: no such esme actor 'ghost'",
        ),
        ("name: x\ndescription: d\nnetwork: {base: default, max_parts: lots}\nstages: []\n", "s.yaml:3: network.max_parts: expected int"),
        ("name: x\ndescription: d\nnetwork: nowhere\nstages: []\n", "s.yaml:3: network: 'nowhere' is not a built-in profile"),
        (
            "name: x\ndescription: d\nconfig:\n  accounts:\n    - {system_id: a, password: waytoolongpassword}\nstages: []\n",
            "s.yaml:5: config.accounts[0].password: must be at most 8 characters",
        ),
        ("name: x\ndescription: d\nstages: []\n---\nname: x\ndescription: e\nstages: []\n", "s.yaml:5: name: another scenario"),
        ("name: x\ndescription: d\nparametrize: [{id: a}, {id: a}]\nstages: []\n", "s.yaml:3: parametrize: variant ids must be unique"),
        (  # a fault rule ending in a nested mapping ('}}' in JSON) is checked at load all the same
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - fault: {on: submit_sm, nth: two, do: {status: ESME_RSYSERR}}\n",
            "s.yaml:6: stages[0].steps[0].fault.nth: must be a whole number >= 1, not 'two'",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - fault: {on: submit_sm, match: {no_such_field: {regex: x}}}\n",
            "s.yaml:6: stages[0].steps[0].fault.match.no_such_field: unknown key: not a field or TLV of submit_sm",
        ),
        (
            "name: x\ndescription: d\nactors: {a: {}}\nstages:\n  - name: s\n    steps:\n"
            "      - submit: {actor: a, wait: false, expect_status: ESME_RSYSERR}\n",
            "s.yaml:7: stages[0].steps[0].submit.expect_status: wait: false sends without reading the responses",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_pdu: {command: submit_sm, within: 3}\n",
            "s.yaml:6: stages[0].steps[0].expect_pdu.within: only expect_no_pdu keeps watching",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_conformance: {checks: []}\n",
            "s.yaml:6: stages[0].steps[0].expect_conformance.checks: names no check",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_conformance: {deliver_response_ms: .inf}\n",
            "s.yaml:6: stages[0].steps[0].expect_conformance.deliver_response_ms: must be a finite number",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_conformance: {checks: [segment_receipts]}\n",
            "s.yaml:6: stages[0].steps[0].expect_conformance.checks: segment_receipts needs receipts_on (all, first, last, any)",
        ),
        (
            "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_conformance: {window: 0, enquire_link_interval: 0s}\n",
            "s.yaml:6: stages[0].steps[0].expect_conformance.window: must be a whole number of at least 1, not 0",
        ),
    ],
)
def test_loader_errors_name_file_line_and_key(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_yaml_one_one_booleans_do_not_eat_keys_or_words() -> None:
    (scenario,) = parse_scenarios(
        "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - fault: {on: submit_sm}\n      - handset: {number: '1', state: off}\n"
    )
    fault, handset = scenario.stages[0].steps
    assert fault.fault == {"on": "submit_sm"} and handset.handset.state == "off"


# --- matchers, variables, faker, variants ------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_value", "good", "bad"),
    [
        ({"any": True}, None, "__never__"),
        ({"present": True}, "x", ""),
        ({"type": "int"}, 3, "3"),
        ({"regex": "^[0-9a-f]{8}$"}, "1c53edf8", "1c53edf"),
        ({"approx": 1.5, "tolerance": 0.1}, 1.55, 1.7),
        ({"range": [1, 5]}, 5, 6),
        ({"gte": 1, "lt": 5}, 1, 5),
        ({"one_of": ["a", {"regex": "^b"}]}, "bz", "c"),
        ({"contains": "Text:"}, "x Text:y", "x text:y"),
        ({"not": {"regex": "^x"}}, "y", "x"),
        ({"equals": {"regex": "a"}}, {"regex": "a"}, "a"),
        ({"a": {"type": "int"}}, {"a": 1, "b": 2}, {"a": "1"}),
        ([1, {"type": "str"}], [1, "x"], [1, 2]),
    ],
)
def test_yaml_matchers(yaml_value: object, good: object, bad: object) -> None:
    matcher = to_matcher(yaml_value)
    assert M.value_matches(good, matcher)
    if bad != "__never__":
        assert not M.value_matches(bad, matcher)


@pytest.mark.parametrize("yaml_value", [{"regex": "^a", "flags": "i"}, {"gt": 1, "type": "int"}, {"contains": "x", "not": "y"}])
def test_matcher_keys_mixed_with_others_are_refused_not_taken_literally(yaml_value: dict) -> None:
    with pytest.raises(ValueError, match=r"cannot be combined with .*\{equals: \.\.\.\}"):
        to_matcher(yaml_value)
    assert to_matcher({"equals": yaml_value}) == yaml_value  # a literal mapping says so


def test_a_matcher_mixed_with_other_keys_names_file_line_and_key() -> None:
    text = "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_pdu: {command: submit_sm, text: {regex: '^a', flags: i}}\n"
    assert error_of(text).startswith("s.yaml:6: stages[0].steps[0].expect_pdu.text: bad matcher: matcher keys regex cannot be combined with flags")


def test_variables_keep_types_format_strings_and_follow_dots() -> None:
    variables = Variables({"n": 5, "resp": {"message_id": "ab", "parts": [1, 2]}, "flag": True})
    assert variables.expand("{n}") == 5
    assert variables.expand("{flag}") is True
    assert variables.expand("n={n} id={resp.message_id}") == "n=5 id=ab"
    assert variables.expand("{resp.parts.1}") == 2
    assert variables.expand({"list": ["{n}", "{{literal}}"]}) == {"list": [5, "{literal}"]}
    assert variables.expand("^[0-9]{8}$") == "^[0-9]{8}$"  # regex quantifiers are not references
    with pytest.raises(VariableError, match=r"unknown variable \{missing\} \(known: flag, n, resp\)"):
        variables.expand("{missing}")
    with pytest.raises(VariableError, match="no 'nope'"):
        variables.expand("{resp.nope}")


def test_saved_values_keep_their_types_through_a_run() -> None:
    (scenario,) = parse_scenarios(
        PASSING
        + """      - submit: {actor: shop, pdu: query_sm, message_id: "{id}", source_addr: SIMULATOR, source_addr_ton: 5}
        save: {state: message_state, resp: ""}
      - expect_value: {value: "{state}", matches: {type: int}}
      - expect_value: {value: "{resp.message_state}", matches: 2}
      - expect_value: {value: "state {state}", matches: state 2}
""",
        "s.yaml",
    )
    assert run_scenario(scenario).failure is None


def test_faker_values_are_reproducible_by_seed() -> None:
    text = "name: x\ndescription: d\nseed: {seed}\nvars:\n  a: \"{{fake.msisdn(country='GB', operator='Vodafone')}}\"\n  b: \"{{fake.alphanumeric_sender()}}\"\n  c: \"to {{a}}\"\nstages: []\n"
    first = scenario_variables(parse_scenarios(text.format(seed=1))[0], None).values
    again = scenario_variables(parse_scenarios(text.format(seed=1))[0], None).values
    other = scenario_variables(parse_scenarios(text.format(seed=2))[0], None).values
    assert (first["a"], first["b"]) == (again["a"], again["b"])
    assert (first["a"], first["b"]) != (other["a"], other["b"])
    assert first["a"].startswith("+447") and first["c"] == f"to {first['a']}"


def test_parametrize_gives_one_run_per_variant_with_its_variables() -> None:
    (scenario,) = parse_scenarios(
        "name: x\ndescription: d\nvars: {who: base, n: 1}\nparametrize:\n  - {id: one, who: first}\n  - {id: two, n: 2}\nstages: []\n"
    )
    assert [v.id for v in scenario.variants] == ["one", "two"]
    values = [scenario_variables(scenario, v).values for v in scenario.variants]
    assert [(v["who"], v["n"], v["variant"]) for v in values] == [("first", 1, "one"), ("base", 2, "two")]


# --- failures ----------------------------------------------------------------------------------


def test_failing_scenario_report_names_everything_needed(tmp_path: Path) -> None:
    path = tmp_path / "bad.scenario.yaml"
    path.write_text(FAILING)
    (scenario,) = parse_scenarios(FAILING, str(path))
    result = run_scenario(scenario)
    assert not result.passed and result.failure is not None
    report = result.failure.report()
    assert report.startswith(f"{path}:14: scenario wrong-state, stage 'receipt', step expect_receipt")
    assert "expected: a receipt at shop with message_id" in report and "stat 'EXPIRED'" in report
    assert "stat: expected 'EXPIRED', got 'DELIVRD'" in report
    assert "seed 11; last 6 PDUs exchanged:" in report
    assert re.search(r"-> deliver_sm seq=1 .*text='id:", report)


def test_finally_steps_run_after_a_failure_and_teardown_checks_unmet_rules() -> None:
    (scenario,) = parse_scenarios(
        """name: x
description: d
actors: {shop: {}}
stages:
  - name: rule never met
    steps:
      - fault: {on: submit_sm, times: 1, do: {status: ESME_RSYSERR}}
finally:
  - handset: {number: "+33612345678", state: "off"}
"""
    )
    failure = run_scenario(scenario).failure
    assert failure is not None and failure.stage == "(teardown)"
    assert "submit_sm -> status ESME_RSYSERR (fired 0/1)" in failure.observed


def test_send_without_waiting_expect_closed_and_log_notes() -> None:
    """submit `wait: false` sends and moves on; expect_closed sees the SMSC end the actor's connection;
    expect_pdu / expect_no_pdu / expect_count match the log's note (what a fault rule did)."""
    (scenario,) = parse_scenarios(
        """name: x
description: d
actors: {shop: {}}
stages:
  - name: lost, then closed
    steps:
      - fault: {on: submit_sm, nth: 1, do: no_response}
      - submit: {actor: shop, source_addr: SIMULATOR, destination_addr: "+33612345678", text: lost, wait: false}
        save: {seqs: sequence_numbers, n: sent}
      - expect_value: {value: "{n}", matches: 1}
      - expect_pdu: {command: submit_sm, sequence_number: "{seqs.0}", note: {regex: "^fault rule [0-9]+: no response$"}}
      - expect_no_pdu: {command: submit_sm_resp, within: 0.2}
      - expect_count: {of: pdus, note: {regex: "no response"}, count: 1}
      - fault: {on: enquire_link, nth: 1, do: {close: after}}
      - submit: {actor: shop, pdu: enquire_link}
      - expect_closed: shop
      - bind: {actor: shop}
"""
    )
    assert run_scenario(scenario).failure is None

    (open_link,) = parse_scenarios("name: x\ndescription: d\nactors: {shop: {}}\nstages:\n  - name: s\n    steps:\n      - expect_closed: shop\n        timeout: 0.2\n")
    failure = run_scenario(open_link).failure
    assert failure is not None and failure.expected == "shop's connection closed by the SMSC" and "still open after 0.2 s" in failure.observed
    (wrong_note,) = parse_scenarios(
        "name: x\ndescription: d\nactors: {shop: {}}\nstages:\n  - name: s\n    steps:\n"
        "      - submit: {actor: shop, source_addr: SIMULATOR, destination_addr: '+33612345678', text: hi}\n"
        "      - expect_pdu: {command: submit_sm_resp, note: {regex: fault}}\n        timeout: 0.2\n"
    )
    failure = run_scenario(wrong_note).failure
    assert failure is not None and "note regex 'fault'" in failure.expected and "note=''" in failure.observed
    (never_bound,) = parse_scenarios(
        "name: x\ndescription: d\nactors: {shop: {}, late: {bind: manual}}\nstages:\n  - name: s\n    steps:\n"
        "      - unbind: shop\n      - expect_closed: shop\n"
    )
    failure = run_scenario(never_bound).failure  # our own unbind is not the SMSC closing the link
    assert failure is not None and "it was not connected" in failure.observed
    (full_window,) = parse_scenarios(
        "name: x\ndescription: d\nactors: {shop: {}}\nstages:\n  - name: s\n    steps:\n"
        "      - fault: {on: submit_sm, do: no_response}\n"
        "      - submit: {actor: shop, source_addr: SIMULATOR, destination_addr: '+33612345678', text: x, wait: false, repeat: 12}\n"
    )
    failure = run_scenario(full_window).failure  # at once, not after a 15 s timeout
    assert failure is not None and "its window of 10 is full of unanswered requests" in failure.observed
    (unknown_account,) = parse_scenarios(
        "name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_conformance: {account: smppclinet1}\n"
    )
    failure = run_scenario(unknown_account).failure
    assert failure is not None and "no account 'smppclinet1' on this simulator" in failure.observed
    with pytest.raises(ScenarioError, match="note: counts of webhooks take"):
        parse_scenarios("name: x\ndescription: d\nstages:\n  - name: s\n    steps:\n      - expect_count: {of: webhooks, note: x, count: 0}\n")


# --- pytest collection -------------------------------------------------------------------------


def test_pytest_collects_scenarios_with_readable_failures(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("good.scenario.yaml").write_text(PASSING)
    pytester.path.joinpath("bad.scenario.yaml").write_text(FAILING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*bad.scenario.yaml:14: scenario wrong-state, stage 'receipt', step expect_receipt",
            "*stat: expected 'EXPIRED', got 'DELIVRD'",
            "seed 11; last 6 PDUs exchanged:",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_pytest_collection_error_and_configurable_patterns(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("broken.scenario.yaml").write_text("name: x\ndescription: d\ncolour: red\nstages: []\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*broken.scenario.yaml:3: colour: unknown key*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    pytester.path.joinpath("broken.scenario.yaml").unlink()
    pytester.path.joinpath("flows.yaml").write_text(PASSING)
    pytester.makeini("[pytest]\nsmsc_scenario_patterns = flows.yaml\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*flows.yaml::delivered PASSED*"])


def test_variants_are_separate_items(pytester: pytest.Pytester) -> None:
    text = PASSING.replace("actors:", "parametrize: [{id: sfr, to: '+33612345678'}, {id: orange, to: '+33607000000'}]\nactors:")
    pytester.path.joinpath("v.scenario.yaml").write_text(text.replace('"+33612345678"', '"{to}"'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*delivered?sfr? PASSED*", "*delivered?orange? PASSED*"])


# --- smsc-sim run ------------------------------------------------------------------------------


def test_run_exit_codes_report_and_junit(tmp_path: Path) -> None:
    (tmp_path / "good.scenario.yaml").write_text(PASSING)
    runner = CliRunner()
    passed = runner.invoke(run_command, [str(tmp_path)])
    assert passed.exit_code == 0, passed.output
    assert "PASS delivered" in passed.output and "1 passed, 0 failed" in passed.output

    (tmp_path / "bad.scenario.yaml").write_text(FAILING)
    junit = tmp_path / "out.xml"
    failed = runner.invoke(run_command, [str(tmp_path), "--junit-xml", str(junit)])
    assert failed.exit_code == 1
    assert "FAIL wrong-state" in failed.output and "stage 'receipt'" in failed.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["delivered"].find("failure") is None
    failure = cases["wrong-state"].find("failure")
    assert failure is not None and "seed 11" in (failure.text or "")

    only = runner.invoke(run_command, [str(tmp_path), "-k", "deliv"])
    assert only.exit_code == 0 and "wrong-state" not in only.output


def test_run_usage_and_schema_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(run_command, [str(tmp_path / "missing.scenario.yaml")]).exit_code == 2
    assert runner.invoke(run_command, [str(SCENARIOS), "--smsc", "127.0.0.1:2775"]).exit_code == 2
    bad = tmp_path / "bad.scenario.yaml"
    bad.write_text("name: x\ndescription: d\ncolour: red\nstages: []\n")
    result = runner.invoke(run_command, [str(bad)])
    assert result.exit_code == 2 and f"{bad}:3: colour: unknown key" in result.output
    assert runner.invoke(run_command, [str(SCENARIOS), "-k", "no-such-scenario"]).exit_code == 2


def test_run_against_a_running_simulator(tmp_path: Path) -> None:
    from simulator.control import ControlApi

    (tmp_path / "good.scenario.yaml").write_text(PASSING + "      - expect_message: {id: '{id}', state: DELIVERED}\n")
    unmet = tmp_path / "unmet" / "unmet.scenario.yaml"
    unmet.parent.mkdir()
    unmet.write_text(PASSING.replace("name: delivered", "name: unmet") + "      - fault: {on: query_sm, times: 1, name: never-queried, do: {status: ESME_RSYSERR}}\n")
    with ThreadedServer(default_config(), clock=VirtualClock()) as server:
        api = ControlApi(server.server)
        host, port = server.call(api.start("127.0.0.1", 0))
        target = ["--smsc", f"{server.host}:{server.port}", "--control", f"http://{host}:{port}"]
        try:
            result = CliRunner().invoke(run_command, [str(tmp_path / "good.scenario.yaml"), *target])
            failed = CliRunner().invoke(run_command, [str(unmet), *target])
        finally:
            server.call(api.stop())
    assert result.exit_code == 0, result.output
    # the running simulator's own teardown check: a counted reply rule that never fired
    assert failed.exit_code == 1 and "never-queried: query_sm (fired 0)" in failed.output


def _replay_remote(paths: list[str], *options: str) -> tuple[object, list[str]]:
    """smsc-sim run against a running simulator (default configuration, virtual clock); the result and its accounts after."""
    from simulator.control import ControlApi

    with ThreadedServer(default_config(), clock=VirtualClock()) as server:
        api = ControlApi(server.server)
        host, port = server.call(api.start("127.0.0.1", 0))
        target = ["--smsc", f"{server.host}:{server.port}", "--control", f"http://{host}:{port}"]
        try:
            result = CliRunner().invoke(run_command, [*paths, *target, *options])
        finally:
            server.call(api.stop())
        return result, [account.system_id for account in server.server.config.accounts]


def test_every_shipped_scenario_passes_against_a_running_simulator_given_its_configuration() -> None:
    """Remote replay gives the simulator each scenario's network, accounts, SMSC settings and seed (POST /reset with config).

    The Kannel scenarios are left out: they start Kannel, and run in process in their own tests."""
    paths = [p for p in sorted(SCENARIOS.glob("*.scenario.yaml")) if not p.name.startswith("kannel-")]
    runs = sum(len(s.variants) for p in paths for s in parse_scenarios(p.read_text(), str(p)))
    result, _ = _replay_remote([str(p) for p in paths])
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert f"{runs} passed, 0 failed" in result.output and "note:" not in result.output  # type: ignore[attr-defined]


def test_kannel_scenarios_pass_against_a_running_simulator() -> None:
    """Kannel started by the scenario binds to the running simulator, which took the scenario's accounts (all 14
    Kannel runs pass this way, 43 s; these two are the quick ones)."""
    paths = [str(SCENARIOS / "kannel-receipts.scenario.yaml"), str(SCENARIOS / "kannel-mo.scenario.yaml")]
    result, _ = _replay_remote(paths)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "2 passed, 0 failed" in result.output  # type: ignore[attr-defined]


def test_keep_config_runs_against_the_simulators_own_configuration() -> None:
    congestion = str(SCENARIOS / "submit-rules.scenario.yaml")
    kept, accounts = _replay_remote([congestion], "-k", "congestion-reported", "--keep-config")
    assert kept.exit_code == 1 and "note: congestion-reported sets its own network/config" in kept.output  # type: ignore[attr-defined]
    assert accounts == ["smppclient1"]
    given, accounts = _replay_remote([congestion], "-k", "congestion-reported")
    assert given.exit_code == 0 and accounts == ["smppclient1"]  # the scenario's accounts are the default ones
    shop, accounts = _replay_remote([str(SCENARIOS / "encoding.scenario.yaml")], "-k", "ucs2-text")
    assert shop.exit_code == 0 and accounts == ["shop"]  # the simulator keeps the last scenario's configuration
    assert CliRunner().invoke(run_command, [congestion, "--keep-config"]).exit_code == 2


def test_remote_runs_report_details_and_queued_deliveries_like_local_ones(tmp_path: Path) -> None:
    from simulator.control import ControlApi

    refused = tmp_path / "refused.scenario.yaml"
    refused.write_text(
        "name: refused\ndescription: d\nstages:\n  - name: s\n    steps:\n"
        "      - mo: {source: '+33612345678', destination: '99999', text: hi, expect_error: not a service number}\n"
    )
    queued = tmp_path / "queued.scenario.yaml"
    queued.write_text(
        "name: queued\ndescription: d\nactors: {shop: {}}\nstages:\n  - name: s\n    steps:\n"
        "      - fault: {on: deliver_sm, times: 1, do: {close: after}}\n"
        "      - mo: {source: '+33612345678', destination: '31244', text: again}\n"
        "      - expect_closed: shop\n"
    )
    binary = tmp_path / "binary.scenario.yaml"
    binary.write_text(
        "name: binary\ndescription: d\nstages:\n  - name: s\n    steps:\n"
        "      - fault: {on: submit_sm, match: {short_message: !!binary aGVsbG8=}, do: {status: ESME_RSYSERR}}\n"
    )
    with ThreadedServer(default_config(), clock=VirtualClock()) as server:
        api = ControlApi(server.server)
        host, port = server.call(api.start("127.0.0.1", 0))
        target = ["--smsc", f"{server.host}:{server.port}", "--control", f"http://{host}:{port}"]
        try:
            results = [CliRunner().invoke(run_command, [str(path), *target]) for path in (refused, queued, binary)]
        finally:
            server.call(api.stop())
    assert results[0].exit_code == 0, results[0].output  # the refusal's detail, not just 'unprocessable_entity'
    assert results[1].exit_code == 1 and "1 deliver_sm/data_sm for smppclient1 still queued" in results[1].output
    assert results[2].exit_code == 1 and "travels as JSON" in results[2].output and "Traceback" not in results[2].output


# --- schema and shipped scenarios -------------------------------------------------------------


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as editors read it (1.2): `on:` and `off` are strings, only true/false are booleans."""


_Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.scenario.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_validate_and_are_documented(path: Path) -> None:
    schema = shipped_schema("scenario")
    readme = (SCENARIOS / "README.md").read_text()
    for document in yaml.load_all(path.read_text(), Loader=_Yaml12Loader):
        jsonschema.validate(document, schema)
    for scenario in parse_scenarios(path.read_text(), str(path)):
        assert f"`{scenario.name}`" in readme, f"{scenario.name} is not in scenarios/README.md"


def test_schema_rejects_two_actions_in_one_step() -> None:
    step = {"name": "x", "description": "d", "stages": [{"name": "s", "steps": [{"advance": "1s", "wait": 1}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(step, shipped_schema("scenario"))
