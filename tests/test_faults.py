"""Fault injection: the rule engine (selection, counting, probability with a seed, time windows, validation)
and every action on the wire, seen by a raw socket client, our ESME and smpplib."""

from __future__ import annotations

import dataclasses
import re
import select
import socket
import struct
from importlib.resources import files
from pathlib import Path

import pytest
import smpplib.client
import smpplib.exceptions

from simulator.config import ConfigError, FieldError, default_config, parse_config
from simulator.faults import FaultRules, FaultSpec
from simulator.harness.smsc import SimulatedSmsc
from simulator.network.profile import load_profile
from simulator.smpp import pdu as P
from simulator.smpp.codec import decode, encode
from simulator.smpp.constants import CommandStatus as S

FR_MOBILE = "+33612345678"
SUBMIT = {"source_addr": "SIMULATOR", "destination_addr": FR_MOBILE, "short_message": b"hi"}


# --- the rule engine ----------------------------------------------------------------------------


def _take_many(rules: FaultRules, pdus: list[P.Pdu], now: float = 0.0, system_id: str = "a") -> list[int | None]:
    return [(rule.id if (rule := rules.take(pdu, system_id, now)) else None) for pdu in pdus]


def test_nth_every_and_first_count_the_pdus_each_rule_selects() -> None:
    submits = [P.SubmitSm(destination_addr=str(i)) for i in range(7)]
    for envelope, fired in [
        ({"nth": 3}, [3]),
        ({"every": 3}, [3, 6]),
        ({"first": 2}, [1, 2]),
        ({"every": 2, "times": 2}, [2, 4]),
        ({}, [1, 2, 3, 4, 5, 6, 7]),
    ]:
        rules = FaultRules()
        rule = rules.add(FaultSpec.from_mapping({"on": "submit_sm", "do": "generic_nack", **envelope}))
        hits = _take_many(rules, submits)
        assert [i + 1 for i, hit in enumerate(hits) if hit == rule.id] == fired, envelope


def test_first_match_wins_but_every_rule_counts_what_it_selects() -> None:
    rules = FaultRules()
    everything = rules.add(FaultSpec(on="submit_sm", first=2, do="generic_nack"))
    third = rules.add(FaultSpec(on="submit_sm", nth=3, do={"status": "ESME_RSYSERR"}))
    hits = _take_many(rules, [P.SubmitSm()] * 4)
    assert hits == [everything.id, everything.id, third.id, None]
    assert (everything.seen, third.seen) == (2, 3)
    assert rules.unmet() == []


def test_selection_by_command_alias_account_and_matchers() -> None:
    rules = FaultRules()
    binds = rules.add(FaultSpec(on="bind", account="shop", do={"status": "ESME_RBINDFAIL"}))
    regex = rules.add(FaultSpec(on=["submit_sm", "data_sm"], match={"destination_addr": {"regex": "^4477"}}, do="close"))
    assert binds.spec.commands == ("bind_transmitter", "bind_receiver", "bind_transceiver")
    assert rules.take(P.BindReceiver(system_id="shop"), "shop", 0) is binds
    assert rules.take(P.BindReceiver(system_id="other"), "other", 0) is None
    assert rules.take(P.SubmitSm(destination_addr="447700900123"), "x", 0) is regex
    assert rules.take(P.DataSm(destination_addr="447700900123"), "x", 0) is regex
    assert rules.take(P.SubmitSm(destination_addr="33612345678"), "x", 0) is None
    assert rules.take(P.EnquireLink(), "x", 0) is None


def test_time_windows_count_from_when_the_rule_was_installed() -> None:
    rules = FaultRules()
    rule = rules.add(FaultSpec(on="bind", after="10s", until="40s", do={"status": "ESME_RBINDFAIL"}), now=1000.0)
    bind = P.BindTransceiver(system_id="a")
    assert [rules.take(bind, "a", 1000.0 + t) is rule for t in (0, 9.999, 10, 39.999, 40, 100)] == [False, False, True, True, False, False]


