"""Tagged optional parameters (TLVs): the standard table of SMPP v3.4 and v5.0, and the Tlv value type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Tlv(NamedTuple):
    """One TLV as carried in a PDU: int for integer TLVs, str for C-string TLVs, bytes otherwise."""

    tag: int
    value: int | str | bytes

    @property
    def name(self) -> str:
        """The standard name of the tag, or its hex form for a vendor or unknown tag."""
        spec = TLV_BY_TAG.get(self.tag)
        return spec.name if spec else f"0x{self.tag:04X}"


@dataclass(frozen=True)
class TlvSpec:
    """How a standard TLV is typed: 'int' (size octets), 'cstr' (max octets with NUL) or 'octets'."""

    tag: int
    name: str
    kind: str
    min_length: int
    max_length: int


def tlv_value(spec: TlvSpec, value: object) -> int | str | bytes:
    """A value written in YAML or JSON as the TLV's kind wants it: an int (a numeric string too), a str, or bytes (text as Latin-1)."""
    if spec.kind == "int":
        return int(value, 0) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    if spec.kind == "cstr":
        return str(value)
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]


def _int(tag: int, name: str, size: int) -> TlvSpec:
    return TlvSpec(tag, name, "int", size, size)


def _cstr(tag: int, name: str, max_length: int) -> TlvSpec:
    return TlvSpec(tag, name, "cstr", 1, max_length)


def _octets(tag: int, name: str, min_length: int, max_length: int) -> TlvSpec:
    return TlvSpec(tag, name, "octets", min_length, max_length)


# v3.4 section 5.3.2 and v5.0 section 4.8.4; lengths are the spec's, octets unless said.
STANDARD_TLVS: tuple[TlvSpec, ...] = (
    _int(0x0005, "dest_addr_subunit", 1),
    _int(0x0006, "dest_network_type", 1),
    _int(0x0007, "dest_bearer_type", 1),
    _int(0x0008, "dest_telematics_id", 2),
    _int(0x000D, "source_addr_subunit", 1),
    _int(0x000E, "source_network_type", 1),
    _int(0x000F, "source_bearer_type", 1),
    _int(0x0010, "source_telematics_id", 1),
    _int(0x0017, "qos_time_to_live", 4),
    _int(0x0019, "payload_type", 1),
    _cstr(0x001D, "additional_status_info_text", 256),
    _cstr(0x001E, "receipted_message_id", 65),
    _int(0x0030, "ms_msg_wait_facilities", 1),
    _int(0x0201, "privacy_indicator", 1),
    _octets(0x0202, "source_subaddress", 2, 23),
    _octets(0x0203, "dest_subaddress", 2, 23),
    _int(0x0204, "user_message_reference", 2),
    _int(0x0205, "user_response_code", 1),
    _int(0x020A, "source_port", 2),
    _int(0x020B, "destination_port", 2),
    _int(0x020C, "sar_msg_ref_num", 2),
    _int(0x020D, "language_indicator", 1),
    _int(0x020E, "sar_total_segments", 1),
    _int(0x020F, "sar_segment_seqnum", 1),
    _int(0x0210, "sc_interface_version", 1),
    _int(0x0302, "callback_num_pres_ind", 1),
    _octets(0x0303, "callback_num_atag", 0, 65),
    _int(0x0304, "number_of_messages", 1),
    _octets(0x0381, "callback_num", 4, 19),
    _int(0x0420, "dpf_result", 1),
    _int(0x0421, "set_dpf", 1),
    _int(0x0422, "ms_availability_status", 1),
    _octets(0x0423, "network_error_code", 3, 3),
    _octets(0x0424, "message_payload", 0, 65535),
    _int(0x0425, "delivery_failure_reason", 1),
    _int(0x0426, "more_messages_to_send", 1),
    _int(0x0427, "message_state", 1),
    _int(0x0428, "congestion_state", 1),
    _int(0x0501, "ussd_service_op", 1),
    _int(0x0600, "broadcast_channel_indicator", 1),
    _octets(0x0601, "broadcast_content_type", 3, 3),
    _octets(0x0602, "broadcast_content_type_info", 0, 255),
    _int(0x0603, "broadcast_message_class", 1),
    _int(0x0604, "broadcast_rep_num", 2),
    _octets(0x0605, "broadcast_frequency_interval", 3, 3),
    _octets(0x0606, "broadcast_area_identifier", 1, 65535),
    _int(0x0607, "broadcast_error_status", 4),
    _int(0x0608, "broadcast_area_success", 1),
    _cstr(0x0609, "broadcast_end_time", 17),
    _octets(0x060A, "broadcast_service_group", 0, 255),
    _octets(0x060B, "billing_identification", 0, 1024),
    _cstr(0x060D, "source_network_id", 65),
    _cstr(0x060E, "dest_network_id", 65),
    _octets(0x060F, "source_node_id", 6, 6),
    _octets(0x0610, "dest_node_id", 6, 6),
    _int(0x0611, "dest_addr_np_resolution", 1),
    _octets(0x0612, "dest_addr_np_information", 10, 10),
    _octets(0x0613, "dest_addr_np_country", 1, 5),
    _int(0x1201, "display_time", 1),
    _int(0x1203, "sms_signal", 2),
    _octets(0x1204, "ms_validity", 1, 4),
    _octets(0x130C, "alert_on_message_delivery", 0, 1),
    _int(0x1380, "its_reply_type", 1),
    _octets(0x1383, "its_session_info", 2, 2),
)

TLV_BY_TAG: dict[int, TlvSpec] = {spec.tag: spec for spec in STANDARD_TLVS}
TLV_BY_NAME: dict[str, TlvSpec] = {spec.name: spec for spec in STANDARD_TLVS}


def tlv_tag(name_or_tag: str | int) -> int:
    """The numeric tag of a TLV given by standard name or number."""
    if isinstance(name_or_tag, int):
        return name_or_tag
    try:
        return TLV_BY_NAME[name_or_tag].tag
    except KeyError:
        raise KeyError(f"unknown TLV name {name_or_tag!r}") from None
