"""The asyncio server through our own ESME: ids, store-and-forward, outbind, shutdown, isolation."""

from __future__ import annotations

import asyncio
import re
import socket
import tempfile
from pathlib import Path

import pytest

from simulator.config import Account, OutbindTarget, ServerConfig, SmscSettings
from simulator.harness.esme import AsyncEsme, SmppError
from simulator.server import SmscServer
from simulator.smpp import codec
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import MessageState


def config(**smsc: object) -> ServerConfig:
    return ServerConfig(
        network="open",
        smsc=SmscSettings(**smsc),
        accounts=[Account(system_id="smppclient1", password="password"), Account(system_id="b", password="b")],
    )


async def started(cfg: ServerConfig | None = None) -> SmscServer:
    server = SmscServer(cfg or config())
    await server.start("127.0.0.1", 0)
    return server


async def client(server: SmscServer, mode: str = "transceiver", system_id: str = "smppclient1", password: str = "password") -> AsyncEsme:
    esme = await AsyncEsme.connect(*server.address)
    await esme.bind(mode, system_id, password)
    return esme


@pytest.mark.parametrize(("fmt", "pattern"), [("hex", r"[0-9a-f]+"), ("decimal", r"[0-9]+"), ("uuid", r"[0-9a-f-]{36}")])
async def test_message_id_formats_are_unique(fmt: str, pattern: str) -> None:
    server = await started(config(message_id_format=fmt))
    try:
        esme = await client(server)
        ids = [(await esme.submit_sm(destination_addr="33612345678", short_message="hi")).message_id for _ in range(50)]
        assert len(set(ids)) == 50 and all(re.fullmatch(pattern, i) for i in ids)
        await esme.unbind()
    finally:
        await server.stop()


async def test_same_seed_gives_same_message_ids() -> None:
    runs = []
    for _ in range(2):
        server = await started()
        esme = await client(server)
        runs.append([(await esme.submit_sm(destination_addr="1")).message_id for _ in range(3)])
        await esme.unbind()
        await server.stop()
    assert runs[0] == runs[1]


async def test_auth_failure_can_hide_which_credential_was_wrong() -> None:
    server = await started(config(auth_failure="bind_fail"))
    try:
        for system_id, password in (("nobody", "x"), ("smppclient1", "wrong")):
            esme = await AsyncEsme.connect(*server.address)
            response = await esme.bind("transmitter", system_id, password, check=False)
            assert response.command_status == S.ESME_RBINDFAIL
            await esme.close()
    finally:
        await server.stop()


async def test_query_cancel_replace_only_see_own_messages() -> None:
    server = await started()
    try:
        mine, theirs = await client(server), await client(server, system_id="b", password="b")
        message_id = (await mine.submit_sm(destination_addr="33611111111", short_message="one")).message_id
        query = await mine.request(P.QuerySm(message_id=message_id))
        assert query.message_state == MessageState.ENROUTE and query.final_date == ""
        for request, status in (
            (P.QuerySm(message_id=message_id), S.ESME_RQUERYFAIL),
            (P.CancelSm(message_id=message_id), S.ESME_RCANCELFAIL),
            (P.ReplaceSm(message_id=message_id, short_message=b"x"), S.ESME_RREPLACEFAIL),
        ):
            assert (await theirs.request(request, check=False)).command_status == status
        await mine.request(P.ReplaceSm(message_id=message_id, short_message=b"two"))
        assert server.store.get(message_id, "smppclient1").payload == b"two"
        await mine.request(P.CancelSm(message_id=message_id))
        query = await mine.request(P.QuerySm(message_id=message_id))
        assert query.message_state == MessageState.DELETED and len(query.final_date) == 16
        with pytest.raises(SmppError) as raised:
            await mine.request(P.CancelSm(message_id=message_id))
        assert raised.value.status == S.ESME_RCANCELFAIL
        await mine.unbind()
        await theirs.unbind()
    finally:
        await server.stop()


async def test_cancel_by_source_and_destination() -> None:
    server = await started()
    try:
        esme = await client(server)
        ids = [(await esme.submit_sm(source_addr="SHOP", destination_addr="33622222222")).message_id for _ in range(3)]
        await esme.request(P.CancelSm(source_addr="SHOP", destination_addr="33622222222"))
        assert all(server.store.get(i, "smppclient1").state is MessageState.DELETED for i in ids)
        await esme.unbind()
    finally:
        await server.stop()


