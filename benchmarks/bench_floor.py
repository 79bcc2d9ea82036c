#!/usr/bin/env python3
"""How fast any pure-Python SMSC can answer submit_sm on this machine: the floor under the issue's targets.

    python benchmarks/bench_floor.py [--repeat 3] [--receipts] [--duration 3] [--simulator] [--json out.json]

bench_submit.py compares the simulator with a responder that does nothing (a fixed submit_sm_resp per
submit_sm). That shows what asyncio can do, not what an SMSC that does its job can. This script adds
responders that each do one more of the things the issue requires for every submit_sm, with the
project's own sans-IO codec and nothing else (no sessions, accounts, routing, faults, logs or rules):

  reference  a fixed submit_sm_resp (bench_submit.py's responder)
  decode     + strict decode of every PDU into its typed, immutable PDU (simulator.smpp.codec)
  store      + a unique hex message_id, the message kept for query_sm (bounded like the simulator's
               store), the submit_sm_resp built and encoded by the codec
  lifecycle  + a timer per message on a heap, fired on a 1 ms wake grid 2 s after acceptance
               (the benchmark network's delivery delay; --delivery-delay, default 0 s with --receipts so
               that receipts flow in steady state, as in bench_matrix.py): the message becomes DELIVERED and, with
               --receipts and registered_delivery set, its receipt (simulator.network.receipts.build_receipt,
               encoded by the codec) goes to the bind that submitted it; deliver_sm_resp is decoded and
               matched to the outstanding receipt

Each runs at (b) 10 binds x window 10 with bench_submit.py's client, server pinned to the first CPU,
alternating with the others per repeat so every row sees the same machine. `lifecycle` is about the
least work per message that the issue's functions need, so its rate is about the most a pure-CPython
simulator can reach here; --simulator adds the real server (with the same delivery delay) in the same
alternation for comparison. The floor responders run with garbage collection off, the most favourable
assumption for them.
"""

from __future__ import annotations

import argparse
import tempfile
import asyncio
import gc
import heapq
import itertools
import json
import socket
import sys
import time
from collections import deque
from pathlib import Path
from struct import pack_into, unpack_from
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import bench_lifecycle as bl  # noqa: E402
import bench_submit as bs  # noqa: E402

from simulator.smpp import pdu as P  # noqa: E402
from simulator.smpp.codec import PduError, decode_frame, encode  # noqa: E402
from simulator.smpp.constants import MessageState  # noqa: E402
from simulator.network.receipts import build_receipt  # noqa: E402

LEVELS = ("decode", "store", "lifecycle")
NETWORK_DELAY = 2.0  # benchmarks/network.yaml: DELIVERED 2 s after acceptance
STORE_LIMIT = 100_000  # the simulator's default smsc.message_store_limit
WAKE = 0.001  # the simulator's RealClock wake grid


class _Message:
    """What the store keeps of an accepted message."""

    __slots__ = ("message_id", "pdu", "conn", "accepted_at", "state", "done_at")

    def __init__(self, message_id: str, pdu: P.Pdu, conn: FloorProtocol, accepted_at: float) -> None:
        self.message_id = message_id
        self.pdu = pdu
        self.conn = conn
        self.accepted_at = accepted_at
        self.state = MessageState.ENROUTE
        self.done_at = 0.0


