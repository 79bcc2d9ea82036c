"""Fault rules: what the SMSC does instead of (or besides) its normal behaviour, for chosen PDUs.

One envelope serves the network YAML (`faults:`), Python (`smsc.faults.add(...)`, `smsc.expect(...)`),
scenarios (`fault:` steps) and the control API (`/faults`):

    on: submit_sm                 # which PDU: a command name, `bind` (any bind), `any`, or a list
    match: {destination_addr: {regex: "^4477"}}   # field matchers, as in scenarios
    account: shop                 # only this system_id
    nth: 3 | every: 5 | first: 2  # which ones, counted among the PDUs selected so far
    after: 10s, until: 40s        # a window on the simulator clock, from when the rule was installed
    probability: 0.1              # drawn from a generator seeded by the simulator's seed (0: never)
    times: 1                      # at most this many firings (none: no limit)
    do: {status: ESME_RSYSERR}    # what (see FaultAction); a bare name such as `do: no_response` too

Rules see the requests an ESME sends (`direction: in`, the default) or, for deliver_sm and
alert_notification, the requests the SMSC sends (`direction: out`). Every rule counts every PDU it
selects; the first rule that fires wins. A rule without `do` is a pure expectation: it changes
nothing, and the harness fails a test whose counted expectations never matched.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

from .config import FieldError
from .matching import PDU_CLASSES, describe, normalise_pdu_expectations, pdu_matches, to_matcher, unknown_pdu_key
from .network.rules import DelayDistribution, parse_duration
from .smpp.constants import CommandId, parse_status, status_name
from .smpp.codec import PduEncodeError, encode
from .smpp.pdu import Pdu
from .smpp.tlv import TLV_BY_NAME, tlv_value

WHEN = ("before", "after")
MALFORMED = ("command_length", "command_id", "sequence_number")
DIRECTIONS = ("in", "out")
BIND_COMMANDS = ("bind_transmitter", "bind_receiver", "bind_transceiver")
# Requests only the SMSC sends: a rule naming them watches the SMSC's own output.
OUTGOING_COMMANDS = frozenset({"deliver_sm", "alert_notification"})
COMMAND_NAMES = frozenset(CommandId.__members__) | {"any", "bind"}
# Actions that only make sense when answering a request, or only when sending one.
ANSWER_ONLY = ("status", "generic_nack", "respond", "out_of_order", "receipt_first")
# A bare action name (`do: reset`) and what it stands for.
SHORTHANDS: dict[str, dict[str, Any]] = {
    "no_response": {"respond": False},
    "generic_nack": {"generic_nack": True},
    "close": {"close": "before"},
    "reset": {"reset": "before"},
    "half_close": {"half_close": "after"},
    "unbind": {"unbind": "after"},
    "out_of_order": {"out_of_order": 1},
    "receipt_first": {"receipt_first": True},
    "duplicate": {"duplicate": True},
}
# How long an out-of-order response waits for later responses to overtake it before it goes out anyway.
OUT_OF_ORDER_HOLD = 1.0


def _when(name: str, value: str | None) -> None:
    if value is not None and value not in WHEN:
        raise FieldError(name, f"must be 'before' or 'after', not {value!r}")


def _duration(name: str, value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise FieldError(name, str(exc)) from None


def _count(name: str, value: Any, minimum: int = 1) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
        raise FieldError(name, f"must be a whole number >= {minimum}, not {value!r}")


@dataclass
class Split:
    """Write the PDU in chunks of `octets` with `gap` (real time) between them."""

    octets: int = 1
    gap: float | str = "1ms"

    def __post_init__(self) -> None:
        _count("octets", self.octets)
        self.gap_seconds = _duration("gap", self.gap)


@dataclass
class Coalesce:
    """Hold the connection's output until `count` PDUs are waiting (or `within` has passed), then write them at once."""

    count: int = 2
    within: float | str = "1s"

    def __post_init__(self) -> None:
        _count("count", self.count, 2)
        self.within_seconds = _duration("within", self.within)


