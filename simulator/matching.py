"""Matching observed values against expectations: PDU fields, HTTP callbacks, message records.

One mechanism serves the pytest fixture (`smsc.wait_for(submit_sm, destination_addr=re.compile(...))`),
fault rules, and scenario YAML (`{regex: ...}`, `{type: int}`, `{approx: 1.0, tolerance: 0.1}`, ...).
An expected value may be a literal (compared with ==, after a light coercion of numeric strings and
status names), a compiled regex (searched in str(value)), a callable (truthy when it matches) or a
Matcher.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from .network.encoding import EncodingError, decode_text, parse_udh
from .smpp.constants import MessageState, parse_status, status_name
from .smpp.pdu import ALL_PDU_CLASSES, Pdu
from .smpp.tlv import TLV_BY_NAME


class Matcher:
    """Base of the structured matchers: subclasses say whether a value matches and describe themselves."""

    def matches(self, value: Any) -> bool:
        """True when value satisfies this matcher."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """A short human-readable form for reports."""
        raise NotImplementedError


@dataclass(frozen=True, repr=False)
class Anything(Matcher):
    """Matches any value, present or not."""

    def matches(self, value: Any) -> bool:
        """Always true."""
        return True

    def describe(self) -> str:
        """'anything'."""
        return "anything"


@dataclass(frozen=True, repr=False)
class Present(Matcher):
    """Matches any value except None and the empty string/bytes."""

    def matches(self, value: Any) -> bool:
        """True for a non-empty value."""
        return value is not None and value != "" and value != b""

    def describe(self) -> str:
        """'present'."""
        return "present"


TYPE_NAMES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "number": (float, int),
    "str": (str,),
    "string": (str,),
    "bytes": (bytes,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True, repr=False)
class OfType(Matcher):
    """Matches values of a type named as in YAML: int, float, number, str, bytes, bool, list, dict, null."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in TYPE_NAMES:
            raise ValueError(f"unknown type {self.name!r}; use one of {', '.join(TYPE_NAMES)}")

    def matches(self, value: Any) -> bool:
        """True when value is of the named type (bools are not ints here)."""
        if isinstance(value, bool) and self.name not in ("bool",):
            return False
        return isinstance(value, TYPE_NAMES[self.name])

    def describe(self) -> str:
        """'type int'."""
        return f"type {self.name}"


@dataclass(frozen=True, repr=False)
class Regex(Matcher):
    """Matches when the pattern is found in str(value) (use ^...$ to anchor)."""

    pattern: str

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"bad regex {self.pattern!r}: {exc}") from exc

    def matches(self, value: Any) -> bool:
        """True when the pattern is found."""
        if value is None:
            return False
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        return re.search(self.pattern, text) is not None

    def describe(self) -> str:
        """'regex ...'."""
        return f"regex {self.pattern!r}"


@dataclass(frozen=True, repr=False)
class Approx(Matcher):
    """Matches a number within an absolute tolerance of the expected one."""

    expected: float
    tolerance: float = 1e-6

    def matches(self, value: Any) -> bool:
        """True when |value - expected| <= tolerance."""
        number = _as_number(value)
        return number is not None and math.isclose(number, self.expected, rel_tol=0.0, abs_tol=self.tolerance)

    def describe(self) -> str:
        """'approx X ± T'."""
        return f"approx {self.expected} ± {self.tolerance}"


