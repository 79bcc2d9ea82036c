"""The carrier network through the real server, driven by smpplib (the independent ESME), one test per area."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from simulator.config import Account, Sender, ServerConfig, Throttle
from simulator.harness.runner import ThreadedServer

from .smpplib_helpers import close, receive
from .smpplib_helpers import connect as _connect
from simulator.smpp.constants import CommandStatus as S

ORANGE_FR = "+33607000000"
SFR_FR = "+33612345678"
NUMBERS = ["20345", "38100", "31244", "967482", "+447797805210", "51244", "71244"]


def account(system_id: str = "shop", **overrides: object) -> Account:
    values: dict[str, object] = dict(
        system_id=system_id,
        password="pw",
        country="FR",
        credits=10_000,
        senders=[Sender("MYSHOP"), Sender("NOPE", "refused")],
        default_sender="MYSHOP",
        numbers=NUMBERS,
        throttle=Throttle(rate=0),
    )
    values.update(overrides)
    return Account(**values)  # type: ignore[arg-type]


@pytest.fixture
def network_server(request: pytest.FixtureRequest):
    accounts = getattr(request, "param", None) or [account(), account("poor", credits=10, numbers=[])]
    with ThreadedServer(ServerConfig(network="default", accounts=accounts)) as running:
        yield running




def submit(client: smpplib.client.Client, source: str, destination: str, text: bytes = b"hello", **fields: object) -> int:
    """Send one submit_sm; return its command_status."""
    source_ton = smpplib.consts.SMPP_TON_ALNUM if not source.lstrip("+").isdigit() else smpplib.consts.SMPP_TON_INTL
    pdu = smpplib.smpp.make_pdu(
        "submit_sm",
        client=client,
        source_addr_ton=source_ton,
        source_addr=source.lstrip("+"),
        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
        destination_addr=destination.lstrip("+"),
        short_message=text,
        **fields,
    )
    client.send_pdu(pdu)
    try:
        return client.read_pdu().status
    except smpplib.exceptions.PDUError as exc:
        return exc.args[1]






def test_routing_reject_short_code_to_another_operator(network_server: ThreadedServer) -> None:
    client = connect(network_server)
    try:
        assert submit(client, "20345", ORANGE_FR) == S.ESME_ROK
        assert submit(client, "20345", SFR_FR) == S.ESME_RINVDSTADR
        assert submit(client, "38100", "+447956000000") == S.ESME_RINVDSTADR  # French short code, UK number
    finally:
        close(client)


def test_sender_reject(network_server: ThreadedServer) -> None:
    client = connect(network_server)
    try:
        assert submit(client, "MYSHOP", SFR_FR) == S.ESME_ROK
        assert submit(client, "NOPE", SFR_FR) == S.ESME_RINVSRCADR
        assert submit(client, "31244", SFR_FR) == S.ESME_RINVSRCADR  # receive-only number
    finally:
        close(client)


def test_insufficient_credit(network_server: ThreadedServer) -> None:
    client = connect(network_server, system_id="poor")
    try:
        assert submit(client, "MYSHOP", SFR_FR) == S.ESME_ROK  # 10 credits: exactly one message
        assert submit(client, "MYSHOP", SFR_FR) == S.ESME_RSUBMITFAIL
        balance = network_server.run(lambda: network_server.server.network.accounts["poor"].credits.balance)
        assert balance == 0
    finally:
        close(client)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Long GSM message with extension chars {[€]} " * 6, smpplib.consts.SMPP_ENCODING_DEFAULT),
        ("Длинное сообщение по-русски, с эмодзи 😀 " * 4, smpplib.consts.SMPP_ENCODING_ISO10646),
    ],
)
def test_long_message_split_by_smpplib_is_reassembled(network_server: ThreadedServer, text: str, encoding: int) -> None:
    parts, data_coding, esm_class = smpplib.gsm.make_parts(text, encoding=encoding)
    assert len(parts) > 1
    client = connect(network_server)
    try:
        for part in parts:
            assert submit(client, "MYSHOP", SFR_FR, part, data_coding=data_coding, esm_class=esm_class) == S.ESME_ROK
    finally:
        close(client)
    whole = network_server.run(lambda: list(network_server.server.network.reassembled))
    assert len(whole) == 1 and whole[0].text == text and whole[0].parts == len(parts)
    charged = network_server.run(lambda: network_server.server.network.accounts["shop"].credits.balance)
    assert charged == 10_000 - 10 * len(parts)


def test_long_message_in_sar_tlvs_and_in_message_payload(network_server: ThreadedServer) -> None:
    text = "SAR segmented message. " * 12
    raw = text.encode("ascii")
    chunks = [raw[i : i + 153] for i in range(0, len(raw), 153)]
    client = connect(network_server)
    try:
        for seq, chunk in enumerate(chunks, start=1):
            status = submit(
                client, "MYSHOP", SFR_FR, chunk, sar_msg_ref_num=513, sar_total_segments=len(chunks), sar_segment_seqnum=seq
            )
            assert status == S.ESME_ROK
        assert submit(client, "MYSHOP", SFR_FR, b"", message_payload=raw) == S.ESME_ROK
    finally:
        close(client)
    whole = network_server.run(lambda: list(network_server.server.network.reassembled))
    assert [m.text for m in whole] == [text]
    messages = network_server.run(lambda: network_server.server.store.all())
    assert messages[-1].route.text == text and messages[-1].route.segments == len(chunks)


def test_mo_received_on_a_receiver_bind(network_server: ThreadedServer) -> None:
    receiver = connect(network_server, "receiver")
    try:
        futures = network_server.run(lambda: network_server.server.inject_mo(ORANGE_FR, "20345", "Hello from a handset"))
        pdu = receive(receiver)
        assert pdu.command == "deliver_sm"
        assert (pdu.source_addr, pdu.destination_addr, pdu.short_message) == (b"33607000000", b"20345", b"Hello from a handset")
        deadline = time.monotonic() + 5
        while not all(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [f.result().command_status for f in futures] == [0]
        balance = network_server.run(lambda: network_server.server.network.accounts["shop"].credits.balance)
        assert balance == 10_000 - 5  # an MO to a short code costs 5 credits
    finally:
        close(receiver)


def test_premium_mo_earns_the_reward(network_server: ThreadedServer) -> None:
    receiver = connect(network_server, "transceiver")
    try:
        for number, reward in (("51244", 6), ("71244", 18)):
            network_server.run(lambda n=number: network_server.server.inject_mo(SFR_FR, n, "VOTE A"))
            assert receive(receiver).destination_addr == number.encode()
        balance = network_server.run(lambda: network_server.server.network.accounts["shop"].credits.balance)
        assert balance == 10_000 + 6 + 18
    finally:
        close(receiver)


def test_stop_from_a_handset_blocks_later_mts(network_server: ThreadedServer) -> None:
    client = connect(network_server, "transceiver")
    try:
        network_server.run(lambda: network_server.server.inject_mo(ORANGE_FR, "20345", "STOP"))
        assert receive(client).short_message == b"STOP"
        assert submit(client, "20345", ORANGE_FR) == S.ESME_RSUBMITFAIL
    finally:
        close(client)


@pytest.mark.parametrize("network_server", [[account(throttle=None)]], indirect=True)
def test_default_throttle_five_per_second(network_server: ThreadedServer) -> None:
    client = connect(network_server)
    try:
        statuses = [submit(client, "MYSHOP", SFR_FR) for _ in range(7)]
        assert statuses.count(S.ESME_ROK) in (5, 6) and S.ESME_RTHROTTLED in statuses  # 6 if a token refilled meanwhile
    finally:
        close(client)


def test_loopback_number_answers_as_an_mo(tmp_path: Path) -> None:
    profile = tmp_path / "loop.yaml"
    text = Path(__file__).parent.parent.joinpath("simulator/profiles/default.yaml").read_text()
    profile.write_text(text + '\nloopback_numbers: ["+33607000009"]\n')
    config = ServerConfig(network=str(profile), accounts=[account()])
    with ThreadedServer(config) as server:
        client = connect(server, "transceiver")
        try:
            assert submit(client, "20345", "+33607000009", b"ping") == S.ESME_ROK
            echo = receive(client)
            assert echo.command == "deliver_sm" and echo.short_message == b"ping"
            assert (echo.source_addr, echo.destination_addr) == (b"33607000009", b"20345")
        finally:
            close(client)


def test_data_sm_goes_through_the_same_rules(network_server: ThreadedServer) -> None:
    client = connect(network_server)
    try:
        for source, expected in (("MYSHOP", S.ESME_ROK), ("NOPE", S.ESME_RINVSRCADR)):
            pdu = smpplib.smpp.make_pdu(
                "data_sm",
                client=client,
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr=source,
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr="33612345678",
                message_payload=b"data sm text",
            )
            client.send_pdu(pdu)
            try:
                status = client.read_pdu().status
            except smpplib.exceptions.PDUError as exc:
                status = exc.args[1]
            assert status == expected
    finally:
        close(client)


def test_mo_errors_are_reported_to_the_caller(network_server: ThreadedServer) -> None:
    from simulator.network.network import MoError

    with pytest.raises(MoError, match="cannot reach"):
        network_server.run(lambda: network_server.server.inject_mo(SFR_FR, "20345", "hi"))
    close(connect(network_server))  # the server keeps serving: a fresh bind works



def connect(server: ThreadedServer, mode: str = "transmitter", system_id: str = "shop"):  # noqa: ANN201
    """Bind with smpplib (transmitter unless said)."""
    return _connect(server, mode, system_id)
