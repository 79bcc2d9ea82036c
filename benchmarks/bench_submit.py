#!/usr/bin/env python3
"""submit_sm throughput and latency of the simulator, next to a no-logic reference responder.

    python benchmarks/bench_submit.py [--receipts] [--duration 5] [--max-pdus 300000] [--json out.json]

The server under test runs as its own process, pinned to one CPU (the first this process may use),
so the figures are "one core"; the load client runs here, pinned to the second CPU. The client is a
windowed asyncio.Protocol that frames by hand over a bytearray, sends a pre-encoded submit_sm whose
sequence_number bytes are patched, and parses only the 16-octet header of what comes back, so that
it costs a fraction of what the server spends per PDU (its own CPU use is printed to prove it).

Configurations (closed loop: every response frees a window slot that is refilled at once):
  (a) 1 bind  x window 1     - pure request/response round trips
  (b) 10 binds x window 10   - the issue's headline figure
  (c) 1 bind  x window 100   - one deep pipeline
then "half load": an open-loop run paced at 50% of the rate measured for (b), for p50/p99 latency.

Every run: a warm-up (default 1 s), then measurement until --max-pdus responses or --duration
seconds, whichever first. Latency is exact: the send time of each submit_sm is kept by
sequence_number and every submit_sm_resp yields one sample; percentiles are nearest-rank over all
samples. Server CPU is utime+stime from /proc/<pid>/stat over the measured interval, as CPU
seconds per second (1.00 = one core saturated).

The same runs are first made against a minimal asyncio SMPP responder defined in this file (same
Protocol style, hand framing, one write per batch, a fixed submit_sm_resp for every submit_sm): its
figures are what Python's asyncio on this machine can do at all, and the simulator's figures are
also printed as ratios to it, which survive a noisy or slower machine better than absolute rates.

--receipts sets registered_delivery=1. The client answers every deliver_sm with deliver_sm_resp and
counts them. The reference responder then sends a fixed deliver_sm receipt right after each
submit_sm_resp, in the same write. Receipts start 2 s after the first submit_sm (the benchmark network's delivery delay),
so with the default 1 s warm-up the measured interval mixes phases; bench_matrix.py measures steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from struct import pack, pack_into, unpack_from
from time import perf_counter
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

HDR = ">IIII"
GENERIC_NACK = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x01, 0x02, 0x09
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM, SUBMIT_SM_RESP = 0x04, 0x80000004
DELIVER_SM, DELIVER_SM_RESP = 0x05, 0x80000005
UNBIND, UNBIND_RESP = 0x06, 0x80000006
ENQUIRE_LINK, ENQUIRE_LINK_RESP = 0x15, 0x80000015
MAX_PDU = 65536
QUICKACK = getattr(socket, "TCP_QUICKACK", None)

WARMUP, MEASURE, STOPPED = 0, 1, 2
CONFIGS = {
    "a": ("(a) 1 bind x window 1", 1, 1),
    "b": ("(b) 10 binds x window 10", 10, 10),
    "c": ("(c) 1 bind x window 100", 1, 100),
}
TARGETS = {
    "rate_b_no_receipts": 100_000,
    "rate_b_receipts": 50_000,
    "p99_half_load_ms": 2.0,
    "smpplib_receipts": 6_000,
}
SERVER_CPU: int | None = None  # set by main(): the CPU the server is pinned to (for steal accounting)
SHORT_MESSAGE = b"Benchmark message from bench_submit.py: hello, this is sixty-four"[:64]


# --- wire templates (built by hand: the client must not share the server's codec) -------------


def _pdu(command_id: int, seq: int, body: bytes, status: int = 0) -> bytes:
    return pack(HDR, 16 + len(body), command_id, status, seq) + body


def _cstr(text: str) -> bytes:
    return text.encode("latin-1") + b"\0"


def bind_pdu(seq: int, system_id: str = "bench", password: str = "bench") -> bytes:
    body = _cstr(system_id) + _cstr(password) + _cstr("") + bytes([0x34, 0, 0]) + _cstr("")
    return _pdu(BIND_TRANSCEIVER, seq, body)


def submit_template(registered_delivery: int) -> bytes:
    """A submit_sm with sequence_number 0: service_type, addresses, flags, 64-octet GSM text."""
    body = (
        _cstr("")  # service_type
        + bytes([1, 1])
        + _cstr("447700900001")  # source TON/NPI/address
        + bytes([1, 1])
        + _cstr("447700900123")  # destination
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + _cstr("")
        + _cstr("")  # schedule_delivery_time, validity_period
        + bytes([registered_delivery, 0, 0, 0])  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
        + bytes([len(SHORT_MESSAGE)])
        + SHORT_MESSAGE
    )
    return _pdu(SUBMIT_SM, 0, body)


DELIVER_SM_RESP_TPL = _pdu(DELIVER_SM_RESP, 0, b"\0")
ENQUIRE_LINK_RESP_TPL = _pdu(ENQUIRE_LINK_RESP, 0, b"")
UNBIND_RESP_TPL = _pdu(UNBIND_RESP, 0, b"")


def check_templates() -> None:
    """Decode the hand-built PDUs with the simulator's strict codec once, so a bad template fails loudly."""
    try:
        from simulator.smpp.codec import decode
    except ImportError:
        return
    for registered_delivery in (0, 1):
        pdu = decode(submit_template(registered_delivery))
        assert pdu.registered_delivery == registered_delivery and pdu.short_message == SHORT_MESSAGE  # type: ignore[attr-defined]
    decode(bind_pdu(1))
    decode(DELIVER_SM_RESP_TPL)
    receipt = decode(REF_RECEIPT)
    assert receipt.esm_class == 0x04 and receipt.tlv("receipted_message_id") == "1a2b3c4d" and receipt.tlv("message_state") == 2  # type: ignore[attr-defined]


