"""Conformance checks on the gateway (simulator/conformance.py): each check on hand-built logs, passing and
violating, then end to end through the real server with our own ESME and with smpplib."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.conformance import (
    CHECKS,
    ConformanceOptions,
    check_conformance,
    segment_of,
)
from simulator.network.encoding import build_udh
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.tlv import TLV_BY_NAME, Tlv
from simulator.traffic import BY_PEER, BY_SMSC, CLOSED, CONNECTED, IN, OUT, LoggedPdu, SessionEvent

EPOCH = 1_700_000_000.0  # the network clock of wall time 0 in these logs


class Log:
    """A hand-built PDU log with session events; `wall` times in seconds are given per entry."""

    def __init__(self) -> None:
        self.entries: list[LoggedPdu] = []
        self.events: list[SessionEvent] = []

    def add(
        self,
        wall: float,
        direction: str,
        pdu: P.Pdu,
        session: int = 1,
        system_id: str | None = "gw",
        note: str = "",
        fault: Any = None,
        beyond_window: int | None = None,
    ) -> LoggedPdu:
        """Log one PDU (fault: the FaultAction a rule applied to it; beyond_window: the window the SMSC counted it beyond)."""
        entry = LoggedPdu(len(self.entries) + 1, EPOCH + wall, session, system_id, direction, pdu, note, wall, fault, beyond_window)
        self.entries.append(entry)
        return entry

    def event(self, wall: float, kind: str, session: int = 1, closed_by: str | None = None, system_id: str | None = "gw") -> SessionEvent:
        """Log a session opening or closing after the PDUs so far."""
        event = SessionEvent(EPOCH + wall, wall, session, system_id, kind, len(self.entries), closed_by)
        self.events.append(event)
        return event

    def bind(self, wall: float = 0.0, session: int = 1, seq: int = 1) -> None:
        """Connect and bind as transceiver, answered ESME_ROK."""
        self.event(wall, CONNECTED, session, system_id=None)
        request = P.BindTransceiver(sequence_number=seq, system_id="gw", password="pw")
        self.add(wall, IN, request, session, system_id=None)
        self.add(wall, OUT, request.make_response(system_id="SMSCSIM"), session)

    def request(self, wall: float, pdu: P.Pdu, session: int = 1, note: str = "") -> P.Pdu:
        """A request from the gateway."""
        self.add(wall, IN, pdu, session, note=note)
        return pdu

    def answer(self, wall: float, request: P.Pdu, status: int = 0, session: int = 1, note: str = "", beyond_window: int | None = None) -> None:
        """The SMSC answers a request of the gateway."""
        self.add(wall, OUT, request.make_response(status), session, note=note, beyond_window=beyond_window)

    def submit(self, wall: float, seq: int, status: int | None = 0, session: int = 1, **fields: Any) -> P.Pdu:
        """A submit_sm from the gateway, answered at once unless status is None."""
        pdu = self.request(wall, P.SubmitSm(sequence_number=seq, destination_addr="33612345678", **fields), session)
        if status is not None:
            self.answer(wall, pdu, status, session)
        return pdu

    def unbind(self, wall: float, seq: int, session: int = 1) -> None:
        """The gateway unbinds; the SMSC answers and closes."""
        self.answer(wall, self.request(wall, P.Unbind(sequence_number=seq), session), session=session)
        self.event(wall, CLOSED, session, BY_SMSC)

    def check(self, **options: Any) -> Any:
        """check_conformance over this log."""
        return check_conformance(self.entries, self.events, **options)


def found(report: Any, check: str | None = None) -> list[tuple[str, int, str]]:
    """(check, session, description) of each violation (of one check)."""
    return [(v.check, v.session, v.description) for v in report.violations if check is None or v.check == check]


# --- window ------------------------------------------------------------------------------------


def test_window_kept_passes() -> None:
    log = Log()
    log.bind()
    held = [log.submit(0.1 + i / 100, seq=2 + i, status=None) for i in range(3)]  # 3 unanswered: the window
    for pdu in held:
        log.answer(0.2, pdu)
    log.submit(0.3, seq=5)
    report = log.check(window=3)
    assert report.passed, report.describe()
    assert "window" in report.checks


def test_window_exceeded_is_reported_with_the_count() -> None:
    log = Log()
    log.bind()
    for i in range(4):
        log.submit(0.1 + i / 100, seq=2 + i, status=None)
    report = log.check(window=3)
    assert found(report) == [("window", 1, "submit_sm seq=5 (#6) sent with 3 requests already unanswered (window 3)")]
    assert [e.index for e in report.violations[0].pdus] == [3, 4, 5, 6]


def test_window_counted_by_the_smsc_in_one_read_is_reported() -> None:
    # Requests of one TCP read are handled one by one: the log shows each answered before the next, but
    # the session counted them on receipt and refused the one beyond the window, noting why.
    log = Log()
    log.bind()
    log.submit(0.1, seq=2)
    refused = log.request(0.1, P.SubmitSm(sequence_number=3))
    log.answer(0.1, refused, S.ESME_RMSGQFUL, note="rejected: peer exceeded the window of 1 unanswered requests", beyond_window=1)
    report = log.check(window=1, checks=["window"])
    assert found(report) == [
        ("window", 1, "submit_sm seq=3 (#5) arrived while 1 requests were unanswered (counted by the SMSC on receipt; window 1)")
    ]
    # A larger window than the SMSC applied: not a violation of that one.
    assert log.check(window=2, checks=["window"]).passed


def test_window_per_account_and_unknown_account_not_checked() -> None:
    log = Log()
    log.bind()
    log.submit(0.1, seq=2, status=None)
    log.submit(0.1, seq=3, status=None)
    assert found(log.check(window={"gw": 1}, checks=["window"]))[0][2].startswith("submit_sm seq=3 (#4) sent with 1")
    assert log.check(window={"other": 1}, checks=["window"]).passed


# --- sequence numbers ------------------------------------------------------------------------------


def test_sequence_numbers_unique_and_in_range_pass() -> None:
    log = Log()
    log.bind()
    log.submit(0.1, seq=2)
    log.submit(0.2, seq=2)  # reused after its answer: allowed
    log.submit(0.3, seq=0x7FFFFFFF)
    assert log.check(checks=["sequence_numbers"]).passed


def test_sequence_number_reused_while_unanswered_and_out_of_range() -> None:
    log = Log()
    log.bind()
    log.submit(0.1, seq=7, status=None)
    log.submit(0.2, seq=7, status=None)
    log.submit(0.3, seq=0)
    log.submit(0.4, seq=0x80000000)
    assert found(log.check(checks=["sequence_numbers"])) == [
        ("sequence_numbers", 1, "submit_sm seq=7 (#4) reuses the sequence number of submit_sm seq=7 (#3), still unanswered"),
        ("sequence_numbers", 1, "submit_sm seq=0 (#5): sequence_number outside 0x00000001..0x7FFFFFFF"),
        ("sequence_numbers", 1, "submit_sm seq=2147483648 (#7): sequence_number outside 0x00000001..0x7FFFFFFF"),
    ]


# --- throttle backoff --------------------------------------------------------------------------------


def test_backoff_respected_passes() -> None:
    log = Log()
    log.bind()
    log.submit(1.0, seq=2, status=S.ESME_RTHROTTLED)
    log.submit(1.15, seq=3)
    log.submit(1.2, seq=4, status=S.ESME_RMSGQFUL)
    log.request(1.21, P.EnquireLink(sequence_number=5))  # not a submit: allowed during the pause
    log.submit(1.31, seq=6)
    assert log.check(checks=["throttle_backoff"], window=1).passed


def test_backoff_too_soon_reported_with_times() -> None:
    log = Log()
    log.bind()
    log.submit(1.0, seq=2, status=S.ESME_RTHROTTLED)
    log.submit(1.04, seq=3)
    log.submit(1.06, seq=4)
    log.submit(1.2, seq=5)
    report = log.check(checks=["throttle_backoff"], window=1)
    assert found(report) == [
        (
            "throttle_backoff",
            1,
            "submit_sm seq=3 (#5) sent 40 ms after ESME_RTHROTTLED (#4); the gateway must pause at least 100 ms "
            "(1 more submit(s) within the pause)",
        )
    ]
    assert report.violations[0].wall == pytest.approx(1.04)
    # A shorter minimum pause: nothing wrong.
    assert log.check(checks=["throttle_backoff"], window=1, throttle_backoff=0.03).passed
    # Other statuses can count as throttling too.
    assert log.check(checks=["throttle_backoff"], window=1, throttle_statuses=["ESME_RSYSERR"]).passed


def test_backoff_excuses_requests_already_on_their_way() -> None:
    # With a window of 3 the gateway may have had 2 more submits in flight when the throttle response
    # left; the third one after it was sent after it saw the response.
    log = Log()
    log.bind()
    log.submit(1.0, seq=2, status=S.ESME_RTHROTTLED)
    log.submit(1.001, seq=3)
    log.submit(1.002, seq=4)
    assert log.check(checks=["throttle_backoff"], window=3).passed
    log.submit(1.003, seq=5)
    assert [v[2].split(" sent")[0] for v in found(log.check(checks=["throttle_backoff"], window=3))] == ["submit_sm seq=5 (#9)"]


# --- deliver_sm responses ------------------------------------------------------------------------------


def test_deliveries_answered_in_time_pass() -> None:
    log = Log()
    log.bind()
    deliver = P.DeliverSm(sequence_number=1, source_addr="33612345678", short_message=b"hi")
    log.add(1.0, OUT, deliver)
    log.add(1.2, IN, deliver.make_response())
    link = P.EnquireLink(sequence_number=2)
    log.add(2.0, OUT, link)
    log.add(2.01, IN, P.GenericNack(sequence_number=2))  # a generic_nack is an answer
    assert log.check(checks=["deliver_response"], now=10.0).passed


def test_deliveries_slow_wrong_unanswered_reported() -> None:
    log = Log()
    log.bind()
    slow = P.DeliverSm(sequence_number=1)
    log.add(1.0, OUT, slow)
    log.add(2.5, IN, slow.make_response())
    wrong = P.DeliverSm(sequence_number=2)
    log.add(3.0, OUT, wrong)
    log.add(3.1, IN, P.SubmitSmResp(sequence_number=2))
    pending = P.DataSm(sequence_number=3)
    log.add(4.0, OUT, pending)
    recent = P.DeliverSm(sequence_number=4)
    log.add(9.5, OUT, recent)  # still within its second at `now`: not a violation yet
    report = log.check(checks=["deliver_response"], now=10.0)
    assert found(report) == [
        ("deliver_response", 1, "deliver_sm seq=1 (#3) answered after 1500 ms (limit 1000 ms)"),
        ("deliver_response", 1, "deliver_sm seq=2 (#5) answered with submit_sm_resp"),
        ("deliver_response", 1, "data_sm seq=3 (#7) not answered after 6000 ms (limit 1000 ms)"),
    ]
    assert log.check(checks=["deliver_response"], now=10.0, deliver_response_ms=7000).violations[0].description.endswith(
        "answered with submit_sm_resp"
    )


def test_fault_actions_on_logged_pdus_excuse_what_the_simulator_did_itself() -> None:
    """The fault a rule applied is on the logged PDU: a delivery the simulator split is not the
    gateway's slow answer, and a submit it chose never to answer stops holding the window after
    unanswered_timeout. The notes say the same in words, but the checks do not read them."""
    from simulator.faults import FaultAction, Split

    log = Log()
    log.bind()
    split = P.DeliverSm(sequence_number=1)
    log.add(1.0, OUT, split, note="anything", fault=FaultAction(split=Split(octets=4, gap="1s")))
    log.add(4.0, IN, split.make_response())
    plain = P.DeliverSm(sequence_number=2)
    log.add(5.0, OUT, plain, note="fault rule 1: split in 4-octet writes")  # a note alone changes nothing
    log.add(7.0, IN, plain.make_response())
    assert found(log.check(checks=["deliver_response"], now=10.0)) == [
        ("deliver_response", 1, "deliver_sm seq=2 (#5) answered after 2000 ms (limit 1000 ms)")
    ]

    silenced = Log()
    silenced.bind()
    silenced.add(1.0, IN, P.SubmitSm(sequence_number=2, destination_addr="33612345678"), fault=FaultAction(respond=False))
    after = silenced.request(40.0, P.SubmitSm(sequence_number=3, destination_addr="33612345678"))
    silenced.answer(40.0, after)
    assert silenced.check(checks=["window"], window=1, unanswered_timeout=30).passed
    assert not silenced.check(checks=["window"], window=1, unanswered_timeout=60).passed


def test_delivery_unanswered_when_the_connection_closes() -> None:
    log = Log()
    log.bind()
    log.add(1.0, OUT, P.DeliverSm(sequence_number=1))
    log.event(1.2, CLOSED, closed_by=BY_PEER)
    log.bind(2.0, session=2)
    log.add(3.0, OUT, P.DeliverSm(sequence_number=1), session=2)
    log.event(3.2, CLOSED, session=2, closed_by=BY_SMSC)  # the SMSC closed within the limit: not the gateway's fault
    report = log.check(checks=["deliver_response"], now=10.0)
    assert found(report) == [
        ("deliver_response", 1, "deliver_sm seq=1 (#3) never answered: the gateway closed the connection 200 ms after it")
    ]


# --- enquire_link --------------------------------------------------------------------------------------


def test_enquire_links_within_the_interval_pass() -> None:
    log = Log()
    log.bind(0.0)
    for i, wall in enumerate((9.0, 19.5, 30.0)):
        link = log.request(wall, P.EnquireLink(sequence_number=2 + i))
        log.answer(wall, link)
    log.unbind(40.5, seq=9)
    report = log.check(checks=["enquire_link"], enquire_link_interval=10, enquire_link_tolerance=1)
    assert report.passed, report.describe()


def test_enquire_link_gaps_reported() -> None:
    log = Log()
    log.bind(0.0)
    link = log.request(5.0, P.EnquireLink(sequence_number=2))
    log.answer(5.0, link)
    link = log.request(20.0, P.EnquireLink(sequence_number=3))
    log.answer(20.0, link)
    report = log.check(checks=["enquire_link"], enquire_link_interval=10, enquire_link_tolerance=1, now=45.0)
    assert found(report) == [
        ("enquire_link", 1, "no enquire_link from the gateway for 15.0 s, from enquire_link seq=2 (#3) to its next enquire_link (interval 10 s + tolerance 1 s)"),
        ("enquire_link", 1, "no enquire_link from the gateway for 25.0 s, from enquire_link seq=3 (#5) to now (still bound) (interval 10 s + tolerance 1 s)"),
    ]
    # Not run at all without an interval.
    default = log.check(now=45.0)
    assert "enquire_link" not in default.checks and default.skipped["enquire_link"] == "no enquire_link_interval given"


def test_enquire_link_not_expected_before_bind_or_after_unbind() -> None:
    log = Log()
    log.event(0.0, CONNECTED)
    bind = log.request(30.0, P.BindTransmitter(sequence_number=1, system_id="gw"))
    log.answer(30.0, bind)
    log.unbind(35.0, seq=2)
    assert log.check(checks=["enquire_link"], enquire_link_interval=10, now=100.0).passed


# --- unbind before close -----------------------------------------------------------------------------


def test_unbind_before_close_passes_and_smsc_closes_are_not_the_gateways() -> None:
    log = Log()
    log.bind(0.0)
    log.unbind(1.0, seq=2)
    log.bind(2.0, session=2)
    log.event(3.0, CLOSED, session=2, closed_by=BY_SMSC)  # e.g. a disconnect the test asked for
    log.event(4.0, CONNECTED, session=3)
    refused = log.request(4.0, P.BindTransceiver(sequence_number=1, system_id="gw", password="bad"), session=3)
    log.answer(4.0, refused, S.ESME_RINVPASWD, session=3)
    log.event(4.1, CLOSED, session=3, closed_by=BY_PEER)  # never bound: nothing to unbind
    log.bind(5.0, session=4)
    log.add(6.0, OUT, P.Unbind(sequence_number=1), session=4)  # the SMSC unbinds; the gateway answers
    log.add(6.1, IN, P.UnbindResp(sequence_number=1), session=4)
    log.event(6.2, CLOSED, session=4, closed_by=BY_PEER)
    assert log.check(checks=["unbind_before_close"]).passed


def test_close_without_unbind_reported() -> None:
    log = Log()
    log.bind(0.0)
    log.submit(0.5, seq=2)
    log.event(1.0, CLOSED, closed_by=BY_PEER)
    log.bind(2.0, session=2)
    log.request(2.5, P.Unbind(sequence_number=2), session=2)  # unbind sent, but closed before the answer
    log.event(2.6, CLOSED, session=2, closed_by=BY_PEER)
    report = log.check(checks=["unbind_before_close"])
    assert found(report) == [
        ("unbind_before_close", 1, "the gateway closed a bound connection without unbinding"),
        ("unbind_before_close", 2, "the gateway closed the connection before its unbind was answered"),
    ]
    assert report.violations[0].wall == 1.0


# --- receipts on segments -----------------------------------------------------------------------------


def udh_part(ref: int, total: int, seq: int, receipt: bool, destination: str = "33612345678") -> dict[str, Any]:
    """submit_sm fields of one UDH segment."""
    return {
        "esm_class": 0x40,
        "short_message": build_udh(ref, total, seq) + b"part",
        "registered_delivery": 1 if receipt else 0,
        "destination_addr": destination,
    }


def sar_part(ref: int, total: int, seq: int, receipt: bool) -> dict[str, Any]:
    """submit_sm fields of one SAR segment."""
    tlvs = (
        Tlv(TLV_BY_NAME["sar_msg_ref_num"].tag, ref),
        Tlv(TLV_BY_NAME["sar_total_segments"].tag, total),
        Tlv(TLV_BY_NAME["sar_segment_seqnum"].tag, seq),
    )
    return {"short_message": b"part", "registered_delivery": 1 if receipt else 0, "tlvs": tlvs}


def send_parts(log: Log, parts: list[dict[str, Any]], first_seq: int = 2) -> None:
    for i, fields in enumerate(parts):
        pdu = P.SubmitSm(sequence_number=first_seq + i, **fields)
        log.request(1.0 + i / 10, pdu)
        log.answer(1.0 + i / 10, pdu)


def test_segment_of_reads_udh_and_sar() -> None:
    assert segment_of(P.SubmitSm(**udh_part(7, 3, 2, True))) == ("udh8", 7, 3, 2)
    assert segment_of(P.SubmitSm(esm_class=0x40, short_message=build_udh(300, 2, 1, ref_bits=16) + b"x")) == ("udh16", 300, 2, 1)
    assert segment_of(P.SubmitSm(**sar_part(9, 2, 2, False))) == ("sar", 9, 2, 2)
    assert segment_of(P.SubmitSm(short_message=b"plain")) is None


@pytest.mark.parametrize(
    ("policy", "receipts", "problem"),
    [
        ("all", [True, True, True], None),
        ("all", [True, False, True], "no receipt asked on segment(s) 2"),
        ("last", [False, False, True], None),
        ("last", [True, True, True], "a receipt asked on segment(s) 1, 2"),
        ("last", [True, False, False], "no receipt asked on segment(s) 3; a receipt asked on segment(s) 1"),
        ("first", [True, False, False], None),
        ("first", [False, False, True], "no receipt asked on segment(s) 1; a receipt asked on segment(s) 3"),
        ("any", [False, True, False], None),
        ("any", [False, False, False], "no receipt asked on segment(s) 1, 2, 3"),
    ],
)
def test_segment_receipt_policies(policy: str, receipts: list[bool], problem: str | None) -> None:
    for kind, make in (("udh8", udh_part), ("sar", sar_part)):
        log = Log()
        log.bind()
        send_parts(log, [make(5, 3, seq, receipt) for seq, receipt in enumerate(receipts, start=1)])
        report = log.check(checks=["segment_receipts"], receipts_on=policy)
        if problem is None:
            assert report.passed, report.describe()
        else:
            destination = "33612345678" if kind == "udh8" else ""
            assert found(report) == [
                ("segment_receipts", 1, f"long message to {destination} ({kind} ref 5, 3 segments) breaks receipts_on={policy}: {problem}")
            ]
            assert [e.sequence_number for e in report.violations[0].pdus] == [2, 3, 4]


def test_segment_receipts_count_accepted_parts_and_split_reused_references() -> None:
    log = Log()
    log.bind()
    # Part 2 refused (throttled) then sent again and accepted: one message, judged once.
    first = P.SubmitSm(sequence_number=2, **udh_part(1, 2, 1, False))
    log.request(1.0, first)
    log.answer(1.0, first)
    refused = P.SubmitSm(sequence_number=3, **udh_part(1, 2, 2, True))
    log.request(1.1, refused)
    log.answer(1.1, refused, S.ESME_RTHROTTLED)
    again = P.SubmitSm(sequence_number=4, **udh_part(1, 2, 2, True))
    log.request(2.0, again)
    log.answer(2.0, again)
    # The same reference again later: another message, with receipts on both parts.
    send_parts(log, [udh_part(1, 2, 1, True), udh_part(1, 2, 2, True)], first_seq=5)
    report = log.check(checks=["segment_receipts"], receipts_on="last")
    assert found(report) == [
        ("segment_receipts", 1, "long message to 33612345678 (udh8 ref 1, 2 segments) breaks receipts_on=last: a receipt asked on segment(s) 1")
    ]
    assert [e.sequence_number for e in report.violations[0].pdus] == [5, 6]


# --- options and report --------------------------------------------------------------------------------


def test_options_are_validated_naming_the_option() -> None:
    with pytest.raises(ValueError, match="checks: unknown check 'windw'"):
        ConformanceOptions(checks=("windw",))
    with pytest.raises(ValueError, match="receipts_on: must be one of all, first, last, any"):
        ConformanceOptions(receipts_on="every")
    with pytest.raises(ValueError, match="checks: enquire_link needs enquire_link_interval"):
        ConformanceOptions(checks=("enquire_link",))
    with pytest.raises(ValueError, match="window: must be a whole number"):
        ConformanceOptions(window=0)
    with pytest.raises(ValueError, match="deliver_response_ms"):
        ConformanceOptions(deliver_response_ms=0)
    with pytest.raises(ValueError, match="deliver_response_ms"):
        ConformanceOptions(deliver_response_ms=float("nan"))
    with pytest.raises(ValueError, match="unanswered_timeout"):
        ConformanceOptions(unanswered_timeout=-1)


def test_report_describes_every_violation_and_filters_by_account() -> None:
    log = Log()
    log.bind()
    log.submit(0.1, seq=3, status=None)
    log.submit(0.2, seq=3, status=None)
    log.event(1.0, CLOSED, closed_by=BY_PEER)
    log.event(0.0, CONNECTED, session=2, system_id="other")
    report = log.check(window=1)
    assert report.checks == ("window", "throttle_backoff", "deliver_response", "sequence_numbers", "unbind_before_close")
    assert [v.check for v in report.violations] == ["sequence_numbers", "window", "unbind_before_close"]
    text = report.describe()
    assert text.startswith("gateway not conformant: 3 violation(s) (1 window, 1 sequence_numbers, 1 unbind_before_close); 4 PDUs on 2 session(s)")
    assert "[sequence_numbers] s1(gw) " in text and "    #4 " in text
    assert report.to_dict()["violations"][0]["pdus"][0]["index"] == 3
    assert log.check(window=1, system_id="other").passed
    assert set(CHECKS) >= set(report.checks)


# --- end to end: the real server, our ESME and smpplib -------------------------------------------------

import time  # noqa: E402 - the end-to-end part's own imports

import smpplib.client  # noqa: E402
import smpplib.consts  # noqa: E402
import smpplib.gsm  # noqa: E402
import smpplib.smpp  # noqa: E402

GATEWAY = {"system_id": "gw", "password": "pw", "window": 2}
FR_MOBILE = "+33612345678"  # on the default network; MOs from it to 31244 reach smppclient1


def smpplib_client(smsc: Any, system_id: str = "gw", password: str = "pw") -> smpplib.client.Client:
    """An smpplib client (the independent reference ESME) bound as transceiver."""
    client = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id=system_id, password=password)
    return client


def drop(client: smpplib.client.Client) -> None:
    """Close smpplib's socket without unbinding (a gateway that just goes away)."""
    client._socket.close()
    client._socket = None
    client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED


