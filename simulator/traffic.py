"""The PDU log: every PDU the SMSC received or sent, in order, for tests, scenarios and the control API."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from .matching import pdu_field, pdu_matches, pdu_mismatches, pdu_text
from .smpp.constants import status_name
from .smpp.pdu import Pdu

if TYPE_CHECKING:
    from .faults import FaultAction

IN = "in"  # from the peer (gateway/ESME) to the SMSC
OUT = "out"  # from the SMSC to the peer
CONNECTED = "connected"  # a session event: the TCP connection opened
CLOSED = "closed"  # a session event: the TCP connection closed
BY_PEER = "peer"  # who closed it: the gateway (or the network)...
BY_SMSC = "smsc"  # ...or the simulator (a disconnect, a fault, an unbind it answered, shutdown)


@dataclass(frozen=True, slots=True)
class LoggedPdu:
    """One PDU on one session, with the network-clock time and direction ('in' from the peer, 'out' to it).

    `at` is the simulator's network clock (virtual in tests); `wall` is time.monotonic() when it was
    logged, the real time conformance checks measure response times and pauses with.
    """

    index: int
    at: float
    session: int
    system_id: str | None
    direction: str
    pdu: Pdu
    note: str = ""
    wall: float = 0.0
    # The FaultAction a fault rule applied to this PDU (None for the rest): what conformance checks
    # read to tell a request the SMSC silenced, or a delivery it shaped, from the gateway's doing.
    fault: FaultAction | None = None
    # On a request the SMSC counted beyond a window of this many unanswered requests (or on its
    # refusal): requests of one TCP read are counted on receipt, which log order does not show.
    beyond_window: int | None = None

    @property
    def command(self) -> str:
        """The operation's name, e.g. 'submit_sm_resp'."""
        return self.pdu.command_name

    @property
    def status(self) -> int:
        """command_status."""
        return self.pdu.command_status

    @property
    def sequence_number(self) -> int:
        """The PDU's sequence number."""
        return self.pdu.sequence_number

    @property
    def text(self) -> str | None:
        """The decoded message text, when the PDU carries one."""
        return pdu_text(self.pdu)

    def __getitem__(self, key: str) -> Any:
        """A PDU field, TLV (by name) or derived value ('text', 'command', 'status')."""
        return pdu_field(self.pdu, key)

    def __getattr__(self, name: str) -> Any:
        # Fields of the PDU read straight through: logged.destination_addr, logged.message_id.
        try:
            return pdu_field(object.__getattribute__(self, "pdu"), name)
        except KeyError:
            raise AttributeError(name) from None

    def matches(self, command: str | tuple[str, ...] | None, fields: Mapping[str, Any], direction: str | None = None) -> bool:
        """True when the entry is of the command and direction and every field matches."""
        return (direction is None or self.direction == direction) and pdu_matches(self.pdu, command, fields)

    def mismatches(self, fields: Mapping[str, Any]) -> list[str]:
        """Which field expectations this entry fails."""
        return pdu_mismatches(self.pdu, fields)

    def describe(self) -> str:
        """One line for reports: '#12 t=3.000 s1(acct) <- submit_sm seq=4 dest=... text=...'."""
        arrow = "<-" if self.direction == IN else "->"
        pdu = self.pdu
        clock = time.strftime("%H:%M:%S", time.gmtime(self.at)) + f".{int(self.at * 1000) % 1000:03d}"
        parts = [f"#{self.index}", clock, f"s{self.session}({self.system_id or '-'})", arrow, self.command]
        parts.append(f"seq={pdu.sequence_number}")
        if pdu.is_response or pdu.command_status:
            parts.append(f"status={status_name(pdu.command_status)}")
        for name in ("source_addr", "destination_addr", "message_id", "system_id"):
            value = getattr(pdu, name, None)
            if value:
                parts.append(f"{name}={value}")
        text = self.text
        if text:
            parts.append(f"text={text[:40]!r}")
        if self.note:
            parts.append(f"[{self.note}]")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (bytes as latin-1 text)."""
        fields: dict[str, Any] = {}
        for name in getattr(self.pdu, "__dataclass_fields__", {}):
            if name in ("tlvs",):
                continue
            fields[name] = _jsonable(getattr(self.pdu, name))
        fields["tlvs"] = {str(t.tag): _jsonable(t.value) for t in getattr(self.pdu, "tlvs", ())}
        return {
            "index": self.index,
            "at": self.at,
            "session": self.session,
            "system_id": self.system_id,
            "direction": self.direction,
            "command": self.command,
            "command_status": self.status,
            "status_name": status_name(self.status),
            "sequence_number": self.sequence_number,
            "text": self.text,
            "note": self.note,
            "wall": self.wall,
            "fields": fields,
        }


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A session's TCP connection opened ('connected') or closed ('closed', by 'peer' or 'smsc'), with both clocks.

    `after` is the index of the newest PDU logged before the event, which orders it among the PDUs.
    """

    at: float
    wall: float
    session: int
    system_id: str | None
    kind: str
    after: int
    closed_by: str | None = None
    peer: str = ""
    reason: str = ""

    def describe(self) -> str:
        """One line for reports: 'after #12 10:00:03.000 s1(acct) closed by peer (reason)'."""
        clock = time.strftime("%H:%M:%S", time.gmtime(self.at)) + f".{int(self.at * 1000) % 1000:03d}"
        what = self.kind if self.closed_by is None else f"{self.kind} by {self.closed_by}"
        where = f" from {self.peer}" if self.kind == CONNECTED and self.peer else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"after #{self.after} {clock} s{self.session}({self.system_id or '-'}) {what}{where}{reason}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "at": self.at,
            "wall": self.wall,
            "session": self.session,
            "system_id": self.system_id,
            "kind": self.kind,
            "after": self.after,
            "closed_by": self.closed_by,
            "peer": self.peer,
            "reason": self.reason,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if hasattr(value, "_asdict"):  # a NamedTuple (submit_multi's addresses, unsuccess_sme): its names matter
        return {k: _jsonable(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


class PduLog:
    """The last `maxlen` PDUs of every session, with listeners called (on the server's thread) per entry.

    Thread-safe for readers: `changed` is a Condition notified on each entry, so a test thread can
    wait for a PDU without sleeping.
    """

    def __init__(self, maxlen: int = 100_000) -> None:
        self._entries: deque[LoggedPdu] = deque(maxlen=maxlen)
        self._events: deque[SessionEvent] = deque(maxlen=maxlen)
        self._counter = itertools.count(1)
        self._newest = 0  # the index of the last PDU added (kept across clear(), unlike the entries)
        self.changed = threading.Condition()
        self.listeners: list[Callable[[LoggedPdu], None]] = []

    def add(
        self,
        at: float,
        session: int,
        system_id: str | None,
        direction: str,
        pdu: Pdu,
        note: str = "",
        fault: FaultAction | None = None,
        beyond_window: int | None = None,
    ) -> LoggedPdu:
        """Record one PDU (with the fault action applied to it, or the window it was beyond, if any) and wake waiters."""
        entry = LoggedPdu(next(self._counter), at, session, system_id, direction, pdu, note, time.monotonic(), fault, beyond_window)
        with self.changed:
            self._newest = entry.index
            self._entries.append(entry)
            self.changed.notify_all()
        for listener in self.listeners:
            listener(entry)
        return entry

    def session_event(
        self, at: float, session: int, system_id: str | None, kind: str, closed_by: str | None = None, peer: str = "", reason: str = ""
    ) -> SessionEvent:
        """Record a session's connection opening or closing (closed_by 'peer' or 'smsc') and wake waiters."""
        with self.changed:
            event = SessionEvent(at, time.monotonic(), session, system_id, kind, self._newest, closed_by, peer, reason)
            self._events.append(event)
            self.changed.notify_all()
        return event

    def session_events(self, session: int | None = None) -> list[SessionEvent]:
        """Connection openings and closings (of one session, or all), oldest first."""
        with self.changed:
            return [e for e in self._events if session is None or e.session == session]

    def entries(self, since: int = 0) -> list[LoggedPdu]:
        """Entries with index greater than `since`, oldest first."""
        with self.changed:
            if since <= 0:
                return list(self._entries)
            return [e for e in self._entries if e.index > since]

    @property
    def last_index(self) -> int:
        """The index of the newest entry (0 when empty)."""
        with self.changed:
            return self._entries[-1].index if self._entries else 0

    def find(
        self, command: str | tuple[str, ...] | None = None, direction: str | None = None, since: int = 0, **fields: Any
    ) -> list[LoggedPdu]:
        """Entries matching command, direction and fields."""
        return [e for e in self.entries(since) if e.matches(command, fields, direction)]

    def tail(self, count: int = 10) -> list[LoggedPdu]:
        """The newest `count` entries."""
        with self.changed:
            return list(itertools.islice(self._entries, max(0, len(self._entries) - count), None))

    def resize(self, maxlen: int) -> None:
        """Keep at most maxlen entries (and session events) from now on, the newest of those kept so far."""
        with self.changed:
            self._entries = deque(self._entries, maxlen=maxlen)
            self._events = deque(self._events, maxlen=maxlen)

    def clear(self) -> None:
        """Forget every entry and session event (indices keep growing)."""
        with self.changed:
            self._entries.clear()
            self._events.clear()

    def __iter__(self) -> Iterator[LoggedPdu]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self.changed:
            return len(self._entries)