def test_probability_is_drawn_from_the_seed_and_zero_never_draws() -> None:
    def run(seed: int, with_zero: bool) -> list[bool]:
        rules = FaultRules(seed)
        if with_zero:
            rules.add(FaultSpec(on="submit_sm", probability=0, do="close"))
        half = rules.add(FaultSpec(on="submit_sm", probability=0.5, do="generic_nack"))
        return [rules.take(P.SubmitSm(), "a", 0) is half for _ in range(200)]

    first, again, other = run(7, False), run(7, False), run(8, False)
    assert first == again and first != other
    assert 70 < sum(first) < 130
    # A probability-0 rule fires never, and installing it changes no other rule's draws... except that it
    # takes an install slot: the generator of the next rule is seeded by its place, as documented.
    rules = FaultRules(7)
    never = rules.add(FaultSpec(on="submit_sm", probability=0, do="close"))
    assert all(rules.take(P.SubmitSm(), "a", 0) is None for _ in range(50)) and never.hits == 0 and never.seen == 50


def test_ordered_rules_apply_one_after_another() -> None:
    rules = FaultRules()
    first = rules.add(FaultSpec(on="submit_sm", times=2, ordered=True, do={"status": "ESME_RTHROTTLED"}))
    second = rules.add(FaultSpec(on="submit_sm", times=1, ordered=True, do={"status": 0x14}))
    assert _take_many(rules, [P.SubmitSm()] * 4) == [first.id, first.id, second.id, None]
    assert second.spec.action is not None and second.spec.action.status == S.ESME_RMSGQFUL


def test_unmet_counted_rules_and_descriptions() -> None:
    rules = FaultRules()
    counted = rules.add(FaultSpec(on="submit_sm", nth=2, account="shop", match={"destination_addr": re.compile("^33")}, do={"delay": 1.5}, name="slow"))
    chance = rules.add(FaultSpec(on="submit_sm", times=1, probability=0.5, do="close"))
    rules.add(FaultSpec(on="submit_sm", times=1, do="close"), origin="config")
    rules.take(P.SubmitSm(destination_addr="336"), "shop", 0)
    assert rules.unmet() == [counted] and chance not in rules.unmet()
    assert counted.describe() == f"rule {counted.id} slow: submit_sm from shop where destination_addr regex '^33', #2 only -> delay 1.5s (fired 0/1)"
    assert counted.to_dict()["do"] == {"delay": 1.5} and counted.to_dict()["unmet"] is True


@pytest.mark.parametrize(
    ("envelope", "field", "words"),
    [
        ({"on": "submit"}, "on", "unknown command"),
        ({"do": "explode"}, "do", "unknown action"),
        ({"do": {"status": "ESME_NOPE"}}, "do.status", "unknown command_status"),
        ({"do": {"close": "during"}}, "do.close", "before' or 'after"),
        ({"do": {"close": "after", "reset": "after"}}, "do.reset", "exclude each other"),
        ({"do": {"respond": False, "status": 8}}, "do.respond", "never sent"),
        ({"do": {"status": 8, "generic_nack": True}}, "do.generic_nack", "either"),
        ({"do": {"delay": "soon"}}, "do.delay", "invalid duration"),
        ({"do": {"delay": {"dist": "uniform", "min": "2s"}}}, "do.delay.max", "required"),
        ({"do": {"split": 0}}, "do.split.octets", ">= 1"),
        ({"do": {"coalesce": {"count": 1}}}, "do.coalesce.count", ">= 2"),
        ({"do": {"malformed": {"field": "crc"}}}, "do.malformed.field", "must be one of"),
        ({"do": {"colour": "red"}}, "do.colour", "unknown key"),
        ({"nth": 0}, "nth", ">= 1"),
        ({"nth": 1, "first": 2}, "first", "exclude each other"),
        ({"after": "1m", "until": "30s"}, "until", "later than after"),
        ({"probability": -0.1}, "probability", "from 0 to 1"),
        ({"direction": "sideways"}, "direction", "'in' or 'out'"),
        ({"on": "deliver_sm", "do": "out_of_order"}, "do.out_of_order", "direction out"),
        ({"match": {"destination_addr": {"regex": "("}}}, "match", "bad matcher"),
        ({"when": "now"}, "when", "unknown key"),
        ({"on": "submit_sm", "do": {"status": 2**32}}, "do.status", "0..0xFFFFFFFF"),
        ({"on": "submit_sm", "do": {"generic_nack": -1}}, "do.generic_nack", "0..0xFFFFFFFF"),
        ({"on": "submit_sm", "do": {"status": True}}, "do.status", "0..0xFFFFFFFF"),
        ({"do": {"malformed": {"field": "sequence_number", "value": 1.5}}}, "do.malformed.value", "32-bit"),
        ({"on": "deliver_sm", "do": {"fields": {"esm_class": "x"}}}, "do.fields", "cannot be sent in deliver_sm"),
        ({"on": "submit_sm", "do": {"fields": {"colour": 1}}}, "do.fields.colour", "neither a field of submit_sm_resp nor a TLV name"),
        ({"on": "submit_sm", "do": {"fields": {"congestion_state": "lots"}}}, "do.fields", "cannot be sent in submit_sm_resp"),
        ({"on": "submit_sm", "do": {"fields": {"tlvs": []}}}, "do.fields.tlvs", "neither a field"),
        ({"on": "submit_sm", "match": {"destinaton_addr": "33"}}, "match.destinaton_addr", "not a field or TLV"),
        ({"name": 3}, "name", "must be a string"),
        ({"account": ["a", "b"]}, "account", "must be a string"),
        ({"ordered": "yes"}, "ordered", "true or false"),
        ({"do": {"duplicate": "no"}}, "do.duplicate", "true or false"),
        ({"do": {"out_of_order": 1, "close": "after"}}, "do.out_of_order", "cannot also be close"),
        ({"do": {"out_of_order": 1, "split": 4}}, "do.out_of_order", "cannot also be split"),
    ],
)
def test_bad_envelopes_name_the_key(envelope: dict, field: str, words: str) -> None:
    with pytest.raises(FieldError) as error:
        FaultSpec.from_mapping(envelope)
    assert error.value.field == field and words in str(error.value)


