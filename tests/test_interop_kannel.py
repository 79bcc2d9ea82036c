"""Kannel, a real SMS gateway, against our SMSC: bind, sendsms -> submit_sm, deliver_sm -> MO callback, unbind.

Kannel is required: scripts/test installs it, and these tests fail (never skip) without it.
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from simulator.config import Account, ServerConfig
from simulator.harness.kannel import Kannel, KannelConfig
from simulator.harness.runner import ThreadedServer
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandId


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[dict[str, str]]

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        self.hits.append({key: values[0] for key, values in query.items()})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mo_receiver():
    hits: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], hits
    httpd.shutdown()
    httpd.server_close()


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


def test_kannel_binds_submits_receives_mo_and_unbinds(tmp_path: Path, mo_receiver) -> None:
    mo_port, hits = mo_receiver
    config = ServerConfig(network="open", accounts=[Account(system_id="kannel", password="secret")])
    with ThreadedServer(config) as smsc:
        kannel_config = KannelConfig(
            smsc_port=smsc.port, mo_url=f"http://127.0.0.1:{mo_port}/mo?from=%p&to=%P&text=%a&smsc=%i"
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
            hit = wait_until(lambda: hits, what="Kannel's MO callback")[0]
            assert hit == {"from": "33699999999", "to": "12345", "text": "STOP please", "smsc": "smsc1"}
        # Kannel's graceful shutdown unbinds before closing.
        wait_until(lambda: not smsc.run(lambda: smsc.server.bound_connections("kannel")), what="Kannel to unbind")
        assert smsc.server.stats.handler_errors == 0 and smsc.server.stats.protocol_errors == 0


def test_kannel_receives_our_delivery_receipts(tmp_path: Path, mo_receiver) -> None:
    from simulator.clock import VirtualClock

    callback_port, hits = mo_receiver
    clock = VirtualClock()
    config = ServerConfig(network="open", accounts=[Account(system_id="kannel", password="secret")])
    with ThreadedServer(config, clock=clock) as smsc:
        with Kannel(KannelConfig(smsc_port=smsc.port), tmp_path / "kannel") as kannel:
            dlr_url = f"http://127.0.0.1:{callback_port}/dlr?id=m1&type=%d&status=%A&fid=%F"
            status, _ = kannel.sendsms(to="33612345678", text="DLR please", **{"dlr-mask": "31", "dlr-url": dlr_url})
            assert status == 202
            message = wait_until(lambda: smsc.run(lambda: smsc.server.store.all()), what="the submit_sm")[0]
            assert message.pdu.registered_delivery & 0x01  # dlr-mask 31 -> final receipt requested
            ack = wait_until(lambda: [h for h in hits if h.get("type") == "8"], what="Kannel's SMSC ACK callback")[0]
            assert ack["fid"] == message.message_id

            def advance() -> None:
                clock.advance(5)
                smsc.server.poll_timers()

            smsc.run(advance)  # the default plan: DELIVERED 2 s after acceptance
            final = wait_until(lambda: [h for h in hits if h.get("type") == "1"], what="Kannel's DELIVRD callback")[0]
            assert final["fid"] == message.message_id and "stat:DELIVRD" in final["status"]
