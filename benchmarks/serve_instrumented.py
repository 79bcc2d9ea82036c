#!/usr/bin/env python3
"""Run `smsc-sim serve` with garbage-collector and event-loop-stall instrumentation (diagnostics only).

    python benchmarks/serve_instrumented.py [--gc-freeze-after-start] [--gc-threshold N] -- serve --config ... --port N

Records every cyclic-GC pass (generation, objects collected, pause) through gc.callbacks and, on
exit (SIGTERM, as bench_submit.py sends), prints a summary to stderr: passes per generation, total
and worst pause, and the tracked-object count. It does not change the simulator; the options only
change interpreter GC settings, to show how much of the server's time and tail latency is GC.

bench_submit.py uses it with --server-wrapper instrumented.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from collections import defaultdict

_stats: dict[int, list[float]] = defaultdict(list)
_collected: dict[int, int] = defaultdict(int)
_start: list[float] = [0.0, 0]


def _callback(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _start[0] = time.perf_counter()
        _start[1] = info["generation"]
    else:
        _stats[info["generation"]].append(time.perf_counter() - _start[0])
        _collected[info["generation"]] += info.get("collected", 0)


def _report() -> None:
    summary = {}
    for gen in sorted(_stats):
        pauses = sorted(_stats[gen])
        summary[f"gen{gen}"] = {
            "passes": len(pauses),
            "total_ms": round(sum(pauses) * 1e3, 2),
            "max_ms": round(pauses[-1] * 1e3, 3) if pauses else 0.0,
            "p50_ms": round(pauses[len(pauses) // 2] * 1e3, 3) if pauses else 0.0,
            "collected": _collected[gen],
        }
    summary["tracked_objects_at_exit"] = len(gc.get_objects())
    summary["threshold"] = gc.get_threshold()
    line = "GCSTATS " + json.dumps(summary)
    out = os.environ.get("BENCH_GC_STATS")
    if out:
        with open(out, "w") as f:
            f.write(json.dumps(summary) + "\n")
    print(line, file=sys.stderr, flush=True)


def main() -> None:
    argv = sys.argv[1:]
    if "--" in argv:
        ours, rest = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    else:
        ours, rest = [], argv
    if "--gc-off" in ours:
        gc.disable()
    for i, arg in enumerate(ours):
        if arg == "--gc-threshold":
            gc.set_threshold(int(ours[i + 1]))
    gc.callbacks.append(_callback)
    atexit.register(_report)
    from simulator.cli import main as cli_main

    try:
        cli_main(rest, prog_name="smsc-sim")
    except SystemExit:
        pass


if __name__ == "__main__":
    main()
