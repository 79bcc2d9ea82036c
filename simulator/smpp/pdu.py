"""Typed, immutable SMPP PDUs: one frozen dataclass per operation, each listing its body layout."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from .constants import CommandId
from .constants import CommandStatus as S
from .tlv import Tlv, tlv_tag


_DEFAULTS: dict[type, dict[str, Any]] = {}


class Field(NamedTuple):
    """One mandatory body field: kind is u8, u16, u32, cstr, time, sm, dests or unsuccess.

    max_length counts the terminating NUL, as the specification's tables do; status is what a
    malformed value of this field is answered with.
    """

    name: str
    kind: str
    max_length: int = 0
    status: int = S.ESME_RINVCMDLEN


class SmeAddress(NamedTuple):
    """A submit_multi destination that is an SME address (dest_flag 1)."""

    ton: int
    npi: int
    address: str


class DistributionList(NamedTuple):
    """A submit_multi destination that is a distribution list name (dest_flag 2)."""

    name: str


class UnsuccessfulSme(NamedTuple):
    """One entry of submit_multi_resp's unsuccess_sme list."""

    ton: int
    npi: int
    address: str
    error_status_code: int


@dataclass(frozen=True, kw_only=True)
class Pdu:
    """Common header of every PDU; subclasses add their body fields."""

    command_id: ClassVar[int]
    BODY: ClassVar[tuple[Field, ...]] = ()
    ALLOWS_TLVS: ClassVar[bool] = True
    REQUIRED_TLVS: ClassVar[tuple[str, ...]] = ()
    RESPONSE: ClassVar[type[Pdu] | None] = None

    sequence_number: int = 0
    command_status: int = 0
    tlvs: tuple[Tlv, ...] = ()

    @property
    def command_name(self) -> str:
        """The operation's name, e.g. 'submit_sm'."""
        return CommandId(self.command_id).name

    @property
    def is_response(self) -> bool:
        """True for *_resp PDUs and generic_nack."""
        return bool(self.command_id & 0x80000000)

    def tlv(self, name_or_tag: str | int, default: Any = None) -> Any:
        """The value of the first TLV with this tag, or default."""
        tag = tlv_tag(name_or_tag)
        for item in self.tlvs:
            if item.tag == tag:
                return item.value
        return default

    def with_tlv(self, name_or_tag: str | int, value: int | str | bytes) -> Pdu:
        """A copy with the TLV set (replacing any with the same tag)."""
        tag = tlv_tag(name_or_tag)
        kept = tuple(t for t in self.tlvs if t.tag != tag)
        return dataclasses.replace(self, tlvs=kept + (Tlv(tag, value),))

    def with_sequence(self, sequence_number: int) -> Pdu:
        """A copy with another sequence_number (cheaper than replace(): done for every request sent)."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__["sequence_number"] = sequence_number
        return copy

    def replace(self, **changes: Any) -> Pdu:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **changes)

    def make_response(self, command_status: int = 0, **fields: Any) -> Pdu:
        """The response PDU to this request with the same sequence_number."""
        cls = self.RESPONSE
        if cls is None:
            raise TypeError(f"{self.command_name} has no response PDU")
        # Responses are built on every request, so skip the frozen dataclass __init__.
        defaults = _DEFAULTS.get(cls)
        if defaults is None:
            defaults = _DEFAULTS[cls] = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
        response = object.__new__(cls)
        values = response.__dict__
        values.update(defaults)
        if fields:
            for name in fields:
                if name not in defaults:
                    raise TypeError(f"{cls.__name__} has no field {name!r}")
            values.update(fields)
        values["sequence_number"] = self.sequence_number
        values["command_status"] = command_status
        return response

    @classmethod
    def build(cls, **fields: Any) -> Pdu:
        """The PDU with these fields (others at their defaults), made without the frozen dataclass __init__.

        For PDUs the simulator originates in bulk (receipts): the same object as cls(**fields), at a
        fraction of the cost. Unknown field names raise TypeError as the constructor would.
        """
        return cls.from_fields(fields)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Pdu:
        """As build(), from a dict of field values (which is not kept)."""
        defaults = _DEFAULTS.get(cls)
        if defaults is None:
            defaults = _DEFAULTS[cls] = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
        if not defaults.keys() >= fields.keys():
            unknown = sorted(fields.keys() - defaults.keys())
            raise TypeError(f"{cls.__name__} has no field {unknown[0]!r}")
        pdu = object.__new__(cls)
        values = pdu.__dict__
        values.update(defaults)
        values.update(fields)
        return pdu

    def fields(self) -> dict[str, Any]:
        """Body fields by name (without header and TLVs)."""
        return {f.name: getattr(self, f.name) for f in self.BODY}


# Field builders: max lengths include the NUL as in the spec tables.
def _u8(name: str, status: int = S.ESME_RINVCMDLEN) -> Field:
    return Field(name, "u8", 0, status)


def _cstr(name: str, max_length: int, status: int) -> Field:
    return Field(name, "cstr", max_length, status)


SERVICE_TYPE = _cstr("service_type", 6, S.ESME_RINVSERTYP)
SYSTEM_ID = _cstr("system_id", 16, S.ESME_RINVSYSID)
PASSWORD = _cstr("password", 9, S.ESME_RINVPASWD)
MESSAGE_ID = _cstr("message_id", 65, S.ESME_RINVMSGID)
SCHEDULE = Field("schedule_delivery_time", "time", 17, S.ESME_RINVSCHED)
VALIDITY = Field("validity_period", "time", 17, S.ESME_RINVEXPIRY)


def _source(max_length: int = 21) -> tuple[Field, ...]:
    return (
        _u8("source_addr_ton", S.ESME_RINVSRCTON),
        _u8("source_addr_npi", S.ESME_RINVSRCNPI),
        _cstr("source_addr", max_length, S.ESME_RINVSRCADR),
    )


def _destination(max_length: int = 21) -> tuple[Field, ...]:
    return (
        _u8("dest_addr_ton", S.ESME_RINVDSTTON),
        _u8("dest_addr_npi", S.ESME_RINVDSTNPI),
        _cstr("destination_addr", max_length, S.ESME_RINVDSTADR),
    )


BIND_BODY = (
    SYSTEM_ID,
    PASSWORD,
    _cstr("system_type", 13, S.ESME_RINVSYSTYP),
    _u8("interface_version"),
    _u8("addr_ton"),
    _u8("addr_npi"),
    _cstr("address_range", 41, S.ESME_RINVPARLEN),
)

MESSAGE_TAIL = (
    _u8("esm_class", S.ESME_RINVESMCLASS),
    _u8("protocol_id"),
    _u8("priority_flag", S.ESME_RINVPRTFLG),
    SCHEDULE,
    VALIDITY,
    _u8("registered_delivery", S.ESME_RINVREGDLVFLG),
    _u8("replace_if_present_flag", S.ESME_RINVREPFLAG),
    _u8("data_coding"),
    _u8("sm_default_msg_id", S.ESME_RINVDFTMSGID),
    Field("short_message", "sm", 255, S.ESME_RINVMSGLEN),
)


# --- responses -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GenericNack(Pdu):
    """generic_nack: the reply to a PDU whose header could not be accepted."""

    command_id: ClassVar[int] = CommandId.generic_nack
    ALLOWS_TLVS: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class _BindResp(Pdu):
    BODY: ClassVar[tuple[Field, ...]] = (SYSTEM_ID,)
    system_id: str = ""


@dataclass(frozen=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp."""

    command_id: ClassVar[int] = CommandId.bind_transmitter_resp