def test_our_esme_is_conformant_end_to_end(smsc: Any) -> None:
    esme = smsc.esme()
    for i in range(3):
        esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=f"hello {i}".encode())
    esme.enquire_link()
    (answer,) = smsc.inject_mo(FR_MOBILE, "31244", "hi")  # our ESME answers deliver_sm at once
    assert answer.command_status == 0
    session = smsc.bound()[0]["id"]
    esme.close()  # unbinds first
    closed = smsc.wait_closed(session)
    assert closed.closed_by == "smsc"  # the SMSC closes after answering the unbind
    report = smsc.assert_conformant(enquire_link_interval=30)
    assert report.checks == ("window", "throttle_backoff", "deliver_response", "enquire_link", "sequence_numbers", "unbind_before_close")
    assert report.sessions == 1 and report.pdus >= 12
    assert [e.kind for e in smsc.session_events(session)] == ["connected", "closed"]


def test_smpplib_is_conformant_and_long_message_receipts_follow_the_policy(smsc: Any) -> None:
    client = smpplib_client(smsc, smsc.system_id, smsc.password)
    parts, encoding, msg_type = smpplib.gsm.make_parts("x" * 200)
    for part in parts:
        client.send_message(
            source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=part,
            data_coding=encoding, esm_class=msg_type, registered_delivery=1,
        )
        client.read_once()  # its submit_sm_resp
    smsc.inject_mo(FR_MOBILE, "31244", "hi", wait=False)
    client.read_once()  # the deliver_sm, answered by smpplib
    smsc.wait_for("deliver_sm_resp", direction="in")
    client.unbind()
    client.disconnect()
    smsc.wait_closed(system_id=smsc.system_id)
    smsc.assert_conformant(receipts_on="all")
    report = smsc.conformance(receipts_on="last", checks=["segment_receipts"])
    assert found(report) == [
        ("segment_receipts", 1, f"long message to {FR_MOBILE} (udh8 ref {report.violations[0].pdus[0].pdu.short_message[3]}, "
         "2 segments) breaks receipts_on=last: a receipt asked on segment(s) 1")
    ]
    with pytest.raises(AssertionError, match=r"gateway not conformant: 1 violation\(s\) \(1 segment_receipts\)"):
        smsc.assert_conformant(receipts_on="last")


