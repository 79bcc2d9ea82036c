"""The server's own CPU cost per submit_sm and per receipt, in-process: no sockets, no event-loop I/O.

    python benchmarks/bench_inprocess.py [--messages 30000] [--batch 10] [--repeat 5] [--receipts] [--profile PROF]

One SmscServer on a virtual clock with benchmarks/network.yaml, one transceiver connection on a
fake transport. Reads of --batch submit_sm (the same wire template as bench_submit.py) are fed to
SmppConnection.data_received() as the event loop would; the virtual clock is then advanced so the
lifecycle's timers fire, and with --receipts every deliver_sm written is answered with a
deliver_sm_resp in one read per batch. Prints the median and best microseconds per message over
--repeat runs, split into submit (data_received of the submits) and lifecycle (advance: the timers,
and the receipts they send), plus the receipt answers (with the receipts the window held back until then). GC is off while measuring, as the server's
GcPolicy keeps it from rescanning the store. This is the figure to compare code changes by on a
noisy machine: it does not depend on the scheduler or the loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
from pathlib import Path
from struct import pack, unpack_from
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_submit import DELIVER_SM, DELIVER_SM_RESP, bind_pdu, submit_template  # noqa: E402
from simulator.clock import VirtualClock  # noqa: E402
from simulator.config import load_config  # noqa: E402
from simulator.server import SmppConnection, SmscServer  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "network.yaml"


class CountingTransport:
    """Enough of asyncio.Transport for SmppConnection: keeps what is written for the run to read back."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        """Keep the bytes written."""
        self.chunks.append(data)

    def is_closing(self) -> bool:
        """True once closed."""
        return self.closing

    def close(self) -> None:
        """Mark closed."""
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        """No socket, no peer."""
        return default

    def take(self) -> bytes:
        """Everything written since the last call."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def _reads(template: bytes, first_seq: int, count: int, batch: int) -> list[bytes]:
    """count submit_sm with consecutive sequence numbers, joined into reads of batch PDUs."""
    reads = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        reads.append(b"".join(template[:12] + pack(">I", first_seq + start + i) + template[16:] for i in range(n)))
    return reads


def _answers(data: bytes) -> tuple[bytes, int, int]:
    """deliver_sm_resp for every deliver_sm in data (one read), and the counts of responses and deliver_sm seen."""
    out = []
    pos = responses = delivers = 0
    while pos + 16 <= len(data):
        length, command_id, _, seq = unpack_from(">IIII", data, pos)
        if command_id == DELIVER_SM:
            delivers += 1
            out.append(pack(">IIII", 17, DELIVER_SM_RESP, 0, seq) + b"\0")
        elif command_id & 0x80000000:
            responses += 1
        pos += length
    return b"".join(out), responses, delivers


async def run_once(messages: int, batch: int, receipts: bool, profiler: cProfile.Profile | None, gc_on: bool = False) -> dict[str, float]:
    """One fresh server; returns microseconds per message for the submits, the lifecycle and the receipt answers."""
    clock = VirtualClock()
    server = SmscServer(load_config(CONFIG), clock=clock, seed=1)
    transport = CountingTransport()
    conn = SmppConnection(server)
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(bind_pdu(1))
    transport.take()
    reads = _reads(submit_template(1 if receipts else 0), 2, messages, batch)
    gc.collect()
    if not gc_on:
        gc.disable()
    else:
        gc.freeze()
    try:
        if profiler:
            profiler.enable()
        t0 = perf_counter()
        for data in reads:
            conn.data_received(data)
        t1 = perf_counter()
        # Every message's plan ends within a minute on the open network: fire all its timers.
        server.advance(3600)
        server._flush_dirty()
        t2 = perf_counter()
        # The account's window holds back receipts until earlier ones are answered: answer in reads of
        # `batch`, as a gateway would, until no deliver_sm is left (bounded: one round per window).
        answering = 0.0
        delivered = 0
        for _ in range(messages + 1):
            answers, _, seen = _answers(transport.take())
            if not seen:
                break
            delivered += seen
            chunks = [answers[i : i + 17 * batch] for i in range(0, len(answers), 17 * batch)]
            t3 = perf_counter()
            for chunk in chunks:
                conn.data_received(chunk)
            server._flush_dirty()
            answering += perf_counter() - t3
        if profiler:
            profiler.disable()
    finally:
        gc.enable()
    if receipts and delivered != messages:
        raise SystemExit(f"expected {messages} receipts, got {delivered}")
    if server.stats.handler_errors:
        raise SystemExit(f"{server.stats.handler_errors} handler errors")
    conn.connection_lost(None)
    return {
        "submit": (t1 - t0) / messages * 1e6,
        "lifecycle": (t2 - t1) / messages * 1e6,
        "answers": answering / messages * 1e6,
        "total": (t2 - t0 + answering) / messages * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the in-process benchmark and print microseconds per message."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30_000, help="submit_sm per run (default 30000)")
    parser.add_argument("--batch", type=int, default=10, help="PDUs per read (default 10)")
    parser.add_argument("--repeat", type=int, default=5, help="runs, each on a fresh server (default 5)")
    parser.add_argument("--receipts", action="store_true", help="registered_delivery=1: one receipt per message, answered")
    parser.add_argument("--gc", action="store_true", help="leave the garbage collector on (frozen before the run, as GcPolicy would)")
    parser.add_argument("--profile", metavar="PROF", help="cProfile every run into PROF and print the top 30 by tottime")
    args = parser.parse_args(argv)
    if not 0 < args.messages <= 1_000_000 or not 0 < args.batch <= 1000 or not 0 < args.repeat <= 50:
        parser.error("--messages 1..1000000, --batch 1..1000, --repeat 1..50")
    profiler = cProfile.Profile() if args.profile else None
    runs = [asyncio.run(run_once(args.messages, args.batch, args.receipts, profiler, args.gc)) for _ in range(args.repeat)]
    print(f"in-process, {args.messages:,} submit_sm per run in reads of {args.batch}, receipts {'on' if args.receipts else 'off'}, {args.repeat} runs")
    print(f"{'us per message':<16} {'median':>8} {'best':>8}   all runs")
    for key in ("submit", "lifecycle", "answers", "total"):
        values = [run[key] for run in runs]
        print(f"{key:<16} {statistics.median(values):8.2f} {min(values):8.2f}   " + ", ".join(f"{v:.2f}" for v in values))
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
