"""Round trips of every PDU class through the codec, exact wire forms, and encoder rejections."""

from __future__ import annotations

import dataclasses
import struct
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.smpp import codec, pdu, timefmt
from simulator.smpp.codec import PduEncodeError
from simulator.smpp.constants import CommandId, CommandStatus
from simulator.smpp.pdu import ALL_PDU_CLASSES, DistributionList, SmeAddress, UnsuccessfulSme
from simulator.smpp.tlv import STANDARD_TLVS, TLV_BY_NAME, Tlv

MESSAGE_PAYLOAD = TLV_BY_NAME["message_payload"].tag
KNOWN_KINDS = {"u8", "cstr", "time", "sm", "dests", "unsuccess"}
ROUND_TRIP = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies ------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u8 = st.integers(0, 255)


def cstrings(max_length: int) -> st.SearchStrategy[str]:
    """Latin-1 text without NUL, shorter than max_length (which counts the NUL)."""
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=max_length - 1)


# Aware datetimes in the two-digit-year window 2000..2099, offsets whole quarter hours within +-12 h.
utc_offsets = st.integers(-48, 48).map(lambda q: timezone(timedelta(minutes=15 * q)))
absolute_moments = st.builds(
    lambda naive, tenths, tz: naive.replace(microsecond=tenths * 100_000, tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)),
    st.integers(0, 9),
    utc_offsets,
)
relative_deltas = st.integers(0, 100 * 365 * 86400 - 1).map(lambda s: timedelta(seconds=s))
smpp_times = st.one_of(
    st.just(""),
    absolute_moments.map(timefmt.format_absolute),
    relative_deltas.map(timefmt.format_relative),
)

sme_addresses = st.builds(SmeAddress, u8, u8, cstrings(21))
distribution_lists = st.builds(DistributionList, cstrings(21))
destinations = st.lists(st.one_of(sme_addresses, distribution_lists), min_size=1, max_size=254).map(tuple)
unsuccess_lists = st.lists(st.builds(UnsuccessfulSme, u8, u8, cstrings(21), u32), max_size=20).map(tuple)


def tlv_values(spec) -> st.SearchStrategy:
    if spec.kind == "int":
        return st.integers(0, 2 ** (8 * spec.min_length) - 1)
    if spec.kind == "cstr":
        return cstrings(spec.max_length)
    # Long octet TLVs are capped to keep examples small; the limits themselves are tested below.
    return st.binary(min_size=spec.min_length, max_size=min(spec.max_length, spec.min_length + 64))


standard_tlvs = st.sampled_from(STANDARD_TLVS).flatmap(lambda spec: tlv_values(spec).map(lambda v: Tlv(spec.tag, v)))
unknown_tlvs = st.builds(Tlv, st.integers(0x1400, 0x14FF), st.binary(max_size=40))
any_tlv = st.one_of(standard_tlvs, unknown_tlvs)


def field_values(field: pdu.Field) -> st.SearchStrategy:
    if field.kind == "u8":
        if field.name == "priority_flag":
            return st.integers(0, 4)
        if field.name == "replace_if_present_flag":
            return st.integers(0, 1)
        return u8
    if field.kind == "cstr":
        return cstrings(field.max_length)
    if field.kind == "time":
        return smpp_times
    if field.kind == "sm":
        return st.binary(max_size=254)
    if field.kind == "dests":
        return destinations
    if field.kind == "unsuccess":
        return unsuccess_lists
    raise AssertionError(f"no strategy for field kind {field.kind!r}")