@dataclass(frozen=True, kw_only=True)
class BindReceiverResp(_BindResp):
    """bind_receiver_resp."""

    command_id: ClassVar[int] = CommandId.bind_receiver_resp


@dataclass(frozen=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp."""

    command_id: ClassVar[int] = CommandId.bind_transceiver_resp


@dataclass(frozen=True, kw_only=True)
class _EmptyResp(Pdu):
    ALLOWS_TLVS: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class UnbindResp(_EmptyResp):
    """unbind_resp."""

    command_id: ClassVar[int] = CommandId.unbind_resp


@dataclass(frozen=True, kw_only=True)
class EnquireLinkResp(_EmptyResp):
    """enquire_link_resp."""

    command_id: ClassVar[int] = CommandId.enquire_link_resp


@dataclass(frozen=True, kw_only=True)
class CancelSmResp(_EmptyResp):
    """cancel_sm_resp."""

    command_id: ClassVar[int] = CommandId.cancel_sm_resp


@dataclass(frozen=True, kw_only=True)
class ReplaceSmResp(_EmptyResp):
    """replace_sm_resp."""

    command_id: ClassVar[int] = CommandId.replace_sm_resp


@dataclass(frozen=True, kw_only=True)
class CancelBroadcastSmResp(_EmptyResp):
    """cancel_broadcast_sm_resp (v5.0)."""

    command_id: ClassVar[int] = CommandId.cancel_broadcast_sm_resp


@dataclass(frozen=True, kw_only=True)
class _MessageIdResp(Pdu):
    BODY: ClassVar[tuple[Field, ...]] = (MESSAGE_ID,)
    message_id: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmitSmResp(_MessageIdResp):
    """submit_sm_resp."""

    command_id: ClassVar[int] = CommandId.submit_sm_resp


@dataclass(frozen=True, kw_only=True)
class DeliverSmResp(_MessageIdResp):
    """deliver_sm_resp (message_id is unused and normally empty)."""

    command_id: ClassVar[int] = CommandId.deliver_sm_resp


@dataclass(frozen=True, kw_only=True)
class DataSmResp(_MessageIdResp):
    """data_sm_resp."""

    command_id: ClassVar[int] = CommandId.data_sm_resp


@dataclass(frozen=True, kw_only=True)
class BroadcastSmResp(_MessageIdResp):
    """broadcast_sm_resp (v5.0)."""

    command_id: ClassVar[int] = CommandId.broadcast_sm_resp


@dataclass(frozen=True, kw_only=True)
class QueryBroadcastSmResp(_MessageIdResp):
    """query_broadcast_sm_resp (v5.0); message_state and broadcast_area_* travel as TLVs."""

    command_id: ClassVar[int] = CommandId.query_broadcast_sm_resp


@dataclass(frozen=True, kw_only=True)
class SubmitMultiResp(Pdu):
    """submit_multi_resp with the destinations that failed."""

    command_id: ClassVar[int] = CommandId.submit_multi_resp
    BODY: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, Field("unsuccess_sme", "unsuccess", 0, S.ESME_RINVCMDLEN))
    message_id: str = ""
    unsuccess_sme: tuple[UnsuccessfulSme, ...] = ()


@dataclass(frozen=True, kw_only=True)
class QuerySmResp(Pdu):
    """query_sm_resp."""

    command_id: ClassVar[int] = CommandId.query_sm_resp
    ALLOWS_TLVS: ClassVar[bool] = False
    BODY: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        Field("final_date", "time", 17, S.ESME_RINVEXPIRY),
        _u8("message_state"),
        _u8("error_code"),
    )
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Bind(Pdu):
    BODY: ClassVar[tuple[Field, ...]] = BIND_BODY
    ALLOWS_TLVS: ClassVar[bool] = False
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, kw_only=True)
class BindTransmitter(_Bind):
    """bind_transmitter."""

    command_id: ClassVar[int] = CommandId.bind_transmitter
    RESPONSE: ClassVar[type[Pdu]] = BindTransmitterResp


@dataclass(frozen=True, kw_only=True)
class BindReceiver(_Bind):
    """bind_receiver."""

    command_id: ClassVar[int] = CommandId.bind_receiver
    RESPONSE: ClassVar[type[Pdu]] = BindReceiverResp


@dataclass(frozen=True, kw_only=True)
class BindTransceiver(_Bind):
    """bind_transceiver."""

    command_id: ClassVar[int] = CommandId.bind_transceiver
    RESPONSE: ClassVar[type[Pdu]] = BindTransceiverResp


@dataclass(frozen=True, kw_only=True)
class Outbind(Pdu):
    """outbind: the SMSC asks the ESME to bind_receiver back."""

    command_id: ClassVar[int] = CommandId.outbind
    BODY: ClassVar[tuple[Field, ...]] = (SYSTEM_ID, PASSWORD)
    ALLOWS_TLVS: ClassVar[bool] = False
    system_id: str = ""
    password: str = ""


@dataclass(frozen=True, kw_only=True)
class Unbind(Pdu):
    """unbind."""

    command_id: ClassVar[int] = CommandId.unbind
    ALLOWS_TLVS: ClassVar[bool] = False
    RESPONSE: ClassVar[type[Pdu]] = UnbindResp


@dataclass(frozen=True, kw_only=True)
class EnquireLink(Pdu):
    """enquire_link."""

    command_id: ClassVar[int] = CommandId.enquire_link
    ALLOWS_TLVS: ClassVar[bool] = False
    RESPONSE: ClassVar[type[Pdu]] = EnquireLinkResp


@dataclass(frozen=True, kw_only=True)
class _MessageFields(Pdu):
    """Fields shared by submit_sm, deliver_sm and submit_multi; the wire order is each class's BODY."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def payload(self) -> bytes:
        """The message octets: message_payload when present, short_message otherwise."""
        value = self.tlv(0x0424)
        return self.short_message if value is None else value


@dataclass(frozen=True, kw_only=True)
class _ShortMessage(_MessageFields):
    BODY: ClassVar[tuple[Field, ...]] = (SERVICE_TYPE, *_source(), *_destination(), *MESSAGE_TAIL)
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmitSm(_ShortMessage):
    """submit_sm."""

    command_id: ClassVar[int] = CommandId.submit_sm
    RESPONSE: ClassVar[type[Pdu]] = SubmitSmResp


@dataclass(frozen=True, kw_only=True)
class DeliverSm(_ShortMessage):
    """deliver_sm (MO messages and delivery receipts)."""

    command_id: ClassVar[int] = CommandId.deliver_sm
    RESPONSE: ClassVar[type[Pdu]] = DeliverSmResp


@dataclass(frozen=True, kw_only=True)
class SubmitMulti(_MessageFields):
    """submit_multi to SME addresses and distribution lists."""

    command_id: ClassVar[int] = CommandId.submit_multi
    RESPONSE: ClassVar[type[Pdu]] = SubmitMultiResp
    BODY: ClassVar[tuple[Field, ...]] = (
        SERVICE_TYPE,
        *_source(),
        Field("dest_addresses", "dests", 0, S.ESME_RINVNUMDESTS),
        *MESSAGE_TAIL,
    )
    dest_addresses: tuple[SmeAddress | DistributionList, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DataSm(Pdu):
    """data_sm (either direction)."""

    command_id: ClassVar[int] = CommandId.data_sm
    RESPONSE: ClassVar[type[Pdu]] = DataSmResp
    BODY: ClassVar[tuple[Field, ...]] = (
        SERVICE_TYPE,
        *_source(65),
        *_destination(65),
        _u8("esm_class", S.ESME_RINVESMCLASS),
        _u8("registered_delivery", S.ESME_RINVREGDLVFLG),
        _u8("data_coding"),
    )
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0

    @property
    def payload(self) -> bytes:
        """The message octets carried in message_payload (empty when absent)."""
        return self.tlv(0x0424, b"")


@dataclass(frozen=True, kw_only=True)
class QuerySm(Pdu):
    """query_sm."""

    command_id: ClassVar[int] = CommandId.query_sm
    RESPONSE: ClassVar[type[Pdu]] = QuerySmResp
    ALLOWS_TLVS: ClassVar[bool] = False
    BODY: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, *_source())
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class CancelSm(Pdu):
    """cancel_sm."""

    command_id: ClassVar[int] = CommandId.cancel_sm
    RESPONSE: ClassVar[type[Pdu]] = CancelSmResp
    ALLOWS_TLVS: ClassVar[bool] = False
    BODY: ClassVar[tuple[Field, ...]] = (SERVICE_TYPE, MESSAGE_ID, *_source(), *_destination())
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class ReplaceSm(Pdu):
    """replace_sm (v5.0 also allows message_payload as a TLV)."""

    command_id: ClassVar[int] = CommandId.replace_sm
    RESPONSE: ClassVar[type[Pdu]] = ReplaceSmResp
    BODY: ClassVar[tuple[Field, ...]] = (
        MESSAGE_ID,
        *_source(),
        SCHEDULE,
        VALIDITY,
        _u8("registered_delivery", S.ESME_RINVREGDLVFLG),
        _u8("sm_default_msg_id", S.ESME_RINVDFTMSGID),
        Field("short_message", "sm", 255, S.ESME_RINVMSGLEN),
    )
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, kw_only=True)
class AlertNotification(Pdu):
    """alert_notification: the SMSC tells the ESME a handset is available again."""

    command_id: ClassVar[int] = CommandId.alert_notification
    BODY: ClassVar[tuple[Field, ...]] = (
        *_source(65),
        _u8("esme_addr_ton", S.ESME_RINVDSTTON),
        _u8("esme_addr_npi", S.ESME_RINVDSTNPI),
        _cstr("esme_addr", 65, S.ESME_RINVDSTADR),
    )
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class BroadcastSm(Pdu):
    """broadcast_sm (v5.0 cell broadcast)."""

    command_id: ClassVar[int] = CommandId.broadcast_sm
    RESPONSE: ClassVar[type[Pdu]] = BroadcastSmResp
    REQUIRED_TLVS: ClassVar[tuple[str, ...]] = (
        "broadcast_area_identifier",
        "broadcast_content_type",
        "broadcast_rep_num",
        "broadcast_frequency_interval",
    )
    BODY: ClassVar[tuple[Field, ...]] = (
        SERVICE_TYPE,
        *_source(),
        MESSAGE_ID,
        _u8("priority_flag", S.ESME_RINVPRTFLG),
        SCHEDULE,
        VALIDITY,
        _u8("replace_if_present_flag", S.ESME_RINVREPFLAG),
        _u8("data_coding"),
        _u8("sm_default_msg_id", S.ESME_RINVDFTMSGID),
    )
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    message_id: str = ""
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0


