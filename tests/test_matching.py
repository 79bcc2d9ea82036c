"""Matchers shared by the fixture, reply rules and scenarios; the reply-rule table on its own."""

from __future__ import annotations

import re

import pytest

from simulator.matching import (
    Anything,
    Approx,
    Contains,
    InRange,
    Not,
    OfType,
    OneOf,
    Present,
    Regex,
    describe,
    mismatches,
    pdu_field,
    pdu_mismatches,
    value_matches,
)
from simulator.smpp import pdu as P
from simulator.smpp.tlv import Tlv


@pytest.mark.parametrize(
    ("value", "expected", "result"),
    [
        (5, 5, True),
        (5, "5", True),  # YAML and query strings give numbers as text
        ("5", 5, True),
        (b"hi", "hi", True),
        ("abc", re.compile("^a"), True),
        ("abc", Regex("c$"), True),
        (None, Regex("."), False),
        (3, InRange(gte=1, lt=3), False),
        (2.5, InRange(gt=2, lte=3), True),
        ("2.5", Approx(2.4, tolerance=0.11), True),
        (True, OfType("int"), False),  # a bool is not an int here
        (True, OfType("bool"), True),
        (1, OfType("number"), True),
        ("x", OneOf(("y", Regex("x"))), True),
        ("hello", Contains("ell"), True),
        (5, Contains(1), False),
        ("a", Not("b"), True),
        (None, Anything(), True),
        ("", Present(), False),
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ([1, "x"], [1, Regex("x")], True),
        ([1], [1, 2], False),
        (7, lambda v: v > 5, True),
        (52, "ESME_RINVDLNAME", True),  # a status name matches its number (an unsuccess_sme's error_status_code)
        (52, "ESME_RINVDSTADR", False),
        (52, "ESME_RNOSUCHSTATUS", False),
        (P.UnsuccessfulSme(0, 0, "team", 52), {"address": "team", "error_status_code": "ESME_RINVDLNAME"}, True),  # a NamedTuple by field
        (P.SmeAddress(1, 1, "4477"), {"ton": 2}, False),
    ],
)
def test_value_matches(value, expected, result) -> None:  # noqa: ANN001
    assert value_matches(value, expected) is result


def test_bad_matchers_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown type 'integer'"):
        OfType("integer")
    with pytest.raises(ValueError, match="bad regex"):
        Regex("(")


def test_mismatches_name_key_expectation_and_observation() -> None:
    problems = mismatches({"a": 1, "b": "x"}, {"a": 2, "b": Regex("^x$"), "c": 1, "d": Anything()})
    assert problems == ["a: expected 2, got 1", "c: expected 1, field absent"]
    assert describe(InRange(gte=1, lt=5)) == ">= 1, < 5" and describe(Approx(1, 0.5)) == "approx 1 ± 0.5"


def test_pdu_fields_tlvs_text_and_status_names() -> None:
    pdu = P.DeliverSm(
        destination_addr="SHOP",
        esm_class=0x04,
        short_message=b"id:abc stat:DELIVRD",
        tlvs=(Tlv(0x001E, "abc"), Tlv(0x0427, 2)),
    )
    assert pdu_field(pdu, "receipted_message_id") == "abc"
    assert pdu_field(pdu, "text") == "id:abc stat:DELIVRD" and pdu_field(pdu, "command") == "deliver_sm"
    assert pdu_mismatches(pdu, {"message_state": "DELIVERED", "status": "ESME_ROK", "destination_addr": "SHOP"}) == []
    assert pdu_mismatches(pdu, {"network_error_code": Present()}) == ["network_error_code: expected present, field absent"]
    with pytest.raises(KeyError):
        pdu_field(pdu, "no_such_field")
