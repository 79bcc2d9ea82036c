"""The `smsc`/`esme`/`smsc_factory` fixtures: waits, reply rules, MO, handsets, clock, messages, teardown checks."""

from __future__ import annotations

import re
import time

import pytest

from simulator.harness.smsc import SimulatedSmsc, SmscError
from simulator.matching import Approx, InRange, OfType, Regex
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import MessageState

FR_MOBILE = "+33612345678"


def test_fixture_gives_address_and_credentials_of_a_running_simulator(smsc: SimulatedSmsc) -> None:
    assert smsc.host == "127.0.0.1" and smsc.port > 0
    assert (smsc.system_id, smsc.password) == ("smppclient1", "password")
    assert smsc.clock.virtual and smsc.seed == 0


def test_submit_then_wait_for_the_pdu_and_the_receipt_on_the_virtual_clock(smsc: SimulatedSmsc, esme) -> None:
    response = esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"Hello", registered_delivery=1)
    seen = smsc.wait_for("submit_sm", destination_addr=FR_MOBILE, text="Hello", source_addr=Regex("^SIM"))
    assert seen.direction == "in" and seen.system_id == "smppclient1"
    resp = smsc.wait_for("submit_sm_resp", status="ESME_ROK")
    assert resp.message_id == response.message_id
    smsc.assert_no_pdu("deliver_sm")  # nothing before the clock moves
    assert smsc.clock.advance("5s") >= 1
    receipt = smsc.wait_for("deliver_sm", direction="out", message_state="DELIVERED", receipted_message_id=response.message_id)
    assert "stat:DELIVRD" in receipt.text
    assert esme.next_message(timeout=2).tlv("receipted_message_id") == response.message_id
    smsc.wait_for("deliver_sm_resp")
    timeline = smsc.timeline(response.message_id)
    assert [t.state for t in timeline if t.kind == "state"] == [MessageState.ENROUTE, MessageState.DELIVERED]
    # every PDU exchanged about the message, with its clock time
    exchanged = [(t.at - timeline[0].at, t.pdu.command_name) for t in timeline if t.pdu is not None]
    assert exchanged == [(0, "submit_sm"), (0, "submit_sm_resp"), (2, "deliver_sm"), (5, "deliver_sm_resp")]
    assert smsc.messages(number=FR_MOBILE, state="DELIVERED")[0].message_id == response.message_id


def test_successive_waits_return_successive_pdus(smsc: SimulatedSmsc, esme) -> None:
    for text in (b"one", b"two"):
        esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=text)
    first = smsc.wait_for("submit_sm", destination_addr=FR_MOBILE)
    second = smsc.wait_for("submit_sm", destination_addr=FR_MOBILE)
    assert (first.text, second.text) == ("one", "two")
    with pytest.raises(SmscError):
        smsc.wait_for("submit_sm", destination_addr=FR_MOBILE, timeout=0.05)


def test_wait_for_timeout_reports_nearest_candidates_mismatches_seed_and_last_pdus(smsc: SimulatedSmsc, esme) -> None:
    esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"Bonjour")
    with pytest.raises(SmscError) as failure:
        smsc.wait_for("submit_sm", destination_addr="+33699999999", timeout=0.1)
    report = str(failure.value)
    assert "no submit_sm with destination_addr '+33699999999' within 0.1 s" in report
    assert "nearest candidates:" in report
    assert "destination_addr: expected '+33699999999', got '+33612345678'" in report
    assert "seed 0; last" in report and "submit_sm_resp" in report


def test_matchers_type_range_approx_and_regex_on_pdu_fields(smsc: SimulatedSmsc, esme) -> None:
    esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"x", registered_delivery=1)
    seen = smsc.wait_for(
        "submit_sm",
        registered_delivery=InRange(gte=1, lte=1),
        data_coding=OfType("int"),
        sequence_number=Approx(2, tolerance=0.5),
        destination_addr=re.compile(r"^\+336"),
    )
    assert seen.registered_delivery == 1