@dataclass(frozen=True, repr=False)
class InRange(Matcher):
    """Matches a number within bounds; any bound may be None (open)."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def matches(self, value: Any) -> bool:
        """True when every given bound holds."""
        number = _as_number(value)
        if number is None:
            return False
        return (
            (self.gt is None or number > self.gt)
            and (self.gte is None or number >= self.gte)
            and (self.lt is None or number < self.lt)
            and (self.lte is None or number <= self.lte)
        )

    def describe(self) -> str:
        """'>= a, < b'."""
        parts = [f"{op} {bound}" for op, bound in ((">", self.gt), (">=", self.gte), ("<", self.lt), ("<=", self.lte)) if bound is not None]
        return ", ".join(parts) or "any number"


@dataclass(frozen=True, repr=False)
class OneOf(Matcher):
    """Matches when any of the alternatives matches."""

    options: tuple[Any, ...]

    def matches(self, value: Any) -> bool:
        """True when one alternative matches."""
        return any(value_matches(value, option) for option in self.options)

    def describe(self) -> str:
        """'one of [...]'."""
        return f"one of {[describe(o) for o in self.options]}"


@dataclass(frozen=True, repr=False)
class Contains(Matcher):
    """Matches a string, bytes or collection containing the expected item."""

    item: Any

    def matches(self, value: Any) -> bool:
        """True when item in value."""
        try:
            return self.item in value
        except TypeError:
            return False

    def describe(self) -> str:
        """'contains X'."""
        return f"contains {self.item!r}"


@dataclass(frozen=True, repr=False)
class Not(Matcher):
    """Matches when the inner expectation does not."""

    inner: Any

    def matches(self, value: Any) -> bool:
        """Negation of the inner match."""
        return not value_matches(value, self.inner)

    def describe(self) -> str:
        """'not X'."""
        return f"not {describe(self.inner)}"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def describe(expected: Any) -> str:
    """How an expectation reads in a report."""
    if isinstance(expected, Matcher):
        return expected.describe()
    if isinstance(expected, re.Pattern):
        return f"regex {expected.pattern!r}"
    if callable(expected):
        return getattr(expected, "__name__", "predicate")
    return repr(expected)


def value_matches(value: Any, expected: Any) -> bool:
    """Whether an observed value satisfies one expectation (literal, regex, callable or Matcher)."""
    if isinstance(expected, Matcher):
        return expected.matches(value)
    if isinstance(expected, re.Pattern):
        if value is None:
            return False
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        return expected.search(text) is not None
    if callable(expected) and not isinstance(expected, type):
        return bool(expected(value))
    if isinstance(expected, Mapping) and isinstance(value, Mapping):
        return not mismatches(value, expected)
    if isinstance(expected, Mapping) and hasattr(value, "_asdict"):  # a NamedTuple: SmeAddress, UnsuccessfulSme
        return not mismatches(value._asdict(), expected)
    if isinstance(expected, (list, tuple)) and isinstance(value, (list, tuple)):
        return len(expected) == len(value) and all(value_matches(v, e) for v, e in zip(value, expected))
    if value == expected:
        return True
    # Light coercions: "5" matches 5, b"hi" matches "hi", a state name matches its enum.
    if isinstance(expected, str) and isinstance(value, bytes):
        return value == expected.encode("latin-1", "replace")
    if isinstance(expected, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
        if expected.startswith("ESME_") and isinstance(value, int):  # a status name, e.g. an unsuccess_sme's error_status_code
            try:
                return int(parse_status(expected)) == value
            except ValueError:
                return False
        number = _as_number(expected)
        return number is not None and number == value
    if isinstance(expected, (int, float)) and isinstance(value, str) and not isinstance(expected, bool):
        return _as_number(value) == expected
    return False


def mismatches(observed: Mapping[str, Any] | Callable[[str], Any], expected: Mapping[str, Any]) -> list[str]:
    """The expectations an observation fails, one 'key: expected X, got Y' line each (empty when it matches).

    observed is a mapping or a function from key to value (raising KeyError for unknown keys).
    """
    lookup = observed.__getitem__ if isinstance(observed, Mapping) else observed
    problems = []
    for key, want in expected.items():
        try:
            got = lookup(key)
        except KeyError:
            if isinstance(want, Anything):
                continue
            problems.append(f"{key}: expected {describe(want)}, field absent")
            continue
        if not value_matches(got, want):
            problems.append(f"{key}: expected {describe(want)}, got {got!r}")
    return problems


# --- PDU fields ---------------------------------------------------------------------------------

STATUS_KEYS = ("command_status", "status")


def pdu_text(pdu: Pdu) -> str | None:
    """The decoded text of a PDU that carries a message (UDH stripped), or None."""
    try:
        payload = pdu.payload  # type: ignore[attr-defined]
    except AttributeError:
        return None
    data_coding = getattr(pdu, "data_coding", 0)
    try:
        if getattr(pdu, "esm_class", 0) & 0x40:
            payload = parse_udh(payload)[1]
        text = decode_text(payload, data_coding)
    except EncodingError:
        return None
    return text if isinstance(text, str) else None


def pdu_field(pdu: Pdu, key: str) -> Any:
    """A PDU's value for a match key: a field, a TLV by name, 'command', 'status' (name) or 'text' (decoded).

    Raises KeyError for keys the PDU does not have.
    """
    if key == "command":
        return pdu.command_name
    if key in STATUS_KEYS:
        return pdu.command_status
    if key == "text":
        text = pdu_text(pdu)
        if text is None:
            raise KeyError(key)
        return text
    if key in ("message_state", "receipted_message_id", "network_error_code") and not hasattr(pdu, key):
        value = pdu.tlv(key)
        if value is None:
            raise KeyError(key)
        return value
    if hasattr(pdu, key):
        return getattr(pdu, key)
    try:
        value = pdu.tlv(key)
    except (KeyError, ValueError):
        raise KeyError(key) from None
    if value is None:
        raise KeyError(key)
    return value


# Keys a PDU expectation may use besides the PDU's own fields and TLV names.
DERIVED_PDU_KEYS = frozenset({"text", "status", "command_status", "command"})
PDU_CLASSES: dict[str, type[Pdu]] = {cls().command_name: cls for cls in ALL_PDU_CLASSES}


def unknown_pdu_key(keys: Iterable[str], commands: Iterable[str] | None) -> str | None:
    """The first key that is no field of the commands' PDUs (any PDU when none is named), TLV name or derived key."""
    classes = [PDU_CLASSES[c] for c in commands or () if c in PDU_CLASSES] or list(PDU_CLASSES.values())
    known = {f.name for cls in classes for f in dataclasses.fields(cls)} | set(TLV_BY_NAME) | DERIVED_PDU_KEYS
    return next((key for key in keys if key not in known), None)


