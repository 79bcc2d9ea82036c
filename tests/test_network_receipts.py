"""Delivery receipts: vocabularies, dialects, id conversion, receipt text, receipt PDUs, registered_delivery."""

from __future__ import annotations

import ast
import dataclasses
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import smpplib.client
import smpplib.smpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.network import receipts as R
from simulator.network.receipts import (
    DIALECTS,
    STATUSES,
    ReceiptDialect,
    StatusNames,
    build_receipt,
    convert_message_id,
    format_receipt_text,
    network_error_code,
    parse_receipt_text,
    state_from_stat,
    status_names,
    vocabulary_table_markdown,
    wants_receipt,
)
from simulator.smpp import codec
from simulator.smpp.constants import MessageState as M
from simulator.smpp.pdu import DataSm, DeliverSm

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUBMITTED = datetime(2024, 3, 5, 14, 7, 9, tzinfo=timezone.utc)
DONE = datetime(2024, 3, 5, 14, 8, 31, tzinfo=timezone.utc)
TEXT = "Hello from the simulator test"
UUID = "3f2b8c1e-9a4d-4e5f-8b7c-1d2e3f4a5b6c"

# sscanf("id:%64[^ ] sub:%d dlvrd:%d submit date:%14[0-9] done date:%14[0-9] stat:%15[^ ] err:%3[^ ]"),
# as Kannel parses receipts; sscanf needs only this prefix to match for its 7 conversions.
KANNEL = re.compile(
    r"id:(?P<id>[^ ]{1,64}) sub:[+-]?\d+ dlvrd:[+-]?\d+ submit date:[0-9]{1,14} done date:[0-9]{1,14}"
    r" stat:(?P<stat>[^ ]{1,15}) err:(?P<err>[^ ]{1,3})"
)


def receipt_text(dialect: ReceiptDialect = ReceiptDialect(), **changes: object) -> str:
    """The receipt text of the fixture message, with any argument changed."""
    args: dict[str, object] = dict(
        submitted_at=SUBMITTED, done_at=DONE, state=M.DELIVERED, error_code=0, text=TEXT, dialect=dialect
    )
    message_id = changes.pop("message_id", "1c53edf8")
    args.update(changes)
    return format_receipt_text(message_id, **args)  # type: ignore[arg-type]


def receipt(command: str = "deliver_sm", dialect: ReceiptDialect = ReceiptDialect(), **changes: object):
    """A receipt PDU for an MT from MYSHOP to 33612345678, addresses already swapped."""
    args: dict[str, object] = dict(
        command=command,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33612345678",
        dest_addr_ton=5,
        dest_addr_npi=0,
        destination_addr="MYSHOP",
        submitted_at=SUBMITTED,
        done_at=DONE,
        state=M.DELIVERED,
        error_code=0,
        network_error=None,
        text=TEXT,
        intermediate=False,
        dialect=dialect,
    )
    message_id = changes.pop("message_id", "1c53edf8")
    args.update(changes)
    return build_receipt(message_id, **args)  # type: ignore[arg-type]


# --- the module stays pure ---------------------------------------------------------------------