class FloorNetwork:
    """The state all connections of one floor responder share: ids, store, timer heap."""

    def __init__(self, level: str, delay: float) -> None:
        self.level = level
        self.delay = delay
        self.ids = itertools.count(0x1A2B3C4D)
        self.store: dict[str, _Message] = {}
        self.order: deque[str] = deque()
        self.heap: list[tuple[float, int, _Message]] = []
        self.seq = itertools.count()
        self.wake: asyncio.TimerHandle | None = None

    def accept(self, pdu: P.Pdu, conn: FloorProtocol, now: float) -> str:
        """Store a message and, at the lifecycle level, schedule its delivery; return its id."""
        message_id = format(next(self.ids), "x")
        message = _Message(message_id, pdu, conn, now)
        self.store[message_id] = message
        self.order.append(message_id)
        if len(self.order) > STORE_LIMIT:
            self.store.pop(self.order.popleft(), None)
        if self.level == "lifecycle":
            due = now + self.delay
            heapq.heappush(self.heap, (due, next(self.seq), message))
            if self.wake is None:
                self._arm(due)
        return message_id

    def _arm(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        slot = (int(due / WAKE) + 1) * WAKE  # the next point of the wake grid, as RealClock.seconds_until
        self.wake = loop.call_later(max(0.0, slot - time.time()), self._fire)

    def _fire(self) -> None:
        self.wake = None
        now = time.time()
        heap = self.heap
        touched: set[FloorProtocol] = set()
        while heap and heap[0][0] <= now:
            message = heapq.heappop(heap)[2]
            message.state = MessageState.DELIVERED
            message.done_at = now
            if message.pdu.registered_delivery and not message.conn.transport.is_closing():
                message.conn.queue_receipt(message)
                touched.add(message.conn)
        for conn in touched:
            conn.flush()
        if heap:
            self._arm(heap[0][0])


class FloorProtocol(asyncio.Protocol):
    """One bind: frames, decodes, answers; what it does per submit_sm depends on the network's level."""

    network: FloorNetwork

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = bytearray()
        self.out = bytearray()
        self.next_seq = 0
        self.outstanding: dict[int, _Message] = {}
        self.sock = transport.get_extra_info("socket")
        if self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        size = len(buf)
        pos = 0
        out = self.out
        network = self.network
        level = network.level
        now = time.time()
        close = False
        while size - pos >= 16:
            length, cid, status, seq = unpack_from(bs.HDR, buf, pos)
            if length < 16 or length > bs.MAX_PDU:
                self.transport.close()
                return
            if size - pos < length:
                break
            frame = bytes(buf[pos : pos + length])
            pos += length
            try:
                pdu = decode_frame(frame, cid, status, seq)
            except PduError as exc:
                out += encode(P.GenericNack(command_status=exc.status, sequence_number=seq))
                continue
            if cid == bs.SUBMIT_SM:
                if level == "decode":
                    at = len(out) + 12
                    out += bs.REF_SUBMIT_RESP
                    pack_into(">I", out, at, seq)
                else:
                    out += encode(pdu.make_response(message_id=network.accept(pdu, self, now)))
            elif cid == bs.DELIVER_SM_RESP:
                self.outstanding.pop(seq, None)
            elif cid in (bs.BIND_TRANSCEIVER, bs.BIND_TRANSMITTER, bs.BIND_RECEIVER):
                out += encode(pdu.make_response(system_id="FLOOR"))
            elif cid == bs.ENQUIRE_LINK or cid == bs.UNBIND:
                out += encode(pdu.make_response())
                close = cid == bs.UNBIND
        if pos:
            del buf[:pos]
        if out:
            self.flush()
        elif self.sock is not None and bs.QUICKACK is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, bs.QUICKACK, 1)
        if close:
            self.transport.close()

    def queue_receipt(self, message: _Message) -> None:
        """Add the message's DELIVERED receipt to the pending output."""
        pdu = message.pdu
        self.next_seq += 1
        receipt = build_receipt(
            message.message_id,
            source_addr_ton=pdu.dest_addr_ton,
            source_addr_npi=pdu.dest_addr_npi,
            source_addr=pdu.destination_addr,
            dest_addr_ton=pdu.source_addr_ton,
            dest_addr_npi=pdu.source_addr_npi,
            destination_addr=pdu.source_addr,
            submitted_at=message.accepted_at,
            done_at=message.done_at,
            state=MessageState.DELIVERED,
            error_code=0,
            text=pdu.short_message[:20].decode("latin-1"),
            intermediate=False,
        ).with_sequence(self.next_seq)
        self.outstanding[self.next_seq] = message
        self.out += encode(receipt)

    def flush(self) -> None:
        """Write the pending output in one write."""
        self.transport.write(bytes(self.out))
        self.out.clear()


async def _serve(level: str, delay: float, port: int, lifetime: float) -> None:
    # No garbage collection at all: the most favourable assumption for the floor (the simulator's GcPolicy
    # still runs young collections every 10 ms, and a real server cannot go without them).
    gc.disable()
    FloorProtocol.network = FloorNetwork(level, delay)
    await bs.serve_until_stopped(FloorProtocol, port, lifetime)


