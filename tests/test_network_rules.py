"""Delivery rules: YAML loading and its errors, durations, matchers, defaults and seeded plans."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import random
import statistics

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config import ConfigError, load_typed
from simulator.network import rules as rules_module
from simulator.network.handsets import HandsetState
from simulator.network.rules import (
    DEFAULT_RULES_YAML,
    DEFAULTS,
    WAIT,
    DelayDistribution,
    DeliveryPlan,
    DeliveryRule,
    MessageFacts,
    PlannedStep,
    RuleList,
    RuleMatch,
    Step,
    Unreliability,
    load_rules,
    parse_duration,
    plan_delivery,
    select_rule,
)
from simulator.schema import json_schema
from simulator.smpp.constants import MessageState

FACTS = MessageFacts(
    destination="+33612345678",
    operator="SFR",
    country="FR",
    number_type="mobile",
    handset_state="on",
    account="shop",
    sender="MYSHOP",
    short_code="20345",
    text="Your OTP is 1234",
    segments=2,
)

EVERY_KEY = r"""
- name: slow-sfr
  match:
    destination: "+33612345678"
    destination_prefix: "+336"
    destination_regex: "^\\+3361"
    operator: SFR
    country: FR
    number_type: mobile
    handset_state: "on"
    account: shop
    sender: MYSHOP
    short_code: "20345"
    text_regex: "(?i)otp"
    segments: ">1"
  sequence:
    - {after: 2s, state: ENROUTE}
    - {after: 5s, state: DELIVERED}
  unreliability:
    duplicate_receipt: 0.0
    intermediate_after_final: 0.0
    receipt_delay: null
    receipt_never_sent: 0.0
    impossible_but_delivered: 0.0
- name: weighted
  match: {segments: 1}
  outcomes:
    - weight: 90
      sequence: [{after: {dist: lognormal, median: 3s, sigma: 0.5}, state: DELIVERED}]
    - weight: 10
      sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]
  unreliability:
    duplicate_receipt: 0.25
    intermediate_after_final: 0.5
    receipt_delay: 3h
    receipt_never_sent: 1
    impossible_but_delivered: 0.01
- match: {short_code: 20345, handset_state: off, segments: 3}
  sequence:
    - {after: {dist: fixed, value: 2s}, state: accepted}
    - {after: {dist: uniform, min: 250ms, max: 1m}, state: ENROUTE}
    - {after: {dist: normal, mean: 3s, stddev: 1s}, state: WAIT}
  unreliability: {receipt_delay: {dist: uniform, min: 1h, max: 1h30m}}