@dataclass
class Malformed:
    """Send the PDU with a wrong header field: command_length, command_id or sequence_number (value: what to write)."""

    field: str = "command_length"
    value: int | None = None

    def __post_init__(self) -> None:
        if self.field not in MALFORMED:
            raise FieldError("field", f"must be one of {', '.join(MALFORMED)}, not {self.field!r}")
        if self.value is not None and (type(self.value) is not int or not 0 <= self.value <= 0xFFFFFFFF):
            raise FieldError("value", "must be a 32-bit unsigned number")

    def header_value(self, length: int, command_id: int, sequence: int) -> int:
        """The wrong value written in place of the true one."""
        if self.value is not None:
            return self.value
        if self.field == "command_length":
            return 8  # shorter than the header itself: unambiguous for a strict peer
        if self.field == "command_id":
            return 0x000000FF  # no operation of any SMPP version
        return sequence + 0x10000000 if sequence < 0x70000000 else sequence - 0x10000000


@dataclass
class FaultAction:
    """What a fault rule does (`do`); several may combine, e.g. a delay then a close."""

    status: int | str | None = None  # answer with this command_status instead (the request is not handled)
    fields: dict[str, Any] = field(default_factory=dict)  # change fields of the response (or of the sent PDU)
    delay: float | str | DelayDistribution | None = None  # hold the response (or the sent PDU), real time
    respond: bool = True  # false: the request is handled but its response is never sent
    generic_nack: int | str | bool | None = None  # answer generic_nack (true: ESME_RSYSERR)
    close: str | None = None  # close the TCP connection before or after the response
    reset: str | None = None  # the same with a TCP RST
    half_close: str | None = None  # shut our sending side (FIN) and keep reading
    unbind: str | None = None  # the SMSC sends unbind before or after the response
    out_of_order: int | bool = 0  # let this many later responses overtake this one
    receipt_first: bool = False  # run the message's delivery at once: its receipt goes out before the submit_sm_resp
    duplicate: bool = False  # send the response (or the sent PDU) twice
    split: Split | int | None = None  # chunk size in octets, or {octets, gap}
    coalesce: Coalesce | int | None = None  # PDU count, or {count, within}
    stall: float | str | None = None  # stop reading from the connection for this long after the response
    malformed: Malformed | str | None = None  # which header field to corrupt, or {field, value}

    def __post_init__(self) -> None:
        if self.status is not None:
            self.status = _status("status", self.status)
        if not isinstance(self.fields, dict):
            raise FieldError("fields", "must be a mapping of PDU fields")
        if self.delay is not None and not isinstance(self.delay, DelayDistribution):
            _duration("delay", self.delay)
        if not isinstance(self.respond, bool):
            raise FieldError("respond", "must be true or false")
        if self.generic_nack is True:
            self.generic_nack = 0x00000008  # ESME_RSYSERR
        elif self.generic_nack is False:
            self.generic_nack = None
        elif self.generic_nack is not None:
            self.generic_nack = _status("generic_nack", self.generic_nack)
        for name in ("respond", "receipt_first", "duplicate"):
            if not isinstance(getattr(self, name), bool):
                raise FieldError(name, f"must be true or false, not {getattr(self, name)!r}")
        for name in ("close", "reset", "half_close", "unbind"):
            _when(name, getattr(self, name))
        if [self.close, self.reset, self.half_close].count(None) < 2:
            raise FieldError("reset", "close, reset and half_close exclude each other")
        if self.out_of_order is True:
            self.out_of_order = 1
        _count("out_of_order", self.out_of_order or None)
        try:
            if isinstance(self.split, int) and not isinstance(self.split, bool):
                self.split = Split(octets=self.split)
            if isinstance(self.coalesce, int) and not isinstance(self.coalesce, bool):
                self.coalesce = Coalesce(count=self.coalesce)
            if isinstance(self.malformed, str):
                self.malformed = Malformed(field=self.malformed)
        except FieldError as exc:
            name = "split" if exc.field == "octets" else "coalesce" if exc.field == "count" else "malformed"
            raise FieldError(f"{name}.{exc.field}", str(exc)) from None
        for name, kind in (("split", Split), ("coalesce", Coalesce), ("malformed", Malformed)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise FieldError(name, f"must be a number, a name or a mapping, not {value!r}")
        if self.stall is not None:
            _duration("stall", self.stall)
        if self.out_of_order:
            # A held response goes out later, on its own: nothing can shape it or follow it.
            clash = [name for name in ("split", "coalesce", "malformed") if getattr(self, name) is not None]
            clash += [name for name in ("duplicate",) if getattr(self, name)]
            clash += [name for name in ("close", "reset", "half_close", "unbind") if getattr(self, name) == "after"]
            if clash:
                raise FieldError("out_of_order", f"a held response cannot also be {', '.join(clash)}")
        if self.status is not None and self.generic_nack is not None:
            raise FieldError("generic_nack", "a response is either a status or a generic_nack")
        if not self.respond and (self.status is not None or self.generic_nack is not None or self.fields):
            raise FieldError("respond", "a response that is never sent takes no status, generic_nack or fields")

    @classmethod
    def parse(cls, value: FaultAction | Mapping[str, Any] | str | None) -> FaultAction | None:
        """An action from its object, mapping or bare name (None stays None: an expectation)."""
        if value is None or isinstance(value, FaultAction):
            return value
        if isinstance(value, str):
            if value not in SHORTHANDS:
                raise FieldError("do", f"unknown action {value!r} (bare names: {', '.join(SHORTHANDS)}; others take a mapping)")
            return cls(**SHORTHANDS[value])
        if isinstance(value, Mapping):
            return build(cls, value)
        raise FieldError("do", f"must be an action name or a mapping, not {value!r}")

    def draw_delay(self, rng: random.Random) -> float:
        """This firing's delay in seconds (a distribution draws from the rule's generator)."""
        if self.delay is None:
            return 0.0
        if isinstance(self.delay, DelayDistribution):
            return self.delay.draw(rng)
        return parse_duration(self.delay)

    @property
    def stall_seconds(self) -> float:
        """How long reading stops (0: no stall)."""
        return parse_duration(self.stall) if self.stall is not None else 0.0

    @property
    def replaces_answer(self) -> bool:
        """True when the request is answered without being handled (a status, a generic_nack, or a close before it)."""
        return self.status is not None or self.generic_nack is not None or "before" in (self.close, self.reset, self.half_close)

    @property
    def silences(self) -> bool:
        """True when the request never gets our answer (no response, or the sending side shut before it)."""
        return not self.respond or self.half_close == "before"

    @property
    def shapes_output(self) -> bool:
        """True when the PDU goes out split, coalesced, corrupted, or behind a reading stall."""
        return isinstance(self.split, Split) or isinstance(self.coalesce, Coalesce) or self.stall is not None or isinstance(self.malformed, Malformed)

    @property
    def changes_anything(self) -> bool:
        """False for an action that leaves everything as it was."""
        return self != FaultAction()

    def describe(self) -> str:
        """'status ESME_RSYSERR, delay 2s, close after'."""
        parts = []
        if self.status is not None:
            parts.append(f"status {status_name(self.status)}")
        if self.generic_nack is not None:
            parts.append(f"generic_nack {status_name(self.generic_nack)}")
        if self.fields:
            parts.append(f"fields {dict(self.fields)}")
        if self.delay is not None:
            delay = self.delay
            parts.append(f"delay {delay.dist}" if isinstance(delay, DelayDistribution) else f"delay {parse_duration(delay):g}s")
        if not self.respond:
            parts.append("no response")
        if self.out_of_order:
            parts.append(f"out of order (after {self.out_of_order} later response(s))")
        if self.receipt_first:
            parts.append("receipt before the response")
        if self.duplicate:
            parts.append("sent twice")
        if isinstance(self.split, Split):
            parts.append(f"split in {self.split.octets}-octet writes")
        if isinstance(self.coalesce, Coalesce):
            parts.append(f"coalesced with {self.coalesce.count - 1} more")
        if self.stall is not None:
            parts.append(f"stall reading {parse_duration(self.stall):g}s")
        if isinstance(self.malformed, Malformed):
            parts.append(f"malformed {self.malformed.field}")
        for name in ("close", "reset", "half_close", "unbind"):
            when = getattr(self, name)
            if when:
                parts.append(f"{name.replace('_', '-')} {when}")
        return ", ".join(parts) or "nothing"

    def to_dict(self) -> dict[str, Any]:
        """The action as the control API shows it (only what is set)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default or (f.name == "fields" and not value):
                continue
            if f.name in ("status", "generic_nack"):
                value = status_name(value)
            elif dataclasses.is_dataclass(value):
                value = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
            out[f.name] = value
        return out


@dataclass
class FaultSpec:
    """The envelope of a fault rule: which PDUs, which of them, how often, and what to do (see the module docstring)."""

    on: str | list[str] = "any"
    do: FaultAction | str | None = None
    match: dict[str, Any] = field(default_factory=dict)
    account: str | None = None
    direction: str | None = None  # None: 'out' for deliver_sm/alert_notification, 'in' otherwise
    nth: int | None = None
    every: int | None = None
    first: int | None = None
    after: float | str | None = None
    until: float | str | None = None
    probability: float = 1.0
    times: int | None = None
    ordered: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.on, (str, list, tuple)) or not all(isinstance(c, str) for c in self.on):
            raise FieldError("on", f"must be a command name, 'bind', 'any' or a list of them, not {self.on!r}")
        commands = [self.on] if isinstance(self.on, str) else list(self.on)
        if not commands:
            raise FieldError("on", "names no command")
        for command in commands:
            if command not in COMMAND_NAMES:
                raise FieldError("on", f"unknown command {command!r} (a command name, 'bind' or 'any')")
        self.commands: tuple[str, ...] = tuple(
            dict.fromkeys(c for command in commands for c in (BIND_COMMANDS if command == "bind" else (command,)))
        )
        try:
            self.action = FaultAction.parse(self.do)
        except FieldError as exc:
            raise FieldError(exc.field if exc.field == "do" else f"do.{exc.field}", str(exc)) from None
        if self.direction is None:
            self.direction = "out" if self.commands and set(self.commands) <= OUTGOING_COMMANDS else "in"
        if self.direction not in DIRECTIONS:
            raise FieldError("direction", f"must be 'in' or 'out', not {self.direction!r}")
        if not isinstance(self.match, Mapping):
            raise FieldError("match", "must be a mapping of PDU fields to expected values")
        unknown = unknown_pdu_key(self.match, None if "any" in self.commands else self.commands)
        if unknown is not None:
            raise FieldError(f"match.{unknown}", f"unknown key: not a field or TLV of {'/'.join(self.commands)}")
        for name in ("account", "name"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise FieldError(name, f"must be a string, not {value!r}")
        if not isinstance(self.ordered, bool):
            raise FieldError("ordered", f"must be true or false, not {self.ordered!r}")
        try:
            self.matchers = normalise_pdu_expectations({k: to_matcher(v) for k, v in self.match.items()})
        except (ValueError, KeyError, TypeError) as exc:
            raise FieldError("match", f"bad matcher: {exc}") from None
        for name in ("nth", "every", "first", "times"):
            _count(name, getattr(self, name))
        if [self.nth, self.every, self.first].count(None) < 2:
            raise FieldError("every" if self.nth is not None and self.every is not None else "first", "nth, every and first exclude each other")
        self.after_seconds = _duration("after", self.after) if self.after is not None else 0.0
        self.until_seconds = _duration("until", self.until) if self.until is not None else float("inf")
        if self.until_seconds <= self.after_seconds:
            raise FieldError("until", "must be later than after")
        if isinstance(self.probability, bool) or not isinstance(self.probability, (int, float)) or not 0 <= self.probability <= 1:
            raise FieldError("probability", f"must be a number from 0 to 1, not {self.probability!r}")
        action = self.action
        if action is not None and self.direction == "out":
            wrong = [name for name in ANSWER_ONLY if getattr(action, name) != getattr(FaultAction(), name)]
            if wrong:
                raise FieldError(f"do.{wrong[0]}", "answers a request: not for a PDU the SMSC sends (direction out)")
        if action is not None and action.fields:
            self._check_fields(action.fields)

    def _check_fields(self, fields: Mapping[str, Any]) -> None:
        """The changed fields must exist on, and encode in, every PDU the rule may change (checked at install)."""
        named = [c for c in self.commands if c in PDU_CLASSES]
        targets: list[type[Pdu]] = []
        for command in named or list(PDU_CLASSES):
            cls = PDU_CLASSES[command]
            target = cls if self.direction == "out" else cls.RESPONSE
            if target is not None and target not in targets:
                targets.append(target)
        known = {f.name for cls in targets for f in dataclasses.fields(cls)} | set(TLV_BY_NAME)
        for key in fields:
            if key not in known or key in ("command_id", "sequence_number", "tlvs"):
                raise FieldError(f"do.fields.{key}", f"neither a field of {'/'.join(t().command_name for t in targets[:4])} nor a TLV name")
        if not named:
            return  # 'any': the fields are checked against each PDU when the rule fires
        for target in targets:
            present = {f.name for f in dataclasses.fields(target)} | set(TLV_BY_NAME)
            try:
                encode(with_changes(target(), {k: v for k, v in fields.items() if k in present}))
            except (PduEncodeError, TypeError, ValueError) as exc:
                raise FieldError("do.fields", f"cannot be sent in {target().command_name}: {exc}") from None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultSpec:
        """A spec from plain data (JSON, a scenario step, keyword arguments): unknown keys and bad values raise FieldError."""
        return build(cls, data)

    @property
    def counted(self) -> bool:
        """True when the rule says how often it must fire (times, nth or first) and nothing is left to chance."""
        return (self.times is not None or self.nth is not None or self.first is not None) and self.probability == 1

    def describe(self) -> str:
        """'submit_sm from shop where destination_addr regex ... , 3rd, p=0.5 -> status ESME_RSYSERR'."""
        selector = "/".join(self.commands)
        if self.direction == "out" and not set(self.commands) <= OUTGOING_COMMANDS:
            selector += " (sent by the SMSC)"
        if self.account:
            selector += f" from {self.account}"
        if self.matchers:
            selector += " where " + ", ".join(f"{k} {describe(v)}" for k, v in self.matchers.items())
        if self.nth is not None:
            selector += f", #{self.nth} only"
        if self.every is not None:
            selector += f", every {self.every}"
        if self.first is not None:
            selector += f", first {self.first}"
        if self.after is not None or self.until is not None:
            until = "" if self.until is None else f"{self.until_seconds:g}s"
            selector += f", {self.after_seconds:g}s..{until}"
        if self.probability < 1:
            selector += f", p={self.probability:g}"
        what = self.action.describe() if self.action is not None else "normal reply"
        label = f"{self.name}: " if self.name else ""
        return f"{label}{selector} -> {what}"

    def _match_as_data(self) -> dict[str, Any]:
        """`match` as written when it is plain data (so a listed rule can be posted again), else described."""
        out: dict[str, Any] = {}
        for key, raw in self.match.items():
            try:
                json.dumps(raw, allow_nan=False)
                out[key] = raw
            except (TypeError, ValueError):  # Python matchers or compiled regexes from smsc.faults.add
                out[key] = describe(self.matchers[key])
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for the control API."""
        return {
            "name": self.name,
            "on": list(self.commands),
            "direction": self.direction,
            "account": self.account,
            "match": self._match_as_data(),
            "nth": self.nth,
            "every": self.every,
            "first": self.first,
            "after": self.after_seconds if self.after is not None else None,
            "until": self.until_seconds if self.until is not None else None,
            "probability": self.probability,
            "times": self.times,
            "ordered": self.ordered,
            "do": self.action.to_dict() if self.action is not None else None,
        }


def _status(name: str, value: Any) -> int:
    """A command_status from a name or a number, which must fit the 32-bit field."""
    if type(value) is not int and not isinstance(value, str):
        raise FieldError(name, f"must be a command_status name or a number 0..0xFFFFFFFF, not {value!r}")
    try:
        status = parse_status(value)
    except (ValueError, AttributeError) as exc:
        raise FieldError(name, str(exc)) from None
    if type(status) is not int or not 0 <= status <= 0xFFFFFFFF:
        raise FieldError(name, f"must be a command_status name or a number 0..0xFFFFFFFF, not {value!r}")
    return status


def build(cls: type, data: Mapping[str, Any]) -> Any:
    """Build one of this module's dataclasses from plain data, naming the key (dotted) of any error."""
    if not isinstance(data, Mapping):
        raise FieldError("(top level)", f"expected a mapping, not {data!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise FieldError(str(key), f"unknown key (known: {', '.join(sorted(known))})")
    values = dict(data)
    for key, nested in (("split", Split), ("coalesce", Coalesce), ("malformed", Malformed), ("delay", DelayDistribution)):
        if key in values and isinstance(values[key], Mapping):
            try:
                values[key] = build(nested, values[key])
            except FieldError as exc:
                raise FieldError(f"{key}.{exc.field}", str(exc)) from None
    try:
        return cls(**values)
    except TypeError as exc:  # a dataclass's own type error, e.g. a list where a number goes
        raise FieldError("(top level)", str(exc)) from None


def fault_schema() -> dict[str, Any]:
    """The JSON Schema of one fault rule (the envelope), shared by the server, scenario and control API schemas."""
    duration = {"description": "seconds, or a string such as '250ms', '2s', '5m'", "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}
    when = {"enum": list(WHEN)}
    count = {"type": "integer", "minimum": 1}
    action = {
        "type": "object",
        "description": "what the rule does",
        "additionalProperties": False,
        "properties": {
            "status": {"description": "answer with this command_status (a name or number); the request is not handled", "type": ["string", "integer"]},
            "fields": {"type": "object", "description": "fields of the response (or of the PDU sent) to change"},
            "delay": {"description": "a duration or {dist: fixed|uniform|normal|lognormal, ...}", "anyOf": [duration, {"type": "object"}]},
            "respond": {"type": "boolean", "description": "false: handled, but the response is never sent"},
            "generic_nack": {"type": ["boolean", "string", "integer"], "description": "answer generic_nack (true: ESME_RSYSERR)"},
            "close": when,
            "reset": when,
            "half_close": when,
            "unbind": when,
            "out_of_order": {"type": ["integer", "boolean"], "description": "this many later responses overtake this one"},
            "receipt_first": {"type": "boolean"},
            "duplicate": {"type": "boolean"},
            "split": {"anyOf": [count, {"type": "object", "properties": {"octets": count, "gap": duration}, "additionalProperties": False}]},
            "coalesce": {"anyOf": [count, {"type": "object", "properties": {"count": count, "within": duration}, "additionalProperties": False}]},
            "stall": duration,
            "malformed": {
                "anyOf": [
                    {"enum": list(MALFORMED)},
                    {"type": "object", "properties": {"field": {"enum": list(MALFORMED)}, "value": {"type": "integer"}}, "additionalProperties": False},
                ]
            },
        },
    }
    return {
        "type": "object",
        "description": "a fault rule: which PDUs (on, match, account, direction), which of them (nth, every, first, after, until), how often (probability, times), and what (do)",
        "additionalProperties": False,
        "properties": {
            "on": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "description": "a command name, bind, any, or a list"},
            "do": {"anyOf": [{"enum": list(SHORTHANDS)}, action, {"type": "null"}]},
            "match": {"type": "object", "description": "field matchers, as in scenarios"},
            "account": {"type": ["string", "null"]},
            "direction": {"enum": [*DIRECTIONS, None]},
            "nth": count,
            "every": count,
            "first": count,
            "after": duration,
            "until": duration,
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "times": {"anyOf": [count, {"type": "null"}]},
            "ordered": {"type": "boolean"},
            "name": {"type": "string"},
        },
    }


@dataclass
class FaultFiring:
    """One time a rule fired: when, on which session and PDU, and what it did."""

    at: float
    rule: int
    name: str
    session: int | None
    system_id: str | None
    command: str
    sequence_number: int
    action: str
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return dataclasses.asdict(self)


@dataclass
class FaultRule:
    """An installed rule: its spec, id, generator and counters."""

    spec: FaultSpec
    installed_at: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    origin: str = "runtime"  # 'config' for the rules of the configuration (reinstalled by a reset)
    id: int = 0  # the install order in its FaultRules, from 1 (a reset starts again, as the seed's run does)
    seen: int = 0
    hits: int = 0

    @property
    def action(self) -> FaultAction | None:
        """What the rule does (None: a pure expectation)."""
        return self.spec.action

    @property
    def name(self) -> str:
        """The rule's name ('' when unnamed)."""
        return self.spec.name

    @property
    def label(self) -> str:
        """How notes and logs name the rule: 'fault rule 3', or 'fault rule 3 (third submit fails)'."""
        return f"fault rule {self.id} ({self.spec.name})" if self.spec.name else f"fault rule {self.id}"

    @property
    def exhausted(self) -> bool:
        """True once the rule can fire no more."""
        spec = self.spec
        if spec.times is not None and self.hits >= spec.times:
            return True
        if spec.nth is not None and self.seen >= spec.nth:
            return True
        return spec.first is not None and self.seen >= spec.first

    @property
    def changes_reply(self) -> bool:
        """False for a pure expectation (the normal reply goes out)."""
        return self.action is not None and self.action.changes_anything

    def selects(self, pdu: Pdu, system_id: str | None, now: float) -> bool:
        """True when the PDU is one this rule watches, now, from this account."""
        spec = self.spec
        if spec.account is not None and spec.account != system_id:
            return False
        elapsed = now - self.installed_at
        if elapsed < spec.after_seconds or elapsed >= spec.until_seconds:
            return False
        return pdu_matches(pdu, spec.commands, spec.matchers)

    def fires(self) -> bool:
        """Whether the PDU just counted (self.seen) is one this rule acts on; draws when probability says so."""
        spec = self.spec
        n = self.seen
        if spec.nth is not None and n != spec.nth:
            return False
        if spec.every is not None and n % spec.every:
            return False
        if spec.first is not None and n > spec.first:
            return False
        if spec.probability >= 1:
            return True
        # probability 0 never draws: adding such a rule leaves every other random choice unchanged.
        return spec.probability > 0 and self.rng.random() < spec.probability

    @property
    def unmet(self) -> bool:
        """True for a counted rule installed at run time (times, nth or first; no chance involved) that fired less than it says."""
        spec = self.spec
        if self.origin == "config" or not spec.counted:
            return False
        wanted = spec.times if spec.times is not None else spec.first if spec.first is not None else 1
        return self.hits < wanted

    def describe(self) -> str:
        """One line for logs and reports, with the firing count."""
        spec = self.spec
        limit = spec.times if spec.times is not None else spec.first if spec.first is not None else 1 if spec.nth is not None else None
        times = f"fired {self.hits}" + (f"/{limit}" if limit is not None else "")
        return f"rule {self.id} {spec.describe()} ({times}{', ordered' if spec.ordered else ''})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for the control API."""
        return {"id": self.id, **self.spec.to_dict(), "origin": self.origin, "seen": self.seen, "hits": self.hits, "unmet": self.unmet}


def with_changes(pdu: Pdu, changes: Mapping[str, Any]) -> Pdu:
    """The PDU with a fault's `fields` applied: its own fields replaced, other standard TLV names set as TLVs
    (e.g. congestion_state on a response). TypeError or ValueError when a value does not fit."""
    own = {f.name for f in dataclasses.fields(pdu)}
    changed = pdu.replace(**{k: v for k, v in changes.items() if k in own})
    for name, value in changes.items():
        if name not in own:
            spec = TLV_BY_NAME.get(name)
            if spec is None:
                raise TypeError(f"{pdu.command_name} has no field or TLV {name!r}")
            changed = changed.with_tlv(name, tlv_value(spec, value))
    return changed


class FaultRules:
    """The SMSC's installed rules and the record of their firings."""

    def __init__(self, seed: int = 0, history: int = 1000) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.fired: deque[FaultFiring] = deque(maxlen=history)
        self.fired_total = 0
        self._installed = 0
        self.watch_out = False  # any rule on PDUs the SMSC sends: the delivery path checks only then

    def add(self, spec: FaultSpec, now: float = 0.0, origin: str = "runtime") -> FaultRule:
        """Install a rule after the existing ones; its generator is seeded from the seed and the install order."""
        self._installed += 1
        rng = random.Random(f"{self.seed}/fault/{self._installed}")
        rule = FaultRule(spec, installed_at=now, rng=rng, origin=origin, id=self._installed)
        self.rules.append(rule)
        self._refresh()
        return rule

    def remove(self, rule_id: int) -> bool:
        """Drop a rule by id; False when there was none."""
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        self._refresh()
        return len(self.rules) != before

    def clear(self, seed: int | None = None) -> None:
        """Drop every rule and firing record (and restart the generators' sequence)."""
        self.rules.clear()
        self.fired.clear()
        self.fired_total = 0
        self._installed = 0
        if seed is not None:
            self.seed = seed
        self._refresh()

    def _refresh(self) -> None:
        self.watch_out = any(r.spec.direction == "out" for r in self.rules)

    def take(self, pdu: Pdu, system_id: str | None, now: float, direction: str = "in") -> FaultRule | None:
        """The rule that acts on this PDU, counting it in every rule that selects it; None: behave normally."""
        next_ordered = next((r for r in self.rules if r.spec.ordered and r.spec.direction == direction and not r.exhausted), None)
        chosen = None
        for rule in self.rules:
            if rule.spec.direction != direction or rule.exhausted:
                continue
            if rule.spec.ordered and rule is not next_ordered:
                continue
            if not rule.selects(pdu, system_id, now):
                continue
            rule.seen += 1
            if chosen is None and rule.fires():
                rule.hits += 1
                chosen = rule
        return chosen

    def record(self, rule: FaultRule, at: float, session: int | None, system_id: str | None, pdu: Pdu, message_id: str | None = None) -> FaultFiring:
        """Keep the record of one firing."""
        action = rule.action.describe() if rule.action is not None else "expectation met"
        firing = FaultFiring(at, rule.id, rule.name, session, system_id, pdu.command_name, pdu.sequence_number, action, message_id)
        self.fired.append(firing)
        self.fired_total += 1
        return firing

    def unmet(self) -> list[FaultRule]:
        """Counted rules (times, nth or first; no chance involved) that have not fired as often as they say."""
        return [rule for rule in self.rules if rule.unmet]


__all__ = [
    "Coalesce",
    "FaultAction",
    "FaultFiring",
    "FaultRule",
    "FaultRules",
    "FaultSpec",
    "Malformed",
    "Split",
    "build",
    "fault_schema",
]
