"""The YAML scenario language: the model, its loader (every error names file:line and the key), variables,
matchers and the JSON Schema.

One scenario per YAML document (`---` separates them; a file may hold several). A scenario names a
network, configures the simulator, declares actors (our ESMEs, the gateway under test with its HTTP
requests and webhook receiver) and runs `stages` of steps, then `finally` steps. Each step is a mapping
with exactly one action or expectation keyword plus the common keys `save`, `timeout` and `name`.
See the README section "YAML scenarios" for the reference; scenario_runner.py executes them.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from .. import matching as M
from ..config import Account, ConfigError, FieldError, SmscSettings, check_status
from ..faults import FaultSpec, fault_schema
from ..config import _construct_scalar as _construct  # builds any node (scalar or not) the safe way
from ..network.profile import NetworkProfile, builtin_profiles
from ..network.rules import parse_duration
from ..smpp import pdu as P
from ..traffic import IN, OUT

CLOCKS = ("virtual", "real")
BIND_MODES = ("transmitter", "receiver", "transceiver")
HANDSET_STATES = ("on", "off", "absent", "memory_full", "barred", "unknown_subscriber")
SPLITS = ("auto", "none", "udh", "sar", "payload")
DERIVED_PDU_KEYS = M.DERIVED_PDU_KEYS
RECEIPT_KEYS = frozenset(
    {"id", "message_id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err", "text", "intermediate", "state"}
)
MAX_WAIT = 60.0  # seconds a `wait` step may sleep: real-clock scenarios only, bounded so CI cannot hang
PDU_CLASSES = M.PDU_CLASSES


class ScenarioError(ConfigError):
    """A scenario file problem at file:line under a key path (YAML, unknown key, wrong type, missing field)."""


# --- matchers ------------------------------------------------------------------------------------

# to_matcher and status_matcher live in simulator.matching: fault rules read the same YAML forms.
to_matcher = M.to_matcher
status_matcher = M.status_matcher


def _check_matcher(key: str, value: Any) -> None:
    try:
        to_matcher(value)
    except (ValueError, TypeError) as exc:
        raise FieldError(key, f"bad matcher: {exc}") from None


# --- variables ---------------------------------------------------------------------------------

# {name}, {a.b.c} and {fake.msisdn(country="GB")}; {{ and }} are literal braces. A regex quantifier
# such as {2,3} does not start with a letter, so it is left alone.
_REFERENCE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*|\.\d+)*(?:\((?:[^()]*)\))?)\}")


class VariableError(KeyError):
    """A `{name}` that names no variable (the message lists the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(root: Any, path: str) -> Any:
    """A dotted path ('resp.message_id', 'json.items.0') into mappings, sequences, PDUs and objects."""
    value = root
    for part in path.split("."):
        value = _child(value, part, path)
    return value


def _child(value: Any, part: str, path: str) -> Any:
    if isinstance(value, Mapping):
        if part in value:
            return value[part]
        raise VariableError(f"{path!r}: no {part!r} (has {', '.join(map(str, value)) or 'nothing'})")
    if isinstance(value, (list, tuple)) and part.isdigit():
        index = int(part)
        if index < len(value):
            return value[index]
        raise VariableError(f"{path!r}: index {index} out of range ({len(value)} items)")
    getter = getattr(value, "__getitem__", None)
    if getter is not None and not isinstance(value, (str, bytes, list, tuple)):
        try:
            return getter(part)
        except KeyError:
            pass
    if not part.startswith("_") and hasattr(value, part):
        return getattr(value, part)
    raise VariableError(f"{path!r}: {type(value).__name__} has no {part!r}")


class Variables:
    """The values `{name}` refers to: scenario vars, saved values, actors, `smsc`, and `fake.*` (seeded Faker)."""

    def __init__(self, values: Mapping[str, Any] | None = None, faker: Any = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.faker = faker

    def __setitem__(self, name: str, value: Any) -> None:
        self.values[name] = value

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, reference: str) -> Any:
        """The value of one reference (without braces)."""
        if reference.startswith("fake."):
            return self._fake(reference[len("fake.") :])
        head = reference.split(".", 1)[0]
        if head not in self.values:
            known = ", ".join(sorted(self.values)) or "none"
            raise VariableError(f"unknown variable {{{reference}}} (known: {known})")
        return lookup(self.values, reference)

    def _fake(self, call: str) -> Any:
        if self.faker is None:
            raise VariableError("fake values need a seeded Faker (the runner provides one)")
        name, _, rest = call.partition("(")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if rest:
            try:
                parsed = ast.parse(f"f({rest}", mode="eval").body
                assert isinstance(parsed, ast.Call)
                args = [ast.literal_eval(a) for a in parsed.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in parsed.keywords if k.arg}
            except (SyntaxError, ValueError, AssertionError):
                raise VariableError(f"{{fake.{call}}}: arguments must be literals, e.g. msisdn(country='GB')") from None
        provider = getattr(self.faker, name, None)
        if provider is None or not callable(provider):
            raise VariableError(f"{{fake.{call}}}: Faker has no {name!r}")
        return provider(*args, **kwargs)

    def expand(self, value: Any) -> Any:
        """value with every `{reference}` replaced: a whole-string reference keeps its type, others are formatted."""
        if isinstance(value, str):
            whole = _REFERENCE.fullmatch(value)
            if whole is not None and whole.group(1):
                return self.get(whole.group(1))
            return _REFERENCE.sub(self._format, value)
        if isinstance(value, Mapping):
            return {k: self.expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand(v) for v in value]
        return value

    def _format(self, match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        value = self.get(match.group(1))
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)


# --- the model -------------------------------------------------------------------------------
# metadata: key= the YAML key when it differs from the field name; extra=True on a dict field that
# takes every key the class does not declare (PDU fields written inline); internal=True for fields
# the loader fills (line numbers), never read from YAML.


def _internal() -> Any:
    return field(default=0, metadata={"internal": True})


def _extra() -> Any:
    return field(default_factory=dict, metadata={"extra": True})


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if isinstance(value, str) and _has_reference(value):
        return  # a {variable}: checked when the step runs
    if value not in choices:
        raise FieldError(name, f"must be one of {', '.join(choices)}, not {value!r}")


def _check_pdu_keys(keys: Any, commands: list[str] | None, what: str) -> None:
    """Each key must be a field of one of the commands' PDUs, a TLV name or a derived key (text, status)."""
    key = M.unknown_pdu_key(keys, commands)
    if key is not None:
        raise FieldError(key, f"unknown key: not a field or TLV of {what}")


def _check_commands(on: Any, name: str, allow_any: bool = True) -> list[str]:
    commands = [on] if isinstance(on, str) else list(on or [])
    for command in commands:
        if command not in PDU_CLASSES and not (allow_any and command == "any"):
            raise FieldError(name, f"unknown command {command!r}")
    return commands


@dataclass
class Variant:
    """One parametrized variant: its id, and variables (written inline) that override `vars`."""

    id: str
    vars: dict[str, Any] = _extra()
    line: int = _internal()


@dataclass
class NetworkFile:
    """A network profile file, relative to the scenario file."""

    file: str


@dataclass
class ConfigOverrides:
    """Simulator settings for this scenario: SMSC settings and accounts (default: smppclient1/password)."""

    smsc: SmscSettings | None = None
    accounts: list[Account] | None = None


@dataclass
class HttpRequest:
    """A named request template of the gateway's HTTP API; every string may hold `{variables}`."""

    url: str
    method: str = "GET"
    query: dict[str, Any] = field(default_factory=dict)
    form: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    expect_status: Any = None
    timeout: float = 10.0


@dataclass
class WebhookSpec:
    """The receiver the gateway calls back (receipts, MOs): what it answers."""

    status: int = 200
    body: str = ""


@dataclass
class Actor:
    """An ESME the harness binds (kind esme) or the gateway under test (kind gateway)."""

    kind: str = "esme"
    # esme
    system_id: str | None = None
    password: str | None = None
    bind: str = "transceiver"  # or 'manual': bound by a `bind` step
    interface_version: int = 0x34
    system_type: str = ""
    deliver_status: str = "ESME_ROK"  # what it answers deliver_sm with
    # gateway
    start: str | None = None  # 'kannel': start a Kannel bound to the simulator
    options: dict[str, Any] = field(default_factory=dict)
    http: dict[str, HttpRequest] = field(default_factory=dict)
    webhook: WebhookSpec | None = None
    vars: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, ("esme", "gateway"))
        if self.kind == "esme":
            _check_choice("bind", self.bind, (*BIND_MODES, "manual"))
            check_status("deliver_status", self.deliver_status)
            for name in ("start", "webhook"):
                if getattr(self, name) is not None:
                    raise FieldError(name, "only a gateway actor has it")
            for name in ("options", "http", "vars"):
                if getattr(self, name):
                    raise FieldError(name, "only a gateway actor has it")
        else:
            if self.start is not None:
                _check_choice("start", self.start, ("kannel",))
            elif self.options:
                raise FieldError("options", "options go with `start: kannel`")


