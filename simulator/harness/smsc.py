"""SimulatedSmsc: an in-process simulator for tests, with the API the pytest fixture `smsc` exposes.

It runs the real SMPP server on 127.0.0.1 (an ephemeral port) in a background thread, on a virtual
clock by default, and gives a test what it needs to drive and observe a gateway: the address and
credentials, waits on the PDU log (no sleeps), reply rules (`expect`), MO injection, handset states,
the clock, messages and their timelines, balances, and a teardown check that reports anything that
went wrong unnoticed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import yaml

from ..clock import Clock, VirtualClock, make_clock
from ..config import Account, ServerConfig, default_config, load_config, load_typed
from ..conformance import ConformanceReport, check_log_conformance
from ..faults import FaultAction, FaultFiring, FaultRule, FaultSpec
from ..matching import describe, normalise_pdu_expectations
from ..network.handsets import HandsetState
from ..network.messages import Message, Transition
from ..network.network import MoError
from ..network.rules import parse_duration
from ..server import ServerStats, SmscServer
from ..smpp import pdu as P
from ..smpp.constants import MessageState
from ..traffic import CLOSED, LoggedPdu, PduLog, SessionEvent
from .esme import AsyncEsme, SyncEsme
from .runner import ThreadedServer
from .waiting import claim_first, unclaimed_within

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0


class SmscError(AssertionError):
    """What the simulator saw differs from what the test expected; the message is the report."""


class _ErrorRecorder(logging.Handler):
    """Keeps ERROR records the simulator logs while a test runs (they fail the test at teardown)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


class SimClock:
    """The simulator's clock as a test sees it: read it, and advance it when it is virtual."""

    def __init__(self, smsc: SimulatedSmsc) -> None:
        self._smsc = smsc

    @property
    def virtual(self) -> bool:
        """True when only advance() moves time."""
        return isinstance(self._smsc.server.clock, VirtualClock)

    def now(self) -> float:
        """Seconds since the UNIX epoch on the simulator's clock."""
        return self._smsc.server.clock.now()

    def advance(self, duration: float | str) -> int:
        """Fast-forward a virtual clock ('2s', '48h', or seconds), firing every due event; returns how many fired.

        Returns once the PDUs those events produced are written to their sessions.
        """
        seconds = parse_duration(duration)
        fired = self._smsc.run(self._smsc.server.advance, seconds)
        self._smsc.run(lambda: None)  # deliveries flush in a call_soon queued before this one
        return fired


class SimFaults:
    """`smsc.faults`: install, list and remove fault rules, and read what fired (see simulator/faults.py)."""

    def __init__(self, smsc: SimulatedSmsc) -> None:
        self._smsc = smsc

    def add(self, on: str | list[str] = "any", do: Any = None, **envelope: Any) -> FaultRule:
        """Install a fault rule from the envelope's keys: add("submit_sm", nth=3, do={"status": "ESME_RSYSERR"})."""
        return self.install(FaultSpec.from_mapping({"on": on, "do": do, **envelope}))

    def install(self, spec: FaultSpec) -> FaultRule:
        """Install a rule from a ready spec; its time window starts now."""
        server = self._smsc.server
        return self._smsc.run(lambda: server.faults.add(spec, server.clock.now()))

    def remove(self, rule: FaultRule | int) -> bool:
        """Remove a rule (or its id); False when it was not installed."""
        rule_id = rule if isinstance(rule, int) else rule.id
        return self._smsc.run(self._smsc.server.faults.remove, rule_id)

    def clear(self) -> None:
        """Remove every rule, the configuration's too, and forget what fired."""
        self._smsc.run(self._smsc.server.faults.clear)

    @property
    def rules(self) -> list[FaultRule]:
        """The installed rules, in the order they apply."""
        return self._smsc.run(lambda: list(self._smsc.server.faults.rules))

    def fired(self, rule: FaultRule | int | None = None) -> list[FaultFiring]:
        """What fired, oldest first (only this rule's firings when given)."""
        rule_id = rule if isinstance(rule, int) or rule is None else rule.id
        firings = self._smsc.run(lambda: list(self._smsc.server.faults.fired))
        return [f for f in firings if rule_id is None or f.rule == rule_id]