def test_module_has_no_io_clock_or_randomness_imports() -> None:
    tree = ast.parse(Path(R.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"asyncio", "socket", "time", "random", "os", "io", "pathlib", "logging"}


def test_public_api_has_one_line_docstrings() -> None:
    public = [getattr(R, name) for name in dir(R) if not name.startswith("_")]
    own = [obj for obj in public if callable(obj) and getattr(obj, "__module__", None) == R.__name__]
    assert len(own) >= 10
    for obj in own:
        doc = obj.__doc__ or ""
        assert doc.strip() and "\n" not in doc.strip(), obj


# --- status vocabulary -------------------------------------------------------------------------

EXPECTED_VOCABULARY = {
    M.SCHEDULED: ("ENROUTE", "MessageWaiting", 4, "NEW", False),
    M.ENROUTE: ("ENROUTE", "MessageWaiting", 4, "PENDING", False),
    M.DELIVERED: ("DELIVRD", "DeliveredToTerminal", 1, "DELIVERED", True),
    M.EXPIRED: ("EXPIRED", "DeliveryImpossible", 2, "EXPIRED", True),
    M.DELETED: ("DELETED", "DeliveryImpossible", 2, "REJECTED", True),
    M.UNDELIVERABLE: ("UNDELIV", "DeliveryImpossible", 2, "UNDELIVERABLE", True),
    M.ACCEPTED: ("ACCEPTD", "DeliveredToNetwork", 4, "PENDING", False),
    M.UNKNOWN: ("UNKNOWN", "DeliveryUncertain", 2, "UNDELIVERABLE", True),
    M.REJECTED: ("REJECTD", "DeliveryImpossible", 2, "REJECTED", True),
    M.SKIPPED: ("SKIPPED", "DeliveryImpossible", 2, "REJECTED", True),
}


def test_every_message_state_has_exactly_the_documented_names() -> None:
    assert set(STATUSES) == set(M)
    for state, (stat, oneapi, numeric, simple, final) in EXPECTED_VOCABULARY.items():
        assert STATUSES[state] == StatusNames(stat, oneapi, numeric, simple, final), state
        assert status_names(state) is STATUSES[state]
        assert status_names(int(state)) is STATUSES[state]


def test_vocabularies_stay_within_their_word_lists() -> None:
    for names in STATUSES.values():
        assert len(names.stat) == 7 and names.stat.isalpha() and names.stat.isupper()
        assert names.oneapi in {
            "DeliveredToTerminal", "DeliveredToNetwork", "DeliveryUncertain", "DeliveryImpossible", "MessageWaiting"
        }
        assert names.numeric in {0, 1, 2, 4, 8, 16}
        assert names.simple in {"NEW", "PENDING", "DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED"}


def test_finals_and_success() -> None:
    assert {s for s, n in STATUSES.items() if not n.final} == {M.SCHEDULED, M.ENROUTE, M.ACCEPTED}
    assert [s for s, n in STATUSES.items() if n.numeric == 1] == [M.DELIVERED]
    assert [s for s, n in STATUSES.items() if n.oneapi == "DeliveredToTerminal"] == [M.DELIVERED]
    # Every non-final state is 'buffered' for Kannel and never a final word elsewhere.
    for state, names in STATUSES.items():
        assert (names.numeric == 4) == (not names.final)


def test_status_names_rejects_unknown_values() -> None:
    with pytest.raises(ValueError):
        status_names(10)


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", M.DELIVERED), ("delivrd", M.DELIVERED), (" DELIVERED ", M.DELIVERED), ("DELIVERD", M.DELIVERED),
        ("EXPIRED", M.EXPIRED), ("DELETED", M.DELETED),
        ("UNDELIV", M.UNDELIVERABLE), ("UNDELIVERABLE", M.UNDELIVERABLE), ("FAILED", M.UNDELIVERABLE),
        ("ACCEPTD", M.ACCEPTED), ("ACCEPTED", M.ACCEPTED), ("ACKED", M.ACCEPTED),
        ("UNKNOWN", M.UNKNOWN), ("REJECTD", M.REJECTED), ("REJECTED", M.REJECTED),
        ("ENROUTE", M.ENROUTE), ("BUFFRED", M.ENROUTE), ("BUFFERD", M.ENROUTE), ("BUFFERED", M.ENROUTE),
        ("SCHEDLD", M.SCHEDULED), ("SCHEDULED", M.SCHEDULED), ("SKIPPED", M.SKIPPED),
    ],
)
def test_state_from_stat_variants(stat: str, state: M) -> None:
    assert state_from_stat(stat) is state


@pytest.mark.parametrize("stat", ["", "DELIVR", "OK", "NOCRED", "DELIVRD err"])
def test_state_from_stat_rejects_unknown_codes(stat: str) -> None:
    with pytest.raises(ValueError, match="unknown receipt stat"):
        state_from_stat(stat)


def test_state_from_stat_reads_back_every_stat_we_write() -> None:
    for state, names in STATUSES.items():
        expected = M.ENROUTE if state is M.SCHEDULED else state  # SCHEDULED is shown as ENROUTE
        assert state_from_stat(names.stat) is expected


