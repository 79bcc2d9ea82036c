"""Per-connection SMPP session state machine, sans-IO: bytes in -> events, PDUs in -> bytes out.

The caller feeds received bytes with receive_data(), reads events, answers requests with send(),
and writes whatever data_to_send() returns. Time comes from a clock object the caller passes in
(anything with a now() method returning seconds); timers fire when the caller calls
handle_timers(), ideally at next_deadline().
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from struct import unpack_from
from typing import Protocol

from .codec import _DECODERS, _ENCODERS, PduError, check_command_length, decode_frame, encode
from .constants import DEFAULT_MAX_COMMAND_LENGTH, HEADER_LENGTH, RESPONSE_BIT, CommandId
from .constants import CommandStatus as S
from .pdu import ALL_PDU_CLASSES, EnquireLink, GenericNack, Pdu, Unbind
from .tlv import Tlv

C = CommandId
MAX_SEQUENCE = 0x7FFFFFFF


class Clock(Protocol):
    """What a session needs from a clock."""

    def now(self) -> float:
        """Seconds on this clock's timeline."""
        ...


class Role(enum.Enum):
    """Which end of the link this session is."""

    SMSC = "smsc"
    ESME = "esme"


class SessionState(enum.Enum):
    """SMPP session states (v3.4 section 2.2, v5.0 section 2.3)."""

    OPEN = "OPEN"
    BOUND_TX = "BOUND_TX"
    BOUND_RX = "BOUND_RX"
    BOUND_TRX = "BOUND_TRX"
    UNBOUND = "UNBOUND"
    CLOSED = "CLOSED"


ST = SessionState
BOUND_STATES = frozenset({ST.BOUND_TX, ST.BOUND_RX, ST.BOUND_TRX})
BIND_IDS = frozenset({C.bind_transmitter, C.bind_receiver, C.bind_transceiver})

# Every state change of a session, as (state, trigger) -> new state. Triggers: a bind of that
# type answered ESME_ROK, an unbind answered, or the connection closing (peer, fatal framing
# error, session-init or unbind timer). A trigger missing from the table leaves the state alone.
TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (ST.OPEN, "bind_transmitter"): ST.BOUND_TX,
    (ST.OPEN, "bind_receiver"): ST.BOUND_RX,
    (ST.OPEN, "bind_transceiver"): ST.BOUND_TRX,
    (ST.BOUND_TX, "unbind"): ST.UNBOUND,
    (ST.BOUND_RX, "unbind"): ST.UNBOUND,
    (ST.BOUND_TRX, "unbind"): ST.UNBOUND,
    **{(state, "close"): ST.CLOSED for state in ST if state is not ST.CLOSED},
}
BIND_TRIGGER = {C.bind_transmitter: "bind_transmitter", C.bind_receiver: "bind_receiver", C.bind_transceiver: "bind_transceiver"}

# Requests an ESME may issue, and those an SMSC may issue, in each state. One table serves both
# directions: a session checks what it receives against the peer's row and what it sends against
# its own row.
_ESME_TX_OPS = {
    C.submit_sm,
    C.submit_multi,
    C.data_sm,
    C.query_sm,
    C.cancel_sm,
    C.replace_sm,
    C.broadcast_sm,
    C.query_broadcast_sm,
    C.cancel_broadcast_sm,
}
_SMSC_RX_OPS = {C.deliver_sm, C.data_sm, C.alert_notification}
_ANY_BOUND = {C.enquire_link, C.unbind}
REQUESTS_ALLOWED: dict[Role, dict[SessionState, frozenset[int]]] = {
    Role.ESME: {
        ST.OPEN: frozenset(BIND_IDS | {C.enquire_link}),
        ST.BOUND_TX: frozenset(_ESME_TX_OPS | _ANY_BOUND),
        ST.BOUND_RX: frozenset(_ANY_BOUND),
        ST.BOUND_TRX: frozenset(_ESME_TX_OPS | _ANY_BOUND),
        ST.UNBOUND: frozenset(),
        ST.CLOSED: frozenset(),
    },
    Role.SMSC: {
        ST.OPEN: frozenset({C.outbind, C.enquire_link}),
        ST.BOUND_TX: frozenset(_ANY_BOUND),
        ST.BOUND_RX: frozenset(_SMSC_RX_OPS | _ANY_BOUND),
        ST.BOUND_TRX: frozenset(_SMSC_RX_OPS | _ANY_BOUND),
        ST.UNBOUND: frozenset(),
        ST.CLOSED: frozenset(),
    },
}

