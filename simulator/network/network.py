"""The carrier network: what happens to an MT at submit time, and where an MO goes.

Pure domain logic over the profile, the accounts, the numbering plan, encodings, credits and
handsets. The server asks `check_submit()` for every submit_sm/data_sm (and each submit_multi
destination) and gets either an accepted Route (price, segments, operator, decoded text) or a
Refusal carrying the command_status to answer; `receive_mo()` turns a handset's text into the
deliver_sm PDUs of the account owning the number it was sent to.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..config import Account
from ..smpp import pdu as P
from ..smpp.constants import CommandStatus as S
from ..smpp.constants import Npi, Ton, parse_status
from .credits import CountryBundle, CreditAccount, InsufficientCredit
from .encoding import (
    EncodingError,
    LogicalMessage,
    Reassembler,
    count_segments,
    dcs_alphabet,
    decode_text,
    encode_text,
    message_part_from_pdu,
    split_text,
)
from .handsets import Handsets
from .numbering import Address, AddressError, NumberingPlan
from .profile import NetworkProfile, ServiceNumber
from .throttles import AccountThrottles, TokenBucket, Trip, TripLog, account_throttles

__all__ = ["MoDelivery", "MoError", "Network", "Refusal", "Route", "TokenBucket"]


@dataclass
class Refusal:
    """A submit the network refuses: the status to answer and why."""

    status: int
    reason: str
    trip: Trip | None = None  # set when a throttle refused it: its reaction may be more than a status


@dataclass
class Route:
    """An accepted MT: where it goes, what it costs, and what it says."""

    source: Address | None
    destination: Address | None
    service_number: ServiceNumber | None
    segments: int
    price: int
    text: str | bytes | None
    sender_replaced: str | None = None
    concatenated: bool = False
    loopback: bool = False
    # False for a part of a concatenated message that did not complete it (the last part to arrive does).
    completes: bool = True


@dataclass
class MoDelivery:
    """The deliver_sm PDUs an MO becomes, for the account that owns the number."""

    system_id: str
    pdus: list[P.DeliverSm]
    opted_out: bool = False


def bind_key(session: int) -> str:
    """The key of a bind (its session id) in bind-scope throttles."""
    return f"bind {session}"


class MoError(ValueError):
    """An MO the network cannot route (unknown number, number that does not receive, ...)."""


@dataclass
class AccountState:
    """What the network keeps per account beyond its configuration."""

    account: Account
    credits: CreditAccount
    throttles: AccountThrottles | None = None  # None: no throttle applies (the fast path)
    opted_out: set[str] = field(default_factory=set)
    purchases: list[tuple[float, float, int]] = field(default_factory=list)


class Network:
    """The simulated carrier network."""

    def __init__(self, profile: NetworkProfile, accounts: list[Account], *, now: float = 0.0) -> None:
        self.profile = profile
        self.numbering = NumberingPlan(
            short_codes={n.number: n.country for n in profile.numbers if n.kind != "long_number" and n.country},
            ported=profile.ported,
            operator_aliases=profile.operator_aliases or None,
            require_plus=profile.require_plus,
        )
        self.handsets = Handsets()
        self._addresses: dict[tuple[str, str, int, int, str | None], Address | AddressError] = {}
        self.reassembler = Reassembler(
            max_parts=profile.max_parts, max_pending=10_000, default_alphabet=profile.default_alphabet
        )
        self.reassembled: deque[LogicalMessage] = deque(maxlen=10_000)
        self.accounts: dict[str, AccountState] = {}
        self._owner: dict[str, str] = {}
        self._mo_ref = 0
        self.throttle_trips = TripLog()
        for account in accounts:
            self.add_account(account, now)

    def add_account(self, account: Account, now: float = 0.0) -> AccountState:
        """Register an account: its credits, bundles and owned numbers."""
        credits = CreditAccount(account.system_id, account.credits)
        for bundle in account.country_credits:
            expires = None
            if bundle.expires:
                expires = datetime.fromisoformat(bundle.expires).replace(tzinfo=timezone.utc).timestamp()
            credits.add_bundle(CountryBundle(bundle.country, bundle.credits, expires), now)
        state = AccountState(account, credits, self._throttles_of(account))
        self.accounts[account.system_id] = state
        for number in account.numbers:
            self._owner.setdefault(number, account.system_id)
        return state

    def bind_closed(self, system_id: str, session: int) -> None:
        """A bind of the account closed: its bind-scope limiters go (kept only if they tripped, for the report),
        so a load test that reconnects for hours does not grow the throttles by one limiter per connection."""
        state = self.accounts.get(system_id)
        if state is not None and state.throttles is not None and "bind" in state.throttles.scopes:
            state.throttles.forget("bind", bind_key(session))

    def _throttles_of(self, account: Account) -> AccountThrottles | None:
        """The account's throttle layers: its single `throttle` (else the profile's), then its `throttles` (else the profile's)."""
        configured = []
        if account.throttle is not None:
            configured.append((account.throttle, "account throttle"))
        elif self.profile.throttle is not None:
            configured.append((self.profile.throttle, "profile throttle"))
        if account.throttles is not None:
            configured += [(t, f"account throttles[{i}]") for i, t in enumerate(account.throttles)]
        else:
            configured += [(t, f"profile throttles[{i}]") for i, t in enumerate(self.profile.throttles)]
        return account_throttles(account.system_id, configured, self.profile.statuses.throttled, self.throttle_trips)

    def throttle_report(self, last: int = 100) -> dict[str, object]:
        """Every throttle layer with its counters per key, and the trip log (totals and the latest trips)."""
        layers = [row for state in self.accounts.values() if state.throttles for row in state.throttles.report()]
        return {"throttles": layers, "trips": self.throttle_trips.report(last)}

    def throttle_fill(self, system_id: str, session: int | None, now: float) -> float:
        """How full the account's fullest account- or bind-scope throttle is (0.0 unthrottled, 1.0 when the next message would trip)."""
        state = self.accounts.get(system_id)
        if state is None or state.throttles is None:
            return 0.0
        return state.throttles.fill(now, {"account": system_id, "bind": None if session is None else bind_key(session)})

    def _throttle(
        self, throttles: AccountThrottles, now: float, keys: dict[str, str | None], segments: int
    ) -> Refusal | None:
        """Charge the account's throttles for one message; the Refusal of the first that trips, if any."""
        trip = throttles.check(now, keys, segments)
        if trip is None:
            return None
        config = trip.throttle
        status = self._status("throttled") if config is None or config.action != "status" else parse_status(trip.reaction)
        return Refusal(status, f"{trip.account} tripped {trip.rule} ({trip.scope} {trip.key})", trip)

    def _classify(self, role: str, addr: str, ton: int, npi: int, country: str | None) -> Address:
        """Classify an address, remembering the answer: phonenumbers costs ~100 us a parse."""
        key = (role, addr, ton, npi, country)
        cached = self._addresses.get(key)
        if cached is None:
            parse = self.numbering.parse_destination if role == "destination" else self.numbering.parse_source
            try:
                cached = parse(addr, ton, npi, account_country=country)
            except AddressError as exc:
                cached = exc
            if len(self._addresses) >= 100_000:
                self._addresses.clear()
            self._addresses[key] = cached
        if isinstance(cached, AddressError):
            raise cached
        return cached

    def port(self, number: str, operator: str) -> None:
        """Port a subscriber number (E.164 with '+') to another operator of the profile."""
        if operator not in {op.name for op in self.profile.operators}:
            raise ValueError(f"unknown operator {operator!r}")
        self.numbering.ported[number] = operator
        self._addresses.clear()

    def _status(self, name: str) -> int:
        return parse_status(getattr(self.profile.statuses, name))

    def _refuse(self, name: str, reason: str) -> Refusal:
        return Refusal(self._status(name), reason)

    # --- MT ----------------------------------------------------------------------------------

    def check_submit(
        self,
        system_id: str,
        pdu: P.Pdu,
        now: float,
        *,
        destination: tuple[int, int, str] | None = None,
        dry_run: bool = False,
        session: int | None = None,
        throttle: bool = True,
    ) -> Route | Refusal:
        """Apply the network's rules to one MT (submit_sm, data_sm, or one submit_multi destination).

        On acceptance the price is debited and, for a long message, the part is recorded for
        reassembly; nothing is changed on refusal, nor by a dry run (no throttle token, debit or part).
        session is the bind's id (key of bind-scope throttles); throttle=False skips the throttles
        (a request their `delay` reaction held is handled without tripping them again).
        """
        state = self.accounts.get(system_id)
        if state is None:
            return Refusal(S.ESME_RSYSERR, f"no network account for {system_id!r}")
        account = state.account
        profile = self.profile
        dest_ton, dest_npi, dest_addr = destination or (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)  # type: ignore[attr-defined]
        throttles = state.throttles if throttle and not dry_run else None
        if profile.open_routing:
            if not dest_addr:
                return Refusal(S.ESME_RINVDSTADR, "empty destination_addr")
            if throttles is not None:
                keys = {
                    "account": system_id,
                    "bind": None if session is None else bind_key(session),
                    "sender": pdu.source_addr or account.default_sender,  # type: ignore[attr-defined]
                    "short_code": pdu.source_addr if profile.number(pdu.source_addr) is not None else None,  # type: ignore[attr-defined]
                    "operator": None,  # open routing knows no operators
                }
                refusal = self._throttle(throttles, now, keys, _segments(pdu, profile.default_alphabet))
                if refusal is not None:
                    return refusal
            return Route(None, None, None, 1, 0, None)
        source_addr, source_ton, source_npi = pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi  # type: ignore[attr-defined]
        if not source_addr:
            # An empty source_addr asks for the SMSC default: the account's default sender.
            if not account.default_sender:
                return Refusal(S.ESME_RINVSRCADR, f"empty source_addr and {system_id} has no default_sender")
            source_addr, source_ton, source_npi = account.default_sender, Ton.ALPHANUMERIC, Npi.UNKNOWN
        try:
            dest = self._classify("destination", dest_addr, dest_ton, dest_npi, account.country)
            source = self._classify("source", source_addr, source_ton, source_npi, account.country)
        except AddressError as exc:
            return Refusal(exc.status, str(exc))
        if dest.kind != "e164":
            return Refusal(S.ESME_RINVDSTADR, f"{dest_addr!r} is a {dest.kind.replace('_', ' ')}, not a subscriber number")

        # Sender: an owned service number that sends, or an approved sender id.
        service = profile.number(source.e164 or source.raw) if source.kind != "alphanumeric" else None
        replaced = None
        if service is not None:
            if service.number not in account.numbers:
                return self._refuse("number_cannot_send", f"{service.number} does not belong to {system_id}")
            if not service.sends:
                return self._refuse("number_cannot_send", f"{service.number} only receives")
        else:
            sender_name = source.raw if source.kind == "alphanumeric" else (source.e164 or source.raw)
            approved = {s.name for s in account.senders if s.state == "enabled"}
            if sender_name not in approved:
                known = {s.name: s.state for s in account.senders}
                why = f"sender {sender_name!r} is {known.get(sender_name, 'not registered').replace('_', ' ')}"
                if profile.sender_policy == "replace" and account.default_sender:
                    replaced = account.default_sender
                else:
                    return self._refuse("sender_not_approved", why)

        # Reach: coverage, then the service number's country and operators.
        if "*" not in profile.coverage and dest.country not in profile.coverage:
            return self._refuse("out_of_coverage", f"{dest.e164} is in {dest.country}, outside coverage")
        if service is not None:
            if service.kind == "long_number":
                if service.countries and dest.country not in service.countries:
                    return self._refuse("operator_not_reachable", f"{service.number} does not reach {dest.country}")
            else:
                if dest.country != service.country:
                    return self._refuse("operator_not_reachable", f"{service.number} only reaches {service.country} numbers")
                if service.operators and dest.operator not in service.operators:
                    return self._refuse(
                        "operator_not_reachable",
                        f"{service.number} only reaches {', '.join(service.operators)} subscribers; {dest.e164} is on {dest.operator or 'an unknown operator'}",
                    )
        if dest.e164 in state.opted_out:
            return self._refuse("opted_out", f"{dest.e164} replied STOP to {system_id}")

        # Content: encoding, concatenation, segments.
        try:
            part = message_part_from_pdu(pdu)
            if part.total > 1 and account.fail_on_multipart:
                return self._refuse("multipart_refused", f"{system_id} does not accept multipart messages")
            if part.total > profile.max_parts:
                return self._refuse("too_many_parts", f"{part.total} parts, at most {profile.max_parts}")
            if part.total > 1:
                # A part alone may end inside an escape or surrogate pair: only its alphabet is
                # checked here, the text is decoded once the message is whole.
                dcs_alphabet(part.data_coding, profile.default_alphabet)
                segments, text = 1, None
            else:
                segments = count_segments(part.body, part.data_coding, profile.default_alphabet).segments
                if segments > profile.max_parts:
                    return self._refuse("too_many_parts", f"{segments} segments, at most {profile.max_parts}")
                text = decode_text(part.body, part.data_coding, profile.default_alphabet)
        except EncodingError as exc:
            return Refusal(exc.status, str(exc))

        if throttles is not None:
            keys = {
                "account": system_id,
                "bind": None if session is None else bind_key(session),
                "sender": service.number if service is not None else (replaced or sender_name),
                "short_code": service.number if service is not None and service.kind != "long_number" else None,
                "operator": dest.operator,
            }
            refusal = self._throttle(throttles, now, keys, segments)
            if refusal is not None:
                return refusal
        price = profile.mt_price(service) * segments
        if dry_run:
            if not state.credits.can_pay(price, dest.country, now):
                return self._refuse("insufficient_credit", f"{system_id} cannot pay {price} credits")
            return Route(source, dest, service, segments, price, text, sender_replaced=replaced, concatenated=part.total > 1)
        try:
            state.credits.debit(price, now, "mt", country=dest.country, number=service.number if service else None)
        except InsufficientCredit as exc:
            return self._refuse("insufficient_credit", f"{system_id} {exc}")
        completes = True
        if part.total > 1:
            key = (system_id, source.raw, dest.e164)
            try:
                whole = self.reassembler.add(key, part)
            except EncodingError as exc:
                state.credits.credit(price, now, "refund", country=dest.country)
                return Refusal(exc.status, str(exc))
            if whole is not None:
                self.reassembled.append(whole)
                text = whole.text
            else:
                completes = False
        return Route(
            source,
            dest,
            service,
            segments,
            price,
            text,
            sender_replaced=replaced,
            concatenated=part.total > 1,
            loopback=dest.e164 in profile.loopback_numbers,
            completes=completes,
        )

    def top_up(self, system_id: str, price: float, now: float) -> int:
        """Buy the profile's bundle of this price for the account; returns the credits added."""
        bundle = next((b for b in self.profile.bundles if b.price == price), None)
        if bundle is None:
            offers = ", ".join(f"{b.price:g} {self.profile.currency}" for b in self.profile.bundles) or "none"
            raise ValueError(f"no bundle at {price:g} {self.profile.currency} (offers: {offers})")
        state = self.accounts[system_id]
        state.credits.credit(bundle.credits, now, "purchase")
        state.purchases.append((now, bundle.price, bundle.credits))
        return bundle.credits

    def estimate(self, system_id: str, source: str, destination: str, text: str, now: float = 0.0) -> Route | Refusal:
        """Dry run: segments and price of a text without sending it or debiting anything."""
        data_coding, payload = encode_text(text, self.profile.default_alphabet)
        probe = P.SubmitSm(
            source_addr=source,
            destination_addr=destination,
            data_coding=data_coding,
            tlvs=(P.Tlv(0x0424, payload),),
        )
        return self.check_submit(system_id, probe, now, dry_run=True)

    # --- MO ----------------------------------------------------------------------------------

    def receive_mo(self, source: str, destination: str, text: str, now: float) -> MoDelivery:
        """A handset sends text to a service number: charge or reward the owner and build its deliver_sm PDUs."""
        service = self.profile.number(destination)
        if service is None:
            raise MoError(f"{destination} is not a service number of the {self.profile.name} profile")
        if not service.receives:
            raise MoError(f"{destination} does not receive messages")
        system_id = self._owner.get(service.number)
        if system_id is None:
            raise MoError(f"no account owns {destination}")
        try:
            handset = self.numbering.classify_e164(source)
        except AddressError as exc:
            raise MoError(str(exc)) from None
        if service.kind != "long_number" and handset.country != service.country:
            raise MoError(f"{source} ({handset.country}) cannot reach {service.country} number {destination}")
        if service.operators and handset.operator not in service.operators:
            raise MoError(f"{source} on {handset.operator or 'an unknown operator'} cannot reach {destination}")
        state = self.accounts[system_id]
        if service.reward:
            state.credits.credit(service.reward, now, "reward", country=handset.country, number=service.number)
        else:
            price = self.profile.default_mo_price if service.mo_price is None else service.mo_price
            try:
                state.credits.debit(price, now, "mo", country=handset.country, number=service.number)
            except InsufficientCredit as exc:
                raise MoError(f"{system_id} cannot pay for the MO: {exc}") from None
        opted_out = False
        if service.kind == "short_code" and text.strip().upper() in {w.upper() for w in self.profile.opt_out_words}:
            state.opted_out.add(handset.e164 or source)
            opted_out = True
        self._mo_ref = (self._mo_ref + 1) % 256
        pdus = [
            P.DeliverSm(
                source_addr_ton=Ton.INTERNATIONAL,
                source_addr_npi=Npi.ISDN,
                source_addr=(handset.e164 or source).lstrip("+"),
                dest_addr_ton=Ton.INTERNATIONAL if service.number.startswith("+") else Ton.NETWORK_SPECIFIC,
                dest_addr_npi=Npi.ISDN if service.number.startswith("+") else Npi.UNKNOWN,
                destination_addr=service.number.lstrip("+"),
                esm_class=esm_class,
                data_coding=data_coding,
                short_message=body,
            )
            for esm_class, data_coding, body in split_text(text, self._mo_ref, self.profile.default_alphabet)
        ]
        return MoDelivery(system_id, pdus, opted_out)

    def opt_in(self, system_id: str, number: str) -> None:
        """Undo an opt-out."""
        self.accounts[system_id].opted_out.discard(number)


def _segments(pdu: P.Pdu, default_alphabet: str) -> int:
    """Segments of an MT the open network does not otherwise decode (1 for a concatenated part or undecodable content)."""
    try:
        part = message_part_from_pdu(pdu)
        if part.total > 1:
            return 1
        return count_segments(part.body, part.data_coding, default_alphabet).segments
    except EncodingError:
        return 1
