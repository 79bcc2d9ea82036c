"""Message lifecycle: what happens to an accepted MT after submit_sm_resp, on the simulator's clock.

Each message gets a delivery plan from the delivery rules (seeded draws), then its steps fire as
clock calls: one heap of timers for the whole simulator, never a task per message. State changes
are recorded in the message timeline and turned into delivery receipts per registered_delivery and
the account's receipt dialect; handsets that are off wait until they come back or the validity
period ends.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from ..clock import Clock, ScheduledCall
from ..smpp import pdu as P
from ..smpp.constants import CommandId, MessageState, status_name
from ..smpp.constants import CommandStatus as S
from ..smpp.timefmt import resolve_time
from .handsets import HandsetState
from .messages import FINAL_STATES, Message
from .receipts import DIALECTS, ReceiptDialect, build_receipt, convert_message_id, wants_receipt
from .rules import (
    WAIT,
    DeliveryPlan,
    MessageFacts,
    PlannedStep,
    default_rule,
    is_static,
    parse_duration,
    plan_delivery,
    plan_for_rule,
)

_new = object.__new__
_ENROUTE = MessageState.ENROUTE

Emit = Callable[[str, P.Pdu, Message], None]


@dataclass(slots=True, eq=False)
class _Tracked:
    lifecycle: Lifecycle
    message: Message
    plan: DeliveryPlan
    start_at: float
    expires_at: float
    step: int = 0
    call: ScheduledCall | None = None
    expiry: ScheduledCall | None = None
    waiting_on: str | None = None

    # Clock callbacks as bound methods: no closure per message.
    def fire(self) -> None:
        """Run the plan's next step (a clock callback)."""
        self.lifecycle._run_step(self)

    def expire(self) -> None:
        """The validity period ended (a clock callback)."""
        self.lifecycle._expire(self)