# Operations introduced after v3.3 and v3.4: a peer bound with an older interface_version gets
# ESME_RINVCMDID for them, as an SMSC of that version would answer.
MIN_VERSION = {
    C.data_sm: 0x34,
    C.broadcast_sm: 0x50,
    C.query_broadcast_sm: 0x50,
    C.cancel_broadcast_sm: 0x50,
}
NO_RESPONSE = frozenset({C.outbind, C.alert_notification, C.generic_nack})
# Requests whose arrival changes session state or needs no response: never on the fast path.
_SLOW_PATH = frozenset(BIND_IDS | NO_RESPONSE | {C.unbind})


class SessionError(Exception):
    """The local application tried something the session state does not allow."""


# --- events ----------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestReceived:
    """The peer sent a request the application must answer (or, for outbind/alert_notification, act on)."""

    pdu: Pdu


@dataclass(slots=True)
class ResponseReceived:
    """The peer answered one of our requests (request is None when nothing matched its sequence)."""

    pdu: Pdu
    request: Pdu | None
    elapsed: float


@dataclass(slots=True)
class RequestRejected:
    """The session answered a peer request itself with an error status (wrong state, window, bad body)."""

    command_id: int
    sequence_number: int
    status: int
    reason: str
    pdu: Pdu | None = None
    window: int | None = None  # the peer window the request was beyond, when that was the reason


@dataclass(slots=True)
class ProtocolError:
    """The peer sent bytes that are not a PDU we can accept; a generic_nack went back when useful.

    When fatal, the stream cannot be framed any more: the session is CLOSED and the caller should
    close the transport after writing data_to_send().
    """

    error: PduError
    fatal: bool


@dataclass(slots=True)
class StateChanged:
    """The session moved between states."""

    old: SessionState
    new: SessionState


@dataclass(slots=True)
class ResponseTimeout:
    """One of our requests got no response within the response timeout."""

    request: Pdu


@dataclass(slots=True)
class TimerFired:
    """A session timer expired: 'session_init', 'inactivity', 'enquire_link' or 'unbind'.

    session_init and unbind close the session; inactivity sends unbind; enquire_link sends one.
    """

    kind: str


Event = RequestReceived | ResponseReceived | RequestRejected | ProtocolError | StateChanged | ResponseTimeout | TimerFired


@dataclass
class SessionConfig:
    """Tunables of one session; timeouts in seconds, None disables the timer."""

    window: int = 10
    peer_window: int = 10
    window_full_status: int = S.ESME_RMSGQFUL
    max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH
    interface_version: int = 0x50
    session_init_timeout: float | None = 30.0
    enquire_link_interval: float | None = 30.0
    inactivity_timeout: float | None = None
    response_timeout: float | None = 30.0
    unbind_timeout: float = 2.0


@dataclass(slots=True)
class _Outstanding:
    pdu: Pdu
    sent_at: float


@dataclass
class _Counters:
    pdus_received: int = 0
    pdus_sent: int = 0
    rejected: int = 0
    protocol_errors: int = 0
    timeouts: int = 0


