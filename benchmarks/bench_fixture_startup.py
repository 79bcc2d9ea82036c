"""How fast the `smsc` fixture's simulator starts and stops: median and p90 over N runs, per network.

    python benchmarks/bench_fixture_startup.py [--runs 50]

Start = SimulatedSmsc(...).start() returning with the SMPP port listening; first bind = our ESME
connected and bound; stop = the teardown check plus a graceful stop. Figures are wall milliseconds
on this machine (noisy: medians, and a ratio against an asyncio loop-thread start in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

from simulator.harness.smsc import SimulatedSmsc


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _loop_thread_start() -> float:
    """Reference: start and stop a bare event loop in a thread (the floor for any in-process server)."""
    started = time.perf_counter()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    """Print start, first-bind and stop times per network."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="runs per network (bounded: at most 1000)")
    args = parser.parse_args()
    runs = max(1, min(args.runs, 1000))
    reference = statistics.median(_loop_thread_start() for _ in range(runs))
    print(f"reference: bare loop thread start+stop median {reference:.2f} ms")
    print(f"{'network':<10}{'start p50':>11}{'start p90':>11}{'bind p50':>10}{'stop p50':>10}{'start/ref':>11}")
    for network in ("default", "open"):
        starts, binds, stops = [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            smsc = SimulatedSmsc(network=network).start()
            t1 = time.perf_counter()
            smsc.esme()
            t2 = time.perf_counter()
            assert smsc.problems(settle=0) == []
            smsc.stop()
            t3 = time.perf_counter()
            starts.append((t1 - t0) * 1000)
            binds.append((t2 - t1) * 1000)
            stops.append((t3 - t2) * 1000)
        p50 = statistics.median(starts)
        print(
            f"{network:<10}{p50:>9.2f}ms{_percentile(starts, 0.9):>9.2f}ms{statistics.median(binds):>8.2f}ms"
            f"{statistics.median(stops):>8.2f}ms{p50 / reference:>10.1f}x"
        )


if __name__ == "__main__":
    main()
