"""Our own ESME client, built on the sans-IO session: an asyncio face and a synchronous face."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Callable

from ..clock import RealClock
from ..smpp import pdu as P
from ..smpp.constants import CommandId as C
from ..smpp.constants import CommandStatus as S
from ..smpp.constants import status_name
from ..smpp.session import (
    ProtocolError,
    RequestReceived,
    ResponseReceived,
    ResponseTimeout,
    Role,
    Session,
    SessionConfig,
)

BIND_PDUS: dict[str, type[P.Pdu]] = {
    "transmitter": P.BindTransmitter,
    "receiver": P.BindReceiver,
    "transceiver": P.BindTransceiver,
}


class SmppError(Exception):
    """A request answered with a non-zero command_status."""

    def __init__(self, response: P.Pdu) -> None:
        self.response = response
        self.status = response.command_status
        super().__init__(f"{response.command_name}: {status_name(response.command_status)} (0x{response.command_status:08X})")


class ConnectionClosedError(ConnectionError):
    """The SMSC closed the connection while a request was outstanding."""


class _EsmeProtocol(asyncio.Protocol):
    def __init__(self, client: AsyncEsme) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.client._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._on_lost(exc)


class AsyncEsme:
    """An asyncio ESME: bind, send any request and await its response, receive deliver_sm.

    Incoming deliver_sm/data_sm are answered automatically (status from deliver_status, a callable
    taking the PDU; ESME_ROK by default) and queued for next_message(). enquire_link and unbind from
    the SMSC are answered too.
    """

    def __init__(self, config: SessionConfig | None = None) -> None:
        self.session = Session(Role.ESME, RealClock(), config or SessionConfig(session_init_timeout=None))
        self.received: asyncio.Queue[P.Pdu] = asyncio.Queue()
        self.deliver_status: Callable[[P.Pdu], int] = lambda pdu: S.ESME_ROK
        self.protocol_errors: list[ProtocolError] = []
        self._transport: asyncio.Transport | None = None
        self._waiters: dict[int, asyncio.Future[P.Pdu]] = {}
        self._window_free = asyncio.Event()
        self._window_free.set()
        self._closed = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    async def connect(cls, host: str, port: int, config: SessionConfig | None = None) -> AsyncEsme:
        """Open a TCP connection to an SMSC."""
        client = cls(config)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: _EsmeProtocol(client), host, port)
        client._schedule_timers()
        return client

    # --- protocol plumbing -------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        events = self.session.receive_data(data)
        while events:
            for event in events:
                if isinstance(event, ResponseReceived):
                    waiter = self._waiters.pop(event.pdu.sequence_number, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(event.pdu)
                elif isinstance(event, RequestReceived):
                    self._on_request(event.pdu)
                elif isinstance(event, ProtocolError):
                    self.protocol_errors.append(event)
            events = self.session.receive_data(b"") if self.session.has_buffered_input else []
        self._flush()
        if self.session.can_send_request():
            self._window_free.set()

    def _on_request(self, pdu: P.Pdu) -> None:
        if pdu.command_id in (C.deliver_sm, C.data_sm):
            self.session.send(pdu.make_response(self.deliver_status(pdu)))
            self.received.put_nowait(pdu)
        elif pdu.command_id in (C.enquire_link, C.unbind):
            self.session.send(pdu.make_response())
        else:
            if pdu.RESPONSE is not None:
                self.session.send(pdu.make_response())
            self.received.put_nowait(pdu)

    def _on_lost(self, exc: Exception | None) -> None:
        self.session.connection_lost()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionClosedError("connection closed by the SMSC"))
        self._waiters.clear()
        self._window_free.set()
        if self._timer is not None:
            self._timer.cancel()
        if not self._closed.done():
            self._closed.set_result(None)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if self._transport is None or self._transport.is_closing():
            return
        if data:
            self._transport.write(data)
        if self.session.closing:
            self._transport.close()

    def _schedule_timers(self) -> None:
        for event in self.session.handle_timers():
            if isinstance(event, ResponseTimeout):
                waiter = self._waiters.pop(event.request.sequence_number, None)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(TimeoutError(f"no response to {event.request.command_name}"))
        self._flush()
        if not self._closed.done():
            self._timer = asyncio.get_running_loop().call_later(0.2, self._schedule_timers)

    # --- public API --------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        """True once the connection is gone."""
        return self._closed.done()

    async def send_request(self, pdu: P.Pdu) -> asyncio.Future[P.Pdu]:
        """Send a request once the window has room; return the future of its response."""
        while not self.session.can_send_request():
            self._window_free.clear()
            if self.is_closed:
                raise ConnectionClosedError("connection closed")
            await self._window_free.wait()
        if self.is_closed:
            raise ConnectionClosedError("connection closed")
        sent = self.session.send(pdu)
        future: asyncio.Future[P.Pdu] = asyncio.get_running_loop().create_future()
        self._waiters[sent.sequence_number] = future
        self._flush()
        return future

    async def request(self, pdu: P.Pdu, *, check: bool = True, timeout: float = 10.0) -> P.Pdu:
        """Send a request and return its response; raise SmppError on a non-zero status when check."""
        future = await self.send_request(pdu)
        response = await asyncio.wait_for(future, timeout)
        if check and response.command_status != 0:
            raise SmppError(response)
        return response

    async def bind(
        self,
        mode: str = "transceiver",
        system_id: str = "smppclient1",
        password: str = "password",
        *,
        system_type: str = "",
        interface_version: int = 0x34,
        check: bool = True,
    ) -> P.Pdu:
        """Bind as transmitter, receiver or transceiver."""
        bind_cls = BIND_PDUS[mode]
        return await self.request(
            bind_cls(system_id=system_id, password=password, system_type=system_type, interface_version=interface_version),
            check=check,
        )

    async def submit_sm(self, *, check: bool = True, **fields: Any) -> P.Pdu:
        """submit_sm with the given fields; short_message may be str (encoded latin-1) or bytes."""
        if isinstance(fields.get("short_message"), str):
            fields["short_message"] = fields["short_message"].encode("latin-1")
        return await self.request(P.SubmitSm(**fields), check=check)

    async def enquire_link(self) -> P.Pdu:
        """Check the link."""
        return await self.request(P.EnquireLink())

    async def next_message(self, timeout: float = 5.0) -> P.Pdu:
        """The next deliver_sm/data_sm (or other SMSC request) received."""
        return await asyncio.wait_for(self.received.get(), timeout)

    async def unbind(self, timeout: float = 5.0) -> None:
        """Unbind and wait for the SMSC to close the connection."""
        if self.session.is_bound and not self.is_closed:
            await self.request(P.Unbind(), timeout=timeout)
        await self.close(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Close the TCP connection."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        await asyncio.wait_for(asyncio.shield(self._closed), timeout)


class SyncEsme:
    """The synchronous face of AsyncEsme: each call runs on a private event loop thread."""

    def __init__(self, host: str, port: int, config: SessionConfig | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="esme", daemon=True)
        self._thread.start()
        self.client: AsyncEsme = self._call(AsyncEsme.connect(host, port, config))

    def _call(self, coro: Any, timeout: float = 15.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def bind(self, mode: str = "transceiver", system_id: str = "smppclient1", password: str = "password", **kw: Any) -> P.Pdu:
        """Bind (see AsyncEsme.bind)."""
        return self._call(self.client.bind(mode, system_id, password, **kw))

    def request(self, pdu: P.Pdu, *, check: bool = True) -> P.Pdu:
        """Send a request and return its response."""
        return self._call(self.client.request(pdu, check=check))

    def submit_sm(self, *, check: bool = True, **fields: Any) -> P.Pdu:
        """submit_sm (see AsyncEsme.submit_sm)."""
        return self._call(self.client.submit_sm(check=check, **fields))

    def enquire_link(self) -> P.Pdu:
        """Check the link."""
        return self._call(self.client.enquire_link())

    def next_message(self, timeout: float = 5.0) -> P.Pdu:
        """The next deliver_sm/data_sm received."""
        return self._call(self.client.next_message(timeout), timeout + 5)

    @property
    def state(self) -> Any:
        """The session state."""
        return self.client.session.state

    def close(self) -> None:
        """Unbind if bound, close, and stop the private loop."""
        try:
            if not self.client.is_closed:
                self._call(self.client.unbind())
        except Exception:  # noqa: BLE001 - closing must not fail on a dead link
            try:
                self._call(self.client.close())
            except Exception:  # noqa: BLE001
                pass
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self) -> SyncEsme:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
