"""Layered submit throttles: token buckets and sliding windows kept per scope key, and the trips they record.

Pure arithmetic on times passed in (the simulator's clock: virtual in tests, real under load); no I/O.
An account gets one ThrottleLayer per configured Throttle; a layer keeps one limiter per key of its
scope (the account, a bind, a sender, a short code, a destination operator). A message passes only
when every applicable layer has room for its cost (its segments, or 1 per PDU); then every layer is
charged, so a message refused by one layer costs nothing in the others. Every refusal is a Trip,
kept with its clock time in the network's TripLog.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Union

from ..config import Throttle

# Clock times are floats: 0.2 s at 5/s must make a whole token, and an event exactly one period
# old must have left the window, whatever the rounding of the additions that produced those times.
EPSILON = 1e-9


class _Limiter:
    """What TokenBucket and SlidingWindow share: allows() then consume(), or both at once with take()."""

    __slots__ = ("trips",)

    def allows(self, now: float, count: int = 1) -> bool:
        """True if count units may pass at time now."""
        raise NotImplementedError

    def consume(self, now: float, count: int = 1) -> None:
        """Charge count units at time now (after allows() said yes)."""
        raise NotImplementedError

    def fill(self, now: float) -> float:
        """How full the limit is at time now: 0.0 unused, 1.0 (or more, in debt) when the next unit would trip."""
        raise NotImplementedError

    def take(self, now: float, count: int = 1) -> bool:
        """Charge count units if they may pass now; False (a trip, counted) otherwise."""
        if self.allows(now, count):
            self.consume(now, count)
            return True
        self.trips += 1
        return False


class TokenBucket(_Limiter):
    """A rate limit: `rate` tokens per second, at most `burst` saved up.

    A cost larger than `burst` passes only when the bucket is full and leaves it in debt, so such a
    message is slowed down to the rate instead of being refused for ever.
    """

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now
        self.trips = 0

    def allows(self, now: float, count: int = 1) -> bool:
        """True if count tokens are there at time now (refilling first)."""
        if now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        return self.tokens >= min(count, self.burst) - EPSILON

    def consume(self, now: float, count: int = 1) -> None:
        """Spend count tokens (after allows() said yes)."""
        self.tokens -= count
        if -EPSILON < self.tokens < 0:
            self.tokens = 0.0

    def fill(self, now: float) -> float:
        """The share of the burst spent at time now (after refilling)."""
        self.allows(now, 0)
        return 1.0 - self.tokens / self.burst


class SlidingWindow(_Limiter):
    """A strict limit: at most `limit` units within any `period` seconds.

    A unit counted at time t leaves the window at t + period exactly (so with 5 per 1 s, five
    submits at t=0 let the sixth through at t=1.0, not before). A cost larger than `limit` passes
    only into an empty window.
    """

    __slots__ = ("limit", "period", "used", "events")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.used = 0
        self.events: deque[tuple[float, int]] = deque()
        self.trips = 0

    def allows(self, now: float, count: int = 1) -> bool:
        """True if count more units fit in the window ending at now."""
        events = self.events
        horizon = now - self.period + EPSILON
        while events and events[0][0] <= horizon:
            self.used -= events.popleft()[1]
        return self.used + count <= self.limit or self.used == 0

    def consume(self, now: float, count: int = 1) -> None:
        """Count count units at time now (after allows() said yes)."""
        self.events.append((now, count))
        self.used += count

    def fill(self, now: float) -> float:
        """The share of the limit used in the window ending at now."""
        self.allows(now, 0)
        return self.used / self.limit


Limiter = Union[TokenBucket, SlidingWindow]


def make_limiter(config: Throttle, now: float) -> Limiter:
    """A fresh limiter for one key of a throttle."""
    if config.window == "sliding_window":
        return SlidingWindow(config.limit or 1, config.period_seconds)
    return TokenBucket(config.rate, config.burst, now)


@dataclass(frozen=True, slots=True)
class Trip:
    """One refusal by a throttle (or the receive window): when, whose, which key, and the reaction."""

    at: float
    account: str
    scope: str  # a throttle scope, or "window" for the receive window
    key: str
    reaction: str  # a status name, delay, generic_nack or disconnect
    rule: str  # the throttle (or window) that tripped, described
    count: int = 1  # what the refused message would have cost (segments or 1)
    throttle: Throttle | None = None  # the config that tripped (None for the window)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (without the config object)."""
        out = asdict(self)
        out.pop("throttle")
        return out