def test_vocabulary_table_is_derived_from_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    table = vocabulary_table_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| message_state")]
    assert len(rows) == len(STATUSES)
    for row, (state, names) in zip(rows, STATUSES.items()):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells == [
            state.name, str(int(state)), names.stat, names.oneapi, str(names.numeric), names.simple,
            "yes" if names.final else "no",
        ]
    monkeypatch.setitem(STATUSES, M.SKIPPED, StatusNames("SKIPPDX", "DeliveryUncertain", 0, "NEW", False))
    assert "| SKIPPED | 9 | SKIPPDX | DeliveryUncertain | 0 | NEW | no |" in vocabulary_table_markdown()


# --- dialects ----------------------------------------------------------------------------------


def test_dialect_defaults_and_presets() -> None:
    assert ReceiptDialect() == ReceiptDialect(
        id_format="same", dates_with_seconds=False, text_label="text", content="text_and_tlvs",
        per_segment=True, text_length=20,
    )
    presets = {"standard", "seconds", "tlv_only", "text_only", "decimal_ids", "per_segment", "whole_message", "capital_text"}
    assert presets <= set(DIALECTS)
    assert DIALECTS["standard"] == ReceiptDialect()
    assert DIALECTS["seconds"].dates_with_seconds
    assert DIALECTS["tlv_only"].content == "tlvs_only"
    assert DIALECTS["text_only"].content == "text_only"
    assert DIALECTS["decimal_ids"].id_format == "decimal"
    assert DIALECTS["per_segment"].per_segment
    assert not DIALECTS["whole_message"].per_segment
    assert DIALECTS["capital_text"].text_label == "Text"
    with pytest.raises(dataclasses.FrozenInstanceError):
        DIALECTS["standard"].text_length = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_format": "octal"}, "id_format"),
        ({"dates_with_seconds": 1}, "dates_with_seconds"),
        ({"text_label": "TEXT"}, "text_label"),
        ({"content": "both"}, "content"),
        ({"per_segment": "yes"}, "per_segment"),
        ({"text_length": -1}, "text_length"),
        ({"text_length": 101}, "text_length"),
        ({"text_length": True}, "text_length"),
        ({"text_length": 2.5}, "text_length"),
    ],
)
def test_dialect_validation_names_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        ReceiptDialect(**changes)


# --- message id conversion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_id", "id_format", "expected"),
    [
        ("1c53edf8", "same", "1c53edf8"),
        ("anything goes", "same", "anything goes"),
        ("1c53edf8", "decimal", "475262456"),
        ("1C53EDF8", "decimal", "475262456"),
        ("1c53edf8", "zero_padded", "0475262456"),
        ("ff", "zero_padded", "0000000255"),
        ("ffffffffff", "zero_padded", "1099511627775"),  # longer than 10 digits: never truncated
        ("475262456", "hex", "1c53edf8"),
        ("475262456", "hex_upper", "1C53EDF8"),
        ("1c53edf8", "hex", "1c53edf8"),  # hex letters: already hex, kept
        ("1C53EDF8", "hex", "1c53edf8"),
        ("1c53edf8", "hex_upper", "1C53EDF8"),
        ("0", "hex", "0"),
        ("1c53edf8", "uuid", "1c53edf8"),
    ],
)
def test_convert_message_id(message_id: str, id_format: str, expected: str) -> None:
    assert convert_message_id(message_id, id_format) == expected


@pytest.mark.parametrize("id_format", R.ID_FORMATS)
def test_uuid_ids_are_never_converted(id_format: str) -> None:
    assert convert_message_id(UUID, id_format) == UUID
    assert convert_message_id(UUID.upper(), id_format) == UUID.upper()


def test_explicit_source_resolves_all_digit_ids() -> None:
    # '12345678' is a valid hex id too; only the caller knows which one it is.
    assert convert_message_id("12345678", "hex") == "bc614e"
    assert convert_message_id("12345678", "hex", source="hex") == "12345678"
    assert convert_message_id("12345678", "hex_upper", source="hex") == "12345678"
    assert convert_message_id("12345678", "decimal") == "305419896"
    assert convert_message_id("12345678", "decimal", source="decimal") == "12345678"
    assert convert_message_id("12345678", "zero_padded", source="decimal") == "0012345678"


