"""Delivery rules: what happens to an accepted MT after submit_sm_resp, as a plan drawn from seeded randomness.

A profile's `delivery_rules:` list is searched in order and the first rule whose `match` holds wins;
when none does, the built-in DEFAULTS decide by number type and handset state. A rule gives either
one `sequence` of steps or weighted `outcomes`, each a sequence; every delay, outcome and
unreliability knob is drawn here with the caller's `random.Random`, so one seed replays one run.
The lifecycle engine then plays the plan on the simulator clock.

Error codes of the defaults are GSM MAP error codes (3GPP TS 29.002), reported both as the receipt
`err:` field and as the network_error_code TLV (network type 3 = GSM, then these two octets):

    1   unknown subscriber          (no such subscriber in the HLR; also what a fixed line gets)
    11  teleservice not provisioned (the subscription excludes SMS)
    13  call barred                 (operator or subscriber barring)
    27  absent subscriber           (handset off or out of coverage)
    31  subscriber busy for MT SMS
    32  SM delivery failure         (with cause "memory capacity exceeded": the handset memory is full)
    34  system failure
"""

from __future__ import annotations

import functools
import math
import random
import re
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from ..config import ConfigError, FieldError, load_typed
from ..smpp.constants import MessageState
from .handsets import HandsetState
from .numbering import NUMBER_TYPES

# A step state, not a MessageState: "stay ENROUTE until the handset is back on or the validity
# period ends". A plain string (rather than a sentinel object) so plans print and compare simply.
WAIT = "WAIT"

INTERMEDIATE_STEP_STATES = ("ENROUTE", "ACCEPTED")
FINAL_STEP_STATES = ("DELIVERED", "UNDELIVERABLE", "EXPIRED", "REJECTED", "DELETED", "UNKNOWN")
STEP_STATES = (*INTERMEDIATE_STEP_STATES, *FINAL_STEP_STATES, WAIT)

# short_code is what the numbering plan calls a short-code destination; the rest are libphonenumber's types.
KNOWN_NUMBER_TYPES = tuple(sorted({*NUMBER_TYPES.values(), "short_code"}))
HANDSET_STATES = tuple(state.value for state in HandsetState)

# Number types whose lines have no SMS teleservice: the defaults fail them like an unknown subscriber.
# fixed_line_or_mobile (the US and Canada), voip, personal_number and unknown stay deliverable.
NON_SMS_NUMBER_TYPES = ("fixed_line", "toll_free", "premium_rate", "shared_cost", "uan", "voicemail", "pager")

DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "normal": ("mean", "stddev"),
    "lognormal": ("median", "sigma"),
}

# --- durations -------------------------------------------------------------------------------

_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_RANK = {unit: rank for rank, unit in enumerate(_UNIT_SECONDS)}
# "ms" before "m" and "s" so that "250ms" is not read as 250 minutes followed by garbage.
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)")
_PLAIN_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")
_DURATION_HELP = "use a number of seconds or a string such as '250ms', '2s', '5m', '3h', '2d' or '1h30m'"


def parse_duration(value: str | float | int) -> float:
    """Seconds from a number of seconds or a string such as '250ms', '2s', '5m', '3h', '2d' or '1h30m'."""
    try:
        return _parse_duration(value)
    except TypeError:  # unhashable, so not a duration either: let the parser say why
        return _parse_duration.__wrapped__(value)


# typed: a cached 1 must not answer for True (which is refused); rules repeat the same few durations.
@functools.lru_cache(maxsize=1024, typed=True)
def _parse_duration(value: str | float | int) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HELP}")
    if not isinstance(value, str):
        seconds = float(value)
    elif _PLAIN_NUMBER.fullmatch(value):
        seconds = float(value)
    else:
        text = value.strip()
        if not text:
            raise ValueError(f"invalid duration {value!r}: {_DURATION_HELP}")
        seconds, position, last_rank = 0.0, 0, -1
        while position < len(text):
            part = _DURATION_PART.match(text, position)
            if part is None:
                raise ValueError(f"invalid duration {value!r}: {_DURATION_HELP}")
            rank = _UNIT_RANK[part.group(2)]
            if rank <= last_rank:
                raise ValueError(f"invalid duration {value!r}: units go from days down to milliseconds, each once")
            seconds += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
            position, last_rank = part.end(), rank
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r}: must be finite")
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: cannot be negative")
    return seconds