def test_config_faults_errors_name_file_line_and_key() -> None:
    text = "faults:\n  - on: submit_sm\n    nth: 3\n    do:\n      status: ESME_RSYSERR\n  - on: bind\n    do:\n      delay: {dist: uniform, min: 1s, max: later}\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, "net.yaml")
    assert str(error.value).startswith("net.yaml:8: faults[1].do.delay.max: invalid duration 'later'")
    config = parse_config(text.replace("later", "2s"), "net.yaml")
    assert [spec.describe() for spec in config.fault_specs] == [
        "submit_sm, #3 only -> status ESME_RSYSERR",
        "bind_transmitter/bind_receiver/bind_transceiver -> delay uniform",
    ]


# --- on the wire ----------------------------------------------------------------------------------


class Raw:
    """A bare TCP ESME: sends encoded PDUs, sees exactly what arrives and in how many reads."""

    def __init__(self, smsc: SimulatedSmsc, bind: bool = True) -> None:
        self.sock = socket.create_connection((smsc.host, smsc.port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.reads: list[int] = []
        self.seq = 0
        if bind:
            self.send(P.BindTransceiver(system_id=smsc.system_id, password=smsc.password))
            assert self.pdu().command_status == 0

    def send(self, pdu: P.Pdu) -> int:
        self.seq += 1
        self.sock.sendall(encode(pdu.with_sequence(self.seq)))
        return self.seq

    def fill(self, timeout: float = 5.0) -> bool:
        """One read (False on EOF or when nothing came within timeout)."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        data = self.sock.recv(65536)
        if not data:
            return False
        self.reads.append(len(data))
        self.buffer += data
        return True

    def raw(self, count: int, timeout: float = 5.0) -> bytes:
        """Exactly count octets."""
        while len(self.buffer) < count:
            assert self.fill(timeout), f"only {len(self.buffer)} of {count} octets arrived"
        data, self.buffer = bytes(self.buffer[:count]), self.buffer[count:]
        return data

    def pdu(self, timeout: float = 5.0) -> P.Pdu:
        """The next whole PDU."""
        length = int.from_bytes(self.raw(4, timeout), "big")
        body = self.raw(length - 4, timeout)
        return decode(length.to_bytes(4, "big") + body)

    def nothing_within(self, seconds: float) -> bool:
        """True when no octet arrives for this long."""
        return not self.buffer and not self.fill(seconds)

    def eof(self, timeout: float = 5.0) -> bool:
        """True once the SMSC closed its sending side (after reading what was left)."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        return bool(ready) and self.sock.recv(65536) == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(smsc: SimulatedSmsc):
    client = Raw(smsc)
    yield client
    client.close()


def test_status_by_name_and_number_then_normal_answers(smsc: SimulatedSmsc, esme) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"status": "ESME_RINVDSTADR"})
    smsc.faults.add("submit_sm", nth=2, do={"status": 0x58})
    statuses = [esme.submit_sm(check=False, **SUBMIT).command_status for _ in range(3)]
    assert statuses == [S.ESME_RINVDSTADR, S.ESME_RTHROTTLED, 0]
    assert len(smsc.messages()) == 1  # the refused ones were never handled


