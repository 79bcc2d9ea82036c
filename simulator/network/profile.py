"""Network profiles: operators, coverage, short codes and premium numbers, prices, bundles and rules.

A profile is one YAML file; the built-in ones live in simulator/profiles/ and are selected by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from importlib import resources
from pathlib import Path

from ..config import ConfigError, FieldError, Throttle, check_status, faults_schema, load_typed, parse_fault_specs
from .rules import DeliveryRule, parse_duration

NUMBER_KINDS = ("short_code", "long_number", "premium")
SENDER_POLICIES = ("reject", "replace")
ALPHABETS = ("gsm", "latin-1", "iso-8859-15")
VALIDITY_POLICIES = ("clamp", "reject")


@dataclass
class Operator:
    """A mobile operator of a covered country, as `phonenumbers` names it after the profile's aliases."""

    name: str
    country: str


@dataclass
class ServiceNumber:
    """A short code, premium number or long number applications send from and receive on.

    operators/countries restrict reach: an MT from this number only reaches handsets of these
    operators (or countries), and only they can send MO to it; empty means the whole country for a
    short code and the whole coverage for a long number.
    """

    number: str
    kind: str = "short_code"
    country: str | None = None
    sends: bool = True
    receives: bool = True
    operators: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    mt_price: int | None = None
    mo_price: int | None = None
    surcharge: float = 0.0
    reward: int = 0

    def __post_init__(self) -> None:
        if self.kind not in NUMBER_KINDS:
            raise FieldError("kind", f"must be one of {', '.join(NUMBER_KINDS)}")
        if self.kind == "long_number":
            if not (self.number.startswith("+") and self.number[1:].isdigit() and len(self.number) <= 16):
                raise FieldError("number", "a long number is written in E.164 with '+' (at most 15 digits)")
        elif not (self.number.isdigit() and 3 <= len(self.number) <= 8):
            raise FieldError("number", "a short code or premium number is 3 to 8 digits")
        if self.kind != "long_number" and not self.country:
            raise FieldError("country", f"a {self.kind} needs its country (ISO 3166 alpha-2)")
        if self.reward and self.kind != "premium":
            raise FieldError("reward", "only premium numbers earn a reward per MO")
        if self.reward < 0 or self.surcharge < 0:
            raise FieldError("reward" if self.reward < 0 else "surcharge", "cannot be negative")


@dataclass
class Bundle:
    """A top-up: price paid (in the profile's currency) for a number of credits."""

    price: float
    credits: int


@dataclass
class NetworkStatuses:
    """command_status answered for each network-level refusal (names or numbers)."""

    out_of_coverage: str = "ESME_RINVDSTADR"
    operator_not_reachable: str = "ESME_RINVDSTADR"
    number_cannot_send: str = "ESME_RINVSRCADR"
    sender_not_approved: str = "ESME_RINVSRCADR"
    insufficient_credit: str = "ESME_RSUBMITFAIL"
    throttled: str = "ESME_RTHROTTLED"
    opted_out: str = "ESME_RSUBMITFAIL"
    multipart_refused: str = "ESME_RINVMSGLEN"
    too_many_parts: str = "ESME_RINVMSGLEN"

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            check_status(name, value)


@dataclass
class NetworkProfile:
    """Everything that makes the simulator a given carrier network."""

    name: str
    coverage: list[str]
    description: str = ""
    currency: str = "EUR"
    require_plus: bool = False
    default_alphabet: str = "gsm"
    sender_policy: str = "reject"
    default_mt_price: int = 10
    default_mo_price: int = 5
    max_parts: int = 10
    opt_out_words: list[str] = field(default_factory=lambda: ["STOP"])
    operators: list[Operator] = field(default_factory=list)
    numbers: list[ServiceNumber] = field(default_factory=list)
    bundles: list[Bundle] = field(default_factory=list)
    throttle: Throttle | None = None  # the single form: an account-scope token bucket for each account
    throttles: list[Throttle] = field(default_factory=list)  # layered throttles each account gets (own keys)
    ported: dict[str, str] = field(default_factory=dict)
    loopback_numbers: list[str] = field(default_factory=list)
    statuses: NetworkStatuses = field(default_factory=NetworkStatuses)
    open_routing: bool = False
    # phonenumbers carrier names ("FR:Orange France") -> this profile's operator names
    operator_aliases: dict[str, str] = field(default_factory=dict)
    # Validity: the longest a message may wait (longer asks are clamped or rejected), and the
    # validity given to messages that ask for none (None: the maximum).
    max_validity: str = "48h"
    default_validity: str | None = None
    validity_policy: str = "clamp"
    delivery_rules: list[DeliveryRule] = field(default_factory=list)
    # Fault rules every simulator on this network starts with (before the server config's own).
    faults: list[dict[str, Any]] = field(default_factory=list, metadata={"schema": lambda: faults_schema()})

    def __post_init__(self) -> None:
        self.fault_specs = parse_fault_specs(self.faults)
        if self.default_alphabet not in ALPHABETS:
            raise FieldError("default_alphabet", f"must be one of {', '.join(ALPHABETS)}")
        if self.sender_policy not in SENDER_POLICIES:
            raise FieldError("sender_policy", f"must be one of {', '.join(SENDER_POLICIES)}")
        if self.validity_policy not in VALIDITY_POLICIES:
            raise FieldError("validity_policy", f"must be one of {', '.join(VALIDITY_POLICIES)}")
        for name in ("max_validity", "default_validity"):
            value = getattr(self, name)
            if value is not None:
                try:
                    parse_duration(value)
                except ValueError as exc:
                    raise FieldError(name, str(exc)) from None
        if not 1 <= self.max_parts <= 255:
            raise FieldError("max_parts", "must be 1..255")
        names = {op.name for op in self.operators}
        for number in self.numbers:
            unknown = [op for op in number.operators if op not in names]
            if unknown:
                raise FieldError("numbers", f"{number.number} names unknown operator(s) {unknown}")
        seen: set[str] = set()
        for number in self.numbers:
            if number.number in seen:
                raise FieldError("numbers", f"{number.number} is declared twice")
            seen.add(number.number)
        for carrier, operator in self.operator_aliases.items():
            if operator not in names:
                raise FieldError("operator_aliases", f"{carrier} maps to unknown operator {operator!r}")
        for e164, operator in self.ported.items():
            if operator not in names:
                raise FieldError("ported", f"{e164} is ported to unknown operator {operator!r}")

    def number(self, value: str) -> ServiceNumber | None:
        """The service number declared as value (short code digits or E.164), or None."""
        for number in self.numbers:
            if number.number == value:
                return number
        return None

    def mt_price(self, number: ServiceNumber | None) -> int:
        """Credits per MT segment sent from this number (or from an alphanumeric sender)."""
        if number is not None and number.mt_price is not None:
            return number.mt_price
        return self.default_mt_price


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    folder = resources.files("simulator") / "profiles"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str) -> NetworkProfile:
    """A built-in profile by name, or a profile YAML file by path."""
    if name_or_path in builtin_profiles():
        resource = resources.files("simulator") / "profiles" / f"{name_or_path}.yaml"
        return load_typed(resource.read_text(encoding="utf-8"), NetworkProfile, f"<profile {name_or_path}>")
    path = Path(name_or_path)
    if not path.exists():
        raise ConfigError(
            name_or_path, None, "", f"no such profile file, and not a built-in profile ({', '.join(builtin_profiles())})"
        )
    return load_typed(path.read_text(encoding="utf-8"), NetworkProfile, str(path))
