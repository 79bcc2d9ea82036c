"""Conformance checks on the gateway under test, from the PDU log and the session events (pure analysis, no I/O).

Each check reads what the SMSC received ('in') and sent ('out') on each session, and when each
connection opened and closed, and reports what the gateway (the ESME bound to us) did wrong:

- window: it never had more unanswered requests outstanding on a session than its window;
- throttle_backoff: after an ESME_RTHROTTLED / ESME_RMSGQFUL response it paused its submits;
- deliver_response: it answered every request the SMSC sent (deliver_sm, data_sm, enquire_link,
  unbind) with the matching *_resp, within a time limit;
- enquire_link: while bound it sent enquire_link at least every interval (plus a tolerance);
- sequence_numbers: its sequence numbers were within 0x00000001..0x7FFFFFFF and never reused
  while a request with the same number was still unanswered;
- unbind_before_close: it unbound (and had its unbind answered) before it closed a bound connection;
- segment_receipts: on long messages (UDH 0x00/0x08 or sar_* TLVs) it asked for receipts on the
  segments the policy names ('all', 'first', 'last' or 'any').

Timing uses each entry's `wall` (time.monotonic() when it was logged), never the network clock,
which may be virtual. The log records PDUs in the order the SMSC handled them: requests that arrived
in one TCP read are handled (and logged with their responses) one after another, although the
gateway sent them all before it saw any of those responses. Checks built on "outstanding" requests
(window, sequence_numbers) therefore see overlaps the SMSC could observe (a response it held back, or
the window the session itself counted and refused, noted in the log), never invented ones: a
violation reported is a violation made.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .network.encoding import EncodingError, parse_udh
from .smpp.constants import CommandId as C
from .smpp.constants import parse_status, status_name
from .traffic import BY_PEER, CLOSED, CONNECTED, IN, OUT, LoggedPdu, PduLog, SessionEvent

WINDOW = "window"
THROTTLE_BACKOFF = "throttle_backoff"
DELIVER_RESPONSE = "deliver_response"
ENQUIRE_LINK = "enquire_link"
SEQUENCE_NUMBERS = "sequence_numbers"
UNBIND_BEFORE_CLOSE = "unbind_before_close"
SEGMENT_RECEIPTS = "segment_receipts"
CHECKS = (WINDOW, THROTTLE_BACKOFF, DELIVER_RESPONSE, ENQUIRE_LINK, SEQUENCE_NUMBERS, UNBIND_BEFORE_CLOSE, SEGMENT_RECEIPTS)
RECEIPT_POLICIES = ("all", "first", "last", "any")

DEFAULT_THROTTLE_BACKOFF = 0.1  # seconds
DEFAULT_THROTTLE_STATUSES = ("ESME_RTHROTTLED", "ESME_RMSGQFUL")
DEFAULT_DELIVER_RESPONSE_MS = 1000.0
DEFAULT_ENQUIRE_LINK_TOLERANCE = 1.0  # seconds
DEFAULT_UNANSWERED_TIMEOUT = 10.0  # seconds: the shortest response timer gateways commonly use
MAX_SEQUENCE_NUMBER = 0x7FFFFFFF

SUBMITS = frozenset({"submit_sm", "submit_multi", "data_sm"})
SEGMENTED = frozenset({"submit_sm", "data_sm"})
BINDS = frozenset({C.bind_transmitter, C.bind_receiver, C.bind_transceiver})
GENERIC_NACK = int(C.generic_nack)
RESPONSE_BIT = 0x80000000
UDHI = 0x40


@dataclass(frozen=True)
class Violation:
    """One thing the gateway did wrong: which check, where, when (both clocks), the PDUs involved and a one-line description."""

    check: str
    session: int
    system_id: str | None
    at: float  # the network clock of the offending PDU or event
    wall: float  # time.monotonic() of it
    description: str
    pdus: tuple[LoggedPdu, ...] = ()

    def describe(self) -> str:
        """The description with the PDUs involved, one per line."""
        clock = time.strftime("%H:%M:%S", time.gmtime(self.at)) + f".{int(self.at * 1000) % 1000:03d}"
        lines = [f"[{self.check}] s{self.session}({self.system_id or '-'}) {clock}: {self.description}"]
        lines.extend(f"    {entry.describe()}" for entry in self.pdus)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (the PDUs as their log indices and one-line descriptions)."""
        return {
            "check": self.check,
            "session": self.session,
            "system_id": self.system_id,
            "at": self.at,
            "wall": self.wall,
            "description": self.description,
            "pdus": [{"index": e.index, "describe": e.describe()} for e in self.pdus],
        }