async def test_deliveries_round_robin_store_and_forward_and_requeue_on_disconnect() -> None:
    server = await started()
    try:
        waiting = server.deliver("smppclient1", P.DeliverSm(source_addr="33633333333", short_message=b"early"))
        assert server.queued_deliveries("smppclient1") == 1
        first = await client(server, "receiver")
        assert (await first.next_message()).short_message == b"early"
        assert (await asyncio.wait_for(waiting, 5)).command_status == 0
        second = await client(server, "transceiver")
        futures = [server.deliver("smppclient1", P.DeliverSm(short_message=b"m%d" % i)) for i in range(4)]
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        got_first = [(await first.next_message()).short_message for _ in range(2)]
        got_second = [(await second.next_message()).short_message for _ in range(2)]
        assert sorted(got_first + got_second) == [b"m0", b"m1", b"m2", b"m3"]
        # A receiver that never answers and disconnects: its deliveries are requeued, not lost.
        await first.unbind()
        await second.unbind()
        silent = await AsyncEsme.connect(*server.address)
        silent._on_request = lambda pdu: None  # swallow deliver_sm without answering
        await silent.bind("receiver")
        lost_candidate = server.deliver("smppclient1", P.DeliverSm(short_message=b"keep me"))
        await asyncio.sleep(0.05)
        assert not lost_candidate.done()
        await silent.close()
        await asyncio.sleep(0.05)
        assert server.queued_deliveries("smppclient1") == 1
        third = await client(server, "receiver")
        assert (await third.next_message()).short_message == b"keep me"
        assert (await asyncio.wait_for(lost_candidate, 5)).command_status == 0
        await third.unbind()
    finally:
        await server.stop()


async def test_outbind_makes_the_esme_bind_back_as_receiver() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    cfg = ServerConfig(network="open", accounts=[Account(system_id="smppclient1", password="password", outbind=OutbindTarget(port=port))])
    server = await started(cfg)
    loop = asyncio.get_running_loop()
    try:
        outbound = asyncio.ensure_future(server.outbind("smppclient1"))
        conn, _ = await loop.sock_accept(listener)
        await outbound
        data = await loop.sock_recv(conn, 1024)
        outbind = codec.decode(data)
        assert isinstance(outbind, P.Outbind) and outbind.system_id == "smppclient1" and outbind.password == "password"
        await loop.sock_sendall(conn, codec.encode(P.BindReceiver(sequence_number=1, system_id="smppclient1", password="password")))
        response = codec.decode(await loop.sock_recv(conn, 1024))
        assert isinstance(response, P.BindReceiverResp) and response.command_status == 0
        conn.close()
    finally:
        listener.close()
        await server.stop()


async def test_graceful_stop_unbinds_every_session() -> None:
    server = await started()
    esmes = [await client(server) for _ in range(3)]
    await server.stop(grace=1.0)
    for esme in esmes:
        await asyncio.wait_for(asyncio.shield(esme._closed), 2)
        assert esme.session.state.value in ("UNBOUND", "CLOSED")
    assert not server.connections


async def test_bad_session_does_not_disturb_a_good_one() -> None:
    server = await started()
    try:
        good = await client(server)
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"\x00\x00\x00\x05garbage")
        await writer.drain()
        nack = codec.decode(await reader.readexactly(16))
        assert isinstance(nack, P.GenericNack) and nack.command_status == S.ESME_RINVCMDLEN
        assert await reader.read() == b""  # closed: the stream cannot be framed
        writer.close()
        assert (await good.submit_sm(destination_addr="1")).command_status == 0
        assert server.stats.handler_errors == 0
        await good.unbind()
    finally:
        await server.stop()


async def test_handler_crash_answers_syserr_and_keeps_serving() -> None:
    server = await started()
    try:
        esme = await client(server)

        def broken(conn: object, pdu: P.Pdu) -> P.Pdu:
            raise RuntimeError("boom")

        server._handlers[P.QuerySm.command_id] = broken
        response = await esme.request(P.QuerySm(message_id="x"), check=False)
        assert response.command_status == S.ESME_RSYSERR
        assert server.stats.handler_errors == 1
        assert (await esme.enquire_link()).command_status == 0
        await esme.unbind()
    finally:
        await server.stop()


async def test_account_queue_drains_as_window_room_frees() -> None:
    cfg = ServerConfig(network="open", accounts=[Account(system_id="smppclient1", password="password", window=2)])
    server = await started(cfg)
    try:
        receiver = await client(server, "receiver")
        futures = [server.deliver("smppclient1", P.DeliverSm(short_message=b"%d" % i)) for i in range(20)]
        got = [(await receiver.next_message()).short_message for _ in range(20)]
        assert got == [b"%d" % i for i in range(20)]  # all of them, in order, through a window of 2
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        await receiver.unbind()
    finally:
        await server.stop()


async def test_submit_multi_with_a_refused_validity_is_refused_whole() -> None:
    path = Path(__file__).parent.parent / "simulator" / "profiles" / "open.yaml"
    profile = Path(tempfile.mkdtemp()) / "strict.yaml"
    profile.write_text(path.read_text() + "validity_policy: reject\n")
    cfg = ServerConfig(network=str(profile), accounts=[Account(system_id="smppclient1", password="password")])
    server = await started(cfg)
    try:
        esme = await client(server)
        multi = P.SubmitMulti(dest_addresses=(P.SmeAddress(1, 1, "33612345678"),), validity_period="000010000000000R")
        response = await esme.request(multi, check=False)
        assert response.command_status == S.ESME_RINVEXPIRY and len(server.store) == 0
        await esme.unbind()
    finally:
        await server.stop()
