#!/usr/bin/env python3
"""Message lifecycle at scale: what 100k pending delivery timers cost, and how late receipts fire.

    python benchmarks/bench_lifecycle.py [--repeat 3] [--rates 2000,10000] [--json out.json]

The project issue asks: "timers are one heap per loop, never a task per message: 100 000 messages
with receipts pending (for example a 10 s delay at 10 000 submits/s) cost the server < 10 % of its
throughput, and receipts fire within 10 ms (p99) of their due time on the real clock." This script
measures both halves from outside, as a gateway sees the server. As in bench_submit.py, the server
runs as its own process pinned to one CPU, the load client here pinned to the other, all on
127.0.0.1; every loop is bounded in count and time and servers are stopped in `finally`.

Part 1, throughput cost of pending timers (fresh server per repeat; profile = open + two rules):
    rule "bench-measure": destination +447700900123 -> DELIVERED after --measure-delay (default 0s)
    rule "bench-pending": everything else           -> DELIVERED after --pending-delay (default 120s)
  (a0) control: closed loop, 10 binds x window 10, submit_sm to +447700900123 without
       registered_delivery, --warmup then up to --duration s / --max-pdus responses;
  (a)  the same again -> rate_0 (pending timers: ~0);
  (b)  --pending submit_sm (default 100 000) with registered_delivery=1 to +447700900124 as fast as
       the server answers (closed loop 10 x 10, bounded by --load-timeout): each leaves a timer and a
       receipt pending for --pending-delay;
  (c)  at once, the same closed loop as (a) -> rate_100k while those timers are pending.
  The measured traffic still gets a lifecycle timer per message (scheduled at acceptance, due at
  once, fired on the next loop turn, no receipt since registered_delivery=0), so the per-message
  timer work is the same in (a) and (c) and only the heap/store size differs. It is not given the
  120 s delay because then (a) itself would leave ~rate x duration (about 200k) timers pending and
  "0 pending" would not exist; --measure-delay 120s reproduces that variant. (a0) -> (a) shows the
  run-to-run drift with nothing pending (noise, plus the message store growing; stored messages are
  never removed, so (c) also runs with a bigger store than (a)).

Part 1b, paired slices (the same question, made robust against a machine whose speed drifts by
tens of percent from one second to the next): two servers run at once, both pinned to the server
CPU: Z never gets pending timers, P gets --pending of them as in (b). Then --pairs pairs of short
closed-loop slices (--slice-warmup + --slice seconds) alternate between them (Z P, P Z, Z P, ...),
so the two halves of a pair see nearly the same machine; the idle server costs next to nothing.
Reported: the median over pairs of P/Z rate and of P/Z server CPU per submit_sm.

Part 2, receipt lateness on the real clock (fresh server per rate; profile = open +
`delivery_rules: [{sequence: [{after: D, state: DELIVERED}]}]`, D = --lateness-delay, default 10 s):
  an open-loop run paced at each of --rates (default 2000/s) for --lateness-duration s (default 10),
  registered_delivery=1, 10 binds x window 10 (a due submit_sm that finds its bind's window full
  waits in a client backlog). The client notes the arrival time of every submit_sm_resp by its
  message_id, answers every deliver_sm with a pre-encoded deliver_sm_resp, takes the id from the
  receipted_message_id TLV (else `id:` in the text) and computes
      lateness = receipt arrival - (submit_sm_resp arrival + D)
  over all receipts; it waits for them up to D + --receipt-wait s after the last submit. Lateness
  includes the server's windowed delivery queue (window 100 per bind) and the loopback hop back; it
  is measured from the submit_sm_resp arrival, which comes after the server started the timer (by
  the response's one-way trip, more if the server or the client stalls), so it can be negative;
  lateness from the submit_sm write is also printed as an upper bound. Server CPU is sampled every
  0.25 s, to give the CPU while receipts were due. If receipts are still missing at the deadline,
  one more submit_sm with registered_delivery=1 is sent (--no-nudge to skip) and the receipts that
  arrive within D + 5 s after it are counted: receipts stuck in the server's delivery queue come
  out when a new delivery is queued, lost ones do not.

Targets are checked and printed as PASS/FAIL; the exit status does not depend on them. The machine
is noisy: read medians, the paired ratios, the (a0)->(a) drift and the `other` column, not a single
absolute figure. --py-spy DIR samples the server (non-blocking, 500 Hz) during (c) of the first
repeat and during the receipt phase of each lateness run, and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from struct import pack_into, unpack_from
from time import perf_counter
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402
import bench_submit as bs  # noqa: E402  (the fast windowed client: Run, LoadConnection, binds, drain)

MEASURE_DEST = "447700900123"  # the measured closed-loop traffic (rule bench-measure)
PENDING_DEST = "447700900124"  # the traffic left pending (rule bench-pending)
RECEIPTED_MESSAGE_ID = 0x001E
TARGET_COST = 0.10  # < 10 % of throughput
TARGET_P99_MS = 10.0  # receipts within 10 ms (p99) of their due time


# --- configuration files ------------------------------------------------------------------------


def open_profile() -> dict[str, Any]:
    return yaml.safe_load((common.REPO / "simulator" / "profiles" / "open.yaml").read_text())


def write_profile(folder: Path, name: str, rules: list[dict[str, Any]]) -> Path:
    profile = open_profile()
    profile["name"] = f"open-{name}"
    profile["description"] = f"bench_lifecycle.py: the open profile plus delivery rules ({name})"
    profile["delivery_rules"] = rules
    path = folder / f"profile-{name}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def write_server_config(folder: Path, name: str, profile: Path) -> Path:
    config = yaml.safe_load(common.CONFIG.read_text())  # benchmarks/network.yaml: bench/bench, no timers
    config["network"] = str(profile)
    path = folder / f"server-{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def pending_rules(measure_delay: str, pending_delay: str) -> list[dict[str, Any]]:
    return [
        {"name": "bench-measure", "match": {"destination": "+" + MEASURE_DEST}, "sequence": [{"after": measure_delay, "state": "DELIVERED"}]},
        {"name": "bench-pending", "sequence": [{"after": pending_delay, "state": "DELIVERED"}]},
    ]


def lateness_rules(delay: str) -> list[dict[str, Any]]:
    return [{"sequence": [{"after": delay, "state": "DELIVERED"}]}]


def seconds(duration: str) -> float:
    from simulator.network.rules import parse_duration

    return parse_duration(duration)


def check_files(*configs: Path) -> None:
    """Load every written config with the simulator's own loader, so a bad file fails before any run."""
    from simulator.config import load_config
    from simulator.network.profile import load_profile

    for path in configs:
        config = load_config(str(path))
        load_profile(config.network)


