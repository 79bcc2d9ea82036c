"""Waiting for recorded traffic without sleeping: claim the first match, or check that none comes.

One mechanism behind `smsc.wait_for` (PDUs), `webhook.wait_for` (HTTP callbacks) and scenario
expectations. Entries carry an `index`; an entry returned once is claimed, so successive waits for
the same thing return successive entries. `wait(seconds)` blocks until the log may have changed
(a Condition's wait, or a poll of a remote log) and is called with the caller's lock held.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


def claim_first(
    entries: Callable[[], Iterable[T]],
    matches: Callable[[T], bool],
    claimed: set[int],
    wait: Callable[[float], object],
    timeout: float,
) -> T | None:
    """The first unclaimed matching entry, claimed; waits up to `timeout` real seconds; None when none came."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in entries():
            if entry.index not in claimed and matches(entry):  # type: ignore[attr-defined]
                claimed.add(entry.index)  # type: ignore[attr-defined]
                return entry
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        wait(remaining)


def unclaimed_within(
    entries: Callable[[], Iterable[T]],
    matches: Callable[[T], bool],
    claimed: set[int],
    wait: Callable[[float], object],
    within: float,
) -> list[T]:
    """Unclaimed matching entries present now or arriving within `within` real seconds (empty when none)."""
    deadline = time.monotonic() + within
    while True:
        found = [e for e in entries() if e.index not in claimed and matches(e)]  # type: ignore[attr-defined]
        remaining = deadline - time.monotonic()
        if found or remaining <= 0:
            return found
        wait(remaining)
