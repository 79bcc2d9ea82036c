"""Run an SmscServer on its own event loop in a background thread, for synchronous callers."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from typing import Any, Awaitable, Callable, TypeVar

from ..clock import Clock
from ..config import ServerConfig
from ..server import SmscServer

T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a process that must be told its port beforehand)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedServer:
    """An SmscServer listening on 127.0.0.1 from a daemon thread; use as a context manager."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._seed = seed
        self._host = host
        self._port = port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="smsc-sim", daemon=True)
        self.server: SmscServer | None = None
        self.host = host
        self.port = 0

    def start(self) -> ThreadedServer:
        """Start the loop and the server; returns self once it listens."""
        self._thread.start()

        async def boot() -> SmscServer:
            server = SmscServer(self._config, clock=self._clock, seed=self._seed)
            self.host, self.port = await server.start(self._host, self._port)
            return server

        self.server = self.call(boot())
        return self

    def call(self, coro: Awaitable[T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def run(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run a plain function on the server's loop (the server is not thread-safe) and return its result."""
        future: Future[T] = Future()

        def invoke() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return future.result(timeout)

    def stop(self) -> None:
        """Stop the server gracefully, then the loop and the thread."""
        if self.server is not None:
            self.call(self.server.stop(grace=0.5))
            self.server = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