"""


def plan(rule_yaml: str, facts: MessageFacts = FACTS, seed: int = 0) -> DeliveryPlan:
    return plan_delivery(load_rules(rule_yaml, "test.yaml"), facts, random.Random(seed))


# --- loading ------------------------------------------------------------------------------------


def test_every_key_loads_from_yaml() -> None:
    first, second, third = load_rules(EVERY_KEY, "rules.yaml")
    assert first.name == "slow-sfr"
    assert first.match == RuleMatch(
        destination="+33612345678",
        destination_prefix="+336",
        destination_regex=r"^\+3361",
        operator="SFR",
        country="FR",
        number_type="mobile",
        handset_state="on",
        account="shop",
        sender="MYSHOP",
        short_code="20345",
        text_regex="(?i)otp",
        segments=">1",
    )
    assert first.sequence == [Step("ENROUTE", after="2s"), Step("DELIVERED", after="5s")]
    assert first.outcomes is None and first.unreliability == Unreliability()

    assert second.match.segments == 1 and second.sequence is None
    assert second.outcomes is not None and [o.weight for o in second.outcomes] == [90.0, 10.0]
    lognormal = DelayDistribution("lognormal", median="3s", sigma=0.5)
    assert second.outcomes[0].sequence == [Step("DELIVERED", after=lognormal)]
    assert second.outcomes[1].sequence == [Step("UNDELIVERABLE", after="1s", err=1, network_error=1)]
    assert second.unreliability == Unreliability(0.25, 0.5, "3h", 1.0, 0.01)

    # Unquoted YAML turns 20345 into a number and off into false: both come back as the strings meant.
    assert third.name is None and third.match.short_code == "20345" and third.match.handset_state == "off"
    assert third.match.segments == 3
    assert [s.state for s in third.sequence or []] == ["ACCEPTED", "ENROUTE", WAIT]
    assert third.sequence is not None and third.sequence[0].after == DelayDistribution("fixed", value="2s")
    assert third.unreliability.receipt_delay == DelayDistribution("uniform", min="1h", max="1h30m")


def test_after_takes_numbers_strings_and_distributions() -> None:
    (rule,) = load_rules(with_step("{after: 2, state: ENROUTE}, {after: 1.5, state: ENROUTE}, {state: DELIVERED}"), "t")
    assert [s.after for s in rule.sequence or []] == [2.0, 1.5, None]
    assert isinstance(rule.sequence[0].after, float)  # type: ignore[index]


def test_load_rules_accepts_a_profile_style_mapping_and_empty_text() -> None:
    mapping = load_rules("delivery_rules:\n  - sequence: [{state: DELIVERED}]\n", "t")
    assert mapping == [DeliveryRule(sequence=[Step("DELIVERED")])]
    assert load_rules("", "t") == [] and load_rules("# nothing\n", "t") == []
    flow = load_rules("[{name: a, sequence: [{state: DELIVERED}]},\n{name: b, sequence: [{state: EXPIRED}]}]\n", "t")
    assert [r.name for r in flow] == ["a", "b"]


def test_default_rules_yaml_loads_into_the_python_defaults() -> None:
    assert load_rules(DEFAULT_RULES_YAML, "<defaults>") == DEFAULTS


def test_rules_have_a_json_schema_that_accepts_the_documented_example() -> None:
    schema = json_schema(RuleList, "rules")
    # Not the third rule: like every string key, short_code: 20345 unquoted is a number to the schema.
    jsonschema.validate({"delivery_rules": yaml.safe_load(EVERY_KEY)[:2]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"delivery_rules": [{"sequence": [], "colour": "red"}]}, schema)


OK_SEQUENCE = "  sequence: [{state: DELIVERED}]\n"


def with_after(after: str) -> str:
    """A one-rule list whose only step waits `after` (on line 2)."""
    return f"- sequence:\n  - after: {after}\n    state: DELIVERED\n"


def with_match(key: str, value: str) -> str:
    """A one-rule list matching on key: value (on line 2)."""
    return f"- match:\n    {key}: {value}\n{OK_SEQUENCE}"


def with_knob(knob: str, value: str) -> str:
    """A one-rule list with one unreliability knob (on line 3)."""
    return f"-{OK_SEQUENCE[1:]}  unreliability:\n    {knob}: {value}\n"


def with_step(step: str) -> str:
    """A one-rule list whose one step is given inline (on line 1)."""
    return f"- sequence: [{step}]\n"


def with_outcome(weight: str, sequence: str) -> str:
    """A one-rule list with one weighted outcome (on line 2)."""
    return f"- outcomes:\n  - weight: {weight}\n    sequence: {sequence}\n"


AFTER = "[0].sequence[0].after"
RULE_ERRORS = [
    # (YAML list, line, key, words)
    (f"-{OK_SEQUENCE[1:]}  colour: red\n", 2, "[0].colour", "unknown key"),
    (with_step("{state: DELIVERED, colour: red}"), 1, "[0].sequence[0].colour", "unknown key"),
    (with_match("colour", "red"), 2, "[0].match.colour", "unknown key"),
    ("- sequence:\n  - {after: 5 parsecs, state: DELIVERED}\n", 2, AFTER, "invalid duration '5 parsecs'"),
    (with_after("-2s"), 2, AFTER, "invalid duration"),
    (with_after("-2"), 2, AFTER, "cannot be negative"),
    (with_after("{dist: uniform, min: 1s, max: 5 parsecs}"), 2, f"{AFTER}.max", "invalid duration"),
    (with_after("{dist: cauchy}"), 2, f"{AFTER}.dist", "lognormal"),
    (with_after("{dist: lognormal, median: 3s}"), 2, f"{AFTER}.sigma", "required"),
    ("- sequence:\n  - after: 1s\n    state: X\n", 3, "[0].sequence[0].state", "must be one of"),
    (with_after("{dist: fixed, value: 1s, sigma: 1}"), 2, f"{AFTER}.sigma", "not used"),
    (with_after("{dist: uniform, min: 5s, max: 1s}"), 2, f"{AFTER}.max", "at least min"),
    (with_after("{dist: lognormal, median: 0, sigma: 1}"), 2, f"{AFTER}.median", "more than 0"),
    (with_after("{dist: normal, mean: 1s, stddev: -1s}"), 2, f"{AFTER}.stddev", "invalid duration"),
    (with_match("destination_regex", "'(+'"), 2, "[0].match.destination_regex", "invalid regex"),
    (with_match("text_regex", "'[otp'"), 2, "[0].match.text_regex", "invalid regex"),
    (with_match("destination", "+33612345678"), 2, "[0].match.destination", "quote it"),
    (with_match("destination_prefix", "'336'"), 2, "[0].match.destination_prefix", "'+'"),
    (with_match("country", "France"), 2, "[0].match.country", "alpha-2"),
    (with_match("number_type", "cellular"), 2, "[0].match.number_type", "fixed_line"),
    (with_match("handset_state", "sleeping"), 2, "[0].match.handset_state", "memory_full"),
    (with_match("short_code", "'12'"), 2, "[0].match.short_code", "3 to 8 digits"),
    (with_match("segments", "'>>1'"), 2, "[0].match.segments", "segment condition"),
    (with_match("segments", "'4..2'"), 2, "[0].match.segments", "empty range"),
    (
        "- sequence: [{state: DELIVERED}]\n  outcomes: [{weight: 1, sequence: [{state: DELIVERED}]}]\n",
        2,
        "[0].outcomes",
        "not both",
    ),
    ("- name: nothing\n  match: {operator: SFR}\n", 1, "[0].sequence", "give a sequence or weighted outcomes"),
    ("- outcomes: []\n", 1, "[0].outcomes", "at least one outcome"),
    (with_outcome("0", "[{state: DELIVERED}]"), 2, "[0].outcomes[0].weight", "> 0"),
    (with_outcome("-5", "[{state: DELIVERED}]"), 2, "[0].outcomes[0].weight", "> 0"),
    (with_outcome("1", "[{state: ENROUTE}]"), 3, "[0].outcomes[0].sequence", "must end in a final state"),
    ("- sequence: []\n", 1, "[0].sequence", "at least one step"),
    (with_step("{after: 1s, state: ENROUTE}"), 1, "[0].sequence", "must end in a final state"),
    (with_step("{state: DELIVERED}, {state: ENROUTE}"), 1, "[0].sequence", "step 1 is DELIVERED"),
    (with_step("{state: WAIT}, {state: DELIVERED}"), 1, "[0].sequence", "step 1 is WAIT"),
    (with_step("{state: SCHEDULED}"), 1, "[0].sequence[0].state", "must be one of"),
    (with_step("{after: 1s}"), 1, "[0].sequence[0].state", "required key missing"),
    (with_step("{state: UNDELIVERABLE, err: 1000}"), 1, "[0].sequence[0].err", "0..999"),
    (with_step("{state: UNDELIVERABLE, err: -1}"), 1, "[0].sequence[0].err", "0..999"),
    (with_step("{state: UNDELIVERABLE, err: abc}"), 1, "[0].sequence[0].err", "expected int"),
    (with_step("{state: UNDELIVERABLE, network_error: 0x10000}"), 1, "[0].sequence[0].network_error", "0..0xFFFF"),
    (with_step("{state: WAIT, err: 27}"), 1, "[0].sequence[0].err", "WAIT step takes no error"),
    (with_knob("duplicate_receipt", "1.5"), 3, "[0].unreliability.duplicate_receipt", "between 0 and 1"),
    (with_knob("intermediate_after_final", "2"), 3, "[0].unreliability.intermediate_after_final", "between 0 and 1"),
    (with_knob("receipt_never_sent", "-0.1"), 3, "[0].unreliability.receipt_never_sent", "between 0 and 1"),
    (with_knob("impossible_but_delivered", "1.01"), 3, "[0].unreliability.impossible_but_delivered", "between 0 and 1"),
    (with_knob("receipt_delay", "soon"), 3, "[0].unreliability.receipt_delay", "invalid duration 'soon'"),
    ("- sequence: [{state: DELIVERED}\n", 2, "", "invalid YAML"),
    (f"{with_step('{state: DELIVERED}')}{with_step('{state: NOPE}')}", 2, "[1].sequence[0].state", "must be one of"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), RULE_ERRORS)
def test_rule_errors_name_file_line_and_key(text: str, line: int, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_rules(text, "rules.yaml")
    assert (raised.value.line, raised.value.key) == (line, key), str(raised.value)
    assert words in str(raised.value) and str(raised.value).startswith(f"rules.yaml:{line}:")


@pytest.mark.parametrize(("text", "line", "key", "words"), RULE_ERRORS[:12])
def test_rule_errors_inside_a_profile_style_mapping(text: str, line: int, key: str, words: str) -> None:
    # As in a network profile: the list is under delivery_rules, one line further down.
    wrapped = "delivery_rules:\n" + "".join(f"  {row}\n" for row in text.splitlines())
    with pytest.raises(ConfigError) as raised:
        load_typed(wrapped, RuleList, "net.yaml")
    assert (raised.value.line, raised.value.key) == (line + 1, f"delivery_rules{key}")
    assert words in str(raised.value)


def test_python_construction_is_validated_too() -> None:
    with pytest.raises(ValueError, match="final state"):
        DeliveryRule(sequence=[Step("ENROUTE")])
    with pytest.raises(ValueError, match="between 0 and 1"):
        Unreliability(duplicate_receipt=float("nan"))
    with pytest.raises(ValueError, match="invalid duration"):
        DelayDistribution("fixed", value="later")
    assert Step("delivered").state == "DELIVERED" and RuleMatch(country="fr").country == "FR"


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (2, 2.0),
        (2.5, 2.5),
        ("0", 0.0),
        ("3", 3.0),
        ("1.5", 1.5),
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("3h", 10800.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        (" 2s ", 2.0),
        ("1d2h3m4s5ms", 86400 + 7200 + 180 + 4 + 0.005),
        ("1m30ms", 60.03),
    ],
)
def test_durations(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize(
    "value",
    ["5 parsecs", "", "  ", "s", "2 min", "2S", "-1s", "1h1h", "30m1h", "1.s", "2s garbage", -1, -0.5,
     float("nan"), float("inf"), True, None, [1]],
)  # fmt: skip
def test_bad_durations_raise_a_clear_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 30), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999)
)  # fmt: skip
def test_composite_durations_add_up(days: int, hours: int, minutes: int, seconds: int, millis: int) -> None:
    text = f"{days}d{hours}h{minutes}m{seconds}s{millis}ms"
    expected = days * 86400 + hours * 3600 + minutes * 60 + seconds + millis / 1000
    assert parse_duration(text) == pytest.approx(expected)


# --- matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({}, True),
        ({"destination": "+33612345678"}, True),
        ({"destination": "+33612345679"}, False),
        ({"destination_prefix": "+336"}, True),
        ({"destination_prefix": "+337"}, False),
        ({"destination_regex": r"^\+3361"}, True),
        ({"destination_regex": r"^\+3362"}, False),
        ({"destination_regex": r"678"}, True),  # searched, not anchored
        ({"operator": "SFR"}, True),
        ({"operator": "Orange"}, False),
        ({"country": "FR"}, True),
        ({"country": "fr"}, True),
        ({"country": "GB"}, False),
        ({"number_type": "mobile"}, True),
        ({"number_type": "fixed_line"}, False),
        ({"handset_state": "on"}, True),
        ({"handset_state": "off"}, False),
        ({"handset_state": True}, True),
        ({"account": "shop"}, True),
        ({"account": "other"}, False),
        ({"sender": "MYSHOP"}, True),
        ({"sender": "myshop"}, False),
        ({"short_code": "20345"}, True),
        ({"short_code": "38100"}, False),
        ({"text_regex": "(?i)otp"}, True),
        ({"text_regex": "otp"}, False),
        ({"text_regex": r"\d{4}$"}, True),
        ({"segments": 2}, True),
        ({"segments": 1}, False),
        ({"segments": "2"}, True),
        ({"segments": "=2"}, True),
        ({"segments": ">1"}, True),
        ({"segments": ">2"}, False),
        ({"segments": ">=2"}, True),
        ({"segments": ">=3"}, False),
        ({"segments": "<3"}, True),
        ({"segments": "<2"}, False),
        ({"segments": "<=2"}, True),
        ({"segments": "<=1"}, False),
        ({"segments": "2..4"}, True),
        ({"segments": "1..2"}, True),
        ({"segments": "3..4"}, False),
        ({"segments": " >= 2 "}, True),
        ({"operator": "SFR", "country": "FR", "segments": ">1"}, True),
        ({"operator": "SFR", "country": "GB"}, False),  # every given key must match
    ],
)
def test_each_matcher_key(match: dict[str, object], expected: bool) -> None:
    assert RuleMatch(**match).matches(FACTS) is expected  # type: ignore[arg-type]


def test_text_regex_never_matches_an_undecoded_message() -> None:
    facts = dataclasses.replace(FACTS, text=None)
    assert not RuleMatch(text_regex=".*").matches(facts)
    assert RuleMatch(operator="SFR").matches(facts)


def test_short_code_match_takes_long_numbers_too() -> None:
    facts = dataclasses.replace(FACTS, short_code="+447797805210")
    assert RuleMatch(short_code="+447797805210").matches(facts)
    assert not RuleMatch(short_code="+447797805210").matches(dataclasses.replace(FACTS, short_code=None))


def test_handset_state_facts_may_be_the_enum() -> None:
    facts = dataclasses.replace(FACTS, handset_state=HandsetState.MEMORY_FULL)
    assert RuleMatch(handset_state="memory_full").matches(facts)
    assert plan_delivery([], facts, random.Random(0)).rule_name == "default-memory_full"


def test_first_match_wins() -> None:
    rules = load_rules(
        """
