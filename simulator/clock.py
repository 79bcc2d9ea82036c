"""Real and virtual clocks behind one interface, each with a scheduler of timed callbacks."""

from __future__ import annotations

import heapq
import itertools
import math
import time
from datetime import datetime, timezone
from typing import Callable

_heappush = heapq.heappush
_heappop = heapq.heappop


class ScheduledCall:
    """A callback due at a clock time; cancel() stops it from firing."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not fire this call."""
        self.cancelled = True


class Clock:
    """Seconds since an epoch, plus a scheduler; subclasses decide how time moves."""

    # At most this many calls fire per run_due(); the rest stay due for the next one. Clocks driven by
    # an event loop set it so that a burst of due calls (e.g. tens of thousands of receipts) is served
    # in slices of some tens of milliseconds with I/O in between, instead of stalling every connection
    # (and the GC policy's freezes) until the last one is done. Large enough that due receipts still
    # come before new requests when the server is overloaded.
    max_batch: int | None = None

    def __init__(self) -> None:
        # Heap of (when, order, call) tuples: compared in C, which matters with 100k pending calls.
        self._queue: list[tuple[float, int, ScheduledCall]] = []
        self._order = itertools.count()
        # Called with the due time whenever a call becomes the earliest one, so an event loop can
        # wake then (RealClock: on its wake grid, see seconds_until) instead of polling.
        self.on_earliest_changed: Callable[[float], None] | None = None

    def now(self) -> float:
        """Seconds on this clock (UNIX time for the real clock)."""
        raise NotImplementedError

    def utcnow(self) -> datetime:
        """The current moment as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def call_at(self, when: float, callback: Callable[[], None]) -> ScheduledCall:
        """Schedule callback at clock time when."""
        call = ScheduledCall(when, callback)
        queue = self._queue
        earliest = not queue or when < queue[0][0]
        _heappush(queue, (when, next(self._order), call))
        if earliest and self.on_earliest_changed is not None:
            self.on_earliest_changed(when)
        return call

    def call_later(self, delay: float, callback: Callable[[], None]) -> ScheduledCall:
        """Schedule callback delay seconds from now."""
        return self.call_at(self.now() + delay, callback)

    def next_due(self) -> float | None:
        """When the earliest pending call is due, or None."""
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def has_due(self) -> bool:
        """Whether a call is due now (run_due would fire it, or drop it if it was cancelled)."""
        queue = self._queue
        return bool(queue) and queue[0][0] <= self.now()

    def clear(self) -> None:
        """Cancel every scheduled call."""
        for _, _, call in self._queue:
            call.cancel()
        self._queue.clear()

    def pending(self) -> int:
        """How many calls are scheduled (cancelled ones included until they reach the front)."""
        return len(self._queue)

    def seconds_until(self, when: float) -> float:
        """Real seconds until this clock shows `when` (meaningless for a virtual clock, which only advance() moves)."""
        return max(0.0, when - self.now())

    def run_due(self) -> int:
        """Fire the calls due at the current time, in time order (at most max_batch of them); return how many fired."""
        fired = 0
        now = self.now()
        queue = self._queue
        limit = self.max_batch if self.max_batch is not None else -1
        while queue and queue[0][0] <= now and fired != limit:
            call = _heappop(queue)[2]
            if not call.cancelled:
                call.callback()
                fired += 1
        return fired


class RealClock(Clock):
    """Wall-clock time; the server polls run_due() from its event loop."""

    max_batch = 1024
    # An event loop that sleeps seconds_until(when) wakes on this grid (seconds), so calls due within
    # the same slot fire in one wake-up (and, e.g., their receipts leave in one write per connection)
    # instead of one wake-up each; a call fires at most this much after its time. 0: exact wake-ups.
    wake_granularity = 0.001

    def now(self) -> float:
        """UNIX time."""
        return time.time()

    def seconds_until(self, when: float) -> float:
        """Real seconds until the clock shows `when`, rounded up to the wake granularity's grid."""
        step = self.wake_granularity
        if step > 0 and math.isfinite(when):
            slot = math.ceil(when / step) * step
            when = slot if slot >= when else slot + step
        return max(0.0, when - time.time())


class VirtualClock(Clock):
    """Time that only moves when advanced: tests fast-forward hours in milliseconds."""

    def __init__(self, start: float | datetime = 1_767_225_600.0) -> None:
        super().__init__()
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)

    def now(self) -> float:
        """The virtual time."""
        return self._now

    def advance(self, seconds: float) -> int:
        """Move time forward, firing due calls in time order (calls scheduled by calls included)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        target = self._now + seconds
        fired = 0
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            self._now = max(self._now, due)
            fired += self.run_due()
        self._now = target
        return fired


class ScaledClock(Clock):
    """Real time running factor times faster, from a given start (for gateways with their own timers)."""

    max_batch = 1024

    def __init__(self, factor: float, start: float | None = None) -> None:
        super().__init__()
        self.factor = factor
        self._real_start = time.monotonic()
        self._start = time.time() if start is None else start

    def now(self) -> float:
        """Scaled time."""
        return self._start + (time.monotonic() - self._real_start) * self.factor

    def seconds_until(self, when: float) -> float:
        """Real seconds until this clock shows `when`."""
        return max(0.0, (when - self.now()) / self.factor)


def make_clock(kind: str) -> Clock:
    """A clock from its name: 'real', 'virtual' or 'scaled:N'."""
    if kind == "real":
        return RealClock()
    if kind == "virtual":
        return VirtualClock()
    if kind.startswith("scaled:"):
        return ScaledClock(float(kind.split(":", 1)[1]))
    raise ValueError(f"unknown clock {kind!r}: use real, virtual or scaled:N")
