"""The load tester's accounting: exact sliding windows, percentiles, lost/duplicate ids, thresholds, outputs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re

import pytest

from simulator.load.driver import Schedule
from simulator.load.observe import SmscCollector
from simulator.load.report import (
    THROTTLED,
    CallbackSample,
    LoadReport,
    RateLimit,
    ReceiptSample,
    RequestSample,
    SubmitSample,
    Thresholds,
    max_in_window,
    per_second,
    percentile,
    sliding_counts,
)
from simulator.load.run import RunOptions, id_pattern, run_load

T0 = 1_800_000_000.0


# --- sliding windows ------------------------------------------------------------------------------


def test_max_in_window_empty_and_single() -> None:
    assert max_in_window([], 1.0).count == 0
    assert max_in_window([], 1.0).start is None
    one = max_in_window([T0], 1.0)
    assert (one.count, one.start, one.end, one.first, one.last) == (1, T0, T0 + 1.0, T0, T0)


def test_events_exactly_one_window_apart_are_not_in_the_same_window() -> None:
    # Half-open [t, t + 1): 0 and 1.0 are in different windows; 0, 0.5, 0.999 are together.
    found = max_in_window([0.0, 0.5, 0.999, 1.0, 1.5], 1.0)
    assert found.count == 3
    assert (found.first, found.last) == (0.0, 0.999)
    assert max_in_window([0.0, 1.0, 2.0, 3.0], 1.0).count == 1


def test_window_edges_ignore_float_noise() -> None:
    # 1.1 - 0.1 is 1.0000000000000002 and 0.3 + 1.0 - 0.3 may be 0.9999999999999999: both mean one second.
    assert max_in_window([0.1, 1.1], 1.0).count == 1
    assert max_in_window([T0 + 0.3, T0 + 1.3], 1.0).count == 1
    assert max_in_window([0.1, 1.0999999], 1.0).count == 2


def test_busiest_window_is_found_anywhere_not_only_on_second_boundaries() -> None:
    # 3 events in second 0 and 3 in second 1 (per-second max 3), but 6 within [0.6, 1.6).
    times = [0.1, 0.6, 0.7, 0.8, 1.0, 1.1, 1.5, 2.0]
    found = max_in_window(times, 1.0)
    assert found.count == 6
    assert (found.start, found.end, found.last) == (0.6, 1.6, 1.5)
    assert per_second(times, 0.0, 3) == [4, 3, 1]
    assert max(sliding_counts(times, 1.0)) == 6


def test_max_in_window_unsorted_input_and_other_windows() -> None:
    times = [3.0, 0.0, 0.25, 0.5, 0.75, 2.0]
    assert max_in_window(times, 0.5).count == 2
    assert max_in_window(times, 2.0).count == 4  # 0.0 and 2.0 are a whole window apart
    with pytest.raises(ValueError):
        max_in_window(times, 0)


def test_max_in_window_matches_brute_force() -> None:
    import random

    rng = random.Random(7)
    for _ in range(50):
        times = [round(rng.uniform(0, 5), 2) for _ in range(rng.randint(1, 40))]
        brute = max(sum(1 for u in times if t <= u and round(u - t, 9) < 1.0) for t in times)
        assert max_in_window(times, 1.0).count == brute


# --- percentiles ----------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(20, 0, -1))  # 1..20, unsorted
    assert percentile(values, 50) == 10
    assert percentile(values, 95) == 19
    assert percentile(values, 99) == 20
    assert percentile(values, 100) == 20
    assert percentile(values, 0) == 1
    assert percentile([0.004], 99) == 0.004
    assert percentile([], 50) is None
    assert percentile([1, 2, 3, 4], 50) == 2  # never interpolated (2.5)
    with pytest.raises(ValueError):
        percentile(values, 101)


# --- thresholds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,count,window",
    [("5/1s", 5, 1.0), ("5/s", 5, 1.0), ("300/1m", 300, 60.0), ("20/500ms", 20, 0.5), ("5", 5, 1.0), (" 10 / 2s ", 10, 2.0)],
)
def test_rate_limit_parse(text: str, count: int, window: float) -> None:
    assert RateLimit.parse(text) == RateLimit(count, window)


@pytest.mark.parametrize("text", ["", "five", "5/", "5/0s", "5/1h", "-1/1s"])
def test_rate_limit_parse_errors(text: str) -> None:
    with pytest.raises(ValueError):
        RateLimit.parse(text)


# --- accounting from samples --------------------------------------------------------------------------


def _stub_samples() -> tuple[list[RequestSample], list[SubmitSample], list[ReceiptSample], list[CallbackSample]]:
    """10 requests, 0.1 s apart: 2 and 5 dropped, 7 accepted twice, 3 throttled then accepted, 4 rejected."""
    requests = [RequestSample(f"r{i}", T0 + i / 10, T0 + i / 10 + 0.001) for i in range(10)]
    submits: list[SubmitSample] = []

    def submit(i: int, delay: float, status: int | None, message_id: str = "") -> None:
        submits.append(SubmitSample(f"r{i}", T0 + i / 10 + delay, status, message_id, len(submits)))

    for i in range(10):
        if i in (2, 5):
            continue
        if i == 3:
            submit(3, 0.011, THROTTLED)
            submit(3, 0.511, 0, "m3")
        elif i == 4:
            submit(4, 0.011, 0x0B)  # ESME_RINVDSTADR
        else:
            submit(i, 0.001 * (i + 1), 0, f"m{i}")
        if i == 7:
            submit(7, 0.051, 0, "m7b")
    submits.append(SubmitSample(None, T0 + 0.2, 0, "x", 99))  # someone else's traffic
    submits.append(SubmitSample("r9", T0 + 0.95, None, "", 100))  # a copy never answered
    receipts = [ReceiptSample(f"m{i}", T0 + i / 10 + 2.0, "DELIVERED") for i in (0, 1, 6, 7, 8)]
    receipts.append(ReceiptSample("m3", T0 + 2.6, "UNDELIVERABLE"))
    receipts.append(ReceiptSample("zz", T0 + 2.0, "DELIVERED"))  # not ours
    callbacks = [CallbackSample(T0 + 2.5, id="r0"), CallbackSample(T0 + 2.7, message_id="m1"), CallbackSample(T0 + 3, id="nope")]
    return requests, submits, receipts, callbacks


def test_accounting_of_a_target_that_drops_and_duplicates() -> None:
    requests, submits, receipts, callbacks = _stub_samples()
    report = LoadReport.build(requests, submits, receipts, callbacks, start=T0)
    assert report.counts == {
        "requested": 10,
        "request_errors": 0,
        "submits": 11,  # 8 ids reached: 3 twice (throttled, accepted), 7 twice (both accepted), 9 twice (one unanswered)
        "accepted": 8,
        "throttled": 1,
        "rejected": 1,
        "unanswered": 1,
        "reached": 8,
        "lost": 2,
        "duplicates": 1,
        "resubmitted": 3,
        "never_accepted": 1,
        "receipts": 6,
        "callbacks": 2,
        "foreign_submits": 1,
    }
    assert report.lost_ids == ["r2", "r5"]
    assert report.duplicate_ids == ["r7"]
    assert report.resubmitted_ids == ["r3", "r7", "r9"]
    assert report.receipts_by_state == {"DELIVERED": 5, "UNDELIVERABLE": 1}
    assert report.statuses == {"ESME_RINVDSTADR": 1, "ESME_ROK": 8, "ESME_RTHROTTLED": 1}
    # Latency from the request's send time (scheduled + 1 ms) to its first submit_sm, nearest rank.
    to_submit = report.latency["request_to_submit"]
    assert to_submit["count"] == 8
    assert to_submit["min"] == pytest.approx(0.0)
    assert to_submit["max"] == pytest.approx(0.010)
    assert report.latency["request_to_accept"]["max"] == pytest.approx(0.510)  # r3: accepted on its second try
    assert report.latency["request_to_receipt"]["count"] == 6
    assert report.latency["request_to_callback"]["count"] == 2
    assert [row["submits"] for row in report.history] == [11, 0, 0]
    assert [row["receipts"] for row in report.history] == [0, 0, 6]


def test_thresholds_name_the_window_and_the_ids() -> None:
    requests, submits, receipts, callbacks = _stub_samples()
    report = LoadReport.build(requests, submits, receipts, callbacks, start=T0)
    assert report.check(Thresholds(max_rate=RateLimit(11, 1.0), lost=2, duplicates=1, throttled=1, rejected=1)) == []
    violations = report.check(Thresholds(max_rate=RateLimit(5, 1.0), lost=0, duplicates=0, throttled=0))
    assert len(violations) == 4
    assert violations[0].startswith("max rate 5/1s: 11 submit_sm in the 1 s window [+0.001 s, +1.001 s) (")
    assert re.search(r"\(\d\d:\d\d:\d\d\.001-\d\d:\d\d:\d\d\.001 UTC\), first at \+0\.001 s, last at \+0\.950 s$", violations[0])
    assert violations[1] == "lost: 2, expected at most 0 (r2, r5)"
    assert violations[2] == "duplicates: 1, expected at most 0 (r7)"
    assert violations[3] == "throttled: 1, expected at most 0, first at +0.311 s"
    assert report.violations == violations
    assert "VIOLATION lost: 2" in report.table()


def test_json_and_csv_shapes() -> None:
    requests, submits, receipts, callbacks = _stub_samples()
    report = LoadReport.build(requests, submits, receipts, callbacks, start=T0, settings={"rate": 10})
    data = json.loads(report.to_json())
    assert set(data) == {
        "start", "start_iso", "elapsed", "settings", "counts", "statuses", "max_window", "latency",
        "receipts_by_state", "history", "lost_ids", "duplicate_ids", "resubmitted_ids", "throttled_offsets",
        "notes", "violations",
    }
    assert data["settings"] == {"rate": 10}
    assert data["max_window"]["submits"]["count"] == 11
    assert data["max_window"]["submits"]["start_offset"] == pytest.approx(0.001)
    assert set(data["latency"]) == {"request_to_submit", "request_to_accept", "request_to_receipt", "request_to_callback"}
    assert set(data["latency"]["request_to_submit"]) == {"count", "min", "p50", "p95", "p99", "max", "mean"}
    assert data["throttled_offsets"] == [pytest.approx(0.311)]
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert list(rows[0]) == ["second", "start", "requested", "submits", "accepted", "throttled", "rejected", "unanswered", "receipts", "callbacks"]
    assert [int(r["second"]) for r in rows] == [0, 1, 2]
    assert sum(int(r["requested"]) for r in rows) == 10
    assert sum(int(r["accepted"]) for r in rows) == 8


def test_empty_run_reports_zeros() -> None:
    report = LoadReport.build([], [], start=T0)
    assert report.counts["requested"] == 0
    assert report.submit_window.count == 0
    assert report.latency["request_to_submit"]["p99"] is None
    assert len(report.history) == 1
    assert "no window" in report.table()


# --- the driver with a stub target that drops and duplicates on purpose --------------------------------


class _StubSmscTarget:
    """Plays gateway and SMSC at once: every 10th request from #3 is dropped, from #7 submitted twice."""

    def __init__(self, collector: SmscCollector) -> None:
        self.collector = collector
        self.session_seq = 0

    async def start(self) -> None:
        """Nothing to start."""

    def _submit(self, request_id: str) -> None:
        import time

        self.session_seq += 1
        text = f"load {request_id}"
        self.collector.add(self.session_seq, time.time(), 1, "in", "submit_sm", 0, self.session_seq, {"text": text}.__getitem__)
        get = {"message_id": f"m{self.session_seq}"}.__getitem__
        self.collector.add(self.session_seq, time.time(), 1, "out", "submit_sm_resp", 0, self.session_seq, get)

    async def send(self, request_id: str, index: int) -> None:
        """Submit 0, 1 or 2 times."""
        await asyncio.sleep(0.001)
        if index % 10 == 3:
            return
        self._submit(request_id)
        if index % 10 == 7:
            self._submit(request_id)

    def callbacks(self) -> list[CallbackSample]:
        """None."""
        return []

    async def stop(self) -> None:
        """Nothing to stop."""


