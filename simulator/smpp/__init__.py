"""The SMPP wire protocol, sans-IO: typed PDUs, a strict codec and a per-connection session state machine."""

from .codec import PduEncodeError, PduError, decode, encode
from .constants import CommandId, CommandStatus, InterfaceVersion, MessageState, Npi, Ton, parse_status, status_name
from .pdu import *  # noqa: F403 - the PDU classes are this package's vocabulary
from .pdu import ALL_PDU_CLASSES, PDU_CLASS_BY_ID, Pdu
from .session import (
    Event,
    ProtocolError,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    ResponseTimeout,
    Role,
    Session,
    SessionConfig,
    SessionError,
    SessionState,
    StateChanged,
    TimerFired,
)
from .tlv import STANDARD_TLVS, TLV_BY_NAME, TLV_BY_TAG, Tlv, TlvSpec, tlv_tag
