"""What keeps a long load test in bounded memory: the message store's limit (the oldest final messages
are forgotten past it, pending ones never; query_sm for a forgotten one answers ESME_RQUERYFAIL, checked
with smpplib), the limit of deliveries waiting for a receiver bind, and the credit ledger's length."""

from __future__ import annotations

import pytest
import smpplib.smpp

from simulator.clock import VirtualClock
from simulator.config import Account, ConfigError, ServerConfig, SmscSettings, parse_config
from simulator.harness.runner import ThreadedServer
from simulator.harness.smsc import SimulatedSmsc
from simulator.network.messages import Message, MessageStore
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import MessageState as M

from .smpplib_helpers import close
from .smpplib_helpers import connect as smpplib_connect
from .wire import bound_connection, take_frames


def message(n: int, state: M = M.DELIVERED) -> Message:
    m = Message(f"m{n}", "shop", P.SubmitSm(destination_addr="33612345678"), float(n))
    if state is not M.ENROUTE:
        m.set_state(state, float(n))
    return m


def test_past_the_limit_each_new_message_makes_the_oldest_final_one_go() -> None:
    store = MessageStore(limit=20)
    for n in range(20):
        store.add(message(n))
    assert len(store) == 20 and store.forgotten == 0
    for n in range(20, 25):
        store.add(message(n))
        assert len(store) == 20
    assert store.forgotten == 5
    assert [m.message_id for m in store.all()][:2] == ["m5", "m6"]
    assert store.lookup("m4") is None and store.get("m4", "shop") is None
    assert store.lookup("m24") is not None


def test_pending_messages_are_never_forgotten_and_finals_go_in_the_order_they_ended() -> None:
    store = MessageStore(limit=5)
    pending = [message(n, M.ENROUTE) for n in range(5)]
    for m in pending:
        store.add(m)
    store.add(message(5, M.ENROUTE))
    assert len(store) == 6 and store.forgotten == 0  # nothing final to forget
    pending[3].set_state(M.DELIVERED, 10.0)  # ends first: it goes first, though m0 is older
    pending[0].set_state(M.EXPIRED, 11.0)
    store.add(message(6, M.ENROUTE))
    assert [m.message_id for m in store.all()] == ["m1", "m2", "m4", "m5", "m6"]
    assert store.forgotten == 2


def test_a_store_full_of_pending_messages_grows_then_shrinks_back_to_the_limit() -> None:
    store = MessageStore(limit=10)
    for n in range(30):
        store.add(message(n, M.ENROUTE))
    assert len(store) == 30 and store.forgotten == 0  # nothing final to forget: the store grows
    for m in store.all():
        m.set_state(M.DELIVERED, 100.0)
    store.add(message(30))  # two at most per new message
    assert store.forgotten == 2 and len(store) == 29
    for n in range(31, 50):
        store.add(message(n))
    assert len(store) == 10 and store.forgotten == 40
    assert {m.message_id for m in store.all()} == {f"m{n}" for n in range(40, 50)}


def test_no_limit_keeps_everything_and_clear_restarts_the_count() -> None:
    store = MessageStore(limit=None)
    for n in range(1000):
        store.add(message(n))
    assert len(store) == 1000 and store.forgotten == 0
    limited = MessageStore(limit=2)
    for n in range(3):
        limited.add(message(n))
    assert limited.forgotten == 1
    limited.clear()
    assert len(limited) == 0 and limited.forgotten == 0


@pytest.mark.parametrize("value", [0, -5])
def test_the_limit_must_be_positive(value: int) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"smsc:\n  message_store_limit: {value}\n", "server.yaml")
    assert "server.yaml:2" in str(raised.value) and "message_store_limit" in str(raised.value)