def _check_delay(name: str, value: DelayDistribution | float | str | None) -> None:
    if value is None or isinstance(value, DelayDistribution):
        return  # a distribution validated itself when it was built
    try:
        parse_duration(value)
    except ValueError as exc:
        raise FieldError(name, str(exc)) from None


def _draw_delay(value: DelayDistribution | float | str | None, rng: random.Random) -> float:
    if value is None:
        return 0.0
    if isinstance(value, DelayDistribution):
        return value.draw(rng)
    return parse_duration(value)


# --- the YAML shape ---------------------------------------------------------------------------


@dataclass
class DelayDistribution:
    """A random delay: fixed value, uniform min..max, normal mean/stddev (clamped at 0) or lognormal median/sigma."""

    dist: str
    value: float | str | None = None
    min: float | str | None = None
    max: float | str | None = None
    mean: float | str | None = None
    stddev: float | str | None = None
    median: float | str | None = None
    sigma: float | None = None  # of the underlying normal, unitless: 0.5 spreads roughly x/1.6..x*1.6

    def __post_init__(self) -> None:
        if self.dist not in DISTRIBUTIONS:
            raise FieldError("dist", f"must be one of {', '.join(DISTRIBUTIONS)}")
        wanted = DISTRIBUTIONS[self.dist]
        for name in ("value", "min", "max", "mean", "stddev", "median", "sigma"):
            given = getattr(self, name) is not None
            if given and name not in wanted:
                raise FieldError(name, f"not used by dist {self.dist} (it takes {', '.join(wanted)})")
            if not given and name in wanted:
                raise FieldError(name, f"required by dist {self.dist}")
            if given and name != "sigma":
                _check_delay(name, getattr(self, name))
        if self.dist == "uniform" and parse_duration(self.min) > parse_duration(self.max):  # type: ignore[arg-type]
            raise FieldError("max", "must be at least min")
        if self.dist == "lognormal":
            if parse_duration(self.median) <= 0:  # type: ignore[arg-type]
                raise FieldError("median", "must be more than 0 (a lognormal delay is never 0)")
            if not (math.isfinite(self.sigma) and self.sigma >= 0):  # type: ignore[arg-type]
                raise FieldError("sigma", "must be a finite number >= 0")

    def draw(self, rng: random.Random) -> float:
        """One delay in seconds drawn with rng (a fixed delay draws nothing)."""
        if self.dist == "fixed":
            return parse_duration(self.value)  # type: ignore[arg-type]
        if self.dist == "uniform":
            return rng.uniform(parse_duration(self.min), parse_duration(self.max))  # type: ignore[arg-type]
        if self.dist == "normal":
            # normalvariate rather than gauss: gauss caches a second value in the generator between calls.
            mean, stddev = parse_duration(self.mean), parse_duration(self.stddev)  # type: ignore[arg-type]
            return max(0.0, rng.normalvariate(mean, stddev))
        # The median of a lognormal is exp(mu), which is the parameter people can reason about.
        return rng.lognormvariate(math.log(parse_duration(self.median)), self.sigma)  # type: ignore[arg-type]


@dataclass
class Step:
    """One state change: `after` a delay since the previous step (the first: since acceptance), reach `state`."""

    state: str
    after: DelayDistribution | float | str | None = None
    err: int | None = None  # the receipt's err: field, 0..999
    network_error: int | None = None  # the GSM error of the network_error_code TLV, 0..0xFFFF

    def __post_init__(self) -> None:
        if isinstance(self.state, str):
            self.state = self.state.upper()
        if self.state not in STEP_STATES:
            raise FieldError("state", f"must be one of {', '.join(STEP_STATES)}")
        _check_delay("after", self.after)
        if self.err is not None and not 0 <= self.err <= 999:
            raise FieldError("err", "must be 0..999 (the receipt's three-digit err: field)")
        if self.network_error is not None and not 0 <= self.network_error <= 0xFFFF:
            raise FieldError("network_error", "must be 0..0xFFFF (two octets of the network_error_code TLV)")
        if self.state == WAIT and (self.err is not None or self.network_error is not None):
            # The lifecycle reports how a wait ends (delivered or expired); an error here would be silently lost.
            raise FieldError("err" if self.err is not None else "network_error", "a WAIT step takes no error")


