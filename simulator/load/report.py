"""The load tester's accounting, pure: raw samples in, exact figures out (no I/O, no clocks).

Samples are what was observed: each request the driver made (its correlation id and times), each
submit_sm that reached the SMSC (the id found in its text, its arrival time, the status of its
submit_sm_resp), each delivery receipt the SMSC sent, and each receipt callback the client side got.
Every figure is computed from them exactly:

- **sliding windows**: `max_in_window(times, w)` is the largest number of events in any half-open
  window [t, t + w) (two events exactly w apart are not in the same window), compared to the
  nanosecond so that float noise cannot move an event across a window edge;
- **percentiles** are nearest-rank on the raw samples: p<k> is the smallest sample such that at
  least k % of the samples are at most it (sorted[ceil(k/100 * n) - 1]), never interpolated;
- **lost** ids were requested but no submit_sm carrying them reached the SMSC; **duplicates** were
  accepted (ESME_ROK) more than once; **resubmitted** ids reached the SMSC more than once in all
  (a gateway re-sending after ESME_RTHROTTLED is resubmitting, not duplicating).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from ..smpp.constants import CommandStatus, status_name

THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
PERCENTILES = (50, 95, 99)
NANOSECOND_DIGITS = 9
CSV_COLUMNS = (
    "second", "start", "requested", "submits", "accepted", "throttled", "rejected", "unanswered", "receipts", "callbacks",
)


# --- samples -----------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestSample:
    """One request the driver made: correlation id, when it was due and sent (UNIX time), its outcome."""

    id: str
    scheduled: float
    sent: float
    done: float | None = None
    error: str = ""  # empty: the target took the request (HTTP status as expected, SMPP answered)


@dataclass(slots=True)
class SubmitSample:
    """One submit_sm seen at the SMSC: the id in its text (None: not ours), arrival time, response status."""

    id: str | None
    at: float
    status: int | None = None  # None: no submit_sm_resp seen
    message_id: str = ""
    index: int = 0


@dataclass(frozen=True, slots=True)
class ReceiptSample:
    """A delivery receipt the SMSC sent: the message id it is about, when, and its state name."""

    message_id: str
    at: float
    state: str


@dataclass(frozen=True, slots=True)
class CallbackSample:
    """A receipt as the client side got it (a webhook call, a deliver_sm to our ESME): by id or message id."""

    at: float
    id: str | None = None
    message_id: str | None = None


# --- exact statistics ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowMax:
    """The busiest window: how many events, its bounds [start, end), and the first and last event in it."""

    count: int
    window: float
    start: float | None = None
    first: float | None = None
    last: float | None = None

    @property
    def end(self) -> float | None:
        """The window's (excluded) end."""
        return None if self.start is None else self.start + self.window


def max_in_window(times: Iterable[float], window: float = 1.0) -> WindowMax:
    """The largest number of events in any half-open window [t, t + window), with that window (exact, O(n log n))."""
    if window <= 0:
        raise ValueError("the window must be positive")
    ordered = sorted(times)
    best = WindowMax(0, window)
    low = 0
    for high, at in enumerate(ordered):
        # The busiest window can always start at an event: slide its start up to the first event
        # less than `window` before this one.
        while round(at - ordered[low], NANOSECOND_DIGITS) >= window:
            low += 1
        count = high - low + 1
        if count > best.count:
            best = WindowMax(count, window, ordered[low], ordered[low], at)
    return best


