"""Interoperability with an independent ESME implementation: smpplib 2.2.4 against the live SMSC.

smpplib drives every operation it implements (binds, submit_sm, data_sm, query_sm, enquire_link,
unbind, receiving deliver_sm). For operations it lacks (submit_multi, cancel_sm, replace_sm and the
v5.0 broadcast family) the PDUs are built with our codec and written on smpplib's own socket after
an smpplib bind, and the replies are read off that socket and decoded with our codec.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import struct
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from simulator.smpp import codec
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandId, CommandStatus, MessageState
from simulator.smpp.timefmt import parse_time
from simulator.smpp.tlv import Tlv

S = CommandStatus
TIMEOUT = 5.0
USER, PASSWORD = "smppclient1", "password"

# Sequence numbers for PDUs we write ourselves on an smpplib socket, far from smpplib's own counter.
_our_sequence = iter(range(0x10000, 0x20000))


# --- helpers ---------------------------------------------------------------------------------


def new_client(live_server) -> smpplib.client.Client:
    """A connected (unbound) smpplib client with a short socket timeout."""
    client = smpplib.client.Client(live_server.host, live_server.port, timeout=TIMEOUT, allow_unknown_opt_params=True)
    client.connect()
    return client


def close_client(client: smpplib.client.Client) -> None:
    """Drop the TCP connection without smpplib's unbind dance (it logs about bound state otherwise)."""
    if client._socket is not None:
        client._socket.close()
        client._socket = None
    client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED


@contextmanager
def esme(live_server, bind: str | None = "transceiver", system_id: str = USER, password: str = PASSWORD,
         interface_version: int | None = None) -> Iterator[smpplib.client.Client]:
    """An smpplib client, optionally bound (bind_<bind>), always closed on exit."""
    client = new_client(live_server)
    try:
        if bind is not None:
            if interface_version is None:
                resp = getattr(client, f"bind_{bind}")(system_id=system_id, password=password)
            else:
                resp = bind_with_version(client, bind, interface_version, system_id, password)
            assert resp.status == 0
        yield client
    finally:
        close_client(client)


def bind_with_version(client, bind: str, version: int, system_id: str = USER, password: str = PASSWORD):
    """smpplib hard-codes interface_version 0x34 in its bind constructor; patch it before sending."""
    request = smpplib.smpp.make_pdu(f"bind_{bind}", client=client, system_id=system_id, password=password)
    request.interface_version = version
    client.send_pdu(request)
    resp = client.read_pdu()
    if resp.is_error():
        raise smpplib.exceptions.PDUError(f"bind failed: {resp.status:#x}", int(resp.status))
    return resp


def send_smpplib_raw(client, pdu) -> None:
    """Write an smpplib PDU bypassing smpplib's client-side state check (to test the server's)."""
    client._socket.sendall(pdu.generate())


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("connection closed by the SMSC")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_ours(sock: socket.socket) -> P.Pdu:
    """Read one PDU off the socket and decode it with our codec."""
    header = recv_exact(sock, 16)
    (length,) = struct.unpack(">I", header[:4])
    return codec.decode(header + recv_exact(sock, length - 16))


def exchange(client, pdu: P.Pdu) -> P.Pdu:
    """Send a PDU built with our codec on smpplib's socket and return the decoded reply to it."""
    pdu = pdu.replace(sequence_number=next(_our_sequence))
    client._socket.sendall(codec.encode(pdu))
    reply = read_ours(client._socket)
    assert reply.sequence_number == pdu.sequence_number
    assert reply.command_id in (pdu.command_id | 0x80000000, CommandId.generic_nack)
    return reply


def submit(client, short_message: bytes = b"hello", source_addr: str = "447700900001",
           destination_addr: str = "447700900002") -> str:
    """submit_sm with smpplib; returns the message_id (asserting success)."""
    request = client.send_message(source_addr=source_addr, destination_addr=destination_addr, short_message=short_message)
    resp = client.read_pdu()
    assert resp.command == "submit_sm_resp"
    assert resp.sequence == request.sequence
    assert resp.status == 0
    message_id = resp.message_id.decode()
    assert message_id
    return message_id