- {name: other-operator, match: {operator: Orange}, sequence: [{after: 1s, state: REJECTED}]}
- {name: sfr-otp, match: {operator: SFR, text_regex: "(?i)otp"}, sequence: [{after: 1s, state: DELIVERED}]}
- {name: all-sfr, match: {operator: SFR}, sequence: [{after: 9s, state: UNDELIVERABLE}]}
- {sequence: [{state: EXPIRED}]}
""",
        "t",
    )
    assert select_rule(rules, FACTS)[0] is rules[1]
    assert plan_delivery(rules, FACTS, random.Random(1)).rule_name == "sfr-otp"
    promo = dataclasses.replace(FACTS, text="Sale!")
    assert plan_delivery(rules, promo, random.Random(1)).rule_name == "all-sfr"
    free = dataclasses.replace(FACTS, operator="Free")
    # An unnamed rule is named after its place in the list; a catch-all rule shadows the defaults.
    assert plan_delivery(rules, free, random.Random(1)).rule_name == "delivery_rules[3]"
    off = dataclasses.replace(free, handset_state="off")
    assert plan_delivery(rules, off, random.Random(1)).steps[0].state is MessageState.EXPIRED


def test_user_rules_come_before_the_defaults() -> None:
    rules = load_rules("- {match: {handset_state: barred}, sequence: [{after: 1s, state: DELIVERED}]}", "t")
    barred = dataclasses.replace(FACTS, handset_state="barred")
    assert plan_delivery(rules, barred, random.Random(0)).steps[0].state is MessageState.DELIVERED
    off = dataclasses.replace(FACTS, handset_state="off")
    assert plan_delivery(rules, off, random.Random(0)).rule_name == "default-off"


# --- defaults -----------------------------------------------------------------------------------


UNDELIVERABLE_1 = (PlannedStep(1.0, MessageState.UNDELIVERABLE, 1, 1),)


@pytest.mark.parametrize(
    ("number_type", "handset_state", "name", "steps"),
    [
        ("mobile", "on", "default-on", (PlannedStep(2.0, MessageState.DELIVERED, 0, None),)),
        ("fixed_line_or_mobile", "on", "default-on", (PlannedStep(2.0, MessageState.DELIVERED, 0, None),)),
        ("voip", "on", "default-on", (PlannedStep(2.0, MessageState.DELIVERED, 0, None),)),
        ("unknown", "on", "default-on", (PlannedStep(2.0, MessageState.DELIVERED, 0, None),)),
        (None, "on", "default-on", (PlannedStep(2.0, MessageState.DELIVERED, 0, None),)),
        ("fixed_line", "on", "default-fixed_line", UNDELIVERABLE_1),
        ("fixed_line", "off", "default-fixed_line", UNDELIVERABLE_1),
        ("toll_free", "on", "default-toll_free", UNDELIVERABLE_1),
        ("premium_rate", "on", "default-premium_rate", UNDELIVERABLE_1),
        ("shared_cost", "on", "default-shared_cost", UNDELIVERABLE_1),
        ("uan", "on", "default-uan", UNDELIVERABLE_1),
        ("voicemail", "on", "default-voicemail", UNDELIVERABLE_1),
        ("pager", "on", "default-pager", UNDELIVERABLE_1),
        ("mobile", "unknown_subscriber", "default-unknown_subscriber", UNDELIVERABLE_1),
        ("mobile", "barred", "default-barred", (PlannedStep(1.0, MessageState.UNDELIVERABLE, 13, 13),)),
        ("mobile", "off", "default-off", (PlannedStep(0.0, WAIT, 0, None),)),
        ("mobile", "absent", "default-absent", (PlannedStep(0.0, WAIT, 0, None),)),
        (
            "mobile",
            "memory_full",
            "default-memory_full",
            (PlannedStep(1.0, MessageState.ENROUTE, 32, 32), PlannedStep(0.0, WAIT, 0, None)),
        ),
    ],
)
def test_defaults_by_number_type_and_handset_state(
    number_type: str | None, handset_state: str, name: str, steps: tuple[PlannedStep, ...]
) -> None:
    facts = dataclasses.replace(FACTS, number_type=number_type, handset_state=handset_state)
    result = plan_delivery([], facts, random.Random(7))
    assert result.rule_name == name and result.steps == steps
    assert not (result.duplicate_receipt or result.intermediate_after_final or result.receipt_never_sent)
    assert not result.impossible_but_delivered and result.receipt_delay == 0.0


def test_every_handset_state_has_a_default() -> None:
    facts = [dataclasses.replace(FACTS, handset_state=state.value) for state in HandsetState]
    names = {plan_delivery([], one, random.Random(0)).rule_name for one in facts}
    assert names == {f"default-{s.value}" for s in HandsetState}


# --- plans --------------------------------------------------------------------------------------


def test_a_sequence_is_planned_step_by_step() -> None:
    result = plan(
        "- name: slow\n  sequence:\n"
        "    - {after: 2s, state: ENROUTE}\n"
        "    - {after: 250ms, state: ACCEPTED}\n"
        "    - {after: 1h30m, state: UNDELIVERABLE, err: 34, network_error: 0x0022}\n"
    )
    assert result == DeliveryPlan(
        rule_name="slow",
        steps=(
            PlannedStep(2.0, MessageState.ENROUTE),
            PlannedStep(0.25, MessageState.ACCEPTED),
            PlannedStep(5400.0, MessageState.UNDELIVERABLE, 34, 34),
        ),
    )


MIXED_RULES = """
- name: otp
  match: {text_regex: "(?i)otp"}
  outcomes:
    - weight: 7
      sequence: [{after: {dist: lognormal, median: 3s, sigma: 0.5}, state: DELIVERED}]
    - weight: 2
      sequence:
        - {after: {dist: uniform, min: 1s, max: 5s}, state: ENROUTE}
        - {after: {dist: normal, mean: 30s, stddev: 10s}, state: DELIVERED}
    - weight: 1
      sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 1}]
  unreliability:
    duplicate_receipt: 0.3
    intermediate_after_final: 0.2
    receipt_delay: {dist: lognormal, median: 1m, sigma: 1}
    receipt_never_sent: 0.1
    impossible_but_delivered: 0.05
