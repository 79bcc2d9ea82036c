"""Server configuration: YAML validated into typed objects; every error names file, line and key."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .smpp.constants import CommandStatus, parse_status

if TYPE_CHECKING:  # the profile module imports this one
    from .network.profile import NetworkProfile

BIND_TYPES = ("transmitter", "receiver", "transceiver")
MESSAGE_ID_FORMATS = ("hex", "decimal", "uuid")


class FieldError(ValueError):
    """Raised by a config object's validation to blame one of its own keys (the loader adds file and line)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(ValueError):
    """A configuration problem at file:line, under a dotted key path."""

    def __init__(self, source: str, line: int | None, key: str, message: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.source = source
        self.line = line
        self.key = key
        self.message = message


@dataclass
class OutbindTarget:
    """Where the SMSC connects to send outbind for an account."""

    host: str = "127.0.0.1"
    port: int = 2776


SENDER_STATES = ("waiting_validation", "refused", "enabled", "disabled")


THROTTLE_SCOPES = ("account", "bind", "sender", "short_code", "operator")
THROTTLE_WINDOWS = ("token_bucket", "sliding_window")
THROTTLE_COUNTS = ("segments", "pdus")
# Reactions that are not a command_status in the response; any status name or number is one too.
THROTTLE_ACTIONS = ("delay", "generic_nack", "disconnect")
WINDOW_ACTIONS = ("generic_nack", "disconnect")


@dataclass
class Throttle:
    """A submit limit kept per scope key: a token bucket (rate per second, burst) or a sliding window (limit per period).

    `reaction` says what a request that trips it gets; rate 0 means unlimited (the throttle is off).
    """

    rate: float = 5.0
    burst: int = 5
    scope: str = "account"
    window: str = "token_bucket"
    limit: int | None = None  # sliding_window only: at most this many per period
    period: float | str = 1.0  # sliding_window only: seconds or a duration such as "1s", "1m"
    reaction: str | None = None  # None: the profile's statuses.throttled (ESME_RTHROTTLED)
    delay: float | str = 1.0  # reaction delay: how long the SMSC holds the request
    count: str = "segments"  # what one message costs: each of its segments, or one per PDU
    only: list[str] = field(default_factory=list)  # the keys throttled (e.g. operators); empty: every key

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise FieldError("rate", "cannot be negative")
        if self.burst < 1:
            raise FieldError("burst", "must be at least 1")
        for name, value, allowed in (
            ("scope", self.scope, THROTTLE_SCOPES),
            ("window", self.window, THROTTLE_WINDOWS),
            ("count", self.count, THROTTLE_COUNTS),
        ):
            if value not in allowed:
                raise FieldError(name, f"must be one of {', '.join(allowed)}")
        if self.window == "sliding_window" and (self.limit is None or self.limit < 1):
            raise FieldError("limit", "a sliding_window needs a limit of at least 1 per period")
        if self.window == "token_bucket" and self.limit is not None:
            raise FieldError("limit", "only a sliding_window has a limit (a token_bucket has rate and burst)")
        if self.period_seconds <= 0:
            raise FieldError("period", "must be a positive duration")
        if self.delay_seconds < 0:
            raise FieldError("delay", "cannot be negative")
        if self.reaction is not None and self.reaction not in THROTTLE_ACTIONS:
            check_reaction("reaction", self.reaction, THROTTLE_ACTIONS)

    @property
    def enabled(self) -> bool:
        """False for rate 0 (an unlimited token bucket), which legacy configs use to switch a throttle off."""
        return self.window == "sliding_window" or self.rate > 0

    @property
    def period_seconds(self) -> float:
        """The sliding window's period in seconds."""
        return _seconds("period", self.period)

    @property
    def delay_seconds(self) -> float:
        """How long the `delay` reaction holds a request, in seconds."""
        return _seconds("delay", self.delay)

    @property
    def action(self) -> str:
        """'status' (answer with a command_status) or one of THROTTLE_ACTIONS."""
        return self.reaction if self.reaction in THROTTLE_ACTIONS else "status"

    def describe(self) -> str:
        """One line for logs and reports, e.g. 'sender token_bucket 5/s burst 5 -> delay 1s'."""
        if self.window == "sliding_window":
            limit = f"{self.limit} per {self.period_seconds:g}s"
        else:
            limit = f"{self.rate:g}/s burst {self.burst}"
        only = f" only {', '.join(self.only)}" if self.only else ""
        reaction = self.reaction or "statuses.throttled"
        if self.action == "delay":
            reaction = f"delay {self.delay_seconds:g}s"
        return f"{self.scope}{only} {self.window} {limit} per {self.count[:-1]} -> {reaction}"


def _seconds(name: str, value: float | str) -> float:
    from .network.rules import parse_duration  # late: the network package imports this module

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise FieldError(name, str(exc)) from None


def check_reaction(field: str, value: str, actions: tuple[str, ...]) -> None:
    """Raise FieldError unless value is a command_status or one of actions."""
    try:
        parse_status(value)
    except (KeyError, ValueError):
        raise FieldError(field, f"{value!r} is neither a command_status nor one of {', '.join(actions)}") from None


@dataclass
class Sender:
    """An alphanumeric (or numeric) sender id the account asked for, with its validation state."""

    name: str
    state: str = "enabled"

    def __post_init__(self) -> None:
        if self.state not in SENDER_STATES:
            raise FieldError("state", f"must be one of {', '.join(SENDER_STATES)}")


@dataclass
class CountryCredits:
    """Credits usable only for one destination country, optionally until an ISO date."""

    country: str
    credits: int
    expires: str | None = None


_DL_MEMBER = re.compile(r"\+?[0-9]{1,20}")


@dataclass
class Account:
    """An ESME account: credentials, binds and window, and what the network knows of it."""

    system_id: str
    password: str
    bind_types: list[str] = field(default_factory=lambda: list(BIND_TYPES))
    max_binds: int = 10
    window: int = 10
    outbind: OutbindTarget | None = None
    # Network side: home country (resolves national numbers), prepaid credits (None: unlimited),
    # sender ids, the service numbers it owns (MO routing, numeric senders) and multipart policy.
    country: str | None = None
    credits: int | None = None
    country_credits: list[CountryCredits] = field(default_factory=list)
    senders: list[Sender] = field(default_factory=list)
    default_sender: str | None = None
    numbers: list[str] = field(default_factory=list)
    fail_on_multipart: bool = False
    throttle: Throttle | None = None  # None: the profile's; rate 0: unlimited
    throttles: list[Throttle] | None = None  # None: the profile's throttles; []: none
    # What a request beyond `window` unanswered ones gets: a command_status (None: the server's
    # peer_window_full_status), generic_nack or disconnect.
    window_reaction: str | None = None
    receipt_dialect: str = "standard"  # a name from simulator.network.receipts.DIALECTS
    default_validity: str | None = None  # e.g. "24h"; None: the profile's
    # MC-resident distribution lists for submit_multi: dl_name -> international numbers ("+" optional).
    distribution_lists: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= len(self.system_id) <= 15:
            raise FieldError("system_id", "must be 1..15 characters (SMPP C-string of 16 with NUL)")
        if len(self.password) > 8:
            raise FieldError("password", "must be at most 8 characters (SMPP C-string of 9 with NUL)")
        unknown = [b for b in self.bind_types if b not in BIND_TYPES]
        if unknown:
            raise FieldError("bind_types", f"unknown bind type(s) {unknown}: use {', '.join(BIND_TYPES)}")
        if self.max_binds < 1:
            raise FieldError("max_binds", "must be at least 1")
        if self.window < 1:
            raise FieldError("window", "must be at least 1")
        if self.window_reaction is not None and self.window_reaction not in WINDOW_ACTIONS:
            check_reaction("window_reaction", self.window_reaction, WINDOW_ACTIONS)
        if self.default_sender is not None and self.default_sender not in {s.name for s in self.senders}:
            raise FieldError("default_sender", f"{self.default_sender!r} is not one of the account's senders")
        for name, members in self.distribution_lists.items():
            where = f"distribution_lists.{name}"
            if not 1 <= len(name) <= 20:
                raise FieldError(where, "a list name must be 1..20 characters (SMPP dl_name, a C-string of 21 with NUL)")
            if not members:
                raise FieldError(where, "a distribution list needs at least one number")
            for i, number in enumerate(members):
                if not _DL_MEMBER.fullmatch(number):
                    raise FieldError(f"{where}[{i}]", f"{number!r} is not an international number (digits, '+' optional, at most 20)")


@dataclass
class SmscSettings:
    """How the SMSC behaves on the wire."""

    system_id: str = "SMSCSIM"
    interface_version: int = 0x50
    message_id_format: str = "hex"
    # 'specific': ESME_RINVSYSID / ESME_RINVPASWD; 'bind_fail': ESME_RBINDFAIL for both, as some SMSCs hide which was wrong.
    auth_failure: str = "specific"
    max_command_length: int = 65536
    session_init_timeout: float | None = 30.0
    enquire_link_interval: float | None = 30.0
    inactivity_timeout: float | None = None
    response_timeout: float | None = 30.0
    peer_window_full_status: str = "ESME_RMSGQFUL"
    shutdown_grace: float = 1.0
    # A deliver_sm (receipt or MO) answered with an error is retried after delivery_backoff seconds,
    # doubling up to delivery_backoff_max, delivery_attempts times in all.
    delivery_attempts: int = 5
    delivery_backoff: float = 1.0
    delivery_backoff_max: float = 60.0
    # How long a receipt or MO waits for a receiver bind before the SMSC drops it (seconds; None: forever).
    delivery_validity: float | None = 172800.0
    # How many receipts and MOs may wait for a receiver bind per account (None: no limit); past it the
    # oldest is dropped, so a gateway load-tested without a receiver bind cannot exhaust the memory.
    delivery_queue_limit: int | None = 100000
    # How many PDUs the PDU log keeps for the control API and the test harness (0: no log, for benchmarks).
    pdu_log: int = 10000
    # How many MT messages the SMSC keeps for query_sm, cancel_sm and inspection (None: all). Past it the
    # oldest messages in a final state are forgotten as new ones come; pending ones stay.
    message_store_limit: int | None = 100000
    # SMPP 5.0 flow control: the SMSC reports its load in congestion_state on the submit_sm, data_sm and
    # submit_multi responses of binds that negotiated 0x50. Off by default: a peer that does not know the
    # TLV (smpplib as shipped) fails to read a response that carries it.
    report_congestion: bool = False

    def __post_init__(self) -> None:
        if self.delivery_queue_limit is not None and self.delivery_queue_limit < 1:
            raise FieldError("delivery_queue_limit", "must be >= 1, or null for no limit")
        if self.message_store_limit is not None and self.message_store_limit < 1:
            raise FieldError("message_store_limit", "must be >= 1, or null to keep every message")
        if self.pdu_log < 0:
            raise FieldError("pdu_log", "must be >= 0 (0 disables the PDU log)")
        if self.message_id_format not in MESSAGE_ID_FORMATS:
            raise FieldError("message_id_format", f"must be one of {', '.join(MESSAGE_ID_FORMATS)}")
        if self.auth_failure not in ("specific", "bind_fail"):
            raise FieldError("auth_failure", "must be 'specific' or 'bind_fail'")
        if self.interface_version not in (0x33, 0x34, 0x50):
            raise FieldError("interface_version", "must be 0x33, 0x34 or 0x50")
        if not 16 < self.max_command_length <= 16 * 1024 * 1024:
            raise FieldError("max_command_length", "must be between 17 and 16777216")
        check_status("peer_window_full_status", self.peer_window_full_status)


@dataclass
class ServerConfig:
    """Everything `smsc-sim serve` needs besides host and port."""

    smsc: SmscSettings = field(default_factory=SmscSettings)
    accounts: list[Account] = field(default_factory=list)
    seed: int = 0
    network: str = "default"  # a built-in profile name or a profile file path
    # Fault rules installed at start (and again after a reset): the envelope of simulator.faults.
    faults: list[dict[str, Any]] = field(default_factory=list, metadata={"schema": lambda: faults_schema()})

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for account in self.accounts:
            if account.system_id in seen:
                raise ValueError(f"duplicate account system_id {account.system_id!r}")
            seen.add(account.system_id)
        self.fault_specs = parse_fault_specs(self.faults)

    def account(self, system_id: str) -> Account | None:
        """The account with this system_id, or None."""
        for account in self.accounts:
            if account.system_id == system_id:
                return account
        return None

    @property
    def peer_window_full_status(self) -> int:
        """The command_status answering a peer that exceeds its window."""
        return parse_status(self.smsc.peer_window_full_status)


def faults_schema() -> dict[str, Any]:
    """The JSON Schema of a `faults:` list (in the server config or a network profile)."""
    from .faults import fault_schema

    return {"type": "array", "items": fault_schema()}


def parse_fault_specs(items: list[Any]) -> list[Any]:
    """Validate a `faults:` list into FaultSpecs; a mistake names its key, e.g. faults[2].do.status."""
    from .faults import FaultSpec  # imported late: simulator.faults builds on this module

    specs = []
    for index, item in enumerate(items):
        try:
            specs.append(FaultSpec.from_mapping(item))
        except FieldError as exc:
            raise FieldError(f"faults[{index}].{exc.field}", str(exc)) from None
    return specs


def check_status(field: str, value: str) -> None:
    """Raise FieldError unless value names a command_status (ESME_* name or number)."""
    try:
        parse_status(value)
    except (KeyError, ValueError):
        raise FieldError(field, f"unknown command_status {value!r}") from None


def default_config() -> ServerConfig:
    """The documented default: account smppclient1/password (as SMPPSim users expect) on the default network.

    It owns every service number of the default profile, may send as SIMULATOR, is homed in France
    and has unlimited credits.
    """
    return ServerConfig(
        accounts=[
            Account(
                system_id="smppclient1",
                password="password",
                country="FR",
                senders=[Sender("SIMULATOR")],
                default_sender="SIMULATOR",
                numbers=["20345", "38100", "31244", "967482", "+447797805210", "51244", "71244"],
            )
        ]
    )


# --- typed YAML loading ----------------------------------------------------------------------


def load_config(path: str | Path) -> ServerConfig:
    """Read and validate a server config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), None, "", f"cannot read: {exc.strerror}") from None
    return parse_config(text, str(path), path.parent)


def parse_config(text: str, source: str = "<config>", base: Path | None = None) -> ServerConfig:
    """Validate YAML text into a ServerConfig; a network profile path is taken relative to base."""
    from .network.profile import builtin_profiles

    config = load_typed(text, ServerConfig, source)
    if config.network not in builtin_profiles():
        path = Path(config.network)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.exists():
            line = next((i + 1 for i, row in enumerate(text.splitlines()) if row.startswith("network:")), None)
            raise ConfigError(
                source, line, "network", f"{config.network!r} is neither a built-in profile ({', '.join(builtin_profiles())}) nor a file"
            )
        config.network = str(path)
    return config


def config_from_mapping(document: dict[str, Any], source: str) -> tuple[ServerConfig, NetworkProfile | None]:
    """A server configuration given as a mapping (a JSON body), and its network profile when given inline.

    `network` is a built-in profile's name, a profile file on this machine, or the profile itself as a
    mapping (returned second, None otherwise). ConfigError names the key at fault.
    """
    from .network.profile import NetworkProfile  # noqa: F811 - at run time, past the import cycle

    document = dict(document)
    network = document.get("network")
    profile = None
    if isinstance(network, dict):
        try:
            profile = load_typed(json.dumps(network), NetworkProfile, source)
        except ConfigError as exc:
            raise ConfigError(source, exc.line, f"network.{exc.key}" if exc.key else "network", exc.message) from None
        document["network"] = "default"
    config = parse_config(json.dumps(document), source)
    if profile is not None:
        config.network = f"inline profile {profile.name}"
    return config, profile


# libyaml's parser when PyYAML has it (several times faster; the nodes keep their line numbers), for a
# simulator that starts in milliseconds with the default profile.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructors = threading.local()


def load_typed(text: str, cls: type, source: str) -> Any:
    """Parse YAML text into an instance of dataclass cls, rejecting unknown keys and wrong types."""
    try:
        node = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError(source, line, "", f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if node is None:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [])
    return _convert(node, cls, source, "")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _line_of_path(node: yaml.Node, path: str) -> int:
    """The line of the deepest node a dotted path such as 'faults[2].do.status' reaches from node."""
    line = _line(node)
    for name, index in _PATH_PART.findall(path):
        if name and isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name), None)
            if found is None:
                break
            line, node = _line(found[0]), found[1]
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
            line = _line(node)
        else:
            break
    return line


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    # One constructor per thread: building a loader per scalar cost more than parsing the file.
    loader = getattr(_constructors, "loader", None)
    if loader is None:
        loader = _constructors.loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.constructed_objects.clear()


def _convert(node: yaml.Node, hint: Any, source: str, key: str) -> Any:
    if hint is Any:
        return _construct_scalar(node)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(node, option, source, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(hint):
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(source, _line(node), key or "(top level)", "expected a mapping")
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        values: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = str(_construct_scalar(key_node))
            path = f"{key}.{name}" if key else name
            if name not in known:
                raise ConfigError(source, _line(key_node), path, f"unknown key (known: {', '.join(sorted(known))})")
            values[name] = _convert(value_node, hints[name], source, path)
        missing = [
            f.name
            for f in dataclasses.fields(hint)
            if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ConfigError(source, _line(node), f"{key}.{missing[0]}" if key else missing[0], "required key missing")
        try:
            return hint(**values)
        except FieldError as exc:
            line = _line_of_path(node, exc.field)
            path = f"{key}.{exc.field}" if key else exc.field
            raise ConfigError(source, line, path, str(exc)) from None
        except ValueError as exc:
            raise ConfigError(source, _line(node), key or "(top level)", str(exc)) from None
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(source, _line(node), key, "expected a mapping")
        out = {}
        for key_node, value_node in node.value:
            # A key as written: YAML 1.1 would read `on:` (a fault rule's first key) as true.
            if key_hint is str and isinstance(key_node, yaml.ScalarNode):
                name = key_node.value
            else:
                name = _convert(key_node, key_hint, source, key)
            out[name] = _convert(value_node, value_hint, source, f"{key}.{name}" if key else str(name))
        return out
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError(source, _line(node), key, "expected a list")
        return [_convert(item, item_hint, source, f"{key}[{i}]") for i, item in enumerate(node.value)]
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(source, _line(node), key, f"expected a {getattr(hint, '__name__', hint)}")
    value = _construct_scalar(node)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        # Passwords and ids such as 12345 are strings to SMPP.
        return str(value)
    if hint is int and isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    if hint in (int, float, str, bool) and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        raise ConfigError(source, _line(node), key, f"expected {hint.__name__}, got {value!r}")
    return value


__all__ = [
    "Account",
    "CommandStatus",
    "CountryCredits",
    "Sender",
    "Throttle",
    "ConfigError",
    "OutbindTarget",
    "ServerConfig",
    "SmscSettings",
    "default_config",
    "load_config",
    "parse_config",
]
