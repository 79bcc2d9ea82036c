#!/usr/bin/env python3
"""Machine floor for request/response over loopback: blocking-socket ping-pong between two pinned processes.

    python benchmarks/pingpong.py [--duration 3] [--max-trips 200000]

No SMPP and no asyncio: an echo process on the server CPU returns each 16-octet message, this
process (on the client CPU) sends the next one when the echo arrives. The round-trip rate and
its p50/p99 are the best any synchronous client (smpplib included) can see on this machine, and
the share of round trips over 1 ms exposes wake-up delays of idle virtual CPUs, which on some
hypervisors land on the guest's timer tick (4 ms at HZ=250) and dominate p99.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402


def echo(port: int, lifetime: float) -> None:
    with socket.socket() as listener:
        listener.bind((common.HOST, port))
        listener.listen(1)
        listener.settimeout(lifetime)
        conn, _ = listener.accept()
        conn.settimeout(lifetime)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            for _ in range(50_000_000):  # bounded; ends when the client closes
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)


def measure(port: int, duration: float, max_trips: int, nodelay: bool) -> dict[str, float]:
    with socket.create_connection((common.HOST, port), timeout=5) as s:
        if nodelay:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        msg = b"x" * 16
        samples: list[float] = []
        end = perf_counter() + duration
        warm = perf_counter() + 0.5
        for _ in range(max_trips + 1_000_000):
            t = perf_counter()
            if t >= end or len(samples) >= max_trips:
                break
            s.sendall(msg)
            got = 0
            while got < 16:
                chunk = s.recv(16 - got)
                if not chunk:
                    raise RuntimeError("echo closed")
                got += len(chunk)
            if t >= warm:
                samples.append(perf_counter() - t)
    samples.sort()
    n = len(samples)
    return {
        "trips": n,
        "rate": n / sum(samples) if samples else 0.0,
        "p50_ms": common.percentile(samples, 50) * 1e3,
        "p99_ms": common.percentile(samples, 99) * 1e3,
        "p999_ms": common.percentile(samples, 99.9) * 1e3,
        "over_1ms_pct": sum(1 for x in samples if x > 1e-3) / n * 100 if n else 0.0,
        "mean_ms": sum(samples) / n * 1e3 if n else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--max-trips", type=int, default=200_000)
    parser.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        echo(args.echo, 120.0)
        return 0
    common.print_machine(common.machine_facts())
    server_cpu, client_cpu = common.cpu_plan()
    common.pin_self(client_cpu)
    for nodelay in (False, True):
        port = common.free_port()
        proc = None
        try:
            proc = common.spawn([sys.executable, str(Path(__file__).resolve()), "--echo", str(port)], server_cpu)
            for _ in range(200):
                try:
                    r = measure(port, args.duration, args.max_trips, nodelay)
                    break
                except ConnectionRefusedError:
                    import time

                    time.sleep(0.02)
            else:
                raise RuntimeError("echo process never listened")
        finally:
            if proc is not None:
                try:
                    proc.wait(timeout=5)
                except Exception:  # noqa: BLE001
                    proc.kill()
                    proc.wait(timeout=5)
        print(
            f"ping-pong TCP_NODELAY={'on ' if nodelay else 'off'}: {r['rate']:>8,.0f} round trips/s"
            f"  mean {r['mean_ms']:.3f} ms  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  p99.9 {r['p999_ms']:.3f} ms"
            f"  over 1 ms: {r['over_1ms_pct']:.2f}%  n={r['trips']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
