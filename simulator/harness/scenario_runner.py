"""Executes YAML scenarios (see scenario.py) against an in-process simulator or a running one.

In-process (the default) each scenario run gets a fresh SimulatedSmsc built from its network, config,
seed and clock. Remote runs (`RemoteTarget`) drive a running `smsc-sim serve --http-port ...` through
its SMPP port and its HTTP control API: the simulator is reset first, with the scenario's network,
config and seed (`remote_configuration`) unless the caller keeps the simulator's own; its clock stays.

A failing step raises ScenarioFailure, whose report names file:line, the scenario (and variant), the
stage, what was expected and what was observed, the seed and the last PDUs exchanged.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from ..config import Account, FieldError, ServerConfig, SmscSettings, default_config, load_typed
from ..faults import FaultSpec
from ..matching import describe, mismatches, normalise_pdu_expectations, pdu_field, value_matches
from ..network.encoding import encode_text, parse_udh, split_text
from ..network.network import MoError
from ..network.profile import NetworkProfile, load_profile
from ..network.receipts import parse_receipt_text, state_from_stat
from ..network.rules import parse_duration
from ..smpp import pdu as P
from ..smpp.constants import CommandId as C
from ..smpp.constants import MessageState, parse_status, status_name
from ..smpp.tlv import TLV_BY_NAME, Tlv, tlv_value
from ..traffic import LoggedPdu
from . import scenario as S
from .esme import SyncEsme
from .smsc import SimulatedSmsc, counter_problems
from .waiting import claim_first, unclaimed_within

DEFAULT_TIMEOUT = 5.0  # real seconds an expectation waits for what it expects
STATE_TIMEOUT = 1.0  # real seconds expect_message / expect_balance keep polling
REMOTE_POLL = 0.05  # seconds between polls of the control API
RECEIPT_ESM_CLASSES = (0x04, 0x08, 0x10, 0x20)  # SMSC receipt, SME ack, manual ack, intermediate notification


class StepFailed(AssertionError):
    """A step's expectation did not hold: what was expected and what was observed."""

    def __init__(self, expected: str, observed: str) -> None:
        super().__init__(f"expected {expected}; observed {observed}")
        self.expected = expected
        self.observed = observed


class ScenarioFailure(AssertionError):
    """A scenario failed; str() is the full report."""

    def __init__(
        self,
        *,
        source: str,
        line: int,
        scenario: str,
        variant: str | None,
        stage: str,
        step: str,
        expected: str,
        observed: str,
        seed: int | None,
        last_pdus: list[str],
    ) -> None:
        self.source, self.line, self.scenario, self.variant = source, line, scenario, variant
        self.stage, self.step, self.expected, self.observed = stage, step, expected, observed
        self.seed, self.last_pdus = seed, last_pdus
        super().__init__(self.report())

    @property
    def title(self) -> str:
        """'file:line: scenario name[variant], stage 'x', step expect_receipt'."""
        variant = f"[{self.variant}]" if self.variant else ""
        return f"{self.source}:{self.line}: scenario {self.scenario}{variant}, stage {self.stage!r}, step {self.step}"

    def report(self) -> str:
        """The whole human-readable report."""
        lines = [self.title, f"  expected: {_indent(self.expected)}", f"  observed: {_indent(self.observed)}"]
        seed = "the running simulator's" if self.seed is None else str(self.seed)
        if self.last_pdus:
            lines.append(f"seed {seed}; last {len(self.last_pdus)} PDUs exchanged:")
            lines.extend(f"  {p}" for p in self.last_pdus)
        else:
            lines.append(f"seed {seed}; no PDUs exchanged")
        return "\n".join(lines)


def _indent(text: str) -> str:
    return text.replace("\n", "\n            ")