class ReceiptOutcome:
    """Stands in for the future of a receipt's delivery: records the ESME's answer in the message timeline at once.

    Receipts are the bulk of SMSC-originated traffic; an asyncio future per receipt would cost a
    future, a done callback and an extra event-loop turn for a line in a timeline. The subset of the
    asyncio.Future API that deliveries use is here; done callbacks run at once, not on the next loop turn.
    """

    __slots__ = ("message", "clock", "_state", "_value", "_callbacks")

    def __init__(self, message: Message, clock: Clock) -> None:
        self.message = message
        self.clock = clock
        self._state = "pending"  # pending, answered, dropped or cancelled
        self._value: object = None
        self._callbacks: list[Callable[[ReceiptOutcome], None]] | None = None

    def done(self) -> bool:
        """True once answered, dropped or cancelled."""
        return self._state != "pending"

    def cancelled(self) -> bool:
        """True when cancelled (a simulator reset); a cancelled receipt records nothing."""
        return self._state == "cancelled"

    def cancel(self) -> bool:
        """Forget the receipt (simulator reset); False when it already had an outcome."""
        if self._state != "pending":
            return False
        self._state = "cancelled"
        self._run_callbacks()
        return True

    def set_result(self, response: P.Pdu) -> None:
        """The ESME answered the receipt."""
        self._state, self._value = "answered", response
        self.message.event(self.clock.now(), f"receipt answered {status_name(response.command_status)}", response)
        self._run_callbacks()

    def set_exception(self, exc: BaseException) -> None:
        """The receipt was dropped (e.g. it expired waiting for a receiver bind)."""
        self._state, self._value = "dropped", exc
        self.message.event(self.clock.now(), f"receipt dropped: {exc}")
        self._run_callbacks()

    def exception(self) -> BaseException | None:
        """Why the receipt was dropped, or None."""
        return self._value if self._state == "dropped" else None  # type: ignore[return-value]

    def result(self) -> P.Pdu:
        """The ESME's response (raises what dropped the receipt; RuntimeError while pending or once cancelled)."""
        if self._state == "answered":
            return self._value  # type: ignore[return-value]
        if self._state == "dropped":
            raise self._value  # type: ignore[misc]
        raise RuntimeError(f"receipt {self._state}: no response")

    def add_done_callback(self, callback: Callable[[ReceiptOutcome], None]) -> None:
        """Call callback(self) once the receipt has an outcome (at once if it already has one)."""
        if self._state != "pending":
            callback(self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def _run_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback(self)


class TimeRefusal(ValueError):
    """schedule_delivery_time or validity_period the network refuses (status says which)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Lifecycle:
    """Drives every accepted MT through its delivery plan and emits its receipts."""

    def __init__(self, clock: Clock, rng: random.Random, network, emit: Emit, message_id_format: str = "hex") -> None:  # noqa: ANN001 - Network (import cycle)
        self.message_id_format = message_id_format
        self.clock = clock
        self.rng = rng
        self.network = network
        self.emit = emit
        self._tracked: dict[str, _Tracked] = {}
        self._waiting: dict[str, list[_Tracked]] = {}
        # The built-in rules' plans by (number type, handset state), for the rules that draw nothing.
        self._default_plans: dict[tuple[str | None, HandsetState], DeliveryPlan] = {}

    # --- submit-time checks ------------------------------------------------------------------

    def times(self, pdu: P.Pdu, account, now: float | None = None) -> tuple[float, float]:  # noqa: ANN001 - config.Account
        """When delivery may start and when the message expires; TimeRefusal when the profile refuses them."""
        profile = self.network.profile
        if now is None:
            now = self.clock.now()
        maximum = parse_duration(profile.max_validity)
        schedule_text = getattr(pdu, "schedule_delivery_time", "")
        validity_text = getattr(pdu, "validity_period", "")
        # Only relative times need the moment as a datetime; most messages give neither time.
        moment = datetime.fromtimestamp(now, tz=timezone.utc) if schedule_text or validity_text else None
        start = now
        if schedule_text:
            scheduled = resolve_time(schedule_text, moment)
            start = max(now, scheduled.timestamp()) if scheduled else now
        if validity_text:
            until = resolve_time(validity_text, moment)
            expires = until.timestamp() if until else now + maximum
            if expires <= start:
                raise TimeRefusal(S.ESME_RINVEXPIRY, "validity_period ends before delivery could start")
        else:
            default = account.default_validity if account.default_validity is not None else profile.default_validity
            expires = start + (parse_duration(default) if default is not None else maximum)
        if expires - now > maximum:
            if profile.validity_policy == "reject":
                raise TimeRefusal(S.ESME_RINVEXPIRY, f"validity beyond the maximum of {profile.max_validity}")
            expires = now + maximum
        return start, expires

    # --- driving messages --------------------------------------------------------------------

    def start(self, message: Message, start_at: float, expires_at: float, now: float | None = None) -> None:
        """Plan an accepted message and schedule its first step."""
        network = self.network
        rules = network.profile.delivery_rules
        if rules:
            plan = plan_delivery(rules, self._facts(message), self.rng)
        else:
            # Only the built-in rules: they look at the number type and handset state alone.
            route = message.route
            destination = route.destination if route is not None else None
            if destination is not None:
                number = destination.e164 or message.destination_addr
                number_type = destination.number_type
            else:
                number = message.destination_addr
                number_type = "mobile"
            handset = network.handsets.state(number)
            plan = self._default_plans.get((number_type, handset))  # type: ignore[assignment]
            if plan is None:
                rule, name = default_rule(number_type, handset.value)
                plan = plan_for_rule(rule, name, self.rng)
                if is_static(rule):
                    self._default_plans[(number_type, handset)] = plan
        tracked = _Tracked(self, message, plan, start_at, expires_at)
        self._tracked[message.message_id] = tracked
        if now is None:
            now = self.clock.now()
        message.rule = plan.rule_name
        if start_at > now:
            message.set_state(MessageState.SCHEDULED, now, f"scheduled for {_iso(start_at)}")
        # Most plans end long before the validity period: only those that may not get an expiry timer.
        if plan.waits or start_at + plan.total_delay >= expires_at:
            tracked.expiry = self.clock.call_at(expires_at, tracked.expire)
        steps = plan.steps
        if steps:
            tracked.call = self.clock.call_at(start_at + steps[0].delay, tracked.fire)

    def _facts(self, message: Message) -> MessageFacts:
        route = message.route
        destination, number = _destination(message)
        handset = self.network.handsets.state(number)
        text = route.text if route is not None and isinstance(route.text, str) else None
        # Built without the frozen dataclass __init__ (one object.__setattr__ per field): once per message.
        facts = _new(MessageFacts)
        facts.__dict__.update(
            destination=number,
            operator=destination.operator if destination is not None else None,
            country=destination.country if destination is not None else None,
            number_type=destination.number_type if destination is not None else "mobile",
            handset_state=handset.value,
            account=message.system_id,
            sender=message.source_addr,
            short_code=route.service_number.number if route is not None and route.service_number else None,
            text=text,
            segments=route.segments if route is not None else 1,
        )
        return facts

    def _schedule_step(self, tracked: _Tracked, base: float) -> None:
        if tracked.step >= len(tracked.plan.steps):
            return
        step = tracked.plan.steps[tracked.step]
        tracked.call = self.clock.call_at(base + step.delay, tracked.fire)

    def _run_step(self, tracked: _Tracked) -> None:
        message = tracked.message
        if message.is_final:
            return
        step: PlannedStep = tracked.plan.steps[tracked.step]
        tracked.step += 1
        now = self.clock.now()
        if step.state == WAIT:
            number = _destination(message)[1]
            if self.network.handsets.state(number) is HandsetState.ON:
                self._transition(tracked, MessageState.DELIVERED, 0, None, "handset back on")
                return
            if message.state is MessageState.SCHEDULED:
                self._transition(tracked, MessageState.ENROUTE, 0, None, "waiting for the handset")
            tracked.waiting_on = number
            self._waiting.setdefault(number, []).append(tracked)
            message.event(now, f"waiting: handset {self.network.handsets.state(number).value}")
            return
        self._transition(tracked, MessageState[step.state] if isinstance(step.state, str) else step.state, step.err, step.network_error, tracked.plan.rule_name)
        if not message.is_final:
            self._schedule_step(tracked, now)

    def _transition(self, tracked: _Tracked, state: MessageState, err: int, network_error: int | None, note: str) -> None:
        message = tracked.message
        now = self.clock.now()
        plan = tracked.plan
        reported = state
        if state is MessageState.DELIVERED and plan.impossible_but_delivered:
            reported = MessageState.UNDELIVERABLE
            note = f"{note}; handset got it, network reports it undeliverable"
        message.error_code = err
        message.set_state(reported, now, note)
        final = reported in FINAL_STATES
        if final:
            self._finish(tracked)
        if not self._receipt_wanted(message, reported, final):
            return
        if final and plan.receipt_never_sent:
            message.event(now, "receipt never sent (unreliability)")
            return
        delay = plan.receipt_delay if final else 0.0
        copies = 2 if final and plan.duplicate_receipt else 1
        for _ in range(copies):
            self._send_receipt(tracked, reported, err, network_error, delay)
        if final and plan.intermediate_after_final:
            self._send_receipt(tracked, MessageState.ENROUTE, 0, None, delay + 0.001)

    def _receipt_wanted(self, message: Message, state: MessageState, final: bool) -> bool:
        registered = getattr(message.pdu, "registered_delivery", 0)
        if not registered or not wants_receipt(registered, state, intermediate=not final):
            return False
        route = message.route
        if route is not None and route.concatenated and not route.completes:
            account = self.network.accounts[message.system_id].account
            if not DIALECTS[account.receipt_dialect].per_segment:
                message.event(self.clock.now(), "no receipt: one per whole message (per_segment false)")
                return False
        return True

    def _send_receipt(
        self, tracked: _Tracked, state: MessageState, err: int, network_error: int | None, delay: float
    ) -> None:
        message = tracked.message
        pdu = self.receipt_for(message, state, err, network_error)
        if delay > 0:
            self.clock.call_later(delay, lambda: self._emit(message, pdu, state))
        else:
            self._emit(message, pdu, state)

    def outcome_of(self, message: Message) -> ReceiptOutcome:
        """What a receipt delivery reports its answer to: the message's timeline (future-like, see ReceiptOutcome)."""
        return ReceiptOutcome(message, self.clock)

    def _emit(self, message: Message, pdu: P.Pdu, state: MessageState) -> None:
        message.event(self.clock.now(), f"receipt {_STATE_NAMES[state]} queued", pdu)
        self.emit(message.system_id, pdu, message)

    def receipt_for(self, message: Message, state: MessageState, err: int, network_error: int | None) -> P.Pdu:
        """The receipt PDU reporting state for message, in its account's dialect."""
        mt = message.pdu
        account = self.network.accounts[message.system_id].account
        dialect: ReceiptDialect = DIALECTS[account.receipt_dialect]
        # Convert the id knowing how it was generated (an all-digit hex id is ambiguous otherwise).
        source = self.message_id_format if self.message_id_format in ("hex", "decimal") else "auto"
        shown_id = convert_message_id(message.message_id, dialect.id_format, source=source)
        dialect = _SAME_ID.get(account.receipt_dialect) or _SAME_ID.setdefault(
            account.receipt_dialect, dataclasses.replace(dialect, id_format="same")
        )
        text = message.route.text if message.route is not None and isinstance(message.route.text, str) else ""
        if not text:
            try:
                text = message.payload.decode("latin-1")
            except AttributeError:
                text = ""
        done = message.final_at if message.final_at is not None else self.clock.now()
        return build_receipt(
            shown_id,
            command="data_sm" if mt.command_id == CommandId.data_sm else "deliver_sm",
            source_addr_ton=getattr(mt, "dest_addr_ton", 0),
            source_addr_npi=getattr(mt, "dest_addr_npi", 0),
            source_addr=message.destination_addr,
            dest_addr_ton=mt.source_addr_ton,  # type: ignore[attr-defined]
            dest_addr_npi=mt.source_addr_npi,  # type: ignore[attr-defined]
            destination_addr=message.source_addr,
            submitted_at=float(message.submitted_at),
            done_at=float(done),
            state=state,
            error_code=err,
            network_error=None if network_error is None else bytes((3,)) + network_error.to_bytes(2, "big"),
            text=text,
            intermediate=state not in FINAL_STATES,
            dialect=dialect,
        )

    def _finish(self, tracked: _Tracked) -> None:
        for call in (tracked.call, tracked.expiry):
            if call is not None:
                call.cancel()
        # A call holds tracked.fire, a method bound to tracked: dropping the calls breaks that cycle, so a
        # finished message is freed by reference counting once the store forgets it (the server's GC
        # policy freezes survivors, and frozen cycles wait for an idle moment to be collected).
        tracked.call = tracked.expiry = None
        if tracked.waiting_on is not None:
            waiting = self._waiting.get(tracked.waiting_on, [])
            if tracked in waiting:
                waiting.remove(tracked)
            if not waiting:
                self._waiting.pop(tracked.waiting_on, None)
            tracked.waiting_on = None
        self._tracked.pop(tracked.message.message_id, None)

    def _expire(self, tracked: _Tracked) -> None:
        if not tracked.message.is_final:
            self._transition(tracked, MessageState.EXPIRED, 0, None, "validity period ended")

    # --- events from outside -----------------------------------------------------------------

    def handset_changed(self, number: str, state: HandsetState) -> int:
        """A handset changed state: messages waiting for it are delivered when it is back on. Returns how many."""
        if state is not HandsetState.ON:
            return 0
        waiting = list(self._waiting.pop(number, []))
        for tracked in waiting:
            tracked.waiting_on = None
            self._transition(tracked, MessageState.DELIVERED, 0, None, "handset back on")
        return len(waiting)

    def cancel(self, message: Message) -> bool:
        """cancel_sm: a pending message becomes DELETED (with a receipt if one was asked for)."""
        if message.is_final:
            return False
        tracked = self._tracked.get(message.message_id)
        if tracked is None:
            # Not driven by the lifecycle (a broadcast_sm): it just ends.
            message.set_state(MessageState.DELETED, self.clock.now(), "cancel_sm")
            return True
        self._transition(tracked, MessageState.DELETED, 0, None, "cancel_sm")
        return True

    def replaced(self, message: Message, start_at: float, expires_at: float) -> None:
        """replace_sm changed the schedule or validity of a pending message."""
        tracked = self._tracked.get(message.message_id)
        if tracked is None or message.is_final:
            return
        if tracked.expiry is not None:
            tracked.expiry.cancel()
        tracked.expires_at = expires_at
        tracked.expiry = self.clock.call_at(expires_at, tracked.expire)
        if tracked.call is not None and tracked.call.when >= expires_at:
            tracked.call.cancel()  # the next step would come after the new validity: expiry wins
        if message.state is MessageState.SCHEDULED and tracked.step == 0:
            if tracked.call is not None:
                tracked.call.cancel()
            tracked.start_at = start_at
            self._schedule_step(tracked, start_at)

    def run_now(self, message: Message) -> None:
        """Run the rest of a message's delivery plan at once, its steps' delays skipped (stops at a wait for the handset)."""
        tracked = self._tracked.get(message.message_id)
        while tracked is not None and not message.is_final and tracked.waiting_on is None and tracked.step < len(tracked.plan.steps):
            if tracked.call is not None:
                tracked.call.cancel()
                tracked.call = None
            self._run_step(tracked)

    def pending(self) -> int:
        """Messages not yet in a final state."""
        return len(self._tracked)


_SAME_ID: dict[str, ReceiptDialect] = {}  # each dialect with the id already converted
_STATE_NAMES = {state: state.name for state in MessageState}  # Enum.name is a slow property


def _destination(message: Message):  # noqa: ANN202 - (numbering Address | None, number)
    """The message's classified destination (None on the open network) and the number its handset has."""
    route = message.route
    destination = route.destination if route is not None else None
    number = destination.e164 if destination is not None and destination.e164 else message.destination_addr
    return destination, number


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")