@pytest.mark.smsc(network="open", accounts=[GATEWAY])
def test_smpplib_beyond_its_window_is_caught(smsc: Any) -> None:
    smsc.expect("submit_sm", respond=False, times=2)  # the SMSC sits on the first two submits
    client = smpplib_client(smsc)
    sent = [client.send_message(destination_addr="33612345678", short_message=b"hi") for _ in range(3)]
    # The SMSC accepts the third (it does not count requests it chose never to answer)...
    smsc.wait_for("submit_sm_resp", status="ESME_ROK")
    report = smsc.conformance(checks=["window"])
    # ...but the gateway sent it while its two first were unanswered, well within unanswered_timeout.
    assert found(report) == [("window", 1, f"submit_sm seq={sent[2].sequence} (#5) sent with 2 requests already unanswered (window 2)")]
    assert smsc.conformance(checks=["window"], unanswered_timeout=0).passed  # a gateway that gave up at once
    drop(client)


@pytest.mark.smsc(network="open", accounts=[GATEWAY])
def test_smpplib_reusing_a_sequence_number_and_closing_without_unbind_is_caught(smsc: Any) -> None:
    smsc.expect("submit_sm", respond=False, times=1)
    client = smpplib_client(smsc)
    first = client.send_message(destination_addr="33612345678", short_message=b"one")
    again = smpplib.smpp.make_pdu("submit_sm", client=client, destination_addr="33612345678", short_message=b"two")
    again.sequence = first.sequence
    client.send_pdu(again)
    smsc.wait_for("submit_sm_resp", direction="out")  # the second one is answered
    drop(client)
    assert smsc.wait_closed(system_id="gw").closed_by == "peer"
    report = smsc.conformance()
    assert found(report) == [
        ("sequence_numbers", 1, f"submit_sm seq={first.sequence} (#4) reuses the sequence number of submit_sm seq={first.sequence} (#3), still unanswered"),
        ("unbind_before_close", 1, "the gateway closed a bound connection without unbinding"),
    ]
    with pytest.raises(AssertionError, match=r"\[unbind_before_close\] s1\(gw\)"):
        smsc.assert_conformant()


