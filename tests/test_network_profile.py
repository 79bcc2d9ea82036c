"""Network profiles (typed YAML, built-ins, JSON Schema), credit accounts and handset states."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from simulator.config import ConfigError, load_typed
from simulator.network.credits import CountryBundle, CreditAccount, InsufficientCredit
from simulator.network.handsets import Handsets, HandsetState
from simulator.network.profile import NetworkProfile, builtin_profiles, load_profile
from simulator.schema import generated_schemas, shipped_schema


def test_default_profile_reproduces_the_operator_offer() -> None:
    profile = load_profile("default")
    assert {op.name for op in profile.operators if op.country == "FR"} == {"Orange", "SFR", "Bouygues Telecom", "Free"}
    assert "Orange/EE" in {op.name for op in profile.operators if op.country == "GB"}
    sc = {n.number: n for n in profile.numbers}
    assert sc["20345"].operators == ["Orange"] and sc["20345"].sends and sc["20345"].receives
    assert sc["38100"].sends and not sc["38100"].receives and sc["38100"].operators == []
    assert sc["31244"].receives and not sc["31244"].sends
    assert sc["967482"].country == "GB" and sc["967482"].operators == ["Orange/EE"]
    assert sc["+447797805210"].kind == "long_number" and sc["+447797805210"].countries == []
    assert (sc["51244"].surcharge, sc["51244"].reward) == (0.20, 6)
    assert (sc["71244"].surcharge, sc["71244"].reward) == (0.50, 18)
    assert [profile.mt_price(sc[n]) for n in ("20345", "38100", "967482", "+447797805210")] == [10, 10, 10, 15]
    assert profile.default_mo_price == 5
    assert [(b.price, b.credits) for b in profile.bundles] == [(10, 1000), (50, 5350), (100, 11000), (500, 56000), (1000, 113000)]
    assert profile.throttle is not None and (profile.throttle.rate, profile.throttle.burst) == (5, 5)


def test_builtin_profiles_are_listed_and_open_has_no_rules() -> None:
    assert {"default", "open"} <= set(builtin_profiles())
    open_profile = load_profile("open")
    assert open_profile.open_routing and open_profile.throttle is None and open_profile.default_mt_price == 0


def test_a_profile_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ncoverage: [BE]\noperators: [{name: Proximus, country: BE}]\n")
    assert load_profile(str(path)).operators[0].name == "Proximus"
    with pytest.raises(ConfigError, match="not a built-in profile"):
        load_profile(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("name: x\ncoverage: [FR]\ncolour: red\n", 3, "colour", "unknown key"),
        ("name: x\ncoverage: [FR]\nnumbers:\n  - number: '123456789'\n    country: FR\n", 4, "numbers[0].number", "3 to 8 digits"),
        ("name: x\ncoverage: [FR]\nnumbers:\n  - number: '4477'\n    kind: long_number\n", 4, "numbers[0].number", "E.164"),
        ("name: x\ncoverage: [FR]\nnumbers:\n  - number: '2034'\n", 4, "numbers[0].country", "needs its country"),
        ("name: x\ncoverage: [FR]\nnumbers:\n  - {number: '2034', country: FR, reward: 3}\n", 4, "numbers[0].reward", "premium"),
        ("name: x\ncoverage: [FR]\nnumbers:\n  - {number: '2034', country: FR, kind: vanity}\n", 4, "numbers[0].kind", "must be one of"),
        ("name: x\ncoverage: [FR]\nnumbers:\n  - {number: '2034', country: FR, operators: [Nope]}\n", 3, "numbers", "unknown operator"),
        ("name: x\ncoverage: [FR]\nsender_policy: ignore\n", 3, "sender_policy", "reject, replace"),
        ("name: x\ncoverage: [FR]\nstatuses: {opted_out: ESME_RWHAT}\n", 3, "statuses.opted_out", "unknown command_status"),
        ("name: x\ncoverage: [FR]\nported: {'+33612345678': Nope}\n", 3, "ported", "unknown operator"),
        ("name: x\n", 1, "coverage", "required"),
        ("name: x\ncoverage: FR\n", 2, "coverage", "expected a list"),
    ],
)
def test_profile_errors_name_file_line_and_key(text: str, line: int, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_typed(text, NetworkProfile, "net.yaml")
    assert (raised.value.line, raised.value.key) == (line, key)
    assert words in str(raised.value) and str(raised.value).startswith(f"net.yaml:{line}:")


def test_shipped_schemas_match_the_code() -> None:
    generated = generated_schemas()
    for name, schema in generated.items():
        assert shipped_schema(name) == json.loads(json.dumps(schema)), f"run python -m simulator.schema ({name})"


@pytest.mark.parametrize("name", ["default", "open"])
def test_builtin_profiles_validate_against_the_shipped_schema(name: str) -> None:
    from importlib import resources

    text = (resources.files("simulator") / "profiles" / f"{name}.yaml").read_text()
    jsonschema.validate(yaml.safe_load(text), shipped_schema("network"))


def test_schema_rejects_unknown_keys_like_the_loader() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "coverage": ["FR"], "colour": "red"}, shipped_schema("network"))


def test_credits_debit_bundles_first_then_balance() -> None:
    account = CreditAccount("shop", balance=100)
    account.add_bundle(CountryBundle("FR", 30, expires_at=1000.0), now=0.0)
    assert account.available("FR", 0.0) == 130 and account.available("GB", 0.0) == 100
    account.debit(40, 1.0, "mt", country="FR", number="20345")
    assert account.bundles[0].credits == 0 and account.balance == 90
    with pytest.raises(InsufficientCredit) as raised:
        account.debit(91, 2.0, "mt", country="FR")
    assert raised.value.needed == 91 and raised.value.available == 90
    account.credit(18, 3.0, "reward", country="FR", number="71244")
    assert account.balance == 108
    stats = account.statistics()
    assert stats["by_number"] == {"20345": 40, "71244": 18} and stats["by_reason"]["reward"] == 18


def test_expired_bundle_cannot_pay() -> None:
    account = CreditAccount("shop", balance=0)
    account.add_bundle(CountryBundle("FR", 50, expires_at=100.0), now=0.0)
    assert account.can_pay(50, "FR", 99.0)
    assert not account.can_pay(1, "FR", 100.0)


def test_unlimited_account_never_refuses() -> None:
    account = CreditAccount("free")
    account.debit(10**9, 0.0, "mt")
    assert account.available("FR", 0.0) is None and account.history[-1].amount == -(10**9)


def test_handset_states() -> None:
    handsets = Handsets()
    assert handsets.state("+33600000000") is HandsetState.ON
    assert handsets.set_state("+33600000000", "off") is HandsetState.ON
    assert handsets.state("+33600000000") is HandsetState.OFF
    handsets.set_state("+33600000000", HandsetState.ON)
    assert handsets.states() == {}
    with pytest.raises(ValueError):
        handsets.set_state("+33600000000", "sleeping")