@st.composite
def pdus(draw, cls: type[pdu.Pdu]) -> pdu.Pdu:
    """A valid instance of cls, built from its BODY layout."""
    values = {f.name: draw(field_values(f)) for f in cls.BODY}
    tlvs: list[Tlv] = []
    if cls.ALLOWS_TLVS:
        tlvs = draw(st.lists(any_tlv, max_size=6))
        if values.get("short_message"):
            tlvs = [t for t in tlvs if t.tag != MESSAGE_PAYLOAD]
        elif hasattr(cls, "payload") and draw(st.booleans()):
            # Message-carrying PDUs often use message_payload (with sm_length 0): make it common.
            at = draw(st.integers(0, len(tlvs)))
            tlvs.insert(at, Tlv(MESSAGE_PAYLOAD, draw(st.binary(max_size=600))))
        required = [draw(tlv_values(TLV_BY_NAME[name]).map(lambda v, n=name: Tlv(TLV_BY_NAME[n].tag, v)))
                    for name in cls.REQUIRED_TLVS]
        tlvs = draw(st.permutations(tlvs + required)) if required else tlvs
    return cls(sequence_number=draw(u32), command_status=draw(u32), tlvs=tuple(tlvs), **values)


any_pdu = st.sampled_from(ALL_PDU_CLASSES).flatmap(pdus)

# --- round trips -----------------------------------------------------------------------------


def test_every_body_field_kind_has_a_strategy():
    kinds = {f.kind for cls in ALL_PDU_CLASSES for f in cls.BODY}
    assert kinds <= KNOWN_KINDS, kinds - KNOWN_KINDS
    # Every command_id the constants know is covered by exactly one class.
    assert {cls.command_id for cls in ALL_PDU_CLASSES} == {int(c) for c in CommandId}
    assert len(ALL_PDU_CLASSES) == len(CommandId)


@pytest.mark.parametrize("cls", ALL_PDU_CLASSES, ids=lambda c: c.__name__)
@settings(ROUND_TRIP, max_examples=40)
@given(data=st.data())
def test_round_trip_each_class(cls, data):
    p = data.draw(pdus(cls))
    wire = codec.encode(p)
    assert len(wire) == struct.unpack_from(">I", wire)[0]
    assert struct.unpack_from(">III", wire, 4) == (cls.command_id, p.command_status, p.sequence_number)
    back = codec.decode(wire)
    assert type(back) is cls
    assert back == p
    assert codec.encode(back) == wire


@ROUND_TRIP
@given(any_pdu)
def test_round_trip_any_pdu(p):
    wire = codec.encode(p)
    back = codec.decode(wire)
    assert back == p
    assert back.tlvs == p.tlvs  # order and duplicates preserved
    assert codec.encode(back) == wire


@ROUND_TRIP
@given(any_pdu)
def test_encode_without_tlvs_drops_them(p):
    full = codec.encode(p)
    wire = codec.encode(p, with_tlvs=False)
    # Same header apart from command_length, same body, and exactly the TLV octets missing.
    assert wire[4:16] == full[4:16]
    assert struct.unpack_from(">I", wire)[0] == len(wire)
    assert wire[16:] + codec.encode_tlvs(p.tlvs) == full[16:]
    if type(p).REQUIRED_TLVS and p.tlvs:
        # broadcast_sm (v5.0 only) cannot be valid without its mandatory TLVs.
        with pytest.raises(codec.PduError) as info:
            codec.decode(wire)
        assert info.value.status == CommandStatus.ESME_RMISSINGOPTPARAM
        return
    back = codec.decode(wire)
    assert back.tlvs == ()
    assert back == dataclasses.replace(p, tlvs=())


@pytest.mark.parametrize(
    "cls", [c for c in ALL_PDU_CLASSES if c.command_id & 0x80000000 and c.BODY], ids=lambda c: c.__name__
)
def test_error_response_with_default_body_is_header_only(cls):
    p = cls(sequence_number=77, command_status=CommandStatus.ESME_RTHROTTLED)
    wire = codec.encode(p)
    assert wire == struct.pack(">IIII", 16, cls.command_id, 0x58, 77)
    assert codec.decode(wire) == p
    # The same response with status 0 carries its (empty) body.
    ok = cls(sequence_number=77)
    ok_wire = codec.encode(ok)
    assert len(ok_wire) > 16
    assert codec.decode(ok_wire) == ok
    if not cls.ALLOWS_TLVS:
        return
    # An error response with a TLV keeps its body so the TLV can follow it.
    spec = TLV_BY_NAME["additional_status_info_text"]
    with_text = dataclasses.replace(p, tlvs=(Tlv(spec.tag, "throttled"),))
    text_wire = codec.encode(with_text)
    assert text_wire[16:len(ok_wire)] == ok_wire[16:]
    assert codec.decode(text_wire) == with_text


