#!/usr/bin/env python3
"""Sustained submit_sm/s of the simulator over a matrix of binds x window, with receipts on, and its CPU use.

    python benchmarks/bench_matrix.py                      # 1/4/16 binds x window 1/10/100, receipts on, 3 runs each (~6 min)
    python benchmarks/bench_matrix.py --quick              # one run each, shorter (~2 min)
    python benchmarks/bench_matrix.py --receipts both --json /tmp/matrix.json

Every cell is a closed loop (each submit_sm_resp frees a window slot that is refilled at once) from
bench_submit.py's load client: pinned to the second CPU, hand-framed, pre-encoded submit_sm. The
server under test is a fresh `smsc-sim serve --config benchmarks/network.yaml` pinned to the first CPU,
so every figure is one core. With receipts on, submit_sm carry registered_delivery=1 and the server
runs the open network plus one delivery rule, DELIVERED after --receipt-delay (default 0 s: the
receipt timer fires on the next loop turn), so receipts flow at the rate messages are accepted from
the first second and the run is steady state; the client answers each deliver_sm at once. (With
benchmarks/network.yaml as it is, `--receipt-delay network`, receipts start 2 s after the first
submit_sm: a closed loop then runs at the no-receipt rate for 2 s and pays for it afterwards, so the
measured interval is a transient unless the warm-up is many times longer.)

Per cell the script also runs bench_submit.py's no-logic reference responder (plain asyncio, a fixed
submit_sm_resp per submit_sm and, with receipts on, a fixed deliver_sm receipt in the same write) with
the same binds and window, alternating with the
simulator runs in this process, and prints simulator/reference: on a noisy or slower machine the
ratio moves less than the absolute rates. Medians by rate over --repeat runs are kept.

CPU use: "srv CPU" is the server's utime+stime per wall second (1.00 = its core saturated), "us/msg"
the server CPU per accepted submit_sm (with receipts on, that includes the message's receipt and
its deliver_sm_resp), "other" the time something else took on the server's core (noise).

127.0.0.1 only; every run is bounded by --max-pdus and --duration; servers are stopped in finally.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402
import bench_lifecycle as bl  # noqa: E402
import bench_submit as bs  # noqa: E402


def _ints(text: str) -> list[int]:
    values = [int(x) for x in text.split(",") if x.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, got {text!r}")
    return values


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["rate"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["all_rates"] = [round(r["rate"]) for r in runs]
    chosen["all_us_per_msg"] = [round(r["server_us_per_pdu"], 1) for r in runs]
    return chosen


def _fmt(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def run_cell(
    target: str, binds: int, window: int, receipts: bool, args: argparse.Namespace, server_cpu: int | None
) -> dict[str, Any]:
    """One closed-loop run against a fresh server (the simulator or the reference responder)."""
    warmup = args.warmup if target == "simulator" else args.reference_warmup
    run_args = SimpleNamespace(
        receipts=receipts,
        max_pdus=args.max_pdus,
        warmup=warmup,
        duration=args.duration,
        py_spy=None,
        py_spy_blocking=False,
        profile_server=None,
    )
    if target == "simulator":
        def argv_for_port(port: int) -> list[str]:
            return common.simulator_argv(port, args.server_config)
    else:
        def argv_for_port(port: int) -> list[str]:
            return bs.reference_argv(port, receipts)

    def job(port: int, pid: int) -> Any:
        return bs.closed_loop_run(port, pid, binds, window, run_args)  # type: ignore[arg-type]

    result = bs.run_against(target, argv_for_port, server_cpu, job, run_args)  # type: ignore[arg-type]
    elapsed = result["elapsed_s"]
    result["receipts_per_s"] = result["receipts"] / elapsed if elapsed else math.nan
    return result


def print_table(rows: list[dict[str, Any]], facts: dict[str, Any], args: argparse.Namespace) -> None:
    """The matrix as a plain table, then as Markdown for the README."""
    print()
    print("=" * 128)
    print(
        f"bench_matrix: closed loop, server pinned to CPU {facts['server_cpu']}, client to CPU {facts['client_cpu']};"
        f" medians of {args.repeat} run(s), {args.duration:g} s measured each; receipts DELIVERED after {args.receipt_delay}"
    )
    print("=" * 128)
    header = (
        f"{'binds':>5} {'window':>6} {'receipts':>8} {'submit_sm/s':>12} {'receipts/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'srv CPU':>7} {'us/msg':>7} {'other':>5} {'ref /s':>10} {'ratio':>6}  all runs /s"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        s, ref = row["simulator"], row.get("reference")
        print(
            f"{row['binds']:>5} {row['window']:>6} {('on' if row['receipts'] else 'off'):>8} {s['rate']:>12,.0f}"
            f" {_fmt(s['receipts_per_s'], '10,.0f')} {_fmt(s['p50_ms'], '8.3f')} {_fmt(s['p99_ms'], '8.3f')}"
            f" {_fmt(s['server_cpu'], '7.2f')} {_fmt(s['server_us_per_pdu'], '7.1f')} {_fmt(s['server_core_other'], '5.2f')}"
            f" {(_fmt(ref['rate'], '10,.0f') if ref else '-'):>10} {_fmt(row.get('ratio'), '6.3f')}"
            f"  {', '.join(f'{x:,}' for x in s['all_rates'])}"
        )
    print("(us/msg: server CPU per accepted submit_sm, its receipt and deliver_sm_resp included when receipts are on;")
    print(" srv CPU: server CPU-seconds per second; other: load on the server's core from anything else;")
    print(" ref: the no-logic reference responder, same binds x window and receipts; ratio: simulator / reference rate)")
    print()
    print("| binds | window | receipts | submit_sm/s | receipts/s | p50 / p99 ms | server CPU | us per message | reference /s | ratio |")
    print("| ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        s, ref = row["simulator"], row.get("reference")
        print(
            f"| {row['binds']} | {row['window']} | {'on' if row['receipts'] else 'off'} | {s['rate']:,.0f}"
            f" | {_fmt(s['receipts_per_s'], ',.0f')} | {_fmt(s['p50_ms'], '.2f')} / {_fmt(s['p99_ms'], '.2f')}"
            f" | {_fmt(s['server_cpu'], '.2f')} | {_fmt(s['server_us_per_pdu'], '.1f')}"
            f" | {(_fmt(ref['rate'], ',.0f') if ref else '-')} | {_fmt(row.get('ratio'), '.3f')} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and print it (and save JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binds", type=_ints, default=[1, 4, 16], help="comma list of bind counts (default 1,4,16)")
    parser.add_argument("--windows", type=_ints, default=[1, 10, 100], help="comma list of windows per bind (default 1,10,100)")
    parser.add_argument("--receipts", choices=("on", "off", "both"), default="on", help="registered_delivery=1 (on), 0 (off) or both (default on)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell and target; the median by rate is kept (default 3)")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run at most (default 3)")
    parser.add_argument("--max-pdus", type=int, default=200_000, help="measured responses per run at most (default 200000)")
    parser.add_argument("--receipt-delay", default="0s", help="DELIVERED after this delay (a duration such as 0s or 2s), or 'network' for benchmarks/network.yaml as it is (default 0s)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds of the simulator runs (default 1)")
    parser.add_argument("--reference-warmup", type=float, default=1.0, help="warm-up seconds otherwise (default 1)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference responder (no ratios)")
    parser.add_argument("--quick", action="store_true", help="one run per cell, 2 s measured")
    parser.add_argument("--config", type=Path, default=common.CONFIG, help="server config with --receipt-delay network (default benchmarks/network.yaml)")
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.duration = 1, 2.0
    if args.repeat < 1 or args.duration <= 0 or args.max_pdus < 1:
        parser.error("--repeat, --duration and --max-pdus must be positive")
    if max(args.binds) > 32:
        parser.error("benchmarks/network.yaml allows 32 binds per account")

    bs.check_templates()
    facts, server_cpu, client_cpu = common.prepare_machine()
    bs.SERVER_CPU = server_cpu  # the load client's steal/other accounting reads it
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.receipts]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_matrix.") as tmp:
        if args.receipt_delay == "network":
            args.server_config = args.config
        else:
            rules = [{"sequence": [{"after": args.receipt_delay, "state": "DELIVERED"}]}]
            profile = bl.write_profile(Path(tmp), "matrix", rules)
            args.server_config = bl.write_server_config(Path(tmp), "matrix", profile)
        rows = run_matrix(args, modes, server_cpu)
    end = common.machine_facts()
    return print_results(rows, facts, end, started, args)


def run_matrix(args: argparse.Namespace, modes: list[bool], server_cpu: int | None) -> list[dict[str, Any]]:
    """Every binds x window cell: reference and simulator runs alternating, medians kept."""
    rows: list[dict[str, Any]] = []
    for binds in args.binds:
        for window in args.windows:
            reference_runs: dict[bool, list[dict[str, Any]]] = {mode: [] for mode in modes}
            sim_runs: dict[bool, list[dict[str, Any]]] = {mode: [] for mode in modes}
            # Reference and simulator alternate so that each cell's pair sees the same machine.
            for _ in range(args.repeat):
                for mode in modes:
                    if not args.no_reference:
                        r = run_cell("reference", binds, window, mode, args, server_cpu)
                        print(f"reference  {binds:>2} binds x window {window:<3} receipts {'on ' if mode else 'off'} {bs.describe(r)}", flush=True)
                        reference_runs[mode].append(r)
                    r = run_cell("simulator", binds, window, mode, args, server_cpu)
                    print(f"simulator  {binds:>2} binds x window {window:<3} receipts {'on ' if mode else 'off'} {bs.describe(r)}", flush=True)
                    sim_runs[mode].append(r)
            for mode in modes:
                reference = _median_run(reference_runs[mode]) if reference_runs[mode] else None
                sim = _median_run(sim_runs[mode])
                rows.append(
                    {
                        "binds": binds,
                        "window": window,
                        "receipts": mode,
                        "simulator": sim,
                        "reference": reference,
                        "ratio": bs.ratio(sim["rate"], reference["rate"]) if reference else None,
                    }
                )
    return rows


def print_results(rows: list[dict[str, Any]], facts: dict[str, Any], end: dict[str, Any], started: float, args: argparse.Namespace) -> int:
    """Print the table and notes; save JSON with --json."""
    print_table(rows, facts, args)
    print(f"\n{len(rows)} cell(s) in {time.monotonic() - started:.0f} s")
    if (end["git_commit"], end["git_tree"]) != (facts["git_commit"], facts["git_tree"]):
        print(f"NOTE: the simulator's tree changed during the run ({facts['git_commit']} {facts['git_tree']} -> {end['git_commit']} {end['git_tree']})")
    if args.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        Path(args.json).write_text(json.dumps({"machine": facts, "settings": settings, "rows": rows}, indent=2, default=str) + "\n")
        print(f"results saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