# --- the reference responder (runs in a subprocess: bench_submit.py --serve-reference) --------

REF_SUBMIT_RESP = _pdu(SUBMIT_SM_RESP, 0, b"1a2b3c4d\0")  # same size as the simulator's hex message_id
REF_BIND_BODY = _cstr("REFSIM")


def receipt_template() -> bytes:
    """A deliver_sm receipt with sequence_number 0, the size and shape of the simulator's (SMPP 3.4 Appendix B text)."""
    text = b"id:1a2b3c4d sub:001 dlvrd:001 submit date:2612052200 done date:2612052200 stat:DELIVRD err:000 text:Benchmark message f"
    body = (
        _cstr("")
        + bytes([1, 1])
        + _cstr("447700900123")  # source: the handset
        + bytes([1, 1])
        + _cstr("447700900001")  # destination: the sender
        + bytes([0x04, 0, 0])  # esm_class: SMSC delivery receipt
        + _cstr("")
        + _cstr("")
        + bytes([0, 0, 0, 0])
        + bytes([len(text)])
        + text
        + pack(">HH", 0x001E, 9) + b"1a2b3c4d\0"  # receipted_message_id
        + pack(">HHB", 0x0427, 1, 2)  # message_state DELIVERED
    )
    return _pdu(DELIVER_SM, 0, body)


REF_RECEIPT = receipt_template()


class ReferenceProtocol(asyncio.Protocol):
    """No logic: answer every submit_sm with a fixed submit_sm_resp, binds with OK, one write per read.

    With `receipts` set (--serve-reference --receipts) every submit_sm_resp is followed in the same write by a
    fixed deliver_sm receipt: the cheapest a server with receipts due at once can be."""

    receipts = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = bytearray()
        self.next_seq = 0
        self.sock = transport.get_extra_info("socket")
        if self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        size = len(buf)
        pos = 0
        out = bytearray()
        close = False
        while size - pos >= 16:
            length, cid, _status, seq = unpack_from(HDR, buf, pos)
            if length < 16 or length > MAX_PDU:
                self.transport.close()
                return
            if size - pos < length:
                break
            pos += length
            if cid == SUBMIT_SM:
                at = len(out) + 12
                out += REF_SUBMIT_RESP
                pack_into(">I", out, at, seq)
                if self.receipts:
                    self.next_seq += 1
                    at = len(out) + 12
                    out += REF_RECEIPT
                    pack_into(">I", out, at, self.next_seq)
            elif cid in (BIND_TRANSCEIVER, BIND_TRANSMITTER, BIND_RECEIVER):
                out += _pdu(cid | 0x80000000, seq, REF_BIND_BODY)
            elif cid == ENQUIRE_LINK:
                out += _pdu(ENQUIRE_LINK_RESP, seq, b"")
            elif cid == UNBIND:
                out += _pdu(UNBIND_RESP, seq, b"")
                close = True
            elif not cid & 0x80000000:
                out += _pdu(GENERIC_NACK, seq, b"", status=0x03)  # ESME_RINVCMDID
        if pos:
            del buf[:pos]
        if out:
            self.transport.write(out)
        elif self.receipts and self.sock is not None and QUICKACK is not None:
            # A read with no reply (deliver_sm_resp): ACK at once, or a synchronous peer with Nagle on holds
            # its next submit_sm for our delayed ACK (40 ms), as the issue describes; the simulator does the same.
            self.sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        if close:
            self.transport.close()


async def _serve_reference(port: int, lifetime: float, receipts: bool) -> None:
    ReferenceProtocol.receipts = receipts
    await serve_until_stopped(ReferenceProtocol, port, lifetime)


