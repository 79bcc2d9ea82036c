#!/usr/bin/env python3
"""The proof on Kannel (issue 6 item 3), full length: `smsc-sim load` figures for a real Kannel 1.4.5.

    python benchmarks/kannel_throttle_proof.py [--out /tmp/kannel-proof] [--duration 30] [--only a,b,c]

Three runs, each against a fresh in-process simulator on the REAL clock with the default network
(5 submit_sm/s per account, token bucket, burst 5; receipts DELIVERED 2 s after acceptance):

  (a) Kannel with `throughput = 5` (sms-resend-freq 1 s), 20 sendsms/s for --duration s, each with
      dlr-mask 3 and a dlr-url on the load tester's webhook carrying the correlation id;
  (b) the same load through Kannel without a throughput limit (sms-resend-freq 1 s): the throttling,
      whether every throttled message was re-submitted until accepted, and how long that took;
  (c) our own ESME (SMPP target, one bind, window 10) at 50 submit_sm/s for --duration s: exact
      accepted and throttled counts (our ESME does not retry).

Per run it prints the report table and writes <out>/<run>.json, <run>.png (chart) and <run>.txt.
Everything is on 127.0.0.1; every run is bounded (count, duration, drain, the load tester's hard time
limit) and Kannel is stopped in `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.harness.kannel import Kannel, KannelGateway  # noqa: E402
from simulator.harness.smsc import SimulatedSmsc  # noqa: E402
from simulator.harness.webhook import WebhookReceiver  # noqa: E402
from simulator.load.chart import write_chart  # noqa: E402
from simulator.load.driver import Schedule  # noqa: E402
from simulator.load.observe import InProcessObserver, SmscCollector  # noqa: E402
from simulator.load.report import THROTTLED, LoadReport, SubmitSample, max_in_window  # noqa: E402
from simulator.load.run import RunOptions, id_pattern, run_load  # noqa: E402
from simulator.load.targets import HttpTarget, SmppTarget, kannel_sendsms_request  # noqa: E402

TO = "+33612345678"  # an SFR mobile on the default network
THROTTLE = 5.0  # the default network's submit_sm per second per account
STEADY_AFTER = 2.0  # seconds: by then Kannel (throughput 5) has a queue and sends bursts of 5 a second apart


def kannel_run(name: str, out: Path, rate: float, duration: float, drain: float, **kannel_options: Any) -> dict[str, Any]:
    """rate sendsms/s for duration s through a fresh Kannel bound to a fresh simulator."""
    token = f"{name}{int(time.time()) % 100000}"
    with SimulatedSmsc(clock="real", strict=False, name=name) as smsc:
        account = smsc.account
        gateway = KannelGateway(
            smsc.host, smsc.port, account.system_id, account.password, out / f"{name}-kannel",
            default_sender=account.default_sender or "", **kannel_options,
        )
        try:
            gateway.start()
            collector = SmscCollector(id_pattern(token))
            target = HttpTarget(kannel_sendsms_request(gateway.variables()), to=TO, webhook=WebhookReceiver(), callback_filter={"type": "1"})
            options = RunOptions(drain=drain, expect_accepted=True, run_token=token, settings={"run": name, "kannel": kannel_options})
            schedule = Schedule(rate, round(rate * duration), duration, response_timeout=10.0)
            report = asyncio.run(run_load(target, InProcessObserver(smsc, collector), collector, schedule, options))
        finally:
            gateway.stop()
    submits, _ = collector.snapshot()
    return finish(name, out, report, [s for s in submits if s.id is not None], schedule)


def esme_run(name: str, out: Path, rate: float, duration: float) -> dict[str, Any]:
    """rate submit_sm/s for duration s from our own ESME (no retries) against the 5/s throttle."""
    token = f"{name}{int(time.time()) % 100000}"
    with SimulatedSmsc(clock="real", strict=False, name=name) as smsc:
        collector = SmscCollector(id_pattern(token))
        fields = {"destination_addr": TO.lstrip("+"), "dest_addr_ton": 1, "dest_addr_npi": 1, "registered_delivery": 1}
        target = SmppTarget(smsc.host, smsc.port, system_id=smsc.system_id, password=smsc.password, window=10, fields=fields)
        options = RunOptions(drain=5.0, run_token=token, settings={"run": name, "target": "smpp"})
        schedule = Schedule(rate, round(rate * duration), duration)
        report = asyncio.run(run_load(target, InProcessObserver(smsc, collector), collector, schedule, options))
    submits, _ = collector.snapshot()
    return finish(name, out, report, [s for s in submits if s.id is not None], schedule)


def finish(name: str, out: Path, report: LoadReport, submits: list[SubmitSample], schedule: Schedule) -> dict[str, Any]:
    """Print and write the report; the figures the proof needs."""
    c = report.counts
    throttled_ids = {s.id for s in submits if s.status == THROTTLED}
    accepted_at = [s.at for s in submits if s.status == 0]
    last_request = report.start + (c["requested"] - 1) / schedule.rate
    steady = [t for t in report.submit_times if t >= report.start + STEADY_AFTER]
    figures = {
        "run": name,
        **{k: c[k] for k in ("requested", "request_errors", "submits", "accepted", "throttled", "rejected", "unanswered",
                             "lost", "duplicates", "resubmitted", "never_accepted", "receipts", "callbacks")},
        "throttled_ids": len(throttled_ids),
        "throttled_ids_resubmitted": len(throttled_ids & set(report.resubmitted_ids)),
        "max_1s_window": report.submit_window.count,
        "max_1s_window_at": report.describe_window(report.submit_window),
        "max_1s_window_after_2s": max_in_window(steady, 1.0).count,
        "accepted_max_1s_window": report.accepted_window.count,
        "first_to_last_submit_s": round(report.submit_times[-1] - report.submit_times[0], 3) if report.submit_times else None,
        "last_acceptance_after_last_request_s": round(max(accepted_at) - last_request, 3) if accepted_at else None,
        "request_to_accept_max_s": report.latency["request_to_accept"]["max"],
        "request_to_callback_max_s": report.latency["request_to_callback"]["max"],
        "start_to_last_event_s": round(report.end - report.start, 3),
        "throttled_after_2s": sum(1 for t in report.throttled_times if t >= report.start + STEADY_AFTER),
        "notes": report.notes,
    }
    table = report.table()
    print(f"\n===== run {name} =====\n{table}\n{json.dumps({k: v for k, v in figures.items() if k != 'notes'})}", flush=True)
    (out / f"{name}.txt").write_text(table + "\n")
    (out / f"{name}.json").write_text(report.to_json())
    write_chart(report, out / f"{name}.png", THROTTLE)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kannel-proof"))
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending per run (default 30)")
    parser.add_argument("--http-rate", type=float, default=20.0, help="sendsms per second in (a) and (b)")
    parser.add_argument("--esme-rate", type=float, default=50.0, help="submit_sm per second in (c)")
    parser.add_argument("--max-drain", type=float, default=400.0, help="cap on the seconds (a) and (b) wait after sending")
    parser.add_argument("--only", default="a,b,c", help="which runs, e.g. a,c")
    args = parser.parse_args()
    if not 0 < args.duration <= 120 or not 0 < args.http_rate <= 100 or not 0 < args.esme_rate <= 500:
        parser.error("bounded runs only: --duration <= 120, --http-rate <= 100, --esme-rate <= 500")
    runs = set(args.only.split(","))
    if runs & {"a", "b"} and not Kannel.available():
        parser.error("Kannel is not installed (apt-get install kannel)")
    args.out.mkdir(parents=True, exist_ok=True)
    # Kannel at 5/s needs count/5 s; it also pauses 1-2 s after each ESME_RTHROTTLED: give (b) twice that.
    count = args.http_rate * args.duration
    drain_a = min(args.max_drain, count / THROTTLE - args.duration + 30)
    drain_b = min(args.max_drain, 2 * count / THROTTLE + 30)
    results = []
    started = time.monotonic()
    if "a" in runs:
        results.append(kannel_run("a-kannel-throughput5", args.out, args.http_rate, args.duration, drain_a, throughput=5, sms_resend_freq=1))
    if "b" in runs:
        results.append(kannel_run("b-kannel-unlimited", args.out, args.http_rate, args.duration, drain_b, sms_resend_freq=1))
    if "c" in runs:
        results.append(esme_run("c-esme-50", args.out, args.esme_rate, args.duration))
    summary = {"duration": args.duration, "http_rate": args.http_rate, "esme_rate": args.esme_rate,
               "wall_s": round(time.monotonic() - started, 1), "runs": results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {args.out}/summary.json and per run .json/.png/.txt ({summary['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