@pytest.mark.parametrize(
    ("message_id", "id_format", "source"),
    [
        ("xyz", "decimal", "auto"),
        ("", "decimal", "auto"),
        ("", "hex", "auto"),
        ("0x1f", "decimal", "auto"),
        ("1_000", "hex", "auto"),
        (" 12", "hex", "auto"),
        ("-12", "hex", "auto"),
        ("1c53edf8", "hex", "decimal"),
        ("m1", "zero_padded", "auto"),
        ("12", "octal", "auto"),
        ("12", "hex", "binary"),
    ],
)
def test_convert_message_id_errors(message_id: str, id_format: str, source: str) -> None:
    with pytest.raises(ValueError):
        convert_message_id(message_id, id_format, source=source)


@FAST
@given(st.integers(min_value=0, max_value=2**64))
def test_hex_decimal_round_trip(value: int) -> None:
    hex_id = f"{value:x}"
    decimal = convert_message_id(hex_id, "decimal")
    assert decimal == str(value)
    assert convert_message_id(decimal, "hex", source="decimal") == hex_id
    assert int(convert_message_id(hex_id, "zero_padded")) == value


# --- receipt text ------------------------------------------------------------------------------

GOLDEN = {
    "standard": "id:1c53edf8 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
    " text:Hello from the simul",
    "seconds": "id:1c53edf8 sub:001 dlvrd:001 submit date:240305140709 done date:240305140831 stat:DELIVRD err:000"
    " text:Hello from the simul",
    "tlv_only": "id:1c53edf8 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
    " text:Hello from the simul",
    "text_only": "id:1c53edf8 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
    " text:Hello from the simul",
    "decimal_ids": "id:475262456 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
    " text:Hello from the simul",
    "per_segment": "id:1c53edf8 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
    " text:Hello from the simul",
    "capital_text": "id:1c53edf8 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
    " Text:Hello from the simul",
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_receipt_text_per_dialect(name: str) -> None:
    assert receipt_text(DIALECTS[name]) == GOLDEN[name]


def test_golden_failure_and_intermediate_texts() -> None:
    assert receipt_text(state=M.UNDELIVERABLE, error_code=27) == (
        "id:1c53edf8 sub:001 dlvrd:000 submit date:2403051407 done date:2403051408 stat:UNDELIV err:027"
        " text:Hello from the simul"
    )
    assert receipt_text(state=M.SCHEDULED, text="") == (
        "id:1c53edf8 sub:001 dlvrd:000 submit date:2403051407 done date:2403051408 stat:ENROUTE err:000 text:"
    )
    assert receipt_text(
        ReceiptDialect(id_format="zero_padded", dates_with_seconds=True, text_label="Text", text_length=5),
        state=M.EXPIRED, error_code=999, submitted=3, delivered=2,
    ) == (
        "id:0475262456 sub:003 dlvrd:002 submit date:240305140709 done date:240305140831 stat:EXPIRED err:999"
        " Text:Hello"
    )


def test_dlvrd_defaults_follow_the_outcome() -> None:
    assert parse_receipt_text(receipt_text())["dlvrd"] == "001"
    assert parse_receipt_text(receipt_text(submitted=4))["dlvrd"] == "004"
    for state in set(M) - {M.DELIVERED}:
        assert parse_receipt_text(receipt_text(state=state))["dlvrd"] == "000"


def test_dates_are_shown_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    text = receipt_text(submitted_at=SUBMITTED.astimezone(paris), done_at=datetime(2024, 3, 6, 1, 30, tzinfo=paris))
    fields = parse_receipt_text(text)
    assert (fields["submit_date"], fields["done_date"]) == ("2403051407", "2403052330")
    with pytest.raises(ValueError, match="aware"):
        receipt_text(done_at=datetime(2024, 3, 5, 14, 8))


@pytest.mark.parametrize(
    "changes", [{"error_code": 1000}, {"error_code": -1}, {"submitted": 1000}, {"delivered": -1}, {"error_code": True}]
)
def test_three_digit_fields_are_range_checked(changes: dict) -> None:
    with pytest.raises(ValueError, match="0..999"):
        receipt_text(**changes)


def test_text_excerpt_is_gsm_safe_ascii() -> None:
    text = receipt_text(text="Héllo $5 @bob_x [ok] 😀\nÅß", dialect=ReceiptDialect(text_length=40))
    excerpt = parse_receipt_text(text)["text"]
    assert excerpt == "Hello ?5 ?bob?x ?ok? ??A?"
    # Every character means the same in the GSM 03.38 default alphabet as in ASCII.
    assert text.encode("gsm03.38") == text.encode("ascii")


def test_text_excerpt_counts_characters_of_the_original() -> None:
    assert parse_receipt_text(receipt_text(text="😀" * 30))["text"] == "?" * 20
    assert parse_receipt_text(receipt_text(dialect=ReceiptDialect(text_length=0)))["text"] == ""


@pytest.mark.parametrize("name", sorted(DIALECTS))
@pytest.mark.parametrize("state", list(M))
def test_every_text_matches_kannels_pattern(name: str, state: M) -> None:
    text = receipt_text(DIALECTS[name], state=state, error_code=int(state) * 7)
    match = KANNEL.match(text)
    assert match is not None, text
    assert match["id"] == convert_message_id("1c53edf8", DIALECTS[name].id_format)
    assert match["stat"] == STATUSES[state].stat
    assert match["err"] == f"{int(state) * 7:03d}"
    assert text[match.end()] == " "  # err is exactly three characters


def test_parse_receipt_text_fields_and_variants() -> None:
    assert parse_receipt_text(GOLDEN["seconds"]) == {
        "id": "1c53edf8", "sub": "001", "dlvrd": "001", "submit_date": "240305140709",
        "done_date": "240305140831", "stat": "DELIVRD", "err": "000", "text": "Hello from the simul",
    }
    assert parse_receipt_text(GOLDEN["capital_text"].encode())["text"] == "Hello from the simul"
    # Text may contain anything, including what looks like receipt fields, and may be absent.
    tricky = GOLDEN["standard"].replace("Hello from the simul", "stat:REJECTD err:001")
    fields = parse_receipt_text(tricky)
    assert fields["stat"] == "DELIVRD" and fields["text"] == "stat:REJECTD err:001"
    bare = "id:42 sub:1 dlvrd:0 submit date:2403051407 done date:2403051408 stat:UNDELIV err:1"
    assert parse_receipt_text(bare)["text"] == "" and parse_receipt_text(bare)["err"] == "1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "id:1 sub:001 dlvrd:001 submit date:24030514 done date:2403051408 stat:DELIVRD err:000 text:",
        "id:1 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 err:000 text:",
    ],
)
def test_parse_receipt_text_rejects_non_receipts(text: str) -> None:
    with pytest.raises(ValueError, match="not a delivery receipt"):
        parse_receipt_text(text)


