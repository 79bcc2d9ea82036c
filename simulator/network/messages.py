"""Stored MT messages and their ids: what query_sm, cancel_sm and replace_sm act on."""

from __future__ import annotations

import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..smpp.constants import MessageState
from ..smpp.pdu import Pdu

FINAL_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.REJECTED,
        MessageState.UNKNOWN,
        MessageState.SKIPPED,
    }
)


class MessageIdGenerator:
    """Unique message ids in one format: 'hex', 'decimal' or 'uuid', reproducible from the seed."""

    def __init__(self, fmt: str, rng: random.Random) -> None:
        self.format = fmt
        self._rng = rng
        # Start from a seeded offset so that ids differ between simulators yet repeat per seed.
        self._counter = rng.randrange(0x10000000, 0x20000000)

    def next(self) -> str:
        """A fresh id."""
        if self.format == "uuid":
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self._counter += 1
        return f"{self._counter:x}" if self.format == "hex" else str(self._counter)


@dataclass(slots=True)
class Transition:
    """One timeline entry of a message at a clock time: a state change, or an event (kind 'event')
    such as a receipt queued or answered, recorded with the state the message was in."""

    at: float
    state: MessageState
    note: str = ""
    kind: str = "state"
    pdu: Pdu | None = None  # the PDU exchanged about the message, for entries that record one


@dataclass(slots=True, eq=False)
class Message:
    """One accepted MT message: the PDU that carried it plus its state and timeline."""

    message_id: str
    system_id: str
    pdu: Pdu
    submitted_at: float
    destinations: tuple[str, ...] = ()
    state: MessageState = MessageState.ENROUTE
    error_code: int = 0
    final_at: float | None = None
    timeline: list[Transition] | None = None
    route: Any = None  # the network's Route: operator, price, segments, decoded text
    rule: str | None = None  # the delivery rule that planned its fate
    # Whether the timeline starts with the two acceptance entries yet: they are built on first read,
    # since most messages change state without anyone ever looking at their timeline.
    accepted_recorded: bool = field(default=False, repr=False)
    # The store that holds it, told when the message reaches a final state (see MessageStore.limit).
    store: MessageStore | None = field(default=None, repr=False)

    @property
    def source_addr(self) -> str:
        """The sender address as submitted."""
        return getattr(self.pdu, "source_addr", "")

    @property
    def destination_addr(self) -> str:
        """The (first) destination address."""
        if self.destinations:
            return self.destinations[0]
        return getattr(self.pdu, "destination_addr", "")  # broadcast_sm has none

    @property
    def service_type(self) -> str:
        """The service_type as submitted."""
        return getattr(self.pdu, "service_type", "")

    @property
    def payload(self) -> bytes:
        """The message octets (short_message or message_payload)."""
        return self.pdu.payload  # type: ignore[attr-defined]

    @property
    def is_final(self) -> bool:
        """True once the message can no longer change (delivered, expired, deleted, ...)."""
        return self.state in FINAL_STATES

    def set_state(self, state: MessageState, at: float, note: str = "") -> None:
        """Move to a new state, recording the transition."""
        self.state = state
        entry = Transition(at, state, note)
        if self.timeline is None:
            self.timeline = [entry]
        else:
            self.timeline.append(entry)
        if state in FINAL_STATES:
            self.final_at = at
            if self.store is not None:
                self.store.finished(self)

    def event(self, at: float, note: str, pdu: Pdu | None = None) -> None:
        """Record something that happened to the message without changing its state (with the PDU exchanged, if any)."""
        entry = Transition(at, self.state, note, "event", pdu)
        if self.timeline is None:
            self.timeline = [entry]
        else:
            self.timeline.append(entry)

    def transitions(self) -> list[Transition]:
        """The whole timeline (state changes and events), starting with acceptance."""
        if not self.accepted_recorded:
            # Built from the PDU as it is now: callers that change the PDU (replace_sm) read the timeline first.
            response = self.pdu.make_response(message_id=self.message_id) if self.pdu.RESPONSE is not None else None
            head = [
                Transition(self.submitted_at, MessageState.ENROUTE, "accepted", "state", self.pdu),
                Transition(self.submitted_at, MessageState.ENROUTE, f"{self.pdu.command_name}_resp sent", "event", response),
            ]
            self.timeline = head + (self.timeline or [])
            self.accepted_recorded = True
        return self.timeline  # type: ignore[return-value]

    def state_history(self) -> list[MessageState]:
        """The states the message went through, in order."""
        return [t.state for t in self.transitions() if t.kind == "state"]


