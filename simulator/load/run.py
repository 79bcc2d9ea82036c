"""One load run: start the target and the observer, drive the schedule, drain, and build the report."""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from .driver import Schedule, Target, drive, wait_until
from .observe import SmscCollector
from .report import LoadReport, RequestSample

BAR_WIDTH = 24
REDRAW = 0.2  # seconds between progress redraws


class Observer(Protocol):
    """Feeds an SmscCollector from the SMSC's PDU log."""

    def start(self) -> None:
        """Start watching."""

    def poll(self) -> None:
        """Catch up now."""

    def stop(self) -> None:
        """Stop watching after a last catch-up."""


@dataclass
class RunOptions:
    """What bounds the run besides the schedule, and what it waits for afterwards."""

    drain: float = 5.0  # real seconds to wait after the last request for submits, responses and receipts
    max_time: float | None = None  # hard limit on the whole run (default: duration + response timeout + drain + 10)
    expect_receipts: bool = True  # wait (within drain) for a receipt callback per accepted message
    expect_accepted: bool = False  # also wait until every request is accepted (a gateway re-sends throttled ones)
    window: float = 1.0  # the sliding window the report's busiest-window figure uses
    run_token: str = field(default_factory=lambda: secrets.token_hex(3))
    settings: dict[str, Any] = field(default_factory=dict)


def id_pattern(token: str) -> re.Pattern[str]:
    """The correlation ids of one run: 'ld<token>-<index>'."""
    return re.compile(rf"ld{re.escape(token)}-\d+")


class Progress:
    """A one-line live progress display (carriage return, no newline until finish())."""

    def __init__(self, planned: int, stream: TextIO | None = None) -> None:
        self.planned = max(planned, 1)
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._width = 0
        self._drawn = 0.0

    def show(self, samples: list[RequestSample], counts: dict[str, int], phase: str = "sending", force: bool = False) -> None:
        """Redraw the line (at most every REDRAW seconds unless forced)."""
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW:
            return
        self._drawn = now
        done = len(samples)
        filled = min(BAR_WIDTH, done * BAR_WIDTH // self.planned)
        errors = sum(1 for s in samples if s.error)
        line = (
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {phase} {done}/{self.planned} requested, "
            f"{counts['submits']} at SMSC, {counts['accepted']} accepted, {counts['refused']} refused, "
            f"{counts['receipts']} receipts, {errors} errors, {time.monotonic() - self.started:.1f} s"
        )
        self._width = max(self._width, len(line))
        self.stream.write(line.ljust(self._width))
        self.stream.flush()

    def finish(self) -> None:
        """End the line."""
        self.stream.write("\n")
        self.stream.flush()


async def run_load(
    target: Target,
    observer: Observer,
    collector: SmscCollector,
    schedule: Schedule,
    options: RunOptions,
    progress: Progress | None = None,
) -> LoadReport:
    """Drive `target` on `schedule` while `observer` feeds `collector`; the report of what happened."""
    max_time = options.max_time or schedule.duration + schedule.response_timeout + options.drain + 10.0
    deadline = time.monotonic() + max_time
    notes: list[str] = []
    observer.start()
    samples: list[RequestSample] = []
    start = time.time()
    try:
        await asyncio.wait_for(target.start(), max(0.1, deadline - time.monotonic()))
        tick = (lambda s: progress.show(s, collector.counts())) if progress else None
        start, samples = await drive(target, schedule, lambda i: f"ld{options.run_token}-{i:06d}", deadline=deadline, on_tick=tick)
        drained = await wait_until(
            lambda: _settled(samples, collector, target, options.expect_receipts, options.expect_accepted),
            min(options.drain, max(0.0, deadline - time.monotonic())),
            on_poll=(lambda: progress.show(samples, collector.counts(), "draining")) if progress else None,
        )
        if not drained and options.drain > 0:
            notes.append(f"still waiting for submits, responses or receipts after the {options.drain:g} s drain")
        if time.monotonic() >= deadline:
            notes.append(f"the hard time limit ({max_time:g} s) ended the run")
    finally:
        if progress:
            progress.show(samples, collector.counts(), "done", force=True)
            progress.finish()
        try:
            await asyncio.wait_for(target.stop(), 10)
        finally:
            observer.stop()
    submits, receipts = collector.snapshot()
    return LoadReport.build(
        samples,
        submits,
        receipts,
        target.callbacks(),
        start=start,
        settings={**options.settings, "run_token": options.run_token},
        window=options.window,
        notes=[*notes, *collector.notes],
    )


def _settled(
    samples: list[RequestSample], collector: SmscCollector, target: Target, expect_receipts: bool, expect_accepted: bool = False
) -> bool:
    """True once every request the target took reached the SMSC, was answered, (if expected) was accepted
    in the end, and (if expected) got its receipt."""
    submits, _ = collector.snapshot()
    taken = {s.id for s in samples if not s.error}
    seen = {s.id for s in submits if s.id in taken}
    if len(seen) < len(taken) or any(s.status is None for s in submits if s.id in taken):
        return False
    if expect_accepted and not taken <= {s.id for s in submits if s.status == 0}:
        return False  # a throttled message the gateway has yet to re-send
    if not expect_receipts:
        return True
    accepted = {s.message_id for s in submits if s.status == 0 and s.id in taken}
    called_back = {c.message_id for c in target.callbacks()} | {c.id for c in target.callbacks()}
    ids_accepted = {s.id for s in submits if s.status == 0 and s.id in taken}
    return all(m in called_back for m in accepted) or ids_accepted <= called_back


__all__ = ["Observer", "Progress", "RunOptions", "id_pattern", "run_load"]