def _sequence_problem(steps: list[Step]) -> str | None:
    if not steps:
        return "must have at least one step"
    for number, step in enumerate(steps[:-1], start=1):
        if step.state not in INTERMEDIATE_STEP_STATES:
            return (
                f"step {number} is {step.state}: only the last step may be final or WAIT, "
                f"earlier ones are {' or '.join(INTERMEDIATE_STEP_STATES)}"
            )
    last = steps[-1].state
    if last not in FINAL_STEP_STATES and last != WAIT:
        return f"must end in a final state ({', '.join(FINAL_STEP_STATES)}) or WAIT, not {last}"
    return None


@dataclass
class Outcome:
    """One weighted alternative of a rule: its sequence is chosen with probability weight / total weight."""

    weight: float
    sequence: list[Step]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise FieldError("weight", "must be a number > 0")
        problem = _sequence_problem(self.sequence)
        if problem:
            raise FieldError("sequence", problem)


@dataclass
class Unreliability:
    """Receipt misbehaviour: probabilities drawn per message, plus an extra delay before the final receipt."""

    duplicate_receipt: float = 0.0  # the final receipt is sent twice
    intermediate_after_final: float = 0.0  # an ENROUTE receipt arrives after the final one
    receipt_delay: DelayDistribution | float | str | None = None  # e.g. 3h
    receipt_never_sent: float = 0.0
    impossible_but_delivered: float = 0.0  # the receipt says UNDELIVERABLE although the handset got it

    def __post_init__(self) -> None:
        for name in ("duplicate_receipt", "intermediate_after_final", "receipt_never_sent", "impossible_but_delivered"):
            probability = getattr(self, name)
            if not 0.0 <= probability <= 1.0:  # also refuses NaN
                raise FieldError(name, "must be a probability between 0 and 1")
        _check_delay("receipt_delay", self.receipt_delay)


