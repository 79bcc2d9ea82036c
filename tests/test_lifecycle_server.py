"""Delivery receipts through the real server, received by smpplib, on a virtual clock the test advances."""

from __future__ import annotations

import socket
import time

import pytest
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.smpp

from simulator.clock import VirtualClock
from simulator.config import Account, Sender, ServerConfig, Throttle
from simulator.harness.runner import ThreadedServer

from .smpplib_helpers import close, receive
from .smpplib_helpers import connect as _connect
from simulator.network.receipts import parse_receipt_text
from simulator.smpp.constants import MessageState as M

SFR = "33612345678"


def shop(**overrides: object) -> Account:
    values: dict[str, object] = dict(
        system_id="shop", password="pw", country="FR", senders=[Sender("MYSHOP")], default_sender="MYSHOP", throttle=Throttle(rate=0)
    )
    values.update(overrides)
    return Account(**values)  # type: ignore[arg-type]


@pytest.fixture
def smsc():
    clock = VirtualClock()
    with ThreadedServer(ServerConfig(network="default", accounts=[shop(), shop(system_id="legacy", receipt_dialect="decimal_ids")]), clock=clock) as running:
        running.clock = clock  # type: ignore[attr-defined]
        yield running


def advance(smsc: ThreadedServer, seconds: float) -> None:
    """Move the simulator's virtual clock, then let the server act on what fell due."""

    def step() -> None:
        smsc.clock.advance(seconds)  # type: ignore[attr-defined]
        smsc.server.poll_timers()

    smsc.run(step)




def submit(client: smpplib.client.Client, destination: str = SFR, registered_delivery: int = 1) -> str:
    pdu = smpplib.smpp.make_pdu(
        "submit_sm",
        client=client,
        source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
        source_addr="MYSHOP",
        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
        destination_addr=destination,
        short_message=b"Your code is 1234",
        registered_delivery=registered_delivery,
    )
    client.send_pdu(pdu)
    response = client.read_pdu()
    assert response.status == 0
    return response.message_id.decode()






def test_receipt_delivered_to_smpplib(smsc: ThreadedServer) -> None:
    client = connect(smsc)
    try:
        message_id = submit(client)
        advance(smsc, 5)
        receipt = receive(client)
        fields = parse_receipt_text(receipt.short_message.decode())
        assert (fields["id"], fields["stat"], fields["err"]) == (message_id, "DELIVRD", "000")
        assert receipt.esm_class & 0x04  # SMSC delivery receipt
        assert receipt.receipted_message_id.decode() == message_id
        message = smsc.run(lambda: smsc.server.store.get(message_id, "shop"))
        assert message.state is M.DELIVERED
        def events() -> list[str]:
            return smsc.run(lambda: [t.note for t in message.transitions() if t.kind == "event"])

        deadline = time.monotonic() + 5  # smpplib's deliver_sm_resp is on its way to the server
        while "receipt answered ESME_ROK" not in events() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert "receipt DELIVERED queued" in events() and "receipt answered ESME_ROK" in events()
    finally:
        close(client)


def test_handset_off_then_on_and_expiry(smsc: ThreadedServer) -> None:
    client = connect(smsc)
    try:
        smsc.run(lambda: smsc.server.set_handset("+33612345678", "off"))
        waiting = submit(client)
        advance(smsc, 3600)
        assert smsc.run(lambda: smsc.server.store.get(waiting, "shop").state) is M.ENROUTE
        assert smsc.run(lambda: smsc.server.set_handset("+33612345678", "on")) == 1
        assert parse_receipt_text(receive(client).short_message.decode())["stat"] == "DELIVRD"
        smsc.run(lambda: smsc.server.set_handset("+33612345678", "absent"))
        expiring = submit(client)
        advance(smsc, 48 * 3600 + 1)
        fields = parse_receipt_text(receive(client).short_message.decode())
        assert (fields["id"], fields["stat"]) == (expiring, "EXPIRED")
    finally:
        close(client)


def test_receipts_wait_for_a_receiver_and_come_in_order(smsc: ThreadedServer) -> None:
    transmitter = connect(smsc, "transmitter")
    try:
        ids = [submit(transmitter) for _ in range(3)]
        advance(smsc, 10)
        assert smsc.run(lambda: smsc.server.queued_deliveries("shop")) == 3
    finally:
        close(transmitter)
    receiver = connect(smsc, "receiver")
    try:
        got = [parse_receipt_text(receive(receiver).short_message.decode())["id"] for _ in ids]
        assert got == ids
    finally:
        close(receiver)


def test_cancel_and_query_through_smpplib(smsc: ThreadedServer) -> None:
    client = connect(smsc)
    try:
        smsc.run(lambda: smsc.server.set_handset("+33612345678", "off"))
        message_id = submit(client)
        client.send_pdu(smpplib.smpp.make_pdu("query_sm", client=client, message_id=message_id, source_addr="MYSHOP"))
        assert int(client.read_pdu().message_state) == M.ENROUTE
        from simulator.smpp import codec
        from simulator.smpp import pdu as P

        client._socket.sendall(codec.encode(P.CancelSm(sequence_number=900, message_id=message_id)))
        replies = []
        while len(replies) < 2:  # the cancel_sm_resp and the DELETED receipt; smpplib cannot parse the former
            header = client._socket.recv(16, socket.MSG_WAITALL)
            body = client._socket.recv(int.from_bytes(header[:4], "big") - 16, socket.MSG_WAITALL)
            replies.append(codec.decode(header + body))
        assert sorted(type(r).__name__ for r in replies) == ["CancelSmResp", "DeliverSm"]
        assert next(r for r in replies if isinstance(r, P.CancelSmResp)).command_status == 0
        receipt = next(r for r in replies if isinstance(r, P.DeliverSm))
        assert parse_receipt_text(receipt.short_message.decode())["stat"] == "DELETED"
    finally:
        client.disconnect()


def test_receipt_dialect_decimal_ids(smsc: ThreadedServer) -> None:
    client = connect(smsc, system_id="legacy")
    try:
        message_id = submit(client)
        advance(smsc, 5)
        fields = parse_receipt_text(receive(client).short_message.decode())
        assert fields["id"] == str(int(message_id, 16))
    finally:
        close(client)



def connect(server: ThreadedServer, mode: str = "transceiver", system_id: str = "shop"):  # noqa: ANN201
    """Bind with smpplib (transceiver unless said)."""
    return _connect(server, mode, system_id)