def test_submit_multi_with_254_destinations():
    dests = tuple(SmeAddress(1, 1, f"4477009{i:05d}") if i % 2 else DistributionList(f"list{i}") for i in range(254))
    p = pdu.SubmitMulti(sequence_number=9, source_addr="1234", dest_addresses=dests, short_message=b"x")
    wire = codec.encode(p)
    assert wire[16 + 1 + 2 + 5] == 254  # number_of_dests after service_type, ton, npi, source_addr
    assert codec.decode(wire) == p


# --- exact wire forms ------------------------------------------------------------------------


def test_enquire_link_exact_bytes():
    wire = codec.encode(pdu.EnquireLink(sequence_number=1))
    assert wire == bytes.fromhex("00000010000000150000000000000001")
    assert codec.decode(wire) == pdu.EnquireLink(sequence_number=1)


def test_generic_nack_exact_bytes():
    nack = pdu.GenericNack(sequence_number=0x0A0B0C0D, command_status=CommandStatus.ESME_RINVCMDID)
    wire = bytes.fromhex("00000010 80000000 00000003 0A0B0C0D")
    assert codec.encode(nack) == wire
    assert codec.decode(wire) == nack


BIND_TRANSCEIVER_WIRE = bytes.fromhex(
    "0000002F"  # command_length 47 = 16 + 31
    "00000009"  # bind_transceiver
    "00000000"  # command_status
    "00000001"  # sequence_number
    "534D50503354455354 00"  # system_id 'SMPP3TEST'
    "7365637265743038 00"  # password 'secret08'
    "5355424D495431 00"  # system_type 'SUBMIT1'
    "34"  # interface_version 3.4
    "01"  # addr_ton international
    "01"  # addr_npi ISDN
    "00"  # address_range ''
)


def test_bind_transceiver_exact_bytes():
    p = pdu.BindTransceiver(
        sequence_number=1,
        system_id="SMPP3TEST",
        password="secret08",
        system_type="SUBMIT1",
        interface_version=0x34,
        addr_ton=1,
        addr_npi=1,
        address_range="",
    )
    assert codec.encode(p) == BIND_TRANSCEIVER_WIRE
    assert codec.decode(BIND_TRANSCEIVER_WIRE) == p


SUBMIT_SM_WIRE = bytes.fromhex(
    "00000044"  # command_length 68 = 16 + 46 body + 6 TLV
    "00000004"  # submit_sm
    "00000000"  # command_status
    "00000002"  # sequence_number
    "00"  # service_type ''
    "01 01 343437373030393030303031 00"  # source ton, npi, '447700900001'
    "01 01 343437373030393030303032 00"  # dest ton, npi, '447700900002'
    "00"  # esm_class
    "00"  # protocol_id
    "01"  # priority_flag
    "00"  # schedule_delivery_time ''
    "00"  # validity_period ''
    "01"  # registered_delivery
    "00"  # replace_if_present_flag
    "00"  # data_coding
    "00"  # sm_default_msg_id
    "05 48656C6C6F"  # sm_length 5, 'Hello'
    "020C 0002 1234"  # sar_msg_ref_num = 0x1234
)