_E164 = re.compile(r"\+[1-9]\d{1,14}")
_E164_PREFIX = re.compile(r"\+\d{1,15}")
_SHORT_CODE = re.compile(r"\d{3,8}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_QUOTE_HINT = "quote it in YAML: an unquoted +33... is read as a number and loses its '+'"


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    # Patterns come from configuration only, so compiling each once bounds the cache by the rule count.
    return re.compile(pattern)


_COMPARISON = re.compile(r"\s*(>=|<=|>|<|==|=)?\s*(\d+)\s*")
_RANGE = re.compile(r"\s*(\d+)\s*\.\.\s*(\d+)\s*")


@lru_cache(maxsize=1024)
def _segment_bounds(condition: int | str) -> tuple[int, float]:
    """The inclusive (low, high) segment counts a `segments` condition accepts; ValueError when malformed."""
    if isinstance(condition, int):
        return condition, condition
    ranged = _RANGE.fullmatch(condition)
    if ranged:
        low, high = int(ranged.group(1)), int(ranged.group(2))
        if low > high:
            raise ValueError(f"empty range {condition!r}: write low..high")
        return low, high
    compared = _COMPARISON.fullmatch(condition)
    if compared is None:
        raise ValueError(f"invalid segment condition {condition!r}: use a number, '>1', '>=2', '<3', '<=3' or '2..4'")
    operator, number = compared.group(1) or "=", int(compared.group(2))
    return {
        "=": (number, number),
        "==": (number, number),
        ">": (number + 1, math.inf),
        ">=": (number, math.inf),
        "<": (0, number - 1),
        "<=": (0, number),
    }[operator]


@dataclass(frozen=True)
class MessageFacts:
    """What the rules may look at in an accepted MT."""

    destination: str  # E.164 with '+'
    operator: str | None = None  # the destination's operator, as the profile names it
    country: str | None = None  # ISO 3166 alpha-2 of the destination
    number_type: str | None = None  # as simulator.network.numbering names it: mobile, fixed_line, ...
    handset_state: str = HandsetState.ON.value  # a HandsetState value
    account: str = ""  # system_id
    sender: str = ""  # source_addr as submitted
    short_code: str | None = None  # the service number the MT was sent from
    text: str | None = None  # decoded text; None when it could not be decoded
    segments: int = 1


@dataclass
class RuleMatch:
    """Which messages a rule applies to: every given key must match, omitted keys match anything.

    segments is a count or a comparison string ("1", ">1", ">=2", "<3", "<=3", "2..4"); quote the
    comparisons in YAML, where a leading '>' starts a folded block.
    """

    destination: str | None = None  # exact E.164
    destination_prefix: str | None = None
    destination_regex: str | None = None  # searched in the E.164 destination
    operator: str | None = None
    country: str | None = None
    number_type: str | None = None
    # bool because YAML 1.1 reads an unquoted on/off as true/false; turned back into "on"/"off".
    handset_state: str | bool | None = None
    account: str | None = None
    sender: str | None = None
    short_code: str | None = None
    text_regex: str | None = None  # searched in the decoded text
    segments: int | str | None = None

    def __post_init__(self) -> None:
        if self.destination is not None and not _E164.fullmatch(self.destination):
            raise FieldError("destination", f"must be an E.164 number with '+' ({_QUOTE_HINT})")
        if self.destination_prefix is not None and not _E164_PREFIX.fullmatch(self.destination_prefix):
            raise FieldError("destination_prefix", f"must be '+' and 1 to 15 digits ({_QUOTE_HINT})")
        for name in ("destination_regex", "text_regex"):
            pattern = getattr(self, name)
            if pattern is not None:
                try:
                    _regex(pattern)
                except re.error as exc:
                    raise FieldError(name, f"invalid regex {pattern!r}: {exc}") from None
        if self.country is not None:
            self.country = self.country.upper()
            if not _COUNTRY.fullmatch(self.country):
                raise FieldError("country", "must be an ISO 3166 alpha-2 code such as FR")
        if self.number_type is not None and self.number_type not in KNOWN_NUMBER_TYPES:
            raise FieldError("number_type", f"must be one of {', '.join(KNOWN_NUMBER_TYPES)}")
        if isinstance(self.handset_state, bool):
            self.handset_state = "on" if self.handset_state else "off"
        if self.handset_state is not None and self.handset_state not in HANDSET_STATES:
            raise FieldError("handset_state", f"must be one of {', '.join(HANDSET_STATES)}")
        if self.short_code is not None and not (
            _SHORT_CODE.fullmatch(self.short_code) or _E164.fullmatch(self.short_code)
        ):
            raise FieldError("short_code", f"must be 3 to 8 digits, or a long number in E.164 ({_QUOTE_HINT})")
        if self.segments is not None:
            try:
                _segment_bounds(self.segments)
            except ValueError as exc:
                raise FieldError("segments", str(exc)) from None

    def matches(self, facts: MessageFacts) -> bool:
        """True when every given condition holds for the message."""
        # Only the keys this rule sets are compared: rules are checked for every message.
        exact = self.__dict__.get("_exact")
        if exact is None:
            exact = self.__dict__["_exact"] = tuple(
                (name, getattr(self, name))
                for name in ("destination", "operator", "country", "number_type", "handset_state", "account", "sender", "short_code")
                if getattr(self, name) is not None
            )
        for name, wanted in exact:
            if getattr(facts, name) != wanted:
                return False
        if self.destination_prefix is not None and not facts.destination.startswith(self.destination_prefix):
            return False
        if self.destination_regex is not None and not _regex(self.destination_regex).search(facts.destination):
            return False
        if self.text_regex is not None and (facts.text is None or not _regex(self.text_regex).search(facts.text)):
            return False
        if self.segments is not None:
            low, high = _segment_bounds(self.segments)
            if not low <= facts.segments <= high:
                return False
        return True


@dataclass
class DeliveryRule:
    """A delivery rule: messages its match selects follow its sequence, or one of its weighted outcomes."""

    name: str | None = None  # for logs and timelines
    match: RuleMatch = field(default_factory=RuleMatch)
    sequence: list[Step] | None = None
    outcomes: list[Outcome] | None = None
    unreliability: Unreliability = field(default_factory=Unreliability)

    def __post_init__(self) -> None:
        if self.sequence is not None and self.outcomes is not None:
            raise FieldError("outcomes", "give either sequence or outcomes, not both")
        if self.sequence is None and self.outcomes is None:
            raise FieldError("sequence", "give a sequence or weighted outcomes")
        if self.sequence is not None:
            problem = _sequence_problem(self.sequence)
            if problem:
                raise FieldError("sequence", problem)
        if self.outcomes is not None and not self.outcomes:
            raise FieldError("outcomes", "must have at least one outcome")


# --- plans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedStep:
    """A step with its delay drawn: after `delay` seconds since the previous step, reach `state`.

    state is a MessageState, or the string WAIT: stay ENROUTE until the handset is back on (then
    DELIVERED) or the validity period ends (then EXPIRED). err is 0 when the rule gave none;
    network_error None means no network_error_code TLV.
    """

    delay: float
    state: MessageState | str
    err: int = 0
    network_error: int | None = None


@dataclass(frozen=True)
class DeliveryPlan:
    """Everything decided for one message at acceptance: its steps and its receipt misbehaviour.

    The flags are raw draws; the engine applies impossible_but_delivered only if the handset gets
    the message, and receipt_never_sent overrides duplicate_receipt. receipt_delay delays the final
    receipt, 0 when the rule has none.
    """

    rule_name: str
    steps: tuple[PlannedStep, ...]
    duplicate_receipt: bool = False
    intermediate_after_final: bool = False
    receipt_delay: float = 0.0
    receipt_never_sent: bool = False
    impossible_but_delivered: bool = False
    # Derived once per plan (a static rule's plan is shared by all its messages): whether a step waits
    # for the handset, and the sum of the step delays; the engine needs both for every message.
    waits: bool = field(init=False, repr=False, compare=False)
    total_delay: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "waits", any(step.state == WAIT for step in self.steps))
        object.__setattr__(self, "total_delay", sum(step.delay for step in self.steps))