@pytest.mark.smsc(network="open", accounts=[GATEWAY])
def test_smsc_initiated_close_is_not_the_gateways_fault(smsc: Any) -> None:
    client = smpplib_client(smsc)
    assert smsc.disconnect(system_id="gw") == 1
    assert smsc.wait_closed(system_id="gw").closed_by == "smsc"
    smsc.assert_conformant()
    client.disconnect()


def test_deliver_sm_left_unanswered_and_slow_answers_are_caught(smsc: Any) -> None:
    client = smpplib_client(smsc, smsc.system_id, smsc.password)
    smsc.inject_mo(FR_MOBILE, "31244", "first", wait=False)
    client.read_once()  # smpplib answers it
    smsc.wait_for("deliver_sm_resp", direction="in")
    # No gateway answers in a microsecond: with that limit the answer is late.
    late = smsc.conformance(checks=["deliver_response"], deliver_response_ms=0.001)
    assert [v.description.split(" answered after")[0] for v in late.violations] == ["deliver_sm seq=1 (#3)"]
    assert smsc.conformance(checks=["deliver_response"]).passed
    smsc.inject_mo(FR_MOBILE, "31244", "second", wait=False)
    smsc.wait_for("deliver_sm", direction="out", text="second")
    drop(client)  # without reading (or answering) it
    smsc.wait_closed(system_id=smsc.system_id)
    report = smsc.conformance(checks=["deliver_response"])
    assert len(report.violations) == 1
    assert report.violations[0].description.startswith("deliver_sm seq=2 (#5) never answered: the gateway closed the connection")
    smsc.reset()  # the MO went back to the queue: nobody is left to take it