def test_submit_sm_exact_bytes():
    p = pdu.SubmitSm(
        sequence_number=2,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="447700900001",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="447700900002",
        priority_flag=1,
        registered_delivery=1,
        short_message=b"Hello",
        tlvs=(Tlv(0x020C, 0x1234),),
    )
    assert codec.encode(p) == SUBMIT_SM_WIRE
    back = codec.decode(SUBMIT_SM_WIRE)
    assert back == p
    assert back.tlv("sar_msg_ref_num") == 0x1234
    # Without TLVs the PDU is six octets shorter and its length field says so.
    bare = codec.encode(p, with_tlvs=False)
    assert bare == struct.pack(">I", 62) + SUBMIT_SM_WIRE[4:62]


def test_submit_sm_with_times_exact_bytes():
    p = pdu.SubmitSm(
        sequence_number=3,
        schedule_delivery_time="240229103000004+",
        validity_period="000001000000000R",
        short_message=b"",
        tlvs=(Tlv(MESSAGE_PAYLOAD, b"\x00\xff"),),
    )
    wire = codec.encode(p)
    body = (
        b"\x00" + b"\x00\x00\x00" + b"\x00\x00\x00" + b"\x00\x00\x00"
        + b"240229103000004+\x00" + b"000001000000000R\x00"
        + b"\x00\x00\x00\x00" + b"\x00"
        + bytes.fromhex("0424 0002 00FF")
    )
    assert wire == struct.pack(">IIII", 16 + len(body), 4, 0, 3) + body
    assert codec.decode(wire) == p
    assert codec.decode(wire).payload == b"\x00\xff"


def test_submit_sm_resp_and_submit_multi_resp_exact_bytes():
    resp = pdu.SubmitSmResp(sequence_number=2, message_id="abc")
    assert codec.encode(resp) == bytes.fromhex("00000014 80000004 00000000 00000002 61626300")
    multi = pdu.SubmitMultiResp(
        sequence_number=5, message_id="m1", unsuccess_sme=(UnsuccessfulSme(1, 1, "44", 0x0B),)
    )
    assert codec.encode(multi) == bytes.fromhex(
        "0000001D 80000021 00000000 00000005" "6D3100" "01" "01 01 343400" "0000000B"
    )


def test_unknown_tlv_keeps_bytes_and_order():
    tlvs = (Tlv(0x1401, b"\x01\x02"), Tlv(0x0204, 7), Tlv(0x14FF, b""), Tlv(0x1401, b"\x03"))
    p = pdu.DataSm(sequence_number=4, tlvs=tlvs)
    back = codec.decode(codec.encode(p))
    assert back.tlvs == tlvs
    assert isinstance(back.tlvs[0].value, bytes)
    assert back.tlv(0x1401) == b"\x01\x02"  # first of a repeated tag