# --- wire templates -------------------------------------------------------------------------------


def submit_template(destination: str, registered_delivery: int) -> bytes:
    """bench_submit.py's submit_sm (same layout and 64-octet text) to another destination."""
    body = (
        bs._cstr("")
        + bytes([1, 1])
        + bs._cstr("447700900001")
        + bytes([1, 1])
        + bs._cstr(destination)
        + bytes([0, 0, 0])
        + bs._cstr("")
        + bs._cstr("")
        + bytes([registered_delivery, 0, 0, 0])
        + bytes([len(bs.SHORT_MESSAGE)])
        + bs.SHORT_MESSAGE
    )
    return bs._pdu(bs.SUBMIT_SM, 0, body)


def check_templates() -> None:
    from simulator.smpp.codec import decode

    for dest in (MEASURE_DEST, PENDING_DEST):
        for rd in (0, 1):
            pdu = decode(submit_template(dest, rd))
            assert pdu.destination_addr == dest and pdu.registered_delivery == rd  # type: ignore[attr-defined]


def receipt_id(body: bytes | bytearray | memoryview) -> tuple[bytes | None, int]:
    """(receipted message id, esm_class) of a deliver_sm body: the TLV if present, else `id:` in the text."""
    body = bytes(body)
    try:
        p = body.index(0) + 1  # service_type
        p = body.index(0, p + 2) + 1  # source ton, npi, addr
        p = body.index(0, p + 2) + 1  # dest ton, npi, addr
        esm = body[p]
        p = body.index(0, p + 3) + 1  # esm_class, protocol_id, priority_flag, schedule_delivery_time
        p = body.index(0, p) + 1  # validity_period
        p += 4  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
        sm_len = body[p]
        text = body[p + 1 : p + 1 + sm_len]
        p += 1 + sm_len
        while p + 4 <= len(body):
            tag, length = unpack_from(">HH", body, p)
            p += 4
            if tag == RECEIPTED_MESSAGE_ID:
                return body[p : p + length].rstrip(b"\0"), esm
            p += length
    except (ValueError, IndexError):
        return None, -1
    at = text.find(b"id:")
    if at >= 0:
        return text[at + 3 :].split(b" ", 1)[0], esm
    return None, esm


# --- server processes -----------------------------------------------------------------------------