@dataclass
class Bind:
    """Bind an esme actor declared `bind: manual` (or bind it again after unbind)."""

    actor: str
    mode: str = "transceiver"
    system_id: str | None = None
    password: str | None = None
    interface_version: int | None = None
    expect_status: Any = "ESME_ROK"

    def __post_init__(self) -> None:
        _check_choice("mode", self.mode, BIND_MODES)


@dataclass
class Submit:
    """Send a request PDU from an esme actor; PDU fields and TLVs are written inline."""

    actor: str
    pdu: str = "submit_sm"
    text: str | None = None
    split: str = "auto"
    repeat: int = 1
    expect_status: Any = None  # default ESME_ROK
    wait: bool = True  # false: send without waiting for the responses (lost, late, out of order; see the SMSC's log)
    fields: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        cls = PDU_CLASSES.get(self.pdu)
        if cls is None or cls().is_response:
            raise FieldError("pdu", f"not a request PDU: {self.pdu!r}")
        _check_choice("split", self.split, SPLITS)
        if self.repeat < 1:
            raise FieldError("repeat", "must be at least 1")
        if self.text is not None and ("short_message" in self.fields or "message_payload" in self.fields):
            raise FieldError("text", "give text or short_message/message_payload, not both")
        _check_pdu_keys(set(self.fields) - DERIVED_PDU_KEYS, [self.pdu], self.pdu)
        if not self.wait and self.expect_status is not None:
            raise FieldError("expect_status", "wait: false sends without reading the responses: check them with expect_pdu")
        if isinstance(self.expect_status, list) and len(self.expect_status) != self.repeat:
            raise FieldError("expect_status", f"a list needs one status per repeat ({self.repeat})")