@pytest.mark.smsc(network="open", accounts=[{"system_id": "gw", "password": "pw", "window": 1}])
def test_resubmitting_at_once_after_a_throttle_and_a_silent_link_are_caught(smsc: Any) -> None:
    # With a window of 1 no other submit can have been on its way when the refusal left.
    smsc.expect("submit_sm", status="ESME_RTHROTTLED")
    esme = smsc.esme()
    refused = esme.submit_sm(destination_addr="33612345678", short_message=b"hi", check=False)
    assert refused.command_status == S.ESME_RTHROTTLED
    esme.submit_sm(destination_addr="33612345678", short_message=b"hi")  # at once: no pause
    report = smsc.conformance(checks=["throttle_backoff"], throttle_backoff=10)
    assert len(report.violations) == 1
    assert "after ESME_RTHROTTLED (#4); the gateway must pause at least 10000 ms" in report.violations[0].description
    # Our ESME sends no enquire_link on its own within seconds: ten seconds from now it would have been silent too long.
    silent = smsc.conformance(checks=["enquire_link"], enquire_link_interval=5, enquire_link_tolerance=0, now=time.monotonic() + 10)
    assert len(silent.violations) == 1 and "to now (still bound)" in silent.violations[0].description


# --- scenarios (local and through the control API) and GET /conformance ----------------------------