def spawn_server(config: Path, port: int, cpu: int | None, log_path: Path) -> subprocess.Popen[bytes]:
    """common.spawn, but stderr goes to a file: a full stderr pipe would stall the server mid-run."""
    cmd = common.simulator_argv(port, config)
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the child's exit; the parent drops it below
    try:
        proc = subprocess.Popen(cmd, cwd=common.REPO, stdout=subprocess.DEVNULL, stderr=log)
    finally:
        log.close()
    if cpu is not None and not shutil.which("taskset") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def wait_for_port(proc: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 10):
        if time.monotonic() >= deadline:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            import socket

            with socket.create_connection((common.HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not accept on {common.HOST}:{port} within {timeout:.0f}s")


def start_spy(pid: int, out: Path, seconds_: float, cpu: int | None) -> subprocess.Popen[bytes] | None:
    if shutil.which("py-spy") is None:
        return None
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "500", "--format", "raw", "--nonblocking",
           "--duration", str(max(1, int(math.ceil(seconds_)))), "--output", str(out)]
    return common.spawn(cmd, cpu)


def finish_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(timeout=5)


# --- part 1: throughput with pending timers --------------------------------------------------------


async def closed_loop(
    port: int, pid: int, template: bytes, binds: int, window: int, warmup: float, duration: float, max_pdus: int
) -> dict[str, Any]:
    """bench_submit.py's closed loop with a given template: warm-up, then max_pdus responses or duration seconds."""
    run = bs.Run(template, max_pdus, pid)
    conns = await bs.connect_binds(port, binds, window, run, closed_loop=True)
    rss0 = common.rss_mib(pid)
    gc.collect()
    gc.disable()
    try:
        for c in conns:
            c.fill()
        if warmup > 0:
            await asyncio.sleep(warmup)
        run.start_measure()
        try:
            await asyncio.wait_for(run.done.wait(), duration)
        except asyncio.TimeoutError:
            pass
        run.finish()
    finally:
        gc.enable()
    left = await bs.drain_and_unbind(conns)
    result = run.result()
    result.update(binds=binds, window=window, unanswered_at_end=left, rss_before_mib=rss0, rss_after_mib=common.rss_mib(pid))
    return result


async def pending_repeat(port: int, pid: int, args: argparse.Namespace, spy_out: Path | None, client_cpu: int | None) -> dict[str, Any]:
    measure_tpl = submit_template(MEASURE_DEST, 0)
    pending_tpl = submit_template(PENDING_DEST, 1)
    b, w = args.binds, args.window
    out: dict[str, Any] = {}
    if not args.no_control:
        out["a0"] = await closed_loop(port, pid, measure_tpl, b, w, args.warmup, args.duration, args.max_pdus)
        print(f"    (a0) control      {describe(out['a0'])}", flush=True)
    out["a"] = await closed_loop(port, pid, measure_tpl, b, w, args.warmup, args.duration, args.max_pdus)
    print(f"    (a)  0 pending    {describe(out['a'])}", flush=True)
    t_load = perf_counter()
    load = await closed_loop(port, pid, pending_tpl, b, w, 0.0, args.load_timeout, args.pending)
    load["pending_created"] = load["responses_total"] - load["errors"]
    out["b"] = load
    print(
        f"    (b)  load         {load['pending_created']:,} submit_sm with registered_delivery=1 accepted in "
        f"{perf_counter() - t_load:.1f} s ({load['rate']:,.0f}/s), errors {load['errors']}, RSS {load['rss_before_mib']:.0f} -> {load['rss_after_mib']:.0f} MiB",
        flush=True,
    )
    if load["pending_created"] < args.pending:
        print(f"    WARNING: only {load['pending_created']:,} of {args.pending:,} pending messages were created within {args.load_timeout:.0f} s")
    spy = start_spy(pid, spy_out, args.warmup + args.duration, client_cpu) if spy_out is not None else None
    try:
        out["c"] = await closed_loop(port, pid, measure_tpl, b, w, args.warmup, args.duration, args.max_pdus)
    finally:
        finish_spy(spy)
    out["c"]["seconds_since_load_start"] = perf_counter() - t_load
    print(f"    (c)  {load['pending_created'] // 1000}k pending {describe(out['c'])}", flush=True)
    if out["c"]["seconds_since_load_start"] >= seconds(args.pending_delay):
        print("    WARNING: (c) ended after the pending receipts came due: raise --pending-delay")
    return out


async def paired_slices(ports: tuple[int, int], pids: tuple[int, int], args: argparse.Namespace) -> dict[str, Any]:
    """Two servers on the same core: Z never gets pending timers, P gets --pending of them; then short
    closed-loop slices alternate Z, P, P, Z, Z, P, ... so each pair sees the same machine speed."""
    measure_tpl = submit_template(MEASURE_DEST, 0)
    pending_tpl = submit_template(PENDING_DEST, 1)
    b, w = args.binds, args.window
    (port_z, port_p), (pid_z, pid_p) = ports, pids
    # One warm-up slice each, so both processes have run the same code paths before the load.
    await closed_loop(port_z, pid_z, measure_tpl, b, w, 0.2, args.slice, args.max_pdus)
    await closed_loop(port_p, pid_p, measure_tpl, b, w, 0.2, args.slice, args.max_pdus)
    t_load = perf_counter()
    load = await closed_loop(port_p, pid_p, pending_tpl, b, w, 0.0, args.load_timeout, args.pending)
    load["pending_created"] = load["responses_total"] - load["errors"]
    print(f"    load of P: {load['pending_created']:,} pending created in {perf_counter() - t_load:.1f} s ({load['rate']:,.0f}/s), errors {load['errors']}", flush=True)
    pairs = []
    for i in range(args.pairs):
        order = ("Z", "P") if i % 2 == 0 else ("P", "Z")
        pair: dict[str, Any] = {"order": "".join(order)}
        for name in order:
            port, pid = (port_z, pid_z) if name == "Z" else (port_p, pid_p)
            pair[name] = await closed_loop(port, pid, measure_tpl, b, w, args.slice_warmup, args.slice, args.max_pdus)
        pair["ratio_rate"] = pair["P"]["rate"] / pair["Z"]["rate"] if pair["Z"]["rate"] else math.nan
        pair["ratio_us"] = pair["P"]["server_us_per_pdu"] / pair["Z"]["server_us_per_pdu"]
        print(
            f"    pair {i + 1:>2} {pair['order']}: Z {pair['Z']['rate']:>8,.0f}/s {pair['Z']['server_us_per_pdu']:5.1f} us/PDU | "
            f"P {pair['P']['rate']:>8,.0f}/s {pair['P']['server_us_per_pdu']:5.1f} us/PDU | P/Z rate {pair['ratio_rate']:.3f} us {pair['ratio_us']:.3f}"
            f" | receipts during P {pair['P']['receipts']} | other {pair['Z']['server_core_other']:.2f}/{pair['P']['server_core_other']:.2f}",
            flush=True,
        )
        pairs.append(pair)
        if perf_counter() - t_load > seconds(args.pending_delay) - 3 * (args.slice + args.slice_warmup + 1):
            print("    stopping early: the pending receipts would come due (raise --pending-delay)")
            break
    return {"load": load, "pairs": pairs}


def describe(r: dict[str, Any]) -> str:
    return (
        f"{r['rate']:>9,.0f} submit_sm/s  p50 {bs.fmt(r['p50_ms'], '.2f')} p99 {bs.fmt(r['p99_ms'], '.2f')} max {bs.fmt(r['max_ms'], '.1f')} ms"
        f"  srv CPU {bs.fmt(r['server_cpu'], '.2f')} ({bs.fmt(r['server_us_per_pdu'], '.1f')} us/PDU)  cli {bs.fmt(r['client_cpu'], '.2f')}"
        f"  other {bs.fmt(r['server_core_other'], '.2f')}  n={r['completed']:,} err={r['errors']} receipts={r['receipts']}"
        f"  RSS {r['rss_after_mib']:.0f} MiB"
    )


# --- part 2: receipt lateness ----------------------------------------------------------------------


class Lateness:
    """Shared state of one lateness run."""

    def __init__(self, template: bytes) -> None:
        self.template = template
        self.tpl_len = len(template)
        self.resp_at: dict[bytes, float] = {}  # message_id -> submit_sm_resp arrival (perf_counter)
        self.sent_at: dict[bytes, float] = {}  # message_id -> when its submit_sm was written
        self.receipts: list[tuple[bytes | None, float, int]] = []  # (id, arrival, esm_class)
        self.sent = 0
        self.errors = 0
        self.window_waits = 0
        self.active = True  # False once pacing stopped: no more backlog pumping


class LatenessConnection(bs.BindConnection):
    """One transceiver bind: paced submit_sm out, submit_sm_resp and deliver_sm in."""

    def __init__(self, st: Lateness, window: int) -> None:
        super().__init__(window)
        self.st = st
        self.backlog = 0

    def pump(self) -> bytearray | None:
        room = self.window - len(self.sent)
        n = min(room, self.backlog)
        if n <= 0:
            return None
        st = self.st
        out = bytearray(st.template * n)
        seq = self.next_seq
        offset = 12
        now = perf_counter()
        for _ in range(n):
            pack_into(">I", out, offset, seq)
            self.sent[seq] = now
            seq += 1
            offset += st.tpl_len
        self.next_seq = seq
        self.backlog -= n
        st.sent += n
        return out

    def data_received(self, data: bytes) -> None:
        now = perf_counter()
        buf = self.buf
        buf += data
        size = len(buf)
        pos = 0
        st = self.st
        reply: bytearray | None = None
        freed = False
        while size - pos >= 16:
            length, cid, status, seq = unpack_from(bs.HDR, buf, pos)
            if length < 16 or length > bs.MAX_PDU:
                raise RuntimeError(f"unframeable PDU from server: command_length {length}")
            if size - pos < length:
                break
            if cid == bs.SUBMIT_SM_RESP:
                t_sent = self.sent.pop(seq, None)
                if t_sent is not None:
                    freed = True
                if status == 0:
                    end = buf.index(0, pos + 16, pos + length)
                    mid = bytes(buf[pos + 16 : end])
                    st.resp_at[mid] = now
                    st.sent_at[mid] = now if t_sent is None else t_sent
                else:
                    st.errors += 1
            elif cid == bs.DELIVER_SM:
                if reply is None:
                    reply = bytearray()
                at = len(reply) + 12
                reply += bs.DELIVER_SM_RESP_TPL
                pack_into(">I", reply, at, seq)
                rid, esm = receipt_id(memoryview(buf)[pos + 16 : pos + length])
                st.receipts.append((rid, now, esm))
            elif cid == bs.GENERIC_NACK:
                st.errors += 1
                if self.sent.pop(seq, None) is not None:
                    freed = True
            elif cid == bs.ENQUIRE_LINK:
                reply = reply if reply is not None else bytearray()
                at = len(reply) + 12
                reply += bs.ENQUIRE_LINK_RESP_TPL
                pack_into(">I", reply, at, seq)
            elif cid == bs.BIND_TRANSCEIVER_RESP:
                if not self.bound.done():
                    self.bound.set_result(status)
            elif cid == bs.UNBIND_RESP:
                if not self.unbound.done():
                    self.unbound.set_result(None)
            elif cid == bs.UNBIND:
                reply = reply if reply is not None else bytearray()
                at = len(reply) + 12
                reply += bs.UNBIND_RESP_TPL
                pack_into(">I", reply, at, seq)
            pos += length
        if pos:
            del buf[:pos]
        if freed and self.backlog and st.active:
            more = self.pump()
            if more is not None:
                st.window_waits += 1
                reply = more if reply is None else reply + more
        if reply:
            self.transport.write(reply)  # type: ignore[union-attr]


async def lateness_run(port: int, pid: int, rate: float, args: argparse.Namespace, spy_out: Path | None, client_cpu: int | None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    delay = seconds(args.lateness_delay)
    st = Lateness(submit_template(MEASURE_DEST, 1))
    conns: list[LatenessConnection] = []
    for _ in range(args.lateness_binds):
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: LatenessConnection(st, args.lateness_window), common.HOST, port), 5.0
        )
        conns.append(conn)
        conn.transport.write(bs.bind_pdu(conn.take_seq()))  # type: ignore[union-attr]
        status = await asyncio.wait_for(conn.bound, 5.0)
        if status != 0:
            raise RuntimeError(f"bind_transceiver refused: command_status 0x{status & 0xFFFFFFFF:08X}")
    samples: list[tuple[float, float, float, int, int]] = []  # (t, server CPU s, server core busy s, responses, receipts)

    async def sampler() -> None:
        for _ in range(100_000):  # bounded; cancelled at the end of the run
            samples.append((perf_counter(), common.proc_cpu_seconds(pid), common.cpu_busy_seconds(bs.SERVER_CPU), len(st.resp_at), len(st.receipts)))
            await asyncio.sleep(0.25)

    sampling = asyncio.create_task(sampler())
    gc.collect()
    gc.disable()
    spy = None
    nudge: dict[str, Any] = {}
    try:
        k = len(conns)
        tick = args.pace_tick
        srv0, busy0 = common.proc_cpu_seconds(pid), common.cpu_busy_seconds(bs.SERVER_CPU)
        start = perf_counter()
        stop_at = start + args.lateness_duration
        total = int(rate * args.lateness_duration)
        scheduled = 0
        max_backlog = 0
        for _ in range(int(args.lateness_duration / max(tick, 1e-5) * 4) + 10_000):
            now = perf_counter()
            if now >= stop_at or scheduled >= total:
                break
            due = min(total, int((now - start) * rate)) - scheduled
            if due > 0:
                base, extra = divmod(due, k)
                for i in range(k):
                    conns[(scheduled + i) % k].backlog += base + (1 if i < extra else 0)
                scheduled += due
                for conn in conns:
                    if conn.backlog:
                        out = conn.pump()
                        if out is not None:
                            conn.transport.write(out)  # type: ignore[union-attr]
                        max_backlog = max(max_backlog, conn.backlog)
            await asyncio.sleep(tick)
        submit_end = perf_counter()
        # Let the backlog and outstanding submit_sm finish (bounded), then stop offering.
        flush_deadline = submit_end + 10.0
        for _ in range(2_100):
            if not any(c.backlog or c.sent for c in conns) or perf_counter() >= flush_deadline:
                break
            await asyncio.sleep(0.005)
        st.active = False
        unsent = sum(c.backlog for c in conns)
        last_resp = max(st.resp_at.values()) if st.resp_at else submit_end
        srv1, busy1 = common.proc_cpu_seconds(pid), common.cpu_busy_seconds(bs.SERVER_CPU)
        t1 = perf_counter()
        expected = len(st.resp_at)
        first_due = min(st.resp_at.values()) + delay if st.resp_at else t1
        if spy_out is not None:
            wait = max(0.0, first_due - perf_counter() - 0.2)
            await asyncio.sleep(min(wait, delay + 1.0))
            spy = start_spy(pid, spy_out, (last_resp - first_due + delay) + 1.0, client_cpu)
        wait_deadline = last_resp + delay + args.receipt_wait
        for _ in range(int((wait_deadline - perf_counter()) / 0.05) + 10):
            if len(st.receipts) >= expected or perf_counter() >= wait_deadline:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a last look for duplicates
        t2 = perf_counter()
        srv2, busy2 = common.proc_cpu_seconds(pid), common.cpu_busy_seconds(bs.SERVER_CPU)
        received_by_deadline = len(st.receipts)
        finish_spy(spy)
        spy = None
        if received_by_deadline < expected and not args.no_nudge:
            # Diagnostic: are the missing receipts stuck in the server's delivery queue? One more
            # submit_sm with registered_delivery=1; its timer firing D later enqueues a delivery,
            # which drains the account queue again.
            t_nudge = perf_counter()
            conns[0].backlog += 1
            out = conns[0].pump()
            if out is not None:
                conns[0].transport.write(out)  # type: ignore[union-attr]
            nudge_deadline = t_nudge + delay + 5.0
            for _ in range(int((delay + 5.0) / 0.05) + 10):
                if len(st.receipts) >= expected + 1 or perf_counter() >= nudge_deadline:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            nudge = {"sent_at_s": t_nudge - start, "receipts_after_nudge": len(st.receipts) - received_by_deadline,
                     "waited_s": perf_counter() - t_nudge}
    finally:
        gc.enable()
        finish_spy(spy)
        sampling.cancel()
        try:
            await sampling
        except asyncio.CancelledError:
            pass
    left = await bs.drain_and_unbind(conns)  # type: ignore[arg-type]

    lateness: list[float] = []
    lateness_send: list[float] = []  # from the submit_sm write instead: an upper bound
    arrival_offsets: list[tuple[float, float]] = []  # (seconds since the first receipt was due, lateness)
    seen: set[bytes] = set()
    unmatched = duplicates = not_receipt = 0
    for rid, t, esm in st.receipts[:received_by_deadline]:
        if esm != -1 and not esm & 0x04:
            not_receipt += 1
            continue
        t_resp = st.resp_at.get(rid) if rid is not None else None
        if t_resp is None:
            unmatched += 1
            continue
        if rid in seen:
            duplicates += 1
            continue
        seen.add(rid)
        late = t - (t_resp + delay)
        lateness.append(late)
        lateness_send.append(t - (st.sent_at[rid] + delay))
        arrival_offsets.append((t_resp + delay - first_due, late))
    lat = sorted(lateness)
    ms = [x * 1e3 for x in lat]
    ms_send = sorted(x * 1e3 for x in lateness_send)
    rtt = sorted((st.resp_at[m] - st.sent_at[m]) * 1e3 for m in st.resp_at)
    late_per_second: dict[int, int] = {}
    for offset, late in arrival_offsets:
        if late > TARGET_P99_MS / 1e3:
            late_per_second[int(offset)] = late_per_second.get(int(offset), 0) + 1
    submit_elapsed = submit_end - start
    receipt_elapsed = t2 - t1
    last_due = last_resp + delay
    window = [x for x in samples if first_due <= x[0] <= last_due + 0.25]
    cpu_due = recv_rate_due = other_due = math.nan
    if len(window) >= 2:
        (ta, ca, ba, _, ra), (tb, cb, bb, _, rb) = window[0], window[-1]
        cpu_due = (cb - ca) / (tb - ta)
        other_due = max(0.0, (bb - ba) / (tb - ta) - cpu_due)
        recv_rate_due = (rb - ra) / (tb - ta)
    timeline = [
        {"t_s": round(t - start, 2), "server_cpu": round((c - c0) / (t - t0), 3), "responses": n, "receipts": r}
        for (t0, c0, _, _, _), (t, c, _, n, r) in zip(samples, samples[1:])
        if t > t0
    ]
    return {
        "target_rate": rate,
        "offered": scheduled,
        "offered_rate": scheduled / submit_elapsed if submit_elapsed > 0 else math.nan,
        "sent": st.sent,
        "accepted": expected,
        "errors": st.errors,
        "unsent_at_end": unsent,
        "max_backlog_per_bind": max_backlog,
        "responses_waited_window": st.window_waits,
        "receipts_received": len(st.receipts),
        "matched": len(lat),
        "unmatched": unmatched,
        "duplicates": duplicates,
        "not_receipt": not_receipt,
        "delay_s": delay,
        "min_ms": ms[0] if ms else math.nan,
        "p50_ms": common.percentile(ms, 50),
        "p95_ms": common.percentile(ms, 95),
        "p99_ms": common.percentile(ms, 99),
        "p999_ms": common.percentile(ms, 99.9),
        "max_ms": ms[-1] if ms else math.nan,
        "over_10ms": sum(1 for x in ms if x > TARGET_P99_MS),
        # Lateness counted from the submit_sm write (the server started the timer between the two).
        "from_send_p50_ms": common.percentile(ms_send, 50),
        "from_send_p99_ms": common.percentile(ms_send, 99),
        "from_send_max_ms": ms_send[-1] if ms_send else math.nan,
        "submit_rtt_p50_ms": common.percentile(rtt, 50),
        "submit_rtt_p99_ms": common.percentile(rtt, 99),
        "submit_rtt_max_ms": rtt[-1] if rtt else math.nan,
        "late_per_second": dict(sorted(late_per_second.items())),
        "server_cpu_submit_phase": (srv1 - srv0) / (t1 - start) if t1 > start else math.nan,
        "server_cpu_receipt_phase": (srv2 - srv1) / receipt_elapsed if receipt_elapsed > 0 else math.nan,
        "other_on_server_core_submit": max(0.0, (busy1 - busy0) / (t1 - start) - (srv1 - srv0) / (t1 - start)) if t1 > start else math.nan,
        "other_on_server_core_receipts": max(0.0, (busy2 - busy1 - (srv2 - srv1)) / receipt_elapsed) if receipt_elapsed > 0 else math.nan,
        "server_us_per_message": (srv2 - srv0) / expected * 1e6 if expected else math.nan,
        "server_cpu_while_due": cpu_due,  # between the first and the last receipt's due time
        "other_on_server_core_while_due": other_due,
        "receipts_per_s_while_due": recv_rate_due,
        "missing_at_deadline": expected - received_by_deadline if received_by_deadline < expected else 0,
        "nudge": nudge,
        "timeline": timeline,
        "unanswered_at_end": left,
        "rss_end_mib": common.rss_mib(pid),
    }