@dataclass
class ConformanceReport:
    """What the checks found: the violations (in log order), the checks that ran, and those skipped with why."""

    violations: list[Violation] = field(default_factory=list)
    checks: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)
    sessions: int = 0
    pdus: int = 0

    @property
    def passed(self) -> bool:
        """True when no check found a violation."""
        return not self.violations

    def of(self, check: str) -> list[Violation]:
        """The violations of one check."""
        return [v for v in self.violations if v.check == check]

    def describe(self) -> str:
        """A readable report: a summary line, then each violation with its PDUs."""
        ran = ", ".join(self.checks) or "none"
        head = f"{self.pdus} PDUs on {self.sessions} session(s); checks run: {ran}"
        if self.skipped:
            head += "; skipped: " + ", ".join(f"{name} ({why})" for name, why in self.skipped.items())
        if self.passed:
            return f"gateway conformant: {head}"
        counts = ", ".join(f"{len(self.of(name))} {name}" for name in self.checks if self.of(name))
        lines = [f"gateway not conformant: {len(self.violations)} violation(s) ({counts}); {head}"]
        lines.extend(v.describe() for v in self.violations)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, with the readable report under 'report'."""
        return {
            "passed": self.passed,
            "checks": list(self.checks),
            "skipped": dict(self.skipped),
            "sessions": self.sessions,
            "pdus": self.pdus,
            "violations": [v.to_dict() for v in self.violations],
            "report": self.describe(),
        }


def check_conformance(
    entries: Iterable[LoggedPdu],
    events: Iterable[SessionEvent] = (),
    *,
    checks: Iterable[str] | None = None,
    system_id: str | None = None,
    window: int | Mapping[str, int] | None = None,
    throttle_backoff: float = DEFAULT_THROTTLE_BACKOFF,
    throttle_statuses: Iterable[str | int] = DEFAULT_THROTTLE_STATUSES,
    deliver_response_ms: float = DEFAULT_DELIVER_RESPONSE_MS,
    enquire_link_interval: float | None = None,
    enquire_link_tolerance: float = DEFAULT_ENQUIRE_LINK_TOLERANCE,
    receipts_on: str | None = None,
    unanswered_timeout: float = DEFAULT_UNANSWERED_TIMEOUT,
    now: float | None = None,
) -> ConformanceReport:
    """Check the gateway's PDUs and session events; see the module docstring and ConformanceOptions for each option."""
    try:
        statuses = tuple(parse_status(s) if isinstance(s, str) else int(s) for s in throttle_statuses)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"throttle_statuses: {exc}") from None
    if any(not 0 <= s <= 0xFFFFFFFF for s in statuses):
        raise ValueError(f"throttle_statuses: each must fit the 32-bit command_status, not {list(throttle_statuses)!r}")
    options = ConformanceOptions(
        checks=tuple(checks) if checks is not None else None,
        window=window,
        throttle_backoff=throttle_backoff,
        throttle_statuses=statuses,
        deliver_response_ms=deliver_response_ms,
        enquire_link_interval=enquire_link_interval,
        enquire_link_tolerance=enquire_link_tolerance,
        receipts_on=receipts_on,
        unanswered_timeout=unanswered_timeout,
    )
    return _Analysis(list(entries), list(events), options, system_id, now).run()


def check_log_conformance(log: PduLog, config: Any, *, now: float | None = None, **options: Any) -> ConformanceReport:
    """check_conformance over a live PDU log, with defaults from the server config (ServerConfig) for options not given.

    window: each account's `window`; enquire_link_interval: the SMSC's inactivity_timeout (the longest
    silence it tolerates; no enquire_link check when unset); now: time.monotonic().
    """
    system_id = options.get("system_id")
    if system_id is not None and config.account(system_id) is None:
        known = ", ".join(a.system_id for a in config.accounts)
        raise ValueError(f"system_id: no account {system_id!r} on this simulator (accounts: {known})")
    options.setdefault("window", {a.system_id: a.window for a in config.accounts})
    options.setdefault("enquire_link_interval", config.smsc.inactivity_timeout)
    with log.changed:  # one snapshot of both: a response and a close logged in between must not look unanswered
        entries, events = log.entries(), log.session_events()
    return check_conformance(entries, events, now=time.monotonic() if now is None else now, **options)