class Session:
    """One SMPP connection seen from one end (role), with its state, windows, sequence numbers and timers."""

    def __init__(self, role: Role, clock: Clock, config: SessionConfig | None = None) -> None:
        self.role = role
        self.clock = clock
        self.config = config or SessionConfig()
        self.state = ST.OPEN
        self.peer_interface_version: int | None = None
        self.counters = _Counters()
        self._peer_role = Role.ESME if role is Role.SMSC else Role.SMSC
        self._allowed_in = REQUESTS_ALLOWED[self._peer_role]
        self._allowed_out = REQUESTS_ALLOWED[role]
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._next_seq = 1
        self._outstanding: dict[int, _Outstanding] = {}
        self._unanswered: dict[int, Pdu] = {}
        self._duplicates: dict[int, list[Pdu]] = {}
        self._awaiting_answer: int | None = None
        self._fast: frozenset[int] = frozenset()
        self._pending_bind: Pdu | None = None
        self._tlvs_out = True
        now = clock.now()
        self.opened_at = now
        self.last_received = now
        self.last_sent = now
        self._unbind_sent_at: float | None = None
        self._close_after_flush = False

    # --- properties --------------------------------------------------------------------------

    @property
    def is_bound(self) -> bool:
        """True in BOUND_TX, BOUND_RX or BOUND_TRX."""
        return self.state in BOUND_STATES

    @property
    def can_receive_messages(self) -> bool:
        """True when the SMSC may send deliver_sm on this session (receiver or transceiver)."""
        return self.state is ST.BOUND_RX or self.state is ST.BOUND_TRX

    @property
    def outstanding(self) -> int:
        """How many of our requests await a response."""
        return len(self._outstanding)

    @property
    def unanswered(self) -> int:
        """How many peer requests we have not answered yet."""
        return len(self._unanswered)

    def can_send_request(self) -> bool:
        """True when the outbound window has room for one more request."""
        return len(self._outstanding) < self.config.window

    @property
    def has_buffered_input(self) -> bool:
        """True when a complete PDU waits in the buffer (input pauses after bind/unbind until answered)."""
        if self._awaiting_answer is not None or len(self._buffer) < 4 or self.state is ST.CLOSED:
            return False
        length = int.from_bytes(self._buffer[:4], "big")
        # An impossible length also counts: receive_data() must see it to reject it.
        return length <= len(self._buffer) or length < HEADER_LENGTH or length > self.config.max_command_length

    @property
    def closing(self) -> bool:
        """True when the caller should close the transport once data_to_send() is written."""
        return self._close_after_flush or self.state is ST.CLOSED

    # --- inbound -----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed received bytes; return the events of every complete PDU in them."""
        if self.state is ST.CLOSED:
            return []
        if data:
            self.last_received = self.clock.now()
        pending = self._buffer
        if self._awaiting_answer is not None:
            pending += data
            return []
        # Work on one immutable bytes object so each frame is a single slice; what is left of an
        # incomplete PDU goes back into the buffer.
        if pending:
            pending += data
            buf = bytes(pending)
            pending.clear()
        else:
            buf = data if type(data) is bytes else bytes(data)
        events: list[Event] = []
        size = len(buf)
        pos = 0
        max_length = self.config.max_command_length
        fast_ids = self._fast
        unanswered = self._unanswered
        peer_window = self.config.peer_window
        counters = self.counters
        decoders = _DECODERS
        while size - pos >= 4:
            (length,) = unpack_from(">I", buf, pos)
            if length < HEADER_LENGTH or length > max_length:
                # Framing is lost: answer at once, with the sequence number if the header is all here.
                if size - pos >= HEADER_LENGTH:
                    _, command_id, _, seq = unpack_from(">IIII", buf, pos)
                else:
                    command_id, seq = None, None
                try:
                    check_command_length(length, command_id or 0, seq or 0, max_length)
                except PduError as exc:
                    exc.command_id, exc.sequence_number = command_id, seq
                    self._protocol_error(exc, events)
                pos = size
                break
            if size - pos < length:
                break
            length, command_id, status, seq = unpack_from(">IIII", buf, pos)
            frame = buf[pos : pos + length]
            pos += length
            # Fast path for the bulk of traffic (submit_sm and alike in a bound state): decode, record
            # as unanswered, emit. Anything unusual takes the general path below.
            if command_id in fast_ids and len(unanswered) < peer_window and seq not in unanswered:
                try:
                    pdu = decoders[command_id](frame, seq, status)
                except PduError:
                    pass
                else:
                    counters.pdus_received += 1
                    unanswered[seq] = pdu
                    events.append(RequestReceived(pdu))
                    continue
            self._receive_frame(frame, command_id, status, seq, events)
            if self.state is ST.CLOSED:
                pos = size
                break
            if self._awaiting_answer is not None:
                # Later PDUs must be judged in the state the bind/unbind answer creates.
                break
            fast_ids = self._fast
        if pos < size:
            pending += buf[pos:] if pos else buf
        return events

    def _update_fast_ids(self) -> None:
        """Recompute the requests that need no check beyond the state table and window."""
        version = self.peer_interface_version
        if version is None or version < 0x34:
            self._fast: frozenset[int] = frozenset()
            return
        allowed = self._allowed_in[self.state]
        self._fast = frozenset(c for c in allowed if c not in _SLOW_PATH and MIN_VERSION.get(c, 0) <= version)

    def _receive_frame(self, frame: bytes, command_id: int, status: int, seq: int, events: list[Event]) -> None:
        self.counters.pdus_received += 1
        is_response = command_id & RESPONSE_BIT
        try:
            pdu = decode_frame(frame, command_id, status, seq)
        except PduError as exc:
            if is_response and exc.status != S.ESME_RINVCMDID:
                # A response we cannot read still settles the request it answers.
                self._outstanding.pop(seq, None)
                events.append(ProtocolError(exc, False))
                self.counters.protocol_errors += 1
                return
            if exc.status == S.ESME_RINVCMDID or command_id in NO_RESPONSE:
                self._protocol_error(exc, events)
                return
            self._reject(command_id, seq, exc.status, f"{exc.field}: {exc.detail}", events, None)
            return
        if is_response:
            self._receive_response(pdu, events)
        else:
            self._receive_request(pdu, events)

    def _receive_request(self, pdu: Pdu, events: list[Event]) -> None:
        command_id = pdu.command_id
        state = self.state
        if command_id not in self._allowed_in[state]:
            if command_id in BIND_IDS and state in BOUND_STATES:
                status, reason = S.ESME_RALYBND, f"already bound ({state.value})"
            elif command_id in BIND_IDS and self._pending_bind is not None:
                status, reason = S.ESME_RALYBND, "a bind is already in progress"
            elif command_id not in REQUESTS_ALLOWED[self._peer_role][ST.BOUND_TRX] | BIND_IDS | {C.outbind}:
                status, reason = S.ESME_RINVCMDID, f"{pdu.command_name} is not sent by an {self._peer_role.value.upper()}"
            else:
                status, reason = S.ESME_RINVBNDSTS, f"{pdu.command_name} not allowed in state {state.value}"
            self._reject(command_id, pdu.sequence_number, status, reason, events, pdu)
            return
        version = self.peer_interface_version
        needed = MIN_VERSION.get(command_id)
        if needed is not None and version is not None and version < needed:
            self._reject(
                command_id,
                pdu.sequence_number,
                S.ESME_RINVCMDID,
                f"{pdu.command_name} needs interface_version 0x{needed:02X}, bound with 0x{version:02X}",
                events,
                pdu,
            )
            return
        if command_id in NO_RESPONSE:
            events.append(RequestReceived(pdu))
            return
        if len(self._unanswered) >= self.config.peer_window:
            self._reject(
                command_id,
                pdu.sequence_number,
                self.config.window_full_status,
                f"peer exceeded the window of {self.config.peer_window} unanswered requests",
                events,
                pdu,
                window=self.config.peer_window,
            )
            return
        if command_id in BIND_IDS:
            self._pending_bind = pdu
            self.peer_interface_version = pdu.interface_version  # type: ignore[attr-defined]
        if command_id in BIND_IDS or command_id == C.unbind:
            self._awaiting_answer = pdu.sequence_number
        if pdu.sequence_number in self._unanswered:
            # A peer reusing a sequence number still gets one response per request, in order.
            self._duplicates.setdefault(pdu.sequence_number, []).append(pdu)
        else:
            self._unanswered[pdu.sequence_number] = pdu
        events.append(RequestReceived(pdu))

    def _receive_response(self, pdu: Pdu, events: list[Event]) -> None:
        pending = self._outstanding.pop(pdu.sequence_number, None)
        request = pending.pdu if pending else None
        elapsed = self.last_received - pending.sent_at if pending else 0.0
        if request is not None and pdu.command_id != GenericNack.command_id:
            if pdu.command_id != (request.command_id | RESPONSE_BIT):
                request = None
        if request is not None and request.command_id in BIND_IDS:
            self._pending_bind = None
            if pdu.command_status == 0:
                self.peer_interface_version = pdu.tlv("sc_interface_version", 0x33)
                self._tlvs_out = self.peer_interface_version >= 0x34
                self._transition(BIND_TRIGGER[request.command_id], events)
        elif request is not None and request.command_id == C.unbind:
            self._transition("unbind", events)
            self._close_after_flush = True
        events.append(ResponseReceived(pdu, request, elapsed))

    def _reject(
        self, command_id: int, seq: int, status: int, reason: str, events: list[Event], pdu: Pdu | None, window: int | None = None
    ) -> None:
        self.counters.rejected += 1
        response_id = command_id | RESPONSE_BIT
        if response_id in _RESPONSE_CLASSES:
            reply: Pdu = _RESPONSE_CLASSES[response_id](sequence_number=seq, command_status=status)
        else:
            reply = GenericNack(sequence_number=seq, command_status=status)
        self._write(reply)
        events.append(RequestRejected(command_id, seq, status, reason, pdu, window))

    def _protocol_error(self, exc: PduError, events: list[Event]) -> None:
        self.counters.protocol_errors += 1
        seq = exc.sequence_number if exc.sequence_number is not None else 0
        self._write(GenericNack(sequence_number=seq, command_status=exc.status))
        events.append(ProtocolError(exc, exc.fatal))
        if exc.fatal:
            self._buffer.clear()
            self._transition("close", events)

    # --- outbound ----------------------------------------------------------------------------

    def next_sequence_number(self) -> int:
        """Allocate the next request sequence number (1..0x7FFFFFFF, then wraps to 1)."""
        seq = self._next_seq
        self._next_seq = 1 if seq >= MAX_SEQUENCE else seq + 1
        return seq

    def send(self, pdu: Pdu) -> Pdu:
        """Queue a PDU for the peer; a request with sequence_number 0 gets the next one. Returns the PDU sent."""
        if pdu.command_id & RESPONSE_BIT:
            return self._send_response(pdu)
        return self._send_request(pdu)

    def _send_request(self, pdu: Pdu) -> Pdu:
        command_id = pdu.command_id
        if command_id not in self._allowed_out[self.state]:
            raise SessionError(f"{self.role.value} may not send {pdu.command_name} in state {self.state.value}")
        if command_id not in NO_RESPONSE and len(self._outstanding) >= self.config.window:
            raise SessionError(f"window of {self.config.window} outstanding requests is full")
        if pdu.sequence_number == 0:
            pdu = pdu.with_sequence(self.next_sequence_number())
        data = self._encode(pdu, self._tlvs_out)  # before any bookkeeping: a PDU that cannot be encoded leaves no trace
        if command_id in BIND_IDS:
            self._pending_bind = pdu
        if command_id not in NO_RESPONSE:
            self._outstanding[pdu.sequence_number] = _Outstanding(pdu, self.clock.now())
        if command_id == C.unbind:
            self._unbind_sent_at = self.clock.now()
        self._queue(data)
        return pdu

    def _send_response(self, pdu: Pdu) -> Pdu:
        seq = pdu.sequence_number
        request = self._unanswered.get(seq)
        if request is None:
            if pdu.command_id == GenericNack.command_id:
                self._queue(self._encode(pdu, self._tlvs_out))
                return pdu
            raise SessionError(f"no unanswered request with sequence_number {seq}")
        if pdu.command_id != GenericNack.command_id and pdu.command_id != request.command_id | RESPONSE_BIT:
            raise SessionError(f"{pdu.command_name} does not answer {request.command_name}")
        command_id = request.command_id
        bound = command_id in BIND_IDS and pdu.command_status == 0
        tlvs_out = self._tlvs_out
        if bound:
            version = request.interface_version  # type: ignore[attr-defined]
            tlvs_out = version >= 0x34
            if tlvs_out and pdu.tlv("sc_interface_version") is None:
                negotiated = min(version, self.config.interface_version)
                pdu = pdu.replace(tlvs=pdu.tlvs + (Tlv(0x0210, negotiated),))
        # Encoded before the request is taken off the unanswered list: a response that cannot be
        # encoded leaves the request waiting for another answer (e.g. ESME_RSYSERR).
        data = self._encode(pdu, tlvs_out)
        self.forget(seq)  # answered: off the unanswered list, as a request never answered would be
        events: list[Event] = []
        if command_id in BIND_IDS:
            self._pending_bind = None
            if bound:
                self._tlvs_out = tlvs_out
                self._queue(data)
                self._transition(BIND_TRIGGER[command_id], events)
                return pdu
        elif command_id == C.unbind and pdu.command_status == 0:
            self._queue(data)
            self._transition("unbind", events)
            self._close_after_flush = True
            return pdu
        self._queue(data)
        return pdu

    def forget(self, sequence_number: int) -> bool:
        """Take the peer's request off the unanswered list: answered, or given up (a fault that never responds).

        It no longer counts against the peer's window (a duplicate of it waiting takes its place);
        True if such a request was unanswered.
        """
        request = self._unanswered.pop(sequence_number, None)
        if request is None:
            return False
        waiting = self._duplicates.get(sequence_number) if self._duplicates else None
        if waiting:
            self._unanswered[sequence_number] = waiting.pop(0)
            if not waiting:
                del self._duplicates[sequence_number]
        if self._awaiting_answer == sequence_number:
            self._awaiting_answer = None
        return True

    @staticmethod
    def _encode(pdu: Pdu, with_tlvs: bool) -> bytes:
        try:
            return _ENCODERS[pdu.command_id](pdu, with_tlvs)
        except Exception:  # noqa: BLE001 - encode() turns it into a PduEncodeError naming the field
            return encode(pdu, with_tlvs=with_tlvs)

    def _queue(self, data: bytes) -> None:
        self._out.append(data)
        self.counters.pdus_sent += 1

    def _write(self, pdu: Pdu) -> None:
        self._queue(self._encode(pdu, self._tlvs_out))

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are, bypassing the codec (fault injection, malformed output on purpose)."""
        self._out.append(bytes(data))

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call, as one buffer."""
        out = self._out
        if not out:
            return b""
        self.last_sent = self.clock.now()
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def start_unbind(self) -> Pdu | None:
        """Send unbind if bound (graceful shutdown); returns the PDU or None when not bound."""
        if not self.is_bound:
            return None
        if len(self._outstanding) >= self.config.window:
            # Shutdown must not wait for the window: the unbind goes out regardless.
            pdu = Unbind(sequence_number=self.next_sequence_number())
            self._outstanding[pdu.sequence_number] = _Outstanding(pdu, self.clock.now())
            self._unbind_sent_at = self.clock.now()
            self._write(pdu)
            return pdu
        return self._send_request(Unbind())

    def connection_lost(self) -> list[Event]:
        """The transport closed: the session is CLOSED and pending requests are dropped."""
        events: list[Event] = []
        self._outstanding.clear()
        self._unanswered.clear()
        self._duplicates.clear()
        self._transition("close", events)
        return events

    def pending_requests(self) -> list[Pdu]:
        """Our requests still awaiting a response, oldest first."""
        return [item.pdu for item in self._outstanding.values()]

    def _transition(self, trigger: str, events: list[Event]) -> None:
        old = self.state
        new = TRANSITIONS.get((old, trigger))
        if new is None:
            return
        self.state = new
        self._update_fast_ids()
        events.append(StateChanged(old, new))

    # --- timers ------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest clock time at which handle_timers() has something to do, or None."""
        cfg = self.config
        candidates: list[float] = []
        if self.state is ST.OPEN and cfg.session_init_timeout is not None:
            candidates.append(self.opened_at + cfg.session_init_timeout)
        if self.state in BOUND_STATES:
            if cfg.enquire_link_interval is not None:
                candidates.append(max(self.last_received, self.last_sent) + cfg.enquire_link_interval)
            if cfg.inactivity_timeout is not None and self._unbind_sent_at is None:
                candidates.append(self.last_received + cfg.inactivity_timeout)
        if self._unbind_sent_at is not None:
            candidates.append(self._unbind_sent_at + cfg.unbind_timeout)
        if cfg.response_timeout is not None and self._outstanding:
            oldest = min(item.sent_at for item in self._outstanding.values())
            candidates.append(oldest + cfg.response_timeout)
        return min(candidates) if candidates else None

    def handle_timers(self) -> list[Event]:
        """Fire every timer that is due at the clock's current time and return the events."""
        now = self.clock.now()
        cfg = self.config
        events: list[Event] = []
        if self.state is ST.CLOSED:
            return events
        if cfg.response_timeout is not None:
            for seq, item in list(self._outstanding.items()):
                if now - item.sent_at >= cfg.response_timeout and item.pdu.command_id != C.unbind:
                    del self._outstanding[seq]
                    self.counters.timeouts += 1
                    events.append(ResponseTimeout(item.pdu))
        if self.state is ST.OPEN and cfg.session_init_timeout is not None:
            if now - self.opened_at >= cfg.session_init_timeout:
                events.append(TimerFired("session_init"))
                self._transition("close", events)
                return events
        if self._unbind_sent_at is not None and now - self._unbind_sent_at >= cfg.unbind_timeout:
            events.append(TimerFired("unbind"))
            self._transition("close", events)
            return events
        if self.state in BOUND_STATES:
            if (
                cfg.inactivity_timeout is not None
                and self._unbind_sent_at is None
                and now - self.last_received >= cfg.inactivity_timeout
            ):
                events.append(TimerFired("inactivity"))
                self.start_unbind()
                return events
            if cfg.enquire_link_interval is not None:
                idle_since = max(self.last_received, self.last_sent)
                link_check_pending = any(i.pdu.command_id == C.enquire_link for i in self._outstanding.values())
                if now - idle_since >= cfg.enquire_link_interval and not link_check_pending:
                    if self.can_send_request():
                        self._send_request(EnquireLink())
                        self.last_sent = now
                        events.append(TimerFired("enquire_link"))
        return events


_RESPONSE_CLASSES: dict[int, type[Pdu]] = {cls.command_id: cls for cls in ALL_PDU_CLASSES if cls.command_id & RESPONSE_BIT}