def describe_lateness(r: dict[str, Any]) -> str:
    return (
        f"offered {r['offered']:,} ({r['offered_rate']:,.0f}/s), accepted {r['accepted']:,}, receipts matched {r['matched']:,}/{r['accepted']:,}"
        f" (unmatched {r['unmatched']}, duplicates {r['duplicates']})  lateness ms: min {bs.fmt(r['min_ms'], '.2f')} p50 {bs.fmt(r['p50_ms'], '.2f')}"
        f" p95 {bs.fmt(r['p95_ms'], '.2f')} p99 {bs.fmt(r['p99_ms'], '.2f')} p99.9 {bs.fmt(r['p999_ms'], '.2f')} max {bs.fmt(r['max_ms'], '.2f')}"
        f"  >10ms {r['over_10ms']:,}  (from the submit_sm write: p50 {bs.fmt(r['from_send_p50_ms'], '.2f')} p99 {bs.fmt(r['from_send_p99_ms'], '.2f')}"
        f" max {bs.fmt(r['from_send_max_ms'], '.2f')}; submit round trip p50 {bs.fmt(r['submit_rtt_p50_ms'], '.2f')} p99 {bs.fmt(r['submit_rtt_p99_ms'], '.2f')}"
        f" max {bs.fmt(r['submit_rtt_max_ms'], '.2f')})  srv CPU {bs.fmt(r['server_cpu_submit_phase'], '.2f')} submitting / {bs.fmt(r['server_cpu_receipt_phase'], '.2f')} receipts"
        f" ({bs.fmt(r['server_us_per_message'], '.0f')} us/message incl. its receipt; {bs.fmt(r['server_cpu_while_due'], '.2f')} CPU and"
        f" {bs.fmt(r['receipts_per_s_while_due'], ',.0f')} receipts/s while receipts were due)  other {bs.fmt(r['other_on_server_core_submit'], '.2f')}/{bs.fmt(r['other_on_server_core_receipts'], '.2f')}"
    )


