"""Wall time of lifecycle runs on the virtual clock, as a gateway's test suite would see them.

    python benchmarks/bench_virtual_clock.py [--messages 10000] [--repeat 3]

(1) A 48 h expiry: the default network, the destination handset off, one submit_sm asking for a
receipt; the virtual clock is advanced by 48 h and the EXPIRED receipt read by our ESME. Timed: the
advance until the receipt is in hand, and the whole test (simulator start to stop).
(2) --messages submit_sm through a full ENROUTE -> DELIVERED sequence (`{after: 2s, state: ENROUTE}`,
`{after: 5s, state: DELIVERED}`) with registered_delivery 0x11, so each message yields an
intermediate ENROUTE receipt and a final DELIVERED one; the clock is advanced by 5 s and every
receipt read and answered. Timed: the submits (windowed: 10 outstanding, as a gateway pipelines)
and the advance until the last receipt is in hand.

Everything runs in this process, on 127.0.0.1, with the `smsc` fixture's SimulatedSmsc and our own
ESME over real sockets; medians of --repeat runs are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.harness.esme import AsyncEsme  # noqa: E402
from simulator.harness.smsc import SimulatedSmsc  # noqa: E402
from simulator.smpp import pdu as P  # noqa: E402
from simulator.smpp.session import SessionConfig  # noqa: E402
from simulator.smpp.constants import MessageState  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HANDSET = "+33612345678"  # an SFR mobile in the default network


def expiry_48h() -> dict[str, float]:
    """One message to a handset that is off, expired by advancing the virtual clock 48 h."""
    t0 = perf_counter()
    with SimulatedSmsc(network="default") as smsc:
        esme = smsc.esme()
        smsc.set_handset(HANDSET, "off")
        response = esme.submit_sm(source_addr="SIMULATOR", source_addr_ton=5, destination_addr=HANDSET, dest_addr_ton=1, short_message=b"code 1234", registered_delivery=1)
        t1 = perf_counter()
        smsc.clock.advance("48h")
        receipt = esme.next_message(timeout=10)
        t2 = perf_counter()
        if receipt.tlv("receipted_message_id") != response.message_id or receipt.tlv("message_state") != MessageState.EXPIRED:
            raise SystemExit(f"expected the EXPIRED receipt of {response.message_id}, got {receipt}")
    t3 = perf_counter()
    return {"advance_ms": (t2 - t1) * 1e3, "whole_ms": (t3 - t0) * 1e3}


def sequence_profile(folder: Path) -> Path:
    profile = yaml.safe_load((REPO / "simulator" / "profiles" / "open.yaml").read_text())
    profile["name"] = "open-enroute-delivered"
    profile["description"] = "bench_virtual_clock.py: every message ENROUTE after 2 s, DELIVERED after 5 s"
    profile["delivery_rules"] = [{"name": "enroute-then-delivered", "sequence": [{"after": "2s", "state": "ENROUTE"}, {"after": "5s", "state": "DELIVERED"}]}]
    path = folder / "profile.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


async def _submit_all(esme: AsyncEsme, count: int, window: int) -> list[str]:
    ids: list[str] = []
    pending: set[asyncio.Task[P.Pdu]] = set()
    for n in range(count):
        if len(pending) >= window:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ids.extend(task.result().message_id for task in done)  # type: ignore[attr-defined]
        pdu = P.SubmitSm(source_addr="SHOP", destination_addr=f"3361{n:07d}", short_message=b"hello", registered_delivery=0x11)
        pending.add(asyncio.ensure_future(esme.request(pdu)))
    for task in asyncio.as_completed(pending):
        ids.append((await task).message_id)  # type: ignore[attr-defined]
    return ids


async def _receive(esme: AsyncEsme, count: int) -> dict[str, int]:
    states: dict[str, int] = {}
    for _ in range(count):
        pdu = await esme.next_message(timeout=30)
        state = MessageState(pdu.tlv("message_state")).name
        states[state] = states.get(state, 0) + 1
    return states


def full_sequence(messages: int, folder: Path) -> dict[str, float]:
    """messages through ENROUTE -> DELIVERED with both receipts, on the virtual clock."""
    with SimulatedSmsc(network=str(sequence_profile(folder)), accounts=[{"system_id": "shop", "password": "pw", "window": 100}]) as smsc:
        loop = asyncio.new_event_loop()
        try:
            # Our ESME accepts as many unanswered deliver_sm as the account's window lets the SMSC send.
            esme = loop.run_until_complete(AsyncEsme.connect(smsc.host, smsc.port, SessionConfig(window=10, peer_window=100)))
            loop.run_until_complete(esme.bind("transceiver", "shop", "pw"))
            t0 = perf_counter()
            ids = loop.run_until_complete(_submit_all(esme, messages, 10))
            t1 = perf_counter()
            receiving = loop.create_task(_receive(esme, 2 * messages))
            smsc.clock.advance("7s")  # each step's delay counts from the one before: DELIVERED at 2 + 5 s
            states = loop.run_until_complete(receiving)
            t2 = perf_counter()
            loop.run_until_complete(esme.unbind())
        finally:
            loop.close()
        delivered = smsc.run(lambda: sum(1 for m in smsc.server.store.all() if m.state is MessageState.DELIVERED))
    if len(set(ids)) != messages or states != {"ENROUTE": messages, "DELIVERED": messages} or delivered != messages:
        raise SystemExit(f"expected {messages} messages with an ENROUTE and a DELIVERED receipt each, got {states}, {delivered} delivered")
    return {"submit_ms": (t1 - t0) * 1e3, "advance_ms": (t2 - t1) * 1e3}


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages through the full sequence (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default 3)")
    args = parser.parse_args(argv)
    if not 0 < args.messages <= 100_000 or not 0 < args.repeat <= 20:
        parser.error("--messages 1..100000, --repeat 1..20")
    expiries = [expiry_48h() for _ in range(args.repeat)]
    with tempfile.TemporaryDirectory() as tmp:
        sequences = [full_sequence(args.messages, Path(tmp)) for _ in range(args.repeat)]

    def med(runs: list[dict[str, float]], key: str) -> str:
        values = [run[key] for run in runs]
        return f"{statistics.median(values):8.1f} ms  (runs: {', '.join(f'{v:.1f}' for v in values)})"

    print(f"virtual clock, {args.repeat} runs each, medians")
    print(f"48 h expiry: advance 48 h until the EXPIRED receipt is read   {med(expiries, 'advance_ms')}")
    print(f"48 h expiry: whole test (start, bind, submit, advance, stop)  {med(expiries, 'whole_ms')}")
    print(f"{args.messages:,} messages: submits (window 10)                  {med(sequences, 'submit_ms')}")
    print(f"{args.messages:,} messages: advance 7 s, {2 * args.messages:,} receipts read   {med(sequences, 'advance_ms')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