def test_no_response_handles_the_request_and_records_it_in_the_timeline(smsc: SimulatedSmsc, raw: Raw) -> None:
    rule = smsc.faults.add("submit_sm", nth=1, do="no_response")
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.nothing_within(0.3)
    (message,) = smsc.messages()  # accepted: the response is what got lost
    assert any(f"fault rule {rule.id} on submit_sm: no response" in t.note for t in smsc.timeline(message.message_id))
    (firing,) = smsc.faults.fired(rule)
    assert (firing.command, firing.message_id, firing.action) == ("submit_sm", message.message_id, "no response")
    assert smsc.wait_for("submit_sm").note == f"fault rule {rule.id}: no response"
    assert smsc.stats.faults_fired == 1


def test_delay_lets_a_later_response_overtake(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"delay": "300ms"})
    slow, fast = raw.send(P.SubmitSm(**SUBMIT)), raw.send(P.SubmitSm(**SUBMIT))
    assert [raw.pdu().sequence_number, raw.pdu().sequence_number] == [fast, slow]


def test_delay_from_a_distribution_is_reproducible() -> None:
    def delays(seed: int) -> list[float]:
        rules = FaultRules(seed)
        rule = rules.add(FaultSpec(on="any", do={"delay": {"dist": "uniform", "min": "10ms", "max": "2s"}}))
        return [rule.action.draw_delay(rule.rng) for _ in range(5)]  # type: ignore[union-attr]

    assert delays(1) == delays(1) != delays(2) and all(0.01 <= d <= 2 for d in delays(1))


def test_out_of_order_response_goes_after_the_next_one(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"out_of_order": 2})
    sent = [raw.send(P.SubmitSm(**SUBMIT)) for _ in range(3)]
    assert [raw.pdu().sequence_number for _ in range(3)] == [sent[1], sent[2], sent[0]]


def test_out_of_order_response_is_released_when_nothing_overtakes_it(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", nth=1, do="out_of_order")
    seq = raw.send(P.EnquireLink())
    assert raw.pdu(timeout=3).sequence_number == seq


def test_receipt_before_the_submit_sm_resp(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do="receipt_first")
    seq = raw.send(P.SubmitSm(registered_delivery=1, **SUBMIT))
    receipt, response = raw.pdu(), raw.pdu()
    assert (receipt.command_name, response.command_name, response.sequence_number) == ("deliver_sm", "submit_sm_resp", seq)
    assert receipt.tlv("receipted_message_id") == response.message_id and b"stat:DELIVRD" in receipt.short_message
    raw.sock.sendall(encode(receipt.make_response()))
    smsc.wait_for("deliver_sm_resp")


def test_generic_nack_with_a_status(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("query_sm", do={"generic_nack": "ESME_RINVCMDID"})
    seq = raw.send(P.QuerySm(message_id="1"))
    nack = raw.pdu()
    assert (nack.command_name, nack.command_status, nack.sequence_number) == ("generic_nack", S.ESME_RINVCMDID, seq)


def test_duplicate_response(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do="duplicate")
    seq = raw.send(P.SubmitSm(**SUBMIT))
    first, second = raw.pdu(), raw.pdu()
    assert first == second and first.sequence_number == seq and first.message_id
    assert len(smsc.messages()) == 1


@pytest.mark.smsc(strict=False)
def test_close_before_drops_the_request(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"close": "before"})
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.eof() and smsc.messages() == []


@pytest.mark.smsc(strict=False)
def test_close_after_answers_first(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"close": "after"})
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.pdu().command_name == "submit_sm_resp" and raw.eof()
    assert len(smsc.messages()) == 1


@pytest.mark.smsc(strict=False)
def test_reset_is_a_tcp_rst(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", do="reset")
    raw.send(P.EnquireLink())
    select.select([raw.sock], [], [], 5)
    with pytest.raises(ConnectionResetError):
        raw.sock.recv(100)


@pytest.mark.smsc(strict=False)
def test_half_close_stops_sending_but_keeps_reading(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"half_close": "after"})
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.pdu().command_name == "submit_sm_resp" and raw.eof()
    raw.send(P.SubmitSm(**{**SUBMIT, "short_message": b"still read"}))
    assert smsc.wait_for("submit_sm", text="still read").direction == "in"
    assert len(smsc.messages()) == 2


