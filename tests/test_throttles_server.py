"""Throttle reactions and the receive window through the real server, on the virtual clock (no sleeps)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import smpplib.client

from simulator.harness.smsc import SimulatedSmsc
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandId as C
from simulator.smpp.constants import CommandStatus as S
from tests.smpplib_helpers import close, connect

DEST = "33612345678"


def shop(*throttles: dict[str, Any], **fields: Any) -> list[dict[str, Any]]:
    """One account 'shop' on the open network with these throttles."""
    return [{"system_id": "shop", "password": "pw", "throttles": list(throttles), **fields}]


def submit(**fields: Any) -> P.SubmitSm:
    return P.SubmitSm(source_addr=fields.pop("source_addr", "SHOP"), destination_addr=DEST, short_message=b"hi", **fields)


async def pipelined(smsc: SimulatedSmsc, count: int, **fields: Any) -> tuple[Any, list[asyncio.Future[P.Pdu]]]:
    """A bound async ESME of 'shop': one submit_sm answered, then count - 1 written without waiting for responses.

    The first is awaited so that however TCP splits the rest into reads, the same requests are outstanding.
    """
    esme = await smsc.async_esme(system_id="shop", password="pw")
    first = await esme.send_request(submit(**fields))
    await asyncio.wait_for(asyncio.shield(first), 5)
    futures = [first] + [await esme.send_request(submit(**fields)) for _ in range(count - 1)]
    return esme, futures


@pytest.mark.smsc(network="open", accounts=shop({"rate": 5, "burst": 5}))
def test_fifty_submits_in_one_virtual_second_five_accepted_45_throttled(smsc: SimulatedSmsc) -> None:
    esme = smsc.esme(system_id="shop")
    statuses = [esme.submit_sm(check=False, **vars_of(submit())).command_status for _ in range(50)]
    assert statuses.count(S.ESME_ROK) == 5 and statuses.count(S.ESME_RTHROTTLED) == 45
    start = smsc.clock.now()
    smsc.clock.advance("1s")
    statuses = [esme.submit_sm(check=False, **vars_of(submit())).command_status for _ in range(10)]
    assert statuses == [S.ESME_ROK] * 5 + [S.ESME_RTHROTTLED] * 5
    report = smsc.run(smsc.server.throttle_report, 100)
    assert report["trips"]["total"] == 50 and report["trips"]["by_reaction"] == {"ESME_RTHROTTLED": 50}
    assert [t["at"] - start for t in report["trips"]["recent"]][-6:] == [0, 1, 1, 1, 1, 1]
    assert report["throttles"][0]["passed"] == 10 and report["throttles"][0]["keys"] == {"shop": 50}
    assert smsc.stats.submits == 10


def vars_of(pdu: P.SubmitSm) -> dict[str, Any]:
    """The fields SyncEsme.submit_sm takes to rebuild this submit_sm."""
    return {"source_addr": pdu.source_addr, "destination_addr": pdu.destination_addr, "short_message": pdu.short_message}


@pytest.mark.smsc(network="open", accounts=shop({"rate": 1, "burst": 1, "reaction": "ESME_RMSGQFUL"}))
def test_reaction_status(smsc: SimulatedSmsc) -> None:
    esme = smsc.esme(system_id="shop")
    assert esme.submit_sm(check=False, **vars_of(submit())).command_status == S.ESME_ROK
    assert esme.submit_sm(check=False, **vars_of(submit())).command_status == S.ESME_RMSGQFUL


@pytest.mark.smsc(network="open", accounts=shop({"rate": 1, "burst": 1, "reaction": "generic_nack"}))
def test_reaction_generic_nack(smsc: SimulatedSmsc) -> None:
    esme = smsc.esme(system_id="shop")
    esme.submit_sm(**vars_of(submit()))
    nack = esme.request(submit(), check=False)
    assert nack.command_id == C.generic_nack and nack.command_status == S.ESME_RTHROTTLED
    logged = smsc.wait_for("generic_nack", direction="out")
    assert "throttled: shop tripped account token_bucket 1/s" in logged.note


@pytest.mark.smsc(network="open", accounts=shop({"rate": 1, "burst": 1, "reaction": "delay", "delay": "2s"}))
async def test_reaction_delay_answers_after_the_delay_on_the_simulator_clock(smsc: SimulatedSmsc) -> None:
    esme, futures = await pipelined(smsc, 3)
    first = await asyncio.wait_for(futures[0], 5)
    assert first.command_status == S.ESME_ROK
    await asyncio.sleep(0)  # let any (wrong) early answer arrive
    assert not futures[1].done() and not futures[2].done()
    assert smsc.stats.submits == 1  # held requests are not handled yet
    smsc.clock.advance("1.9s")
    assert not futures[1].done()
    smsc.clock.advance("0.1s")
    late = await asyncio.wait_for(asyncio.gather(futures[1], futures[2]), 5)
    assert [r.command_status for r in late] == [S.ESME_ROK, S.ESME_ROK] and late[0].message_id != first.message_id
    assert smsc.stats.submits == 3
    trips = smsc.server.network.throttle_trips
    assert trips.total == 2 and trips.by_reaction == {"delay": 2}
    await esme.close()


@pytest.mark.smsc(network="open", accounts=shop({"rate": 1, "burst": 2, "reaction": "disconnect"}))
async def test_reaction_disconnect_closes_and_handles_nothing_after(smsc: SimulatedSmsc) -> None:
    esme, futures = await pipelined(smsc, 5)
    outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 5)
    seen = [getattr(o, "command_status", type(o).__name__) for o in outcomes]
    # The 2nd answer was written before the close, but submits still arriving make the closed socket
    # answer RST, which may discard it from the client's receive buffer: the server's count is exact.
    assert seen[0] == 0 and seen[1] in (0, "ConnectionClosedError") and seen[2:] == ["ConnectionClosedError"] * 3
    assert smsc.stats.submits == 2  # the submits after the one that tripped were not handled
    assert smsc.server.network.throttle_trips.by_reaction == {"disconnect": 1}


@pytest.mark.smsc(network="open", accounts=shop({"scope": "bind", "rate": 1, "burst": 2}))
def test_two_binds_of_one_account_have_their_own_bind_throttle(smsc: SimulatedSmsc) -> None:
    first, second = smsc.esme(system_id="shop"), smsc.esme(system_id="shop")
    for esme in (first, second):
        statuses = [esme.submit_sm(check=False, **vars_of(submit())).command_status for _ in range(3)]
        assert statuses == [S.ESME_ROK, S.ESME_ROK, S.ESME_RTHROTTLED]
    keys = smsc.run(smsc.server.throttle_report)["throttles"][0]["keys"]
    assert len(keys) == 2 and all(key.startswith("bind ") for key in keys)


@pytest.mark.smsc(network="open", accounts=shop({"scope": "bind", "rate": 1, "burst": 1}))
def test_reconnecting_binds_leave_no_bind_limiter_behind(smsc: SimulatedSmsc) -> None:
    """A load test that reconnects for hours must not grow the throttles by one limiter per connection."""
    for _ in range(3):
        client: smpplib.client.Client = connect(smsc, "transceiver")  # type: ignore[arg-type]
        client.send_message(source_addr="A", destination_addr=DEST, short_message=b"hi")
        assert int(client.read_pdu().status) == S.ESME_ROK
        close(client)
    for event in smsc.session_events():
        if event.kind == "connected":
            smsc.wait_closed(event.session)
    layer = smsc.run(smsc.server.throttle_report)["throttles"][0]
    assert layer["passed"] == 3 and layer["keys"] == {}


@pytest.mark.smsc(network="open", accounts=shop({"scope": "sender", "window": "sliding_window", "limit": 2, "period": "1s"}))
def test_sender_sliding_window_through_the_server(smsc: SimulatedSmsc) -> None:
    esme = smsc.esme(system_id="shop")
    results = [esme.submit_sm(check=False, **vars_of(submit(source_addr=s))).command_status for s in ("A", "A", "A", "B")]
    assert results == [S.ESME_ROK, S.ESME_ROK, S.ESME_RTHROTTLED, S.ESME_ROK]
    smsc.clock.advance("1s")
    assert esme.submit_sm(check=False, **vars_of(submit(source_addr="A"))).command_status == S.ESME_ROK


@pytest.mark.parametrize(
    ("window_reaction", "command_id", "status"),
    [
        (None, C.submit_sm_resp, S.ESME_RMSGQFUL),  # the default: the session answers the server's peer_window_full_status
        ("ESME_RTHROTTLED", C.submit_sm_resp, S.ESME_RTHROTTLED),
        ("generic_nack", C.generic_nack, S.ESME_RMSGQFUL),
    ],
)
async def test_window_reactions_count_a_trip(smsc_factory: Any, window_reaction: str | None, command_id: int, status: int) -> None:
    held = {"rate": 1, "burst": 1, "reaction": "delay", "delay": "10s"}
    smsc = smsc_factory(network="open", accounts=shop(held, window=2, window_reaction=window_reaction))
    esme, futures = await pipelined(smsc, 4)  # 1 accepted, 2 held by the delay, the 4th beyond the window of 2
    refused = await asyncio.wait_for(futures[3], 5)
    assert (refused.command_id, refused.command_status) == (command_id, status)
    trips = smsc.server.network.throttle_trips
    assert trips.by_scope == {"account": 2, "window": 1}
    trip = trips.recent[-1]
    assert (trip.scope, trip.account, trip.at) == ("window", "shop", smsc.clock.now())
    assert trip.reaction == (window_reaction or "ESME_RMSGQFUL")
    smsc.clock.advance("10s")
    assert [(await f).command_status for f in futures[1:3]] == [S.ESME_ROK, S.ESME_ROK]
    await esme.close()


@pytest.mark.smsc(
    network="open", accounts=shop({"rate": 1, "burst": 1, "reaction": "delay", "delay": "10s"}, window=1, window_reaction="disconnect")
)
async def test_window_reaction_disconnect(smsc: SimulatedSmsc) -> None:
    esme, futures = await pipelined(smsc, 3)
    outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 5)
    assert [getattr(o, "command_status", type(o).__name__) for o in outcomes] == [0] + ["ConnectionClosedError"] * 2
    assert smsc.server.network.throttle_trips.by_scope == {"account": 1, "window": 1}


@pytest.mark.smsc(network="open", accounts=shop({"rate": 2, "burst": 2}, {"scope": "sender", "rate": 1, "burst": 1, "reaction": "generic_nack"}))
def test_smpplib_sees_throttled_status_and_generic_nack(smsc: SimulatedSmsc) -> None:
    client: smpplib.client.Client = connect(smsc, "transceiver")  # type: ignore[arg-type]
    try:
        replies = []
        for source in ("A", "A", "B", "C"):
            client.send_message(source_addr=source, destination_addr=DEST, short_message=b"hi")
            reply = client.read_pdu()
            replies.append((reply.command, int(reply.status)))
        assert replies == [
            ("submit_sm_resp", S.ESME_ROK),
            ("generic_nack", S.ESME_RTHROTTLED),  # the sender layer trips first for the 2nd A
            ("submit_sm_resp", S.ESME_ROK),
            ("submit_sm_resp", S.ESME_RTHROTTLED),  # the account bucket (2 per second) is empty
        ]
    finally:
        close(client)
