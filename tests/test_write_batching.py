"""On a bind that is its account's only receiving bind, receipts already due when a read is handled are
written right after that read's responses: a synchronous gateway reads them without an extra wake-up,
and the server needs no clock wake-up and no loop turn for them (smpplib with receipts: 4.0-4.4k -> 5.2-6.2k
msg/s in benchmarks/bench_smpplib.py). With several receiving binds they keep to the clock's wake grid."""

from __future__ import annotations

import asyncio

from simulator.clock import Clock
from simulator.config import Account, ServerConfig, SmscSettings
from simulator.server import SmppConnection, SmscServer
from simulator.smpp import codec
from simulator.smpp import pdu as P

from .wire import bound_connection, take_frames


class SteppedClock(Clock):
    """A real clock's semantics, with time set by the test: time passes and nothing fires until polled."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        super().__init__()
        self.time = start

    def now(self) -> float:
        """The time the test set."""
        return self.time


def _server(clock: Clock) -> SmscServer:
    # The open network: every message DELIVERED 2 s after acceptance, its receipt then.
    config = ServerConfig(smsc=SmscSettings(pdu_log=0), network="open", accounts=[Account(system_id="shop", password="pw")])
    return SmscServer(config, clock=clock, seed=1)


def _submit(conn: SmppConnection, seq: int) -> None:
    pdu = P.SubmitSm(sequence_number=seq, destination_addr="33612345678", short_message=f"message {seq}".encode(), registered_delivery=1)
    conn.data_received(codec.encode(pdu))


def _writes(conn: SmppConnection) -> list[list[P.Pdu]]:
    return [[codec.decode(frame) for frame in take_frames(bytearray(data))] for data in conn.transport.writes]  # type: ignore[union-attr]


def test_a_due_receipt_follows_the_next_response_at_once() -> None:
    async def run() -> None:
        clock = SteppedClock()
        server = _server(clock)
        conn = bound_connection(server)
        _submit(conn, 2)
        [[first]] = _writes(conn)
        assert isinstance(first, P.SubmitSmResp) and first.sequence_number == 2

        clock.time += 1  # the receipt is not due yet: the next read answers with its response only
        _submit(conn, 3)
        assert [[type(p) for p in w] for w in _writes(conn)[1:]] == [[P.SubmitSmResp]]

        clock.time += 1.5  # now it is, and nothing has polled the clock since
        _submit(conn, 4)
        # Written before this coroutine yields: no loop turn, no wake-up needed; the response first.
        assert [[type(p) for p in w] for w in _writes(conn)[2:]] == [[P.SubmitSmResp], [P.DeliverSm]]
        [[response], [receipt]] = _writes(conn)[2:]
        assert response.sequence_number == 4
        assert receipt.esm_class & 0x04 and receipt.tlv("receipted_message_id") == first.message_id  # type: ignore[attr-defined]

    asyncio.run(run())


def test_with_several_receiving_binds_due_receipts_wait_for_the_clock_wake_up() -> None:
    """Firing due calls on every read would spread receipts over the binds one segment each; the clock's wake
    grid batches them (bench_matrix 4 binds x window 1: 12.8k/s with the grid, 8.7k/s firing per read)."""

    async def run() -> None:
        clock = SteppedClock()
        server = _server(clock)
        first = bound_connection(server)
        second = bound_connection(server)
        _submit(first, 2)
        clock.time += 3
        _submit(first, 3)
        assert [[type(p) for p in w] for w in _writes(first)] == [[P.SubmitSmResp], [P.SubmitSmResp]]
        assert _writes(second) == []
        server.poll_timers()  # the wake-up the event loop runs on the clock's grid
        await asyncio.sleep(0)  # the loop turn that writes what the wake-up queued
        receipts = [p for conn in (first, second) for w in _writes(conn) for p in w if isinstance(p, P.DeliverSm)]
        assert len(receipts) == 1 and receipts[0].esm_class & 0x04

    asyncio.run(run())