dialects = st.builds(
    ReceiptDialect,
    id_format=st.sampled_from(["same", "decimal", "zero_padded", "hex_upper"]),
    dates_with_seconds=st.booleans(),
    text_label=st.sampled_from(R.TEXT_LABELS),
    text_length=st.integers(0, 100),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(timezone.utc)
)


@FAST
@given(
    st.integers(0, 2**64).map(lambda v: f"{v:x}"),
    moments,
    moments,
    st.sampled_from(list(M)),
    st.integers(0, 999),
    st.text(max_size=120),
    st.integers(0, 999),
    dialects,
)
def test_format_parse_round_trip(message_id, submitted_at, done_at, state, err, text, submitted, dialect) -> None:
    out = format_receipt_text(
        message_id, submitted_at=submitted_at, done_at=done_at, state=state, error_code=err, text=text,
        submitted=submitted, dialect=dialect,
    )
    fields = parse_receipt_text(out)
    fmt = "%y%m%d%H%M%S" if dialect.dates_with_seconds else "%y%m%d%H%M"
    assert fields["id"] == convert_message_id(message_id, dialect.id_format)
    assert (fields["sub"], fields["err"]) == (f"{submitted:03d}", f"{err:03d}")
    assert fields["submit_date"] == submitted_at.strftime(fmt) and fields["done_date"] == done_at.strftime(fmt)
    assert state_from_stat(fields["stat"]) is (M.ENROUTE if state is M.SCHEDULED else state)
    assert len(fields["text"]) == min(len(text), dialect.text_length)
    assert all(a == b for a, b in zip(fields["text"], text) if b in R._GSM_SAFE)
    assert out.isascii() and KANNEL.match(out)