from simulator.config import default_config  # noqa: E402
from simulator.harness.esme import SyncEsme  # noqa: E402
from simulator.harness.scenario import parse_scenarios  # noqa: E402
from simulator.harness.scenario_runner import RemoteTarget, run_scenario  # noqa: E402
from tests.test_control_api import _running  # noqa: E402

RECEIPTS_SCENARIO = """
name: receipts-{policy}
description: A two-part message with a receipt asked on each part, judged against receipts_on {policy}.
actors:
  shop: {{}}
stages:
  - name: send
    steps:
      - submit: {{actor: shop, source_addr: SIMULATOR, destination_addr: "+33612345678", text: "{text}", split: udh, registered_delivery: 1}}
      - expect_conformance: {{account: smppclient1, receipts_on: {policy}}}
"""


def receipts_scenario(policy: str) -> Any:
    """The scenario above for one receipts_on policy."""
    return parse_scenarios(RECEIPTS_SCENARIO.format(policy=policy, text="x" * 200), "receipts.yaml")[0]


@pytest.mark.parametrize("remote", [False, True], ids=["local", "remote"])
def test_expect_conformance_step_passes_and_fails_with_the_report(remote: bool) -> None:
    def run(policy: str) -> Any:
        if not remote:
            return run_scenario(receipts_scenario(policy))
        with _running(default_config()) as (threaded, _, client):
            target = RemoteTarget(f"{threaded.host}:{threaded.port}", f"http://127.0.0.1:{client.connection.port}")
            return run_scenario(receipts_scenario(policy), target=target)

    assert run("all").passed
    failure = run("last").failure
    assert failure is not None and failure.step == "expect_conformance" and failure.line == 10
    assert failure.expected == "smppclient1's sessions conformant (window, throttle_backoff, deliver_response, sequence_numbers, unbind_before_close, segment_receipts)"
    assert failure.observed.startswith("gateway not conformant: 1 violation(s) (1 segment_receipts)")
    assert "breaks receipts_on=last: a receipt asked on segment(s) 1" in failure.observed