def resolve_config(
    config: ServerConfig | str | Path | None = None,
    *,
    network: str | None = None,
    accounts: Iterable[Account | Mapping[str, Any]] | None = None,
    seed: int | None = None,
) -> ServerConfig:
    """A ServerConfig from a config object or file, with network, accounts and seed overridden when given."""
    if config is None:
        resolved = default_config()
    elif isinstance(config, ServerConfig):
        resolved = config
    else:
        resolved = load_config(config)
    changes: dict[str, Any] = {}
    if network is not None:
        changes["network"] = str(network)
    if accounts is not None:
        changes["accounts"] = [
            a if isinstance(a, Account) else load_typed(yaml.safe_dump(dict(a)), Account, f"accounts[{i}]")
            for i, a in enumerate(accounts)
        ]
    if seed is not None:
        changes["seed"] = seed
    return replace(resolved, **changes) if changes else resolved


def counter_problems(queued: Mapping[str, int], handler_errors: int, protocol_errors: int) -> list[str]:
    """What the server's counters say went wrong, for a teardown check in process or against a remote simulator."""
    found = [f"{count} deliver_sm/data_sm for {system_id} still queued: no receiver bind took them" for system_id, count in queued.items() if count]
    if handler_errors:
        found.append(f"{handler_errors} internal error(s) in the simulator")
    if protocol_errors:
        found.append(f"{protocol_errors} malformed PDU(s) received (answered generic_nack)")
    return found