async def serve_until_stopped(protocol_factory: Any, port: int, lifetime: float) -> None:
    """Serve a responder's protocol on 127.0.0.1:port until SIGTERM/SIGINT, or `lifetime` seconds at most."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory, common.HOST, port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), lifetime)  # bounded even if the parent dies
    except asyncio.TimeoutError:
        pass
    server.close()


def reference_argv(port: int, receipts: bool = False) -> list[str]:
    """The command line of the reference responder on `port`, sending a receipt per submit_sm if `receipts`."""
    return [sys.executable, str(Path(__file__).resolve()), "--serve-reference", "--port", str(port), *(["--receipts"] if receipts else [])]


# --- the load client --------------------------------------------------------------------------


class Run:
    """Shared state of one measured run across its connections."""

    def __init__(self, template: bytes, max_pdus: int, server_pid: int) -> None:
        self.template = template
        self.tpl_len = len(template)
        self.max_pdus = max_pdus
        self.server_pid = server_pid
        self.phase = WARMUP
        self.latencies: list[float] = []
        self.completed = 0  # responses during MEASURE
        self.receipts = 0  # deliver_sm during MEASURE
        self.receipts_total = 0
        self.errors = 0  # non-zero command_status or generic_nack, whole run
        self.sent_total = 0
        self.responses_total = 0  # every submit_sm_resp, warm-up and drain included
        self.window_delayed = 0  # open loop: submit_sm that had to wait for window room
        self.t0 = self.t1 = 0.0
        self.srv0 = self.srv1 = 0.0
        self.cli0 = self.cli1 = 0.0
        self.steal0 = self.steal1 = 0.0
        self.busy0 = self.busy1 = 0.0
        self.done = asyncio.Event()

    def start_measure(self) -> None:
        self.srv0 = common.proc_cpu_seconds(self.server_pid)
        self.cli0 = common.self_cpu_seconds()
        self.steal0 = common.cpu_steal_seconds(SERVER_CPU)
        self.busy0 = common.cpu_busy_seconds(SERVER_CPU)
        self.t0 = perf_counter()
        self.phase = MEASURE

    def finish(self) -> None:
        if self.phase == STOPPED:
            return
        if self.phase == WARMUP:  # stopped before measuring (should not happen); measure nothing
            self.start_measure()
        self.t1 = perf_counter()
        self.phase = STOPPED
        self.srv1 = common.proc_cpu_seconds(self.server_pid)
        self.cli1 = common.self_cpu_seconds()
        self.steal1 = common.cpu_steal_seconds(SERVER_CPU)
        self.busy1 = common.cpu_busy_seconds(SERVER_CPU)
        self.done.set()

    def result(self) -> dict[str, Any]:
        elapsed = self.t1 - self.t0
        lat = sorted(self.latencies)
        rate = self.completed / elapsed if elapsed > 0 else 0.0
        srv = (self.srv1 - self.srv0) / elapsed if elapsed > 0 else math.nan
        cli = (self.cli1 - self.cli0) / elapsed if elapsed > 0 else math.nan
        return {
            "completed": self.completed,
            "elapsed_s": round(elapsed, 4),
            "rate": rate,
            "p50_ms": common.percentile(lat, 50) * 1e3,
            "p99_ms": common.percentile(lat, 99) * 1e3,
            "p999_ms": common.percentile(lat, 99.9) * 1e3,
            "max_ms": (lat[-1] * 1e3) if lat else math.nan,
            "samples": len(lat),
            "server_cpu": srv,
            "server_us_per_pdu": (srv * elapsed / self.completed * 1e6) if self.completed else math.nan,
            "client_cpu": cli,
            "server_cpu_steal": (self.steal1 - self.steal0) / elapsed if elapsed > 0 else math.nan,
            # Time the server's CPU spent on anything but the server (other processes, interrupts, steal).
            "server_core_other": max(0.0, (self.busy1 - self.busy0) / elapsed - srv) if elapsed > 0 else math.nan,
            "errors": self.errors,
            "receipts": self.receipts,
            "receipts_total": self.receipts_total,
            "responses_total": self.responses_total,
        }


class BindConnection(asyncio.Protocol):
    """What every benchmark bind shares: the window, the read buffer, send times by sequence number,
    the bind/unbind/close futures, TCP_NODELAY, and sequence numbers."""

    def __init__(self, window: int) -> None:
        loop = asyncio.get_running_loop()
        self.window = window
        self.buf = bytearray()
        self.sent: dict[int, float] = {}  # sequence_number -> send time (perf_counter)
        self.next_seq = 1
        self.transport: asyncio.Transport | None = None
        self.bound: asyncio.Future[int] = loop.create_future()
        self.unbound: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.bound.done():
            self.bound.set_result(-1)
        for fut in (self.unbound, self.closed):
            if not fut.done():
                fut.set_result(None)

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq


class LoadConnection(BindConnection):
    """One bind of the load client. closed_loop=True refills the window on every response batch."""

    def __init__(self, run: Run, window: int, closed_loop: bool) -> None:
        super().__init__(window)
        self.run = run
        self.closed_loop = closed_loop
        # Open loop: offer times of submit_sm that are due but wait for window room. Their latency
        # counts from the offer, so a stalled server is not hidden by the client sending less
        # (coordinated omission).
        self.backlog: deque[float] = deque()

    def batch(self, n: int, times: list[float] | None = None) -> bytearray:
        """n submit_sm with fresh sequence numbers; their send time is now, or the given intended times."""
        run = self.run
        tpl_len = run.tpl_len
        out = bytearray(run.template * n)
        seq = self.next_seq
        sent = self.sent
        now = perf_counter()
        offset = 12
        for i in range(n):
            pack_into(">I", out, offset, seq)
            sent[seq] = now if times is None else times[i]
            seq += 1
            offset += tpl_len
        self.next_seq = seq
        run.sent_total += n
        return out

    def pump(self) -> bytearray | None:
        """Open loop: the backlogged submit_sm that fit the window now, or None."""
        backlog = self.backlog
        room = self.window - len(self.sent)
        if room <= 0 or not backlog:
            return None
        n = min(room, len(backlog))
        popleft = backlog.popleft
        return self.batch(n, [popleft() for _ in range(n)])

    def fill(self) -> None:
        """Send as many submit_sm as the window has room for (closed loop kick-off)."""
        n = self.window - len(self.sent)
        if n > 0 and self.transport is not None:
            self.transport.write(self.batch(n))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        size = len(buf)
        pos = 0
        now = perf_counter()
        run = self.run
        measuring = run.phase == MEASURE
        lat_append = run.latencies.append
        sent_pop = self.sent.pop
        done = 0
        reply: bytearray | None = None
        while size - pos >= 16:
            length, cid, status, seq = unpack_from(HDR, buf, pos)
            if length < 16 or length > MAX_PDU:
                raise RuntimeError(f"unframeable PDU from server: command_length {length}")
            if size - pos < length:
                break
            pos += length
            if cid == SUBMIT_SM_RESP:
                t = sent_pop(seq, None)
                if t is not None:
                    done += 1
                    if measuring:
                        lat_append(now - t)
                if status:
                    run.errors += 1
            elif cid == DELIVER_SM:
                if reply is None:
                    reply = bytearray()
                at = len(reply) + 12
                reply += DELIVER_SM_RESP_TPL
                pack_into(">I", reply, at, seq)
                run.receipts_total += 1
                if measuring:
                    run.receipts += 1
            elif cid == GENERIC_NACK:
                run.errors += 1
                if sent_pop(seq, None) is not None:
                    done += 1
            elif cid == ENQUIRE_LINK:
                reply = reply if reply is not None else bytearray()
                at = len(reply) + 12
                reply += ENQUIRE_LINK_RESP_TPL
                pack_into(">I", reply, at, seq)
            elif cid == BIND_TRANSCEIVER_RESP:
                if not self.bound.done():
                    self.bound.set_result(status)
            elif cid == UNBIND_RESP:
                if not self.unbound.done():
                    self.unbound.set_result(None)
            elif cid == UNBIND:
                reply = reply if reply is not None else bytearray()
                at = len(reply) + 12
                reply += UNBIND_RESP_TPL
                pack_into(">I", reply, at, seq)
        if pos:
            del buf[:pos]
        run.responses_total += done
        if done and measuring:
            run.completed += done
            if run.completed >= run.max_pdus:
                run.finish()
        if self.closed_loop and done and run.phase != STOPPED:
            n = self.window - len(self.sent)
            if n > 0:
                if reply is None:
                    reply = self.batch(n)
                else:
                    reply += self.batch(n)
        elif self.backlog and done and run.phase != STOPPED:
            before = len(self.backlog)
            more = self.pump()
            if more is not None:
                run.window_delayed += before - len(self.backlog)
                if reply is None:
                    reply = more
                else:
                    reply += more
        if reply:
            self.transport.write(reply)  # type: ignore[union-attr]


async def connect_binds(port: int, binds: int, window: int, run: Run, closed_loop: bool) -> list[LoadConnection]:
    loop = asyncio.get_running_loop()
    conns: list[LoadConnection] = []
    for _ in range(binds):
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: LoadConnection(run, window, closed_loop), common.HOST, port), 5.0
        )
        conns.append(conn)
        conn.transport.write(bind_pdu(conn.take_seq()))  # type: ignore[union-attr]
        status = await asyncio.wait_for(conn.bound, 5.0)
        if status != 0:
            raise RuntimeError(f"bind_transceiver refused: command_status 0x{status & 0xFFFFFFFF:08X}")
    return conns


async def drain_and_unbind(conns: list[LoadConnection], timeout: float = 5.0) -> int:
    """Wait (bounded) for outstanding responses, unbind, close. Returns requests left unanswered."""
    deadline = time.monotonic() + timeout
    while any(c.sent for c in conns) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    left = sum(len(c.sent) for c in conns)
    for c in conns:
        if c.transport is not None and not c.transport.is_closing():
            c.transport.write(_pdu(UNBIND, c.take_seq(), b""))
    waiting = [c.unbound for c in conns if not c.unbound.done()]
    if waiting:
        await asyncio.wait(waiting, timeout=max(0.1, deadline - time.monotonic()) + 1.0)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    closing = [c.closed for c in conns if not c.closed.done()]
    if closing:
        await asyncio.wait(closing, timeout=2.0)
    return left


async def closed_loop_run(port: int, server_pid: int, binds: int, window: int, args: argparse.Namespace) -> dict[str, Any]:
    run = Run(submit_template(1 if args.receipts else 0), args.max_pdus, server_pid)
    conns = await connect_binds(port, binds, window, run, closed_loop=True)
    gc.collect()
    gc.disable()  # the client allocates little, but a pause would land in the latency samples
    try:
        for c in conns:
            c.fill()
        await asyncio.sleep(args.warmup)
        run.start_measure()
        try:
            await asyncio.wait_for(run.done.wait(), args.duration)
        except asyncio.TimeoutError:
            pass
        run.finish()
    finally:
        gc.enable()
    left = await drain_and_unbind(conns)
    result = run.result()
    result.update(binds=binds, window=window, mode="closed", unanswered_at_end=left)
    return result


async def open_loop_run(
    port: int, server_pid: int, binds: int, window: int, rate: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Paced sending at a fixed offered rate, whatever the responses do.

    submit_sm number i is due at start + i/rate and goes to bind i mod binds; every pacing tick
    offers the PDUs that have come due. One that finds its bind's window full waits in that bind's
    backlog and is sent as soon as a response frees room; its latency still counts from the tick
    that offered it, so server stalls show in full instead of the client quietly sending less.
    """
    run = Run(submit_template(1 if args.receipts else 0), args.max_pdus, server_pid)
    conns = await connect_binds(port, binds, window, run, closed_loop=False)
    tick = args.pace_tick
    gc.collect()
    gc.disable()
    try:
        start = perf_counter()
        t_measure = start + args.warmup
        t_stop = t_measure + args.duration
        scheduled = 0
        scheduled_at_measure = 0
        delayed_at_measure = 0
        max_backlog = 0
        k = len(conns)
        max_iterations = int((args.warmup + args.duration) / max(tick, 1e-5) * 4) + 10_000
        for _ in range(max_iterations):
            now = perf_counter()
            if run.phase == WARMUP and now >= t_measure:
                run.start_measure()
                scheduled_at_measure = scheduled
                delayed_at_measure = run.window_delayed
            if now >= t_stop or run.phase == STOPPED:
                break
            due = int((now - start) * rate) - scheduled
            if due > 0:
                # Latency counts from this tick, when the PDU was offered: the pacer's own timer
                # granularity is left out, any wait for window room (a slow server) is kept in.
                for i in range(scheduled, scheduled + due):
                    conns[i % k].backlog.append(now)
                scheduled += due
                for conn in conns:
                    if conn.backlog:
                        out = conn.pump()
                        if out is not None:
                            conn.transport.write(out)  # type: ignore[union-attr]
                        if conn.backlog:
                            max_backlog = max(max_backlog, len(conn.backlog))
            await asyncio.sleep(tick)
        run.finish()
        offered = scheduled - scheduled_at_measure
        delayed = run.window_delayed - delayed_at_measure
        unsent = sum(len(c.backlog) for c in conns)
        for conn in conns:
            conn.backlog.clear()
    finally:
        gc.enable()
    left = await drain_and_unbind(conns)
    result = run.result()
    elapsed = result["elapsed_s"]
    result.update(
        binds=binds,
        window=window,
        mode="open",
        target_rate=rate,
        offered_rate=offered / elapsed if elapsed else 0.0,
        window_blocked=delayed,
        max_backlog_per_bind=max_backlog,
        unsent_at_end=unsent,
        unanswered_at_end=left,
    )
    return result


