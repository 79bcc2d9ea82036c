"""The asyncio SMSC: glues TCP transports to sans-IO sessions and the message store.

Each connection is an asyncio.Protocol that feeds every read to its Session in one pass and
answers the whole batch with one write, which is what keeps the simulator fast on loopback.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import random
import signal
import socket
import struct
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, cast

from .clock import Clock, RealClock, VirtualClock
from .config import Account, ServerConfig, default_config
from .faults import OUT_OF_ORDER_HOLD, FaultAction, FaultRule, FaultRules, Malformed, Split, with_changes
from .network.handsets import HandsetState
from .network.lifecycle import Lifecycle, TimeRefusal
from .network.messages import Message, MessageIdGenerator, MessageStore
from .network.network import MoError, Network, Refusal, Route, bind_key
from .network.throttles import Trip
from .network.profile import NetworkProfile, load_profile
from .smpp import pdu as P
from .smpp.codec import PduEncodeError, encode
from .smpp.constants import CommandId as C
from .smpp.constants import CommandStatus as S
from .smpp.constants import MessageState, parse_status, status_name
from .smpp.session import (
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
    StateChanged,
    TimerFired,
)
from .smpp.timefmt import format_absolute
from .smpp.tlv import Tlv
from .traffic import BY_PEER, BY_SMSC, CLOSED, CONNECTED, IN, OUT, PduLog

log = logging.getLogger("simulator.server")

BIND_TYPE = {C.bind_transmitter: "transmitter", C.bind_receiver: "receiver", C.bind_transceiver: "transceiver"}
_BIND_OR_UNBIND = frozenset({*BIND_TYPE, C.unbind})
# The responses that carry congestion_state when smsc.report_congestion is on (SMPP 5.0 flow control is
# about the rate of submissions).
_SUBMIT_RESPONSES = frozenset({C.submit_sm_resp, C.data_sm_resp, C.submit_multi_resp})
TIMER_TICK = 0.1
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class DeliveryExpired(Exception):
    """A receipt or MO waited longer than delivery_validity for a receiver bind and was dropped."""

    def __init__(self, command: str, system_id: str) -> None:
        super().__init__(f"{command} for {system_id} expired before a receiver bound")


class DeliveryDropped(Exception):
    """A receipt or MO was dropped because its account's queue of deliveries waiting for a receiver was full."""

    def __init__(self, command: str, system_id: str, limit: int) -> None:
        super().__init__(f"{command} for {system_id} dropped: {limit} deliveries already waited for a receiver (smsc.delivery_queue_limit)")


@dataclass(eq=False)  # identity: a delivery is one PDU on its way, kept in sets and dicts
class Delivery:
    """A PDU the SMSC originates towards an account (deliver_sm, data_sm, alert_notification)."""

    system_id: str
    pdu: P.Pdu
    future: asyncio.Future[P.Pdu] | None = None
    attempts: int = 0
    expires_at: float = float("inf")
    fault_checked: bool = False  # fault rules on sent PDUs look at a delivery once, not at every re-send

    def fail(self, exc: BaseException) -> None:
        """Tell whoever waits for it that it will never be answered (the failure counts as retrieved)."""
        if self.future is not None and not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # retrieved: nobody has to await a failed delivery


@dataclass
class ServerStats:
    """Counters over the server's life."""

    connections: int = 0
    binds_ok: int = 0
    binds_refused: int = 0
    submits: int = 0
    protocol_errors: int = 0
    rejected: int = 0
    handler_errors: int = 0
    deliveries_sent: int = 0
    deliveries_acked: int = 0
    deliveries_requeued: int = 0
    deliveries_expired: int = 0
    deliveries_dropped: int = 0  # the oldest waiting ones, when an account's queue passed delivery_queue_limit
    faults_fired: int = 0


class GcPolicy:
    """Keeps garbage-collection pauses short in a long-running server process.

    Accepted messages live long, so CPython's full collections would rescan every one of them
    (pauses of hundreds of milliseconds under load). Every `interval` seconds this collects what
    is young and freezes (gc.freeze) what survives, so later collections skip it; once the server
    has been idle for `idle_after` seconds it unfreezes and runs one full collection, reclaiming
    any cyclic garbage among frozen objects while nobody is waiting for a response. The pause of
    each young collection grows with what survived since the last one: at 24,000-27,000 submit_sm/s
    it was 3-4 ms every 0.1 s (the p99 of every request), at most 0.8-0.9 ms every 20 ms, and at most
    0.6 ms every 10 ms, for the same total (half-load p99 1.29-2.12 ms at 20 ms, 1.25-1.33 ms at 10 ms).
    """

    def __init__(self, interval: float = 0.01, idle_after: float = 5.0) -> None:
        self.interval = interval
        self.idle_after = idle_after
        self._last_freeze = 0.0
        self._last_activity = 0.0
        self._swept = True

    def tick(self, now: float, active: bool) -> None:
        """Called from the server's timer with monotonic time and whether traffic arrived since the last call."""
        if active:
            self._last_activity = now
            self._swept = False
        if not self._swept and now - self._last_activity >= self.idle_after:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._swept = True
            self._last_freeze = now
        elif now - self._last_freeze >= self.interval:
            gc.collect(1)
            gc.freeze()
            self._last_freeze = now