@dataclass
class Mo:
    """A handset sends text to a service number."""

    source: str
    destination: str
    text: str
    wait: bool = False  # wait for the gateway's deliver_sm_resp
    expect_error: str | None = None  # a regex the network's refusal must match


@dataclass
class Handset:
    """Switch a handset on, off, absent, memory_full, barred or unknown_subscriber."""

    number: str
    state: str

    def __post_init__(self) -> None:
        _check_choice("state", self.state, HANDSET_STATES)


@dataclass
class Http:
    """Call one of a gateway actor's request templates with extra variables."""

    request: str
    actor: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    expect_status: Any = None


@dataclass
class Disconnect:
    """Drop the TCP connections of an account (all when none is named)."""

    account: str | None = None


@dataclass
class ExpectPdu:
    """A PDU in the SMSC's log ('in': from an ESME, 'out': to it); fields and matchers written inline."""

    command: str | list[str] | None = None
    direction: str | None = None
    within: float = 0.0  # expect_no_pdu only: how long (real seconds) to keep watching
    note: Any = None  # the log entry's note (a fault rule notes what it did: 'fault rule 2: no response')
    fields: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        commands = _check_commands(self.command, "command") if self.command is not None else None
        if self.note is not None:
            _check_matcher("note", self.note)
        if self.direction is not None:
            _check_choice("direction", self.direction, (IN, OUT))
        _check_pdu_keys(self.fields, commands, "/".join(commands or ["any PDU"]))
        for key, value in self.fields.items():
            _check_matcher(key, value)


@dataclass
class ExpectDelivery:
    """A deliver_sm received by an esme actor: a receipt (expect_receipt) or an MO (expect_mo)."""

    actor: str
    fields: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        receipt_or_pdu = set(self.fields) - RECEIPT_KEYS
        _check_pdu_keys(receipt_or_pdu, ["deliver_sm", "data_sm"], "deliver_sm (or receipt field)")
        for key, value in self.fields.items():
            _check_matcher(key, value)


@dataclass
class ExpectWebhook:
    """A callback the gateway made to its webhook receiver."""

    actor: str | None = None
    path: str | None = None
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, value in self.params.items():
            _check_matcher(f"params.{key}", value)


@dataclass
class ExpectBalance:
    """An account's available credits (optionally for one destination country)."""

    credits: Any
    account: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        _check_matcher("credits", self.credits)