class SimulatedSmsc:
    """A running simulator for one test: see the module docstring; use as a context manager or start()/stop()."""

    def __init__(
        self,
        config: ServerConfig | str | Path | None = None,
        *,
        network: str | None = None,
        clock: str | Clock = "virtual",
        seed: int | None = None,
        accounts: Iterable[Account | Mapping[str, Any]] | None = None,
        strict: bool = True,
        name: str = "smsc",
        port: int = 0,
    ) -> None:
        """port 0 (the default) picks a free ephemeral port on 127.0.0.1."""
        self.config = resolve_config(config, network=network, accounts=accounts, seed=seed)
        if not self.config.accounts:
            raise ValueError("the simulator needs at least one account for the gateway to bind with")
        if self.config.smsc.pdu_log == 0:
            self.config = replace(self.config, smsc=replace(self.config.smsc, pdu_log=10_000))
        self.name = name
        self.strict = strict
        self._clock = make_clock(clock) if isinstance(clock, str) else clock
        self._runner = ThreadedServer(self.config, clock=self._clock, seed=self.config.seed, port=port)
        self.clock = SimClock(self)
        self.faults = SimFaults(self)
        self._claimed: set[int] = set()
        self._errors = _ErrorRecorder()
        self._clients: list[SyncEsme] = []
        self._started = False

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> SimulatedSmsc:
        """Start listening; returns self."""
        logging.getLogger("simulator").addHandler(self._errors)
        self._runner.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Close our ESME clients and stop the server."""
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - a dead client must not keep the server up
                pass
        self._clients.clear()
        if self._started:
            self._runner.stop()
            self._started = False
        logging.getLogger("simulator").removeHandler(self._errors)

    def __enter__(self) -> SimulatedSmsc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server(self) -> SmscServer:
        """The SmscServer (not thread-safe: touch it through run() or call())."""
        assert self._runner.server is not None, "simulator not started"
        return self._runner.server

    def run(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run fn(*args) on the server's event loop and return its result."""
        return self._runner.run(fn, *args, timeout=timeout)

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's event loop and return its result."""
        return self._runner.call(coro, timeout)

    # --- what a gateway needs ----------------------------------------------------------------

    @property
    def host(self) -> str:
        """The SMPP listener's address (always 127.0.0.1 here)."""
        return self._runner.host

    @property
    def port(self) -> int:
        """The SMPP listener's port (ephemeral)."""
        return self._runner.port

    @property
    def address(self) -> str:
        """'host:port'."""
        return f"{self.host}:{self.port}"

    @property
    def account(self) -> Account:
        """The first account: the one a gateway binds with unless told otherwise."""
        return self.config.accounts[0]

    @property
    def system_id(self) -> str:
        """The first account's system_id."""
        return self.account.system_id

    @property
    def password(self) -> str:
        """The first account's password."""
        return self.account.password

    @property
    def seed(self) -> int:
        """The seed every random choice derives from."""
        return self.server.seed

    # --- the PDU log ---------------------------------------------------------------------------

    @property
    def pdu_log(self) -> PduLog:
        """Every PDU received and sent, in order."""
        log = self.server.pdu_log
        assert log is not None
        return log

    def pdus(self, command: str | tuple[str, ...] | None = None, *, direction: str | None = None, **fields: Any) -> list[LoggedPdu]:
        """Logged PDUs of a command (None: any), direction ('in' from the gateway, 'out' to it) and fields."""
        return self.pdu_log.find(command, direction, **fields)

    def wait_for(
        self,
        command: str | tuple[str, ...] | None = None,
        *,
        direction: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **fields: Any,
    ) -> LoggedPdu:
        """The first logged PDU matching command, direction and fields that no earlier wait_for returned.

        Waits up to `timeout` real seconds for it (on a condition, not a sleep); raises SmscError with
        the nearest candidates and the last PDUs exchanged when none comes.
        """
        wanted = normalise_pdu_expectations(fields)
        log = self.pdu_log
        with log.changed:
            entry = claim_first(log.entries, lambda e: e.matches(command, wanted, direction), self._claimed, log.changed.wait, timeout)
        if entry is None:
            raise SmscError(self._not_seen_report(command, direction, wanted, timeout))
        return entry

    async def wait_for_async(self, command: str | tuple[str, ...] | None = None, **kwargs: Any) -> LoggedPdu:
        """wait_for from an async test, without blocking its event loop."""
        return await asyncio.to_thread(self.wait_for, command, **kwargs)

    def assert_no_pdu(
        self, command: str | tuple[str, ...] | None = None, *, direction: str | None = None, within: float = 0.0, **fields: Any
    ) -> None:
        """Fail if a matching PDU not yet returned by wait_for is logged now or arrives within `within` real seconds."""
        wanted = normalise_pdu_expectations(fields)
        log = self.pdu_log
        with log.changed:
            found = unclaimed_within(log.entries, lambda e: e.matches(command, wanted, direction), self._claimed, log.changed.wait, within)
        if found:
            raise SmscError(
                f"expected no {_what(command, direction, wanted)}, but saw:\n"
                + "\n".join(f"  {e.describe()}" for e in found[:10])
                + self._context()
            )

    def _not_seen_report(self, command: Any, direction: str | None, wanted: Mapping[str, Any], timeout: float) -> str:
        lines = [f"no {_what(command, direction, wanted)} within {timeout:g} s"]
        candidates = [
            e for e in self.pdu_log.entries() if e.matches(command, {}, direction) and e.index not in self._claimed
        ]
        if candidates:
            lines.append("nearest candidates:")
            for entry in candidates[-5:]:
                lines.append(f"  {entry.describe()}")
                lines.extend(f"      {problem}" for problem in entry.mismatches(wanted))
        return "\n".join(lines) + self._context()

    def _context(self, count: int = 10) -> str:
        tail = self.pdu_log.tail(count)
        lines = [f"\nseed {self.config.seed}; last {len(tail)} PDUs:"] if tail else [f"\nseed {self.config.seed}; no PDUs exchanged"]
        lines.extend(f"  {entry.describe()}" for entry in tail)
        return "\n".join(lines)

    # --- reply rules ---------------------------------------------------------------------------

    def expect(
        self,
        command: str | tuple[str, ...] = "any",
        *,
        times: int | None = 1,
        ordered: bool = False,
        account: str | None = None,
        status: int | str | None = None,
        fields: Mapping[str, Any] | None = None,
        delay: float | str = 0.0,
        respond: bool = True,
        close: str | None = None,
        name: str = "",
        **match: Any,
    ) -> FaultRule:
        """Install a reply rule (a fault rule, simpler to write): requests matching command/account/match get this answer.

        With no status, fields, delay, respond=False or close it is a pure expectation. times=1 is
        one-shot, times=None permanent; ordered rules apply in the order they were added. Counted
        rules that never fired fail the test at teardown. `smsc.faults.add` takes the whole envelope.
        """
        action = FaultAction(
            status=status,
            fields=dict(fields or {}),
            delay=parse_duration(delay) or None,
            respond=respond,
            close=close,
        )
        spec = FaultSpec(
            on=[command] if isinstance(command, str) else list(command),
            do=action if action.changes_anything else None,
            match=match,
            account=account,
            times=times,
            ordered=ordered,
            name=name,
        )
        return self.faults.install(spec)

    def forget(self, rule: FaultRule) -> None:
        """Remove a reply or fault rule."""
        self.faults.remove(rule)

    # --- the network ---------------------------------------------------------------------------

    def inject_mo(
        self, source: str, destination: str, text: str, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> list[P.Pdu]:
        """A handset sends text to a service number; returns the gateway's deliver_sm_resp per part.

        With wait=False it returns at once (the parts may wait for a receiver bind: store and forward).
        Raises MoError when the network cannot route the MO.
        """

        async def send() -> list[P.Pdu]:
            futures = self.server.inject_mo(source, destination, text)
            if not wait:
                return []
            try:
                return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))
            except asyncio.TimeoutError:
                raise SmscError(
                    f"MO {source} -> {destination} not answered within {timeout:g} s: is a receiver or transceiver "
                    "of the number's owner bound? (pass wait=False to leave it queued)" + self._context()
                ) from None

        return self.call(send(), timeout + 5)

    def set_handset(self, number: str, state: HandsetState | str) -> int:
        """Switch a handset on/off/absent/barred...; returns how many waiting messages that released."""
        released = self.run(self.server.set_handset, number, state)
        self.run(lambda: None)
        return released

    def handset(self, number: str) -> HandsetState:
        """A handset's current state."""
        return self.run(self.server.network.handsets.state, number)

    def messages(self, *, number: str | None = None, account: str | None = None, state: MessageState | str | None = None) -> list[Message]:
        """Accepted MT messages, filtered by a number (either party), account and state."""
        return self.run(lambda: self.server.store.search(number=number, account=account, state=state))

    def message(self, message_id: str) -> Message:
        """One message by id (any account)."""
        found = self.run(self.server.store.lookup, message_id)
        if found is None:
            forgotten = self.server.store.forgotten
            note = f" ({forgotten} final messages were forgotten past smsc.message_store_limit)" if forgotten else ""
            raise SmscError(f"no message with id {message_id!r}{note}" + self._context())
        return found

    def timeline(self, message_id: str) -> list[Transition]:
        """A message's state changes and events, with clock times."""
        message = self.message(message_id)
        return self.run(lambda: list(message.transitions()))

    def balance(self, system_id: str | None = None, country: str | None = None) -> int | None:
        """An account's available credits (None: unlimited)."""
        sid = system_id or self.system_id
        return self.run(lambda: self.server.network.accounts[sid].credits.available(country, self.server.clock.now()))

    def top_up(self, price: float, system_id: str | None = None) -> int:
        """Buy the network's bundle of this price for an account; returns the credits added."""
        sid = system_id or self.system_id
        return self.run(lambda: self.server.network.top_up(sid, price, self.server.clock.now()))

    @property
    def stats(self) -> ServerStats:
        """The server's counters."""
        return self.run(lambda: replace(self.server.stats))

    def sessions(self) -> list[dict[str, Any]]:
        """Open connections: id, peer, system_id, bind_type, state."""
        return self.run(self.server.sessions)

    def bound(self, system_id: str | None = None) -> list[dict[str, Any]]:
        """Bound sessions, optionally of one account."""
        return [
            s
            for s in self.sessions()
            if s["state"].startswith("BOUND") and (system_id is None or s["system_id"] == system_id)
        ]

    def wait_bound(self, system_id: str | None = None, *, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` sessions (of the account, if given) are bound; returns them."""
        deadline = time.monotonic() + timeout
        log = self.pdu_log
        while True:
            found = self.bound(system_id)
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SmscError(f"{count} bound session(s) of {system_id or 'any account'} not seen within {timeout:g} s" + self._context())
            with log.changed:
                log.changed.wait(min(remaining, 0.05))

    def disconnect(self, system_id: str | None = None, session_id: int | None = None) -> int:
        """Drop TCP connections (all, an account's, or one session); returns how many."""
        return self.run(self.server.disconnect, session_id, system_id)

    def reset(self) -> None:
        """Forget messages, rules, credits spent, handset states and the PDU log; binds stay up."""
        self.run(self.server.reset)
        self._claimed.clear()

    # --- our own ESME --------------------------------------------------------------------------

    def esme(self, *, bind: str | None = "transceiver", system_id: str | None = None, password: str | None = None, **bind_fields: Any) -> SyncEsme:
        """A synchronous ESME of ours connected to this simulator (bound unless bind=None), closed at stop()."""
        client = SyncEsme(self.host, self.port)
        self._clients.append(client)
        if bind is not None:
            account = self.config.account(system_id) if system_id else self.account
            client.bind(
                bind,
                system_id or self.system_id,
                password if password is not None else (account.password if account else ""),
                **bind_fields,
            )
        return client

    async def async_esme(self, *, bind: str | None = "transceiver", system_id: str | None = None, password: str | None = None) -> AsyncEsme:
        """An asyncio ESME connected (and bound unless bind=None) on the caller's loop; the caller closes it."""
        client = await AsyncEsme.connect(self.host, self.port)
        if bind is not None:
            await client.bind(bind, system_id or self.system_id, password if password is not None else self.password)
        return client

    # --- teardown check ------------------------------------------------------------------------

    def problems(self, settle: float = 1.0) -> list[str]:
        """What went wrong unnoticed: unmet expectations, unanswered PDUs, errors in the server or from peers.

        Waits up to `settle` real seconds for responses still on their way.
        """
        found: list[str] = []
        deadline = time.monotonic() + settle

        def outstanding() -> list[str]:
            lines = []
            for conn in self.server.connections.values():
                for seq, delivery in conn.in_flight.items():
                    lines.append(f"session {conn.id}: {delivery.pdu.command_name} seq={seq} sent to {delivery.system_id} never answered")
            return lines

        unanswered = self.run(outstanding)
        while unanswered and time.monotonic() < deadline:
            with self.pdu_log.changed:
                self.pdu_log.changed.wait(0.05)
            unanswered = self.run(outstanding)
        found.extend(unanswered)
        for rule in self.run(self.server.faults.unmet):
            found.append(f"expectation never met: {rule.describe()}")
        queued = self.run(lambda: {a.system_id: self.server.queued_deliveries(a.system_id) for a in self.config.accounts})
        stats = self.stats
        found.extend(counter_problems(queued, stats.handler_errors, stats.protocol_errors if self.strict else 0))
        for record in self._errors.records:
            found.append(f"simulator logged {record.levelname}: {record.getMessage()}")
        return found

    def report(self, problems: list[str]) -> str:
        """The teardown failure text: the problems, the seed and the last PDUs."""
        return f"simulator {self.name} at {self.address}:\n" + "\n".join(f"- {p}" for p in problems) + self._context()

    # --- conformance of the gateway ------------------------------------------------------------

    def session_events(self, session: int | None = None) -> list[SessionEvent]:
        """When each connection opened and closed (closed_by 'peer' or 'smsc'), oldest first."""
        return self.pdu_log.session_events(session)

    def wait_closed(self, session: int | None = None, *, system_id: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> SessionEvent:
        """The close event of a session (by id; else the first of the account's, or of any), waiting up to `timeout` real seconds."""
        log = self.pdu_log

        def closed() -> SessionEvent | None:
            for event in log.session_events(session):
                if event.kind == CLOSED and (system_id is None or event.system_id == system_id):
                    return event
            return None

        with log.changed:
            event = log.changed.wait_for(closed, timeout)
        if event is None:
            which = f"session {session}" if session is not None else f"a session of {system_id}" if system_id else "a session"
            raise SmscError(f"{which} did not close within {timeout:g} s" + self._context())
        return event

    def conformance(self, **options: Any) -> ConformanceReport:
        """Check the gateway's traffic so far (simulator.conformance.check_conformance options; defaults from the config).

        Defaults: window: each account's window; enquire_link_interval: the SMSC's inactivity_timeout
        (unset: no enquire_link check); receipts_on unset: no segment_receipts check. Pass
        system_id= to look at one account's sessions only (e.g. not at our own ESMEs').
        """
        return check_log_conformance(self.pdu_log, self.config, **options)

    def assert_conformant(self, **options: Any) -> ConformanceReport:
        """conformance(**options), raising SmscError (an AssertionError) with the readable report on any violation."""
        report = self.conformance(**options)
        if not report.passed:
            raise SmscError(report.describe() + self._context())
        return report


def _what(command: Any, direction: str | None, wanted: Mapping[str, Any]) -> str:
    name = "PDU" if command is None else (command if isinstance(command, str) else "/".join(command))
    where = {"in": " from the peer", "out": " to the peer"}.get(direction or "", "")
    cond = ", ".join(f"{k} {describe(v)}" for k, v in wanted.items())
    return f"{name}{where}" + (f" with {cond}" if cond else "")


__all__ = ["MoError", "SimClock", "SimulatedSmsc", "SmscError", "resolve_config"]
