"""The control API: the simulator's state and levers as JSON over HTTP, described by openapi.yaml.

It runs on the SMSC's own event loop and calls the server directly (the server is not thread-safe),
so every handler here is synchronous and quick.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from ..clock import ScaledClock, VirtualClock
from ..config import ConfigError, FieldError, config_from_mapping
from ..faults import FaultRule, FaultSpec
from ..matching import pdu_text
from ..network.handsets import HandsetState
from ..network.messages import Message
from ..network.network import AccountState, MoError
from ..network.profile import builtin_profiles
from ..network.rules import parse_duration
from ..server import SmscServer
from ..smpp.constants import CommandId, MessageState, parse_status
from ..traffic import IN, OUT
from .http import HttpError, HttpServer, Request, Response, Router, reject_unknown, take

DEFAULT_PORT = 8775
MESSAGES_LIMIT = 100
PDUS_LIMIT = 1000
MAX_LIMIT = 100_000
COMMANDS = frozenset(CommandId.__members__) | {"any"}


def iso(timestamp: float | None) -> str | None:
    """A clock time as ISO 8601 UTC, to the millisecond."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds")


def message_summary(message: Message) -> dict[str, Any]:
    """What a message list shows of one message."""
    route = message.route
    text = route.text if route is not None and isinstance(route.text, str) else pdu_text(message.pdu)
    return {
        "message_id": message.message_id,
        "account": message.system_id,
        "state": message.state.name,
        "error_code": message.error_code,
        "source": message.source_addr,
        "destination": message.destination_addr,
        "submitted_at": message.submitted_at,
        "final_at": message.final_at,
        "text": text,
    }


def message_detail(message: Message) -> dict[str, Any]:
    """One message in full: its route through the network and its timeline."""
    route = message.route
    destination = route.destination if route is not None else None
    detail = message_summary(message)
    detail.update(
        command=message.pdu.command_name,
        destinations=list(message.destinations) or [message.destination_addr],
        rule=message.rule,
        route=None
        if route is None
        else {
            "operator": destination.operator if destination is not None else None,
            "country": destination.country if destination is not None else None,
            "number_type": destination.number_type if destination is not None else None,
            "price": route.price,
            "segments": route.segments,
            "sender_replaced": route.sender_replaced,
            "concatenated": route.concatenated,
        },
        timeline=[
            {"at": t.at, "iso": iso(t.at), "state": t.state.name, "kind": t.kind, "note": t.note}
            for t in message.transitions()
        ],
    )
    return detail


