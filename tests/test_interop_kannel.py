"""Kannel, a real SMS gateway, against our SMSC: bind, sendsms -> submit_sm, deliver_sm -> MO callback, unbind.

Kannel is required: scripts/test installs it, and these tests fail (never skip) without it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from simulator.config import Account, ServerConfig
from simulator.harness.kannel import Kannel, KannelConfig
from simulator.harness.runner import ThreadedServer
from simulator.harness.webhook import WebhookReceiver
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandId


def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_kannel_is_installed() -> None:
    assert Kannel.available(), "Debian package 'kannel' is required (scripts/test installs it)"


def test_kannel_binds_submits_receives_mo_and_unbinds(tmp_path: Path, webhook: WebhookReceiver) -> None:  # noqa: F811
    config = ServerConfig(network="open", accounts=[Account(system_id="kannel", password="secret")])
    with ThreadedServer(config) as smsc:
        kannel_config = KannelConfig(
            smsc_port=smsc.port, mo_url=webhook.url("/mo") + "?from=%p&to=%P&text=%a&smsc=%i"
        )
        with Kannel(kannel_config, tmp_path / "kannel") as kannel:
            bound = smsc.run(lambda: [(c.bind_type, c.account.system_id) for c in smsc.server.bound_connections("kannel")])
            assert bound == [("transceiver", "kannel")]

            status, body = kannel.sendsms(to="33612345678", text="Hello from Kannel")
            assert status == 202 and "Accepted" in body
            message = wait_until(lambda: smsc.run(lambda: smsc.server.store.all()), what="submit_sm from Kannel")[0]
            assert message.pdu.command_id == CommandId.submit_sm
            assert message.destination_addr == "33612345678" and message.source_addr == "12345"
            assert message.payload == b"Hello from Kannel"  # GSM 03.38 unpacked: ASCII letters map to themselves

            async def deliver_mo() -> P.Pdu:
                return await smsc.server.deliver(
                    "kannel", P.DeliverSm(source_addr="33699999999", destination_addr="12345", short_message=b"STOP please")
                )

            response = smsc.call(deliver_mo())
            assert isinstance(response, P.DeliverSmResp) and response.command_status == 0
            hit = webhook.wait_for("/mo")
            assert hit.params == {"from": "33699999999", "to": "12345", "text": "STOP please", "smsc": "smsc1"}
        # Kannel's graceful shutdown unbinds before closing.
        wait_until(lambda: not smsc.run(lambda: smsc.server.bound_connections("kannel")), what="Kannel to unbind")
        assert smsc.server.stats.handler_errors == 0 and smsc.server.stats.protocol_errors == 0


def test_kannel_receives_our_delivery_receipts(tmp_path: Path, webhook: WebhookReceiver) -> None:  # noqa: F811
    from simulator.clock import VirtualClock

    clock = VirtualClock()
    config = ServerConfig(network="open", accounts=[Account(system_id="kannel", password="secret")])
    with ThreadedServer(config, clock=clock) as smsc:
        with Kannel(KannelConfig(smsc_port=smsc.port), tmp_path / "kannel") as kannel:
            dlr_url = webhook.url("/dlr") + "?id=m1&type=%d&status=%A&fid=%F"
            status, _ = kannel.sendsms(to="33612345678", text="DLR please", **{"dlr-mask": "31", "dlr-url": dlr_url})
            assert status == 202
            message = wait_until(lambda: smsc.run(lambda: smsc.server.store.all()), what="the submit_sm")[0]
            assert message.pdu.registered_delivery & 0x01  # dlr-mask 31 -> final receipt requested
            ack = webhook.wait_for("/dlr", type="8")  # Kannel's SMSC ACK callback
            assert ack.params["fid"] == message.message_id

            def advance() -> None:
                clock.advance(5)
                smsc.server.poll_timers()

            smsc.run(advance)  # the default plan: DELIVERED 2 s after acceptance
            final = webhook.wait_for("/dlr", type="1")  # Kannel's DELIVRD callback
            assert final.params["fid"] == message.message_id and "stat:DELIVRD" in final.params["status"]