@dataclass
class ExpectMessage:
    """A message in the SMSC's store: state, error_code, route.segments... (the control API's message view)."""

    id: str
    fields: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        for key, value in self.fields.items():
            _check_matcher(key, value)


@dataclass
class ExpectCount:
    """How many PDUs (of: pdus) or webhook calls (of: webhooks) match, against a count matcher."""

    count: Any
    of: str = "pdus"
    command: str | list[str] | None = None
    direction: str | None = None
    actor: str | None = None
    path: str | None = None
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    within: float = 0.0  # wait up to this long (real seconds) for the count to match
    note: Any = None  # of: pdus only: the log entry's note (see ExpectPdu)
    fields: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        _check_choice("of", self.of, ("pdus", "webhooks"))
        _check_matcher("count", self.count)
        if self.of == "pdus":
            commands = _check_commands(self.command, "command") if self.command is not None else None
            _check_pdu_keys(self.fields, commands, "/".join(commands or ["any PDU"]))
            for name in ("actor", "path", "method"):
                if getattr(self, name) is not None or self.params:
                    raise FieldError(name if not self.params else "params", "only counts of webhooks have it")
        elif self.fields or self.command is not None or self.note is not None:
            raise FieldError(next(iter(self.fields), "command" if self.note is None else "note"), "counts of webhooks take actor, path, method and params")
        for key, value in {**self.fields, **self.params, **({"note": self.note} if self.note is not None else {})}.items():
            _check_matcher(key, value)


@dataclass
class ExpectValue:
    """A value (usually a saved `{variable}`) against a matcher."""

    value: Any
    matches: Any

    def __post_init__(self) -> None:
        _check_matcher("matches", self.matches)


@dataclass
class ExpectConformance:
    """The gateway kept SMPP's rules (simulator/conformance.py): window, throttle backoff, answers, enquire_link, sequence numbers, unbind, segment receipts."""

    checks: list[str] | None = None  # default: every check whose settings are known
    account: str | None = None  # only this system_id's sessions (default: every session, our esme actors' too)
    window: int | None = None  # default: each account's window
    throttle_backoff: str | float | None = None  # default 0.1 s
    throttle_statuses: list[str] | None = None  # default ESME_RTHROTTLED, ESME_RMSGQFUL
    deliver_response_ms: float | None = None  # default 1000
    enquire_link_interval: str | float | None = None  # default: the SMSC's inactivity_timeout (unset: no check)
    enquire_link_tolerance: str | float | None = None  # default 1 s
    receipts_on: str | None = None  # all, first, last or any (unset: no segment_receipts check)
    unanswered_timeout: str | float | None = None  # default 10 s: how long a request never answered holds the window

    def __post_init__(self) -> None:
        from ..conformance import ConformanceOptions, OptionError

        seconds = {}
        for name in ("throttle_backoff", "enquire_link_interval", "enquire_link_tolerance", "unanswered_timeout"):
            if getattr(self, name) is not None:
                seconds[name] = _parse_duration_field(name, getattr(self, name))  # negative durations do not parse
        for i, status in enumerate(self.throttle_statuses or ()):
            check_status(f"throttle_statuses[{i}]", str(status))
        # The rest is ConformanceOptions' to judge. The window and enquire_link_interval left out here
        # come from the simulator's config when the step runs: a stand-in lets the checks that need them pass.
        try:
            ConformanceOptions(
                checks=tuple(self.checks) if self.checks is not None else None,
                window=1 if self.window is None else self.window,
                receipts_on=self.receipts_on,
                **({"deliver_response_ms": self.deliver_response_ms} if self.deliver_response_ms is not None else {}),
                **{"enquire_link_interval": 1.0, **seconds},
            )
        except OptionError as exc:
            raise FieldError(exc.field, exc.detail) from None

    def options(self) -> dict[str, Any]:
        """The options given, as SimulatedSmsc.conformance() takes them (durations in seconds)."""
        options: dict[str, Any] = {}
        if self.checks is not None:
            options["checks"] = list(self.checks)
        if self.account is not None:
            options["system_id"] = self.account
        for name in ("window", "throttle_statuses", "deliver_response_ms", "receipts_on"):
            if getattr(self, name) is not None:
                options[name] = getattr(self, name)
        for name in ("throttle_backoff", "enquire_link_interval", "enquire_link_tolerance", "unanswered_timeout"):
            if getattr(self, name) is not None:
                options[name] = parse_duration(getattr(self, name))
        return options