def query_int(request: Request, name: str, default: int, minimum: int = 0, maximum: int = MAX_LIMIT) -> int:
    """An integer query parameter within bounds; 400 naming it otherwise."""
    text = request.arg(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise HttpError(400, f"query parameter {name!r} must be an integer, not {text!r}", field=name) from None
    if not minimum <= value <= maximum:
        raise HttpError(400, f"query parameter {name!r} must be between {minimum} and {maximum}", field=name)
    return value


def check_query(request: Request, known: set[str]) -> None:
    """400 naming the first query parameter this endpoint does not know."""
    for name in request.query:
        if name not in known:
            raise HttpError(400, f"unknown query parameter {name!r}; expected {', '.join(sorted(known))}", field=name)


def duration(body: dict[str, Any], name: str, default: float | None = None) -> float:
    """A duration field given as seconds or a string such as '2s', '5m', '48h'; 400 naming it otherwise."""
    if name not in body and default is not None:
        return default
    value = take(body, name, (int, float, str), "a duration (seconds, or a string such as '2s', '5m', '48h')")
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise HttpError(400, f"field {name!r}: {exc}", field=name) from None


class ControlApi:
    """The HTTP control API of one SmscServer; start() it on the server's event loop."""

    def __init__(self, server: SmscServer) -> None:
        self.server = server
        self.router = Router()
        for method, pattern, handler in (
            ("GET", "/healthz", self.healthz),
            ("GET", "/readyz", self.readyz),
            ("GET", "/sessions", self.list_sessions),
            ("DELETE", "/sessions/{id}", self.disconnect_session),
            ("GET", "/messages", self.list_messages),
            ("GET", "/messages/{id}", self.get_message),
            ("POST", "/mo", self.inject_mo),
            ("GET", "/handsets", self.list_handsets),
            ("GET", "/handsets/{number}", self.get_handset),
            ("PUT", "/handsets/{number}", self.set_handset),
            ("GET", "/clock", self.get_clock),
            ("POST", "/clock/advance", self.advance_clock),
            ("GET", "/accounts", self.list_accounts),
            ("GET", "/accounts/{system_id}/credits", self.get_credits),
            ("POST", "/accounts/{system_id}/top-up", self.top_up),
            ("GET", "/stats", self.get_stats),
            ("GET", "/throttles", self.get_throttles),
            ("POST", "/reset", self.reset),
            ("GET", "/pdus", self.list_pdus),
            ("GET", "/conformance", self.get_conformance),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/faults/fired", self.list_fired),
            ("GET", "/faults/{id}", self.get_fault),
            ("DELETE", "/faults/{id}", self.delete_fault),
        ):
            self.router.add(method, pattern, handler)
        self.http = HttpServer(self.router)

    async def start(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> tuple[str, int]:
        """Listen on host:port (0 picks a free port); return the bound address."""
        return await self.http.start(host, port)

    async def stop(self) -> None:
        """Stop listening and close the API's connections."""
        await self.http.stop()

    # --- health ------------------------------------------------------------------------------

    def healthz(self, request: Request) -> dict[str, Any]:
        """The process is alive and its event loop answers."""
        return {"status": "ok"}

    def readyz(self, request: Request) -> Response:
        """200 once the SMPP listener is up and the network loaded; 503 otherwise."""
        try:
            host, port = self.server.address
        except (RuntimeError, IndexError):  # not started, or closing (no sockets left)
            return Response(503, {"ready": False, "reason": "the SMPP listener is not up"})
        return Response(200, {"ready": True, "smpp": f"{host}:{port}", "network": self.server.network.profile.name})

    # --- sessions ----------------------------------------------------------------------------

    def list_sessions(self, request: Request) -> dict[str, Any]:
        """Every open SMPP connection."""
        return {"sessions": self.server.sessions()}

    def disconnect_session(self, request: Request) -> dict[str, Any]:
        """Close one SMPP connection (no unbind: the gateway sees the link drop)."""
        text = request.params["id"]
        closed = self.server.disconnect(session_id=int(text)) if text.isdigit() else 0
        if not closed:
            raise HttpError(404, f"no open session {text}")
        return {"closed": closed}

    # --- messages ----------------------------------------------------------------------------

    def list_messages(self, request: Request) -> dict[str, Any]:
        """Stored MT messages, filtered; the newest `limit`, oldest first."""
        check_query(request, {"number", "account", "state", "limit"})
        state = request.arg("state")
        if state is not None and state.upper() not in MessageState.__members__:
            names = ", ".join(MessageState.__members__)
            raise HttpError(400, f"unknown state {state!r}; use one of {names}", field="state")
        limit = query_int(request, "limit", MESSAGES_LIMIT, minimum=1)
        found = self.server.store.search(number=request.arg("number"), account=request.arg("account"), state=state)
        return {"total": len(found), "messages": [message_summary(m) for m in found[-limit:]]}

    def _message(self, message_id: str) -> Message:
        # The store answers per account (what query_sm sees); the API sees every account's messages.
        for account in self.server.config.accounts:
            message = self.server.store.get(message_id, account.system_id)
            if message is not None:
                return message
        raise HttpError(404, f"no message {message_id!r}")

    def get_message(self, request: Request) -> dict[str, Any]:
        """One message with its route and timeline."""
        return message_detail(self._message(request.params["id"]))

    # --- MO and handsets ---------------------------------------------------------------------

    def inject_mo(self, request: Request) -> Response:
        """A handset sends text to a service number; the owning account gets deliver_sm (queued, not awaited)."""
        body = request.json_object()
        reject_unknown(body, {"source", "destination", "text"})
        source = take(body, "source", str, "a string (the handset's E.164 number)")
        destination = take(body, "destination", str, "a string (a service number)")
        text = take(body, "text", str, "a string")
        try:
            parts = self.server.inject_mo(source, destination, text)
        except MoError as exc:
            raise HttpError(422, str(exc)) from None
        return Response(202, {"source": source, "destination": destination, "parts": len(parts)})

    def _number(self, request: Request) -> str:
        # Handsets are known by E.164 with '+'; URLs often drop it. The open network keeps numbers as submitted.
        number = request.params["number"]
        if number.isdigit() and not self.server.network.profile.open_routing:
            return "+" + number
        return number

    def list_handsets(self, request: Request) -> dict[str, Any]:
        """Every handset not in the default 'on' state."""
        return {"handsets": {number: state.value for number, state in self.server.network.handsets.states().items()}}

    def get_handset(self, request: Request) -> dict[str, Any]:
        """A handset's state ('on' unless set)."""
        number = self._number(request)
        return {"number": number, "state": self.server.network.handsets.state(number).value}

    def set_handset(self, request: Request) -> dict[str, Any]:
        """Change a handset's state; messages waiting for it go out when it is back on."""
        body = request.json_object()
        reject_unknown(body, {"state"})
        states = [s.value for s in HandsetState]
        state = take(body, "state", str, f"one of {', '.join(states)}")
        if state not in states:
            raise HttpError(400, f"unknown handset state {state!r}; use one of {', '.join(states)}", field="state")
        number = self._number(request)
        previous = self.server.network.handsets.state(number).value
        released = self.server.set_handset(number, state)
        return {"number": number, "state": state, "previous": previous, "released": released}

    # --- clock -------------------------------------------------------------------------------

    def get_clock(self, request: Request) -> dict[str, Any]:
        """The network clock: time, kind and scheduled events."""
        clock = self.server.clock
        kind = "virtual" if isinstance(clock, VirtualClock) else "scaled" if isinstance(clock, ScaledClock) else "real"
        now = clock.now()
        due = clock.next_due()
        return {
            "now": now,
            "iso": iso(now),
            "kind": kind,
            "factor": clock.factor if isinstance(clock, ScaledClock) else None,
            "pending": clock.pending(),
            "next_due": due,
        }

    def advance_clock(self, request: Request) -> dict[str, Any]:
        """Move a virtual clock forward, firing every event due on the way; 409 on a real clock."""
        body = request.json_object()
        reject_unknown(body, {"by"})
        seconds = duration(body, "by")
        try:
            fired = self.server.advance(seconds)
        except TypeError as exc:
            raise HttpError(409, str(exc)) from None
        now = self.server.clock.now()
        return {"now": now, "iso": iso(now), "advanced": seconds, "fired": fired}

    # --- accounts and credits ----------------------------------------------------------------

    def _account(self, request: Request) -> AccountState:
        system_id = request.params["system_id"]
        state = self.server.network.accounts.get(system_id)
        if state is None:
            raise HttpError(404, f"no account {system_id!r}")
        return state

    def list_accounts(self, request: Request) -> dict[str, Any]:
        """Every account with its balance, binds and queued deliveries."""
        server = self.server
        return {
            "accounts": [
                {
                    "system_id": system_id,
                    "balance": state.credits.balance,
                    "unlimited": state.credits.balance is None,
                    "bound": len(server.bound_connections(system_id)),
                    "queued_deliveries": server.queued_deliveries(system_id),
                    "opted_out": sorted(state.opted_out),
                }
                for system_id, state in server.network.accounts.items()
            ]
        }

    def get_credits(self, request: Request) -> dict[str, Any]:
        """An account's credits: balance, country bundles, purchases and usage (available for ?country=)."""
        check_query(request, {"country"})
        state = self._account(request)
        credits = state.credits
        now = self.server.clock.now()
        country = request.arg("country")
        return {
            "system_id": credits.system_id,
            "balance": credits.balance,
            "unlimited": credits.balance is None,
            "country": country,
            "available": credits.available(country.upper() if country else None, now),
            "bundles": [
                {"country": b.country, "credits": b.credits, "expires_at": b.expires_at, "usable": b.usable(b.country, now)}
                for b in credits.bundles
            ],
            "purchases": [{"at": at, "price": price, "credits": added} for at, price, added in state.purchases],
            "statistics": credits.statistics(),
        }

    def top_up(self, request: Request) -> dict[str, Any]:
        """Buy one of the profile's bundles ({"price": 10}) or add credits outright ({"credits": 500})."""
        state = self._account(request)
        body = request.json_object()
        reject_unknown(body, {"price", "credits"})
        if ("price" in body) == ("credits" in body):
            raise HttpError(400, "give exactly one of 'price' (buy a bundle) or 'credits' (add them outright)")
        if state.credits.balance is None:
            raise HttpError(422, f"{state.credits.system_id} has unlimited credits")
        now = self.server.clock.now()
        if "price" in body:
            price = take(body, "price", (int, float), "a number (a bundle's price)")
            try:
                added = self.server.network.top_up(state.credits.system_id, price, now)
            except ValueError as exc:
                raise HttpError(422, str(exc)) from None
        else:
            added = take(body, "credits", int, "a whole number of credits")
            if added < 1:
                raise HttpError(400, "field 'credits' must be at least 1", field="credits")
            state.credits.credit(added, now, "top-up")
        return {"system_id": state.credits.system_id, "added": added, "balance": state.credits.balance}

    # --- stats, reset ------------------------------------------------------------------------

    def get_throttles(self, request: Request) -> dict[str, Any]:
        """Every throttle layer with its counters per key, and the trips (the latest `limit`) with their clock times."""
        check_query(request, {"limit"})
        return self.server.throttle_report(query_int(request, "limit", 100))

    def get_stats(self, request: Request) -> dict[str, Any]:
        """Server counters, sessions, stored messages by state and scheduled events."""
        server = self.server
        by_state = Counter(m.state.name for m in server.store.all())
        return {
            "server": asdict(server.stats),
            "sessions": len(server.sessions()),
            "messages": len(server.store),
            "messages_forgotten": server.store.forgotten,
            "messages_by_state": dict(by_state),
            "queued_deliveries": sum(server.queued_deliveries(a.system_id) for a in server.config.accounts),
            "pending_events": server.clock.pending(),
            "fault_rules": len(server.faults.rules),
            "faults_fired": server.faults.fired_total,
        }

    def reset(self, request: Request) -> dict[str, Any]:
        """Forget messages, events, queued deliveries, credits, handsets, rules and the PDU log; sessions stay bound.

        With a body {"config": {...}} the simulator runs with that configuration from now on, and every
        session is closed first (it bound under the old one).
        """
        if not request.body.strip():
            self.server.reset()
            return {"reset": True}
        body = request.json_object()
        reject_unknown(body, {"config"})
        document = take(body, "config", dict, "an object (a server configuration, as in its YAML file)")
        network = document.get("network", "default")
        if isinstance(network, str) and network not in builtin_profiles():
            # A path would let any client of the API make the simulator read (and quote) files of its machine.
            raise HttpError(400, f"network: {network!r} is not a built-in profile ({', '.join(builtin_profiles())}); send the profile itself as an object", field="config.network")
        try:
            config, profile = config_from_mapping(document, "POST /reset config")
            closed = self.server.reconfigure(config, profile)
        except ConfigError as exc:
            where = f"config.{exc.key}" if exc.key and exc.key != "(top level)" else "config"
            raise HttpError(400, str(exc), field=where) from None
        except ValueError as exc:
            raise HttpError(400, str(exc), field="config.smsc.pdu_log") from None
        return {"reset": True, "reconfigured": True, "sessions_closed": closed}

    # --- PDU log -----------------------------------------------------------------------------

    def list_pdus(self, request: Request) -> dict[str, Any]:
        """Logged PDUs after index `since`, oldest first, at most `limit`; next_since continues from there."""
        check_query(request, {"since", "command", "direction", "limit"})
        log = self.server.pdu_log
        if log is None:
            raise HttpError(409, "the PDU log is disabled (smsc.pdu_log: 0)")
        since = query_int(request, "since", 0, maximum=2**62)
        limit = query_int(request, "limit", PDUS_LIMIT, minimum=1)
        direction = request.arg("direction")
        if direction not in (None, IN, OUT):
            raise HttpError(400, f"direction must be {IN!r} (to the SMSC) or {OUT!r} (from it)", field="direction")
        command = request.arg("command")
        commands = tuple(c.strip() for c in command.split(",")) if command else None
        for name in commands or ():
            if name not in COMMANDS:
                raise HttpError(400, f"unknown command {name!r}", field="command")
        entries = log.find(commands, direction, since)[:limit]
        return {"pdus": [e.to_dict() for e in entries], "next_since": entries[-1].index if entries else since}

    def get_conformance(self, request: Request) -> dict[str, Any]:
        """The gateway's conformance report over the PDU log (simulator/conformance.py); its options as query parameters."""
        from ..conformance import check_log_conformance  # late: keeps this module's imports as they were

        lists, durations, numbers = ("checks", "throttle_statuses"), ("throttle_backoff", "enquire_link_interval", "enquire_link_tolerance", "unanswered_timeout"), ("window", "deliver_response_ms")
        check_query(request, {*lists, *durations, *numbers, "account", "receipts_on"})
        log = self.server.pdu_log
        if log is None:
            raise HttpError(409, "the PDU log is disabled (smsc.pdu_log: 0)")
        options: dict[str, Any] = {}
        for name in request.query:
            text = request.arg(name) or ""
            try:
                if name in lists:
                    items = [item.strip() for item in text.split(",") if item.strip()]
                    options[name] = [parse_status(i) for i in items] if name == "throttle_statuses" else items
                elif name in durations:
                    options[name] = parse_duration(text)
                elif name == "window":
                    options[name] = int(text)
                elif name in numbers:
                    options[name] = float(text)
                else:
                    options["system_id" if name == "account" else name] = text
            except ValueError as exc:
                raise HttpError(400, f"query parameter {name!r}: {exc}", field=name) from None
        try:
            report = check_log_conformance(log, self.server.config, **options)
        except (ValueError, KeyError) as exc:
            named = str(exc).strip("'\"").split(":", 1)[0]
            named = "account" if named == "system_id" else named
            raise HttpError(400, str(exc).strip("'\""), field=named if named in request.query else None) from None
        return report.to_dict()

    # --- fault rules -------------------------------------------------------------------------

    def list_faults(self, request: Request) -> dict[str, Any]:
        """The installed fault rules (reply rules and expectations too) with their counters."""
        check_query(request, set())
        faults = self.server.faults
        return {"rules": [rule.to_dict() for rule in faults.rules], "fired_total": faults.fired_total}

    def add_fault(self, request: Request) -> Response:
        """Install a fault rule (the envelope of simulator/faults.py) after the existing ones; 201 with its id."""
        body = request.json_object()
        try:
            spec = FaultSpec.from_mapping(body)
        except FieldError as exc:
            raise HttpError(400, f"field '{exc.field}': {exc}", field=exc.field) from None
        rule = self.server.faults.add(spec, self.server.clock.now())
        return Response(201, rule.to_dict())

    def clear_faults(self, request: Request) -> dict[str, Any]:
        """Remove every fault rule (the configuration's too) and forget what fired."""
        count = len(self.server.faults.rules)
        self.server.faults.clear()
        return {"deleted": count}

    def list_fired(self, request: Request) -> dict[str, Any]:
        """The latest firings, oldest first (`rule` filters by rule id, `limit` keeps the last ones)."""
        check_query(request, {"rule", "limit"})
        limit = query_int(request, "limit", PDUS_LIMIT)
        rule = query_int(request, "rule", 0, minimum=1, maximum=2**63) if request.arg("rule") is not None else None
        fired = [f for f in self.server.faults.fired if rule is None or f.rule == rule]
        fired = fired[-limit:] if limit else []
        return {"fired": [{**f.to_dict(), "at": iso(f.at)} for f in fired], "fired_total": self.server.faults.fired_total}

    def _rule(self, request: Request) -> FaultRule:
        text = request.params["id"]
        for rule in self.server.faults.rules:
            if str(rule.id) == text:
                return rule
        raise HttpError(404, f"no rule {text}")

    def get_fault(self, request: Request) -> dict[str, Any]:
        """One fault rule."""
        return self._rule(request).to_dict()

    def delete_fault(self, request: Request) -> dict[str, Any]:
        """Remove a fault rule."""
        rule = self._rule(request)
        self.server.faults.remove(rule.id)
        return {"deleted": rule.id}
