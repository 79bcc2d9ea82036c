"""Prepaid credit accounts: balances, per-country bundles with expiry, debits, rewards and usage statistics.

Pure bookkeeping; times are passed in (clock seconds), so a virtual clock can expire bundles.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

HISTORY_KEPT = 10_000  # credit ledger entries kept per account (the balance and usage totals count them all)


class InsufficientCredit(Exception):
    """The account cannot pay for this message."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"needs {needed} credits, {available} available")
        self.needed = needed
        self.available = available


@dataclass
class CountryBundle:
    """Credits usable only for one destination country, until an expiry time (None: never)."""

    country: str
    credits: int
    expires_at: float | None = None

    def usable(self, country: str | None, now: float) -> bool:
        """True when this bundle can pay for traffic to country at time now."""
        return self.credits > 0 and self.country == country and (self.expires_at is None or now < self.expires_at)


@dataclass
class Entry:
    """One movement of credits (negative: spent)."""

    at: float
    amount: int
    reason: str
    country: str | None = None
    number: str | None = None


@dataclass
class CreditAccount:
    """The credit balance of one account; balance None means unlimited (no credit checks)."""

    system_id: str
    balance: int | None = None
    bundles: list[CountryBundle] = field(default_factory=list)
    # The latest entries only: every priced MT adds one, and a load test sends millions.
    history: deque[Entry] = field(default_factory=lambda: deque(maxlen=HISTORY_KEPT))
    usage: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def available(self, country: str | None, now: float) -> int | None:
        """Credits that can pay for traffic to country now (None: unlimited)."""
        if self.balance is None:
            return None
        return self.balance + sum(b.credits for b in self.bundles if b.usable(country, now))

    def can_pay(self, amount: int, country: str | None, now: float) -> bool:
        """True when amount credits are available for country."""
        available = self.available(country, now)
        return available is None or available >= amount

    def debit(self, amount: int, now: float, reason: str, *, country: str | None = None, number: str | None = None) -> None:
        """Spend credits, country bundles first (soonest to expire first); raise InsufficientCredit."""
        if amount < 0:
            raise ValueError("debit amount must be positive")
        available = self.available(country, now)
        if available is not None and available < amount:
            raise InsufficientCredit(amount, available)
        remaining = amount
        if self.balance is not None:
            usable = [b for b in self.bundles if b.usable(country, now)]
            usable.sort(key=lambda b: float("inf") if b.expires_at is None else b.expires_at)
            for bundle in usable:
                taken = min(bundle.credits, remaining)
                bundle.credits -= taken
                remaining -= taken
                if not remaining:
                    break
            self.balance -= remaining
        self.history.append(Entry(now, -amount, reason, country, number))
        self.usage[("mt" if reason == "mt" else reason, country or "", number or "")] += amount

    def credit(self, amount: int, now: float, reason: str, *, country: str | None = None, number: str | None = None) -> None:
        """Add credits (top-up, premium reward, refund)."""
        if amount < 0:
            raise ValueError("credit amount must be positive")
        if self.balance is not None:
            self.balance += amount
        self.history.append(Entry(now, amount, reason, country, number))
        self.usage[(reason, country or "", number or "")] += amount

    def add_bundle(self, bundle: CountryBundle, now: float) -> None:
        """Add a per-country bundle."""
        self.bundles.append(bundle)
        self.history.append(Entry(now, bundle.credits, f"bundle {bundle.country}", bundle.country))

    def statistics(self) -> dict[str, dict[str, int]]:
        """Credits spent and earned per reason, per country and per number."""
        by_reason: Counter[str] = Counter()
        by_country: Counter[str] = Counter()
        by_number: Counter[str] = Counter()
        for (reason, country, number), amount in self.usage.items():
            by_reason[reason] += amount
            if country:
                by_country[country] += amount
            if number:
                by_number[number] += amount
        return {"by_reason": dict(by_reason), "by_country": dict(by_country), "by_number": dict(by_number)}