def select_rule(rules: list[DeliveryRule], facts: MessageFacts) -> tuple[DeliveryRule, str]:
    """The first rule matching the message (else the first matching default), with its name for logs."""
    for index, rule in enumerate(rules):
        if rule.match.matches(facts):
            return rule, rule.name or f"delivery_rules[{index}]"
    return default_rule(facts.number_type, facts.handset_state)


def default_rule(number_type: str | None, handset_state: str | None) -> tuple[DeliveryRule, str]:
    """The built-in rule for a message: the defaults depend on number type and handset state only."""
    key = (number_type, handset_state)
    found = _DEFAULT_BY_KEY.get(key)
    if found is None:
        facts = MessageFacts(destination="", number_type=number_type, handset_state=handset_state)
        rule = next(rule for rule in DEFAULTS if rule.match.matches(facts))
        found = _DEFAULT_BY_KEY[key] = (rule, rule.name or "default")
    return found


_DEFAULT_BY_KEY: dict[tuple[str | None, str | None], tuple[DeliveryRule, str]] = {}


def plan_delivery(rules: list[DeliveryRule], facts: MessageFacts, rng: random.Random) -> DeliveryPlan:
    """The delivery plan of a message: the first matching rule (else the defaults), every draw made with rng."""
    rule, name = select_rule(rules, facts)
    return plan_for_rule(rule, name, rng)