# --- registered_delivery -----------------------------------------------------------------------

# Final receipts by the two low bits: 01 any outcome, 10 failure only, 11 success only (v5.0).
FINAL_WANTED = {0: set(), 1: {"success", "failure"}, 2: {"failure"}, 3: {"success"}}


@pytest.mark.parametrize("registered_delivery", range(0x20))
def test_wants_receipt_truth_table(registered_delivery: int) -> None:
    for state in M:
        for intermediate in (False, True):
            got = wants_receipt(registered_delivery, state, intermediate)
            if intermediate or state in (M.SCHEDULED, M.ENROUTE, M.ACCEPTED):
                expected = bool(registered_delivery & 0x10)
            else:
                outcome = "success" if state is M.DELIVERED else "failure"
                expected = outcome in FINAL_WANTED[registered_delivery & 0x03]
            assert got is expected, (hex(registered_delivery), state, intermediate)


def test_wants_receipt_spot_checks() -> None:
    assert wants_receipt(0x01, M.DELIVERED, False) and wants_receipt(0x01, M.EXPIRED, False)
    assert not wants_receipt(0x02, M.DELIVERED, False) and wants_receipt(0x02, M.REJECTED, False)
    assert wants_receipt(0x03, M.DELIVERED, False) and not wants_receipt(0x03, M.UNDELIVERABLE, False)
    assert not wants_receipt(0x01, M.ENROUTE, True) and wants_receipt(0x10, M.ENROUTE, True)
    assert not wants_receipt(0x0C, M.DELIVERED, False)  # SME acknowledgements are not SMSC receipts
    assert wants_receipt(0x11, M.ACCEPTED, False) and not wants_receipt(0x01, M.ACCEPTED, False)


# --- receipt PDUs ------------------------------------------------------------------------------

CONTENTS = ("text_and_tlvs", "text_only", "tlvs_only")


@pytest.mark.parametrize("content", CONTENTS)
def test_deliver_sm_receipt(content: str) -> None:
    nec = network_error_code(27)
    pdu = receipt(dialect=ReceiptDialect(content=content), state=M.UNDELIVERABLE, error_code=27, network_error=nec)
    assert isinstance(pdu, DeliverSm)
    assert pdu.esm_class == 0x04 and pdu.data_coding == 0 and pdu.registered_delivery == 0
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (1, 1, "33612345678")
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (5, 0, "MYSHOP")
    assert pdu.tlv("message_payload") is None
    if content == "tlvs_only":
        assert pdu.short_message == b""
    else:
        assert pdu.short_message == (
            b"id:1c53edf8 sub:001 dlvrd:000 submit date:2403051407 done date:2403051408 stat:UNDELIV err:027"
            b" text:Hello from the simul"
        )
    if content == "text_only":
        assert pdu.tlvs == ()
    else:
        assert pdu.tlv("receipted_message_id") == "1c53edf8"
        assert pdu.tlv("message_state") == 5
        assert pdu.tlv("network_error_code") == b"\x03\x00\x1b"


@pytest.mark.parametrize("content", CONTENTS)
def test_data_sm_receipt(content: str) -> None:
    pdu = receipt("data_sm", dialect=ReceiptDialect(content=content, id_format="decimal"))
    assert isinstance(pdu, DataSm)
    assert pdu.esm_class == 0x04
    assert (pdu.source_addr, pdu.destination_addr) == ("33612345678", "MYSHOP")
    payload = pdu.tlv("message_payload")
    if content == "tlvs_only":
        assert payload is None
    else:
        assert payload == (
            b"id:475262456 sub:001 dlvrd:001 submit date:2403051407 done date:2403051408 stat:DELIVRD err:000"
            b" text:Hello from the simul"
        )
    if content == "text_only":
        assert [t.name for t in pdu.tlvs] == ["message_payload"]
    else:
        assert pdu.tlv("receipted_message_id") == "475262456"  # the id as the text shows it
        assert pdu.tlv("message_state") == 2
        assert pdu.tlv("network_error_code") is None  # none given