class OptionError(ValueError):
    """A conformance option that cannot be used: `field` names it, `detail` says why; str() is 'field: detail'."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class ConformanceOptions:
    """The checks' settings, validated (ValueError naming the option otherwise).

    checks: names from CHECKS (None: every check whose settings are given; enquire_link needs
    enquire_link_interval, segment_receipts needs receipts_on). window: the window the gateway was
    given, one number or one per system_id. throttle_backoff: the shortest pause (seconds) after a
    response with one of throttle_statuses before the next submit on that session. deliver_response_ms:
    how long the gateway may take to answer an SMSC request. enquire_link_interval and _tolerance:
    the longest silence (seconds) between its enquire_links while bound is their sum. receipts_on: which
    segments of a long message must ask for a receipt ('all', 'first', 'last': those and no other,
    'any': at least one). unanswered_timeout: how long a request the simulator never answers (a
    no_response fault) still counts against the gateway's window: after it the gateway may give up.
    """

    checks: tuple[str, ...] | None = None
    window: int | Mapping[str, int] | None = None
    throttle_backoff: float = DEFAULT_THROTTLE_BACKOFF
    throttle_statuses: tuple[int, ...] = ()
    deliver_response_ms: float = DEFAULT_DELIVER_RESPONSE_MS
    enquire_link_interval: float | None = None
    enquire_link_tolerance: float = DEFAULT_ENQUIRE_LINK_TOLERANCE
    receipts_on: str | None = None
    unanswered_timeout: float = DEFAULT_UNANSWERED_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("throttle_backoff", "deliver_response_ms", "enquire_link_tolerance", "unanswered_timeout", "enquire_link_interval"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
                raise OptionError(name, f"must be a finite number, not {value!r}")
        if not self.unanswered_timeout >= 0:
            raise OptionError("unanswered_timeout", "cannot be negative")
        if self.checks is not None and not self.checks:
            raise OptionError("checks", "names no check (leave it out for every check)")
        for name in self.checks or ():
            if name not in CHECKS:
                raise OptionError("checks", f"unknown check {name!r} (known: {', '.join(CHECKS)})")
        windows = self.window.values() if isinstance(self.window, Mapping) else [self.window] if self.window is not None else []
        if any(not isinstance(w, int) or w < 1 for w in windows):
            raise OptionError("window", f"must be a whole number of at least 1, not {self.window!r}")
        if not self.throttle_backoff >= 0:
            raise OptionError("throttle_backoff", "cannot be negative")
        if not self.deliver_response_ms > 0:
            raise OptionError("deliver_response_ms", "must be positive")
        if self.enquire_link_interval is not None and not self.enquire_link_interval > 0:
            raise OptionError("enquire_link_interval", "must be positive")
        if not self.enquire_link_tolerance >= 0:
            raise OptionError("enquire_link_tolerance", "cannot be negative")
        if self.receipts_on is not None and self.receipts_on not in RECEIPT_POLICIES:
            raise OptionError("receipts_on", f"must be one of {', '.join(RECEIPT_POLICIES)}, not {self.receipts_on!r}")
        if self.checks is not None and WINDOW in self.checks and self.window is None:
            raise OptionError("checks", "window needs the window the gateway was given")
        if self.checks is not None and ENQUIRE_LINK in self.checks and self.enquire_link_interval is None:
            raise OptionError("checks", "enquire_link needs enquire_link_interval")
        if self.checks is not None and SEGMENT_RECEIPTS in self.checks and self.receipts_on is None:
            raise OptionError("checks", f"segment_receipts needs receipts_on ({', '.join(RECEIPT_POLICIES)})")

    def plan(self) -> tuple[tuple[str, ...], dict[str, str]]:
        """(the checks to run, {check skipped: why})."""
        wanted = self.checks if self.checks is not None else CHECKS
        skipped: dict[str, str] = {}
        if self.checks is None and self.enquire_link_interval is None:
            skipped[ENQUIRE_LINK] = "no enquire_link_interval given"
        if self.checks is None and self.receipts_on is None:
            skipped[SEGMENT_RECEIPTS] = "no receipts_on policy given"
        if self.window is None and WINDOW in wanted:
            skipped[WINDOW] = "no window given"
        return tuple(c for c in wanted if c not in skipped), skipped

    def window_of(self, system_id: str | None) -> int | None:
        """The window of a session's account (None: unknown)."""
        if isinstance(self.window, Mapping):
            return self.window.get(system_id) if system_id is not None else None
        return self.window


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _order(item: LoggedPdu | SessionEvent) -> tuple[int, int]:
    """Log order: a session event comes right after the PDU it names in `after`."""
    return (item.index, 0) if isinstance(item, LoggedPdu) else (item.after, 1)


