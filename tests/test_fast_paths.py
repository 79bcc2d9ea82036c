"""The performance shortcuts give exactly what the plain code paths give (no timing here: see benchmarks/)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from simulator.clock import RealClock, VirtualClock
from simulator.network.lifecycle import ReceiptOutcome
from simulator.network.messages import Message
from simulator.network.receipts import _receipt_time, build_receipt
from simulator.smpp import codec
from simulator.smpp import pdu as P
from simulator.smpp.constants import MessageState, status_name


def test_pdu_build_equals_the_constructor() -> None:
    fields = dict(source_addr="447700900123", destination_addr="447700900001", esm_class=4, short_message=b"id:1", tlvs=())
    assert P.DeliverSm.build(**fields) == P.DeliverSm(**fields)
    with pytest.raises(TypeError, match="no field 'nope'"):
        P.DeliverSm.build(nope=1)


def test_make_response_keeps_fields_and_refuses_unknown_ones() -> None:
    request = P.SubmitSm(sequence_number=7, destination_addr="447700900001")
    assert request.make_response(message_id="ab") == P.SubmitSmResp(sequence_number=7, message_id="ab")
    assert request.make_response(8) == P.SubmitSmResp(sequence_number=7, command_status=8)
    with pytest.raises(TypeError):
        request.make_response(nope="x")


@pytest.mark.parametrize("with_seconds", [False, True])
@pytest.mark.parametrize("timestamp", [0.0, 1_767_225_599.9999994, 1_767_225_599.9999996, 1_767_225_600.25, 1_800_000_000.0])
def test_receipt_dates_from_timestamps_match_datetimes(timestamp: float, with_seconds: bool) -> None:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    assert _receipt_time(timestamp, with_seconds) == _receipt_time(moment, with_seconds)


def test_receipt_from_timestamps_equals_receipt_from_datetimes() -> None:
    common = dict(
        source_addr_ton=1, source_addr_npi=1, source_addr="447700900123", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="447700900001", state=MessageState.DELIVERED, error_code=0, text="hello", intermediate=False,
    )
    submitted, done = 1_767_225_600.5, 1_767_225_662.75
    by_timestamp = build_receipt("1a2b", submitted_at=submitted, done_at=done, **common)  # type: ignore[arg-type]
    by_datetime = build_receipt(
        "1a2b",
        submitted_at=datetime.fromtimestamp(submitted, tz=timezone.utc),
        done_at=datetime.fromtimestamp(done, tz=timezone.utc),
        **common,  # type: ignore[arg-type]
    )
    assert by_timestamp == by_datetime
    assert codec.decode(codec.encode(by_timestamp.with_sequence(3))) == by_timestamp.with_sequence(3)


def test_tlv_encoding_of_subclassed_values_is_unchanged() -> None:
    assert codec.encode_tlvs(((0x0427, MessageState.DELIVERED),)) == codec.encode_tlvs(((0x0427, 2),)) == b"\x04\x27\x00\x01\x02"
    assert codec.encode_tlvs(((0x001E, "ab"),)) == b"\x00\x1e\x00\x03ab\x00"


def test_real_clock_wakes_on_its_grid_and_never_early() -> None:
    clock = RealClock()
    now = clock.now()
    for offset in (0.0001, 0.0004, 0.00099, 0.5):
        wait = clock.seconds_until(now + offset)
        assert offset - 0.0005 <= wait <= offset + clock.wake_granularity
    assert clock.seconds_until(now - 10) == 0.0


def test_run_due_fires_at_most_max_batch_then_the_rest() -> None:
    clock = VirtualClock(1000.0)
    fired: list[int] = []
    for i in range(5):
        clock.call_at(1000.0, lambda i=i: fired.append(i))
    clock.max_batch = 2
    assert clock.run_due() == 2 and fired == [0, 1]
    assert clock.run_due() == 2 and clock.run_due() == 1 and fired == [0, 1, 2, 3, 4]
    clock.max_batch = None


def test_virtual_advance_fires_everything_even_with_a_batch_limit() -> None:
    clock = VirtualClock(1000.0)
    clock.max_batch = 3
    fired: list[int] = []
    for i in range(10):
        clock.call_at(1000.5, lambda i=i: fired.append(i))
    assert clock.advance(1.0) == 10 and fired == list(range(10))


def test_receipt_outcome_records_the_answer_in_the_timeline() -> None:
    clock = VirtualClock(1000.0)
    message = Message("1a", "acct", P.SubmitSm(sequence_number=1, destination_addr="447700900001"), 1000.0)
    outcome = ReceiptOutcome(message, clock)
    seen: list[bool] = []
    outcome.add_done_callback(lambda o: seen.append(o.done()))
    assert not outcome.done()
    response = P.DeliverSmResp(sequence_number=4, command_status=0x58)
    outcome.set_result(response)
    assert outcome.done() and outcome.result() is response and outcome.exception() is None and seen == [True]
    assert message.transitions()[-1].note == f"receipt answered {status_name(0x58)}"
    assert message.transitions()[-1].pdu is response
    assert not outcome.cancel()

    dropped = ReceiptOutcome(message, clock)
    dropped.set_exception(RuntimeError("expired"))
    assert isinstance(dropped.exception(), RuntimeError) and message.transitions()[-1].note == "receipt dropped: expired"
    forgotten = ReceiptOutcome(message, clock)
    assert forgotten.cancel() and forgotten.cancelled() and forgotten.done()


def test_message_timeline_starts_with_acceptance_whenever_it_is_read() -> None:
    message = Message("1a", "acct", P.SubmitSm(sequence_number=1, destination_addr="447700900001"), 1000.0)
    message.set_state(MessageState.DELIVERED, 1002.0, "delivered")
    notes = [t.note for t in message.transitions()]
    assert notes == ["accepted", "submit_sm_resp sent", "delivered"]
    message.event(1003.0, "later")
    assert [t.note for t in message.transitions()][-1] == "later" and len(message.transitions()) == 4
    assert message.state_history() == [MessageState.ENROUTE, MessageState.DELIVERED]