@dataclass(frozen=True, kw_only=True)
class QueryBroadcastSm(Pdu):
    """query_broadcast_sm (v5.0)."""

    command_id: ClassVar[int] = CommandId.query_broadcast_sm
    RESPONSE: ClassVar[type[Pdu]] = QueryBroadcastSmResp
    BODY: ClassVar[tuple[Field, ...]] = (MESSAGE_ID, *_source())
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class CancelBroadcastSm(Pdu):
    """cancel_broadcast_sm (v5.0)."""

    command_id: ClassVar[int] = CommandId.cancel_broadcast_sm
    RESPONSE: ClassVar[type[Pdu]] = CancelBroadcastSmResp
    BODY: ClassVar[tuple[Field, ...]] = (SERVICE_TYPE, MESSAGE_ID, *_source())
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


ALL_PDU_CLASSES: tuple[type[Pdu], ...] = (
    GenericNack,
    BindTransmitter,
    BindTransmitterResp,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    SubmitSm,
    SubmitSmResp,
    SubmitMulti,
    SubmitMultiResp,
    DeliverSm,
    DeliverSmResp,
    DataSm,
    DataSmResp,
    QuerySm,
    QuerySmResp,
    CancelSm,
    CancelSmResp,
    ReplaceSm,
    ReplaceSmResp,
    AlertNotification,
    BroadcastSm,
    BroadcastSmResp,
    QueryBroadcastSm,
    QueryBroadcastSmResp,
    CancelBroadcastSm,
    CancelBroadcastSmResp,
)

PDU_CLASS_BY_ID: dict[int, type[Pdu]] = {cls.command_id: cls for cls in ALL_PDU_CLASSES}
BIND_CLASSES = (BindTransmitter, BindReceiver, BindTransceiver)