def sliding_counts(times: Sequence[float], window: float = 1.0) -> list[int]:
    """For each event (in sorted order), how many events fall in the window (t - window, t] ending at it."""
    ordered = sorted(times)
    counts = []
    low = 0
    for high, at in enumerate(ordered):
        while round(at - ordered[low], NANOSECOND_DIGITS) >= window:
            low += 1
        counts.append(high - low + 1)
    return counts


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of raw samples (None when there are none); p=0 is the minimum, 100 the maximum."""
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError("a percentile is between 0 and 100")
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[rank - 1]


def latency_summary(values: Sequence[float]) -> dict[str, Any]:
    """count, min, p50, p95, p99, max and mean of raw latencies (seconds), exact."""
    summary: dict[str, Any] = {"count": len(values), "min": min(values) if values else None}
    for p in PERCENTILES:
        summary[f"p{p}"] = percentile(values, p)
    summary["max"] = max(values) if values else None
    summary["mean"] = sum(values) / len(values) if values else None
    return summary


def per_second(times: Iterable[float], start: float, seconds: int) -> list[int]:
    """Events per whole second since start: index k counts start + k <= t < start + k + 1 (later ones in the last)."""
    counts = [0] * max(seconds, 1)
    for at in times:
        k = math.floor(round(at - start, NANOSECOND_DIGITS))
        counts[min(max(k, 0), len(counts) - 1)] += 1
    return counts


# --- thresholds ------------------------------------------------------------------------------------

_RATE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d*(?:\.\d+)?)\s*(ms|s|m)?)?\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` events in any window of `window` seconds ('5/1s', '5/s', '300/1m', '5')."""

    count: int
    window: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """'5/1s' -> RateLimit(5, 1.0); ValueError with the accepted forms otherwise."""
        match = _RATE.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a rate: use COUNT/WINDOW such as 5/1s, 5/s, 300/1m or 20/500ms")
        count, amount, unit = match.groups()
        if "/" in text and not (amount or unit):
            raise ValueError(f"{text!r}: a window after '/', such as 1s")
        seconds = float(amount) if amount else 1.0
        seconds *= {"ms": 0.001, "m": 60.0}.get(unit or "s", 1.0)
        if seconds <= 0:
            raise ValueError(f"{text!r}: the window must be positive")
        return cls(int(count), seconds)

    def __str__(self) -> str:
        return f"{self.count}/{self.window:g}s"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the run must not exceed: None for no check."""

    max_rate: RateLimit | None = None
    lost: int | None = None
    duplicates: int | None = None
    throttled: int | None = None
    rejected: int | None = None


# --- the report ----------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """Everything a load run measured, built from raw samples by `build`; see the module docstring."""

    start: float
    end: float
    settings: dict[str, Any]
    counts: dict[str, int]
    submit_window: WindowMax
    accepted_window: WindowMax
    latency: dict[str, dict[str, Any]]
    receipts_by_state: dict[str, int]
    statuses: dict[str, int]
    history: list[dict[str, Any]]
    lost_ids: list[str]
    duplicate_ids: list[str]
    resubmitted_ids: list[str]
    submit_times: list[float] = field(repr=False, default_factory=list)
    throttled_times: list[float] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        requests: Sequence[RequestSample],
        submits: Sequence[SubmitSample],
        receipts: Sequence[ReceiptSample] = (),
        callbacks: Sequence[CallbackSample] = (),
        *,
        start: float,
        end: float | None = None,
        settings: dict[str, Any] | None = None,
        window: float = 1.0,
        notes: Iterable[str] = (),
    ) -> LoadReport:
        """Compute every figure from the samples; `start` is when the first request was due (UNIX time)."""
        requested = {r.id: r for r in requests}
        ours = [s for s in submits if s.id in requested]
        by_id: dict[str, list[SubmitSample]] = {}
        for sample in sorted(ours, key=lambda s: (s.at, s.index)):
            by_id.setdefault(sample.id or "", []).append(sample)
        accepted = [s for s in ours if s.status == 0]
        throttled = [s for s in ours if s.status == THROTTLED]
        rejected = [s for s in ours if s.status not in (None, 0, THROTTLED)]
        unanswered = [s for s in ours if s.status is None]
        accepted_per_id = Counter(s.id for s in accepted)

        # Receipts are about message ids; the accepted submits tell whose message each id is.
        id_of_message = {s.message_id: s.id for s in accepted if s.message_id}
        our_receipts = [r for r in receipts if r.message_id in id_of_message]
        first_receipt: dict[str, ReceiptSample] = {}
        for receipt in sorted(our_receipts, key=lambda r: r.at):
            first_receipt.setdefault(receipt.message_id, receipt)
        first_callback: dict[str, CallbackSample] = {}
        for callback in sorted(callbacks, key=lambda c: c.at):
            rid = callback.id if callback.id is not None else id_of_message.get(callback.message_id or "")
            if rid in requested:
                first_callback.setdefault(rid, callback)

        to_submit, to_accept, to_receipt, to_callback = [], [], [], []
        for rid, request in requested.items():
            seen = by_id.get(rid)
            if seen:
                to_submit.append(seen[0].at - request.sent)
                ok = next((s for s in seen if s.status == 0), None)
                if ok is not None:
                    to_accept.append(ok.at - request.sent)
                    receipt = first_receipt.get(ok.message_id)
                    if receipt is not None:
                        to_receipt.append(receipt.at - request.sent)
            if rid in first_callback:
                to_callback.append(first_callback[rid].at - request.sent)

        last = max([
            end or start, *(s.at for s in ours), *(r.sent for r in requests),
            *(r.at for r in first_receipt.values()), *(c.at for c in first_callback.values()),
        ])
        seconds = max(1, math.floor(round(last - start, NANOSECOND_DIGITS)) + 1)  # the second holding the last event
        columns = {
            "requested": per_second((r.sent for r in requests), start, seconds),
            "submits": per_second((s.at for s in ours), start, seconds),
            "accepted": per_second((s.at for s in accepted), start, seconds),
            "throttled": per_second((s.at for s in throttled), start, seconds),
            "rejected": per_second((s.at for s in rejected), start, seconds),
            "unanswered": per_second((s.at for s in unanswered), start, seconds),
            "receipts": per_second((r.at for r in first_receipt.values()), start, seconds),
            "callbacks": per_second((c.at for c in first_callback.values()), start, seconds),
        }
        history = [
            {"second": k, "start": round(start + k, 6), **{name: values[k] for name, values in columns.items()}}
            for k in range(seconds)
        ]
        lost = [rid for rid in requested if rid not in by_id]
        counts = {
            "requested": len(requested),
            "request_errors": sum(1 for r in requests if r.error),
            "submits": len(ours),
            "accepted": len(accepted),
            "throttled": len(throttled),
            "rejected": len(rejected),
            "unanswered": len(unanswered),
            "reached": len(by_id),
            "lost": len(lost),
            "duplicates": sum(1 for n in accepted_per_id.values() if n > 1),
            "resubmitted": sum(1 for seen in by_id.values() if len(seen) > 1),
            "never_accepted": sum(1 for rid in by_id if rid not in accepted_per_id),
            "receipts": len(first_receipt),
            "callbacks": len(first_callback),
            "foreign_submits": sum(1 for s in submits if s.id not in requested),
        }
        return cls(
            start=start,
            end=last,
            settings=dict(settings or {}),
            counts=counts,
            submit_window=max_in_window((s.at for s in ours), window),
            accepted_window=max_in_window((s.at for s in accepted), window),
            latency={
                "request_to_submit": latency_summary(to_submit),
                "request_to_accept": latency_summary(to_accept),
                "request_to_receipt": latency_summary(to_receipt),
                "request_to_callback": latency_summary(to_callback),
            },
            receipts_by_state=dict(sorted(Counter(r.state for r in first_receipt.values()).items())),
            statuses=dict(sorted(Counter(status_name(s.status) for s in ours if s.status is not None).items())),
            history=history,
            lost_ids=lost,
            duplicate_ids=sorted(rid for rid, n in accepted_per_id.items() if n > 1),
            resubmitted_ids=sorted(rid for rid, seen in by_id.items() if len(seen) > 1),
            submit_times=sorted(s.at for s in ours),
            throttled_times=sorted(s.at for s in throttled),
            notes=list(notes),
        )

    # --- thresholds ----------------------------------------------------------------------------

    def describe_window(self, found: WindowMax) -> str:
        """'[+1.204 s, +2.204 s) (12:00:01.204-12:00:02.204 UTC)': a window relative to the start and in UTC."""
        if found.start is None or found.end is None:
            return "no window"
        return (
            f"[+{found.start - self.start:.3f} s, +{found.end - self.start:.3f} s) "
            f"({_utc(found.start)}-{_utc(found.end)} UTC)"
        )

    def check(self, thresholds: Thresholds) -> list[str]:
        """The violated thresholds, one message each (also kept in `violations`); empty when all hold."""
        found: list[str] = []
        if thresholds.max_rate is not None:
            limit = thresholds.max_rate
            busiest = max_in_window(self.submit_times, limit.window)
            if busiest.count > limit.count:
                assert busiest.first is not None and busiest.last is not None
                found.append(
                    f"max rate {limit}: {busiest.count} submit_sm in the {limit.window:g} s window "
                    f"{self.describe_window(busiest)}, first at +{busiest.first - self.start:.3f} s, "
                    f"last at +{busiest.last - self.start:.3f} s"
                )
        for name, limit_value, ids in (
            ("lost", thresholds.lost, self.lost_ids),
            ("duplicates", thresholds.duplicates, self.duplicate_ids),
            ("throttled", thresholds.throttled, None),
            ("rejected", thresholds.rejected, None),
        ):
            actual = self.counts[name]
            if limit_value is not None and actual > limit_value:
                message = f"{name}: {actual}, expected at most {limit_value}"
                if ids:
                    message += f" ({_some(ids)})"
                if name == "throttled" and self.throttled_times:
                    message += f", first at +{self.throttled_times[0] - self.start:.3f} s"
                found.append(message)
        self.violations = found
        return found

    # --- output --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""

        def window(found: WindowMax) -> dict[str, Any]:
            rel = (lambda t: None if t is None else round(t - self.start, 6))
            return {
                "count": found.count, "window": found.window,
                "start": found.start, "end": found.end, "start_offset": rel(found.start), "end_offset": rel(found.end),
                "first_offset": rel(found.first), "last_offset": rel(found.last),
            }

        return {
            "start": self.start,
            "start_iso": datetime.fromtimestamp(self.start, tz=timezone.utc).isoformat(),
            "elapsed": round(self.end - self.start, 6),
            "settings": self.settings,
            "counts": self.counts,
            "statuses": self.statuses,
            "max_window": {"submits": window(self.submit_window), "accepted": window(self.accepted_window)},
            "latency": self.latency,
            "receipts_by_state": self.receipts_by_state,
            "history": self.history,
            "lost_ids": self.lost_ids,
            "duplicate_ids": self.duplicate_ids,
            "resubmitted_ids": self.resubmitted_ids,
            "throttled_offsets": [round(t - self.start, 6) for t in self.throttled_times],
            "notes": self.notes,
            "violations": self.violations,
        }

    def to_json(self) -> str:
        """The JSON report as text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_csv(self) -> str:
        """The per-second history as CSV (one row per second since the start)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        return out.getvalue()

    def table(self) -> str:
        """The terminal summary."""
        c = self.counts
        elapsed = self.end - self.start
        lines = [
            f"requested    {c['requested']:>8}   {c['request_errors']} request errors; {elapsed:.3f} s from the start to the last event",
            f"at the SMSC  {c['submits']:>8}   submit_sm for {c['reached']} ids; {c['foreign_submits']} foreign submit_sm ignored",
            f"  accepted   {c['accepted']:>8}",
            f"  throttled  {c['throttled']:>8}",
            f"  rejected   {c['rejected']:>8}   {', '.join(f'{k} {v}' for k, v in self.statuses.items() if k not in ('ESME_ROK', 'ESME_RTHROTTLED'))}".rstrip(),
            f"  unanswered {c['unanswered']:>8}",
            f"lost         {c['lost']:>8}   requested, never reached the SMSC" + (f" ({_some(self.lost_ids)})" if self.lost_ids else ""),
            f"duplicates   {c['duplicates']:>8}   accepted more than once" + (f" ({_some(self.duplicate_ids)})" if self.duplicate_ids else ""),
            f"resubmitted  {c['resubmitted']:>8}   reached the SMSC more than once",
            f"max {self.submit_window.window:g} s window {self.submit_window.count:>4}   submit_sm in {self.describe_window(self.submit_window)}",
            f"  accepted   {self.accepted_window.count:>8}   in {self.describe_window(self.accepted_window)}",
            f"receipts     {c['receipts']:>8}   " + (", ".join(f"{k} {v}" for k, v in self.receipts_by_state.items()) or "none"),
            f"callbacks    {c['callbacks']:>8}",
            "",
            f"{'latency (ms)':<22}{'n':>7}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}",
        ]
        for name, summary in self.latency.items():
            cells = "".join(f"{_ms(summary[k]):>10}" for k in ("p50", "p95", "p99", "max"))
            lines.append(f"{name.replace('_', ' '):<22}{summary['count']:>7}{cells}")
        lines.append("")
        lines.append(f"{'second':>6} {'requested':>9} {'submits':>8} {'accepted':>8} {'throttled':>9} {'rejected':>8} {'receipts':>8}")
        for row in self.history:
            lines.append(
                f"{row['second']:>6} {row['requested']:>9} {row['submits']:>8} {row['accepted']:>8} "
                f"{row['throttled']:>9} {row['rejected']:>8} {row['receipts']:>8}"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        lines.extend(f"VIOLATION {v}" for v in self.violations)
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _utc(at: float) -> str:
    moment = datetime.fromtimestamp(at, tz=timezone.utc)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _some(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


__all__ = [
    "CallbackSample", "LoadReport", "RateLimit", "ReceiptSample", "RequestSample", "SubmitSample", "Thresholds",
    "WindowMax", "latency_summary", "max_in_window", "per_second", "percentile", "sliding_counts",
]
