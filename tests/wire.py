"""Raw-socket plumbing shared by the tests that read the server's bytes themselves."""

from __future__ import annotations

import struct


def take_frames(buffer: bytearray) -> list[bytes]:
    """The complete PDUs at the front of buffer, removed from it; a partial one stays for the next read."""
    frames = []
    while len(buffer) >= 4:
        (length,) = struct.unpack_from(">I", buffer)
        if len(buffer) < length:
            break
        frames.append(bytes(buffer[:length]))
        del buffer[:length]
    return frames


class RecordingTransport:
    """Enough of an asyncio transport for SmppConnection: keeps what the server writes, one entry per write."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out += data
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def bound_connection(server, bind: type | None = None, system_id: str = "shop", password: str = "pw"):  # noqa: ANN001, ANN201 - SmscServer, SmppConnection
    """An in-process SmppConnection of server on a RecordingTransport, bound (transceiver unless `bind` says), its writes cleared."""
    from simulator.server import SmppConnection
    from simulator.smpp import codec
    from simulator.smpp import pdu as P

    conn = SmppConnection(server)
    conn.connection_made(RecordingTransport())  # type: ignore[arg-type]
    conn.data_received(codec.encode((bind or P.BindTransceiver)(sequence_number=1, system_id=system_id, password=password)))
    conn.transport.out.clear()
    conn.transport.writes.clear()
    return conn