def query(client, message_id: str, source_addr: str = "447700900001"):
    """query_sm with smpplib (needs a receiver/transceiver bind, as smpplib insists); returns the resp."""
    request = smpplib.smpp.make_pdu("query_sm", client=client, message_id=message_id, source_addr=source_addr)
    client.send_pdu(request)
    resp = client.read_pdu()
    assert resp.command == "query_sm_resp"
    assert resp.sequence == request.sequence
    return resp


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def start_delivery(live_server, pdu: P.Pdu, system_id: str = USER) -> concurrent.futures.Future:
    """Ask the SMSC to deliver pdu to system_id; the returned future resolves with the ESME's response."""

    async def deliver() -> P.Pdu:
        return await live_server.server.deliver(system_id, pdu)

    return asyncio.run_coroutine_threadsafe(deliver(), live_server.loop)


def collecting(client, status: int = 0) -> list:
    """Make smpplib record every deliver_sm it receives and answer it with status."""
    received: list = []

    def handler(pdu, **_: Any) -> int:
        received.append(pdu)
        return status

    client.set_message_received_handler(handler)
    return received


def stored(live_server, message_id: str):
    return live_server.run(lambda: live_server.server.store._by_id.get(message_id))


def bound_types(live_server, system_id: str = USER) -> list[str]:
    return live_server.run(lambda: sorted(c.bind_type for c in live_server.server.bound_connections(system_id)))


# --- binds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bind,state",
    [
        ("transmitter", smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX),
        ("receiver", smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX),
        ("transceiver", smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX),
    ],
)
def test_bind_each_type_succeeds(live_server, bind, state):
    client = new_client(live_server)
    try:
        resp = getattr(client, f"bind_{bind}")(system_id=USER, password=PASSWORD)
        assert resp.command == f"bind_{bind}_resp"
        assert resp.status == 0
        assert resp.system_id == b"SMSCSIM"
        assert resp.sc_interface_version == 0x34  # smpplib binds with 0x34; the SMSC speaks 0x50
        assert client.state == state
        assert bound_types(live_server) == [bind]
        assert live_server.server.stats.binds_ok == 1
    finally:
        close_client(client)


@pytest.mark.parametrize("version,negotiated", [(0x33, None), (0x34, 0x34), (0x50, 0x50)])
def test_bind_resp_sc_interface_version_follows_the_bind(live_server, version, negotiated):
    with esme(live_server, bind=None) as client:
        resp = bind_with_version(client, "transmitter", version)
        assert resp.status == 0
        assert resp.sc_interface_version == negotiated
        assert client.state == smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX


def test_v33_bind_resp_has_no_tlv_on_the_wire(live_server):
    with socket.create_connection((live_server.host, live_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(codec.encode(P.BindTransmitter(sequence_number=7, system_id=USER, password=PASSWORD, interface_version=0x33)))
        header = recv_exact(sock, 16)
        length, command_id, status, seq = struct.unpack(">IIII", header)
        body = recv_exact(sock, length - 16)
        # Exactly the mandatory system_id and nothing after it: v3.3 has no TLVs.
        assert (command_id, status, seq, body) == (CommandId.bind_transmitter_resp, 0, 7, b"SMSCSIM\0")
        assert codec.decode(header + body).tlvs == ()


@pytest.mark.parametrize(
    "system_id,password,bind,status",
    [
        (USER, "wrong", "transmitter", S.ESME_RINVPASWD),
        ("nobody", "secret", "transceiver", S.ESME_RINVSYSID),
        ("txonly", "pw", "receiver", S.ESME_RBINDFAIL),
        ("txonly", "pw", "transceiver", S.ESME_RBINDFAIL),
    ],
)
def test_bind_refused(live_server, system_id, password, bind, status):
    with esme(live_server, bind=None) as client:
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            getattr(client, f"bind_{bind}")(system_id=system_id, password=password)
        assert refused.value.args[1] == status
        assert client.state == smpplib.consts.SMPP_CLIENT_STATE_OPEN
        assert live_server.server.stats.binds_refused == 1
        assert live_server.server.stats.binds_ok == 0
        # A refused bind leaves the session open: the same connection can still bind correctly.
        good = ("txonly", "pw") if system_id == "txonly" else (USER, PASSWORD)
        assert client.bind_transmitter(system_id=good[0], password=good[1]).status == 0


def test_second_bind_over_max_binds_is_refused(live_server):
    with esme(live_server, "transmitter", "txonly", "pw") as first, esme(live_server, bind=None) as second:
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            second.bind_transmitter(system_id="txonly", password="pw")
        assert refused.value.args[1] == S.ESME_RBINDFAIL
        assert bound_types(live_server, "txonly") == ["transmitter"]
        # Once the first bind is gone, the slot is free again for the waiting connection.
        assert first.unbind().command == "unbind_resp"
        wait_for(lambda: not bound_types(live_server, "txonly"), what="first bind to go")
        assert second.bind_transmitter(system_id="txonly", password="pw").status == 0


def test_bind_twice_on_one_connection_is_already_bound(live_server):
    with esme(live_server, "transceiver") as client:
        again = smpplib.smpp.make_pdu("bind_transmitter", client=client, system_id=USER, password=PASSWORD)
        send_smpplib_raw(client, again)  # smpplib itself refuses to send a bind when bound
        resp = client.read_pdu()
        assert resp.command == "bind_transmitter_resp"
        assert resp.sequence == again.sequence
        assert resp.status == S.ESME_RALYBND
        # The original bind stands.
        assert bound_types(live_server) == ["transceiver"]
        assert submit(client)


# --- submit_sm, data_sm, query_sm ------------------------------------------------------------


def test_submit_sm_returns_unique_ids_and_stores_messages(live_server):
    with esme(live_server, "transmitter") as client:
        texts = [f"message {i}".encode() for i in range(6)]
        ids = [submit(client, text, destination_addr=f"4477009000{i:02d}") for i, text in enumerate(texts)]
        assert len(set(ids)) == len(ids)

        def snapshot():
            return {
                m.message_id: (m.system_id, m.pdu.short_message, m.pdu.destination_addr, m.state)
                for m in live_server.server.store.all()
            }

        messages = live_server.run(snapshot)
        assert set(messages) == set(ids)
        for i, message_id in enumerate(ids):
            assert messages[message_id] == (USER, texts[i], f"4477009000{i:02d}", MessageState.ENROUTE)
        assert live_server.server.stats.submits == len(ids)


def test_submit_sm_without_destination_is_rejected(live_server):
    with esme(live_server, "transmitter") as client:
        client.send_message(source_addr="1234", destination_addr="", short_message=b"nowhere")
        resp = client.read_pdu()
        assert resp.command == "submit_sm_resp"
        assert resp.status == S.ESME_RINVDSTADR
        assert live_server.run(lambda: len(live_server.server.store)) == 0


def test_data_sm_is_accepted_and_stored(live_server):
    with esme(live_server, "transceiver") as client:
        request = smpplib.smpp.make_pdu(
            "data_sm", client=client, source_addr="447700900001", destination_addr="447700900003",
            message_payload=b"payload via data_sm",
        )
        client.send_pdu(request)
        resp = client.read_pdu()
        assert resp.command == "data_sm_resp"
        assert resp.sequence == request.sequence
        assert resp.status == 0
        message_id = resp.message_id.decode()
        message = stored(live_server, message_id)
        assert message is not None
        assert isinstance(message.pdu, P.DataSm)
        assert message.payload == b"payload via data_sm"
        assert message.destination_addr == "447700900003"
        assert query(client, message_id).message_state == MessageState.ENROUTE


def test_data_sm_on_a_v33_bind_is_an_invalid_command(live_server):
    with esme(live_server, "transceiver", interface_version=0x33) as client:
        request = smpplib.smpp.make_pdu("data_sm", client=client, source_addr="1", destination_addr="2", message_payload=b"x")
        client.send_pdu(request)
        resp = client.read_pdu()
        assert (resp.command, resp.sequence, resp.status) == ("data_sm_resp", request.sequence, S.ESME_RINVCMDID)


def test_query_sm_of_a_fresh_message_is_enroute(live_server):
    with esme(live_server, "transceiver") as client:
        message_id = submit(client)
        resp = query(client, message_id)
        assert resp.status == 0
        assert resp.message_id.decode() == message_id
        assert resp.message_state == MessageState.ENROUTE
        assert resp.final_date == b""
        assert resp.error_code == 0


def test_query_sm_of_another_accounts_message_fails(live_server):
    with esme(live_server, "transceiver") as owner, esme(live_server, "transceiver", "other", "secret") as stranger:
        message_id = submit(owner)
        assert query(stranger, message_id).status == S.ESME_RQUERYFAIL
        assert query(stranger, "does-not-exist").status == S.ESME_RQUERYFAIL
        assert query(owner, message_id).status == 0


# --- link management -------------------------------------------------------------------------


def test_enquire_link_is_answered(live_server):
    with esme(live_server, "transmitter") as client:
        for _ in range(3):
            request = smpplib.smpp.make_pdu("enquire_link", client=client)
            client.send_pdu(request)
            resp = client.read_pdu()
            assert (resp.command, resp.status, resp.sequence) == ("enquire_link_resp", 0, request.sequence)


def test_enquire_link_before_bind_is_answered(live_server):
    with esme(live_server, bind=None) as client:
        request = smpplib.smpp.make_pdu("enquire_link", client=client)
        send_smpplib_raw(client, request)  # smpplib only sends enquire_link when bound
        resp = client.read_pdu()
        assert (resp.command, resp.status, resp.sequence) == ("enquire_link_resp", 0, request.sequence)


def test_unbind_is_answered_and_the_smsc_closes(live_server):
    with esme(live_server, "transceiver") as client:
        resp = client.unbind()
        assert (resp.command, resp.status) == ("unbind_resp", 0)
        assert client.state == smpplib.consts.SMPP_CLIENT_STATE_OPEN
        assert client._socket.recv(16) == b""  # EOF: the SMSC closed its end (timeout would raise)
        wait_for(lambda: live_server.run(lambda: not live_server.server.connections), what="server to drop the session")


# --- bind state enforcement ------------------------------------------------------------------


def test_submit_sm_as_receiver_is_invalid_bind_status(live_server):
    with esme(live_server, "receiver") as client:
        request = smpplib.smpp.make_pdu("submit_sm", client=client, source_addr="1", destination_addr="2", short_message=b"x")
        send_smpplib_raw(client, request)
        resp = client.read_pdu()
        assert (resp.command, resp.sequence, resp.status) == ("submit_sm_resp", request.sequence, S.ESME_RINVBNDSTS)
        assert live_server.run(lambda: len(live_server.server.store)) == 0


def test_submit_sm_before_bind_is_invalid_bind_status(live_server):
    with esme(live_server, bind=None) as client:
        request = smpplib.smpp.make_pdu("submit_sm", client=client, source_addr="1", destination_addr="2", short_message=b"x")
        send_smpplib_raw(client, request)
        resp = client.read_pdu()
        assert (resp.command, resp.sequence, resp.status) == ("submit_sm_resp", request.sequence, S.ESME_RINVBNDSTS)
        assert live_server.run(lambda: len(live_server.server.store)) == 0
        # The connection survives and can bind and submit normally afterwards.
        assert client.bind_transmitter(system_id=USER, password=PASSWORD).status == 0
        assert submit(client)


# --- SMSC-originated deliver_sm --------------------------------------------------------------


@pytest.mark.parametrize("bind", ["receiver", "transceiver"])
def test_deliver_sm_reaches_smpplib_and_is_acknowledged(live_server, bind):
    with esme(live_server, bind) as client:
        received = collecting(client)
        future = start_delivery(
            live_server, P.DeliverSm(source_addr="447700900009", destination_addr="12345", short_message=b"hello from the SMSC")
        )
        client.read_once(auto_send_enquire_link=False)  # reads deliver_sm, answers deliver_sm_resp
        assert len(received) == 1
        deliver = received[0]
        assert deliver.command == "deliver_sm"
        assert deliver.short_message == b"hello from the SMSC"
        assert deliver.source_addr == b"447700900009"
        assert deliver.destination_addr == b"12345"
        resp = future.result(TIMEOUT)
        assert isinstance(resp, P.DeliverSmResp)
        assert resp.command_status == 0
        assert resp.sequence_number == deliver.sequence
        assert live_server.server.stats.deliveries_acked == 1


def test_deliver_sm_refused_by_the_esme_is_retried_with_backoff(live_server):
    live_server.run(lambda: setattr(live_server.server.config.smsc, "delivery_backoff", 0.05))
    with esme(live_server, "receiver") as client:
        statuses = iter([S.ESME_RSYSERR, S.ESME_ROK])
        received: list = []

        def handler(pdu, **_: Any) -> int:
            received.append(pdu)
            return next(statuses)

        client.set_message_received_handler(handler)
        future = start_delivery(live_server, P.DeliverSm(source_addr="1", destination_addr="2", short_message=b"refuse me"))
        client.read_once(auto_send_enquire_link=False)  # refused with ESME_RSYSERR
        client.read_once(auto_send_enquire_link=False)  # the retry, accepted
        assert [p.short_message for p in received] == [b"refuse me", b"refuse me"]
        resp = future.result(TIMEOUT)
        assert isinstance(resp, P.DeliverSmResp) and resp.command_status == 0
        assert live_server.run(lambda: live_server.server.stats.deliveries_requeued) == 1


def test_deliver_sm_refused_every_time_gives_up_with_the_last_status(live_server):
    def fast_and_few() -> None:
        live_server.server.config.smsc.delivery_backoff = 0.01
        live_server.server.config.smsc.delivery_attempts = 3

    live_server.run(fast_and_few)
    with esme(live_server, "receiver") as client:
        received = collecting(client, status=S.ESME_RSYSERR)
        future = start_delivery(live_server, P.DeliverSm(source_addr="1", destination_addr="2", short_message=b"no"))
        for _ in range(3):
            client.read_once(auto_send_enquire_link=False)
        resp = future.result(TIMEOUT)
        assert len(received) == 3 and resp.command_status == S.ESME_RSYSERR


def test_deliveries_wait_for_a_receiver_store_and_forward(live_server):
    with esme(live_server, "transmitter") as transmitter:
        texts = [b"queued 1", b"queued 2", b"queued 3"]
        futures = [start_delivery(live_server, P.DeliverSm(source_addr="1", destination_addr="2", short_message=t)) for t in texts]
        wait_for(lambda: live_server.run(lambda: live_server.server.queued_deliveries(USER)) == 3, what="3 queued deliveries")
        assert not any(f.done() for f in futures)
        # A transmitter never receives deliver_sm: nothing is waiting on its socket.
        transmitter._socket.settimeout(0.2)
        with pytest.raises(socket.timeout):
            transmitter._socket.recv(1)
        with esme(live_server, "receiver") as receiver:
            received = collecting(receiver)
            for _ in texts:
                receiver.read_once(auto_send_enquire_link=False)
            assert [p.short_message for p in received] == texts  # in submission order
            for future in futures:
                resp = future.result(TIMEOUT)
                assert isinstance(resp, P.DeliverSmResp) and resp.command_status == 0
            assert live_server.run(lambda: live_server.server.queued_deliveries(USER)) == 0


def test_deliveries_round_robin_over_two_receivers(live_server):
    with esme(live_server, "receiver") as first, esme(live_server, "receiver") as second:
        got_first, got_second = collecting(first), collecting(second)
        texts = [f"rr {i}".encode() for i in range(6)]
        futures = [start_delivery(live_server, P.DeliverSm(source_addr="1", destination_addr="2", short_message=t)) for t in texts]
        for _ in range(3):
            first.read_once(auto_send_enquire_link=False)
            second.read_once(auto_send_enquire_link=False)
        for future in futures:
            assert future.result(TIMEOUT).command_status == 0
        first_texts = [p.short_message for p in got_first]
        second_texts = [p.short_message for p in got_second]
        # Alternating: one receiver gets deliveries 0, 2, 4 and the other 1, 3, 5.
        assert sorted([first_texts, second_texts]) == [texts[0::2], texts[1::2]]


# --- operations smpplib lacks, built with our codec on smpplib's socket ----------------------


def submit_multi(client, *destinations: P.SmeAddress | P.DistributionList, text: bytes = b"x", source_addr: str = "447700900001") -> P.Pdu:
    """A submit_multi built with our codec, sent on smpplib's socket; the reply."""
    return exchange(client, P.SubmitMulti(source_addr=source_addr, dest_addresses=destinations, short_message=text))


def test_submit_multi_to_smes_and_a_distribution_list(live_server):
    with esme(live_server, "transceiver") as client:
        resp = submit_multi(
            client, P.SmeAddress(1, 1, "447700900011"), P.DistributionList("friends"), P.SmeAddress(1, 1, "447700900012"), text=b"to many"
        )
        assert isinstance(resp, P.SubmitMultiResp)
        assert resp.command_status == 0
        assert resp.message_id
        assert resp.unsuccess_sme == (P.UnsuccessfulSme(0, 0, "friends", S.ESME_RINVDLNAME),)
        message = stored(live_server, resp.message_id)
        assert message.destinations == ("447700900011", "447700900012")
        assert message.payload == b"to many"
        assert query(client, resp.message_id).message_state == MessageState.ENROUTE  # smpplib reads it


def test_submit_multi_expands_the_accounts_distribution_list_and_counts_each_address_once(live_server):
    with esme(live_server, "transceiver") as client:
        # 447700900022 is also a member of "team": it gets the message once; "friends" is not provisioned.
        resp = submit_multi(client, P.SmeAddress(1, 1, "447700900022"), P.DistributionList("team"), P.DistributionList("friends"), P.SmeAddress(1, 1, ""))
        assert isinstance(resp, P.SubmitMultiResp) and resp.command_status == 0
        assert resp.unsuccess_sme == (P.UnsuccessfulSme(0, 0, "friends", S.ESME_RINVDLNAME), P.UnsuccessfulSme(1, 1, "", S.ESME_RINVDSTADR))
        assert stored(live_server, resp.message_id).destinations == ("447700900022", "447700900021")
        # smpplib has no submit_multi: it queries the message the list made.
        assert query(client, resp.message_id).message_state == MessageState.ENROUTE


def test_a_list_of_another_account_is_unknown(live_server):
    with esme(live_server, "transmitter", system_id="other", password="secret") as client:
        resp = submit_multi(client, P.DistributionList("team"))
        assert resp.command_status == S.ESME_RSUBMITFAIL
        assert resp.unsuccess_sme == (P.UnsuccessfulSme(0, 0, "team", S.ESME_RINVDLNAME),)


def test_submit_multi_with_no_deliverable_destination_fails(live_server):
    with esme(live_server, "transmitter") as client:
        resp = submit_multi(client, P.DistributionList("staff"), P.SmeAddress(1, 1, ""), source_addr="1")
        assert isinstance(resp, P.SubmitMultiResp)
        assert resp.command_status == S.ESME_RSUBMITFAIL
        assert resp.unsuccess_sme == (
            P.UnsuccessfulSme(0, 0, "staff", S.ESME_RINVDLNAME),
            P.UnsuccessfulSme(1, 1, "", S.ESME_RINVDSTADR),
        )
        assert live_server.run(lambda: len(live_server.server.store)) == 0


def test_cancel_sm_deletes_and_a_second_cancel_fails(live_server):
    with esme(live_server, "transceiver") as client:
        message_id = submit(client)
        other_id = submit(client, b"keep me")
        assert exchange(client, P.CancelSm(message_id=message_id)).command_status == 0
        resp = query(client, message_id)
        assert resp.status == 0
        assert resp.message_state == MessageState.DELETED
        final_date = parse_time(resp.final_date.decode())
        assert final_date is not None and abs(final_date.timestamp() - time.time()) < 60
        assert exchange(client, P.CancelSm(message_id=message_id)).command_status == S.ESME_RCANCELFAIL
        assert exchange(client, P.CancelSm(message_id="no-such-id")).command_status == S.ESME_RCANCELFAIL
        assert query(client, other_id).message_state == MessageState.ENROUTE


def test_cancel_sm_by_source_and_destination(live_server):
    with esme(live_server, "transceiver") as client:
        a = submit(client, b"a", source_addr="1111", destination_addr="2222")
        b = submit(client, b"b", source_addr="1111", destination_addr="2222")
        c = submit(client, b"c", source_addr="1111", destination_addr="3333")
        resp = exchange(client, P.CancelSm(source_addr="1111", destination_addr="2222"))
        assert resp.command_status == 0
        states = {m: query(client, m, "1111").message_state for m in (a, b, c)}
        assert states == {a: MessageState.DELETED, b: MessageState.DELETED, c: MessageState.ENROUTE}
        assert exchange(client, P.CancelSm(source_addr="1111", destination_addr="2222")).command_status == S.ESME_RCANCELFAIL


def test_cancel_sm_of_another_accounts_message_fails(live_server):
    with esme(live_server, "transceiver") as owner, esme(live_server, "transmitter", "other", "secret") as stranger:
        message_id = submit(owner)
        assert exchange(stranger, P.CancelSm(message_id=message_id)).command_status == S.ESME_RCANCELFAIL
        assert query(owner, message_id).message_state == MessageState.ENROUTE


def test_cancel_sm_by_address_with_a_broadcast_in_the_store(live_server):
    # Regression: MessageStore.find() used to raise AttributeError on a stored broadcast_sm (it has no
    # destination_addr), so this cancel_sm was answered ESME_RSYSERR and counted a handler error.
    with esme(live_server, "transceiver", interface_version=0x50) as client:
        message_id = submit(client, b"to cancel", source_addr="", destination_addr="2222")
        broadcast = exchange(client, broadcast_sm(source_addr=""))
        assert broadcast.command_status == 0
        resp = exchange(client, P.CancelSm(source_addr="", destination_addr="2222"))
        assert resp.command_status == 0, f"cancel_sm answered {S(resp.command_status).name}"
        assert query(client, message_id, "").message_state == MessageState.DELETED
        assert live_server.server.stats.handler_errors == 0


def test_replace_sm_changes_the_stored_message(live_server):
    with esme(live_server, "transceiver") as client:
        message_id = submit(client, b"original text")
        resp = exchange(client, P.ReplaceSm(message_id=message_id, short_message=b"replaced text", registered_delivery=1))
        assert isinstance(resp, P.ReplaceSmResp)
        assert resp.command_status == 0
        message = stored(live_server, message_id)
        assert message.pdu.short_message == b"replaced text"
        assert message.pdu.registered_delivery == 1
        assert message.pdu.destination_addr == "447700900002"  # untouched fields survive
        assert query(client, message_id).message_state == MessageState.ENROUTE


def test_replace_sm_of_cancelled_or_foreign_message_fails(live_server):
    with esme(live_server, "transceiver") as client, esme(live_server, "transmitter", "other", "secret") as stranger:
        message_id = submit(client, b"original")
        assert exchange(stranger, P.ReplaceSm(message_id=message_id, short_message=b"hijack")).command_status == S.ESME_RREPLACEFAIL
        assert exchange(client, P.CancelSm(message_id=message_id)).command_status == 0
        resp = exchange(client, P.ReplaceSm(message_id=message_id, short_message=b"too late"))
        assert resp.command_status == S.ESME_RREPLACEFAIL
        assert stored(live_server, message_id).pdu.short_message == b"original"


def broadcast_sm(**fields: Any) -> P.BroadcastSm:
    tlvs = (
        Tlv(0x0606, b"\x01area-51"),  # broadcast_area_identifier
        Tlv(0x0601, b"\x00\x00\x01"),  # broadcast_content_type
        Tlv(0x0604, 2),  # broadcast_rep_num
        Tlv(0x0605, b"\x08\x00\x05"),  # broadcast_frequency_interval
        Tlv(0x0424, b"cell broadcast text"),  # message_payload
    )
    return P.BroadcastSm(tlvs=tlvs, **fields)


def test_broadcast_sm_needs_a_v50_bind(live_server):
    with esme(live_server, "transceiver") as client:  # smpplib's default 0x34 bind
        resp = exchange(client, broadcast_sm(source_addr="1"))
        assert isinstance(resp, P.BroadcastSmResp)
        assert resp.command_status == S.ESME_RINVCMDID
        assert live_server.run(lambda: len(live_server.server.store)) == 0


def test_broadcast_sm_query_and_cancel_on_a_v50_bind(live_server):
    with esme(live_server, "transceiver", interface_version=0x50) as client:
        resp = exchange(client, broadcast_sm(source_addr="447700900001"))
        assert isinstance(resp, P.BroadcastSmResp)
        assert resp.command_status == 0
        message_id = resp.message_id
        assert message_id

        status = exchange(client, P.QueryBroadcastSm(message_id=message_id, source_addr="447700900001"))
        assert isinstance(status, P.QueryBroadcastSmResp)
        assert status.command_status == 0
        assert status.message_id == message_id
        assert status.tlv("message_state") == MessageState.ENROUTE
        assert status.tlv("broadcast_area_identifier") == b"\x01area-51"
        assert status.tlv("broadcast_area_success") == 100

        assert exchange(client, P.CancelBroadcastSm(message_id=message_id)).command_status == 0
        status = exchange(client, P.QueryBroadcastSm(message_id=message_id))
        assert status.tlv("message_state") == MessageState.DELETED
        assert status.tlv("broadcast_area_success") == 0
        assert exchange(client, P.CancelBroadcastSm(message_id=message_id)).command_status == S.ESME_RBCASTCANCELFAIL

        # query_broadcast_sm only knows broadcasts; smpplib's plain submit_sm id is not one.
        plain_id = submit(client)
        assert exchange(client, P.QueryBroadcastSm(message_id=plain_id)).command_status == S.ESME_RBCASTQUERYFAIL
        assert live_server.server.stats.handler_errors == 0