def normalise_pdu_expectations(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Turn status names ('ESME_RTHROTTLED') and message-state names ('DELIVERED') into their numbers."""
    result = dict(fields)
    for key in STATUS_KEYS:
        if key in result and isinstance(result[key], str):
            result[key] = int(parse_status(result[key]))
    if isinstance(result.get("message_state"), str):
        result["message_state"] = int(MessageState[result["message_state"].upper()])
    return result


def pdu_mismatches(pdu: Pdu, expected: Mapping[str, Any]) -> list[str]:
    """The expectations a PDU fails (empty when it matches)."""
    return mismatches(lambda key: pdu_field(pdu, key), normalise_pdu_expectations(expected))


def pdu_matches(pdu: Pdu, command: str | Iterable[str] | None, expected: Mapping[str, Any]) -> bool:
    """True when the PDU is of the command (name or names; None for any) and every field matches."""
    if command is not None:
        names = (command,) if isinstance(command, str) else tuple(command)
        if pdu.command_name not in names and "any" not in names:
            return False
    return not pdu_mismatches(pdu, expected)


def status_label(status: int) -> str:
    """'ESME_RTHROTTLED (0x00000058)'."""
    return f"{status_name(status)} (0x{status:08X})"


# --- YAML forms ----------------------------------------------------------------------------------

_BOUNDS = ("gt", "gte", "lt", "lte")


# The keys of the matcher mappings to_matcher() knows: a mapping that mixes them with other keys is a
# mistake to point out ({regex: ..., flags: i}), not a literal mapping that would never match. A
# misspelt key alone ({regx: ...}) cannot be told from a field name ({note: ...} is one, near 'not').
MATCHER_KEYS = frozenset({"any", "anything", "present", "type", "regex", "approx", "tolerance", "range", "one_of", "contains", "not", "equals", *_BOUNDS})


def _check_not_a_matcher(keys: set[Any]) -> None:
    """ValueError for a mapping that looks like a matcher but is none ({equals: ...} writes a literal mapping)."""
    used = sorted(k for k in keys if k in MATCHER_KEYS)
    if used:
        others = sorted(str(k) for k in keys if k not in MATCHER_KEYS)
        raise ValueError(f"matcher keys {', '.join(used)} cannot be combined with {', '.join(others) or 'each other'} (a literal mapping: {{equals: ...}})")


def to_matcher(value: Any) -> Any:
    """A YAML expectation as simulator.matching understands it: mappings naming a matcher become Matchers.

    {any: true} / {anything: true}, {present: true}, {type: int}, {regex: ...}, {approx: x, tolerance: t},
    {range: [lo, hi]} (inclusive), {gt|gte|lt|lte: n} (combinable), {one_of: [...]}, {contains: x},
    {not: ...}, {equals: literal}. Other mappings and lists match item by item; scalars literally.
    """
    if isinstance(value, Mapping):
        keys = set(value)
        if keys in ({"any"}, {"anything"}):
            return Anything()
        if keys == {"present"}:
            return Present() if value["present"] else Not(Present())
        if keys == {"type"}:
            return OfType(str(value["type"]))
        if keys == {"regex"}:
            return Regex(str(value["regex"]))
        if keys in ({"approx"}, {"approx", "tolerance"}):
            return Approx(float(value["approx"]), float(value.get("tolerance", 1e-6)))
        if keys == {"range"}:
            bounds = value["range"]
            if not (isinstance(bounds, list) and len(bounds) == 2):
                raise ValueError("range takes [low, high] (both inclusive)")
            return InRange(gte=bounds[0], lte=bounds[1])
        if keys and keys <= set(_BOUNDS):
            return InRange(**{k: float(v) for k, v in value.items()})
        if keys == {"one_of"}:
            if not isinstance(value["one_of"], list):
                raise ValueError("one_of takes a list")
            return OneOf(tuple(to_matcher(v) for v in value["one_of"]))
        if keys == {"contains"}:
            return Contains(value["contains"])
        if keys == {"not"}:
            return Not(to_matcher(value["not"]))
        if keys == {"equals"}:
            return value["equals"]
        _check_not_a_matcher(keys)
        return {k: to_matcher(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_matcher(v) for v in value]
    return value


def status_matcher(value: Any) -> Any:
    """An expected command_status: a name ('ESME_RTHROTTLED'), a number, or a matcher of either."""
    matcher = to_matcher(value)
    if isinstance(matcher, str):
        return normalise_pdu_expectations({"status": matcher})["status"]
    return matcher
