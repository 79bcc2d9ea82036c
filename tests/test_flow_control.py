"""A gateway that stops reading: the server stops reading its requests (and sending it deliveries)
once the transport's buffer is full, instead of buffering responses without bound, and carries on
with nothing lost once the gateway reads again. Checked over a real socket with small buffers."""

from __future__ import annotations

import select
import socket
import time

import smpplib.smpp

from simulator.clock import VirtualClock
from simulator.config import Account, ServerConfig
from simulator.harness.runner import ThreadedServer
from simulator.smpp import codec
from simulator.smpp import pdu as P

from .smpplib_helpers import close
from .smpplib_helpers import connect as smpplib_connect
from .wire import take_frames

BUFFER = 4096  # socket buffers and the transport's high-water mark for the connection under test
REQUESTS = 10000  # about 1 MB of submit_sm: more than every buffer on the way holds


def config() -> ServerConfig:
    return ServerConfig(network="open", accounts=[Account(system_id="gw", password="pw", window=REQUESTS)])


def _shrink(server, sid: int) -> tuple[int, int]:  # noqa: ANN001 - SmscServer
    """Small buffers for connection sid: the kernel's send buffer and asyncio's high-water mark."""
    conn = server.connections[sid]
    sock = conn.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
    conn.transport.set_write_buffer_limits(high=BUFFER)
    return conn.transport.get_write_buffer_limits()


def _restore(server, sid: int) -> None:  # noqa: ANN001 - SmscServer
    conn = server.connections[sid]
    sock = conn.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    conn.transport.set_write_buffer_limits()  # asyncio's defaults


def test_a_gateway_that_stops_reading_is_not_read_either_and_loses_nothing() -> None:
    with ThreadedServer(config(), clock=VirtualClock()) as running:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        sock.connect((running.host, running.port))
        sock.sendall(codec.encode(P.BindTransceiver(sequence_number=1, system_id="gw", password="pw")))
        inbox = bytearray()
        deadline = time.monotonic() + 5
        while not take_frames(inbox) and time.monotonic() < deadline:
            inbox += sock.recv(4096)
        sid = running.run(lambda: next(iter(running.server.connections)))
        running.run(_shrink, running.server, sid)

        out = b"".join(
            codec.encode(P.SubmitSm(sequence_number=seq, destination_addr="33612345678", short_message=b"x" * 60))
            for seq in range(2, REQUESTS + 2)
        )
        def state() -> tuple[bool, int, int]:
            conn = running.server.connections[sid]
            return conn.transport.is_reading(), conn.transport.get_write_buffer_size(), running.server.stats.submits

        sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 10
        while sent < len(out) and time.monotonic() < deadline:  # write without reading until the server stops reading
            try:
                sent += sock.send(out[sent : sent + 65536])
            except BlockingIOError:
                if not running.run(state)[0]:
                    break
                select.select([], [sock], [], 0.05)  # the server still reads: room comes back
        assert sent < len(out), "the server kept reading a peer that reads nothing"

        reading, buffered, accepted = running.run(state)
        assert not reading
        # At most one read's worth of responses beyond the high-water mark (a read is at most 256 kB of requests).
        requests_per_read = 256 * 1024 // (len(out) // REQUESTS) + 1
        assert buffered <= BUFFER + requests_per_read * 30  # a submit_sm_resp here is 25 octets
        assert accepted < REQUESTS

        # Now read everything (and send the rest): every request gets its response, in order. Buffers
        # back to normal first: tiny windows would make the rest crawl on delayed ACKs.
        running.run(_restore, running.server, sid)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        answered: list[int] = []
        deadline = time.monotonic() + 20
        while len(answered) < REQUESTS and time.monotonic() < deadline:
            want_write = [sock] if sent < len(out) else []
            readable, writable, _ = select.select([sock], want_write, [], 0.5)
            if writable:
                try:
                    sent += sock.send(out[sent : sent + 65536])
                except BlockingIOError:
                    pass
            if readable:
                inbox += sock.recv(65536)
                for frame in take_frames(inbox):
                    pdu = codec.decode(frame)
                    assert isinstance(pdu, P.SubmitSmResp) and pdu.command_status == 0, pdu
                    answered.append(pdu.sequence_number)
        sock.close()
        assert answered == list(range(2, REQUESTS + 2))
        assert running.run(lambda: running.server.stats.submits) == REQUESTS


def test_deliveries_wait_while_the_gateway_does_not_read_then_go_out() -> None:
    """smpplib as the gateway: receipts are held back while its connection is paused, sent once it resumes."""
    clock = VirtualClock()
    with ThreadedServer(config(), clock=clock) as running:
        client = smpplib_connect(running, "transceiver", system_id="gw", password="pw")
        try:
            pdu = smpplib.smpp.make_pdu("submit_sm", client=client, destination_addr="33612345678", short_message=b"hi", registered_delivery=1)
            client.send_pdu(pdu)
            message_id = client.read_pdu().message_id.decode()
            conn_id = running.run(lambda: next(iter(running.server.connections)))

            def pause_and_deliver() -> int:
                conn = running.server.connections[conn_id]
                conn.pause_writing()  # as the transport does when its buffer passes the high-water mark
                clock.advance(5)  # the receipt falls due
                running.server.poll_timers()
                return len(conn.in_flight)

            assert running.run(pause_and_deliver) == 0  # not sent to a peer that does not read
            assert running.run(lambda: running.server.connections[conn_id].transport.is_reading()) is False
            running.run(lambda: running.server.connections[conn_id].resume_writing())
            receipt = client.read_pdu()
            assert receipt.command == "deliver_sm" and receipt.receipted_message_id.decode() == message_id
            client.send_pdu(smpplib.smpp.make_pdu("deliver_sm_resp", client=client, sequence=receipt.sequence))
            assert running.run(lambda: running.server.connections[conn_id].transport.is_reading()) is True
        finally:
            close(client)