def _answers(response: LoggedPdu, request: LoggedPdu) -> bool:
    """True when response is the matching *_resp (or a generic_nack) of request."""
    return response.pdu.command_id in (request.pdu.command_id | RESPONSE_BIT, GENERIC_NACK)


def _what(entry: LoggedPdu) -> str:
    return f"{entry.command} seq={entry.sequence_number} (#{entry.index})"


def segment_of(pdu: Any) -> tuple[str, int, int, int] | None:
    """(kind 'udh8'/'udh16'/'sar', reference, total, segment number) of a concatenated submit, or None."""
    short_message = getattr(pdu, "short_message", b"")
    if getattr(pdu, "esm_class", 0) & UDHI and short_message:
        try:
            udh, _ = parse_udh(bytes(short_message))
        except EncodingError:
            return None
        if udh.concatenated:
            return f"udh{udh.ref_bits}", udh.ref or 0, udh.total or 0, udh.seq or 0
    ref, total, seq = (pdu.tlv(name) for name in ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum"))
    if ref is not None and total is not None and seq is not None:
        return "sar", int(ref), int(total), int(seq)
    return None


def asks_receipt(pdu: Any) -> bool:
    """True when registered_delivery asks for an SMSC delivery receipt (bits 0-1)."""
    return bool(getattr(pdu, "registered_delivery", 0) & 0x03)


@dataclass
class _Session:
    """What the analysis keeps of one session: its account and its PDUs and events in log order."""

    id: int
    system_id: str | None = None
    items: list[LoggedPdu | SessionEvent] = field(default_factory=list)


@dataclass
class _Pause:
    """A throttle response the gateway must pause its submits after."""

    response: LoggedPdu
    deadline: float
    excused: int  # requests that may still come: sent before the gateway could have read the response
    offenders: list[LoggedPdu] = field(default_factory=list)


class _Analysis:
    """One run of the checks over a log."""

    def __init__(
        self, entries: list[LoggedPdu], events: list[SessionEvent], options: ConformanceOptions, system_id: str | None, now: float | None
    ) -> None:
        self.options = options
        self.run_checks, self.skipped = options.plan()
        self.found: list[tuple[int, int, Violation]] = []
        self.window_reported: set[int] = set()
        self.accepted_segments: list[LoggedPdu] = []
        self.now = now if now is not None else max([e.wall for e in entries] + [e.wall for e in events], default=0.0)
        sessions: dict[int, _Session] = {}
        for item in [*entries, *events]:
            session = sessions.setdefault(item.session, _Session(item.session))
            session.system_id = session.system_id or item.system_id
            session.items.append(item)
        for session in sessions.values():
            session.items.sort(key=_order)
        if system_id is not None:
            sessions = {k: s for k, s in sessions.items() if s.system_id == system_id}
        self.sessions = sessions
        self.pdus = sum(1 for s in sessions.values() for i in s.items if isinstance(i, LoggedPdu))

    def run(self) -> ConformanceReport:
        """Every planned check on every session; the report."""
        for session in self.sessions.values():
            self._session(session)
        if SEGMENT_RECEIPTS in self.run_checks:
            self._segment_receipts()
        self.found.sort(key=lambda f: (f[0], f[1]))
        return ConformanceReport([v for _, _, v in self.found], self.run_checks, self.skipped, len(self.sessions), self.pdus)

    def _report(self, check: str, session: _Session, where: LoggedPdu | SessionEvent, description: str, *pdus: LoggedPdu) -> None:
        if check in self.run_checks:
            violation = Violation(check, session.id, session.system_id, where.at, where.wall, description, tuple(pdus))
            self.found.append((_order(where)[0], len(self.found), violation))

    # --- one session, in log order -------------------------------------------------------------

    def _session(self, session: _Session) -> None:
        throttle_statuses = self.options.throttle_statuses
        window = self.options.window_of(session.system_id)
        from_peer: dict[int, list[LoggedPdu]] = {}  # the gateway's requests not answered yet, by sequence number
        from_smsc: dict[int, LoggedPdu] = {}  # the SMSC's requests the gateway has not answered yet
        outstanding = 0
        silenced: list[LoggedPdu] = []  # requests the simulator never answers, oldest first
        pause: _Pause | None = None
        seen_connect = first = False
        bound_ever = unbound = False
        link_from: LoggedPdu | None = None  # while bound: the bind_resp or the gateway's last enquire_link
        unbind_asked: LoggedPdu | None = None
        closed: SessionEvent | None = None
        for item in session.items:
            if isinstance(item, SessionEvent):
                seen_connect = seen_connect or item.kind == CONNECTED
                if item.kind == CLOSED:
                    closed = item
                    break
                continue
            entry, pdu = item, item.pdu
            if not first:
                first = True
                if not seen_connect and pdu.command_id not in BINDS:
                    # Seen from the middle (the log was reset while it was bound): bound since at least now.
                    bound_ever, link_from = True, entry
            if entry.direction == IN and not pdu.is_response:
                if pause is not None and entry.wall >= pause.deadline:
                    self._end_pause(session, pause)
                    pause = None
                self._sequence_number(session, entry, from_peer)
                while silenced and entry.wall - silenced[0].wall >= self.options.unanswered_timeout:
                    given_up = silenced.pop(0)  # the gateway may have timed it out by now
                    waiting = from_peer.get(given_up.sequence_number)
                    if waiting and given_up in waiting:
                        waiting.remove(given_up)
                        if not waiting:
                            del from_peer[given_up.sequence_number]
                        outstanding -= 1
                if pdu.RESPONSE is not None:
                    from_peer.setdefault(pdu.sequence_number, []).append(entry)
                    outstanding += 1
                    # A request a fault rule chose never to answer holds the gateway's window only until
                    # unanswered_timeout: the gateway may give up on it.
                    if entry.fault is not None and entry.fault.silences:
                        silenced.append(entry)
                    if window is not None and outstanding > window:
                        self.window_reported.add(entry.index)
                        self._report(
                            WINDOW, session, entry,
                            f"{_what(entry)} sent with {outstanding - 1} requests already unanswered (window {window})",
                            *sorted((e for waiting in from_peer.values() for e in waiting), key=lambda e: e.index)[-4:],
                        )
                    self._window_note(session, entry, entry, window)
                if pause is not None:
                    if pause.excused > 0:
                        pause.excused -= 1
                    elif pdu.command_name in SUBMITS:
                        pause.offenders.append(entry)
                if pdu.command_id == C.enquire_link and link_from is not None:
                    self._link_gap(session, link_from, entry, "its next enquire_link")
                    link_from = entry
                elif pdu.command_id == C.unbind:
                    unbind_asked = entry
                    if link_from is not None:
                        self._link_gap(session, link_from, entry, "its unbind")
                        link_from = None
            elif entry.direction == OUT and pdu.is_response:
                waiting = from_peer.get(pdu.sequence_number)
                if not waiting:
                    continue
                request = waiting.pop(0)
                if not waiting:
                    del from_peer[pdu.sequence_number]
                outstanding -= 1
                self._window_note(session, request, entry, window)
                if request.pdu.command_id in BINDS and pdu.command_status == 0:
                    bound_ever, link_from = True, entry
                elif request.pdu.command_id == C.unbind:
                    unbound = True
                elif request.pdu.command_name in SEGMENTED and pdu.command_status == 0 and segment_of(request.pdu) is not None:
                    self.accepted_segments.append(request)
                if pdu.command_status in throttle_statuses:
                    if pause is not None:
                        self._end_pause(session, pause)
                    # A gateway keeping its window had at most window - 1 - (still unanswered) other
                    # requests on their way when this response left: those cannot have obeyed it.
                    excused = (window or 1) - 1 - outstanding
                    pause = _Pause(entry, entry.wall + self.options.throttle_backoff, max(0, excused))
            elif entry.direction == OUT:
                # An SMSC request a fault rule wrote late or wrong (split, coalesced, stalled, malformed)
                # cannot judge how fast the gateway answers.
                if pdu.RESPONSE is not None and not (entry.fault is not None and entry.fault.shapes_output):
                    from_smsc[pdu.sequence_number] = entry
                if pdu.command_id == C.unbind and link_from is not None:
                    self._link_gap(session, link_from, entry, "the SMSC's unbind")
                    link_from = None
            else:  # the gateway's response to an SMSC request
                request = from_smsc.pop(pdu.sequence_number, None)
                if request is None:
                    continue  # e.g. the request was logged before a reset
                self._deliver_response(session, request, entry)
                if request.pdu.command_id == C.unbind:
                    unbound = True
        if pause is not None:
            self._end_pause(session, pause)
        for request in from_smsc.values():
            self._unanswered(session, request, closed)
        if link_from is not None:
            self._link_gap(session, link_from, closed, "the close" if closed is not None else "now (still bound)")
        if closed is not None and closed.closed_by == BY_PEER and bound_ever and not unbound:
            if unbind_asked is not None:
                self._report(UNBIND_BEFORE_CLOSE, session, closed, "the gateway closed the connection before its unbind was answered", unbind_asked)
            else:
                last = [i for i in session.items if isinstance(i, LoggedPdu)][-3:]
                self._report(UNBIND_BEFORE_CLOSE, session, closed, "the gateway closed a bound connection without unbinding", *last)

    def _sequence_number(self, session: _Session, entry: LoggedPdu, from_peer: dict[int, list[LoggedPdu]]) -> None:
        seq = entry.sequence_number
        if not 1 <= seq <= MAX_SEQUENCE_NUMBER:
            self._report(SEQUENCE_NUMBERS, session, entry, f"{_what(entry)}: sequence_number outside 0x00000001..0x7FFFFFFF", entry)
        elif entry.pdu.RESPONSE is not None and from_peer.get(seq):
            earlier = from_peer[seq][0]
            self._report(
                SEQUENCE_NUMBERS, session, entry, f"{_what(entry)} reuses the sequence number of {_what(earlier)}, still unanswered", earlier, entry
            )

    def _window_note(self, session: _Session, request: LoggedPdu, noted: LoggedPdu, window: int | None) -> None:
        """A request the server itself counted beyond the session's window (same TCP read: not visible in log order)."""
        if window is None or request.index in self.window_reported:
            return
        counted = noted.beyond_window
        if counted is None or counted < window:
            return
        self.window_reported.add(request.index)
        self._report(
            WINDOW, session, request,
            f"{_what(request)} arrived while {counted} requests were unanswered (counted by the SMSC on receipt; window {window})",
            *([request] if noted is request else [request, noted]),
        )

    def _end_pause(self, session: _Session, pause: _Pause) -> None:
        if not pause.offenders:
            return
        response, offender = pause.response, pause.offenders[0]
        more = len(pause.offenders) - 1
        self._report(
            THROTTLE_BACKOFF, session, offender,
            f"{_what(offender)} sent {_ms(offender.wall - response.wall)} after {status_name(response.status)} "
            f"(#{response.index}); the gateway must pause at least {_ms(self.options.throttle_backoff)}"
            + (f" ({more} more submit(s) within the pause)" if more else ""),
            response, offender,
        )

    def _deliver_response(self, session: _Session, request: LoggedPdu, response: LoggedPdu) -> None:
        limit = self.options.deliver_response_ms / 1000
        took = response.wall - request.wall
        if not _answers(response, request):
            self._report(DELIVER_RESPONSE, session, response, f"{_what(request)} answered with {response.command}", request, response)
        elif took > limit:
            self._report(
                DELIVER_RESPONSE, session, response, f"{_what(request)} answered after {_ms(took)} (limit {_ms(limit)})", request, response
            )

    def _unanswered(self, session: _Session, request: LoggedPdu, closed: SessionEvent | None) -> None:
        limit = self.options.deliver_response_ms / 1000
        if closed is not None and closed.closed_by == BY_PEER:
            self._report(
                DELIVER_RESPONSE, session, closed,
                f"{_what(request)} never answered: the gateway closed the connection {_ms(closed.wall - request.wall)} after it", request,
            )
        elif closed is not None:
            if closed.wall - request.wall > limit:
                self._report(
                    DELIVER_RESPONSE, session, closed,
                    f"{_what(request)} not answered within {_ms(limit)} (the SMSC closed the connection {_ms(closed.wall - request.wall)} after it)",
                    request,
                )
        elif self.now - request.wall > limit:
            self._report(
                DELIVER_RESPONSE, session, request, f"{_what(request)} not answered after {_ms(self.now - request.wall)} (limit {_ms(limit)})", request
            )

    def _link_gap(self, session: _Session, since: LoggedPdu, until: LoggedPdu | SessionEvent | None, what: str) -> None:
        interval = self.options.enquire_link_interval
        if interval is None:
            return
        end = until.wall if until is not None else self.now
        allowed = interval + self.options.enquire_link_tolerance
        if end - since.wall > allowed:
            self._report(
                ENQUIRE_LINK, session, until if until is not None else since,
                f"no enquire_link from the gateway for {end - since.wall:.1f} s, from {_what(since)} to {what} "
                f"(interval {interval:g} s + tolerance {self.options.enquire_link_tolerance:g} s)",
                *([since] + ([until] if isinstance(until, LoggedPdu) else [])),
            )

    # --- long messages, across sessions ----------------------------------------------------------

    def _segment_receipts(self) -> None:
        open_messages: dict[tuple[Any, ...], dict[int, LoggedPdu]] = {}
        for entry in sorted(self.accepted_segments, key=lambda e: e.index):
            kind, ref, total, seq = segment_of(entry.pdu)  # type: ignore[misc]
            pdu = entry.pdu
            key = (entry.system_id, pdu.source_addr, pdu.destination_addr, kind, ref, total)
            parts = open_messages.get(key)
            if parts is not None and seq in parts:  # the reference came round again: a new message
                self._judge_segments(key, open_messages.pop(key))
                parts = None
            if parts is None:
                parts = open_messages[key] = {}
            parts[seq] = entry
            if len(parts) == total:
                self._judge_segments(key, open_messages.pop(key))
        for key, parts in open_messages.items():
            self._judge_segments(key, parts)

    def _judge_segments(self, key: tuple[Any, ...], parts: dict[int, LoggedPdu]) -> None:
        policy = self.options.receipts_on
        _, _, destination, kind, ref, total = key
        asked = {seq for seq, entry in parts.items() if asks_receipt(entry.pdu)}
        complete = len(parts) == total
        missing: list[int] = []
        extra: list[int] = []
        if policy == "all":
            missing = [seq for seq in parts if seq not in asked]
        elif policy in ("first", "last"):
            wanted = 1 if policy == "first" else total
            missing = [wanted] if wanted in parts and wanted not in asked else []
            extra = [seq for seq in asked if seq != wanted]
        elif complete and not asked:
            missing = sorted(parts)
        if not missing and not extra:
            return
        problems = []
        if missing:
            problems.append(f"no receipt asked on segment(s) {', '.join(map(str, sorted(missing)))}")
        if extra:
            problems.append(f"a receipt asked on segment(s) {', '.join(map(str, sorted(extra)))}")
        entries = [parts[seq] for seq in sorted(parts)]
        last = max(entries, key=lambda e: e.index)
        state = "" if complete else f", {len(parts)} seen"
        self._report(
            SEGMENT_RECEIPTS, self.sessions[last.session], last,
            f"long message to {destination} ({kind} ref {ref}, {total} segments{state}) breaks receipts_on={policy}: " + "; ".join(problems),
            *entries,
        )


__all__ = [
    "CHECKS",
    "RECEIPT_POLICIES",
    "ConformanceOptions",
    "ConformanceReport",
    "Violation",
    "asks_receipt",
    "check_conformance",
    "check_log_conformance",
    "segment_of",
]
