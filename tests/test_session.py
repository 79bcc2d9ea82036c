"""Session state machine: transition table, windows, sequence numbers, version negotiation, timers."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from simulator.clock import VirtualClock
from simulator.smpp import codec
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.session import (
    ProtocolError,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    ResponseTimeout,
    Role,
    Session,
    SessionConfig,
    SessionError,
    SessionState,
    TimerFired,
)

ST = SessionState


def pair(clock: VirtualClock | None = None, **config: object) -> tuple[Session, Session, VirtualClock]:
    clock = clock or VirtualClock()
    smsc = Session(Role.SMSC, clock, SessionConfig(**config))
    esme = Session(Role.ESME, clock, SessionConfig(**config))
    return smsc, esme, clock


def exchange(sender: Session, receiver: Session) -> list:
    return receiver.receive_data(sender.data_to_send())


def bind(smsc: Session, esme: Session, cls: type[P.Pdu] = P.BindTransceiver, version: int = 0x34) -> P.Pdu:
    esme.send(cls(system_id="a", password="b", interface_version=version))
    (event,) = exchange(esme, smsc)
    assert isinstance(event, RequestReceived)
    smsc.send(event.pdu.make_response(system_id="SMSC"))
    events = exchange(smsc, esme)
    return next(e.pdu for e in events if isinstance(e, ResponseReceived))


@pytest.mark.parametrize(
    ("cls", "state"),
    [(P.BindTransmitter, ST.BOUND_TX), (P.BindReceiver, ST.BOUND_RX), (P.BindTransceiver, ST.BOUND_TRX)],
)
def test_bind_moves_both_ends_to_the_bound_state(cls: type[P.Pdu], state: SessionState) -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme, cls)
    assert smsc.state is state and esme.state is state


def test_failed_bind_leaves_session_open_and_a_retry_works() -> None:
    smsc, esme, _ = pair()
    esme.send(P.BindTransmitter(system_id="a", password="bad"))
    (event,) = exchange(esme, smsc)
    smsc.send(event.pdu.make_response(S.ESME_RINVPASWD))
    (response,) = exchange(smsc, esme)
    assert response.pdu.command_status == S.ESME_RINVPASWD
    assert smsc.state is ST.OPEN and esme.state is ST.OPEN
    bind(smsc, esme)
    assert smsc.state is ST.BOUND_TRX


def test_submit_before_bind_is_rejected_with_invbndsts() -> None:
    smsc, _, _ = pair()
    events = smsc.receive_data(codec.encode(P.SubmitSm(sequence_number=9, destination_addr="1")))
    assert isinstance(events[0], RequestRejected) and events[0].status == S.ESME_RINVBNDSTS
    reply = codec.decode(smsc.data_to_send())
    assert isinstance(reply, P.SubmitSmResp) and reply.sequence_number == 9 and reply.command_status == S.ESME_RINVBNDSTS


def test_bind_when_bound_is_answered_alybnd() -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme)
    events = smsc.receive_data(codec.encode(P.BindTransmitter(sequence_number=50, system_id="a")))
    assert events[0].status == S.ESME_RALYBND
    assert codec.decode(smsc.data_to_send()).command_status == S.ESME_RALYBND


@pytest.mark.parametrize(
    ("bind_cls", "request_pdu", "status"),
    [
        (P.BindReceiver, P.SubmitSm(sequence_number=3, destination_addr="1"), S.ESME_RINVBNDSTS),
        (P.BindReceiver, P.DataSm(sequence_number=3, destination_addr="1"), S.ESME_RINVBNDSTS),
        (P.BindTransmitter, P.DeliverSm(sequence_number=3), S.ESME_RINVCMDID),
        (P.BindTransceiver, P.AlertNotification(sequence_number=3), S.ESME_RINVCMDID),
    ],
)
def test_operations_not_allowed_in_state(bind_cls: type[P.Pdu], request_pdu: P.Pdu, status: int) -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme, bind_cls)
    events = smsc.receive_data(codec.encode(request_pdu))
    assert isinstance(events[0], RequestRejected) and events[0].status == status


def test_v33_peer_gets_no_tlvs_and_no_data_sm() -> None:
    smsc, esme, _ = pair()
    response = bind(smsc, esme, version=0x33)
    assert response.tlvs == ()
    events = smsc.receive_data(codec.encode(P.DataSm(sequence_number=4, destination_addr="1")))
    assert events[0].status == S.ESME_RINVCMDID
    smsc.data_to_send()
    smsc.send(P.DeliverSm(source_addr="1", short_message=b"x").with_tlv("user_message_reference", 7))
    delivered = codec.decode(smsc.data_to_send())
    assert delivered.tlvs == ()


@pytest.mark.parametrize(("version", "expected"), [(0x34, 0x34), (0x50, 0x50), (0x60, 0x50)])
def test_sc_interface_version_is_negotiated(version: int, expected: int) -> None:
    smsc, esme, _ = pair()
    response = bind(smsc, esme, version=version)
    assert response.tlv("sc_interface_version") == expected


def test_broadcast_needs_v50() -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme, version=0x34)
    broadcast = P.BroadcastSm(
        sequence_number=5,
        tlvs=(
            P.Tlv(0x0606, b"\x00\x01"),
            P.Tlv(0x0601, b"\x00\x00\x00"),
            P.Tlv(0x0604, 1),
            P.Tlv(0x0605, b"\x09\x00\x01"),
        ),
    )
    events = smsc.receive_data(codec.encode(broadcast))
    assert events[0].status == S.ESME_RINVCMDID
    smsc2, esme2, _ = pair()
    bind(smsc2, esme2, version=0x50)
    (event,) = smsc2.receive_data(codec.encode(broadcast))
    assert isinstance(event, RequestReceived)


def test_sequence_numbers_increase_and_wrap() -> None:
    _, esme, _ = pair()
    esme._next_seq = 0x7FFFFFFF
    assert esme.next_sequence_number() == 0x7FFFFFFF
    assert esme.next_sequence_number() == 1
    assert esme.next_sequence_number() == 2


def test_outbound_window_is_enforced() -> None:
    smsc, esme, _ = pair(window=2)
    bind(smsc, esme)
    esme.send(P.SubmitSm(destination_addr="1"))
    esme.send(P.SubmitSm(destination_addr="1"))
    assert not esme.can_send_request()
    with pytest.raises(SessionError, match="window"):
        esme.send(P.SubmitSm(destination_addr="1"))
    for event in exchange(esme, smsc):
        smsc.send(event.pdu.make_response(message_id="m"))
    exchange(smsc, esme)
    assert esme.can_send_request() and esme.outstanding == 0


def test_peer_exceeding_the_window_is_answered_with_the_configured_status() -> None:
    smsc, esme, _ = pair(peer_window=2, window=5, window_full_status=S.ESME_RTHROTTLED)
    bind(smsc, esme)
    for _ in range(3):
        esme.send(P.SubmitSm(destination_addr="1"))
    events = exchange(esme, smsc)
    assert [type(e) for e in events] == [RequestReceived, RequestReceived, RequestRejected]
    assert events[2].status == S.ESME_RTHROTTLED


def test_unknown_command_gets_generic_nack_with_sequence() -> None:
    smsc, _, _ = pair()
    events = smsc.receive_data(bytes.fromhex("00000010" "00000099" "00000000" "0000002a"))
    assert isinstance(events[0], ProtocolError) and not events[0].fatal
    nack = codec.decode(smsc.data_to_send())
    assert isinstance(nack, P.GenericNack) and nack.sequence_number == 42 and nack.command_status == S.ESME_RINVCMDID
    assert smsc.state is ST.OPEN


def test_unframeable_length_closes_the_session_after_a_generic_nack() -> None:
    smsc, _, _ = pair(max_command_length=1000)
    events = smsc.receive_data(bytes.fromhex("00100000" "00000004" "00000000" "00000007"))
    assert isinstance(events[0], ProtocolError) and events[0].fatal
    nack = codec.decode(smsc.data_to_send())
    assert nack.command_status == S.ESME_RINVCMDLEN and nack.sequence_number == 7
    assert smsc.state is ST.CLOSED and smsc.closing


def test_bad_field_in_known_request_gets_its_own_response() -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme)
    good = bytearray(codec.encode(P.SubmitSm(sequence_number=11, destination_addr="1", priority_flag=1)))
    priority_offset = 16 + 1 + 2 + 1 + 2 + 2 + 2  # service_type '' .. destination '1' .. esm_class, protocol_id
    assert good[priority_offset] == 1
    good[priority_offset] = 9
    events = smsc.receive_data(bytes(good))
    assert events[0].status == S.ESME_RINVPRTFLG
    reply = codec.decode(smsc.data_to_send())
    assert isinstance(reply, P.SubmitSmResp) and reply.command_status == S.ESME_RINVPRTFLG and reply.sequence_number == 11


def test_pdus_split_and_coalesced_across_reads() -> None:
    smsc, esme, _ = pair()
    esme.send(P.BindTransceiver(system_id="a"))
    data = esme.data_to_send()
    assert smsc.receive_data(data[:5]) == []
    assert smsc.receive_data(data[5:20]) == []
    (event,) = smsc.receive_data(data[20:])
    smsc.send(event.pdu.make_response())
    exchange(smsc, esme)
    many = b"".join(codec.encode(P.EnquireLink(sequence_number=i)) for i in range(1, 6))
    events = smsc.receive_data(many)
    assert [e.pdu.sequence_number for e in events] == [1, 2, 3, 4, 5]


def test_unbind_from_esme_unbinds_and_closes() -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme)
    esme.send(P.Unbind())
    (event,) = exchange(esme, smsc)
    smsc.send(event.pdu.make_response())
    assert smsc.state is ST.UNBOUND and smsc.closing
    events = exchange(smsc, esme)
    assert esme.state is ST.UNBOUND and isinstance(events[-1], ResponseReceived)


def test_session_init_timer_closes_an_unbound_connection() -> None:
    smsc, _, clock = pair(session_init_timeout=5.0)
    assert smsc.next_deadline() == pytest.approx(clock.now() + 5.0)
    clock.advance(4.9)
    assert smsc.handle_timers() == []
    clock.advance(0.2)
    events = smsc.handle_timers()
    assert TimerFired("session_init") in events and smsc.state is ST.CLOSED


def test_enquire_link_timer_sends_enquire_link_when_idle() -> None:
    smsc, esme, clock = pair(enquire_link_interval=10.0)
    bind(smsc, esme)
    clock.advance(10.0)
    assert TimerFired("enquire_link") in smsc.handle_timers()
    sent = codec.decode(smsc.data_to_send())
    assert isinstance(sent, P.EnquireLink)
    assert smsc.handle_timers() == []  # one link check at a time


def test_inactivity_timer_unbinds_then_unbind_timer_closes() -> None:
    smsc, esme, clock = pair(inactivity_timeout=60.0, enquire_link_interval=None)
    bind(smsc, esme)
    clock.advance(60.0)
    assert TimerFired("inactivity") in smsc.handle_timers()
    assert isinstance(codec.decode(smsc.data_to_send()), P.Unbind)
    clock.advance(smsc.config.unbind_timeout)
    assert TimerFired("unbind") in smsc.handle_timers()
    assert smsc.state is ST.CLOSED


def test_response_timer_reports_unanswered_requests() -> None:
    smsc, esme, clock = pair(response_timeout=3.0, enquire_link_interval=None)
    bind(smsc, esme)
    sent = smsc.send(P.DeliverSm(source_addr="1"))
    clock.advance(3.0)
    events = smsc.handle_timers()
    assert ResponseTimeout(sent) in events and smsc.outstanding == 0


def test_local_misuse_raises() -> None:
    smsc, esme, _ = pair()
    with pytest.raises(SessionError):
        esme.send(P.SubmitSm(destination_addr="1"))  # not bound
    with pytest.raises(SessionError):
        smsc.send(P.SubmitSmResp(sequence_number=99))  # answers nothing


class SessionMachine(RuleBasedStateMachine):
    """Random bind/submit/unbind/garbage traffic: both ends always agree and every request is answered."""

    def __init__(self) -> None:
        super().__init__()
        self.smsc, self.esme, self.clock = pair(window=3, peer_window=3)
        self.answered = 0
        self.sent_requests = 0

    def _pump(self) -> None:
        for _ in range(4):
            for event in exchange(self.esme, self.smsc):
                if isinstance(event, RequestReceived) and event.pdu.RESPONSE is not None:
                    self.smsc.send(event.pdu.make_response())
            for event in exchange(self.smsc, self.esme):
                if isinstance(event, ResponseReceived):
                    self.answered += 1

    @precondition(lambda self: self.esme.state is ST.OPEN and self.esme.outstanding == 0)
    @rule(cls=st.sampled_from([P.BindTransmitter, P.BindReceiver, P.BindTransceiver]))
    def bind(self, cls: type[P.Pdu]) -> None:
        self.esme.send(cls(system_id="a"))
        self.sent_requests += 1
        self._pump()

    @precondition(lambda self: self.esme.state in (ST.BOUND_TX, ST.BOUND_TRX) and self.esme.can_send_request())
    @rule(text=st.binary(max_size=20))
    def submit(self, text: bytes) -> None:
        self.esme.send(P.SubmitSm(destination_addr="33600000000", short_message=text))
        self.sent_requests += 1
        self._pump()

    @precondition(lambda self: self.esme.is_bound and self.esme.can_send_request())
    @rule()
    def enquire(self) -> None:
        self.esme.send(P.EnquireLink())
        self.sent_requests += 1
        self._pump()

    @precondition(lambda self: self.esme.is_bound and self.esme.can_send_request())
    @rule()
    def unbind(self) -> None:
        self.esme.send(P.Unbind())
        self.sent_requests += 1
        self._pump()

    @rule(data=st.binary(min_size=16, max_size=40))
    def garbage_to_smsc(self, data: bytes) -> None:
        if self.smsc.state is ST.CLOSED or int.from_bytes(data[4:8], "big") in P.PDU_CLASS_BY_ID:
            return  # only garbage: a well-formed unbind would legitimately desynchronise the two ends
        events = self.smsc.receive_data(data)
        for event in events:
            if isinstance(event, RequestReceived) and event.pdu.RESPONSE is not None:
                self.smsc.send(event.pdu.make_response())
        out = self.smsc.data_to_send()
        # Whatever the SMSC says back is well-formed.
        pos = 0
        while pos < len(out):
            length = int.from_bytes(out[pos : pos + 4], "big")
            codec.decode(out[pos : pos + length])
            pos += length
        self.smsc._buffer.clear()  # keep the garbage from swallowing later well-formed test traffic

    @invariant()
    def ends_agree_on_binding(self) -> None:
        if self.smsc.state is not ST.CLOSED and self.esme.state is not ST.CLOSED:
            if self.esme.state in (ST.BOUND_TX, ST.BOUND_RX, ST.BOUND_TRX):
                assert self.smsc.state is self.esme.state

    @invariant()
    def every_request_answered(self) -> None:
        if self.smsc.state is not ST.CLOSED:
            assert self.esme.outstanding == 0
            assert self.answered == self.sent_requests


TestSessionMachine = SessionMachine.TestCase
TestSessionMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


def test_requests_pipelined_after_a_bind_are_judged_in_the_bound_state() -> None:
    smsc, _, _ = pair()
    data = codec.encode(P.BindTransmitter(sequence_number=1, system_id="a")) + codec.encode(
        P.SubmitSm(sequence_number=2, destination_addr="1")
    )
    (bind_event,) = smsc.receive_data(data)
    assert smsc.has_buffered_input is False  # paused until the bind is answered
    smsc.send(bind_event.pdu.make_response())
    assert smsc.has_buffered_input
    (submit_event,) = smsc.receive_data(b"")
    assert isinstance(submit_event, RequestReceived) and submit_event.pdu.sequence_number == 2


def test_requests_pipelined_after_unbind_are_refused() -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme)
    data = codec.encode(P.Unbind(sequence_number=5)) + codec.encode(P.SubmitSm(sequence_number=6, destination_addr="1"))
    (unbind_event,) = smsc.receive_data(data)
    smsc.send(unbind_event.pdu.make_response())
    (rejected,) = smsc.receive_data(b"")
    assert isinstance(rejected, RequestRejected) and rejected.status == S.ESME_RINVBNDSTS


def test_transition_table_is_the_only_way_between_states() -> None:
    from simulator.smpp.session import TRANSITIONS

    reachable = {new for new in TRANSITIONS.values()} | {ST.OPEN}
    assert reachable == set(ST)
    assert TRANSITIONS[(ST.BOUND_TRX, "unbind")] is ST.UNBOUND
    assert (ST.UNBOUND, "bind_transmitter") not in TRANSITIONS  # no re-bind on an unbound session
    assert all(TRANSITIONS[(state, "close")] is ST.CLOSED for state in ST if state is not ST.CLOSED)


def test_a_pdu_that_cannot_be_encoded_leaves_the_session_as_it_was() -> None:
    smsc, esme, _ = pair()
    bind(smsc, esme)
    esme.send(P.SubmitSm(destination_addr="33612345678", short_message=b"hi"))
    (event,) = exchange(esme, smsc)
    with pytest.raises(codec.PduEncodeError):
        smsc.send(event.pdu.make_response(message_id="x" * 100))
    assert smsc.unanswered == 1  # still waiting for an answer, which can be another one
    smsc.send(event.pdu.make_response(S.ESME_RSYSERR))
    assert smsc.unanswered == 0
    with pytest.raises(codec.PduEncodeError):
        smsc.send(P.DeliverSm(source_addr="x" * 30))
    assert smsc.outstanding == 0 and smsc.can_send_request()
    (response,) = exchange(smsc, esme)
    assert response.pdu.command_status == S.ESME_RSYSERR


def test_forget_drops_a_request_the_smsc_will_never_answer() -> None:
    smsc, esme, _ = pair(peer_window=1)
    bind(smsc, esme)
    esme.send(P.EnquireLink())
    (event,) = exchange(esme, smsc)
    assert smsc.forget(event.pdu.sequence_number) and not smsc.forget(event.pdu.sequence_number)
    esme.send(P.EnquireLink())
    (event,) = exchange(esme, smsc)
    assert isinstance(event, RequestReceived)  # not refused: the window of 1 is free again