def test_one_shot_expectation_replies_with_a_status_then_normal_replies_resume(smsc: SimulatedSmsc, esme) -> None:
    rule = smsc.expect("submit_sm", status="ESME_RTHROTTLED", destination_addr=FR_MOBILE)
    first = esme.submit_sm(check=False, source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"a")
    second = esme.submit_sm(check=False, source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"b")
    assert (first.command_status, second.command_status) == (S.ESME_RTHROTTLED, S.ESME_ROK)
    assert rule.id and smsc.stats.faults_fired == 1
    assert len(smsc.messages()) == 1  # the refused one was never accepted
    logged = smsc.wait_for("submit_sm", text="a")
    assert logged.note.startswith(f"fault rule {rule.id}:")


def test_ordered_expectations_apply_one_after_another(smsc: SimulatedSmsc, esme) -> None:
    smsc.expect("submit_sm", status="ESME_RMSGQFUL", ordered=True)
    smsc.expect("submit_sm", status="ESME_RTHROTTLED", ordered=True)
    statuses = [
        esme.submit_sm(check=False, source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"m").command_status
        for _ in range(3)
    ]
    assert statuses == [S.ESME_RMSGQFUL, S.ESME_RTHROTTLED, S.ESME_ROK]


def test_permanent_rule_changes_response_fields_of_every_match(smsc: SimulatedSmsc, esme) -> None:
    smsc.expect("submit_sm", times=None, fields={"message_id": "fixed-id"})
    ids = {esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"m").message_id for _ in range(3)}
    assert ids == {"fixed-id"}


def test_delayed_response_arrives_after_the_delay(smsc: SimulatedSmsc, esme) -> None:
    smsc.expect("enquire_link", delay="200ms")
    started = time.monotonic()
    esme.enquire_link()
    assert time.monotonic() - started >= 0.19


def test_unanswered_request_and_closed_connection(smsc_factory) -> None:
    smsc = smsc_factory()
    silent = smsc.esme()
    smsc.expect("enquire_link", respond=False)
    future = silent._call(silent.client.send_request(P.EnquireLink()))
    smsc.wait_for("enquire_link")
    smsc.assert_no_pdu("enquire_link_resp", within=0.1)
    assert not future.done()
    closer = smsc.esme()
    smsc.expect("enquire_link", close="before")
    with pytest.raises(Exception):
        closer.enquire_link()


def test_unmet_expectation_is_reported_at_teardown(smsc_factory) -> None:
    smsc = smsc_factory()
    rule = smsc.expect("submit_sm", status="ESME_RSYSERR", destination_addr=FR_MOBILE, name="never-sent")
    problems = smsc.problems(settle=0)
    assert problems == [f"expectation never met: rule {rule.id} never-sent: submit_sm where destination_addr {FR_MOBILE!r} -> status ESME_RSYSERR (fired 0/1)"]
    report = smsc.report(problems)
    assert "simulator smsc1 at 127.0.0.1:" in report and "seed 0" in report
    smsc.reset()  # rules are forgotten, so teardown passes


def test_mo_reaches_the_bound_esme_and_handset_state_holds_messages(smsc: SimulatedSmsc, esme) -> None:
    [response] = smsc.inject_mo(FR_MOBILE, "31244", "INFO please")
    assert response.command_status == 0
    mo = esme.next_message(timeout=2)
    assert mo.destination_addr == "31244" and mo.short_message == b"INFO please"
    smsc.set_handset(FR_MOBILE, "off")
    assert smsc.handset(FR_MOBILE).value == "off"
    sent = esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"later", registered_delivery=1)
    smsc.clock.advance("1h")
    assert smsc.message(sent.message_id).state is MessageState.ENROUTE
    assert smsc.set_handset(FR_MOBILE, "on") == 1
    smsc.clock.advance("10s")
    assert smsc.message(sent.message_id).state is MessageState.DELIVERED
    smsc.wait_for("deliver_sm", receipted_message_id=sent.message_id)


def test_mo_without_a_receiver_times_out_with_advice(smsc: SimulatedSmsc) -> None:
    with pytest.raises(SmscError, match="is a receiver or transceiver"):
        smsc.inject_mo(FR_MOBILE, "31244", "hello", timeout=0.1)
    smsc.esme()  # binding takes the queued MO, so teardown finds nothing left over
    smsc.wait_for("deliver_sm_resp")


@pytest.mark.smsc(network="default", accounts=[{"system_id": "shop", "password": "pw", "credits": 100, "country": "FR", "senders": [{"name": "SHOP"}]}])
def test_marker_accounts_and_balances(smsc: SimulatedSmsc) -> None:
    assert smsc.system_id == "shop"
    client = smsc.esme()
    assert smsc.balance() == 100
    client.submit_sm(source_addr="SHOP", destination_addr=FR_MOBILE, short_message=b"promo")
    assert smsc.balance() < 100