class _NoObserver:
    def start(self) -> None:
        pass

    def poll(self) -> None:
        pass

    def stop(self) -> None:
        pass


def test_open_model_run_reports_drops_and_duplicates_exactly() -> None:
    options = RunOptions(drain=0.2, expect_receipts=False, run_token="t0")
    collector = SmscCollector(id_pattern("t0"))
    schedule = Schedule(rate=400, count=100, duration=10)
    report = asyncio.run(run_load(_StubSmscTarget(collector), _NoObserver(), collector, schedule, options))
    assert report.counts["requested"] == 100
    assert report.counts["lost"] == 10
    assert report.counts["duplicates"] == 10
    assert report.counts["submits"] == 100  # 90 once + 10 twice - 10 dropped
    assert report.lost_ids == [f"ldt0-{i:06d}" for i in range(3, 100, 10)]
    assert report.duplicate_ids == [f"ldt0-{i:06d}" for i in range(7, 100, 10)]
    # Open model: requests are due every 2.5 ms whatever the target does; 100 take a quarter second.
    assert sum(row["requested"] for row in report.history) == 100
    assert report.end - report.start < 2.0


def test_schedule_bounds() -> None:
    assert Schedule(rate=10, count=100, duration=2).planned == 20
    assert Schedule(rate=10, count=5, duration=2).planned == 5
    schedule = Schedule(rate=4, count=100, duration=1)
    assert [schedule.due(i) for i in range(5)] == [0.0, 0.25, 0.5, 0.75, None]