def is_static(rule: DeliveryRule) -> bool:
    """True when a rule draws nothing: one sequence of fixed delays and no unreliability."""
    knobs = rule.unreliability
    return (
        rule.sequence is not None
        and not any(isinstance(step.after, DelayDistribution) for step in rule.sequence)
        and not isinstance(knobs.receipt_delay, DelayDistribution)
        and not (knobs.duplicate_receipt or knobs.intermediate_after_final)
        and not (knobs.receipt_never_sent or knobs.impossible_but_delivered)
    )


_STATIC_PLANS: dict[int, tuple[DeliveryRule, DeliveryPlan]] = {}


class _NoDraws:
    """What a static rule draws from: its flags have probability 0, so any value gives the same plan."""

    @staticmethod
    def random() -> float:
        """A draw that decides nothing (every flag of a static rule is `< 0`)."""
        return 0.0


def plan_for_rule(rule: DeliveryRule, name: str, rng: random.Random) -> DeliveryPlan:
    """The plan a rule gives one message. A rule that draws nothing gives the same plan every time,
    built once per process, and never takes from rng: the seed's sequence must not depend on which
    simulators of the same process used the rule first."""
    if not is_static(rule):
        return _draw_plan(rule, name, rng)
    cached = _STATIC_PLANS.get(id(rule))
    if cached is not None and cached[0] is rule and cached[1].rule_name == name:
        return cached[1]
    plan = _draw_plan(rule, name, _NoDraws())  # type: ignore[arg-type]
    _STATIC_PLANS[id(rule)] = (rule, plan)
    return plan


def _draw_plan(rule: DeliveryRule, name: str, rng: random.Random) -> DeliveryPlan:
    # Draws happen in one fixed order (outcome, step delays, the four flags, receipt delay) and every
    # flag is drawn even at probability 0, so a seed replays the same plans whatever the knobs say
    # (static rules excepted: they draw nothing at all, see plan_for_rule).
    sequence = rule.sequence if rule.sequence is not None else _choose(rule.outcomes or [], rng).sequence
    steps = tuple(
        PlannedStep(
            delay=_draw_delay(step.after, rng),
            state=WAIT if step.state == WAIT else MessageState[step.state],
            err=step.err if step.err is not None else 0,
            network_error=step.network_error,
        )
        for step in sequence
    )
    knobs = rule.unreliability
    # random() is in [0, 1): "< p" never fires at p = 0 and always fires at p = 1.
    duplicate_receipt = rng.random() < knobs.duplicate_receipt
    intermediate_after_final = rng.random() < knobs.intermediate_after_final
    receipt_never_sent = rng.random() < knobs.receipt_never_sent
    impossible_but_delivered = rng.random() < knobs.impossible_but_delivered
    return DeliveryPlan(
        rule_name=name,
        steps=steps,
        duplicate_receipt=duplicate_receipt,
        intermediate_after_final=intermediate_after_final,
        receipt_delay=_draw_delay(knobs.receipt_delay, rng),
        receipt_never_sent=receipt_never_sent,
        impossible_but_delivered=impossible_but_delivered,
    )


def _choose(outcomes: list[Outcome], rng: random.Random) -> Outcome:
    point = rng.random() * sum(outcome.weight for outcome in outcomes)
    for outcome in outcomes:
        point -= outcome.weight
        if point < 0:
            return outcome
    return outcomes[-1]  # float rounding can leave a hair of weight past the last outcome


# --- defaults ---------------------------------------------------------------------------------


def _undeliverable(name: str, match: RuleMatch, gsm_error: int) -> DeliveryRule:
    return DeliveryRule(
        name=name, match=match, sequence=[Step("UNDELIVERABLE", after="1s", err=gsm_error, network_error=gsm_error)]
    )