@pytest.mark.smsc(strict=False)
def test_smsc_initiated_unbind_after_the_response(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do="unbind")
    raw.send(P.SubmitSm(**SUBMIT))
    response, unbind = raw.pdu(), raw.pdu()
    assert (response.command_name, unbind.command_name) == ("submit_sm_resp", "unbind")
    raw.sock.sendall(encode(unbind.make_response()))
    assert raw.eof()
    assert smsc.wait_for("unbind", direction="out").note.startswith("fault rule")


def test_stop_answering_enquire_link(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", do="no_response")
    raw.send(P.EnquireLink())
    raw.send(P.EnquireLink())
    assert raw.nothing_within(0.3)
    seq = raw.send(P.SubmitSm(**SUBMIT))
    assert raw.pdu().sequence_number == seq  # everything else is answered


def test_refuse_binds_for_an_outage_window_on_the_virtual_clock(smsc: SimulatedSmsc) -> None:
    smsc.faults.add("bind", until="30s", do={"status": "ESME_RBINDFAIL"}, name="outage")
    first = Raw(smsc, bind=False)
    first.send(P.BindTransceiver(system_id=smsc.system_id, password=smsc.password))
    assert first.pdu().command_status == S.ESME_RBINDFAIL
    smsc.clock.advance("30s")
    first.send(P.BindTransceiver(system_id=smsc.system_id, password=smsc.password))
    assert first.pdu().command_status == 0
    first.close()


def test_split_writes_one_pdu_in_pieces(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"split": {"octets": 4, "gap": "20ms"}})
    seq = raw.send(P.SubmitSm(**SUBMIT))
    before = len(raw.reads)
    response = raw.pdu()
    assert response.sequence_number == seq and response.message_id
    assert len(raw.reads) - before >= 3  # a 25-octet response came in several reads


def test_coalesce_holds_output_until_three_pdus_go_in_one_write(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"coalesce": {"count": 3, "within": "5s"}})
    raw.send(P.SubmitSm(**SUBMIT))
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.nothing_within(0.2)
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.fill() and len([raw.pdu() for _ in range(3)]) == 3
    assert raw.reads[-1] >= 3 * 16


