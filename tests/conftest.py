"""Shared fixtures: a real SMSC server on 127.0.0.1 in a background thread."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from simulator.config import Account, ServerConfig
from simulator.harness.runner import ThreadedServer


@pytest.fixture
def server_config() -> ServerConfig:
    """Accounts used by the server tests; override in a test module to change them."""
    return ServerConfig(
        network="open",
        accounts=[
            Account(system_id="smppclient1", password="password", distribution_lists={"team": ["+447700900021", "447700900022"]}),
            Account(system_id="other", password="secret", window=5),
            Account(system_id="txonly", password="pw", bind_types=["transmitter"], max_binds=1),
        ]
    )


@pytest.fixture
def live_server(server_config: ServerConfig):
    """A running SmscServer on an ephemeral port; .host, .port, .server, .run(fn), .call(coro)."""
    with ThreadedServer(server_config) as running:
        yield running


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop (no plugin needed for this one job)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout=60))
    return True