# Number type first: a fixed line fails whatever the handset table says about it. The last rule
# matches everything, so every message gets a plan.
DEFAULTS: list[DeliveryRule] = [
    *(_undeliverable(f"default-{kind}", RuleMatch(number_type=kind), 1) for kind in NON_SMS_NUMBER_TYPES),
    _undeliverable("default-unknown_subscriber", RuleMatch(handset_state="unknown_subscriber"), 1),
    _undeliverable("default-barred", RuleMatch(handset_state="barred"), 13),
    DeliveryRule(name="default-off", match=RuleMatch(handset_state="off"), sequence=[Step(WAIT)]),
    DeliveryRule(name="default-absent", match=RuleMatch(handset_state="absent"), sequence=[Step(WAIT)]),
    # A full memory is an absent subscriber with a first failed attempt: the SMSC keeps the message
    # and retries when the handset signals memory available (the engine's "handset back on").
    DeliveryRule(
        name="default-memory_full",
        match=RuleMatch(handset_state="memory_full"),
        sequence=[Step("ENROUTE", after="1s", err=32, network_error=32), Step(WAIT)],
    ),
    # No ENROUTE first: real SMSCs deliver to a reachable handset within seconds and send one final receipt.
    DeliveryRule(name="default-on", sequence=[Step("DELIVERED", after="2s")]),
]

DEFAULT_RULES_YAML = """\
# Built-in delivery rules, applied after the profile's own. Errors are GSM MAP error codes.
- {name: default-fixed_line, match: {number_type: fixed_line},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- {name: default-toll_free, match: {number_type: toll_free},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- {name: default-premium_rate, match: {number_type: premium_rate},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- {name: default-shared_cost, match: {number_type: shared_cost},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- {name: default-uan, match: {number_type: uan},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- {name: default-voicemail, match: {number_type: voicemail},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- {name: default-pager, match: {number_type: pager},
   sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]}
- name: default-unknown_subscriber
  match: {handset_state: unknown_subscriber}
  sequence: [{after: 1s, state: UNDELIVERABLE, err: 1, network_error: 0x0001}]     # unknown subscriber
- name: default-barred
  match: {handset_state: barred}
  sequence: [{after: 1s, state: UNDELIVERABLE, err: 13, network_error: 0x000D}]    # call barred
- name: default-off
  match: {handset_state: "off"}
  sequence: [{state: WAIT}]          # ENROUTE until the handset is back on, EXPIRED at validity end
- name: default-absent
  match: {handset_state: absent}
  sequence: [{state: WAIT}]
- name: default-memory_full
  match: {handset_state: memory_full}
  sequence:
    - {after: 1s, state: ENROUTE, err: 32, network_error: 0x0020}  # SM delivery failure: memory capacity exceeded
    - {state: WAIT}                                                 # retried when memory is available again
- name: default-on
  sequence: [{after: 2s, state: DELIVERED}]
"""


# --- loading ----------------------------------------------------------------------------------


@dataclass
class RuleList:
    """A file of delivery rules: the delivery_rules key of a network profile on its own."""

    delivery_rules: list[DeliveryRule] = field(default_factory=list)


def load_rules(text: str, source: str = "<delivery rules>") -> list[DeliveryRule]:
    """Delivery rules from YAML (a list of rules, or a mapping with a delivery_rules key); errors name file:line:key."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        node = None  # load_typed reports the syntax error with its line
    if not isinstance(node, yaml.SequenceNode):
        return load_typed(text, RuleList, source).delivery_rules
    # load_typed wants a mapping at the top: hang the list under delivery_rules, then point errors
    # back at the caller's own lines and keys. The one-space indent keeps flow lists at column 0 legal.
    wrapped = "delivery_rules:\n" + textwrap.indent(text, " ")
    try:
        return load_typed(wrapped, RuleList, source).delivery_rules
    except ConfigError as exc:
        line = exc.line - 1 if exc.line else None
        raise ConfigError(source, line, exc.key.removeprefix("delivery_rules"), exc.message) from None


__all__ = [
    "DEFAULTS",
    "DEFAULT_RULES_YAML",
    "DISTRIBUTIONS",
    "FINAL_STEP_STATES",
    "INTERMEDIATE_STEP_STATES",
    "NON_SMS_NUMBER_TYPES",
    "WAIT",
    "DelayDistribution",
    "DeliveryPlan",
    "DeliveryRule",
    "MessageFacts",
    "Outcome",
    "PlannedStep",
    "RuleList",
    "RuleMatch",
    "Step",
    "Unreliability",
    "load_rules",
    "parse_duration",
    "plan_delivery",
    "select_rule",
]