# --- orchestration ----------------------------------------------------------------------------


def run_against(
    name: str, argv_for_port: Any, server_cpu: int | None, job: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Start a server, wait for its port, run job(port, pid), stop the server (always)."""
    proc = spy = None
    port = common.free_port()
    try:
        proc = common.spawn(argv_for_port(port), server_cpu)
        common.wait_for_port(proc, port)
        if args.py_spy and name == "simulator":
            # Sample the server without pausing it; py-spy runs on the client's CPU, stops when the server exits.
            spy_cmd = ["py-spy", "record", "--pid", str(proc.pid), "--rate", "500", "--format", "raw", *([] if args.py_spy_blocking else ["--nonblocking"]), "--output", args.py_spy]
            spy = common.spawn(spy_cmd, common.cpu_plan()[1])
            time.sleep(0.5)  # let it attach before the load starts
        budget = args.warmup + args.duration + 40.0
        result = asyncio.run(asyncio.wait_for(job(port, proc.pid), budget))
        result["server_cpu_total_s"] = common.proc_cpu_seconds(proc.pid)
        result["server_rss_mib"] = common.rss_mib(proc.pid)  # after the run: bounded by the store and queue limits
        return result
    finally:
        common.stop(proc, grace=60.0 if args.profile_server else 10.0)
        if spy is not None:
            try:
                spy.wait(timeout=30)
            except Exception:  # noqa: BLE001 - never leave it behind
                spy.kill()
                spy.wait(timeout=5)


def fmt(value: float, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def describe(result: dict[str, Any]) -> str:
    line = (
        f"{result['rate']:>10,.0f} submit_sm/s  p50 {fmt(result['p50_ms'], '.3f')} ms  p99 {fmt(result['p99_ms'], '.3f')} ms"
        f" (p99.9 {fmt(result['p999_ms'], '.2f')}, max {fmt(result['max_ms'], '.2f')})"
        f"  server CPU {fmt(result['server_cpu'], '.2f')} ({fmt(result['server_us_per_pdu'], '.1f')} us/PDU)"
        f"  client CPU {fmt(result['client_cpu'], '.2f')}  steal {fmt(result['server_cpu_steal'], '.2f')}  other load on server core {fmt(result['server_core_other'], '.2f')}  n={result['completed']}  errors={result['errors']}"
        f"  server RSS {fmt(result.get('server_rss_mib', math.nan), '.0f')} MiB"
    )
    if result.get("mode") == "open":
        line += (
            f"  offered {result['offered_rate']:,.0f}/s (target {result['target_rate']:,.0f}/s);"
            f" {result['window_blocked']} waited for window room (max backlog {result['max_backlog_per_bind']}/bind, unsent {result['unsent_at_end']})"
        )
    if result.get("receipts_total"):
        line += f"  receipts {result['receipts']}"
    return line


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    rows = []
    for key, (label, _, _) in CONFIGS.items():
        rows.append((key, label))
    rows.append(("half", "half load of (b), open loop"))
    print()
    print("=" * 130)
    mode = "WITH registered_delivery=1" if args.receipts else "no receipts"
    print(f"submit_sm benchmark ({mode}); server pinned to CPU {results['server_cpu_id']}, client to CPU {results['client_cpu_id']}")
    print("=" * 130)
    header = f"{'configuration':<30} {'target':<10} {'submit_sm/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'srv CPU':>8} {'us/PDU':>8} {'cli CPU':>8} {'other':>6} {'errors':>7}  all runs/s"
    print(header)
    print("-" * len(header))
    for key, label in rows:
        for target in ("reference", "simulator"):
            r = results[target].get(key)
            if r is None:
                continue
            print(
                f"{label:<30} {target:<10} {r['rate']:>12,.0f} {fmt(r['p50_ms'], '8.3f')} {fmt(r['p99_ms'], '8.3f')}"
                f" {fmt(r['server_cpu'], '8.2f')} {fmt(r['server_us_per_pdu'], '8.1f')} {fmt(r['client_cpu'], '8.2f')}"
                f" {fmt(r.get('server_core_other', math.nan), '6.2f')} {r['errors']:>7}  {', '.join(f'{x:,}' for x in r.get('all_rates', []))}"
            )
    print("(srv CPU: server CPU-seconds per second; us/PDU: server CPU per submit_sm; other: load on the server's core from")
    print(" anything else; values are the median run by rate when --repeat > 1)")
    ratios = results.get("ratios", {})
    if ratios:
        print()
        print("simulator / reference (rate: higher is better; latency and us/PDU: lower is better)")
        print(f"{'configuration':<30} {'rate':>8} {'p50':>8} {'p99':>8} {'us/PDU':>8}")
        for key, label in rows:
            r = ratios.get(key)
            if r:
                print(
                    f"{label:<30} {fmt(r['rate'], '8.3f')} {fmt(r['p50'], '8.2f')} {fmt(r['p99'], '8.2f')} {fmt(r['us_per_pdu'], '8.2f')}"
                )
    checks = results.get("targets", {})
    if checks:
        print()
        print("targets from the project issue (simulator, this machine, one server core):")
        for name, check in checks.items():
            verdict = "PASS" if check["pass"] else "FAIL"
            print(f"  {verdict}  {name}: measured {check['measured']:,.3f} vs target {check['target_op']} {check['target']:,}")
    for note in results.get("notes", []):
        print(f"NOTE: {note}")


def ratio(a: float, b: float) -> float:
    try:
        return a / b if b else math.nan
    except TypeError:
        return math.nan


def print_profile(path: str, submits: int, top: int = 25) -> dict[str, Any]:
    """pstats top-N by tottime, plus the per-submit_sm share of each line."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())
    rows = []
    total_tt = 0.0
    for (filename, line, func), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total_tt += tt
        rows.append((tt, nc, f"{Path(filename).name}:{line}({func})", ct))
    rows.sort(reverse=True)
    if submits:
        print(f"per submit_sm ({submits:,} answered while profiled; total profiled time {total_tt:.2f} s = {total_tt / submits * 1e6:.1f} us/submit_sm):")
        print(f"  {'tottime us/submit':>18} {'calls/submit':>13}  function")
        for tt, nc, name, _ct in rows[:top]:
            print(f"  {tt / submits * 1e6:>18.2f} {nc / submits:>13.2f}  {name}")
    return {"total_profiled_s": total_tt, "top": [(name, tt, nc) for tt, nc, name, _ in rows[:top]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receipts", action="store_true", help="submit with registered_delivery=1 and answer deliver_sm")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run at most (default 5)")
    parser.add_argument("--max-pdus", type=int, default=300_000, help="measured responses per run at most (default 300000)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before measuring (default 1)")
    parser.add_argument("--only", default="a,b,c,half", help="comma list of a,b,c,half (half needs b; default all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration and target; the median by rate is kept (default 1)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference responder (no ratios)")
    parser.add_argument("--reference-only", action="store_true", help="measure only the reference responder (machine calibration)")
    parser.add_argument("--half-rate", type=float, default=None, help="paced rate for the half-load run (default: 50%% of (b))")
    parser.add_argument("--pace-tick", type=float, default=0.0002, help="open-loop pacing tick in seconds; 0 busy-polls (default 0.0002)")
    parser.add_argument("--config", type=Path, default=common.CONFIG, help="server config (default benchmarks/network.yaml)")
    parser.add_argument("--profile-server", metavar="PROF", help="run the simulator under cProfile, write stats to PROF, print top 25 by tottime; implies --no-reference")
    parser.add_argument("--py-spy", metavar="RAW", help="sample the simulator with py-spy (raw collapsed stacks to RAW) and print a summary; implies --no-reference, one configuration")
    parser.add_argument("--py-spy-blocking", action="store_true", help="let py-spy pause the server for each sample (exact stacks, some overhead)")
    parser.add_argument("--gc-stats", action="store_true", help="run the simulator through serve_instrumented.py and print its GC passes and pauses per run")
    parser.add_argument("--server-gc", default="", help="extra serve_instrumented.py options for a GC experiment, e.g. '--gc-off' (implies --gc-stats)")
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    parser.add_argument("--serve-reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=900.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_reference:
        asyncio.run(_serve_reference(args.port, args.lifetime, args.receipts))
        return 0

    check_templates()
    wanted = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in (*CONFIGS, "half")]
    if unknown:
        parser.error(f"unknown --only item(s): {unknown}")
    if args.profile_server or args.py_spy:
        args.no_reference = True
    if args.py_spy:
        import shutil

        if shutil.which("py-spy") is None:
            parser.error("--py-spy needs py-spy on PATH (pip install py-spy)")
        args.py_spy = os.path.abspath(args.py_spy)
    facts, server_cpu, client_cpu = common.prepare_machine()
    global SERVER_CPU
    SERVER_CPU = server_cpu
    results: dict[str, Any] = {
        "machine": facts,
        "server_cpu_id": server_cpu,
        "client_cpu_id": client_cpu,
        "settings": {
            "receipts": args.receipts,
            "duration_s": args.duration,
            "max_pdus": args.max_pdus,
            "warmup_s": args.warmup,
            "pace_tick_s": args.pace_tick,
            "submit_sm_octets": len(submit_template(0)),
            "config": str(args.config),
        },
        "reference": {},
        "simulator": {},
        "notes": [],
    }
    profile_out = os.path.abspath(args.profile_server) if args.profile_server else None

    if args.server_gc:
        args.gc_stats = True
    instrument = args.server_gc.split() if args.gc_stats else None
    gc_stats_file = f"/tmp/bench_gc_stats.{os.getpid()}.json"
    if args.gc_stats:
        os.environ["BENCH_GC_STATS"] = gc_stats_file  # inherited by the server subprocess
        results["settings"]["server_gc"] = args.server_gc or "default"

    def simulator(port: int) -> list[str]:
        return common.simulator_argv(port, args.config, profile_out, instrument)

    def gc_report(target: str, r: dict[str, Any]) -> None:
        if target != "simulator" or not args.gc_stats:
            return
        try:
            with open(gc_stats_file) as f:
                stats = json.load(f)
            os.unlink(gc_stats_file)
        except (OSError, ValueError):
            return
        r["server_gc"] = stats
        parts = [
            f"{g}: {v['passes']} passes, {v['total_ms']:.0f} ms total, max {v['max_ms']:.1f} ms"
            for g, v in stats.items()
            if g.startswith("gen")
        ]
        print(f"           server GC ({args.server_gc or 'default settings'}): " + "; ".join(parts) + f"; {stats['tracked_objects_at_exit']:,} tracked objects at exit", flush=True)

    def reference(port: int) -> list[str]:
        return reference_argv(port, args.receipts)

    targets = [("simulator", simulator)] if args.no_reference else [("reference", reference), ("simulator", simulator)]
    if args.reference_only:
        targets = [("reference", reference)]

    def measure(target: str, argv_for_port: Any, key: str, label: str, job: Any) -> dict[str, Any]:
        r = run_against(target, argv_for_port, server_cpu, job, args)
        print(f"{target:<10} {label:<26} {describe(r)}", flush=True)
        gc_report(target, r)
        return r

    def keep_median(key: str, runs: dict[str, list[dict[str, Any]]]) -> None:
        for target, rs in runs.items():
            ordered = sorted(rs, key=lambda r: r["rate"])
            chosen = dict(ordered[(len(ordered) - 1) // 2])
            chosen["all_rates"] = [round(r["rate"]) for r in rs]
            chosen["all_p99_ms"] = [round(r["p99_ms"], 3) for r in rs]
            results[target][key] = chosen

    # Reference and simulator alternate per configuration so that each pair sees the same machine.
    for key in wanted:
        if key == "half":
            continue
        if (profile_out or args.py_spy) and key != wanted[0]:
            continue  # profile one configuration only: the stats file holds one server's life
        label, binds, window = CONFIGS[key]

        def job(port: int, pid: int, binds: int = binds, window: int = window) -> Any:
            return closed_loop_run(port, pid, binds, window, args)

        runs: dict[str, list[dict[str, Any]]] = {t: [] for t, _ in targets}
        for _ in range(args.repeat):
            for target, argv_for_port in targets:
                runs[target].append(measure(target, argv_for_port, key, label, job))
        keep_median(key, runs)

    if "half" in wanted and not profile_out and not args.py_spy:
        base = results["simulator"].get("b")
        rate = args.half_rate or (base["rate"] * 0.5 if base else None)
        if rate is None:
            print("half load skipped: needs (b) or --half-rate")
        else:
            _, binds, window = CONFIGS["b"]

            def half_job(port: int, pid: int, binds: int = binds, window: int = window) -> Any:
                return open_loop_run(port, pid, binds, window, rate, args)

            runs = {t: [] for t, _ in targets}
            for _ in range(args.repeat):
                for target, argv_for_port in targets:
                    runs[target].append(measure(target, argv_for_port, "half", "half load (open loop)", half_job))
            keep_median("half", runs)

    if not args.no_reference:
        for key in (*CONFIGS, "half"):
            s, ref = results["simulator"].get(key), results["reference"].get(key)
            if s and ref:
                results.setdefault("ratios", {})[key] = {
                    "rate": ratio(s["rate"], ref["rate"]),
                    "p50": ratio(s["p50_ms"], ref["p50_ms"]),
                    "p99": ratio(s["p99_ms"], ref["p99_ms"]),
                    "us_per_pdu": ratio(s["server_us_per_pdu"], ref["server_us_per_pdu"]),
                }

    sim = results["simulator"]
    checks: dict[str, Any] = {}
    if "b" in sim:
        name, target = ("rate_b_receipts", TARGETS["rate_b_receipts"]) if args.receipts else ("rate_b_no_receipts", TARGETS["rate_b_no_receipts"])
        label = "(b) 10x10 submit_sm/s " + ("with one receipt each" if args.receipts else "without receipts")
        checks[label] = {"measured": sim["b"]["rate"], "target": target, "target_op": ">=", "pass": sim["b"]["rate"] >= target, "key": name}
    if "half" in sim:
        p99 = sim["half"]["p99_ms"]
        checks["p99 ms at half load of (b)"] = {"measured": p99, "target": TARGETS["p99_half_load_ms"], "target_op": "<=", "pass": p99 <= TARGETS["p99_half_load_ms"], "key": "p99_half_load_ms"}
    results["targets"] = checks

    if args.receipts:
        got = sum(r.get("receipts_total", 0) for r in sim.values())
        if got == 0:
            results["notes"].append(
                "--receipts: registered_delivery=1 was set but the server sent no deliver_sm: it does not generate "
                "delivery receipts yet (the message lifecycle issue adds them), so these figures equal the no-receipt ones. "
                "The client already answers deliver_sm with deliver_sm_resp and counts them."
            )
        else:
            results["notes"].append(f"--receipts: {got:,} deliver_sm received and answered over all simulator runs.")
    if profile_out:
        results["notes"].append(f"server ran under cProfile (figures above are slowed by it); stats in {profile_out}")
    if any(r.get("errors") for t in ("reference", "simulator") for r in results[t].values()):
        results["notes"].append("some submit_sm were answered with a non-zero command_status or generic_nack (see errors)")

    end_facts = common.machine_facts()
    results["git_commit_at_end"] = end_facts["git_commit"]
    if (end_facts["git_commit"], end_facts["git_tree"]) != (facts["git_commit"], facts["git_tree"]):
        results["notes"].append(
            f"the simulator's tree changed during the run ({facts['git_commit']} {facts['git_tree']} -> "
            f"{end_facts['git_commit']} {end_facts['git_tree']}): later runs may measure different code"
        )
    print_table(results, args)

    if profile_out:
        submits = sum(r["completed"] for r in sim.values())
        # The profile covers the whole server life (binds, warm-up, drain), so count every response.
        submits_total = sum(r["responses_total"] for r in sim.values())
        print()
        print(f"cProfile of the simulator process, top 25 by tottime (about {submits_total:,} submit_sm over its life; {submits:,} measured):")
        results["profile"] = print_profile(profile_out, submits_total)

    if args.py_spy:
        import spy_summary

        r = next(iter(sim.values()), None)
        if r is not None:
            print()
            print(f"py-spy sampling of the simulator process ({args.py_spy}); us figures scale its CPU seconds over every submit_sm answered:")
            print(spy_summary.report(args.py_spy, 25, r["responses_total"], r["server_cpu_total_s"]))

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