@pytest.mark.smsc(network="open", seed=42)
def test_marker_network_and_seed(smsc: SimulatedSmsc, esme) -> None:
    assert smsc.seed == 42 and smsc.config.network == "open"
    reply = esme.submit_sm(source_addr="anything", destination_addr="12", short_message=b"x")
    assert reply.command_status == 0  # the open network routes anything


@pytest.mark.smsc(clock="real")
def test_marker_real_clock_cannot_be_advanced(smsc: SimulatedSmsc) -> None:
    assert not smsc.clock.virtual
    with pytest.raises(TypeError, match="only a virtual clock"):
        smsc.clock.advance(1)


def test_factory_makes_independent_simulators(smsc_factory) -> None:
    first, second = smsc_factory(seed=1), smsc_factory(seed=2, network="open")
    assert first.port != second.port
    first.esme().submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"1")
    assert len(first.messages()) == 1 and second.messages() == []


def test_reset_forgets_messages_but_keeps_binds(smsc: SimulatedSmsc, esme) -> None:
    esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"x")
    smsc.reset()
    assert smsc.messages() == [] and len(smsc.pdu_log) == 0
    assert smsc.bound("smppclient1")
    assert esme.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"y").command_status == 0


def test_same_seed_same_message_ids(smsc_factory) -> None:
    runs = []
    for _ in range(2):
        smsc = smsc_factory(seed=9)
        client = smsc.esme()
        runs.append([client.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"x").message_id for _ in range(3)])
    assert runs[0] == runs[1]


def _long_message_parts(text: bytes, ref: int = 7) -> list[bytes]:
    chunks = [text[i : i + 153] for i in range(0, len(text), 153)]
    return [bytes([5, 0, 3, ref, len(chunks), n]) + chunk for n, chunk in enumerate(chunks, 1)]


@pytest.mark.parametrize(("dialect", "receipts"), [("standard", 2), ("whole_message", 1)])
def test_receipts_per_segment_or_per_whole_message(smsc_factory, dialect: str, receipts: int) -> None:
    account = {"system_id": "shop", "password": "pw", "receipt_dialect": dialect, "senders": [{"name": "SHOP"}]}
    smsc = smsc_factory(accounts=[account])  # the default network reassembles concatenated parts
    client = smsc.esme()
    ids = [
        client.submit_sm(source_addr="SHOP", destination_addr=FR_MOBILE, esm_class=0x40, short_message=part, registered_delivery=1).message_id
        for part in _long_message_parts(b"A" * 200)
    ]
    smsc.clock.advance("10s")
    sent = [smsc.wait_for("deliver_sm").receipted_message_id for _ in range(receipts)]
    smsc.assert_no_pdu("deliver_sm")
    assert sent == ids[-receipts:]
    if receipts == 1:
        assert "no receipt: one per whole message" in [t.note for t in smsc.timeline(ids[0])][-1]
        assert "text:AAAAAAAAAAAAAAAAAAAA" in client.next_message(timeout=2).short_message.decode()


def test_receipt_waiting_for_a_receiver_expires_after_delivery_validity(smsc: SimulatedSmsc) -> None:
    sender = smsc.esme(bind="transmitter")
    sent = sender.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"x", registered_delivery=1)
    smsc.clock.advance("47h")  # delivered after 2 s; the receipt waits for a receiver
    receiver = smsc.esme(bind="receiver")
    assert "stat:DELIVRD" in receiver.next_message(timeout=2).short_message.decode()
    late = sender.submit_sm(source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"y", registered_delivery=1)
    receiver.close()
    smsc.wait_for("unbind_resp")
    smsc.clock.advance("49h")  # this receipt outlives delivery_validity (48 h) before anyone binds again
    smsc.esme(bind="receiver")
    smsc.wait_for("bind_receiver_resp", status="ESME_ROK")
    smsc.assert_no_pdu("deliver_sm", receipted_message_id=late.message_id)
    assert smsc.stats.deliveries_expired == 1
    assert smsc.timeline(late.message_id)[-1].note.startswith("receipt dropped: deliver_sm for smppclient1 expired")
    assert smsc.message(sent.message_id).state is MessageState.DELIVERED