def test_get_conformance_reports_and_validates_its_query() -> None:
    with _running(default_config()) as (threaded, _, client):
        with SyncEsme(threaded.host, threaded.port) as esme:
            esme.bind("transceiver", "smppclient1", "password")
            status, report = client.get("/conformance?checks=window,sequence_numbers&throttle_backoff=500ms")
            assert status == 200 and report["passed"] and report["checks"] == ["window", "sequence_numbers"]
            assert report["sessions"] == 1 and report["pdus"] == 2
        gateway = smpplib.client.Client(threaded.host, threaded.port, timeout=5, allow_unknown_opt_params=True)
        gateway.connect()
        gateway.bind_transmitter(system_id="smppclient1", password="password")
        drop(gateway)
        log = threaded.server.pdu_log
        with log.changed:
            assert log.changed.wait_for(lambda: len([e for e in log.session_events() if e.kind == "closed"]) == 2, 5)
        status, report = client.get("/conformance?account=smppclient1&enquire_link_interval=30s")
        assert status == 200 and not report["passed"]
        assert [(v["check"], v["session"], v["description"]) for v in report["violations"]] == [
            ("unbind_before_close", 2, "the gateway closed a bound connection without unbinding")
        ]
        assert report["report"].startswith("gateway not conformant: 1 violation(s) (1 unbind_before_close)")
        for query, field in [
            ("checks=windw", "checks"),
            ("receipts_on=every", "receipts_on"),
            ("throttle_statuses=NOPE", "throttle_statuses"),
            ("window=0", "window"),
            ("throttle_backoff=soon", "throttle_backoff"),
            ("bogus=1", "bogus"),
        ]:
            status, error = client.get(f"/conformance?{query}")
            assert status == 400 and error.get("field") == field, (query, error)