def test_query_sm_of_a_forgotten_message_fails_through_the_server() -> None:
    clock = VirtualClock()
    config = ServerConfig(
        smsc=SmscSettings(message_store_limit=10), network="open", accounts=[Account(system_id="shop", password="pw")]
    )
    with ThreadedServer(config, clock=clock) as running:
        client = smpplib_connect(running, "transceiver", system_id="shop", password="pw")
        try:
            ids = []
            for _ in range(10):
                client.send_message(source_addr="SHOP", destination_addr="33612345678", short_message=b"hi")
                ids.append(client.read_pdu().message_id.decode())

            def deliver_all() -> None:
                clock.advance(60)
                running.server.poll_timers()

            running.run(deliver_all)  # every message DELIVERED (no receipts asked for)
            client.send_message(source_addr="SHOP", destination_addr="33612345678", short_message=b"one more")
            newest = client.read_pdu().message_id.decode()
            forgotten = running.run(lambda: running.server.store.forgotten)
            assert forgotten == 1  # 11 messages > 10: the oldest delivered one is forgotten
            for message_id, status in ((ids[0], S.ESME_RQUERYFAIL), (ids[1], 0), (newest, 0)):
                client.send_pdu(smpplib.smpp.make_pdu("query_sm", client=client, message_id=message_id, source_addr="SHOP"))
                resp = client.read_pdu()
                assert (resp.command, resp.status) == ("query_sm_resp", status), message_id
        finally:
            close(client)


def test_past_the_delivery_queue_limit_the_oldest_waiting_receipt_is_dropped_and_recorded() -> None:
    config = ServerConfig(
        smsc=SmscSettings(delivery_queue_limit=3), network="open", accounts=[Account(system_id="shop", password="pw")]
    )
    with SimulatedSmsc(config) as smsc:
        sender = smsc.esme(bind="transmitter", system_id="shop", password="pw")
        ids = [
            sender.submit_sm(source_addr="SHOP", destination_addr="33612345678", short_message=b"hi", registered_delivery=1).message_id
            for _ in range(5)
        ]
        smsc.clock.advance("10s")  # five receipts, and no receiver bound to take them
        assert smsc.stats.deliveries_dropped == 2 and smsc.run(smsc.server.queued_deliveries, "shop") == 3
        for message_id in ids[:2]:
            note = smsc.timeline(message_id)[-1].note
            assert note == "receipt dropped: deliver_sm for shop dropped: 3 deliveries already waited for a receiver (smsc.delivery_queue_limit)"
        receiver = smsc.esme(bind="receiver", system_id="shop", password="pw")
        got = [receiver.next_message(timeout=2).tlv("receipted_message_id") for _ in range(3)]
        assert got == ids[2:]  # the newest three, in order


def test_delivery_queue_limit_must_be_positive() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config("smsc:\n  delivery_queue_limit: 0\n", "server.yaml")
    assert "server.yaml:2" in str(raised.value) and "delivery_queue_limit" in str(raised.value)


def test_credit_history_keeps_the_latest_entries_while_totals_count_all() -> None:
    from simulator.network.credits import HISTORY_KEPT, CreditAccount

    account = CreditAccount("shop", balance=None)
    for n in range(HISTORY_KEPT + 5):
        account.debit(1, float(n), "mt", country="FR")
    assert len(account.history) == HISTORY_KEPT
    assert account.history[0].at == 5.0 and account.history[-1].at == float(HISTORY_KEPT + 4)
    assert account.statistics()["by_reason"] == {"mt": HISTORY_KEPT + 5}


def test_forgotten_messages_are_freed_without_the_garbage_collector() -> None:
    """No reference cycle keeps a finished message alive: the server's GC policy freezes survivors, so
    a message in a cycle would outlive the store's limit until the server goes idle."""
    import asyncio
    import gc

    from simulator.server import SmscServer
    from simulator.smpp import codec

    async def run() -> tuple[int, int]:
        config = ServerConfig(smsc=SmscSettings(message_store_limit=50, pdu_log=0), network="open", accounts=[Account(system_id="shop", password="pw")])
        server = SmscServer(config, clock=VirtualClock(), seed=1)
        conn = bound_connection(server)
        for seq in range(2, 402):
            pdu = P.SubmitSm(sequence_number=seq, destination_addr="33612345678", short_message=b"hi", registered_delivery=1)
            conn.data_received(codec.encode(pdu))
            server.advance(5)  # delivered, its receipt sent
            answers = bytearray()
            data = bytes(conn.transport.out)  # type: ignore[union-attr]
            conn.transport.out.clear()  # type: ignore[union-attr]
            for frame in take_frames(bytearray(data)):
                decoded = codec.decode(frame)
                if isinstance(decoded, P.DeliverSm):
                    answers += codec.encode(decoded.make_response())
            conn.data_received(bytes(answers))
        alive = sum(1 for o in gc.get_objects() if type(o) is Message)
        return alive, len(server.store)

    gc.collect()
    gc.disable()
    try:
        alive, stored = asyncio.run(run())
    finally:
        gc.enable()
    assert stored == 50
    assert alive == stored