class TripLog:
    """Every trip: totals by scope, account and reaction since the start, and the latest ones with their clock times."""

    def __init__(self, keep: int = 10_000) -> None:
        self.total = 0
        self.recent: deque[Trip] = deque(maxlen=keep)
        self.by_scope: Counter[str] = Counter()
        self.by_account: Counter[str] = Counter()
        self.by_reaction: Counter[str] = Counter()

    def record(self, trip: Trip) -> Trip:
        """Count a trip and keep it."""
        self.total += 1
        self.recent.append(trip)
        self.by_scope[trip.scope] += 1
        self.by_account[trip.account] += 1
        self.by_reaction[trip.reaction] += 1
        return trip

    def report(self, last: int = 100) -> dict[str, Any]:
        """Totals and the `last` latest trips, JSON-friendly."""
        recent = list(self.recent)[-last:] if last else []
        return {
            "total": self.total,
            "by_scope": dict(self.by_scope),
            "by_account": dict(self.by_account),
            "by_reaction": dict(self.by_reaction),
            "recent": [t.to_dict() for t in recent],
        }


class ThrottleLayer:
    """One configured throttle of one account: a limiter per key of its scope, created on first use."""

    def __init__(self, config: Throttle, origin: str, reaction: str) -> None:
        self.config = config
        self.scope = config.scope
        self.origin = origin  # where it was configured, for reports: "profile throttle", "account throttles[1]", ...
        self.reaction = reaction
        self.per_segment = config.count == "segments"
        self.only = frozenset(config.only)
        self.limiters: dict[str, Limiter] = {}
        self.trips = 0
        self.passed = 0

    def limiter(self, key: str, now: float) -> Limiter:
        """The limiter of this key."""
        limiter = self.limiters.get(key)
        if limiter is None:
            limiter = self.limiters[key] = make_limiter(self.config, now)
        return limiter

    def forget(self, key: str) -> None:
        """Drop the limiter of a key that will not come back (a closed bind), unless its trips are worth reporting."""
        limiter = self.limiters.get(key)
        if limiter is not None and not limiter.trips:
            del self.limiters[key]

    def report(self) -> dict[str, Any]:
        """This layer's configuration and counters, per key."""
        return {
            "origin": self.origin,
            "scope": self.scope,
            "throttle": self.config.describe(),
            "passed": self.passed,
            "trips": self.trips,
            "keys": {key: limiter.trips for key, limiter in self.limiters.items()},
        }


class AccountThrottles:
    """The throttle layers of one account, checked together for every message."""

    def __init__(self, system_id: str, layers: list[ThrottleLayer], log: TripLog) -> None:
        self.system_id = system_id
        self.layers = layers
        self.scopes = frozenset(layer.scope for layer in layers)
        self.log = log

    @property
    def trips(self) -> int:
        """Trips of every layer of this account."""
        return sum(layer.trips for layer in self.layers)

    def check(self, now: float, keys: Mapping[str, str | None], segments: int = 1) -> Trip | None:
        """Charge every applicable layer for one message, or none of them and return the first trip.

        keys maps a scope to this message's key in it; a scope whose key is None (no short code
        sender, an unknown operator) does not apply, nor does a key outside a layer's `only`.
        """
        charged: list[tuple[ThrottleLayer, Limiter, int]] = []
        for layer in self.layers:
            key = keys.get(layer.scope)
            if key is None or (layer.only and key not in layer.only):
                continue
            count = segments if layer.per_segment else 1
            limiter = layer.limiter(key, now)
            if not limiter.allows(now, count):
                limiter.trips += 1
                layer.trips += 1
                trip = Trip(now, self.system_id, layer.scope, key, layer.reaction, layer.config.describe(), count, layer.config)
                return self.log.record(trip)
            charged.append((layer, limiter, count))
        for layer, limiter, count in charged:
            limiter.consume(now, count)
            layer.passed += 1
        return None

    def fill(self, now: float, keys: Mapping[str, str | None]) -> float:
        """How full the fullest of the layers that apply to these keys is (0.0 when none has been used yet)."""
        fullest = 0.0
        for layer in self.layers:
            key = keys.get(layer.scope)
            limiter = layer.limiters.get(key) if key is not None else None
            if limiter is not None:
                fullest = max(fullest, limiter.fill(now))
        return fullest

    def forget(self, scope: str, key: str) -> None:
        """Drop the limiters of a key of one scope that will not come back (see ThrottleLayer.forget)."""
        for layer in self.layers:
            if layer.scope == scope:
                layer.forget(key)

    def report(self) -> list[dict[str, Any]]:
        """Every layer's report, tagged with the account."""
        return [{"account": self.system_id, **layer.report()} for layer in self.layers]


def account_throttles(
    system_id: str, configured: list[tuple[Throttle, str]], default_status: str, log: TripLog
) -> AccountThrottles | None:
    """The layers of an account from (throttle, origin) pairs, skipping those switched off; None when none is on."""
    layers = [ThrottleLayer(config, origin, config.reaction or default_status) for config, origin in configured if config.enabled]
    return AccountThrottles(system_id, layers, log) if layers else None
