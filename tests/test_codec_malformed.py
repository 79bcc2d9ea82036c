"""Malformed PDUs: each must be refused with the command_status and field the SMPP spec calls for.

The bytes are built by hand from the SMPP v3.4 / v5.0 layouts (not through the codec's encoder).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import pytest

from simulator.smpp import codec, pdu
from simulator.smpp.codec import PduError
from simulator.smpp.constants import DEFAULT_MAX_COMMAND_LENGTH, CommandId as C
from simulator.smpp.constants import CommandStatus as S

SEQ = 0x01020304

# --- byte builders ---------------------------------------------------------------------------


def header(command_id: int, body: bytes = b"", *, status: int = 0, seq: int = SEQ, length: int | None = None) -> bytes:
    """A PDU: 16-octet header (command_length defaults to the true length) followed by body."""
    return struct.pack(">IIII", 16 + len(body) if length is None else length, command_id, status, seq) + body


def cstr(text: str) -> bytes:
    return text.encode("latin-1") + b"\0"


def tlv(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">HH", tag, len(value) if length is None else length) + value


def _octets(value: str | int | bytes) -> bytes:
    """str -> C-string with NUL, int -> one octet, bytes -> as is (lets a test drop the NUL)."""
    if isinstance(value, str):
        return cstr(value)
    if isinstance(value, int):
        return bytes([value])
    return value


def layout(defaults: dict, upto: str | None = None, **changes) -> bytes:
    """The body for an ordered field layout, with changes, stopping before field `upto`."""
    values = {**defaults, **changes}
    if "sm_length" in values and values["sm_length"] is None:
        values["sm_length"] = len(values["short_message"])
    out = b""
    for name, value in values.items():
        if name == upto:
            break
        out += _octets(value)
    return out


BIND = dict(
    system_id="esme01",
    password="secret",
    system_type="",
    interface_version=0x34,
    addr_ton=0,
    addr_npi=0,
    address_range="",
)
MESSAGE_TAIL = dict(
    esm_class=0,
    protocol_id=0,
    priority_flag=0,
    schedule_delivery_time="",
    validity_period="",
    registered_delivery=0,
    replace_if_present_flag=0,
    data_coding=0,
    sm_default_msg_id=0,
    sm_length=None,
    short_message=b"hello",
)
SOURCE = dict(source_addr_ton=1, source_addr_npi=1, source_addr="447700900001")
SUBMIT_SM = dict(
    service_type="",
    **SOURCE,
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="447700900002",
    **MESSAGE_TAIL,
)
SUBMIT_MULTI = dict(service_type="", **SOURCE, number_of_dests=1, dest_addresses=b"", **MESSAGE_TAIL)
DATA_SM = dict(
    service_type="",
    **SOURCE,
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="447700900002",
    esm_class=0,
    registered_delivery=0,
    data_coding=0,
)
QUERY_SM = dict(message_id="msg-1", **SOURCE)
ALERT = dict(**SOURCE, esme_addr_ton=1, esme_addr_npi=1, esme_addr="12345")
BROADCAST_SM = dict(
    service_type="",
    **SOURCE,
    message_id="",
    priority_flag=0,
    schedule_delivery_time="",
    validity_period="",
    replace_if_present_flag=0,
    data_coding=0,
    sm_default_msg_id=0,
)
BROADCAST_TLVS = {
    "broadcast_area_identifier": tlv(0x0606, b"\x00\x01\x02"),
    "broadcast_content_type": tlv(0x0601, b"\x00\x00\x01"),
    "broadcast_rep_num": tlv(0x0604, b"\x00\x01"),
    "broadcast_frequency_interval": tlv(0x0605, b"\x09\x00\x05"),
}


def sme_dest(address: str | bytes, ton: int = 1, npi: int = 1) -> bytes:
    return bytes([1, ton, npi]) + _octets(address)


def dl_dest(name: str | bytes) -> bytes:
    return bytes([2]) + _octets(name)


def submit_sm(tlvs: bytes = b"", upto: str | None = None, **changes) -> bytes:
    return header(C.submit_sm, layout(SUBMIT_SM, upto, **changes) + tlvs)


def submit_multi(dests: bytes, count: int | None = None, tlvs: bytes = b"", **changes) -> bytes:
    body = layout(SUBMIT_MULTI, number_of_dests=1 if count is None else count, dest_addresses=dests, **changes)
    return header(C.submit_multi, body + tlvs)


def broadcast_sm(without: str | None = None, **changes) -> bytes:
    tlvs = b"".join(v for k, v in BROADCAST_TLVS.items() if k != without)
    return header(C.broadcast_sm, layout(BROADCAST_SM, **changes) + tlvs)


def bind(command_id: int = C.bind_transmitter, upto: str | None = None, **changes) -> bytes:
    return header(command_id, layout(BIND, upto, **changes))


GOOD_SUBMIT_SM = submit_sm()
FRIENDS = dl_dest("friends")

# --- the table -------------------------------------------------------------------------------


class Case(NamedTuple):
    id: str
    data: bytes
    status: int
    field: str
    fatal: bool = False
    max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH


CASES = [
    # Header and framing.
    Case("empty-input", b"", S.ESME_RINVCMDLEN, "command_length", fatal=True),
    Case("15-octets", header(C.enquire_link)[:15], S.ESME_RINVCMDLEN, "command_length", fatal=True),
    Case("command_length-0", header(C.enquire_link, length=0), S.ESME_RINVCMDLEN, "command_length", fatal=True),
    Case("command_length-15", header(C.enquire_link, length=15), S.ESME_RINVCMDLEN, "command_length", fatal=True),
    Case(
        "command_length-above-default-max",
        header(C.submit_sm, length=DEFAULT_MAX_COMMAND_LENGTH + 1),
        S.ESME_RINVCMDLEN,
        "command_length",
        fatal=True,
    ),
    Case(
        "command_length-above-custom-max",
        header(C.submit_sm, layout(SUBMIT_SM, short_message=b"x" * 100)),
        S.ESME_RINVCMDLEN,
        "command_length",
        fatal=True,
        max_command_length=100,
    ),
    Case("command_length-0xFFFFFFFF", header(C.enquire_link, length=0xFFFFFFFF), S.ESME_RINVCMDLEN, "command_length",
         fatal=True),
    Case("command_length-more-than-given", header(C.enquire_link, b"", length=30), S.ESME_RINVCMDLEN, "command_length"),
    Case("command_length-less-than-given", GOOD_SUBMIT_SM[:3] + b"\x10" + GOOD_SUBMIT_SM[4:], S.ESME_RINVCMDLEN,
         "command_length"),
    # Unknown command ids.
    Case("unknown-request-id", header(0x00000010), S.ESME_RINVCMDID, "command_id"),
    Case("unknown-response-id", header(0x80000010), S.ESME_RINVCMDID, "command_id"),
    Case("outbind-resp-does-not-exist", header(0x8000000B), S.ESME_RINVCMDID, "command_id"),
    Case("alert_notification-resp-does-not-exist", header(0x80000102), S.ESME_RINVCMDID, "command_id"),
    Case("v5-unknown-0x00000114", header(0x00000114, b"\0"), S.ESME_RINVCMDID, "command_id"),
    # Header-only PDUs given a body.
    Case("enquire_link-with-body", header(C.enquire_link, b"\0"), S.ESME_RINVCMDLEN, "command_length"),
    Case("unbind-with-body", header(C.unbind, b"\0\0\0\0"), S.ESME_RINVCMDLEN, "command_length"),
    Case("generic_nack-with-body", header(C.generic_nack, b"x", status=3), S.ESME_RINVCMDLEN, "command_length"),
    Case("enquire_link_resp-with-tlv", header(C.enquire_link_resp, tlv(0x1400, b"")), S.ESME_RINVCMDLEN,
         "command_length"),
    # bind_* C-strings and truncation.
    Case("bind-system_id-16", bind(system_id="s" * 16), S.ESME_RINVSYSID, "system_id"),
    Case("bind-system_id-no-NUL", header(C.bind_transmitter, b"esme01"), S.ESME_RINVCMDLEN, "system_id"),
    Case("bind_receiver-password-9", bind(C.bind_receiver, password="p" * 9), S.ESME_RINVPASWD, "password"),
    Case("bind-password-no-NUL", bind(upto="system_type", password=b"secret"), S.ESME_RINVCMDLEN, "password"),
    Case("bind_transceiver-system_type-13", bind(C.bind_transceiver, system_type="t" * 13), S.ESME_RINVSYSTYP,
         "system_type"),
    Case("bind-address_range-41", bind(address_range="1" * 41), S.ESME_RINVPARLEN, "address_range"),
    Case("bind-truncated-at-interface_version", bind(upto="interface_version"), S.ESME_RINVCMDLEN,
         "interface_version"),
    Case("bind-truncated-at-addr_npi", bind(upto="addr_npi"), S.ESME_RINVCMDLEN, "addr_npi"),
    Case("bind-truncated-at-address_range", bind(upto="address_range"), S.ESME_RINVCMDLEN, "address_range"),
    Case("bind-with-trailing-tlv", header(C.bind_transmitter, layout(BIND) + tlv(0x0210, b"\x34")),
         S.ESME_RINVCMDLEN, "command_length"),
    Case("outbind-password-9", header(C.outbind, cstr("smsc") + cstr("p" * 9)), S.ESME_RINVPASWD, "password"),
    Case("bind_transmitter_resp-system_id-16", header(C.bind_transmitter_resp, cstr("s" * 16)), S.ESME_RINVSYSID,
         "system_id"),
    # submit_sm C-strings.
    Case("submit_sm-service_type-6", submit_sm(service_type="CMTxxx"), S.ESME_RINVSERTYP, "service_type"),
    Case("submit_sm-source_addr-21", submit_sm(source_addr="1" * 21), S.ESME_RINVSRCADR, "source_addr"),
    Case("submit_sm-destination_addr-21", submit_sm(destination_addr="2" * 21), S.ESME_RINVDSTADR,
         "destination_addr"),
    Case("submit_sm-source_addr-no-NUL", submit_sm(upto="dest_addr_ton", source_addr=b"4477"), S.ESME_RINVCMDLEN,
         "source_addr"),
    Case("submit_sm-destination_addr-no-NUL", submit_sm(upto="esm_class", destination_addr=b"4477"),
         S.ESME_RINVCMDLEN, "destination_addr"),
    # submit_sm truncated u8 fields.
    Case("submit_sm-truncated-at-source_addr_ton", submit_sm(upto="source_addr_ton"), S.ESME_RINVCMDLEN,
         "source_addr_ton"),
    Case("submit_sm-truncated-at-source_addr_npi", submit_sm(upto="source_addr_npi"), S.ESME_RINVCMDLEN,
         "source_addr_npi"),
    Case("submit_sm-truncated-at-esm_class", submit_sm(upto="esm_class"), S.ESME_RINVCMDLEN, "esm_class"),
    Case("submit_sm-truncated-at-priority_flag", submit_sm(upto="priority_flag"), S.ESME_RINVCMDLEN, "priority_flag"),
    Case("submit_sm-truncated-at-data_coding", submit_sm(upto="data_coding"), S.ESME_RINVCMDLEN, "data_coding"),
    Case("submit_sm-truncated-at-sm_length", submit_sm(upto="sm_length"), S.ESME_RINVCMDLEN, "sm_length"),
    # short_message.
    Case("submit_sm-sm_length-past-end", submit_sm(sm_length=6), S.ESME_RINVMSGLEN, "sm_length"),
    Case("submit_sm-sm_length-255-past-end", submit_sm(sm_length=255, short_message=b"x" * 10), S.ESME_RINVMSGLEN,
         "sm_length"),
    Case("submit_sm-sm_length-255", submit_sm(short_message=b"x" * 255), S.ESME_RINVMSGLEN, "sm_length"),
    Case("deliver_sm-sm_length-past-end", header(C.deliver_sm, layout(SUBMIT_SM, sm_length=200)), S.ESME_RINVMSGLEN,
         "sm_length"),
    Case("submit_sm-short_message-and-message_payload", submit_sm(tlvs=tlv(0x0424, b"payload")), S.ESME_RINVMSGLEN,
         "short_message"),
    # Times.
    Case("schedule-13-chars", submit_sm(schedule_delivery_time="2401011200000"), S.ESME_RINVSCHED,
         "schedule_delivery_time"),
    Case("schedule-17-chars", submit_sm(schedule_delivery_time="24010112000000400"), S.ESME_RINVSCHED,
         "schedule_delivery_time"),
    Case("schedule-letters", submit_sm(schedule_delivery_time="24AB01120000004+"), S.ESME_RINVSCHED,
         "schedule_delivery_time"),
    Case("schedule-offset-49-quarters", submit_sm(schedule_delivery_time="240101120000049+"), S.ESME_RINVSCHED,
         "schedule_delivery_time"),
    Case("schedule-bad-sign", submit_sm(schedule_delivery_time="240101120000004X"), S.ESME_RINVSCHED,
         "schedule_delivery_time"),
    Case("validity-15-chars", submit_sm(validity_period="000001000000000"), S.ESME_RINVEXPIRY, "validity_period"),
    Case("validity-month-13", submit_sm(validity_period="241301120000004+"), S.ESME_RINVEXPIRY, "validity_period"),
    Case("validity-relative-not-000R", submit_sm(validity_period="000001000000100R"), S.ESME_RINVEXPIRY,
         "validity_period"),
    Case("replace_sm-schedule-feb-30", header(C.replace_sm, layout(
        dict(message_id="m1", **SOURCE, schedule_delivery_time="240230120000000+", validity_period="",
             registered_delivery=0, sm_default_msg_id=0, sm_length=None, short_message=b""))),
         S.ESME_RINVSCHED, "schedule_delivery_time"),
    Case("query_sm_resp-final_date-bad", header(C.query_sm_resp, cstr("m1") + cstr("bad") + b"\x02\x00"),
         S.ESME_RINVEXPIRY, "final_date"),
    # Flags.
    Case("submit_sm-priority_flag-5", submit_sm(priority_flag=5), S.ESME_RINVPRTFLG, "priority_flag"),
    Case("submit_sm-replace_if_present_flag-2", submit_sm(replace_if_present_flag=2), S.ESME_RINVREPFLAG,
         "replace_if_present_flag"),
    Case("broadcast_sm-priority_flag-255", broadcast_sm(priority_flag=255), S.ESME_RINVPRTFLG, "priority_flag"),
    # TLV stream.
    Case("tlv-header-truncated", submit_sm(tlvs=b"\x02\x04\x00"), S.ESME_RINVOPTPARSTREAM, "tlv"),
    Case("tlv-one-stray-octet", submit_sm(tlvs=tlv(0x0204, b"\x00\x01") + b"\x00"), S.ESME_RINVOPTPARSTREAM, "tlv"),
    Case("tlv-length-past-end", submit_sm(tlvs=tlv(0x0204, b"\x00\x01", length=3)), S.ESME_RINVOPTPARSTREAM,
         "user_message_reference"),
    Case("unknown-tlv-length-past-end", header(C.data_sm, layout(DATA_SM) + tlv(0x1400, b"abc", length=0xFFFF)),
         S.ESME_RINVOPTPARSTREAM, "tlv 0x1400"),
    Case("int-tlv-too-short", submit_sm(tlvs=tlv(0x020C, b"\x01")), S.ESME_RINVPARLEN, "sar_msg_ref_num"),
    Case("int-tlv-too-long", submit_sm(tlvs=tlv(0x0017, b"\x00\x00\x00\x00\x01")), S.ESME_RINVPARLEN,
         "qos_time_to_live"),
    Case("cstr-tlv-no-NUL", header(C.deliver_sm, layout(SUBMIT_SM) + tlv(0x001E, b"abc")), S.ESME_RINVPARLEN,
         "receipted_message_id"),
    Case("cstr-tlv-empty", header(C.deliver_sm, layout(SUBMIT_SM) + tlv(0x001E, b"")), S.ESME_RINVPARLEN,
         "receipted_message_id"),
    Case("cstr-tlv-too-long", header(C.deliver_sm, layout(SUBMIT_SM) + tlv(0x001E, cstr("m" * 65))),
         S.ESME_RINVPARLEN, "receipted_message_id"),
    Case("octet-tlv-too-short", submit_sm(tlvs=tlv(0x0381, b"\x01\x02\x03")), S.ESME_RINVPARLEN, "callback_num"),
    Case("octet-tlv-too-long", submit_sm(tlvs=tlv(0x0423, b"\x01\x02\x03\x04")), S.ESME_RINVPARLEN,
         "network_error_code"),
    # submit_multi destinations.
    Case("submit_multi-0-dests", submit_multi(b"", count=0), S.ESME_RINVNUMDESTS, "number_of_dests"),
    Case("submit_multi-255-dests", submit_multi(FRIENDS * 255, count=255), S.ESME_RINVNUMDESTS, "number_of_dests"),
    Case("submit_multi-dest_flag-0", submit_multi(b"\x00" + cstr("friends")), S.ESME_RINVDESTFLAG,
         "dest_address.dest_flag"),
    Case("submit_multi-dest_flag-3", submit_multi(b"\x03\x01\x01" + cstr("4477")), S.ESME_RINVDESTFLAG,
         "dest_address.dest_flag"),
    Case("submit_multi-dl_name-21", submit_multi(dl_dest("d" * 21)), S.ESME_RINVDLNAME, "dest_address.dl_name"),
    Case("submit_multi-sme-address-21", submit_multi(sme_dest("4" * 21)), S.ESME_RINVDSTADR,
         "dest_address.destination_addr"),
    Case("submit_multi-fewer-dests-than-counted",
         header(C.submit_multi, layout(SUBMIT_MULTI, upto="esm_class", number_of_dests=2, dest_addresses=FRIENDS)),
         S.ESME_RINVCMDLEN, "dest_address.dest_flag"),
    Case("submit_multi-truncated-at-number_of_dests",
         header(C.submit_multi, layout(SUBMIT_MULTI, upto="number_of_dests")), S.ESME_RINVCMDLEN, "number_of_dests"),
    Case("submit_multi_resp-truncated-error_status_code",
         header(C.submit_multi_resp, cstr("m1") + b"\x01\x01\x01" + cstr("4477") + b"\x00\x00"),
         S.ESME_RINVCMDLEN, "unsuccess_sme.error_status_code"),
    # broadcast_sm mandatory TLVs (v5.0).
    *(
        Case(f"broadcast_sm-missing-{name}", broadcast_sm(without=name), S.ESME_RMISSINGOPTPARAM, name)
        for name in BROADCAST_TLVS
    ),
    # query_sm / cancel_sm / data_sm / alert_notification.
    Case("query_sm-message_id-65", header(C.query_sm, layout(QUERY_SM, message_id="m" * 65)), S.ESME_RINVMSGID,
         "message_id"),
    Case("query_sm-trailing-octets", header(C.query_sm, layout(QUERY_SM) + b"\x00\x00"), S.ESME_RINVCMDLEN,
         "command_length"),
    Case("query_sm-trailing-tlv", header(C.query_sm, layout(QUERY_SM) + tlv(0x0204, b"\x00\x01")), S.ESME_RINVCMDLEN,
         "command_length"),
    Case("cancel_sm-message_id-65",
         header(C.cancel_sm, cstr("") + cstr("m" * 65) + layout(SOURCE) + b"\x01\x01" + cstr("4477")),
         S.ESME_RINVMSGID, "message_id"),
    Case("submit_sm_resp-message_id-65", header(C.submit_sm_resp, cstr("m" * 65)), S.ESME_RINVMSGID, "message_id"),
    Case("submit_sm_resp-ok-without-body", header(C.submit_sm_resp), S.ESME_RINVCMDLEN, "message_id"),
    Case("data_sm-source_addr-65", header(C.data_sm, layout(DATA_SM, source_addr="1" * 65)), S.ESME_RINVSRCADR,
         "source_addr"),
    Case("data_sm-destination_addr-65", header(C.data_sm, layout(DATA_SM, destination_addr="2" * 65)),
         S.ESME_RINVDSTADR, "destination_addr"),
    Case("data_sm-truncated-at-data_coding", header(C.data_sm, layout(DATA_SM, upto="data_coding")),
         S.ESME_RINVCMDLEN, "data_coding"),
    Case("alert_notification-truncated-at-esme_addr_ton", header(C.alert_notification, layout(ALERT, upto="esme_addr_ton")),
         S.ESME_RINVCMDLEN, "esme_addr_ton"),
    Case("alert_notification-esme_addr-no-NUL", header(C.alert_notification, layout(ALERT, esme_addr=b"123")),
         S.ESME_RINVCMDLEN, "esme_addr"),
    Case("alert_notification-source_addr-65", header(C.alert_notification, layout(ALERT, source_addr="1" * 65)),
         S.ESME_RINVSRCADR, "source_addr"),
]


def test_table_is_large_and_ids_unique():
    assert len(CASES) >= 45
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed(case: Case):
    with pytest.raises(PduError) as info:
        codec.decode(case.data, max_command_length=case.max_command_length)
    err = info.value
    assert (S(err.status).name, err.field) == (S(case.status).name, case.field), err.detail
    assert err.fatal is case.fatal
    assert err.detail
    if len(case.data) >= 16:
        command_id, _, seq = struct.unpack_from(">III", case.data, 4)
        assert err.sequence_number == seq == SEQ
        assert err.command_id == command_id
    else:
        assert err.sequence_number is None
        assert err.command_id is None


# --- things that must NOT be refused ---------------------------------------------------------

RESPONSES_WITH_BODY = [c for c in pdu.ALL_PDU_CLASSES if c.command_id & 0x80000000 and c.BODY]


@pytest.mark.parametrize("cls", RESPONSES_WITH_BODY, ids=lambda c: c.__name__)
@pytest.mark.parametrize("status", [S.ESME_RINVSRCADR, S.ESME_RTHROTTLED, 0xFFFFFFFF])
def test_error_response_with_empty_body_decodes(cls, status):
    got = codec.decode(header(cls.command_id, status=status))
    assert type(got) is cls
    assert got == cls(sequence_number=SEQ, command_status=status)


def test_error_response_with_explicit_body_decodes():
    got = codec.decode(header(C.submit_sm_resp, cstr(""), status=S.ESME_RSUBMITFAIL))
    assert got == pdu.SubmitSmResp(sequence_number=SEQ, command_status=S.ESME_RSUBMITFAIL)


def test_reference_pdus_decode():
    """The builders produce valid PDUs when nothing is broken, so each table row tests one defect."""
    got = codec.decode(GOOD_SUBMIT_SM)
    assert isinstance(got, pdu.SubmitSm)
    assert (got.source_addr, got.destination_addr, got.short_message) == ("447700900001", "447700900002", b"hello")
    assert codec.decode(bind()).system_id == "esme01"
    assert codec.decode(broadcast_sm()).tlv("broadcast_rep_num") == 1
    multi = codec.decode(submit_multi(sme_dest("4477") + FRIENDS, count=2))
    assert multi.dest_addresses == (pdu.SmeAddress(1, 1, "4477"), pdu.DistributionList("friends"))
    assert codec.decode(header(C.data_sm, layout(DATA_SM) + tlv(0x1400, b"abc"))).tlv(0x1400) == b"abc"
    assert codec.decode(header(C.query_sm, layout(QUERY_SM))).message_id == "msg-1"
    assert codec.decode(header(C.alert_notification, layout(ALERT))).esme_addr == "12345"
    at_limits = submit_sm(
        service_type="CMT12",
        source_addr="1" * 20,
        schedule_delivery_time="240101120000048-",
        validity_period="991100235959000R",
        short_message=b"x" * 254,
        priority_flag=4,
        replace_if_present_flag=1,
    )
    assert len(codec.decode(at_limits).short_message) == 254
    payload_only = codec.decode(submit_sm(short_message=b"", tlvs=tlv(0x0424, b"p" * 300)))
    assert payload_only.payload == b"p" * 300
    assert codec.decode(header(C.enquire_link, length=16), max_command_length=16) == pdu.EnquireLink(sequence_number=SEQ)


def test_each_reference_pdu_is_valid_before_tweaking():
    for data in (
        GOOD_SUBMIT_SM,
        bind(C.bind_receiver),
        bind(C.bind_transceiver),
        header(C.deliver_sm, layout(SUBMIT_SM)),
        header(C.data_sm, layout(DATA_SM)),
        header(C.cancel_sm, cstr("") + cstr("m1") + layout(SOURCE) + b"\x01\x01" + cstr("4477")),
        header(C.submit_multi_resp, cstr("m1") + b"\x01\x01\x01" + cstr("4477") + b"\x00\x00\x00\x0b"),
        header(C.query_sm_resp, cstr("m1") + cstr("") + b"\x02\x00"),
    ):
        decoded = codec.decode(data)
        assert codec.encode(decoded) == data