def test_coalesce_releases_after_within(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", nth=1, do={"coalesce": {"count": 5, "within": "200ms"}})
    seq = raw.send(P.EnquireLink())
    assert raw.pdu(timeout=3).sequence_number == seq


def test_stall_stops_reading_for_a_while(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", nth=1, do={"stall": "400ms"})
    raw.send(P.EnquireLink())
    assert raw.pdu().command_name == "enquire_link_resp"
    raw.send(P.SubmitSm(**SUBMIT))
    smsc.assert_no_pdu("submit_sm", within=0.2)  # not read while stalled
    assert smsc.wait_for("submit_sm", timeout=3) and raw.pdu().command_name == "submit_sm_resp"


@pytest.mark.parametrize(
    ("field", "offset", "expected"),
    [("command_length", 0, 8), ("command_id", 4, 0x000000FF), ("sequence_number", 12, None)],
)
def test_malformed_header_fields(smsc: SimulatedSmsc, raw: Raw, field: str, offset: int, expected: int | None) -> None:
    smsc.faults.add("enquire_link", nth=1, do={"malformed": field})
    seq = raw.send(P.EnquireLink())
    header = raw.raw(16)
    (value,) = struct.unpack_from(">I", header, offset)
    assert value == (expected if expected is not None else seq + 0x10000000)
    assert smsc.wait_for("enquire_link_resp").note.endswith(f"malformed {field}")


def test_malformed_with_an_explicit_value(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", nth=1, do={"malformed": {"field": "command_id", "value": 0x80000015}})
    raw.send(P.EnquireLink())
    assert struct.unpack_from(">I", raw.raw(16), 4) == (0x80000015,)


# --- faults on what the SMSC sends -----------------------------------------------------------------


@pytest.mark.smsc(strict=False)
def test_deliver_sm_close_after_is_resent_after_the_rebind(smsc: SimulatedSmsc, raw: Raw) -> None:
    rule = smsc.faults.add("deliver_sm", nth=1, do={"close": "after"})
    assert rule.spec.direction == "out"
    smsc.inject_mo(FR_MOBILE, "31244", "first try", wait=False)
    first = raw.pdu()
    assert first.command_name == "deliver_sm" and raw.eof()
    again = Raw(smsc)
    resent = again.pdu()
    assert resent.short_message == first.short_message  # the same MO, not lost
    again.sock.sendall(encode(resent.make_response()))
    smsc.wait_for("deliver_sm_resp")
    again.close()


def test_deliver_sm_sent_twice(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("deliver_sm", nth=1, do="duplicate")
    smsc.inject_mo(FR_MOBILE, "31244", "twice", wait=False)
    first, second = raw.pdu(), raw.pdu()
    assert first.short_message == second.short_message and first.sequence_number != second.sequence_number
    for pdu in (first, second):
        raw.sock.sendall(encode(pdu.make_response()))
    smsc.wait_for("deliver_sm_resp")
    smsc.wait_for("deliver_sm_resp")


def test_deliver_sm_delayed_and_with_changed_fields(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("deliver_sm", nth=1, do={"delay": "300ms", "fields": {"service_type": "WAP"}})
    smsc.inject_mo(FR_MOBILE, "31244", "late", wait=False)
    assert raw.nothing_within(0.15)
    late = raw.pdu()
    assert late.service_type == "WAP"
    raw.sock.sendall(encode(late.make_response()))
    smsc.wait_for("deliver_sm_resp")


def test_faults_from_the_configuration_come_back_after_a_reset(smsc_factory) -> None:
    config = dataclasses.replace(default_config(), faults=[{"on": "submit_sm", "nth": 2, "do": {"status": "ESME_RSYSERR"}}])
    smsc = smsc_factory(config=config)
    esme = smsc.esme()
    assert [esme.submit_sm(check=False, **SUBMIT).command_status for _ in range(3)] == [0, S.ESME_RSYSERR, 0]
    smsc.reset()
    (rule,) = smsc.faults.rules
    assert (rule.origin, rule.seen, rule.hits) == ("config", 0, 0)
    assert [esme.submit_sm(check=False, **SUBMIT).command_status for _ in range(2)] == [0, S.ESME_RSYSERR]


def test_faults_from_the_network_profile_come_before_the_config_and_back_after_a_reset(smsc_factory, tmp_path) -> None:
    profile = Path(files("simulator") / "profiles" / "default.yaml").read_text()
    profile += "faults:\n  - {on: submit_sm, nth: 1, do: {status: ESME_RSYSERR}, name: network fault}\n"
    (tmp_path / "net.yaml").write_text(profile)
    config = dataclasses.replace(default_config(), faults=[{"on": "submit_sm", "nth": 2, "do": {"status": "ESME_RMSGQFUL"}}])
    smsc = smsc_factory(network=str(tmp_path / "net.yaml"), config=config)
    esme = smsc.esme()
    statuses = [S.ESME_RSYSERR, S.ESME_RMSGQFUL, 0]
    assert [esme.submit_sm(check=False, **SUBMIT).command_status for _ in range(3)] == statuses
    smsc.reset()
    assert [rule.spec.name for rule in smsc.faults.rules] == ["network fault", ""]
    assert [esme.submit_sm(check=False, **SUBMIT).command_status for _ in range(3)] == statuses


def test_network_profile_fault_errors_name_file_line_and_key(tmp_path) -> None:
    profile = Path(files("simulator") / "profiles" / "default.yaml").read_text()
    lines = profile.count("\n")
    (tmp_path / "net.yaml").write_text(profile + "faults:\n  - on: submit_sm\n    do: {status: NOPE}\n")
    with pytest.raises(ConfigError) as error:
        load_profile(str(tmp_path / "net.yaml"))
    assert str(error.value).startswith(f"{tmp_path / 'net.yaml'}:{lines + 3}: faults[0].do.status: unknown command_status 'NOPE'")


def test_probability_on_the_wire_repeats_with_the_seed(smsc_factory) -> None:
    def run(seed: int) -> list[int]:
        smsc = smsc_factory(seed=seed)
        smsc.faults.add("submit_sm", probability=0.3, do={"status": "ESME_RSYSERR"})
        esme = smsc.esme()
        return [esme.submit_sm(check=False, **SUBMIT).command_status for _ in range(30)]

    assert run(11) == run(11) and S.ESME_RSYSERR in run(11) and 0 in run(11)


def test_smpplib_sees_a_throttled_nth_submit_and_a_close_after(smsc: SimulatedSmsc) -> None:
    smsc.faults.add("submit_sm", nth=2, do={"status": "ESME_RTHROTTLED"})
    smsc.faults.add("submit_sm", nth=3, do={"close": "after"})
    client = smpplib.client.Client(smsc.host, smsc.port, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=smsc.system_id, password=smsc.password)
        statuses = []
        for _ in range(3):
            client.send_pdu(smpplib.smpp.make_pdu("submit_sm", client=client, source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"x"))
            statuses.append(client.read_pdu().status)
        assert statuses == [0, S.ESME_RTHROTTLED, 0]
        with pytest.raises(smpplib.exceptions.ConnectionError):
            client.read_pdu()
    finally:
        client.disconnect()


def test_a_fault_reports_congestion_in_responses_and_smpplib_still_reads_them(smsc: SimulatedSmsc) -> None:
    """SMPP 5.0 congestion_state, set by a fault rule for a spell of the clock: a field name that is a TLV sets the TLV."""
    smsc.faults.add("submit_sm", until="10s", do={"fields": {"congestion_state": 95}})
    esme = smsc.esme()
    congested = esme.submit_sm(**SUBMIT)
    assert congested.tlv("congestion_state") == 95 and congested.message_id
    client = smpplib.client.Client(smsc.host, smsc.port, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=smsc.system_id, password=smsc.password)
        client.send_pdu(smpplib.smpp.make_pdu("submit_sm", client=client, source_addr="SIMULATOR", destination_addr=FR_MOBILE, short_message=b"x"))
        resp = client.read_pdu()  # a v3.4 client skips the TLV it does not know and reads the rest
        assert (resp.command, resp.status) == ("submit_sm_resp", 0) and resp.message_id
    finally:
        client.disconnect()
    logged = smsc.pdus("submit_sm_resp", direction="out")
    assert logged[-1].pdu.tlv("congestion_state") == 95
    smsc.clock.advance("10s")
    assert esme.submit_sm(**SUBMIT).tlv("congestion_state") is None  # the spell is over


# --- regressions: faults must never cost more than what they say -----------------------------------


def test_requests_never_answered_do_not_fill_the_smscs_window(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", do="no_response")
    for _ in range(12):  # more than the account's window of 10, one read each (a read is counted whole)
        raw.send(P.EnquireLink())
        smsc.wait_for("enquire_link")
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.pdu().command_status == 0


def test_fields_that_cannot_be_sent_are_not_applied(smsc: SimulatedSmsc, raw: Raw) -> None:
    # 'any' rules are checked against each PDU when they fire: a message_id too long for the field.
    smsc.faults.add("any", first=1, do={"fields": {"message_id": "x" * 100}})
    seq = raw.send(P.SubmitSm(**SUBMIT))
    response = raw.pdu()
    assert (response.sequence_number, response.command_status, len(response.message_id)) == (seq, 0, 8)
    assert smsc.stats.handler_errors == 1
    smsc.run(lambda: setattr(smsc.server.stats, "handler_errors", 0))  # expected here: not a teardown problem


def test_a_rule_on_bind_selects_by_the_account_the_bind_asks_for(smsc: SimulatedSmsc) -> None:
    smsc.faults.add("bind", account="nobody", do={"status": "ESME_RBINDFAIL"})
    rule = smsc.faults.add("bind", account=smsc.system_id, times=1, do={"status": "ESME_RBINDFAIL"})
    first = Raw(smsc, bind=False)
    first.send(P.BindTransceiver(system_id=smsc.system_id, password=smsc.password))
    assert first.pdu().command_status == S.ESME_RBINDFAIL and (rule.seen, rule.hits) == (1, 1)
    first.close()
    Raw(smsc).close()  # the next bind is accepted


def test_a_duplicate_deliver_sm_is_skipped_when_the_window_is_full(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("deliver_sm", nth=10, do="duplicate")
    for i in range(10):
        smsc.inject_mo(FR_MOBILE, "31244", f"mo {i}", wait=False)
    received = [raw.pdu() for _ in range(10)]
    assert [p.short_message for p in received] == [f"mo {i}".encode() for i in range(10)]
    assert raw.nothing_within(0.2)  # no 11th PDU: the window of 10 was full
    for pdu in received:
        raw.sock.sendall(encode(pdu.make_response()))
    for _ in range(10):
        smsc.wait_for("deliver_sm_resp")
    assert [e.note.endswith("(second copy)") for e in smsc.pdus("deliver_sm")] == [False] * 10


def test_after_a_half_close_deliveries_go_to_another_bind(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"half_close": "after"})
    raw.send(P.SubmitSm(**SUBMIT))
    assert raw.pdu().command_name == "submit_sm_resp" and raw.eof()
    smsc.inject_mo(FR_MOBILE, "31244", "not into the void", wait=False)
    other = Raw(smsc)
    mo = other.pdu()
    assert mo.short_message == b"not into the void"
    other.sock.sendall(encode(mo.make_response()))
    smsc.wait_for("deliver_sm_resp")
    half_closed = smsc.pdus("submit_sm")[0].session
    assert [e.session != half_closed for e in smsc.pdus("deliver_sm")] == [True]  # logged once, on the other bind
    other.close()


def test_a_delayed_deliver_sm_counts_as_queued_and_a_reset_drops_it(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("deliver_sm", nth=1, do={"delay": "2s"})
    smsc.inject_mo(FR_MOBILE, "31244", "before reset", wait=False)
    assert smsc.run(lambda: smsc.server.queued_deliveries(smsc.system_id)) == 1
    smsc.reset()
    assert smsc.run(lambda: smsc.server.queued_deliveries(smsc.system_id)) == 0
    assert raw.nothing_within(2.3)


def test_a_coalesce_released_by_its_count_leaves_no_timer_for_the_next(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("enquire_link", nth=1, do={"coalesce": {"count": 2, "within": "300ms"}})
    smsc.faults.add("enquire_link", nth=3, do={"coalesce": {"count": 3, "within": "5s"}})
    raw.send(P.EnquireLink())
    raw.send(P.EnquireLink())
    assert [raw.pdu().command_name for _ in range(2)] == ["enquire_link_resp"] * 2
    raw.send(P.EnquireLink())
    raw.send(P.EnquireLink())
    assert raw.nothing_within(0.6)  # the first hold's 300 ms timer must not release the second hold
    raw.send(P.EnquireLink())
    assert [raw.pdu().command_name for _ in range(3)] == ["enquire_link_resp"] * 3


def test_a_duplicate_response_follows_the_responses_before_it(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=2, do="duplicate")
    first = P.SubmitSm(**SUBMIT).with_sequence(2)
    second = P.SubmitSm(**SUBMIT).with_sequence(3)
    raw.sock.sendall(encode(first) + encode(second))  # one read
    assert [raw.pdu().sequence_number for _ in range(3)] == [2, 3, 3]


def test_a_rules_name_is_in_its_notes(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("submit_sm", nth=1, do={"status": "ESME_RSYSERR"}, name="first submit fails")
    raw.send(P.SubmitSm(**SUBMIT))
    raw.pdu()
    assert smsc.pdus("submit_sm_resp")[0].note == "fault rule %d (first submit fails): status ESME_RSYSERR" % smsc.faults.rules[0].id


def test_the_simulators_own_shaping_is_not_blamed_on_the_gateway(smsc: SimulatedSmsc, raw: Raw) -> None:
    smsc.faults.add("deliver_sm", nth=1, do={"split": {"octets": 4, "gap": "60ms"}})
    smsc.inject_mo(FR_MOBILE, "31244", "slowly written", wait=False)
    mo = raw.pdu(timeout=10)
    raw.sock.sendall(encode(mo.make_response()))
    smsc.wait_for("deliver_sm_resp")
    assert smsc.conformance(system_id=smsc.system_id, deliver_response_ms=200).passed


def test_rule_ids_count_per_simulator_and_restart_with_a_reset(smsc_factory) -> None:
    """Same scenario, same ids: a rule's id is its install order in that simulator, not a process-wide count."""
    first, second = smsc_factory(network="open"), smsc_factory(network="open")
    assert [first.faults.add("query_sm", do={"status": "ESME_RSYSERR"}).id for _ in range(2)] == [1, 2]
    assert second.faults.add("cancel_sm", do={"status": "ESME_RSYSERR"}).id == 1
    first.reset()
    assert first.faults.add("query_sm", do={"status": "ESME_RSYSERR"}).label == "fault rule 1"