@pytest.mark.parametrize("state", list(M))
@pytest.mark.parametrize("intermediate", [False, True])
def test_esm_class_marks_intermediate_notifications(state: M, intermediate: bool) -> None:
    pdu = receipt(state=state, intermediate=intermediate)
    expected = 0x20 if intermediate or not STATUSES[state].final else 0x04
    assert pdu.esm_class == expected
    assert pdu.tlv("message_state") == int(state)


def test_receipt_passes_data_coding_and_uuid_ids_through() -> None:
    pdu = receipt(message_id=UUID, data_coding=1, dialect=DIALECTS["decimal_ids"])
    assert pdu.data_coding == 1 and pdu.tlv("receipted_message_id") == UUID
    assert pdu.short_message.startswith(f"id:{UUID} ".encode())


@pytest.mark.parametrize(
    "changes",
    [
        {"command": "submit_sm"},
        {"network_error": b"\x03\x00"},
        {"network_error": "027"},
        {"message_id": "x" * 65, "dialect": ReceiptDialect(content="tlvs_only")},
        {"message_id": "nothex", "dialect": DIALECTS["decimal_ids"]},
    ],
)
def test_build_receipt_errors(changes: dict) -> None:
    with pytest.raises(ValueError):
        receipt(**changes)


def test_network_error_code() -> None:
    assert network_error_code(27) == b"\x03\x00\x1b"
    assert network_error_code(0x0102, network_type=1) == b"\x01\x01\x02"
    for bad in ({"error": -1}, {"error": 0x10000}, {"error": 1, "network_type": 256}):
        with pytest.raises(ValueError):
            network_error_code(**bad)


# --- on the wire -------------------------------------------------------------------------------


def all_receipts():
    for command in ("deliver_sm", "data_sm"):
        for name, dialect in DIALECTS.items():
            for state in M:
                yield command, name, state, receipt(
                    command, dialect=dialect, state=state, error_code=int(state),
                    network_error=network_error_code(int(state)), intermediate=not STATUSES[state].final,
                )


def test_every_receipt_encodes_and_decodes_with_our_codec() -> None:
    count = 0
    for command, name, state, pdu in all_receipts():
        pdu = pdu.replace(sequence_number=7)
        data = codec.encode(pdu)
        assert codec.decode(data) == pdu, (command, name, state)
        # v3.3 binds get the same receipt without TLVs; it must still encode.
        codec.encode(pdu, with_tlvs=False)
        count += 1
    assert count == 2 * len(DIALECTS) * len(M)


def test_smpplib_reads_our_receipts() -> None:
    # parse_pdu needs a client for sequence numbers; this one never connects. Strict about unknown
    # TLVs, so every TLV we send is one smpplib knows.
    client = smpplib.client.Client("127.0.0.1", 1, allow_unknown_opt_params=False)
    for command, name, state, pdu in all_receipts():
        data = codec.encode(pdu.replace(sequence_number=9))
        parsed = smpplib.smpp.parse_pdu(data, client=client)
        assert parsed.command == command and parsed.sequence == 9
        dialect = DIALECTS[name]
        text = parsed.short_message if command == "deliver_sm" else parsed.message_payload
        if dialect.content == "tlvs_only":
            assert not text
        else:
            fields = parse_receipt_text(text.decode("ascii"))
            assert fields["stat"] == STATUSES[state].stat
            assert KANNEL.match(text.decode("ascii"))
        if dialect.content == "text_only":
            assert parsed.receipted_message_id is None and parsed.message_state is None
        else:
            assert parsed.receipted_message_id.decode() == convert_message_id("1c53edf8", dialect.id_format)
            assert parsed.message_state == int(state)
            assert parsed.network_error_code == network_error_code(int(state))
        assert parsed.esm_class == pdu.esm_class
        assert parsed.source_addr == b"33612345678" and parsed.destination_addr == b"MYSHOP"