# --- encoder rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "p",
    [
        pytest.param(pdu.BindTransmitter(system_id="x" * 16), id="system_id-16-chars"),
        pytest.param(pdu.BindTransmitter(password="x" * 9), id="password-9-chars"),
        pytest.param(pdu.SubmitSm(service_type="CMTxxx"), id="service_type-6-chars"),
        pytest.param(pdu.SubmitSm(destination_addr="1" * 21), id="destination_addr-21-chars"),
        pytest.param(pdu.DataSm(source_addr="1" * 65), id="data_sm-source_addr-65-chars"),
        pytest.param(pdu.SubmitSmResp(message_id="m" * 65), id="message_id-65-chars"),
        pytest.param(pdu.SubmitSm(source_addr="12\x0034"), id="cstr-with-NUL"),
        pytest.param(pdu.SubmitSm(source_addr="\u20ac"), id="cstr-not-latin-1"),
        pytest.param(pdu.SubmitSm(schedule_delivery_time="2" * 17), id="time-17-chars"),
        pytest.param(pdu.SubmitSm(short_message=b"x" * 255), id="short_message-255-octets"),
        pytest.param(pdu.ReplaceSm(short_message=b"x" * 255), id="replace_sm-short_message-255"),
        pytest.param(pdu.SubmitSm(esm_class=256), id="u8-256"),
        pytest.param(pdu.BindTransceiver(interface_version=-1), id="u8-negative"),
        pytest.param(pdu.QuerySmResp(error_code=256), id="query_sm_resp-u8-256"),
        pytest.param(pdu.SubmitMulti(), id="submit_multi-no-destinations"),
        pytest.param(pdu.SubmitMulti(dest_addresses=(SmeAddress(1, 1, "1"),) * 255), id="submit_multi-255-dests"),
        pytest.param(pdu.SubmitMulti(dest_addresses=(DistributionList("d" * 21),)), id="dl_name-21-chars"),
        pytest.param(pdu.SubmitSm(tlvs=(Tlv(0x0204, 0x10000),)), id="int-tlv-too-large"),
        pytest.param(pdu.SubmitSm(tlvs=(Tlv(0x0423, b"\x01\x02"),)), id="octet-tlv-too-short"),
        pytest.param(pdu.SubmitSm(tlvs=(Tlv(0x001E, "m" * 65),)), id="cstr-tlv-too-long"),
        pytest.param(pdu.SubmitSm(tlvs=(Tlv(0x1400, 1.5),)), id="tlv-value-float"),
        pytest.param(pdu.SubmitSm(tlvs=(Tlv(0x10000, b""),)), id="tlv-tag-too-large"),
        pytest.param(pdu.EnquireLink(sequence_number=2**32), id="sequence_number-2**32"),
        pytest.param(pdu.EnquireLink(sequence_number=-1), id="sequence_number-negative"),
        pytest.param(pdu.SubmitSmResp(command_status=2**32), id="command_status-2**32"),
    ],
)
def test_encode_rejects_unencodable_values(p):
    with pytest.raises(PduEncodeError):
        codec.encode(p)


def test_encode_error_messages_name_the_field():
    with pytest.raises(PduEncodeError, match="system_id"):
        codec.encode(pdu.BindReceiver(system_id="s" * 16))
    with pytest.raises(PduEncodeError, match="short_message"):
        codec.encode(pdu.DeliverSm(short_message=bytes(255)))
    with pytest.raises(PduEncodeError, match="priority_flag"):
        codec.encode(pdu.SubmitSm(priority_flag=256))
    with pytest.raises(PduEncodeError, match="sequence_number"):
        codec.encode(pdu.SubmitSm(sequence_number=2**32))


def test_limits_are_inclusive_at_the_maximum():
    p = pdu.SubmitSm(
        service_type="CMT12",
        source_addr="1" * 20,
        destination_addr="2" * 20,
        short_message=bytes(range(254)),
        sequence_number=2**32 - 1,
        command_status=2**32 - 1,
        esm_class=255,
    )
    assert codec.decode(codec.encode(p)) == p
    big = pdu.DataSm(source_addr="a" * 64, destination_addr="b" * 64, tlvs=(Tlv(MESSAGE_PAYLOAD, bytes(65535)),))
    wire = codec.encode(big)
    assert len(wire) > 65536
    assert codec.decode(wire, max_command_length=len(wire)) == big


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (pdu.SubmitSm(priority_flag=5), "priority_flag"),
        (pdu.SubmitSm(replace_if_present_flag=2), "replace_if_present_flag"),
        (pdu.SubmitSm(validity_period="not a time 1234"), "validity_period"),
        (pdu.ReplaceSm(schedule_delivery_time="991332000000000+"), "schedule_delivery_time"),
        (pdu.SubmitSm(short_message=b"x", tlvs=(Tlv(0x0424, b"y"),)), "mutually exclusive"),
        (pdu.EnquireLink(tlvs=(Tlv(0x0204, 1),)), "takes no TLVs"),
    ],
)
def test_encoder_is_as_strict_as_the_decoder(bad: pdu.Pdu, words: str) -> None:
    with pytest.raises(codec.PduEncodeError, match=words):
        codec.encode(bad)