"""


def run_plans(seed: int, count: int = 1000) -> list[DeliveryPlan]:
    rules = load_rules(MIXED_RULES, "mixed.yaml")
    rng = random.Random(seed)
    texts = ["your OTP 1234", "hello"]
    states = [s.value for s in HandsetState]
    # Every text meets every handset state, so both the rule and each default get planned.
    messages = [
        dataclasses.replace(FACTS, text=texts[i % 2], handset_state=states[i // 2 % len(states)]) for i in range(count)
    ]
    return [plan_delivery(rules, facts, rng) for facts in messages]


def test_same_seed_same_plans() -> None:
    first, second = run_plans(42), run_plans(42)
    assert repr(first).encode() == repr(second).encode()
    assert repr(run_plans(43)) != repr(first)
    assert {p.rule_name for p in first} >= {"otp", "default-on", "default-off", "default-barred"}


def test_weighted_outcomes_follow_their_weights() -> None:
    rules = load_rules(
        "- outcomes:\n"
        "  - {weight: 90, sequence: [{after: 1s, state: DELIVERED}]}\n"
        "  - {weight: 10, sequence: [{after: 1s, state: UNDELIVERABLE}]}\n",
        "t",
    )
    rng = random.Random(2024)
    delivered = sum(plan_delivery(rules, FACTS, rng).steps[-1].state is MessageState.DELIVERED for _ in range(2000))
    assert 0.85 * 2000 <= delivered <= 0.95 * 2000


def delays(dist_yaml: str, count: int = 2000, seed: int = 5) -> list[float]:
    rules = load_rules(f"- sequence: [{{after: {dist_yaml}, state: DELIVERED}}]", "t")
    rng = random.Random(seed)
    return [plan_delivery(rules, FACTS, rng).steps[0].delay for _ in range(count)]


def test_lognormal_median_is_the_given_median() -> None:
    drawn = delays("{dist: lognormal, median: 3s, sigma: 0.5}")
    assert 2.7 <= statistics.median(drawn) <= 3.3
    assert min(drawn) > 0 and max(drawn) > 6  # right-skewed: a tail well past twice the median


def test_normal_is_clamped_at_zero() -> None:
    drawn = delays("{dist: normal, mean: 1s, stddev: 2s}")
    assert min(drawn) == 0.0
    assert 0.2 < drawn.count(0.0) / len(drawn) < 0.45  # P(N(1, 2) < 0) is about 0.31
    assert max(drawn) > 4


def test_uniform_stays_within_bounds() -> None:
    drawn = delays("{dist: uniform, min: 1s, max: 5s}")
    assert all(1.0 <= d <= 5.0 for d in drawn)
    assert min(drawn) < 1.1 and max(drawn) > 4.9 and 2.8 < statistics.mean(drawn) < 3.2


def test_fixed_distribution_draws_nothing() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert DelayDistribution("fixed", value="2s").draw(rng) == 2.0 and rng.getstate() == state
    assert delays("{dist: fixed, value: 250ms}", count=3) == [0.25, 0.25, 0.25]


KNOBS = ["duplicate_receipt", "intermediate_after_final", "receipt_never_sent", "impossible_but_delivered"]


@pytest.mark.parametrize("knob", KNOBS)
def test_probability_zero_never_fires_and_one_always_fires(knob: str) -> None:
    others = {name: 0.5 for name in KNOBS if name != knob}

    def fired(probability: float) -> set[bool]:
        knobs = Unreliability(**others, **{knob: probability})
        rule = DeliveryRule(sequence=[Step("DELIVERED", after="1s")], unreliability=knobs)
        rng = random.Random(11)
        return {getattr(plan_delivery([rule], FACTS, rng), knob) for _ in range(1000)}

    assert fired(0.0) == {False}
    assert fired(1.0) == {True}
    assert fired(0.5) == {False, True}


def test_receipt_delay_is_drawn() -> None:
    assert plan(with_knob("receipt_delay", "3h")).receipt_delay == 10800.0
    assert plan(with_knob("receipt_delay", "90")).receipt_delay == 90.0
    ranged = [
        plan(with_knob("receipt_delay", "{dist: uniform, min: 1h, max: 2h}"), seed=s)
        for s in range(20)
    ]
    assert all(3600 <= p.receipt_delay <= 7200 for p in ranged) and len({p.receipt_delay for p in ranged}) == 20
    assert plan("- sequence: [{state: DELIVERED}]\n").receipt_delay == 0.0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([s.value for s in HandsetState]), st.integers(1, 6))
def test_any_seed_gives_a_well_formed_plan(seed: int, handset: str, segments: int) -> None:
    rules = load_rules(MIXED_RULES, "mixed.yaml")
    facts = dataclasses.replace(FACTS, handset_state=handset, segments=segments)
    result = plan_delivery(rules, facts, random.Random(seed))
    assert result.steps and all(step.delay >= 0 for step in result.steps) and result.receipt_delay >= 0
    last = result.steps[-1].state
    assert last == WAIT or last in {
        MessageState.DELIVERED,
        MessageState.UNDELIVERABLE,
        MessageState.EXPIRED,
        MessageState.REJECTED,
        MessageState.DELETED,
        MessageState.UNKNOWN,
    }
    assert all(step.state in (MessageState.ENROUTE, MessageState.ACCEPTED) for step in result.steps[:-1])


# --- purity -------------------------------------------------------------------------------------


def test_module_is_pure_and_takes_its_randomness_from_the_caller() -> None:
    tree = ast.parse(inspect.getsource(rules_module))
    nodes = list(ast.walk(tree))
    imported = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"asyncio", "socket", "time", "os", "pathlib", "io"}
    # random.X is only ever the Random type, never a module-level function drawing from hidden state.
    used = {n.attr for n in nodes if isinstance(n, ast.Attribute) and getattr(n.value, "id", None) == "random"}
    assert used == {"Random"}
    for name in rules_module.__all__:
        obj = getattr(rules_module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_a_static_rule_never_draws_so_the_seed_does_not_depend_on_earlier_simulators() -> None:
    (static,) = load_rules("delivery_rules:\n  - sequence: [{after: 2s, state: DELIVERED}]\n", "rules.yaml")
    (drawing,) = load_rules("delivery_rules:\n  - sequence: [{after: {dist: uniform, min: 1s, max: 2s}, state: DELIVERED}]\n", "rules.yaml")
    for _ in range(2):  # the first use (which builds the cached plan) and the later ones alike
        rng = random.Random(7)
        before = rng.getstate()
        plan = rules_module.plan_for_rule(static, "static", rng)
        assert rng.getstate() == before and not plan.duplicate_receipt and plan.steps[0].delay == 2.0
    rng = random.Random(7)
    before = rng.getstate()
    rules_module.plan_for_rule(drawing, "drawing", rng)
    assert rng.getstate() != before
