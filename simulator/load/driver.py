"""The open-model driver: requests start on a schedule (start + i / rate), never waiting for earlier answers.

One global rate, whatever the number of binds or workers. The only thing that can hold a request
back is the concurrency cap (requests in flight); the delay it causes shows as the gap between a
request's `scheduled` and `sent` times. Every loop is bounded: by `count`, by `duration`, and by a
hard deadline after which requests still in flight are cancelled.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from .report import CallbackSample, RequestSample


class Target(Protocol):
    """Where requests go: an SMPP bind pool or a gateway's HTTP API."""

    async def start(self) -> None:
        """Connect, bind, start receivers."""

    async def send(self, request_id: str, index: int) -> None:
        """Make one request carrying request_id; raise (any exception) when the target did not take it."""

    async def stop(self) -> None:
        """Unbind, close."""

    def callbacks(self) -> list[CallbackSample]:
        """Receipt callbacks the client side got so far."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """How many requests at what rate: stops at `count` requests or `duration` seconds, whichever comes first."""

    rate: float
    count: int
    duration: float
    concurrency: int = 100
    response_timeout: float = 10.0  # real seconds a request may stay in flight after the last one was sent

    def due(self, index: int) -> float | None:
        """Seconds after the start when request `index` is due, or None when the schedule ends before it."""
        if index >= self.count:
            return None
        at = index / self.rate
        return at if at < self.duration else None

    @property
    def planned(self) -> int:
        """How many requests the schedule makes."""
        return min(self.count, int(-(-self.duration * self.rate // 1)))


async def drive(
    target: Target,
    schedule: Schedule,
    make_id: Callable[[int], str],
    *,
    deadline: float,
    on_tick: Callable[[list[RequestSample]], None] | None = None,
    tick: float = 0.25,
) -> tuple[float, list[RequestSample]]:
    """Send the schedule's requests; returns (start UNIX time, one sample per request made).

    `deadline` is a time.monotonic() instant: no request starts after it, and those in flight then
    are cancelled (recorded with error 'cancelled at the hard time limit').
    """
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(schedule.concurrency)
    samples: list[RequestSample] = []
    in_flight: set[asyncio.Task[None]] = set()
    # Schedule on the loop's monotonic clock; report in UNIX time, which the SMSC's log uses too.
    start_loop, start_wall = loop.time(), time.time()
    ticker = asyncio.create_task(_ticker(on_tick, samples, tick)) if on_tick else None

    async def one(sample: RequestSample, index: int) -> None:
        try:
            await target.send(sample.id, index)
        except asyncio.CancelledError:
            sample.error = "cancelled at the hard time limit"
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the target is this request's outcome
            sample.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            sample.done = time.time()
            slots.release()

    try:
        index = 0
        while (offset := schedule.due(index)) is not None:
            wait = start_loop + offset - loop.time()
            if start_loop + offset > _loop_deadline(loop, deadline):
                break
            if wait > 0:
                await asyncio.sleep(wait)
            remaining = _loop_deadline(loop, deadline) - loop.time()
            try:
                await asyncio.wait_for(slots.acquire(), max(remaining, 0.0))
            except asyncio.TimeoutError:
                break
            sample = RequestSample(make_id(index), start_wall + offset, time.time())
            samples.append(sample)
            task = asyncio.create_task(one(sample, index))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            index += 1
        if in_flight:
            limit = min(schedule.response_timeout, max(0.0, _loop_deadline(loop, deadline) - loop.time()))
            _, pending = await asyncio.wait(set(in_flight), timeout=limit)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
    finally:
        if ticker is not None:
            ticker.cancel()
        for task in list(in_flight):
            task.cancel()
    return start_wall, samples


def _loop_deadline(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    """A time.monotonic() deadline on the loop's clock (they are the same clock on CPython, but need not be)."""
    return loop.time() + (deadline - time.monotonic())


async def _ticker(on_tick: Callable[[list[RequestSample]], None], samples: list[RequestSample], tick: float) -> None:
    while True:
        on_tick(samples)
        await asyncio.sleep(tick)


async def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05, on_poll: Callable[[], None] | None = None) -> bool:
    """Poll condition until it holds (True) or timeout real seconds pass (False)."""
    end = time.monotonic() + max(timeout, 0.0)
    while True:
        if on_poll is not None:
            on_poll()
        if condition():
            return True
        left = end - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(poll, left))


async def run_bounded(coro: Awaitable[None], timeout: float) -> bool:
    """Await coro for at most timeout seconds; False when it had to be cancelled."""
    try:
        await asyncio.wait_for(coro, timeout)
        return True
    except asyncio.TimeoutError:
        return False


__all__ = ["Schedule", "Target", "drive", "run_bounded", "wait_until"]