def _has_reference(value: Any) -> bool:
    """True when a string anywhere in value (keys included) holds a {variable} ({{ and }} are literal braces)."""
    if isinstance(value, str):
        return any(match.group(1) for match in _REFERENCE.finditer(value))
    if isinstance(value, dict):
        return any(_has_reference(k) or _has_reference(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_reference(item) for item in value)
    return False


def _check_fault(envelope: dict[str, Any]) -> None:
    """Validate a fault step's envelope now, unless a {variable} decides part of it when the step runs."""
    if _has_reference(envelope):
        return
    try:
        FaultSpec.from_mapping(envelope)
    except FieldError as exc:
        raise FieldError(f"fault.{exc.field}", str(exc)) from None


def _parse_duration_field(name: str, value: Any) -> float:
    try:
        return parse_duration(value)
    except (ValueError, TypeError) as exc:
        raise FieldError(name, str(exc)) from None


ACTIONS = ("bind", "unbind", "submit", "mo", "handset", "advance", "wait", "http", "fault", "reset", "disconnect")
EXPECTATIONS = (
    "expect_pdu",
    "expect_no_pdu",
    "expect_closed",
    "expect_receipt",
    "expect_mo",
    "expect_webhook",
    "expect_balance",
    "expect_message",
    "expect_count",
    "expect_value",
    "expect_conformance",
)


@dataclass
class Step:
    """One action or expectation (exactly one keyword), with what to save from its result."""

    bind: Bind | None = None
    unbind: str | None = None
    submit: Submit | None = None
    mo: Mo | None = None
    handset: Handset | None = None
    advance: str | float | None = None
    wait: float | None = None
    http: Http | None = None
    fault: dict[str, Any] | None = field(default=None, metadata={"schema": fault_schema})  # the envelope of simulator/faults.py
    reset: bool | None = None
    disconnect: Disconnect | None = None
    expect_pdu: ExpectPdu | None = None
    expect_no_pdu: ExpectPdu | None = None
    expect_closed: str | None = None  # an esme actor whose connection the SMSC ended (close, reset, half-close, unbind)
    expect_receipt: ExpectDelivery | None = None
    expect_mo: ExpectDelivery | None = None
    expect_webhook: ExpectWebhook | None = None
    expect_balance: ExpectBalance | None = None
    expect_message: ExpectMessage | None = None
    expect_count: ExpectCount | None = None
    expect_value: ExpectValue | None = None
    expect_conformance: ExpectConformance | None = None
    save: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    name: str = ""
    line: int = _internal()

    def __post_init__(self) -> None:
        given = [k for k in (*ACTIONS, *EXPECTATIONS) if getattr(self, k) is not None]
        if len(given) != 1:
            raise FieldError(
                given[1] if len(given) > 1 else "(step)",
                f"a step takes exactly one of {', '.join((*ACTIONS, *EXPECTATIONS))}"
                + (f"; got {', '.join(given)}" if given else ""),
            )
        if self.advance is not None:
            _parse_duration_field("advance", self.advance)
        if self.fault is not None:
            _check_fault(self.fault)
        if self.expect_pdu is not None and self.expect_pdu.within:
            raise FieldError("expect_pdu.within", "only expect_no_pdu keeps watching; expect_pdu waits up to the step's timeout")
        if self.wait is not None and not 0 <= self.wait <= MAX_WAIT:
            raise FieldError("wait", f"must be between 0 and {MAX_WAIT:g} seconds")
        if self.timeout is not None and self.timeout <= 0:
            raise FieldError("timeout", "must be positive")

    @property
    def keyword(self) -> str:
        """The step's action or expectation keyword."""
        return next(k for k in (*ACTIONS, *EXPECTATIONS) if getattr(self, k) is not None)

    @property
    def body(self) -> Any:
        """The step's action or expectation."""
        return getattr(self, self.keyword)


@dataclass
class Stage:
    """A named list of steps; a failure names the stage."""

    name: str
    steps: list[Step]
    line: int = _internal()


@dataclass
class Scenario:
    """One scenario: a network, a simulator configuration, actors, stages and finally steps."""

    name: str
    description: str
    stages: list[Stage]
    seed: int = 0
    clock: str = "virtual"
    network: str | NetworkFile | NetworkProfile = "default"
    config: ConfigOverrides | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    parametrize: list[Variant] = field(default_factory=list)
    actors: dict[str, Actor] = field(default_factory=dict)
    finally_: list[Step] = field(default_factory=list, metadata={"key": "finally"})
    line: int = _internal()
    source: str = field(default="", metadata={"internal": True})
    # An inline network, as YAML text with `base:` merged in, for the runner to load.
    network_text: str | None = field(default=None, metadata={"internal": True})

    def __post_init__(self) -> None:
        if "\n" in self.description.strip():
            raise FieldError("description", "must be one line")
        if self.clock not in CLOCKS and not re.fullmatch(r"scaled:\d+(\.\d+)?", self.clock):
            raise FieldError("clock", f"must be virtual, real or scaled:N, not {self.clock!r}")
        if isinstance(self.network, str) and not isinstance(self.network, _InlineNetwork) and self.network not in builtin_profiles():
            raise FieldError("network", f"{self.network!r} is not a built-in profile ({', '.join(builtin_profiles())}); use {{file: path}}")
        ids = [v.id for v in self.parametrize]
        if len(set(ids)) != len(ids):
            raise FieldError("parametrize", f"variant ids must be unique: {ids}")
        esmes = {n for n, a in self.actors.items() if a.kind == "esme"}
        gateways = {n for n, a in self.actors.items() if a.kind == "gateway"}
        for reserved in ("smsc", "fake", "seed", "scenario", "variant", "webhook"):
            if reserved in self.actors:
                raise FieldError("actors", f"{reserved!r} is a reserved name")
        for step in self.steps():
            body = step.body
            actor = getattr(body, "actor", None) if not isinstance(body, str) else body if step.keyword == "unbind" else None
            wanted = gateways if step.keyword in ("http", "expect_webhook") or getattr(body, "of", "") == "webhooks" else esmes
            if actor is not None and actor not in wanted and "{" not in actor:
                raise FieldError("stages", f"line {step.line}: {step.keyword}: no such {'gateway' if wanted is gateways else 'esme'} actor {actor!r}")

    def steps(self) -> list[Step]:
        """Every step of every stage, then the finally steps."""
        return [s for stage in self.stages for s in stage.steps] + list(self.finally_)

    @property
    def variants(self) -> list[Variant | None]:
        """The variants to run (one None when not parametrized)."""
        return list(self.parametrize) or [None]


# --- the loader --------------------------------------------------------------------------------


def _key(node: yaml.Node) -> str:
    """A mapping key as written: YAML 1.1 would read `on:` and `off:` as booleans."""
    return node.value if isinstance(node, yaml.ScalarNode) else str(_construct(node))


def _line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _yaml_key(f: dataclasses.Field[Any]) -> str:
    return f.metadata.get("key", f.name)


def _node_fits(node: yaml.Node, hint: Any) -> bool:
    """Whether a node's kind (scalar, sequence, mapping) can be read as this type at all."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if dataclasses.is_dataclass(hint) or origin is dict:
        return isinstance(node, yaml.MappingNode)
    if origin is list:
        return isinstance(node, yaml.SequenceNode)
    if hint is type(None):
        return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
    return isinstance(node, yaml.ScalarNode)


def _declared_keys(cls: Any) -> set[str]:
    if cls is NetworkProfile:
        return {f.name for f in dataclasses.fields(cls)} | {"base"}
    return {_yaml_key(f) for f in dataclasses.fields(cls) if not f.metadata.get("internal")}


class _Reader:
    """Turns YAML nodes into the typed model, with errors at file:line naming the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, node: yaml.Node, key: str, message: str) -> ScenarioError:
        """A ScenarioError at the node's line."""
        return ScenarioError(self.source, _line_of(node), key, message)

    def read(self, node: yaml.Node, hint: Any, key: str) -> Any:
        """The value of node read as type hint."""
        origin = typing.get_origin(hint)
        if hint is Any:
            return _construct(node)
        if origin in (typing.Union, types.UnionType):
            return self._union(node, typing.get_args(hint), key)
        if dataclasses.is_dataclass(hint):
            return self._dataclass(node, hint, key)
        if origin is dict:
            if not isinstance(node, yaml.MappingNode):
                raise self.error(node, key, "expected a mapping")
            _, value_hint = typing.get_args(hint)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                name = _key(key_node)
                out[name] = self.read(value_node, value_hint, f"{key}.{name}" if key else name)
            return out
        if origin is list:
            if not isinstance(node, yaml.SequenceNode):
                raise self.error(node, key, "expected a list")
            (item_hint,) = typing.get_args(hint)
            return [self.read(item, item_hint, f"{key}[{i}]") for i, item in enumerate(node.value)]
        return self._scalar(node, hint, key)

    def _union(self, node: yaml.Node, options: tuple[Any, ...], key: str) -> Any:
        if type(None) in options and _node_fits(node, type(None)):
            return None
        fitting = [o for o in options if o is not type(None) and _node_fits(node, o)]
        if not fitting:
            kinds = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
            raise self.error(node, key, f"expected {kinds}")
        if isinstance(node, yaml.MappingNode):
            # Try first the types that declare every key given, so an error speaks of the intended type.
            keys = {_key(k) for k, _ in node.value}
            fitting.sort(key=lambda o: not (dataclasses.is_dataclass(o) and keys <= _declared_keys(o)))
        first: ScenarioError | None = None
        for option in fitting:
            try:
                return self.read(node, option, key)
            except ScenarioError as exc:
                first = first or exc
        assert first is not None
        raise first

    def _scalar(self, node: yaml.Node, hint: Any, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, key, f"expected a {getattr(hint, '__name__', hint)}")
        value = _construct(node)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # numbers such as short codes are strings to SMPP
        if hint is str and isinstance(value, bool) and node.style is None:
            return node.value  # `state: off` means the word, not YAML 1.1's false
        if hint is int and isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                pass
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise self.error(node, key, f"expected {hint.__name__}, got {value!r}")
        return value

    def _dataclass(self, node: yaml.Node, cls: Any, key: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key or "(top level)", "expected a mapping")
        if cls is NetworkProfile:
            return self._network(node, key)
        hints = typing.get_type_hints(cls)
        fields = {_yaml_key(f): f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        extra = next((f for f in fields.values() if f.metadata.get("extra")), None)
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        extras: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = _key(key_node)
            path = f"{key}.{name}" if key else name
            lines[name] = _line_of(key_node)
            f = fields.get(name)
            if f is not None and f is not extra:
                values[f.name] = self.read(value_node, hints[f.name], path)
            elif extra is not None:
                extras[name] = _construct(value_node)
            else:
                known = ", ".join(sorted(k for k, f in fields.items()))
                raise self.error(key_node, path, f"unknown key (known: {known})")
        if extra is not None:
            values[extra.name] = extras
        missing = [
            k for k, f in fields.items()
            if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise self.error(node, f"{key}.{missing[0]}" if key else missing[0], "required key missing")
        if "line" in {f.name for f in dataclasses.fields(cls)}:
            values["line"] = _line_of(node)
        try:
            return cls(**values)
        except FieldError as exc:
            where = exc.field.split(".", 1)[0]
            line = lines.get(where, _line_of(node))
            match = re.match(r"line (\d+): (.*)", str(exc), re.DOTALL)
            message = str(exc)
            if match:  # a check that knows the exact line of a nested item
                line, message = int(match.group(1)), match.group(2)
            raise ScenarioError(self.source, line, f"{key}.{exc.field}" if key else exc.field, message) from None
        except (ValueError, TypeError) as exc:
            raise self.error(node, key or "(top level)", str(exc)) from None

    def _network(self, node: yaml.MappingNode, key: str) -> Any:
        """An inline profile: its keys checked here (file:line), merged over `base:` and validated whole."""
        from ..config import load_typed

        hints = typing.get_type_hints(NetworkProfile)
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = _key(key_node)
            path = f"{key}.{name}"
            if name == "base":
                base = _construct(value_node)
                if base not in builtin_profiles():
                    raise self.error(value_node, path, f"not a built-in profile ({', '.join(builtin_profiles())})")
                text = (resources.files("simulator") / "profiles" / f"{base}.yaml").read_text(encoding="utf-8")
                merged = {**(yaml.safe_load(text) or {}), **merged}
                continue
            if name not in hints:
                raise self.error(key_node, path, f"unknown key (known: base, {', '.join(sorted(hints))})")
            try:  # type-check this key alone, so an error names the scenario file's line
                load_typed(yaml.serialize(yaml.MappingNode("tag:yaml.org,2002:map", [(key_node, value_node)])), _OneKey.of(name, hints[name]), "")
            except ConfigError as exc:
                raise self.error(value_node, f"{path}{exc.key[len(name):]}", exc.message) from None
            merged[name] = _construct(value_node)
        text = yaml.safe_dump(merged, sort_keys=False, allow_unicode=True)
        try:
            load_typed(text, NetworkProfile, "")
        except ConfigError as exc:
            raise self.error(node, f"{key}.{exc.key}", exc.message) from None
        return _InlineNetwork(text)


class _OneKey:
    """Dataclasses of one optional field, to type-check a single key of an inline profile."""

    _made: dict[str, type] = {}

    @classmethod
    def of(cls, name: str, hint: Any) -> type:
        """A dataclass whose only field is `name: hint`."""
        if name not in cls._made:
            cls._made[name] = dataclasses.make_dataclass(f"One_{name}", [(name, hint, field(default=None))])
        return cls._made[name]


class _InlineNetwork(str):
    """The YAML text of an inline network (a str, so the model keeps plain types)."""


def parse_scenarios(text: str, source: str = "<scenario>") -> list[Scenario]:
    """Every scenario of a YAML text (one per document), validated."""
    reader = _Reader(source)
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(source, mark.line + 1 if mark else None, "", f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    scenarios: list[Scenario] = []
    for document in documents:
        if document is None:
            continue
        scenario = reader.read(document, Scenario, "")
        if isinstance(scenario.network, _InlineNetwork):
            scenario.network_text = str(scenario.network)
            scenario.network = "inline"
        scenario.source = source
        if any(s.name == scenario.name for s in scenarios):
            raise ScenarioError(source, scenario.line, "name", f"another scenario in this file is named {scenario.name!r}")
        scenarios.append(scenario)
    if not scenarios:
        raise ScenarioError(source, None, "", "no scenario in this file")
    return scenarios


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Every scenario of a file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), None, "", f"cannot read: {exc.strerror}") from None
    return parse_scenarios(text, str(path))


# --- JSON Schema -------------------------------------------------------------------------------


def _schema_of(hint: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of a model type: the shared generator for config types, extras and Any handled here."""
    from ..schema import _schema_for

    origin = typing.get_origin(hint)
    if hint is Any:
        return {}
    if hint is NetworkProfile:
        return _inline_profile(definitions, _schema_for(NetworkProfile, definitions))
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema_of(o, definitions) for o in typing.get_args(hint)]}
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(hint)[0], definitions)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(typing.get_args(hint)[1], definitions)}
    if dataclasses.is_dataclass(hint) and hint.__module__ == __name__:
        name = f"scenario.{hint.__name__}"  # prefixed: the profile has its own Step
        if name not in definitions:
            definitions[name] = {}
            hints = typing.get_type_hints(hint)
            properties: dict[str, Any] = {}
            required = []
            extra = False
            for f in dataclasses.fields(hint):
                if f.metadata.get("internal"):
                    continue
                if f.metadata.get("extra"):
                    extra = True
                    continue
                properties[_yaml_key(f)] = f.metadata["schema"]() if "schema" in f.metadata else _schema_of(hints[f.name], definitions)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    required.append(_yaml_key(f))
            definitions[name] = {
                "type": "object",
                "description": (hint.__doc__ or "").strip().splitlines()[0],
                "properties": properties,
                "required": required,
                "additionalProperties": extra,
            }
        return {"$ref": f"#/$defs/{name}"}
    return _schema_for(hint, definitions)


def _inline_profile(definitions: dict[str, Any], profile_ref: dict[str, Any]) -> dict[str, Any]:
    # An inline profile is either complete, or any of its keys over a built-in `base`.
    properties = dict(definitions["NetworkProfile"]["properties"])
    properties["base"] = {"enum": builtin_profiles()}
    over_base = {"type": "object", "properties": properties, "required": ["base"], "additionalProperties": False}
    return {"description": "an inline network profile, complete or over a built-in `base`", "anyOf": [profile_ref, over_base]}


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one scenario document, generated from the model."""
    definitions: dict[str, Any] = {}
    root = _schema_of(Scenario, definitions)
    step = definitions["scenario.Step"]
    # Exactly one action or expectation keyword per step.
    step["oneOf"] = [{"required": [k]} for k in (*ACTIONS, *EXPECTATIONS)]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "smsc-sim scenario", **root, "$defs": definitions}


__all__ = [
    "Actor",
    "Scenario",
    "ScenarioError",
    "Stage",
    "Step",
    "Variables",
    "Variant",
    "VariableError",
    "load_scenarios",
    "lookup",
    "parse_scenarios",
    "scenario_schema",
    "status_matcher",
    "to_matcher",
]