class MessageStore:
    """Messages by id, visible per system_id only; at most `limit` of them, the oldest final ones forgotten first.

    A load test accepts tens of thousands of messages a second, each 1-3 kB with its PDU and
    timeline: kept forever they would exhaust the memory of a long run. Past the limit, each new
    message makes the store forget the message that reached a final state longest ago (one deque
    pop: no walk, no pause to free thousands at once). Pending messages are never forgotten: their
    lifecycle still drives them and they end within the validity period, so the store exceeds the
    limit only while more than that many are pending, and shrinks back as they end.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._by_id: dict[str, Message] = {}
        self.limit = limit
        self.forgotten = 0  # final messages forgotten past the limit
        self._finished: deque[str] = deque()  # ids of final messages, in the order they became final

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, message: Message) -> None:
        """Store a newly accepted message (forgetting the oldest final ones past the limit)."""
        by_id = self._by_id
        by_id[message.message_id] = message
        limit = self.limit
        if limit is None:
            return
        message.store = self
        if message.final_at is not None:  # stored already final (not by the server: it stores messages on acceptance)
            self._finished.append(message.message_id)
        if len(by_id) > limit and self._finished:
            self._forget(len(by_id) - limit)

    def _forget(self, excess: int) -> None:
        by_id, finished = self._by_id, self._finished
        # Two at most per new message: enough to shrink back to the limit after a surge of pending ones.
        for _ in range(min(excess, 2, len(finished))):
            if by_id.pop(finished.popleft(), None) is not None:
                self.forgotten += 1

    def finished(self, message: Message) -> None:
        """A stored message reached a final state (Message.set_state tells its store)."""
        self._finished.append(message.message_id)

    def get(self, message_id: str, system_id: str) -> Message | None:
        """The message with this id if it belongs to system_id."""
        message = self._by_id.get(message_id)
        if message is None or message.system_id != system_id:
            return None
        return message

    def lookup(self, message_id: str) -> Message | None:
        """The message with this id, whatever its account (inspection, not SMPP)."""
        return self._by_id.get(message_id)

    def find(self, system_id: str, *, source_addr: str, destination_addr: str, service_type: str = "") -> list[Message]:
        """Pending messages of system_id from source to destination (cancel_sm without message_id)."""
        return [
            m
            for m in self._by_id.values()
            if m.system_id == system_id
            and m.source_addr == source_addr
            and m.destination_addr == destination_addr
            and (not service_type or m.service_type == service_type)
            and not m.is_final
        ]

    def all(self) -> list[Message]:
        """Every stored message, in submission order."""
        return list(self._by_id.values())

    def search(
        self,
        *,
        number: str | None = None,
        account: str | None = None,
        state: MessageState | str | None = None,
    ) -> list[Message]:
        """Messages to or from a number (with or without '+'), of an account, in a state; in submission order."""
        wanted = None if state is None else (state if isinstance(state, MessageState) else MessageState[state.upper()])
        digits = number.lstrip("+") if number is not None else None
        found = []
        for message in self._by_id.values():
            if account is not None and message.system_id != account:
                continue
            if wanted is not None and message.state is not wanted:
                continue
            if digits is not None:
                parties = {message.source_addr.lstrip("+"), *(d.lstrip("+") for d in message.destinations or (message.destination_addr,))}
                if digits not in parties:
                    continue
            found.append(message)
        return found

    def clear(self) -> None:
        """Forget every message."""
        for message in self._by_id.values():
            message.store = None  # ids repeat after a reset: a forgotten message must not report one
        self._by_id.clear()
        self._finished.clear()
        self.forgotten = 0