def _expectations(wanted: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {describe(v)}" for k, v in wanted.items()) or "anything"


# --- PDUs seen through the control API ---------------------------------------------------------


# The fields each command carries as octets (short_message), by command name.
_OCTET_FIELDS: dict[str, frozenset[str]] = {
    C(cls.command_id).name: frozenset(f.name for f in cls.BODY if f.kind == "sm") for cls in P.ALL_PDU_CLASSES
}


class RemotePdu:
    """A PDU log entry from GET /pdus, with LoggedPdu's matching and description interface."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.index: int = data["index"]
        self.direction: str = data["direction"]
        self.command: str = data["command"]

    def __getitem__(self, key: str) -> Any:
        """A field, TLV by name, 'text', 'command' or status, as LoggedPdu answers (bytes come as latin-1 text)."""
        fields = self.data.get("fields", {})
        if key == "command":
            return self.command
        if key in ("status", "command_status"):
            return self.data["command_status"]
        if key == "text":
            if self.data.get("text") is None:
                raise KeyError(key)
            return self.data["text"]
        if key in fields and key != "tlvs":
            value = fields[key]
            # Octets travel as latin-1 text: give them back as the bytes LoggedPdu has.
            return value.encode("latin-1") if key in _OCTET_FIELDS.get(self.command, ()) and isinstance(value, str) else value
        spec = TLV_BY_NAME.get(key)
        if spec is not None and str(spec.tag) in fields.get("tlvs", {}):
            value = fields["tlvs"][str(spec.tag)]
            return value.encode("latin-1") if spec.kind == "octets" and isinstance(value, str) else value
        raise KeyError(key)

    def matches(self, command: str | tuple[str, ...] | None, wanted: Mapping[str, Any], direction: str | None = None) -> bool:
        """True when of the command and direction and every field matches."""
        if direction is not None and self.direction != direction:
            return False
        if command is not None:
            names = (command,) if isinstance(command, str) else tuple(command)
            if self.command not in names and "any" not in names:
                return False
        return not self.mismatches(wanted)

    def mismatches(self, wanted: Mapping[str, Any]) -> list[str]:
        """Which field expectations this entry fails."""
        return mismatches(self.__getitem__, normalise_pdu_expectations(wanted))

    def describe(self) -> str:
        """One line, like LoggedPdu.describe()."""
        d = self.data
        arrow = "<-" if self.direction == "in" else "->"
        parts = [f"#{self.index}", f"s{d.get('session')}({d.get('system_id') or '-'})", arrow, self.command]
        parts.append(f"seq={d.get('sequence_number')}")
        if self.command.endswith("_resp") or d.get("command_status"):
            parts.append(f"status={d.get('status_name')}")
        for name in ("source_addr", "destination_addr", "message_id", "system_id"):
            value = d.get("fields", {}).get(name)
            if value:
                parts.append(f"{name}={value}")
        if d.get("text"):
            parts.append(f"text={d['text'][:40]!r}")
        return " ".join(parts)


PduView = LoggedPdu | RemotePdu


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class HttpResponse:
    """An HTTP answer: status, body text, JSON (None unless the body is JSON) and headers."""

    status: int
    body: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def http_call(
    method: str,
    url: str,
    *,
    query: Mapping[str, Any] | None = None,
    form: Mapping[str, Any] | None = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """One HTTP request; error statuses are returned, not raised; connection failures raise OSError."""
    if query:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({k: _http_text(v) for k, v in query.items()})
    data = None
    all_headers = dict(headers or {})
    if form:
        data = urllib.parse.urlencode({k: _http_text(v) for k, v in form.items()}).encode()
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method.upper(), headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw, answer_headers = answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        status, raw, answer_headers = exc.code, exc.read(), dict(exc.headers or {})
    body = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body.strip()[:1] in ("{", "[") else None
    except ValueError:
        parsed = None
    return HttpResponse(status, body, parsed, answer_headers)


def call_template(template: S.HttpRequest, scope: S.Variables, timeout: float | None = None) -> HttpResponse:
    """Send a gateway request template expanded with these variables (see http_call for errors)."""
    return http_call(
        template.method,
        scope.expand(template.url),
        query=scope.expand(template.query),
        form=scope.expand(template.form),
        json_body=scope.expand(template.json),
        headers=scope.expand(template.headers),
        timeout=timeout or template.timeout,
    )


def _http_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


# --- targets: where the simulator is ------------------------------------------------------------


class Target:
    """What a scenario run needs from a simulator; claims PDU log entries so repeated waits find successive PDUs."""

    host: str
    port: int
    seed: int | None
    virtual: bool
    default_alphabet: str = "gsm"
    default_account: tuple[str, str] = ("smppclient1", "password")

    def __init__(self) -> None:
        self.claimed: set[int] = set()

    # Implemented by subclasses.
    def start(self) -> None:
        """Start or connect."""

    def stop(self) -> None:
        """Stop or disconnect."""

    def entries(self) -> list[PduView]:
        """The PDU log since the run started, oldest first."""
        raise NotImplementedError

    def wait_change(self, timeout: float) -> None:
        """Return when the PDU log may have changed, or after timeout seconds."""
        raise NotImplementedError

    def add_fault(self, envelope: dict[str, Any]) -> None:
        """Install a fault rule (the envelope of simulator/faults.py)."""
        raise NotImplementedError

    def inject_mo(self, source: str, destination: str, text: str, wait: bool, timeout: float) -> int:
        """A handset sends an MO; returns the parts (MoError when the network refuses it)."""
        raise NotImplementedError

    def set_handset(self, number: str, state: str) -> int:
        """Change a handset's state; returns the messages released."""
        raise NotImplementedError

    def advance(self, seconds: float) -> int:
        """Move the virtual clock; returns the events fired."""
        raise NotImplementedError

    def message(self, message_id: str) -> dict[str, Any] | None:
        """A message as the control API shows it, or None."""
        raise NotImplementedError

    def balance(self, system_id: str, country: str | None) -> int | None:
        """An account's available credits (None: unlimited)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget messages, rules, credits spent, handsets and the PDU log."""
        raise NotImplementedError

    def disconnect(self, system_id: str | None) -> int:
        """Drop connections."""
        raise NotImplementedError

    def problems(self) -> list[str]:
        """What went wrong unnoticed (checked after a passing run)."""
        raise NotImplementedError

    def conformance(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The gateway's conformance report (ConformanceReport.to_dict()) for SimulatedSmsc.conformance() options."""
        raise NotImplementedError

    # Shared.
    def wait_pdu(self, command: Any, direction: str | None, wanted: Mapping[str, Any], timeout: float, note: Any = None) -> PduView:
        """The first unclaimed matching PDU, waiting up to timeout real seconds; StepFailed with the nearest otherwise."""
        entry = claim_first(self.entries, lambda e: _entry_matches(e, command, wanted, direction, note), self.claimed, self.wait_change, timeout)
        if entry is not None:
            return entry
        candidates = [e for e in self.entries() if e.index not in self.claimed and e.matches(command, {}, direction)]
        lines = [f"no such PDU within {timeout:g} s"]
        if candidates:
            lines.append("nearest candidates:")
            for entry in candidates[-5:]:
                lines.append(f"  {entry.describe()}" + (f" note={_note_of(entry)!r}" if note is not None else ""))
                lines.extend(f"      {problem}" for problem in entry.mismatches(wanted))
        raise StepFailed(_pdu_what(command, direction, wanted, note), "\n".join(lines))

    def tail(self, count: int = 10) -> list[str]:
        """The last PDUs, described."""
        try:
            return [e.describe() for e in self.entries()[-count:]]
        except Exception:  # noqa: BLE001 - a report must not fail because the simulator is gone
            return []


def _note_of(entry: PduView) -> str:
    """A log entry's note ('' when none): fault rules note what they did."""
    return entry.data.get("note") or "" if isinstance(entry, RemotePdu) else entry.note


def _entry_matches(entry: PduView, command: Any, wanted: Mapping[str, Any], direction: str | None, note: Any) -> bool:
    """entry.matches(), and the entry's note matches `note` when one is given."""
    return entry.matches(command, wanted, direction) and (note is None or value_matches(_note_of(entry), note))


def _pdu_what(command: Any, direction: str | None, wanted: Mapping[str, Any], note: Any = None) -> str:
    if note is not None:
        wanted = {**wanted, "note": note}
    name = "any PDU" if command is None else command if isinstance(command, str) else "/".join(command)
    where = {"in": " from an ESME", "out": " to an ESME"}.get(direction or "", "")
    return f"{name}{where} with {_expectations(wanted)}" if wanted else f"{name}{where}"


def _network_file(scenario: S.Scenario) -> Path | None:
    """The path of a scenario's `network: {file: ...}`, relative to the scenario file; None for other networks."""
    if not isinstance(scenario.network, S.NetworkFile):
        return None
    path = Path(scenario.network.file)
    base = Path(scenario.source).parent if scenario.source else Path.cwd()
    return path if path.is_absolute() else base / path


def _settings(scenario: S.Scenario) -> tuple[SmscSettings, list[Account]]:
    """The scenario's SMSC settings and accounts, the defaults (smppclient1/password) where it gives none."""
    overrides = scenario.config or S.ConfigOverrides()
    defaults = default_config()
    return overrides.smsc or defaults.smsc, overrides.accounts if overrides.accounts is not None else defaults.accounts


def remote_configuration(scenario: S.Scenario) -> dict[str, Any]:
    """The scenario's simulator configuration as POST /reset takes it: what LocalTarget builds, for a running simulator.

    An inline network or a network file travels as the profile itself, since the simulator may not see
    the scenario's files.
    """
    smsc, accounts = _settings(scenario)
    network: Any = scenario.network
    path = _network_file(scenario)
    if scenario.network_text is not None:
        network = yaml.safe_load(scenario.network_text)
    elif path is not None:
        network = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        "seed": scenario.seed,
        "network": network,
        "smsc": dataclasses.asdict(smsc),
        "accounts": [dataclasses.asdict(account) for account in accounts],
    }


class LocalTarget(Target):
    """A fresh in-process SimulatedSmsc built from the scenario."""

    def __init__(self, scenario: S.Scenario, *, strict: bool = True) -> None:
        super().__init__()
        self._tmp: Path | None = None
        network: Any = scenario.network
        if scenario.network_text is not None:
            self._tmp = Path(tempfile.mkdtemp(prefix="scenario-network-"))
            (self._tmp / "network.yaml").write_text(scenario.network_text, encoding="utf-8")
            network = str(self._tmp / "network.yaml")
        elif isinstance(network, S.NetworkFile):
            network = str(_network_file(scenario))
        smsc, accounts = _settings(scenario)
        config = ServerConfig(smsc=smsc, accounts=accounts, seed=scenario.seed, network=str(network))
        self.smsc = SimulatedSmsc(config, clock=scenario.clock, strict=strict, name=f"scenario {scenario.name}")
        self.seed = scenario.seed
        self.virtual = scenario.clock == "virtual"
        self.default_account = (config.accounts[0].system_id, config.accounts[0].password)

    def start(self) -> None:
        """Start the simulator."""
        self.smsc.start()
        self.host, self.port = self.smsc.host, self.smsc.port
        self.default_alphabet = self.smsc.run(lambda: self.smsc.server.network.profile.default_alphabet)

    def stop(self) -> None:
        """Stop it and remove the inline network file."""
        self.smsc.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def entries(self) -> list[PduView]:
        """The PDU log."""
        return list(self.smsc.pdu_log.entries())

    def wait_change(self, timeout: float) -> None:
        """Wait on the log's condition."""
        with self.smsc.pdu_log.changed:
            self.smsc.pdu_log.changed.wait(timeout)

    def add_fault(self, envelope: dict[str, Any]) -> None:
        """SimulatedSmsc.faults.add()."""
        self.smsc.faults.install(FaultSpec.from_mapping(envelope))

    def inject_mo(self, source: str, destination: str, text: str, wait: bool, timeout: float) -> int:
        """SimulatedSmsc.inject_mo()."""
        return len(self.smsc.inject_mo(source, destination, text, wait=wait, timeout=timeout))

    def set_handset(self, number: str, state: str) -> int:
        """SimulatedSmsc.set_handset()."""
        return self.smsc.set_handset(number, state)

    def advance(self, seconds: float) -> int:
        """SimulatedSmsc.clock.advance()."""
        return self.smsc.clock.advance(seconds)

    def message(self, message_id: str) -> dict[str, Any] | None:
        """The control API's view of the message, computed in process."""
        from ..control.api import message_detail

        found = self.smsc.run(self.smsc.server.store.lookup, message_id)
        return None if found is None else message_detail(found)

    def balance(self, system_id: str, country: str | None) -> int | None:
        """SimulatedSmsc.balance()."""
        return self.smsc.balance(system_id, country)

    def reset(self) -> None:
        """SimulatedSmsc.reset()."""
        self.smsc.reset()
        self.claimed.clear()

    def disconnect(self, system_id: str | None) -> int:
        """SimulatedSmsc.disconnect()."""
        return self.smsc.disconnect(system_id)

    def problems(self) -> list[str]:
        """SimulatedSmsc.problems()."""
        return self.smsc.problems()

    def conformance(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """SimulatedSmsc.conformance()."""
        return self.smsc.conformance(**options).to_dict()


class ControlError(RuntimeError):
    """The control API refused a request or could not be reached."""


class RemoteTarget(Target):
    """A running simulator: SMPP at host:port, its control API at control_url (reset at start).

    With `configuration` (see remote_configuration) the reset at start gives the simulator that
    configuration; without, it keeps its own.
    """

    def __init__(self, smsc: str, control_url: str, *, reset: bool = True, configuration: dict[str, Any] | None = None) -> None:
        super().__init__()
        host, _, port = smsc.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--smsc takes HOST:PORT, not {smsc!r}")
        self.host, self.port = host, int(port)
        self.control_url = control_url.rstrip("/")
        self.seed = None
        self.virtual = False
        self._reset = reset
        self._log: list[RemotePdu] = []
        self._since = 0
        self._configuration = configuration
        if configuration is not None:
            self.seed = configuration["seed"]
            accounts = configuration["accounts"]
            if accounts:
                self.default_account = (accounts[0]["system_id"], accounts[0]["password"])
            network = configuration["network"]
            profile = load_typed(json.dumps(network), NetworkProfile, "scenario network") if isinstance(network, dict) else load_profile(network)
            self.default_alphabet = profile.default_alphabet

    def call(self, method: str, path: str, body: Any = None, ok: Iterable[int] = (200, 201, 202)) -> Any:
        """One control API call; its JSON answer, or ControlError naming what it said."""
        try:
            answer = http_call(method, self.control_url + path, json_body=body, timeout=10)
        except OSError as exc:
            raise ControlError(f"control API {self.control_url} unreachable: {exc}") from None
        if answer.status not in ok:
            message = (answer.json.get("detail") or answer.json.get("error", answer.body)) if isinstance(answer.json, dict) else answer.body
            raise ControlError(f"{method} {path}: HTTP {answer.status}: {message}")
        return answer.json

    def start(self) -> None:
        """Check readiness, reset, and learn the clock kind."""
        self.call("GET", "/readyz")
        if self._reset:
            self.reset(self._configuration)
        self.virtual = self.call("GET", "/clock").get("kind") == "virtual"

    def _fetch(self) -> None:
        while True:
            page = self.call("GET", f"/pdus?since={self._since}&limit=1000")
            self._log.extend(RemotePdu(p) for p in page["pdus"])
            self._since = page["next_since"]
            if len(page["pdus"]) < 1000:
                return

    def entries(self) -> list[PduView]:
        """The log since the run started (fetched incrementally)."""
        self._fetch()
        return list(self._log)

    def wait_change(self, timeout: float) -> None:
        """Poll: sleep a little."""
        time.sleep(min(REMOTE_POLL, timeout))

    def add_fault(self, envelope: dict[str, Any]) -> None:
        """POST /faults: the envelope as written (matchers in their YAML form travel as JSON)."""
        try:
            json.dumps(envelope)
        except (TypeError, ValueError) as exc:
            raise StepFailed("a fault rule that travels as JSON to the remote simulator", f"{exc} (write binary values as text)") from None
        self.call("POST", "/faults", envelope)

    def inject_mo(self, source: str, destination: str, text: str, wait: bool, timeout: float) -> int:
        """POST /mo (a 422 is the network's refusal)."""
        try:
            answer = self.call("POST", "/mo", {"source": source, "destination": destination, "text": text})
        except ControlError as exc:
            if "HTTP 422" in str(exc):
                raise MoError(str(exc).split(": ", 2)[-1]) from None
            raise
        return answer["parts"]

    def set_handset(self, number: str, state: str) -> int:
        """PUT /handsets/{number}."""
        return self.call("PUT", f"/handsets/{urllib.parse.quote(number)}", {"state": state})["released"]

    def advance(self, seconds: float) -> int:
        """POST /clock/advance."""
        return self.call("POST", "/clock/advance", {"by": seconds})["fired"]

    def message(self, message_id: str) -> dict[str, Any] | None:
        """GET /messages/{id}."""
        try:
            return self.call("GET", f"/messages/{urllib.parse.quote(message_id)}")
        except ControlError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def balance(self, system_id: str, country: str | None) -> int | None:
        """GET /accounts/{id}/credits."""
        query = f"?country={country}" if country else ""
        return self.call("GET", f"/accounts/{system_id}/credits{query}")["available"]

    def reset(self, configuration: dict[str, Any] | None = None) -> None:
        """POST /reset (with a configuration to take, if given); the log restarts after what was seen."""
        self.call("POST", "/reset", None if configuration is None else {"config": configuration})
        self._fetch()
        self._log.clear()
        self.claimed.clear()

    def problems(self) -> list[str]:
        """What the running simulator saw go wrong unnoticed: unmet rules, unanswered deliveries, errors."""
        found = []
        for rule in self.call("GET", "/faults")["rules"]:
            if rule["unmet"]:
                label = f"{rule['name']}: " if rule["name"] else ""
                found.append(f"expectation never met: rule {rule['id']} {label}{'/'.join(rule['on'])} (fired {rule['hits']})")
        deadline = time.monotonic() + 1.0  # as in-process: responses still on their way get a second
        sessions = self.call("GET", "/sessions")["sessions"]
        while any(s["in_flight"] for s in sessions) and time.monotonic() < deadline:
            time.sleep(REMOTE_POLL)
            sessions = self.call("GET", "/sessions")["sessions"]
        for session in sessions:
            if session["in_flight"]:
                found.append(f"session {session['id']}: {session['in_flight']} deliver_sm never answered")
        queued = {account["system_id"]: account.get("queued_deliveries", 0) for account in self.call("GET", "/accounts")["accounts"]}
        counters = self.call("GET", "/stats")["server"]
        found.extend(counter_problems(queued, counters["handler_errors"], counters["protocol_errors"]))
        return found

    def conformance(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """GET /conformance (the running simulator analyses its own PDU log)."""
        query = {"account" if k == "system_id" else k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in options.items()}
        return self.call("GET", "/conformance" + (f"?{urllib.parse.urlencode(query)}" if query else ""))

    def disconnect(self, system_id: str | None) -> int:
        """DELETE /sessions/{id} for each session of the account (all when None)."""
        sessions = self.call("GET", "/sessions")["sessions"]
        closed = 0
        for session in sessions:
            if system_id is None or session.get("system_id") == system_id:
                closed += self.call("DELETE", f"/sessions/{session['id']}")["closed"]
        return closed


# --- actors -------------------------------------------------------------------------------------


def is_receipt(pdu: P.Pdu) -> bool:
    """True for a deliver_sm/data_sm carrying a delivery receipt or intermediate notification."""
    return (getattr(pdu, "esm_class", 0) & 0x3C) in RECEIPT_ESM_CLASSES


def receipt_view(pdu: P.Pdu) -> Callable[[str], Any]:
    """Lookup of a receipt's fields: the parsed text (id, stat, err...), its TLVs and the PDU's fields."""
    parsed: dict[str, Any] = {}
    try:
        parsed = parse_receipt_text(getattr(pdu, "short_message", b"") or pdu.tlv("message_payload", b""))
    except ValueError:
        pass
    derived: dict[str, Any] = {"intermediate": bool(getattr(pdu, "esm_class", 0) & 0x20)}
    state = pdu.tlv("message_state")
    if state is not None:
        derived["state"] = MessageState(state).name
    elif "stat" in parsed:
        derived["state"] = state_from_stat(parsed["stat"]).name
    tlv_id = pdu.tlv("receipted_message_id")
    if tlv_id is not None or "id" in parsed:
        derived["message_id"] = tlv_id if tlv_id is not None else parsed["id"]

    def get(key: str) -> Any:
        if key in derived:
            return derived[key]
        if key in parsed and key != "text":
            return parsed[key]
        if key == "text" and "text" in parsed:
            return parsed["text"]
        return pdu_field(pdu, key)

    return get


class _Lookup(Mapping[str, Any]):
    """A lookup function as a read-only mapping (for `save` paths and reports)."""

    def __init__(self, get: Callable[[str], Any], keys: Iterable[str] = ()) -> None:
        self._get = get
        self._keys = list(keys)

    def __getitem__(self, key: str) -> Any:
        return self._get(key)

    def __iter__(self) -> Any:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class EsmeActor:
    """One of our ESMEs: binds, sends requests, and keeps what the SMSC delivers for expect_receipt/expect_mo."""

    def __init__(self, name: str, spec: S.Actor, target: Target, variables: S.Variables) -> None:
        self.name = name
        self.spec = spec
        self.target = target
        self.client: SyncEsme | None = None
        self.inbox: list[P.Pdu] = []
        self.system_id = variables.expand(spec.system_id) if spec.system_id else target.default_account[0]
        self.password = variables.expand(spec.password) if spec.password is not None else (
            target.default_account[1] if self.system_id == target.default_account[0] else ""
        )

    def bind(self, mode: str, system_id: str | None = None, password: str | None = None, interface_version: int | None = None) -> P.Pdu:
        """Connect (again if needed) and bind; returns the bind response (any status)."""
        self.close()
        self.client = SyncEsme(self.target.host, self.target.port)
        status = parse_status(self.spec.deliver_status)
        self.client.client.deliver_status = lambda pdu: status
        return self.client.bind(
            mode,
            system_id or self.system_id,
            self.password if password is None else password,
            system_type=self.spec.system_type,
            interface_version=interface_version or self.spec.interface_version,
            check=False,
        )

    def request(self, pdu: P.Pdu) -> P.Pdu:
        """Send a request, return its response (any status)."""
        if self.client is None:
            raise StepFailed(f"actor {self.name} bound", "it is not connected (bind: manual needs a bind step)")
        return self.client.request(pdu, check=False)

    def send(self, pdu: P.Pdu) -> int:
        """Send a request without waiting for its response (which, if it comes, is dropped); its sequence number."""
        if self.client is None or self.client.client.is_closed:
            raise StepFailed(f"actor {self.name} connected", "it is not connected")
        client = self.client.client
        if not client.session.can_send_request():
            window = client.session.config.window
            raise StepFailed(f"room in {self.name}'s window to send", f"its window of {window} is full of unanswered requests (lost responses?)")

        async def send() -> int:
            future = await client.send_request(pdu)
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a lost connection is no error here
            return next((seq for seq, waiter in client._waiters.items() if waiter is future), 0)

        return self.client._call(send())

    def wait_closed(self, timeout: float) -> bool:
        """True once the connection is gone (the SMSC closed, reset or half-closed it), waiting up to timeout."""
        if self.client is None:
            raise StepFailed(f"{self.name}'s connection closed by the SMSC", "it was not connected (never bound, or ended by our own unbind)")
        deadline = time.monotonic() + timeout
        while self.client is not None and not self.client.client.is_closed:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def take(self, predicate: Callable[[P.Pdu], bool], timeout: float) -> P.Pdu | None:
        """The first received PDU matching predicate (removed from the inbox), waiting up to timeout; None if none."""
        deadline = time.monotonic() + timeout
        while True:
            for i, pdu in enumerate(self.inbox):
                if predicate(pdu):
                    return self.inbox.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.client is None:
                return None
            try:
                self.inbox.append(self.client.next_message(remaining))
            except (TimeoutError, ConnectionError):
                pass

    def close(self) -> None:
        """Unbind and close."""
        if self.client is not None:
            self.client.close()
            self.client = None


class GatewayActor:
    """The gateway under test: its HTTP request templates, its webhook receiver, optionally a Kannel we start."""

    def __init__(self, name: str, spec: S.Actor) -> None:
        self.name = name
        self.spec = spec
        self.webhook: Any = None
        self.kannel: Any = None
        self._run_dir: str | None = None
        self.variables: dict[str, Any] = {}

    def start(self, target: Target, variables: S.Variables) -> None:
        """Start the webhook receiver, then Kannel when asked; fill the actor's variables."""
        if self.spec.webhook is not None:
            from .webhook import WebhookReceiver

            self.webhook = WebhookReceiver(status=self.spec.webhook.status, body=self.spec.webhook.body).start()
            self.variables["webhook_url"] = self.webhook.url("/").rstrip("/")
        variables[self.name] = self.variables
        if self.webhook is not None and "webhook" not in variables:
            variables["webhook"] = {"url": self.variables["webhook_url"]}
        self.variables.update(variables.expand(self.spec.vars))
        if self.spec.start == "kannel":
            from .kannel import KannelGateway

            options = variables.expand(self.spec.options)
            system_id = options.pop("system_id", target.default_account[0])
            password = options.pop("password", target.default_account[1])
            self._run_dir = tempfile.mkdtemp(prefix=f"scenario-{self.name}-")
            self.kannel = KannelGateway(target.host, target.port, system_id, password, Path(self._run_dir), **options)
            self.kannel.start()
            self.variables.update(self.kannel.variables())

    def stop(self) -> None:
        """Stop Kannel and the webhook receiver."""
        if self.kannel is not None:
            self.kannel.stop()
        if self.webhook is not None:
            self.webhook.stop()
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The outcome of one scenario (variant) run."""

    scenario: S.Scenario
    variant: str | None
    duration: float
    failure: ScenarioFailure | None = None

    @property
    def passed(self) -> bool:
        """True when nothing failed."""
        return self.failure is None

    @property
    def name(self) -> str:
        """'name' or 'name[variant]'."""
        return self.scenario.name + (f"[{self.variant}]" if self.variant else "")


def _faker(seed: int) -> Any:
    from faker import Faker

    from ..network.fakers import SmscProvider

    fake = Faker()
    fake.add_provider(SmscProvider)
    fake.seed_instance(seed)
    return fake


def scenario_variables(scenario: S.Scenario, variant: S.Variant | None) -> S.Variables:
    """The variables a run starts with: seed, scenario, variant, then `vars` and the variant's, expanded in order."""
    variables = S.Variables({"seed": scenario.seed, "scenario": scenario.name, "variant": variant.id if variant else ""}, _faker(scenario.seed))
    for name, value in {**scenario.vars, **(variant.vars if variant else {})}.items():
        variables[name] = variables.expand(value)
    return variables


class ScenarioRun:
    """One run of a scenario (one variant) against a target."""

    def __init__(self, scenario: S.Scenario, variant: S.Variant | None = None, target: Target | None = None) -> None:
        self.scenario = scenario
        self.variant = variant
        self.target = target if target is not None else LocalTarget(scenario)
        self.variables = scenario_variables(scenario, variant)
        self.esmes: dict[str, EsmeActor] = {}
        self.gateways: dict[str, GatewayActor] = {}
        self._stage = "(setup)"
        self._concat_ref = 0

    def execute(self) -> RunResult:
        """Run setup, stages, finally steps and the teardown check; never raises for a scenario failure."""
        started = time.monotonic()
        failure: ScenarioFailure | None = None
        try:
            failure = self._guarded(self._setup, self.scenario.line, "setup")
            if failure is None:
                for stage in self.scenario.stages:
                    self._stage = stage.name
                    failure = self._run_steps(stage.steps)
                    if failure is not None:
                        break
            self._stage = "finally"
            finally_failure = self._run_steps(self.scenario.finally_, keep_going=True)
            failure = failure or finally_failure
            if failure is None:
                self._stage = "(teardown)"
                failure = self._guarded(self._check_problems, self.scenario.line, "teardown check")
        finally:
            self._teardown()
        return RunResult(self.scenario, self.variant.id if self.variant else None, time.monotonic() - started, failure)

    def _run_steps(self, steps: list[S.Step], keep_going: bool = False) -> ScenarioFailure | None:
        first: ScenarioFailure | None = None
        for step in steps:
            failure = self._guarded(lambda s=step: self._step(s), step.line, step.keyword + (f" ({step.name})" if step.name else ""))
            if failure is not None:
                first = first or failure
                if not keep_going:
                    break
        return first

    def _guarded(self, action: Callable[[], Any], line: int, what: str) -> ScenarioFailure | None:
        try:
            action()
            return None
        except StepFailed as exc:
            return self._failure(line, what, exc.expected, exc.observed)
        except S.VariableError as exc:
            return self._failure(line, what, "variables that exist", str(exc))
        except MoError as exc:
            return self._failure(line, what, "the network to route the MO", f"refused: {exc}")
        except (AssertionError, ConnectionError, TimeoutError, OSError, ValueError, KeyError, TypeError, ImportError, RuntimeError) as exc:
            return self._failure(line, what, "the step to run", f"{type(exc).__name__}: {exc}")

    def _failure(self, line: int, what: str, expected: str, observed: str) -> ScenarioFailure:
        return ScenarioFailure(
            source=self.scenario.source,
            line=line,
            scenario=self.scenario.name,
            variant=self.variant.id if self.variant else None,
            stage=self._stage,
            step=what,
            expected=expected,
            observed=observed,
            seed=self.target.seed,
            last_pdus=self.target.tail(10),
        )

    # --- setup and teardown --------------------------------------------------------------------

    def _setup(self) -> None:
        target = self.target
        target.start()
        system_id, password = target.default_account
        self.variables["smsc"] = {
            "host": target.host,
            "port": target.port,
            "address": f"{target.host}:{target.port}",
            "system_id": system_id,
            "password": password,
        }
        for name, spec in self.scenario.actors.items():
            if spec.kind == "esme":
                actor = self.esmes[name] = EsmeActor(name, spec, target, self.variables)
                self.variables[name] = {"system_id": actor.system_id, "password": actor.password}
                if spec.bind != "manual":
                    _check_status(actor.bind(spec.bind), "ESME_ROK", f"actor {name} bound as {spec.bind}")
        for name, spec in self.scenario.actors.items():
            if spec.kind == "gateway":
                gateway = self.gateways[name] = GatewayActor(name, spec)
                gateway.start(target, self.variables)

    def _check_problems(self) -> None:
        problems = self.target.problems()
        if problems:
            raise StepFailed("nothing left unnoticed at the end", "\n".join(f"- {p}" for p in problems))

    def _teardown(self) -> None:
        for actor in self.esmes.values():
            try:
                actor.close()
            except Exception:  # noqa: BLE001 - teardown must reach the simulator
                pass
        for gateway in self.gateways.values():
            try:
                gateway.stop()
            except Exception:  # noqa: BLE001
                pass
        self.target.stop()

    # --- steps ---------------------------------------------------------------------------------

    def _step(self, step: S.Step) -> None:
        timeout = step.timeout or DEFAULT_TIMEOUT
        result = getattr(self, f"_do_{step.keyword}")(step.body, timeout if step.timeout else None)
        for name, path in step.save.items():
            try:
                self.variables[name] = S.lookup(result, path) if path else result
            except (S.VariableError, KeyError) as exc:
                raise StepFailed(f"a value at {path!r} to save as {name!r}", str(exc).strip("'\"")) from None

    def _esme(self, name: str) -> EsmeActor:
        name = self.variables.expand(name)
        if name not in self.esmes:
            raise StepFailed(f"an esme actor {name!r}", f"actors: {', '.join(self.esmes) or 'none'}")
        return self.esmes[name]

    def _gateway(self, name: str | None) -> GatewayActor:
        if name is None:
            if len(self.gateways) != 1:
                raise StepFailed("one gateway actor (or `actor:`)", f"gateways: {', '.join(self.gateways) or 'none'}")
            return next(iter(self.gateways.values()))
        if name not in self.gateways:
            raise StepFailed(f"a gateway actor {name!r}", f"gateways: {', '.join(self.gateways) or 'none'}")
        return self.gateways[name]

    def _expand_matchers(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {k: S.to_matcher(self.variables.expand(v)) for k, v in fields.items()}

    def _do_bind(self, body: S.Bind, timeout: float | None) -> P.Pdu:
        actor = self._esme(body.actor)
        system_id = self.variables.expand(body.system_id) if body.system_id else None
        password = self.variables.expand(body.password) if body.password is not None else None
        response = actor.bind(body.mode, system_id, password, body.interface_version)
        _check_status(response, body.expect_status, f"bind_{body.mode}_resp")
        return response

    def _do_unbind(self, body: str, timeout: float | None) -> None:
        self._esme(body).close()

    def _do_submit(self, body: S.Submit, timeout: float | None) -> Mapping[str, Any]:
        actor = self._esme(body.actor)
        responses: list[P.Pdu] = []
        expected = "ESME_ROK" if body.expect_status is None else body.expect_status
        statuses = expected if isinstance(expected, list) else [expected] * body.repeat
        if not body.wait:  # send only: the responses (or their absence) are in the SMSC's log
            sent = [actor.send(pdu) for _ in range(body.repeat) for pdu in self._build_pdus(body)]
            return {"sent": len(sent), "sequence_numbers": sent, "message_ids": [], "statuses": []}
        for attempt in range(body.repeat):
            for pdu in self._build_pdus(body):
                response = actor.request(pdu)
                responses.append(response)
                _check_status(response, self.variables.expand(statuses[attempt]), f"{response.command_name} #{attempt + 1}" if body.repeat > 1 else response.command_name)
        last = responses[-1]
        ids = [r.message_id for r in responses if getattr(r, "message_id", "")]
        extra = {"message_ids": ids, "responses": responses, "statuses": [status_name(r.command_status) for r in responses]}
        return _Lookup(lambda key: extra[key] if key in extra else pdu_field(last, key), ["message_ids", "statuses"])

    def _build_pdus(self, body: S.Submit) -> list[P.Pdu]:
        cls = S.PDU_CLASSES[body.pdu]
        defaults = {f: getattr(cls(), f) for f in cls.__dataclass_fields__}
        kwargs: dict[str, Any] = {}
        tlvs: list[Tlv] = []
        for key, raw in self.variables.expand(body.fields).items():
            if key in defaults:
                kwargs[key] = _coerce_field(key, raw, defaults[key])
            else:
                spec = TLV_BY_NAME[key]
                tlvs.append(Tlv(spec.tag, tlv_value(spec, raw)))
        if body.text is None:
            return [cls(**kwargs, tlvs=tuple(tlvs))]
        text = str(self.variables.expand(body.text))
        alphabet = self.target.default_alphabet
        split = self.variables.expand(body.split)
        if split not in S.SPLITS:
            raise StepFailed(f"split one of {', '.join(S.SPLITS)}", repr(split))
        if "short_message" not in defaults or split == "payload":
            data_coding, octets = encode_text(text, alphabet)
            if "data_coding" in defaults:
                kwargs.setdefault("data_coding", data_coding)
            return [cls(**kwargs, tlvs=(*tlvs, Tlv(TLV_BY_NAME["message_payload"].tag, octets)))]
        self._concat_ref = (self._concat_ref % 255) + 1
        parts = split_text(text, self._concat_ref, alphabet)
        if len(parts) > 1 and split in ("auto", "none"):
            raise StepFailed(
                "text that fits one short_message", f"it needs {len(parts)} parts: set split: udh, sar or payload"
            )
        pdus = []
        for seq, (esm_class, data_coding, octets) in enumerate(parts, start=1):
            fields = dict(kwargs)
            fields.setdefault("data_coding", data_coding)
            extra = list(tlvs)
            if split == "sar" and len(parts) > 1:
                octets = parse_udh(octets)[1]
                extra += [
                    Tlv(TLV_BY_NAME["sar_msg_ref_num"].tag, self._concat_ref),
                    Tlv(TLV_BY_NAME["sar_total_segments"].tag, len(parts)),
                    Tlv(TLV_BY_NAME["sar_segment_seqnum"].tag, seq),
                ]
            elif esm_class:
                fields["esm_class"] = fields.get("esm_class", 0) | esm_class
            pdus.append(cls(**fields, short_message=octets, tlvs=tuple(extra)))
        return pdus

    def _do_mo(self, body: S.Mo, timeout: float | None) -> dict[str, Any]:
        source, destination, text = (str(self.variables.expand(v)) for v in (body.source, body.destination, body.text))
        try:
            parts = self.target.inject_mo(source, destination, text, body.wait, timeout or DEFAULT_TIMEOUT)
        except MoError as exc:
            if body.expect_error is not None and value_matches(str(exc), S.to_matcher({"regex": body.expect_error})):
                return {"error": str(exc), "parts": 0}
            raise
        if body.expect_error is not None:
            raise StepFailed(f"the network to refuse the MO ({body.expect_error!r})", f"it was accepted in {parts} part(s)")
        return {"parts": parts, "error": None}

    def _do_handset(self, body: S.Handset, timeout: float | None) -> dict[str, Any]:
        state = self.variables.expand(body.state)
        if state not in S.HANDSET_STATES:
            raise StepFailed(f"a handset state ({', '.join(S.HANDSET_STATES)})", repr(state))
        return {"released": self.target.set_handset(str(self.variables.expand(body.number)), state)}

    def _do_advance(self, body: str | float, timeout: float | None) -> dict[str, Any]:
        if not self.target.virtual:
            raise StepFailed("a virtual clock to advance", "the simulator runs on real time (use `wait`)")
        return {"fired": self.target.advance(parse_duration(body))}

    def _do_wait(self, body: float, timeout: float | None) -> None:
        time.sleep(body)

    def _do_http(self, body: S.Http, timeout: float | None) -> HttpResponse:
        gateway = self._gateway(body.actor)
        template = gateway.spec.http.get(body.request)
        if template is None:
            raise StepFailed(f"a request template {body.request!r}", f"{gateway.name} has: {', '.join(gateway.spec.http) or 'none'}")
        scope = S.Variables({**self.variables.values, **self.variables.expand(body.params)}, self.variables.faker)
        try:
            response = call_template(template, scope, timeout)
        except OSError as exc:
            raise StepFailed(f"{template.method} {scope.expand(template.url)} answered", f"connection failed: {exc}") from None
        wanted = body.expect_status if body.expect_status is not None else template.expect_status
        if wanted is not None and not value_matches(response.status, S.to_matcher(self.variables.expand(wanted))):
            raise StepFailed(f"HTTP status {describe(S.to_matcher(wanted))}", f"HTTP {response.status}: {response.body[:500]}")
        return response

    def _do_fault(self, body: dict[str, Any], timeout: float | None) -> None:
        envelope = self.variables.expand(body)
        try:
            FaultSpec.from_mapping(envelope)
        except FieldError as exc:  # a {variable} made it wrong: it was checked when the file was read otherwise
            raise StepFailed("a valid fault rule", f"{exc.field}: {exc}") from None
        self.target.add_fault(envelope)

    def _do_reset(self, body: bool, timeout: float | None) -> None:
        if body:
            self.target.reset()

    def _do_disconnect(self, body: S.Disconnect, timeout: float | None) -> dict[str, Any]:
        return {"closed": self.target.disconnect(body.account)}

    # --- expectations --------------------------------------------------------------------------

    def _do_expect_pdu(self, body: S.ExpectPdu, timeout: float | None) -> PduView:
        note = S.to_matcher(self.variables.expand(body.note)) if body.note is not None else None
        return self.target.wait_pdu(body.command, body.direction, self._expand_matchers(body.fields), timeout or DEFAULT_TIMEOUT, note)

    def _do_expect_no_pdu(self, body: S.ExpectPdu, timeout: float | None) -> None:
        wanted = self._expand_matchers(body.fields)
        note = S.to_matcher(self.variables.expand(body.note)) if body.note is not None else None
        target = self.target
        found = unclaimed_within(
            target.entries, lambda e: _entry_matches(e, body.command, wanted, body.direction, note), target.claimed, target.wait_change, body.within
        )
        if found:
            raise StepFailed(f"no {_pdu_what(body.command, body.direction, wanted, note)}", "\n".join(e.describe() for e in found[:10]))

    def _do_expect_closed(self, body: str, timeout: float | None) -> dict[str, Any]:
        actor = self._esme(body)
        waited = timeout or DEFAULT_TIMEOUT
        if not actor.wait_closed(waited):
            raise StepFailed(f"{actor.name}'s connection closed by the SMSC", f"still open after {waited:g} s")
        return {"closed": True}

    def _expect_delivery(self, body: S.ExpectDelivery, timeout: float | None, receipt: bool) -> Mapping[str, Any]:
        actor = self._esme(body.actor)
        wanted = normalise_pdu_expectations(self._expand_matchers(body.fields))
        kind = "receipt" if receipt else "MO"

        def view(pdu: P.Pdu) -> Callable[[str], Any]:
            return receipt_view(pdu) if receipt else (lambda key: pdu_field(pdu, key))

        def wanted_kind(pdu: P.Pdu) -> bool:
            return pdu.command_name in ("deliver_sm", "data_sm") and is_receipt(pdu) == receipt

        found = actor.take(lambda pdu: wanted_kind(pdu) and not mismatches(view(pdu), wanted), timeout or DEFAULT_TIMEOUT)
        if found is None:
            others = [p for p in actor.inbox if wanted_kind(p)]
            lines = [f"no matching {kind} at {actor.name} within {timeout or DEFAULT_TIMEOUT:g} s"]
            for pdu in others[-5:]:
                lines.append(f"  {pdu.command_name} {_short_pdu(pdu)}")
                lines.extend(f"      {problem}" for problem in mismatches(view(pdu), wanted))
            raise StepFailed(f"a {kind} at {actor.name} with {_expectations(wanted)}", "\n".join(lines))
        keys = ["message_id", "stat", "err", "id", "text", "source_addr", "destination_addr"] if receipt else ["text", "source_addr", "destination_addr"]
        return _Lookup(view(found), keys)

    def _do_expect_receipt(self, body: S.ExpectDelivery, timeout: float | None) -> Mapping[str, Any]:
        return self._expect_delivery(body, timeout, receipt=True)

    def _do_expect_mo(self, body: S.ExpectDelivery, timeout: float | None) -> Mapping[str, Any]:
        return self._expect_delivery(body, timeout, receipt=False)

    def _do_expect_webhook(self, body: S.ExpectWebhook, timeout: float | None) -> Any:
        gateway = self._gateway(body.actor)
        if gateway.webhook is None:
            raise StepFailed(f"a webhook receiver on {gateway.name}", "the actor declares no `webhook:`")
        path = S.to_matcher(self.variables.expand(body.path)) if body.path is not None else None
        try:
            return gateway.webhook.wait_for(path, method=body.method, timeout=timeout or DEFAULT_TIMEOUT, **self._expand_matchers(body.params))
        except AssertionError as exc:
            wanted = {"path": path, "method": body.method, **body.params}
            raise StepFailed(f"a webhook call with {_expectations({k: v for k, v in wanted.items() if v is not None})}", str(exc)) from None

    def _poll(self, read: Callable[[], Any], check: Callable[[Any], list[str]], timeout: float | None, fallback: float) -> tuple[Any, list[str]]:
        """Read and check until the check passes or the timeout ends; the last reading and its problems."""
        deadline = time.monotonic() + (timeout or fallback)
        while True:
            value = read()
            problems = check(value)
            if not problems or time.monotonic() >= deadline:
                return value, problems
            self.target.wait_change(min(0.05, max(0.0, deadline - time.monotonic())))

    def _do_expect_balance(self, body: S.ExpectBalance, timeout: float | None) -> dict[str, Any]:
        account = self.variables.expand(body.account) if body.account else self.target.default_account[0]
        wanted = S.to_matcher(self.variables.expand(body.credits))
        value, problems = self._poll(
            lambda: self.target.balance(account, body.country),
            lambda v: [] if value_matches(v, wanted) else ["no"],
            timeout,
            STATE_TIMEOUT,
        )
        if problems:
            where = f" for {body.country}" if body.country else ""
            raise StepFailed(f"{account}'s credits{where} {describe(wanted)}", "unlimited" if value is None else str(value))
        return {"credits": value}

    def _do_expect_message(self, body: S.ExpectMessage, timeout: float | None) -> dict[str, Any]:
        message_id = str(self.variables.expand(body.id))
        wanted = self._expand_matchers(body.fields)
        if isinstance(wanted.get("state"), int):
            wanted["state"] = MessageState(wanted["state"]).name

        def check(detail: dict[str, Any] | None) -> list[str]:
            if detail is None:
                return [f"no message {message_id!r}"]
            return mismatches(lambda key: _dotted(detail, key), wanted)

        detail, problems = self._poll(lambda: self.target.message(message_id), check, timeout, STATE_TIMEOUT)
        if problems:
            timeline = "" if detail is None else "\ntimeline: " + ", ".join(f"{t['state']}{'(' + t['note'] + ')' if t['note'] else ''}" for t in detail.get("timeline", []))
            raise StepFailed(f"message {message_id} with {_expectations(wanted)}", "\n".join(problems) + timeline)
        return detail or {}

    def _do_expect_count(self, body: S.ExpectCount, timeout: float | None) -> dict[str, Any]:
        wanted_count = S.to_matcher(self.variables.expand(body.count))
        if body.of == "pdus":
            wanted = self._expand_matchers(body.fields)
            note = S.to_matcher(self.variables.expand(body.note)) if body.note is not None else None
            what = _pdu_what(body.command, body.direction, wanted, note)

            def count() -> int:
                return sum(1 for e in self.target.entries() if _entry_matches(e, body.command, wanted, body.direction, note))
        else:
            gateway = self._gateway(body.actor)
            params = self._expand_matchers(body.params)
            path = S.to_matcher(self.variables.expand(body.path)) if body.path is not None else None
            what = f"webhook calls to {gateway.name} with {_expectations({'path': path, **params})}"

            def count() -> int:
                hook = gateway.webhook
                return sum(
                    1
                    for r in (hook.requests if hook else [])
                    if (path is None or value_matches(r.path, path))
                    and (body.method is None or r.method.upper() == body.method.upper())
                    and not mismatches(r.lookup, params)
                )

        value, problems = self._poll(count, lambda n: [] if value_matches(n, wanted_count) else ["no"], None, body.within or 0.0)
        if problems:
            raise StepFailed(f"{describe(wanted_count)} {what}", f"{value}")
        return {"count": value}

    def _do_expect_value(self, body: S.ExpectValue, timeout: float | None) -> Any:
        value = self.variables.expand(body.value)
        wanted = S.to_matcher(self.variables.expand(body.matches))
        problems = mismatches(value, wanted) if isinstance(value, Mapping) and isinstance(wanted, Mapping) else []
        if problems or not value_matches(value, wanted):
            shown = "\n".join(problems) or repr(value)
            raise StepFailed(f"{body.value!r} {describe(wanted)}", shown)
        return value

    def _do_expect_conformance(self, body: S.ExpectConformance, timeout: float | None) -> dict[str, Any]:
        options = body.options()
        if "system_id" in options:
            options["system_id"] = str(self.variables.expand(options["system_id"]))
        try:
            report = self.target.conformance(options)
        except ValueError as exc:  # e.g. checks: [enquire_link] with no interval given nor configured
            raise StepFailed("conformance options that fit the simulator", str(exc)) from None
        if not report["passed"]:
            who = f"{options['system_id']}'s sessions" if "system_id" in options else "every session"
            raise StepFailed(f"{who} conformant ({', '.join(report['checks'])})", report["report"])
        return report


def _dotted(detail: Mapping[str, Any], key: str) -> Any:
    try:
        return S.lookup(detail, key)
    except S.VariableError:
        raise KeyError(key) from None


def _short_pdu(pdu: P.Pdu) -> str:
    parts = [f"{name}={getattr(pdu, name)}" for name in ("source_addr", "destination_addr") if getattr(pdu, name, "")]
    text = getattr(pdu, "short_message", b"")
    if text:
        parts.append(f"short_message={bytes(text)[:60]!r}")
    return " ".join(parts)


def _check_status(response: P.Pdu, expected: Any, what: str) -> None:
    wanted = S.status_matcher(expected)
    if not value_matches(response.command_status, wanted):
        shown = status_name(wanted) if isinstance(wanted, int) else describe(wanted)
        fields = ", ".join(f"{k}={v!r}" for k, v in response.fields().items() if v not in ("", 0, ()))
        raise StepFailed(
            f"{what} with status {shown}",
            f"{response.command_name} status {status_name(response.command_status)} (0x{response.command_status:08X})"
            + (f", {fields}" if fields else ""),
        )


def _coerce_field(name: str, value: Any, default: Any) -> Any:
    """A YAML value as the PDU field's type (given by its default)."""
    if isinstance(default, bytes):
        return value.encode("latin-1") if isinstance(value, str) else bytes(value)
    if isinstance(default, bool) or not isinstance(default, (int, str, tuple)):
        return value
    if isinstance(default, int):
        return int(value, 0) if isinstance(value, str) else int(value)
    if isinstance(default, str):
        return str(value)
    if name == "dest_addresses":
        return tuple(_address(v) for v in value)
    return tuple(value)


def _address(value: Any) -> P.SmeAddress | P.DistributionList:
    """A submit_multi destination: '+336...' (international), {ton, npi, address} or {dl_name}."""
    if isinstance(value, Mapping) and "dl_name" in value:
        return P.DistributionList(str(value["dl_name"]))
    if isinstance(value, Mapping):
        return P.SmeAddress(int(value.get("ton", 1)), int(value.get("npi", 1)), str(value["address"]))
    return P.SmeAddress(1, 1, str(value))


def run_scenario(scenario: S.Scenario, variant: S.Variant | None = None, target: Target | None = None) -> RunResult:
    """Run one scenario variant (in process unless a target is given)."""
    return ScenarioRun(scenario, variant, target).execute()


def run_file(path: str | Path, *, target_factory: Callable[[S.Scenario], Target] | None = None) -> list[RunResult]:
    """Run every scenario and variant of a file."""
    results = []
    for scenario in S.load_scenarios(path):
        for variant in scenario.variants:
            target = target_factory(scenario) if target_factory else None
            results.append(run_scenario(scenario, variant, target))
    return results


__all__ = [
    "LocalTarget",
    "RemoteTarget",
    "RunResult",
    "ScenarioFailure",
    "ScenarioRun",
    "StepFailed",
    "Target",
    "http_call",
    "run_file",
    "run_scenario",
]