class SmppConnection(asyncio.Protocol):
    """One TCP connection to an ESME, driven by a Session in the SMSC role."""

    def __init__(self, server: SmscServer, outbind_account: Account | None = None) -> None:
        self.server = server
        self.id = next(server._connection_ids)
        self.session = Session(Role.SMSC, server.session_clock, server.session_config())
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.account: Account | None = None
        self.bind_type: str | None = None
        self.pending: deque[Delivery] = deque()
        self.in_flight: dict[int, Delivery] = {}
        self.outbind_account = outbind_account
        self.closed = asyncio.get_running_loop().create_future()
        self._debug = False
        self.reports_congestion = False  # set at bind: smsc.report_congestion and SMPP 5.0 negotiated
        # Requests pass _guard() first only when the account's window has a reaction of its own or a
        # throttle disconnected the session: the common path costs one attribute test.
        self._guarded = False
        self._window_limit: int | None = None
        self._beyond_window: set[int] = set()  # ids of the requests of this read beyond the window
        self._dropping = False
        # Output shaping for faults (split, coalesced or held writes, a shut sending side): flush() takes
        # the slow path only while _shaped is set.
        self._shaped = False
        self._out_queue: deque[tuple[bytes, float]] = deque()  # writes waiting, each with a pause after it
        self._out_busy = False
        self._hold: bytearray | None = None  # coalesced output waiting to go out in one write
        self._hold_wanted = 0
        self._after_output: list[Callable[[], None]] = []
        self._write_shut = False
        # The transport's buffer passed its high-water mark (a peer that does not read): no request is
        # read and no delivery sent until it drains, so a gateway that stops reading cannot make the
        # server buffer responses without bound.
        self._write_paused = False
        self._hold_timer: asyncio.TimerHandle | None = None  # ends a coalesce hold after its `within`
        self._stall_timer: asyncio.TimerHandle | None = None  # resumes reading after a stall
        self._overtaking: list[list] = []  # out-of-order responses: [responses still to overtake, pdu, response, note]

    # --- transport callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the session and tune the socket for request/response traffic."""
        # A stream transport (uvloop's are not asyncio.Transport subclasses, hence the cast, not an isinstance).
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.server._register(self)
        self.closed_by: str | None = None  # BY_SMSC once close() closed the transport (for conformance checks)
        if self.server.pdu_log is not None:
            self.server.pdu_log.session_event(self.server.clock.now(), self.id, None, CONNECTED, peer=self.peer)
        log.info("session %d connected from %s", self.id, self.peer)
        if self.outbind_account is not None:
            account = self.outbind_account
            self._send(P.Outbind(system_id=account.system_id, password=account.password))
            self.flush()

    def data_received(self, data: bytes) -> None:
        """Feed the bytes to the session, handle every event, answer in one write."""
        self._debug = log.isEnabledFor(logging.DEBUG)
        try:
            events = self.session.receive_data(data)
        except Exception:  # noqa: BLE001 - a bug here must cost one session, never the server
            log.exception("session %d: internal error decoding input; closing it", self.id)
            self.server.stats.handler_errors += 1
            self.close()
            return
        server = self.server
        session = self.session
        while True:
            if self._guarded:
                self._mark_beyond_window(events)
            for event in events:
                if type(event) is RequestReceived:
                    self._on_request(event.pdu)
                else:
                    self._on_event(event)
            # Input pauses after a bind or unbind until it is answered; then the rest of the read.
            if not session.has_buffered_input or session.state is SessionState.CLOSED:
                break
            events = session.receive_data(b"")
        wrote = self.flush()
        if server.clock.has_due() and self._sole_receiver():
            # Receipts already due go out right after this read's responses instead of in a segment of their
            # own at the next clock wake-up: a synchronous gateway with one bind then reads its receipt without
            # an extra wake-up (smpplib 4.0-4.4k -> 5.2-6.2k msg/s). With several receiving binds the wake
            # grid's batches cost less than firing on every read (bench_matrix 4 x 1: 12.8k vs 8.7k/s).
            server._written_at_read_end = self
            try:
                server.poll_timers(sessions=False)
            finally:
                server._written_at_read_end = None
            wrote = self.flush() or wrote
        if not wrote and _QUICKACK is not None and self not in server._dirty:
            # A read that produced no reply: ACK now so a synchronous peer's next write is not held by
            # Nagle waiting on our delayed ACK (unless deliveries queued for this loop turn carry the ACK).
            sock = self.transport.get_extra_info("socket") if self.transport else None
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError:
                    pass
        server.active = True

    def _sole_receiver(self) -> bool:
        """Whether this is the only bind its account's deliveries can go to."""
        account = self.account
        if account is None:
            return False
        receivers = self.server.receivers_of(account.system_id)
        return len(receivers) == 1 and receivers[0] is self

    def pause_writing(self) -> None:
        """The peer stopped reading (the transport's buffer is full): stop reading its requests and sending it deliveries."""
        self._write_paused = True
        transport = self.transport
        log.info("session %d: the peer is not reading its responses; input paused until it does", self.id)
        if transport is not None and not transport.is_closing() and transport.is_reading():
            transport.pause_reading()

    def resume_writing(self) -> None:
        """The peer read enough: read its requests again (unless a stall fault holds them) and send what waited."""
        self._write_paused = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        log.info("session %d: the peer reads again; input resumed", self.id)
        if self._stall_timer is None and not transport.is_reading():
            transport.resume_reading()
        self._send_waiting()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """Unregister; requeue deliveries that were not acknowledged, so nothing is lost."""
        # The SMSC closed it when close() did, or when the session decided to (unbind answered, fatal error, timer).
        closed_by = BY_SMSC if getattr(self, "closed_by", None) or self.session.closing else BY_PEER
        for event in self.session.connection_lost():
            self._on_event(event)
        requeue = list(self.in_flight.values()) + list(self.pending)
        self.in_flight.clear()
        self.pending.clear()
        self.server._unregister(self)
        if self.account is not None:
            self.server.network.bind_closed(self.account.system_id, self.id)
        for delivery in requeue:
            self.server.stats.deliveries_requeued += 1
            self.server._enqueue_delivery(delivery, front=True)
        log.info("session %d closed%s", self.id, f" ({exc})" if exc else "")
        if self.server.pdu_log is not None:
            system_id = self.account.system_id if self.account else None
            self.server.pdu_log.session_event(
                self.server.clock.now(), self.id, system_id, CLOSED, closed_by=closed_by, peer=self.peer, reason=str(exc) if exc else ""
            )
        if not self.closed.done():
            self.closed.set_result(None)

    # --- helpers -----------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write whatever the session queued; close when the session says so. True if bytes were written."""
        data = self.session.data_to_send()
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        if self._shaped:
            return self._flush_shaped(data, transport)
        if data:
            transport.write(data)
        if self.session.closing:
            transport.close()
        return bool(data)

    def close(self) -> None:
        """Close the TCP connection now."""
        if self.transport is not None and not self.transport.is_closing():
            self.closed_by = BY_SMSC
            self.transport.close()

    def _send(self, pdu: P.Pdu, note: str = "", fault: FaultAction | None = None) -> P.Pdu:
        sent = self.session.send(pdu)
        if self._debug:
            log.debug("session %d -> %s", self.id, sent)
        if self.server.pdu_log is not None:
            self._record(OUT, sent, note, fault)
        return sent

    def _record(
        self, direction: str, pdu: P.Pdu, note: str = "", fault: FaultAction | None = None, beyond_window: int | None = None
    ) -> None:
        self.server.pdu_log.add(  # type: ignore[union-attr]
            self.server.clock.now(), self.id, self.account.system_id if self.account else None, direction, pdu, note, fault, beyond_window
        )

    def _on_request(self, pdu: P.Pdu) -> None:
        if self._debug:
            log.debug("session %d <- %s", self.id, pdu)
        if self._guarded and self._guard(pdu):
            return
        server = self.server
        if server.faults.rules:
            # A bind's account is the one it asks for: the connection has none yet.
            system_id = self.account.system_id if self.account else getattr(pdu, "system_id", None) if pdu.command_id in BIND_TYPE else None
            rule = server.faults.take(pdu, system_id, server.clock.now())
            if rule is not None:
                self._apply_fault(pdu, rule)
                return
        if server.pdu_log is not None:
            self._record(IN, pdu)
        self._respond(pdu, self._handle(pdu))

    def _mark_beyond_window(self, events: list[object]) -> None:
        """Find the requests of one read that exceed the account's window, as the session would have.

        The session decodes a whole read before any is handled, so a request is beyond the window when
        `window` requests were unanswered when it arrived: those of earlier reads still unanswered (e.g.
        held by a delay reaction) plus the earlier ones of this read; one beyond it does not count.
        """
        limit = self._window_limit
        if limit is None:
            return
        requests = [e.pdu for e in events if type(e) is RequestReceived and e.pdu.RESPONSE is not None]  # type: ignore[attr-defined]
        outstanding = self.session.unanswered - len(requests)
        beyond = self._beyond_window
        beyond.clear()
        for pdu in requests:
            if outstanding >= limit:
                beyond.add(id(pdu))
            else:
                outstanding += 1

    def _guard(self, pdu: P.Pdu) -> bool:
        """Drop requests after a disconnect reaction; react to one beyond the account's window. True when handled."""
        if self._dropping:
            return True
        if id(pdu) not in self._beyond_window:
            return False
        limit = self._window_limit
        assert self.account is not None
        reaction = self.account.window_reaction or ""
        server = self.server
        server.stats.rejected += 1
        trip = Trip(server.clock.now(), self.account.system_id, "window", bind_key(self.id), reaction, f"window of {limit} unanswered requests")
        server.network.throttle_trips.record(trip)
        note = f"beyond the window of {limit}: {reaction}"
        log.info("session %d %s seq=%d %s", self.id, pdu.command_name, pdu.sequence_number, note)
        if server.pdu_log is not None:
            self._record(IN, pdu, note, beyond_window=limit)
        status = server.config.peer_window_full_status
        if reaction == "disconnect":
            self.disconnect_now()
        elif reaction == "generic_nack":
            self._respond(pdu, P.GenericNack(command_status=status, sequence_number=pdu.sequence_number), note)
        else:
            self._respond(pdu, pdu.make_response(parse_status(reaction)), note)
        return True

    def disconnect_now(self) -> None:
        """Close the connection once the answers already made are written, ignoring the requests still to be handled from the same read."""
        self._dropping = self._guarded = True
        self.flush()
        self.close()

    def _handle(self, pdu: P.Pdu, throttle: bool = True) -> P.Pdu | None:
        """The handler's response; throttle=False (submits only) skips the throttles a delay reaction already passed."""
        handler = self.server._handlers.get(pdu.command_id)
        try:
            if handler is None:
                return pdu.make_response(S.ESME_RINVCMDID)
            # A plain call for the bulk of requests: no keyword arguments to pack.
            return handler(self, pdu) if throttle else handler(self, pdu, throttle=False)
        except Exception:  # noqa: BLE001 - answer ESME_RSYSERR and keep serving
            log.exception("session %d: handler for %s failed", self.id, pdu.command_name)
            self.server.stats.handler_errors += 1
            return pdu.make_response(S.ESME_RSYSERR) if pdu.RESPONSE else None

    def _respond(self, pdu: P.Pdu, response: P.Pdu | None, note: str = "") -> None:
        """Send the response to a request, then act on binds and unbinds."""
        if response is not None:
            if self.reports_congestion and response.command_id in _SUBMIT_RESPONSES and response.tlv("congestion_state") is None:
                response = response.with_tlv("congestion_state", self.server.congestion_state(self))
            try:
                self.session.send(response)
            except (SessionError, PduEncodeError):
                log.exception("session %d: could not send %s", self.id, response.command_name)
                self.server.stats.handler_errors += 1
                response = pdu.make_response(S.ESME_RSYSERR)
                try:
                    self.session.send(response)
                except SessionError:
                    log.exception("session %d: could not answer %s at all", self.id, pdu.command_name)
            if self._debug:
                log.debug("session %d -> %s", self.id, response)
            if self.server.pdu_log is not None:
                self._record(OUT, response, note)
            if self._overtaking:
                self._overtaken()
        command_id = pdu.command_id
        if command_id in _BIND_OR_UNBIND:
            self.server._receivers.clear()
            if command_id in BIND_TYPE and self.session.is_bound:
                self.server._drain_account(self.account.system_id if self.account else "")

    def answer(
        self,
        pdu: P.Pdu,
        note: str,
        respond: Callable[[], P.Pdu | None] | None,
        *,
        delay: float = 0.0,
        close: str | None = None,
        later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        """Answer a request as a reply rule or a throttle reaction says.

        close 'before' closes without answering; respond None never answers; otherwise respond()
        makes the response when it is sent: now, or after delay seconds on `later` (the event loop's
        real time unless given, e.g. the simulator clock's call_later); close 'after' closes then.
        """
        if close == "before":
            self.close()
            return
        if respond is None or pdu.RESPONSE is None:
            return
        if delay > 0:
            def late() -> None:
                if self.session.state is SessionState.CLOSED or self.transport is None or self.transport.is_closing():
                    return
                self._respond(pdu, respond(), note)
                self.flush()
                if close == "after":
                    self.close()

            (later or asyncio.get_running_loop().call_later)(delay, late)
            return
        self._respond(pdu, respond(), note)
        if close == "after":
            self.flush()
            self.close()

    # --- fault rules ---------------------------------------------------------------------------

    def _apply_fault(self, pdu: P.Pdu, rule: FaultRule) -> None:
        """Handle a request a fault rule selected: answer it the way the rule says, on the wire too."""
        server = self.server
        action = rule.action
        if action is None or not action.changes_anything:
            if server.pdu_log is not None:
                self._record(IN, pdu, f"expected by {rule.label}")
            response = self._handle(pdu)
            self._respond(pdu, response)
            self._fired(rule, pdu, _message_id(response))
            return
        note = f"{rule.label}: {action.describe()}"
        log.info("session %d %s seq=%d: %s", self.id, pdu.command_name, pdu.sequence_number, note)
        if server.pdu_log is not None:
            self._record(IN, pdu, note, action)
        cut = _cut_of(action)
        if cut is not None and cut[1] == "before":
            self._fired(rule, pdu, None)
            if cut[0] == "half_close":
                self.session.forget(pdu.sequence_number)  # never answered: the sending side is shut
            if action.unbind == "before":
                self._smsc_unbind(note)
            self._cut(cut[0])
            return
        if action.status is not None:
            response: P.Pdu | None = pdu.make_response(action.status) if pdu.RESPONSE is not None else None
        elif action.generic_nack is not None:
            response = P.GenericNack(command_status=action.generic_nack, sequence_number=pdu.sequence_number)
        else:
            response = self._handle(pdu)
        if response is not None and action.fields:
            try:
                changed = with_changes(response, action.fields)
                encode(changed)  # 'any' rules meet PDUs their fields were not checked against at install
                response = changed
            except (TypeError, ValueError, PduEncodeError) as exc:
                log.warning("session %d: fault rule %d fields not applied: %s", self.id, rule.id, exc)
                server.stats.handler_errors += 1
        message_id = _message_id(response)
        self._fired(rule, pdu, message_id)
        if action.receipt_first and message_id and self.account is not None:
            server.deliver_now(message_id, self.account.system_id)
        if response is None or pdu.RESPONSE is None or not action.respond:
            # Handled, but no response of ours goes out (or a throttle reaction answers itself).
            if response is not None and not action.respond:
                self.session.forget(pdu.sequence_number)  # the peer's window is its own business now
            self._after_effects(action, rule, note)
            self.flush()
            return
        delay = action.draw_delay(rule.rng)

        def send() -> None:
            if self.session.state is SessionState.CLOSED or self.transport is None or self.transport.is_closing():
                return
            if action.out_of_order:
                self._hold_response(pdu, response, note, action.out_of_order)
            else:
                self._send_shaped(action, note, lambda: self._respond(pdu, response, note))
                if action.duplicate:
                    self.session.send_raw(encode(response))  # queued behind the first copy, in order
                    if server.pdu_log is not None:
                        self._record(OUT, response, f"{note} (second copy)")
            self._after_effects(action, rule, note)
            self.flush()

        if delay > 0:
            asyncio.get_running_loop().call_later(delay, send)
        else:
            send()

    def _fault_on_delivery(self, delivery: Delivery, rule: FaultRule) -> bool:
        """Send a delivery the way a fault rule says; False when the pump must stop (the connection goes)."""
        server = self.server
        action = rule.action
        pdu = delivery.pdu
        system_id = self.account.system_id if self.account else None
        message_id = _message_id(pdu)
        if action is None or not action.changes_anything:
            self._fired(rule, pdu, message_id)
            self._send_delivery(delivery)
            return True
        note = f"{rule.label}: {action.describe()}"
        log.info("session %d %s to %s: %s", self.id, pdu.command_name, system_id, note)
        self._fired(rule, pdu, message_id)
        cut = _cut_of(action)
        if cut is not None and cut[1] == "before":
            self.pending.appendleft(delivery)  # requeued for the next bind when the connection goes
            if action.unbind == "before":
                self._smsc_unbind(note)
            self._cut(cut[0])
            return False
        if action.fields:
            try:
                changed = with_changes(pdu, action.fields)
                encode(changed)
                delivery.pdu = changed
            except (TypeError, ValueError, PduEncodeError) as exc:
                log.warning("session %d: fault rule %d fields not applied: %s", self.id, rule.id, exc)
                server.stats.handler_errors += 1
        delay = action.draw_delay(rule.rng)
        if delay > 0:
            # Back to the account's queue after the delay (not this bind's: it may be gone by then).
            server.hold_delivery(delivery, delay)
            return True
        self._send_shaped(action, note, lambda: self._send_delivery(delivery, note, action))
        if action.duplicate:
            if self.session.can_send_request():
                self._send(delivery.pdu.with_sequence(0), f"{note} (second copy)", action)
                server.stats.deliveries_sent += 1
            else:
                log.info("session %d: second copy of %s not sent: the window is full", self.id, pdu.command_name)
        self._after_effects(action, rule, note)
        return cut is None and not action.unbind

    def _fired(self, rule: FaultRule, pdu: P.Pdu, message_id: str | None) -> None:
        """Count a firing, keep its record, and note it in the message's timeline."""
        server = self.server
        server.stats.faults_fired += 1
        system_id = self.account.system_id if self.account else None
        now = server.clock.now()
        server.faults.record(rule, now, self.id, system_id, pdu, message_id)
        if message_id and system_id:
            message = server.store.get(message_id, system_id)
            if message is not None:
                what = rule.action.describe() if rule.action is not None else "expectation met"
                message.event(now, f"{rule.label} on {pdu.command_name}: {what}")

    def _send_shaped(self, action: FaultAction, note: str, send: Callable[[], object]) -> None:
        """Queue one PDU through send() and write it as the action shapes it (unbind before, malformed, split, coalesced)."""
        if action.unbind == "before":
            self._smsc_unbind(note)
        if action.coalesce is not None:
            self.flush()
            self._start_hold(action.coalesce.count, action.coalesce.within_seconds)
        if action.malformed is None and action.split is None:
            send()
            return
        self.flush()  # what was queued earlier goes out as it was
        send()
        data = self.session.data_to_send()
        length = int.from_bytes(data[:4], "big")
        head, rest = bytearray(data[:length]), data[length:]
        if isinstance(action.malformed, Malformed):
            _corrupt(head, action.malformed)
        if isinstance(action.split, Split):
            size, gap = action.split.octets, action.split.gap_seconds
            for i in range(0, len(head), size):
                self._write(bytes(head[i : i + size]), gap)
        else:
            self._write(bytes(head))
        if rest:
            self._write(rest)

    def _after_effects(self, action: FaultAction, rule: FaultRule, note: str) -> None:
        """What happens once the PDU is out: an unbind, a close, a reset or half-close, a reading stall."""
        if action.unbind == "after":
            self._smsc_unbind(note)
        if action.stall is not None:
            self._stall(action.stall_seconds)
        cut = _cut_of(action)
        if cut is not None and cut[1] == "after":
            self.flush()
            self._when_written(lambda: self._cut(cut[0]))

    def _smsc_unbind(self, note: str) -> None:
        unbind = self.session.start_unbind()
        if unbind is not None and self.server.pdu_log is not None:
            self._record(OUT, unbind, note)
        self.flush()

    def _cut(self, how: str) -> None:
        """End the connection: close (FIN), reset (RST) or half-close (stop sending, keep reading)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if how == "half_close":
            self.flush()
            self._write_shut = self._shaped = True  # nothing new goes out; what is being written still does
            self.closed_by = BY_SMSC
            log.info("session %d: half-closed by a fault rule", self.id)

            def eof() -> None:
                if self.transport is not None and not self.transport.is_closing() and self.transport.can_write_eof():
                    self.transport.write_eof()

            self._when_written(eof)
            # No more deliveries here: those not sent yet go back to the account's queue, for other binds.
            server = self.server
            server._receivers.clear()
            waiting, self.pending = list(self.pending), deque()
            for delivery in reversed(waiting):
                server._enqueue_delivery(delivery, front=True)
            return
        if how == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            log.info("session %d: reset by a fault rule", self.id)
            self.closed_by = BY_SMSC
            transport.abort()
            return
        log.info("session %d: closed by a fault rule", self.id)
        self.flush()
        self.close()

    def _stall(self, seconds: float) -> None:
        """Stop reading for a while: the peer's writes back up in the socket buffers."""
        transport = self.transport
        if transport is None or transport.is_closing() or seconds <= 0:
            return
        transport.pause_reading()
        log.info("session %d: reading stalled for %.3f s by a fault rule", self.id, seconds)

        def resume() -> None:
            self._stall_timer = None
            if self.transport is not None and not self.transport.is_closing() and not self.transport.is_reading() and not self._write_paused:
                self.transport.resume_reading()

        if self._stall_timer is not None:  # a new stall replaces the one under way
            self._stall_timer.cancel()
        self._stall_timer = asyncio.get_running_loop().call_later(seconds, resume)

    def _hold_response(self, pdu: P.Pdu, response: P.Pdu, note: str, overtaken_by: int) -> None:
        """Keep a response back until `overtaken_by` later responses went out (or OUT_OF_ORDER_HOLD passed)."""
        entry = [overtaken_by, pdu, response, note]
        self._overtaking.append(entry)

        def release() -> None:
            if entry in self._overtaking and self.transport is not None and not self.transport.is_closing():
                self._overtaking.remove(entry)
                self._respond(pdu, response, f"{note} (held {OUT_OF_ORDER_HOLD:g} s: nothing overtook it)")
                self.flush()

        asyncio.get_running_loop().call_later(OUT_OF_ORDER_HOLD, release)

    def _overtaken(self) -> None:
        """A response went out: held ones it was the last to overtake go out now."""
        due = []
        for entry in self._overtaking:
            entry[0] -= 1
            if entry[0] <= 0:
                due.append(entry)
        for entry in due:
            self._overtaking.remove(entry)
            self._respond(entry[1], entry[2], f"{entry[3]} (sent after later responses)")

    # --- output shaping (faults only) --------------------------------------------------------

    def _flush_shaped(self, data: bytes, transport: asyncio.Transport) -> bool:
        if data:
            self._write(data)
        if self.session.closing:
            self._when_written(self.close)
        return bool(data)

    def _write(self, data: bytes, pause_after: float = 0.0) -> None:
        """Write through the fault shaping: after a half-close nothing goes out; held or queued output keeps its order."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._write_shut:
            log.info("session %d: %d octet(s) not sent: the sending side is shut", self.id, len(data))
            return
        if self._hold is not None:
            self._hold += data
            if _count_pdus(self._hold) >= self._hold_wanted:
                self._release_hold()
            return
        if not self._shaped and not pause_after:
            transport.write(data)
            return
        self._shaped = True
        self._out_queue.append((data, pause_after))
        if not self._out_busy:
            self._drain_out()

    def _drain_out(self) -> None:
        transport = self.transport
        self._out_busy = False
        while self._out_queue:
            if transport is None or transport.is_closing():
                self._out_queue.clear()
                break
            data, pause = self._out_queue.popleft()
            transport.write(data)
            if pause > 0:  # nothing else goes out before the pause is over
                self._out_busy = True
                asyncio.get_running_loop().call_later(pause, self._drain_out)
                return
        self._output_idle()

    def _start_hold(self, count: int, within: float) -> None:
        if self._hold is not None:
            return
        self._hold = bytearray()
        self._hold_wanted = count
        self._shaped = True
        self._hold_timer = asyncio.get_running_loop().call_later(within, self._release_hold)

    def _release_hold(self) -> None:
        if self._hold_timer is not None:  # released by its count: its timer must not end the next hold
            self._hold_timer.cancel()
            self._hold_timer = None
        held, self._hold = self._hold, None
        if held is None:
            return
        if held:
            self._write(bytes(held))
        self._output_idle()

    def _output_idle(self) -> None:
        """Run what waited for the output to be written; drop back to the fast path when nothing is shaped."""
        if self._out_busy or self._out_queue or self._hold is not None:
            return
        waiting, self._after_output = self._after_output, []
        for callback in waiting:
            callback()
        if not self._write_shut and not self._after_output:
            self._shaped = False

    def _when_written(self, callback: Callable[[], None]) -> None:
        """Run callback once the shaped output has been written (at once when nothing is held)."""
        if self._out_busy or self._out_queue or self._hold is not None:
            self._after_output.append(callback)
        else:
            callback()

    def _on_event(self, event: object) -> None:
        server = self.server
        if isinstance(event, ResponseReceived):
            if self._debug:
                log.debug("session %d <- %s", self.id, event.pdu)
            if server.pdu_log is not None:
                self._record(IN, event.pdu)
            delivery = self.in_flight.pop(event.pdu.sequence_number, None)
            if delivery is not None:
                server.stats.deliveries_acked += 1
                if event.pdu.command_status != 0 and delivery.attempts < server.config.smsc.delivery_attempts:
                    server._retry_delivery(delivery, event.pdu.command_status)
                elif delivery.future is not None and not delivery.future.done():
                    delivery.future.set_result(event.pdu)
            # Window room on this bind also serves what waits at the account level.
            self._send_waiting()
        elif isinstance(event, RequestRejected):
            server.stats.rejected += 1
            if self.account is not None and event.window is not None:
                # The session refused a request beyond the window itself (no window_reaction set): count the trip.
                trip = Trip(server.clock.now(), self.account.system_id, "window", bind_key(self.id), status_name(event.status), f"window of {event.window} unanswered requests")
                server.network.throttle_trips.record(trip)
            if server.pdu_log is not None:
                if event.pdu is not None:
                    self._record(IN, event.pdu)
                    if event.pdu.RESPONSE is not None:
                        self._record(OUT, event.pdu.make_response(event.status), f"rejected: {event.reason}", beyond_window=event.window)
                else:
                    nack = P.GenericNack(command_status=event.status, sequence_number=event.sequence_number)
                    self._record(OUT, nack, f"rejected {_command_name(event.command_id)}: {event.reason}")
            log.info(
                "session %d rejected %s seq=%d: %s (%s)",
                self.id,
                _command_name(event.command_id),
                event.sequence_number,
                status_name(event.status),
                event.reason,
            )
        elif isinstance(event, ProtocolError):
            server.stats.protocol_errors += 1
            if server.pdu_log is not None:
                nack = P.GenericNack(command_status=event.error.status, sequence_number=event.error.sequence_number or 0)
                self._record(OUT, nack, f"protocol error: {event.error}")
            log.info(
                "session %d protocol error: %s -> generic_nack %s%s",
                self.id,
                event.error,
                status_name(event.error.status),
                ", closing" if event.fatal else "",
            )
        elif isinstance(event, StateChanged):
            server._receivers.clear()
            if event.new is SessionState.UNBOUND:
                log.info("session %d unbound (unbind_resp received)", self.id)
        elif isinstance(event, ResponseTimeout):
            delivery = self.in_flight.pop(event.request.sequence_number, None)
            log.info("session %d: no response to %s seq=%d", self.id, event.request.command_name, event.request.sequence_number)
            if delivery is not None:
                server.stats.deliveries_requeued += 1
                server._enqueue_delivery(delivery, front=True)
        elif isinstance(event, TimerFired):
            log.info("session %d timer %s", self.id, event.kind)

    def _pump(self) -> None:
        """Send queued deliveries while the window allows."""
        faults = self.server.faults
        while self.pending and self.accepts_deliveries:
            delivery = self.pending.popleft()
            if faults.watch_out and not delivery.fault_checked:
                delivery.fault_checked = True
                system_id = self.account.system_id if self.account else None
                rule = faults.take(delivery.pdu, system_id, self.server.clock.now(), "out")
                if rule is not None:
                    if not self._fault_on_delivery(delivery, rule):
                        break
                    continue
            self._send_delivery(delivery)

    @property
    def accepts_deliveries(self) -> bool:
        """True when a deliver_sm may go out now: a receiver bind with window room whose peer reads and can be written to."""
        session = self.session
        return session.can_receive_messages and session.can_send_request() and not self._write_shut and not self._write_paused

    def _send_waiting(self) -> None:
        """Send this bind's queued deliveries, then what waits at the account level, while the window allows."""
        self._pump()
        if self.account is not None and self.server._queues.get(self.account.system_id):
            self.server._drain_account(self.account.system_id)

    def _send_delivery(self, delivery: Delivery, note: str = "", fault: FaultAction | None = None) -> None:
        pdu = delivery.pdu
        try:
            sent = self._send(pdu if pdu.sequence_number == 0 else pdu.with_sequence(0), note, fault)
        except PduEncodeError as exc:
            # A PDU nobody can send: say so to whoever waits for it (and the teardown check), never hang.
            log.error("session %d: %s for %s cannot be encoded, dropped: %s", self.id, pdu.command_name, delivery.system_id, exc)
            self.server.stats.handler_errors += 1
            delivery.fail(exc)
            return
        delivery.attempts += 1
        self.in_flight[sent.sequence_number] = delivery
        self.server.stats.deliveries_sent += 1

    def poll_timers(self) -> None:
        """Run the session's due timers and act on their events."""
        deadline = self.session.next_deadline()
        if deadline is None or deadline > self.server.session_clock.now():
            return
        for event in self.session.handle_timers():
            self._on_event(event)
        self.flush()
        if self.session.state is SessionState.CLOSED:
            self.close()


def _message_id(pdu: P.Pdu | None) -> str | None:
    """The message a PDU is about: a response's message_id, or the id a receipt reports."""
    if pdu is None:
        return None
    message_id = getattr(pdu, "message_id", None)
    if message_id:
        return message_id
    receipted = pdu.tlv("receipted_message_id") if hasattr(pdu, "tlv") else None
    if isinstance(receipted, bytes):
        receipted = receipted.rstrip(b"\0").decode("latin-1")
    return receipted or None


def _cut_of(action: FaultAction) -> tuple[str, str] | None:
    """How the action ends the connection, if it does: ('close' | 'reset' | 'half_close', 'before' | 'after')."""
    for how in ("close", "reset", "half_close"):
        when = getattr(action, how)
        if when:
            return how, when
    return None


def _corrupt(head: bytearray, malformed: Malformed) -> None:
    """Overwrite one header field of an encoded PDU with the wrong value the fault asks for."""
    length, command_id, _, sequence = struct.unpack_from(">IIII", head)
    offset = {"command_length": 0, "command_id": 4, "sequence_number": 12}[malformed.field]
    struct.pack_into(">I", head, offset, malformed.header_value(length, command_id, sequence))


def _count_pdus(data: bytes | bytearray) -> int:
    """How many whole PDUs a run of encoded output holds."""
    count = position = 0
    while position + 4 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        if length < 16 or position + length > len(data):
            break
        position += length
        count += 1
    return count


def _command_name(command_id: int) -> str:
    try:
        return C(command_id).name
    except ValueError:
        return f"0x{command_id:08X}"


class SmscServer:
    """The simulated SMSC: accounts, sessions, stored messages and SMSC-originated deliveries."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        *,
        manage_gc: bool = False,
        session_clock: Clock | None = None,
    ) -> None:
        """manage_gc tunes the process's garbage collector (GcPolicy): for a server process of its own,
        not for a simulator embedded in a test process."""
        self.config = config or default_config()
        self.gc_policy = GcPolicy() if manage_gc else None
        self.active = False
        self.clock = clock or RealClock()
        # SMPP session timers (enquire_link, inactivity, response timeouts) face a real TCP peer, so they
        # run on real time even when the network runs on a virtual clock: advancing the network by 48 h
        # must not time out a gateway that had no real time to answer.
        self.session_clock: Clock = session_clock or RealClock()
        self.pdu_log: PduLog | None = PduLog(self.config.smsc.pdu_log) if self.config.smsc.pdu_log else None
        self.seed = self.config.seed if seed is None else seed
        self.faults = FaultRules(self.seed, history=max(self.config.smsc.pdu_log, 100))
        # Parsed once: a reset rebuilds the network from it instead of reading the YAML again.
        self.profile = load_profile(self.config.network)
        self._build_state()
        self._wake: asyncio.TimerHandle | None = None
        self._wake_at_time = float("inf")
        self._dirty: set[SmppConnection] = set()
        self._written_at_read_end: SmppConnection | None = None  # see SmppConnection.data_received
        # Receiver binds per account, rebuilt whenever a session binds, unbinds or closes.
        self._receivers: dict[str, list[SmppConnection]] = {}
        self._held: dict[Delivery, asyncio.TimerHandle] = {}  # deliveries a fault delays, with their timers
        self.stats = ServerStats()
        self.connections: dict[int, SmppConnection] = {}
        self._connection_ids = itertools.count(1)
        self._queues: dict[str, deque[Delivery]] = {}
        self._overflowing: set[str] = set()  # accounts whose queue overflowed (warned once until it empties)
        self._round_robin: dict[str, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._handlers: dict[int, Callable[..., P.Pdu | None]] = {
            C.bind_transmitter: self._on_bind,
            C.bind_receiver: self._on_bind,
            C.bind_transceiver: self._on_bind,
            C.unbind: self._on_unbind,
            C.enquire_link: _answer,
            C.submit_sm: self._on_submit_sm,
            C.data_sm: self._on_data_sm,
            C.submit_multi: self._on_submit_multi,
            C.query_sm: self._on_query_sm,
            C.cancel_sm: self._on_cancel_sm,
            C.replace_sm: self._on_replace_sm,
            C.broadcast_sm: self._on_broadcast_sm,
            C.query_broadcast_sm: self._on_query_broadcast_sm,
            C.cancel_broadcast_sm: self._on_cancel_broadcast_sm,
        }

    def _build_state(self) -> None:
        """The network-side state a reset starts afresh: generator, store, network, lifecycle, ids."""
        self.rng = random.Random(self.seed)
        self.store = MessageStore(self.config.smsc.message_store_limit)
        self.network = Network(self.profile, self.config.accounts, now=self.clock.now())
        self.lifecycle = Lifecycle(
            self.clock, self.rng, self.network, self._emit_receipt, self.config.smsc.message_id_format
        )
        self.message_ids = MessageIdGenerator(self.config.smsc.message_id_format, self.rng)
        # The configuration's fault rules, installed afresh (counters, windows and generators restart).
        self.faults.clear(self.seed)
        now = self.clock.now()
        for spec in [*self.profile.fault_specs, *self.config.fault_specs]:
            self.faults.add(spec, now, origin="config")

    def reset(self) -> None:
        """Forget messages, pending events, queued deliveries, credits, handsets, rules and the PDU log.

        Bound sessions stay bound, so a gateway keeps its link across resets; the generator restarts
        from the seed, so a reset simulator repeats its run.
        """
        self.clock.clear()
        dropped = [d for queue in self._queues.values() for d in queue]
        self._queues.clear()
        self._overflowing.clear()
        for delivery, timer in self._held.items():
            timer.cancel()
            dropped.append(delivery)
        self._held.clear()
        for conn in self.connections.values():
            dropped += [*conn.pending, *conn.in_flight.values()]
            conn.pending.clear()
            conn.in_flight.clear()
        for delivery in dropped:
            if delivery.future is not None and not delivery.future.done():
                delivery.future.cancel()
        if self.pdu_log is not None:
            self.pdu_log.clear()
        self.stats = ServerStats()
        self._build_state()
        log.info("simulator reset")

    def reconfigure(self, config: ServerConfig, profile: NetworkProfile | None = None) -> int:
        """Run with another configuration from now on (accounts, SMSC settings, seed, network, fault rules), then reset.

        profile is the network to use instead of loading config.network. Every session is closed
        first, since it bound under the old accounts and settings; returns how many were. The clock
        and the listening address stay. ValueError when the new configuration would switch off the
        PDU log, which the control API and the harness read (a restart can).
        """
        if self.pdu_log is not None and not config.smsc.pdu_log:
            raise ValueError("smsc.pdu_log: the PDU log cannot be switched off while the simulator runs (restart it)")
        profile = profile if profile is not None else load_profile(config.network)
        closed = self.disconnect()
        self.config = config
        self.seed = config.seed
        self.profile = profile
        if self.pdu_log is None:
            self.pdu_log = PduLog(config.smsc.pdu_log) if config.smsc.pdu_log else None
        else:
            self.pdu_log.resize(config.smsc.pdu_log)
        self._receivers.clear()
        self._round_robin.clear()
        self.reset()
        log.info("simulator reconfigured: network %s, %d account(s), seed %s", config.network, len(config.accounts), config.seed)
        return closed

    def advance(self, seconds: float) -> int:
        """Move a virtual clock forward, firing everything due on the way; returns how many events fired."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("only a virtual clock can be advanced; this simulator runs on real time")
        fired = self.clock.advance(seconds)
        self.poll_timers()
        return fired

    def disconnect(self, session_id: int | None = None, system_id: str | None = None) -> int:
        """Close sessions by id or account (all when neither is given); returns how many were closed."""
        targets = [
            conn
            for conn in self.connections.values()
            if (session_id is None or conn.id == session_id)
            and (system_id is None or (conn.account is not None and conn.account.system_id == system_id))
        ]
        for conn in targets:
            log.info("session %d: closed by request", conn.id)
            conn.close()
        return len(targets)

    def sessions(self) -> list[dict[str, object]]:
        """A summary of every open connection."""
        return [
            {
                "id": conn.id,
                "peer": conn.peer,
                "system_id": conn.account.system_id if conn.account else None,
                "bind_type": conn.bind_type,
                "state": conn.session.state.name,
                "in_flight": len(conn.in_flight),
                "pending": len(conn.pending),
            }
            for conn in self.connections.values()
        ]

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 2775) -> tuple[str, int]:
        """Listen on host:port (port 0 picks a free one); return the bound address."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SmppConnection(self), host, port, reuse_address=True)
        address = self._server.sockets[0].getsockname()
        self._ticker = loop.create_task(self._tick())
        if not isinstance(self.clock, VirtualClock):
            self.clock.on_earliest_changed = self._wake_for
            due = self.clock.next_due()
            if due is not None:
                self._wake_for(due)
        log.info("SMSC listening on %s:%d with %d account(s)", address[0], address[1], len(self.config.accounts))
        return address[0], address[1]

    @property
    def address(self) -> tuple[str, int]:
        """The listening host and port."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: stop listening, unbind every session, wait briefly for unbind_resp, close."""
        grace = self.config.smsc.shutdown_grace if grace is None else grace
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.values()):
            if conn.session.start_unbind() is not None:
                log.info("session %d: unbinding for shutdown", conn.id)
            elif conn.session.state is SessionState.OPEN:
                conn.close()
            conn.flush()
        waiting = [conn.closed for conn in self.connections.values()]
        if waiting:
            await asyncio.wait(waiting, timeout=grace)
        for conn in list(self.connections.values()):
            conn.close()
        if waiting:
            await asyncio.wait(waiting, timeout=1.0)
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        log.info("SMSC stopped")

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        policy = self.gc_policy
        # Session timers need a poll every TIMER_TICK; the GC policy's collections come more often,
        # since each one's pause grows with what survived since the one before.
        step = min(TIMER_TICK, policy.interval) if policy is not None else TIMER_TICK
        next_poll = 0.0
        while True:
            await asyncio.sleep(step)
            now = loop.time()
            if now >= next_poll:
                self.poll_timers()
                next_poll = now + TIMER_TICK - step / 2
            if policy is not None:
                # Timers about to fire count as activity: the idle sweep must not delay them.
                due = self.clock.next_due()
                soon = due is not None and self.clock.seconds_until(due) < 2 * policy.idle_after
                policy.tick(now, self.active or soon)
            self.active = False

    def _wake_for(self, when: float) -> None:
        """Have the event loop run due clock calls at `when` (one pending wake-up, the earliest)."""
        if when >= self._wake_at_time and self._wake is not None:
            return
        if self._wake is not None:
            self._wake.cancel()
        self._wake_at_time = when
        self._wake = asyncio.get_running_loop().call_later(self.clock.seconds_until(when), self._on_wake)

    def _on_wake(self) -> None:
        self._wake = None
        self._wake_at_time = float("inf")
        # Session timers have second-scale deadlines and _tick polls them every TIMER_TICK; clock
        # wake-ups come up to once a millisecond while receipts are due, too often to walk every session.
        self.poll_timers(sessions=False)

    def poll_timers(self, sessions: bool = True) -> None:
        """Fire due clock callbacks and session timers (the harness calls this after advancing a virtual clock)."""
        try:
            self.clock.run_due()
            if sessions:
                for conn in list(self.connections.values()):
                    conn.poll_timers()
        except Exception:  # noqa: BLE001 - timers must keep running
            log.exception("timer processing failed")
            self.stats.handler_errors += 1
        if self._ticker is not None and not isinstance(self.clock, VirtualClock):
            due = self.clock.next_due()
            if due is not None:
                self._wake_for(due)

    def session_config(self) -> SessionConfig:
        """Session settings for a new connection, from the SMSC settings."""
        s = self.config.smsc
        return SessionConfig(
            window=10,
            peer_window=10,
            window_full_status=self.config.peer_window_full_status,
            max_command_length=s.max_command_length,
            interface_version=s.interface_version,
            session_init_timeout=s.session_init_timeout,
            enquire_link_interval=s.enquire_link_interval,
            inactivity_timeout=s.inactivity_timeout,
            response_timeout=s.response_timeout,
        )

    def _register(self, conn: SmppConnection) -> None:
        self.connections[conn.id] = conn
        self.stats.connections += 1

    def _unregister(self, conn: SmppConnection) -> None:
        self.connections.pop(conn.id, None)
        self._receivers.clear()

    def bound_connections(self, system_id: str) -> list[SmppConnection]:
        """Live bound connections of an account."""
        return [
            c
            for c in self.connections.values()
            if c.account is not None and c.account.system_id == system_id and c.session.is_bound
        ]

    # --- request handlers --------------------------------------------------------------------

    def _on_bind(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        bind: P.BindTransmitter = pdu  # type: ignore[assignment]
        account = self.config.account(bind.system_id)
        specific = self.config.smsc.auth_failure == "specific"
        bind_type = BIND_TYPE[C(pdu.command_id)]
        status = S.ESME_ROK
        reason = ""
        if account is None:
            status, reason = (S.ESME_RINVSYSID if specific else S.ESME_RBINDFAIL), "unknown system_id"
        elif account.password != bind.password:
            status, reason = (S.ESME_RINVPASWD if specific else S.ESME_RBINDFAIL), "wrong password"
        elif bind_type not in account.bind_types:
            status, reason = S.ESME_RBINDFAIL, f"bind type {bind_type} not allowed for this account"
        elif len(self.bound_connections(account.system_id)) >= account.max_binds:
            status, reason = S.ESME_RBINDFAIL, f"account already has its maximum of {account.max_binds} binds"
        if status:
            self.stats.binds_refused += 1
            log.info(
                "session %d bind_%s refused for system_id %r: %s (%s)",
                conn.id,
                bind_type,
                bind.system_id,
                status_name(status),
                reason,
            )
            return pdu.make_response(status)
        assert account is not None
        conn.account = account
        conn.bind_type = bind_type
        smsc = self.config.smsc
        conn.reports_congestion = smsc.report_congestion and min(bind.interface_version, smsc.interface_version) >= 0x50
        conn.session.config.window = account.window
        conn.session.config.peer_window = account.window
        if account.window_reaction is not None:
            # The connection applies the account's window itself (see _guard), with the account's reaction.
            conn.session.config.peer_window = 1 << 30
            conn._window_limit = account.window
            conn._guarded = True
        self.stats.binds_ok += 1
        log.info(
            "session %d bound %s as %s (interface_version 0x%02X)", conn.id, bind_type, account.system_id, bind.interface_version
        )
        return pdu.make_response(system_id=self.config.smsc.system_id)

    def _on_unbind(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        log.info("session %d unbound by the ESME", conn.id)
        return pdu.make_response()

    def _accept(
        self, conn: SmppConnection, pdu: P.Pdu, route: Route | None, destinations: tuple[str, ...] = (), now: float | None = None
    ) -> Message:
        if now is None:
            now = self.clock.now()
        message = Message(self.message_ids.next(), conn.account.system_id, pdu, now, destinations, route=route)  # type: ignore[union-attr]
        self.store.add(message)
        self.stats.submits += 1
        if route is not None and route.loopback:
            self._schedule_loopback(route)
        return message

    def _react(self, conn: SmppConnection, pdu: P.Pdu, refusal: Refusal) -> P.Pdu | None:
        """Carry out a throttle's reaction to a request: a status response, generic_nack, a delayed answer, or a disconnect.

        Returns the response to send now, or None when the reaction answers (or never answers) itself.
        """
        config = refusal.trip.throttle if refusal.trip is not None else None
        action = config.action if config is not None else "status"
        log.info("session %d %s seq=%d throttled: %s -> %s", conn.id, pdu.command_name, pdu.sequence_number, refusal.reason, action)
        if action == "status":
            return pdu.make_response(refusal.status)
        assert config is not None
        note = f"throttled: {refusal.reason}"
        if action == "generic_nack":
            conn.answer(pdu, note, lambda: P.GenericNack(command_status=refusal.status, sequence_number=pdu.sequence_number))
        elif action == "disconnect":
            conn.disconnect_now()
        else:
            conn.answer(pdu, note, lambda: conn._handle(pdu, throttle=False), delay=config.delay_seconds, later=self.clock.call_later)
        return None

    def _on_submit_sm(self, conn: SmppConnection, pdu: P.Pdu, throttle: bool = True) -> P.Pdu | None:
        account = conn.account
        # One clock reading for the whole request: acceptance, checks and plan all see the same instant.
        now = self.clock.now()
        try:
            start, expires = self.lifecycle.times(pdu, account, now)
        except TimeRefusal as exc:
            log.info("session %d %s refused: %s (%s)", conn.id, pdu.command_name, status_name(exc.status), exc)
            return pdu.make_response(exc.status)
        route = self.network.check_submit(account.system_id, pdu, now, session=conn.id, throttle=throttle)  # type: ignore[union-attr]
        if type(route) is Refusal:
            if route.trip is not None:
                return self._react(conn, pdu, route)
            log.info("session %d %s refused: %s (%s)", conn.id, pdu.command_name, status_name(route.status), route.reason)
            return pdu.make_response(route.status)
        message = self._accept(conn, pdu, route, now=now)  # type: ignore[arg-type]
        self.lifecycle.start(message, start, expires, now)
        return pdu.make_response(message_id=message.message_id)

    _on_data_sm = _on_submit_sm

    def _on_submit_multi(self, conn: SmppConnection, pdu: P.Pdu, throttle: bool = True) -> P.Pdu | None:
        multi: P.SubmitMulti = pdu  # type: ignore[assignment]
        try:
            start, expires = self.lifecycle.times(pdu, conn.account)
        except TimeRefusal as exc:
            log.info("session %d submit_multi refused: %s (%s)", conn.id, status_name(exc.status), exc)
            return pdu.make_response(exc.status)
        accepted: list[str] = []
        failed: list[P.UnsuccessfulSme] = []
        now = self.clock.now()
        routes: list[Route] = []
        reaction: Refusal | None = None
        for dest in self._expand_destinations(conn.account, multi.dest_addresses, failed):  # type: ignore[arg-type]
            route = self.network.check_submit(
                conn.account.system_id,  # type: ignore[union-attr]
                pdu,
                now,
                destination=(dest.ton, dest.npi, dest.address),
                session=conn.id,
                throttle=throttle,
            )
            if isinstance(route, Refusal):
                # Each destination counts on its own; a reaction beyond a status applies to the
                # whole submit_multi when no destination got through (nothing to take back).
                if route.trip is not None and route.trip.throttle is not None and route.trip.throttle.action != "status":
                    reaction = reaction or route
                failed.append(P.UnsuccessfulSme(dest.ton, dest.npi, dest.address, route.status))
            else:
                accepted.append(dest.address)
                routes.append(route)
        if not accepted:
            if reaction is not None:
                return self._react(conn, pdu, reaction)
            return pdu.make_response(S.ESME_RSUBMITFAIL, unsuccess_sme=tuple(failed))
        message = self._accept(conn, pdu, routes[0], tuple(accepted))
        self.lifecycle.start(message, start, expires)
        return pdu.make_response(message_id=message.message_id, unsuccess_sme=tuple(failed))

    @staticmethod
    def _expand_destinations(
        account: Account, destinations: tuple[P.SmeAddress | P.DistributionList, ...], failed: list[P.UnsuccessfulSme]
    ) -> list[P.SmeAddress]:
        """A submit_multi's SME addresses with the account's distribution lists expanded into their members,
        each address once (the first time it comes); an unknown list goes to `failed` as ESME_RINVDLNAME."""
        out: list[P.SmeAddress] = []
        seen: set[tuple[int, int, str]] = set()
        for dest in destinations:
            if isinstance(dest, P.DistributionList):
                members = account.distribution_lists.get(dest.name)
                if members is None:
                    failed.append(P.UnsuccessfulSme(0, 0, dest.name, S.ESME_RINVDLNAME))
                    continue
                smes = [P.SmeAddress(1, 1, number.lstrip("+")) for number in members]  # international, ISDN
            else:
                smes = [dest]
            for sme in smes:
                key = (sme.ton, sme.npi, sme.address)
                if key not in seen:
                    seen.add(key)
                    out.append(sme)
        return out

    def throttle_report(self, last: int = 100) -> dict[str, object]:
        """Throttle layers with their counters per key, and every trip (window ones too) with its clock time."""
        return self.network.throttle_report(last)

    def _on_query_sm(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        query: P.QuerySm = pdu  # type: ignore[assignment]
        message = self.store.get(query.message_id, conn.account.system_id)  # type: ignore[union-attr]
        if message is None:
            return pdu.make_response(S.ESME_RQUERYFAIL)
        final_date = ""
        if message.final_at is not None:
            final_date = format_absolute(_utc(message.final_at))
        return pdu.make_response(
            message_id=message.message_id,
            final_date=final_date,
            message_state=int(message.state),
            error_code=message.error_code,
        )

    def _on_cancel_sm(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        cancel: P.CancelSm = pdu  # type: ignore[assignment]
        system_id = conn.account.system_id  # type: ignore[union-attr]
        if cancel.message_id:
            message = self.store.get(cancel.message_id, system_id)
            targets = [message] if message is not None and not message.is_final else []
        else:
            targets = self.store.find(
                system_id,
                source_addr=cancel.source_addr,
                destination_addr=cancel.destination_addr,
                service_type=cancel.service_type,
            )
        cancelled = [message for message in targets if self.lifecycle.cancel(message)]
        if not cancelled:
            return pdu.make_response(S.ESME_RCANCELFAIL)
        return pdu.make_response()

    def _on_replace_sm(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        replace: P.ReplaceSm = pdu  # type: ignore[assignment]
        message = self.store.get(replace.message_id, conn.account.system_id)  # type: ignore[union-attr]
        if message is None or message.is_final or not hasattr(message.pdu, "short_message"):
            return pdu.make_response(S.ESME_RREPLACEFAIL)
        payload = replace.tlv("message_payload")
        changes: dict[str, object] = {
            "short_message": b"" if payload is not None else replace.short_message,
            "registered_delivery": replace.registered_delivery,
            "sm_default_msg_id": replace.sm_default_msg_id,
        }
        if replace.schedule_delivery_time:
            changes["schedule_delivery_time"] = replace.schedule_delivery_time
        if replace.validity_period:
            changes["validity_period"] = replace.validity_period
        kept = tuple(t for t in message.pdu.tlvs if t.tag != 0x0424)
        changes["tlvs"] = kept + ((Tlv(0x0424, payload),) if payload is not None else ())
        replaced = message.pdu.replace(**changes)
        try:
            start, expires = self.lifecycle.times(replaced, conn.account)
        except TimeRefusal as exc:
            return pdu.make_response(exc.status)
        message.transitions()  # the timeline keeps the PDU as first submitted
        message.pdu = replaced
        if message.route is not None and payload is None:
            message.route.text = None  # the receipt quotes the new text
        message.event(self.clock.now(), "replace_sm", pdu)
        self.lifecycle.replaced(message, start, expires)
        return pdu.make_response()

    def _on_broadcast_sm(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        return pdu.make_response(message_id=self._accept(conn, pdu, None).message_id)

    def _on_query_broadcast_sm(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        query: P.QueryBroadcastSm = pdu  # type: ignore[assignment]
        message = self.store.get(query.message_id, conn.account.system_id)  # type: ignore[union-attr]
        if message is None or message.pdu.command_id != C.broadcast_sm:
            return pdu.make_response(S.ESME_RBCASTQUERYFAIL)
        area = message.pdu.tlv("broadcast_area_identifier", b"\x00")
        return pdu.make_response(
            message_id=message.message_id,
            tlvs=(
                Tlv(0x0427, int(message.state)),
                Tlv(0x0606, area),
                Tlv(0x0608, 100 if message.state is MessageState.ENROUTE else 0),
            ),
        )

    def _on_cancel_broadcast_sm(self, conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
        cancel: P.CancelBroadcastSm = pdu  # type: ignore[assignment]
        message = self.store.get(cancel.message_id, conn.account.system_id)  # type: ignore[union-attr]
        if message is None or message.is_final or message.pdu.command_id != C.broadcast_sm:
            return pdu.make_response(S.ESME_RBCASTCANCELFAIL)
        message.set_state(MessageState.DELETED, self.clock.now(), "cancel_broadcast_sm")
        return pdu.make_response()

    # --- SMSC-originated traffic -------------------------------------------------------------

    def deliver(self, system_id: str, pdu: P.Pdu) -> asyncio.Future[P.Pdu]:
        """Send deliver_sm/data_sm/alert_notification to the account's receiver binds, round robin.

        Store and forward: with no receiver bound (or every window full) the PDU waits and goes
        out when one is; the future resolves with the ESME's response.
        """
        if self.config.account(system_id) is None:
            raise KeyError(f"no account {system_id!r}")
        future: asyncio.Future[P.Pdu] = asyncio.get_running_loop().create_future()
        validity = self.config.smsc.delivery_validity
        expires_at = float("inf") if validity is None else self.clock.now() + validity
        self._enqueue_delivery(Delivery(system_id, pdu, future, expires_at=expires_at))
        return future

    def _enqueue_delivery(self, delivery: Delivery, front: bool = False) -> None:
        queue = self._queues.get(delivery.system_id)
        if queue is None:
            queue = self._queues[delivery.system_id] = deque()
        if front:
            queue.appendleft(delivery)
        else:
            # A backlog means the last drain found every receiver's window full (or none bound); what
            # opens room (a response, a timeout, a bind) drains again, so scanning the binds here is waste.
            backlog = bool(queue)
            queue.append(delivery)
            if backlog:
                limit = self.config.smsc.delivery_queue_limit
                if limit is not None and len(queue) > limit:
                    self._drop_oldest(queue, limit)
                return
        self._drain_account(delivery.system_id)

    def _drop_oldest(self, queue: deque[Delivery], limit: int) -> None:
        """Drop the oldest waiting deliveries of a queue past its limit (a gateway with no receiver bound under load)."""
        while len(queue) > limit:
            delivery = queue.popleft()
            self.stats.deliveries_dropped += 1
            if delivery.system_id not in self._overflowing:
                self._overflowing.add(delivery.system_id)
                log.warning(
                    "%s: more than %d deliveries wait for a receiver bind; dropping the oldest (counted in deliveries_dropped)",
                    delivery.system_id,
                    limit,
                )
            delivery.fail(DeliveryDropped(delivery.pdu.command_name, delivery.system_id, limit))

    def receivers_of(self, system_id: str) -> list[SmppConnection]:
        """The account's binds that deliveries can go to (cached until a bind or unbind changes them)."""
        receivers = self._receivers.get(system_id)
        if receivers is None:
            receivers = self._receivers[system_id] = [
                c for c in self.bound_connections(system_id) if c.session.can_receive_messages and not c._write_shut
            ]
        return receivers

    def _drain_account(self, system_id: str) -> None:
        queue = self._queues.get(system_id)
        if not queue:
            return
        if queue[0].expires_at <= self.clock.now():
            self._drop_expired(queue)
            if not queue:
                return
        receivers = self.receivers_of(system_id)
        if not receivers:
            return
        # The cached list holds receiver binds only (any state change clears it); the check below
        # guards the rare moment in between without rebuilding the list on every receipt.
        count = len(receivers)
        start = self._round_robin.get(system_id, 0)
        while queue:
            for i in range(count):
                conn = receivers[(start + i) % count]
                if not conn.pending and conn.accepts_deliveries:
                    conn.pending.append(queue.popleft())
                    conn._pump()
                    self._mark_dirty(conn)
                    start = (start + i + 1) % count
                    break
            else:
                break
        self._round_robin[system_id] = start
        if not queue and self._overflowing:
            self._overflowing.discard(system_id)

    def _drop_expired(self, queue: deque[Delivery]) -> None:
        """Drop deliveries whose validity ran out while they waited for a receiver bind (kept order otherwise)."""
        now = self.clock.now()
        kept = [d for d in queue if d.expires_at > now]
        for delivery in queue:
            if delivery.expires_at <= now:
                self.stats.deliveries_expired += 1
                log.info("%s for %s expired undelivered after waiting for a receiver", delivery.pdu.command_name, delivery.system_id)
                delivery.fail(DeliveryExpired(delivery.pdu.command_name, delivery.system_id))
        queue.clear()
        queue.extend(kept)

    def _mark_dirty(self, conn: SmppConnection) -> None:
        """Write conn's queued PDUs soon, together with whatever else this turn of the loop queues."""
        if conn is self._written_at_read_end:
            return  # its data_received writes them when the due calls are done
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush_dirty)
        self._dirty.add(conn)

    def _flush_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for conn in dirty:
            conn.flush()

    def _emit_receipt(self, system_id: str, pdu: P.Pdu, message: Message) -> None:
        # As deliver(), but the outcome goes straight to the message timeline: no asyncio future per receipt.
        if self.config.account(system_id) is None:
            raise KeyError(f"no account {system_id!r}")
        validity = self.config.smsc.delivery_validity
        expires_at = float("inf") if validity is None else self.clock.now() + validity
        self._enqueue_delivery(Delivery(system_id, pdu, self.lifecycle.outcome_of(message), expires_at=expires_at))  # type: ignore[arg-type]

    def deliver_now(self, message_id: str, system_id: str) -> bool:
        """Run the rest of a message's delivery at once and write its receipt now (a fault: receipt before response)."""
        message = self.store.get(message_id, system_id)
        if message is None:
            return False
        self.lifecycle.run_now(message)
        self._flush_dirty()
        return True

    def set_handset(self, number: str, state: HandsetState | str) -> int:
        """Change a handset's state; messages waiting for it go out when it is back on. Returns how many did."""
        new = HandsetState(state)
        self.network.handsets.set_state(number, new)
        return self.lifecycle.handset_changed(number, new)

    def inject_mo(self, source: str, destination: str, text: str) -> list[asyncio.Future[P.Pdu]]:
        """A handset (E.164 source) sends text to a service number: deliver it to the owning account.

        Raises MoError when the network cannot route it; returns one future per deliver_sm part.
        """
        mo = self.network.receive_mo(source, destination, text, self.clock.now())
        log.info("MO %s -> %s for %s in %d part(s)%s", source, destination, mo.system_id, len(mo.pdus), " (opt-out)" if mo.opted_out else "")
        return [self.deliver(mo.system_id, pdu) for pdu in mo.pdus]

    def _schedule_loopback(self, route: Route) -> None:
        service = route.service_number
        if service is None or not service.receives or route.destination is None or not isinstance(route.text, str):
            return
        source, text = route.destination.e164 or "", route.text

        def echo() -> None:
            try:
                self.inject_mo(source, service.number, text)
            except MoError as exc:
                log.info("loopback of %s not delivered: %s", source, exc)

        asyncio.get_running_loop().call_soon(echo)

    def _retry_delivery(self, delivery: Delivery, status: int) -> None:
        """Requeue a delivery the ESME refused, after an exponential backoff on the simulator clock."""
        settings = self.config.smsc
        backoff = min(settings.delivery_backoff_max, settings.delivery_backoff * 2 ** (delivery.attempts - 1))
        self.stats.deliveries_requeued += 1
        log.info(
            "%s to %s answered %s; retry %d in %.0f s",
            delivery.pdu.command_name,
            delivery.system_id,
            status_name(status),
            delivery.attempts,
            backoff,
        )
        self.clock.call_later(backoff, lambda: self._enqueue_delivery(delivery))

    def congestion_state(self, conn: SmppConnection) -> int:
        """The SMSC's load as this bind sees it, 0 (idle) to 100 (congested), for SMPP 5.0 congestion_state.

        The fuller of the account's (or this bind's) throttle, 100 when the next message would be
        throttled, and of the account's queue of receipts and MOs waiting for a receiver, 100 at
        smsc.delivery_queue_limit.
        """
        system_id = conn.account.system_id if conn.account is not None else ""
        fill = self.network.throttle_fill(system_id, conn.id, self.clock.now())
        limit = self.config.smsc.delivery_queue_limit
        if limit:
            fill = max(fill, self.queued_deliveries(system_id) / limit)
        return min(100, max(0, round(fill * 100)))

    def queued_deliveries(self, system_id: str) -> int:
        """Deliveries waiting for a receiver of this account (those a fault holds back included)."""
        return len(self._queues.get(system_id, ())) + sum(1 for d in self._held if d.system_id == system_id)

    def hold_delivery(self, delivery: Delivery, seconds: float) -> None:
        """Put a delivery back in its account's queue (at the front) after a delay a fault asked for."""

        def release() -> None:
            if self._held.pop(delivery, None) is not None:
                self._enqueue_delivery(delivery, front=True)

        self._held[delivery] = asyncio.get_running_loop().call_later(seconds, release)

    async def outbind(self, system_id: str) -> SmppConnection:
        """Connect to the account's outbind address and send outbind; the ESME then binds as receiver."""
        account = self.config.account(system_id)
        if account is None or account.outbind is None:
            raise KeyError(f"account {system_id!r} has no outbind target")
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            lambda: SmppConnection(self, outbind_account=account), account.outbind.host, account.outbind.port
        )
        return protocol


def _answer(conn: SmppConnection, pdu: P.Pdu) -> P.Pdu:
    return pdu.make_response()


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


async def serve(
    config: ServerConfig,
    host: str,
    port: int,
    clock: Clock | None = None,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
) -> None:
    """Run the SMSC (and the HTTP control API when http_port is set) until SIGTERM or SIGINT, then shut down gracefully."""
    from .control import ControlApi  # imported late: the control API imports this module

    server = SmscServer(config, clock=clock, manage_gc=True)
    await server.start(host, port)
    control = ControlApi(server) if http_port else None
    if control is not None and http_port:
        try:
            await control.start(http_host, http_port)
        except OSError:
            await server.stop(grace=0)
            raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await stop.wait()
    log.info("signal received, shutting down")
    if control is not None:
        await control.stop()
    await server.stop()
