"""smpplib plumbing shared by the tests that drive the real server with it."""

from __future__ import annotations

import smpplib.client
import smpplib.command

from simulator.harness.runner import ThreadedServer


def connect(server: ThreadedServer, mode: str = "transmitter", system_id: str = "shop", password: str = "pw") -> smpplib.client.Client:
    """An smpplib client bound to the server in mode."""
    client = smpplib.client.Client(server.host, server.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    getattr(client, f"bind_{mode}")(system_id=system_id, password=password)
    return client


def receive(client: smpplib.client.Client) -> smpplib.command.Command:
    """The next deliver_sm, read the way smpplib's listen loop does (handled, then answered);
    enquire_links the SMSC sends meanwhile are answered on the way."""
    got: list[smpplib.command.Command] = []
    client.set_message_received_handler(lambda pdu: got.append(pdu))
    for _ in range(5):
        client.read_once()
        if got:
            return got[0]
    raise AssertionError("no deliver_sm")


def close(client: smpplib.client.Client) -> None:
    """Unbind and disconnect."""
    try:
        client.unbind()
    finally:
        client.disconnect()
