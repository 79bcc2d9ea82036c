"""The README's YAML examples load: documentation that users copy must be valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.config import load_typed, parse_config
from simulator.harness.scenario import parse_scenarios
from simulator.network.profile import NetworkProfile
from simulator.network.rules import load_rules

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```yaml\n(.*?)```", README, re.S)


def test_every_yaml_example_is_checked() -> None:
    assert len(BLOCKS) == 9


def test_server_config_example() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("smsc:")]
    config = parse_config(block, "README")
    assert config.accounts[0].receipt_dialect == "standard" and config.smsc.delivery_attempts == 5


def test_profile_example() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("name: mine")]
    profile = load_typed(block, NetworkProfile, "README")
    assert profile.numbers[0].number == "20345" and profile.loopback_numbers == ["+33607000009"]


def test_account_example() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("network: default") and "window_reaction" not in b]
    account = parse_config(block, "README").accounts[0]
    assert account.default_sender == "MYSHOP" and account.throttle is not None and account.throttle.rate == 0


def test_delivery_rules_example() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("delivery_rules:")]
    rules = load_rules(block, "README")
    assert [r.name for r in rules][0] == "slow-sfr" and rules[1].outcomes is not None


def test_scenario_example() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("name: delivered-receipt")]
    (scenario,) = parse_scenarios(block, "README")
    assert [stage.name for stage in scenario.stages] == ["submit"] and len(scenario.parametrize) == 2


def test_throttle_examples() -> None:
    (profile_block,) = [b for b in BLOCKS if b.startswith("name: strict")]
    profile = load_typed(profile_block, NetworkProfile, "README")
    assert [t.scope for t in profile.throttles] == ["bind", "operator", "sender"]
    (accounts_block,) = [b for b in BLOCKS if b.startswith("network: default") and "window_reaction" in b]
    account = parse_config(accounts_block, "README").accounts[0]
    assert account.window_reaction == "generic_nack" and len(account.throttles) == 2


def test_faults_example_shows_every_action() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("faults:")]
    config = parse_config(block, "README")
    shown = {name for spec in config.fault_specs if spec.action is not None for name, _ in spec.action.to_dict().items()}
    expected = {"status", "delay", "respond", "out_of_order", "receipt_first", "generic_nack", "close", "reset", "half_close", "unbind"}
    expected |= {"split", "coalesce", "stall", "malformed", "duplicate"}
    assert expected <= shown
    assert {spec.commands[0] for spec in config.fault_specs} >= {"submit_sm", "bind_transmitter", "enquire_link", "deliver_sm", "query_sm"}


def test_conformance_scenario_example() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("name: gateway-conformance")]
    (scenario,) = parse_scenarios(block, "README")
    check = scenario.stages[0].steps[1].expect_conformance
    assert check.receipts_on == "last" and check.account == "smppclient1"