def test_kannel_unbinds_before_it_stops(smsc: Any, kannel: Any) -> None:
    # Kannel (the gateway these checks are for) stopping gracefully: unbind, answered, then the close.
    smsc.wait_bound(smsc.system_id)
    kannel.stop()
    assert smsc.wait_closed(system_id=smsc.system_id, timeout=15).closed_by == "smsc"  # we close after answering its unbind
    smsc.wait_for("unbind", direction="in")
    report = smsc.assert_conformant(enquire_link_interval=30)
    assert "unbind_before_close" in report.checks


@pytest.mark.parametrize("reaction", [None, "ESME_RTHROTTLED"], ids=["session-refusal", "window_reaction"])
def test_requests_of_one_read_beyond_the_window_are_reported_from_a_real_session(reaction: str | None, smsc_factory: Any) -> None:
    """smpplib sends three submit_sm in one write on a window of 2: the SMSC counts the third beyond the
    window on receipt (the session refuses it, or the account's window_reaction answers it), although the
    log shows the first two answered before it; the check reads that from the logged PDU, not a note."""
    account = {**GATEWAY, **({"window_reaction": reaction} if reaction else {})}
    smsc = smsc_factory(network="open", accounts=[account], strict=False)
    client = smpplib_client(smsc)
    pdus = [smpplib.smpp.make_pdu("submit_sm", client=client, destination_addr="33612345678", short_message=b"hi") for _ in range(3)]
    client._socket.sendall(b"".join(p.generate() for p in pdus))
    statuses = sorted(client.read_pdu().status for _ in range(3))
    assert statuses == [0, 0, int(S.ESME_RTHROTTLED if reaction else S.ESME_RMSGQFUL)]
    report = smsc.conformance(checks=["window"])
    assert [v.description.split(" arrived")[1] for v in report.violations] == [
        " while 2 requests were unanswered (counted by the SMSC on receipt; window 2)"
    ]
    client.unbind()
    client.disconnect()