# --- orchestration --------------------------------------------------------------------------------


def with_server(config: Path, server_cpu: int | None, log_path: Path, job: Any, budget: float) -> Any:
    proc = None
    port = common.free_port()
    try:
        proc = spawn_server(config, port, server_cpu, log_path)
        wait_for_port(proc, port, log_path)
        return asyncio.run(asyncio.wait_for(job(port, proc.pid), budget))
    finally:
        common.stop(proc, grace=10.0)


def with_two_servers(config: Path, server_cpu: int | None, log_path: Path, job: Any, budget: float) -> Any:
    procs: list[subprocess.Popen[bytes]] = []
    ports = (common.free_port(), common.free_port())
    for _ in range(100):
        if ports[1] != ports[0]:
            break
        ports = (ports[0], common.free_port())
    try:
        for port in ports:
            procs.append(spawn_server(config, port, server_cpu, log_path))
        for proc, port in zip(procs, ports):
            wait_for_port(proc, port, log_path)
        return asyncio.run(asyncio.wait_for(job(ports, (procs[0].pid, procs[1].pid)), budget))
    finally:
        for proc in procs:
            common.stop(proc, grace=10.0)


def median(values: list[float]) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="pending,paired,lateness", help="comma list of pending,paired,lateness (default all)")
    g = parser.add_argument_group("part 1: throughput with pending timers")
    g.add_argument("--repeat", type=int, default=3, help="fresh-server repeats of (a0) (a) (b) (c); medians reported (default 3)")
    g.add_argument("--pending", type=int, default=100_000, help="messages left pending in (b) (default 100000)")
    g.add_argument("--pending-delay", default="120s", help="delay of the pending messages' DELIVERED step (default 120s)")
    g.add_argument("--measure-delay", default="0s", help="delay of the measured traffic's DELIVERED step (default 0s: its timer fires at once)")
    g.add_argument("--duration", type=float, default=4.0, help="measured seconds per closed-loop run at most (default 4)")
    g.add_argument("--max-pdus", type=int, default=200_000, help="measured responses per closed-loop run at most (default 200000)")
    g.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each closed-loop measurement (default 1)")
    g.add_argument("--load-timeout", type=float, default=60.0, help="bound on (b) in seconds (default 60)")
    g.add_argument("--binds", type=int, default=10, help="binds of the closed loop (default 10)")
    g.add_argument("--window", type=int, default=10, help="window per bind of the closed loop (default 10)")
    g.add_argument("--no-control", action="store_true", help="skip the (a0) control run")
    g = parser.add_argument_group("part 1b: paired slices (two servers on the same core, one with the pending load)")
    g.add_argument("--pairs", type=int, default=8, help="alternating slice pairs (default 8)")
    g.add_argument("--slice", type=float, default=1.5, help="measured seconds per slice (default 1.5)")
    g.add_argument("--slice-warmup", type=float, default=0.5, help="warm-up seconds per slice (default 0.5)")
    g = parser.add_argument_group("part 2: receipt lateness")
    g.add_argument("--rates", default="2000", help="comma list of paced submit_sm/s, one fresh server each (default 2000; e.g. 2000,10000)")
    g.add_argument("--lateness-delay", default="10s", help="D, the DELIVERED delay (default 10s)")
    g.add_argument("--lateness-duration", type=float, default=10.0, help="paced seconds of submits (default 10)")
    g.add_argument("--receipt-wait", type=float, default=10.0, help="wait for receipts up to D + this after the last submit (default 10)")
    g.add_argument("--lateness-binds", type=int, default=10, help="binds of the paced client (default 10)")
    g.add_argument("--lateness-window", type=int, default=10, help="window per bind of the paced client (default 10)")
    g.add_argument("--pace-tick", type=float, default=0.001, help="pacing tick in seconds (default 0.001)")
    g.add_argument("--no-nudge", action="store_true", help="when receipts are missing at the deadline, do not send the diagnostic extra submit_sm")
    parser.add_argument("--py-spy", metavar="DIR", help="sample the server with py-spy during (c) of the first repeat and each receipt phase; raw files in DIR")
    parser.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    args = parser.parse_args(argv)

    wanted = {x.strip() for x in args.only.split(",") if x.strip()}
    if wanted - {"pending", "paired", "lateness"}:
        parser.error(f"unknown --only item(s): {sorted(wanted - {'pending', 'paired', 'lateness'})}")
    rates = [float(x) for x in args.rates.split(",") if x.strip()]
    for name in ("pending_delay", "measure_delay", "lateness_delay"):
        try:
            seconds(getattr(args, name))
        except ValueError as exc:
            parser.error(f"--{name.replace('_', '-')}: {exc}")
    spy_dir = Path(args.py_spy).resolve() if args.py_spy else None
    if spy_dir is not None:
        if shutil.which("py-spy") is None:
            parser.error("--py-spy needs py-spy on PATH")
        spy_dir.mkdir(parents=True, exist_ok=True)

    check_templates()
    facts, server_cpu, client_cpu = common.prepare_machine()
    bs.SERVER_CPU = server_cpu
    results: dict[str, Any] = {
        "machine": facts,
        "server_cpu_id": server_cpu,
        "client_cpu_id": client_cpu,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json",)},
        "pending": {},
        "paired": {},
        "lateness": {},
        "targets": {},
        "notes": [],
    }
    t_start = perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_lifecycle.") as tmp:
        folder = Path(tmp)
        pending_config = write_server_config(folder, "pending", write_profile(folder, "pending", pending_rules(args.measure_delay, args.pending_delay)))
        lateness_config = write_server_config(folder, "lateness", write_profile(folder, "lateness", lateness_rules(args.lateness_delay)))
        check_files(pending_config, lateness_config)
        log_path = folder / "server-stderr.log"

        if "pending" in wanted:
            print()
            print(f"part 1: throughput with {args.pending:,} pending timers ({args.binds} binds x window {args.window}, closed loop;"
                  f" measured traffic DELIVERED after {args.measure_delay}, pending traffic after {args.pending_delay})", flush=True)
            repeats = []
            budget = 3 * (args.warmup + args.duration + 15) + args.load_timeout + 30
            for i in range(args.repeat):
                print(f"  repeat {i + 1}/{args.repeat} (fresh server)", flush=True)
                spy_out = spy_dir / "pending-c.raw" if spy_dir is not None and i == 0 else None

                def job(port: int, pid: int, spy_out: Path | None = spy_out) -> Any:
                    return pending_repeat(port, pid, args, spy_out, client_cpu)

                repeats.append(with_server(pending_config, server_cpu, log_path, job, budget))
            summary: dict[str, Any] = {"repeats": repeats}
            for key in ("a0", "a", "c"):
                rs = [r[key] for r in repeats if key in r]
                if rs:
                    summary[key] = {
                        "rate_median": median([r["rate"] for r in rs]),
                        "us_per_pdu_median": median([r["server_us_per_pdu"] for r in rs]),
                        "p99_ms_median": median([r["p99_ms"] for r in rs]),
                        "receipts_during": sum(r["receipts"] for r in rs),
                        "rates": [round(r["rate"]) for r in rs],
                        "us_per_pdu": [round(r["server_us_per_pdu"], 2) for r in rs],
                        "other": [round(r["server_core_other"], 2) for r in rs],
                    }
            summary["pending_created"] = [r["b"]["pending_created"] for r in repeats]
            summary["load_rates"] = [round(r["b"]["rate"]) for r in repeats]
            summary["rss_mib_per_100k_pending"] = median(
                [(r["b"]["rss_after_mib"] - r["b"]["rss_before_mib"]) / r["b"]["pending_created"] * 1e5 for r in repeats if r["b"]["pending_created"]]
            )
            summary["ratio_rate_c_over_a"] = [r["c"]["rate"] / r["a"]["rate"] for r in repeats]
            summary["ratio_us_c_over_a"] = [r["c"]["server_us_per_pdu"] / r["a"]["server_us_per_pdu"] for r in repeats]
            if not args.no_control:
                summary["ratio_rate_a_over_a0"] = [r["a"]["rate"] / r["a0"]["rate"] for r in repeats]
                summary["ratio_us_a_over_a0"] = [r["a"]["server_us_per_pdu"] / r["a0"]["server_us_per_pdu"] for r in repeats]
            results["pending"] = summary
            ratio_rate = median(summary["ratio_rate_c_over_a"])
            ratio_us = median(summary["ratio_us_c_over_a"])
            cost = 1.0 - ratio_rate
            results["targets"]["throughput cost of pending timers (1 - median rate_100k/rate_0)"] = {
                "measured": cost, "target": TARGET_COST, "op": "<", "pass": cost < TARGET_COST,
                "also": f"server CPU per PDU x{ratio_us:.3f} (median ratio)",
            }
            if summary["c"]["receipts_during"]:
                results["notes"].append(f"{summary['c']['receipts_during']} receipts arrived during (c): pending receipts came due")
            if spy_dir is not None and (spy_dir / "pending-c.raw").exists():
                import spy_summary

                c0 = repeats[0]["c"]
                print()
                print("py-spy, server during (c) of repeat 1 (non-blocking, 500 Hz):")
                print(spy_summary.report(str(spy_dir / "pending-c.raw"), 25, c0["responses_total"], c0["server_cpu"] * c0["elapsed_s"]))

        if "paired" in wanted:
            print()
            print(f"part 1b: paired slices, two servers on CPU {server_cpu}: Z (nothing pending) and P ({args.pending:,} pending after its load);"
                  f" closed loop {args.binds}x{args.window}, {args.slice_warmup} s warm-up + {args.slice} s per slice, order alternating", flush=True)

            def pjob(ports: tuple[int, int], pids: tuple[int, int]) -> Any:
                return paired_slices(ports, pids, args)

            budget = args.load_timeout + (args.pairs + 1) * 2 * (args.slice + args.slice_warmup + 10) + 30
            paired = with_two_servers(pending_config, server_cpu, log_path, pjob, budget)
            pairs = paired["pairs"]
            paired["ratio_rate"] = [x["ratio_rate"] for x in pairs]
            paired["ratio_us"] = [x["ratio_us"] for x in pairs]
            paired["rate_Z_median"] = median([x["Z"]["rate"] for x in pairs])
            paired["rate_P_median"] = median([x["P"]["rate"] for x in pairs])
            paired["us_Z_median"] = median([x["Z"]["server_us_per_pdu"] for x in pairs])
            paired["us_P_median"] = median([x["P"]["server_us_per_pdu"] for x in pairs])
            paired["receipts_during_P"] = sum(x["P"]["receipts"] for x in pairs)
            results["paired"] = paired
            if pairs:
                r_rate = median(paired["ratio_rate"])
                r_us = median(paired["ratio_us"])
                results["targets"]["throughput cost of pending timers, paired slices (1 - median P/Z rate)"] = {
                    "measured": 1.0 - r_rate, "target": TARGET_COST, "op": "<", "pass": 1.0 - r_rate < TARGET_COST,
                    "also": f"server CPU per PDU x{r_us:.3f} (median P/Z; cost by CPU {r_us - 1:+.1%}), {len(pairs)} pairs",
                }

        if "lateness" in wanted:
            print()
            print(f"part 2: receipt lateness, D = {args.lateness_delay}, paced {args.lateness_duration:.0f} s, "
                  f"{args.lateness_binds} binds x window {args.lateness_window}, registered_delivery=1", flush=True)
            delay = seconds(args.lateness_delay)
            for rate in rates:
                spy_out = spy_dir / f"lateness-{int(rate)}.raw" if spy_dir is not None else None

                def ljob(port: int, pid: int, rate: float = rate, spy_out: Path | None = spy_out) -> Any:
                    return lateness_run(port, pid, rate, args, spy_out, client_cpu)

                budget = args.lateness_duration + 10 + delay + args.receipt_wait + 30
                r = with_server(lateness_config, server_cpu, log_path, ljob, budget)
                print(f"  {rate:>7,.0f}/s  {describe_lateness(r)}", flush=True)
                if r["missing_at_deadline"]:
                    n = r["nudge"]
                    extra = (f"; after one more submit_sm with a receipt ({n['sent_at_s']:.1f} s into the run), {n['receipts_after_nudge']:,} more arrived"
                             f" within {n['waited_s']:.1f} s") if n else ""
                    print(f"           {r['missing_at_deadline']:,} receipts missing at the deadline (D + {args.receipt_wait:.0f} s after the last submit){extra}")
                    results["notes"].append(f"{rate:,.0f}/s: {r['missing_at_deadline']:,} receipts missing at the deadline{extra}")
                if r["late_per_second"]:
                    print(f"           receipts > 10 ms late, by second after the first was due: {r['late_per_second']}")
                results["lateness"][str(int(rate))] = r
                p99 = r["p99_ms"]
                results["targets"][f"receipt lateness p99 at {rate:,.0f}/s (ms)"] = {
                    "measured": p99, "target": TARGET_P99_MS, "op": "<=", "pass": (p99 <= TARGET_P99_MS) and r["matched"] == r["accepted"],
                    "also": f"{r['matched']:,}/{r['accepted']:,} matched",
                }
                if spy_out is not None and spy_out.exists():
                    import spy_summary

                    print(spy_summary.report(str(spy_out), 20))
        stderr_tail = log_path.read_text(errors="replace").strip() if log_path.exists() else ""
        if stderr_tail:
            lines = stderr_tail.splitlines()
            results["notes"].append(f"server stderr had {len(lines)} line(s); last: {lines[-1][:200]}")

    results["elapsed_s"] = perf_counter() - t_start
    end = common.machine_facts()
    if (end["git_commit"], end["git_tree"]) != (facts["git_commit"], facts["git_tree"]):
        results["notes"].append(f"the simulator's tree changed during the run ({facts['git_commit']} -> {end['git_commit']} {end['git_tree']})")
    print_table(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results saved to {args.json}")
    return 0


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    f = bs.fmt
    print()
    print("=" * 110)
    print(f"lifecycle benchmark; server pinned to CPU {results['server_cpu_id']}, client to CPU {results['client_cpu_id']}; {results['elapsed_s']:.0f} s")
    print("=" * 110)
    p = results.get("pending")
    if p:
        print(f"part 1: closed loop {args.binds}x{args.window}, medians over {len(p['repeats'])} fresh servers (all runs in brackets)")
        print(f"{'run':<34} {'submit_sm/s':>12} {'us/PDU':>8} {'p99 ms':>8} {'receipts':>9}  rates / us per PDU / other")
        labels = {"a0": "(a0) control, 0 pending", "a": "(a)  rate_0, 0 pending", "c": f"(c)  rate_100k, {median(p['pending_created']):,.0f} pending"}
        for key in ("a0", "a", "c"):
            s = p.get(key)
            if s:
                print(
                    f"{labels[key]:<34} {s['rate_median']:>12,.0f} {f(s['us_per_pdu_median'], '8.2f')} {f(s['p99_ms_median'], '8.2f')} {s['receipts_during']:>9}"
                    f"  {s['rates']} / {s['us_per_pdu']} / {s['other']}"
                )
        print(f"(b) load: {p['pending_created']} pending created at {p['load_rates']} submit_sm/s; server RSS +{p['rss_mib_per_100k_pending']:.0f} MiB per 100k pending (median)")
        rr = p["ratio_rate_c_over_a"]
        ru = p["ratio_us_c_over_a"]
        print(f"rate_100k / rate_0 per repeat: {', '.join(f'{x:.3f}' for x in rr)}  -> median {median(rr):.3f}  (cost {1 - median(rr):+.1%})")
        print(f"us/PDU (c) / (a) per repeat:   {', '.join(f'{x:.3f}' for x in ru)}  -> median {median(ru):.3f}")
        if "ratio_rate_a_over_a0" in p:
            print(f"control (a) / (a0), nothing pending: rate {', '.join(f'{x:.3f}' for x in p['ratio_rate_a_over_a0'])};"
                  f" us/PDU {', '.join(f'{x:.3f}' for x in p['ratio_us_a_over_a0'])}  (run-to-run drift)")
    pr = results.get("paired")
    if pr and pr.get("pairs"):
        print()
        print(f"part 1b: paired slices, {len(pr['pairs'])} pairs, Z = nothing pending, P = {pr['load']['pending_created']:,} pending")
        print(f"  median rate  Z {pr['rate_Z_median']:,.0f}/s   P {pr['rate_P_median']:,.0f}/s;  median us/PDU  Z {pr['us_Z_median']:.1f}   P {pr['us_P_median']:.1f}")
        print(f"  P/Z rate per pair:   {', '.join(f'{x:.3f}' for x in pr['ratio_rate'])}  -> median {median(pr['ratio_rate']):.3f}")
        print(f"  P/Z us/PDU per pair: {', '.join(f'{x:.3f}' for x in pr['ratio_us'])}  -> median {median(pr['ratio_us']):.3f}")
        print(f"  receipts received during P slices: {pr['receipts_during_P']}")
    lt = results.get("lateness")
    if lt:
        print()
        print(f"part 2: receipt lateness = receipt arrival - (submit_sm_resp arrival + {args.lateness_delay}), ms")
        print(f"{'rate/s':>8} {'matched':>15} {'min':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'p99.9':>7} {'max':>8} {'>10ms':>7} {'missing':>7}"
              f" {'CPU submit':>10} {'CPU due':>8} {'rcpt/s due':>10} {'us/msg':>7}")
        for key, r in lt.items():
            print(
                f"{float(key):>8,.0f} {r['matched']:>7,}/{r['accepted']:<7,} {f(r['min_ms'], '7.2f')} {f(r['p50_ms'], '7.2f')} {f(r['p95_ms'], '7.2f')}"
                f" {f(r['p99_ms'], '7.2f')} {f(r['p999_ms'], '7.2f')} {f(r['max_ms'], '8.2f')} {r['over_10ms']:>7,} {r['missing_at_deadline']:>7,}"
                f" {f(r['server_cpu_submit_phase'], '10.2f')} {f(r['server_cpu_while_due'], '8.2f')} {f(r['receipts_per_s_while_due'], '10,.0f')}"
                f" {f(r['server_us_per_message'], '7.0f')}"
            )
        print("(CPU submit: server CPU while submitting; CPU due: while receipts were due; us/msg: server CPU per message, its receipt included)")
        print(f"{'':>8} {'from the submit_sm write (upper bound):':<40} p50 / p99 / max")
        for key, r in lt.items():
            print(f"{float(key):>8,.0f} {'':<40} {f(r['from_send_p50_ms'], '.2f')} / {f(r['from_send_p99_ms'], '.2f')} / {f(r['from_send_max_ms'], '.2f')}"
                  f"   (submit round trip p50 {f(r['submit_rtt_p50_ms'], '.2f')}, p99 {f(r['submit_rtt_p99_ms'], '.2f')}, max {f(r['submit_rtt_max_ms'], '.2f')})")
        print("(lateness includes the server's windowed delivery queue, window 100 per bind, and the loopback hop; the server")
        print(" starts each timer between the submit_sm write and the submit_sm_resp arrival, so the true lateness lies between the two)")
    if results["targets"]:
        print()
        print("targets from the project issue (informational; the exit status does not depend on them):")
        for name, t in results["targets"].items():
            verdict = "PASS" if t["pass"] else "FAIL"
            measured = f"{t['measured']:+.1%}" if "cost" in name else f"{t['measured']:.2f}"
            target = f"{t['target']:.0%}" if "cost" in name else f"{t['target']:.0f}"
            print(f"  {verdict}  {name}: {measured} vs {t['op']} {target}; {t['also']}")
    for note in results["notes"]:
        print(f"NOTE: {note}")


if __name__ == "__main__":
    sys.exit(main())