def floor_argv(level: str, delay: float, port: int) -> list[str]:
    """The command line of the floor responder of `level` on `port`, messages DELIVERED `delay` seconds after acceptance."""
    return [sys.executable, str(Path(__file__).resolve()), "--serve", level, "--delivery-delay", str(delay), "--port", str(port)]


def main(argv: list[str] | None = None) -> int:
    """Measure the reference, the floor levels and optionally the simulator at (b) 10 x 10."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receipts", action="store_true", help="submit with registered_delivery=1 and answer deliver_sm")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run at most (default 3)")
    parser.add_argument("--max-pdus", type=int, default=300_000, help="measured responses per run at most (default 300000)")
    parser.add_argument("--warmup", type=float, default=2.5, help="warm-up seconds (default 2.5: past the 2 s delivery delay, so receipts flow while measuring)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per responder; the median by rate is kept (default 3)")
    parser.add_argument("--delivery-delay", type=float, default=None, help="seconds from acceptance to DELIVERED (default 2, or 0 with --receipts)")
    parser.add_argument("--simulator", action="store_true", help="also run the simulator (smsc-sim serve, benchmarks/network.yaml)")
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    parser.add_argument("--serve", choices=LEVELS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    delay = args.delivery_delay if args.delivery_delay is not None else (0.0 if args.receipts else NETWORK_DELAY)
    if args.serve:
        asyncio.run(_serve(args.serve, delay, args.port, args.lifetime))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_floor.") as tmp:
        config = common.CONFIG
        if delay != NETWORK_DELAY:
            profile = bl.write_profile(Path(tmp), "floor", [{"sequence": [{"after": f"{delay:g}s", "state": "DELIVERED"}]}])
            config = bl.write_server_config(Path(tmp), "floor", profile)
        return _measure(args, delay, config)


def _measure(args: argparse.Namespace, delay: float, config: Path) -> int:

    bs.check_templates()
    facts, server_cpu, _ = common.prepare_machine()
    bs.SERVER_CPU = server_cpu
    # run_against and closed_loop_run read these bench_submit.py options.
    args.profile_server = args.py_spy = None
    args.py_spy_blocking = False
    targets: list[tuple[str, Any]] = [("reference", lambda port: bs.reference_argv(port, args.receipts))]
    targets += [(level, lambda port, level=level: floor_argv(level, delay, port)) for level in LEVELS]
    if args.simulator:
        targets.append(("simulator", lambda port: common.simulator_argv(port, config, None, None)))
    _, binds, window = bs.CONFIGS["b"]

    def job(port: int, pid: int) -> Any:
        return bs.closed_loop_run(port, pid, binds, window, args)

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in targets}
    for _ in range(args.repeat):
        for name, argv_for_port in targets:
            result = bs.run_against(name, argv_for_port, server_cpu, job, args)
            print(f"{name:<10} {bs.describe(result)}", flush=True)
            runs[name].append(result)

    chosen = {name: sorted(rs, key=lambda r: r["rate"])[(len(rs) - 1) // 2] for name, rs in runs.items()}
    reference = chosen["reference"]["rate"]
    print()
    print(f"(b) 10 binds x window 10, receipts {'on' if args.receipts else 'off'}, DELIVERED {delay:g} s after acceptance, median of {args.repeat} runs")
    print(f"{'responder':<10} {'submit_sm/s':>12} {'receipts/s':>11} {'us/PDU':>8} {'x reference':>12}   all rates")
    for name, r in chosen.items():
        rates = ", ".join(f"{x['rate']:,.0f}" for x in runs[name])
        receipts = r["receipts"] / r["elapsed_s"] if r["elapsed_s"] else 0.0
        print(f"{name:<10} {r['rate']:>12,.0f} {receipts:>11,.0f} {r['server_us_per_pdu']:>8.1f} {r['rate'] / reference:>12.3f}   {rates}")
    errors = sum(r.get("errors", 0) for rs in runs.values() for r in rs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": facts, "receipts": args.receipts, "delivery_delay_s": delay, "runs": runs}, f, indent=1, default=str)
    if errors:
        print(f"ERROR: {errors} error responses")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
