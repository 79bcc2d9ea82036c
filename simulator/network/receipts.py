"""Delivery receipts: the status vocabularies, receipt dialects, the receipt text and the receipt PDU.

Pure domain logic: no I/O, no clock, no randomness. The lifecycle engine decides *when* a receipt
is due (wants_receipt) and this module decides *what it looks like* (build_receipt).

The receipt text is the de facto format of SMPP v3.4 Appendix B (not normative, but what almost
every SMSC sends and every ESME parses):

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...

Vocabulary choices (the table itself is STATUSES; vocabulary_table_markdown() renders it):

* stat: the seven-letter codes of Appendix B (DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN,
  REJECTD), ENROUTE for the intermediate state, SKIPPED for the v5.0 state of that name. SCHEDULED
  (added in v5.0) is shown as ENROUTE: v5.0 itself notes that v3.4 MCs report scheduled messages as
  ENROUTE, and ESMEs such as Kannel treat any stat they do not know (e.g. 'SCHEDLD') as a failure.
  state_from_stat still reads SCHEDLD/SCHEDULED back as SCHEDULED.
* final: SCHEDULED, ENROUTE and ACCEPTED are not final. v5.0 lists ACCEPTED as final (manually
  accepted by customer care), but in practice ACCEPTD means "accepted by the network, outcome
  pending" and Kannel files it as buffered; UNKNOWN (v5.0: "N/A") is final because no receipt follows.
* oneapi: GSMA OneAPI deliveryStatus. ACCEPTED is DeliveredToNetwork (it left the SMSC, no handset
  confirmation), SCHEDULED/ENROUTE MessageWaiting, UNKNOWN DeliveryUncertain, the other failures
  DeliveryImpossible.
* numeric: Kannel dlr types as Kannel derives them from a receipt: 1 delivered, 2 failed, 4 buffered.
  Kannel's 8 (accepted by SMSC) and 16 (rejected by SMSC) come from submit_sm_resp, never from a
  receipt, so no message_state maps to them; REJECTED and UNKNOWN are 2 as in Kannel.
* simple: a six-word vocabulary for dashboards; SKIPPED (accepted, deliberately not sent) is REJECTED.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone

from ..smpp.constants import EsmClass, MessageState, RegisteredDelivery
from ..smpp.pdu import DataSm, DeliverSm
from ..smpp.tlv import Tlv, tlv_tag

ID_FORMATS = ("same", "hex", "decimal", "hex_upper", "zero_padded", "uuid")
ID_SOURCES = ("auto", "hex", "decimal")
TEXT_LABELS = ("text", "Text")
CONTENT_MODES = ("text_and_tlvs", "text_only", "tlvs_only")
COMMANDS = ("deliver_sm", "data_sm")
MAX_TEXT_LENGTH = 100
MAX_SHORT_MESSAGE = 254
MAX_RECEIPTED_ID = 64  # receipted_message_id is a C-string of at most 65 octets with its NUL
GSM_NETWORK_TYPE = 3

RECEIPTED_MESSAGE_ID = tlv_tag("receipted_message_id")
MESSAGE_STATE = tlv_tag("message_state")
NETWORK_ERROR_CODE = tlv_tag("network_error_code")
MESSAGE_PAYLOAD = tlv_tag("message_payload")


@dataclass(frozen=True)
class StatusNames:
    """How one message_state is named in each receipt vocabulary, and whether it is final."""

    stat: str
    oneapi: str
    numeric: int
    simple: str
    final: bool


_S = StatusNames
STATUSES: dict[MessageState, StatusNames] = {
    MessageState.SCHEDULED: _S("ENROUTE", "MessageWaiting", 4, "NEW", False),
    MessageState.ENROUTE: _S("ENROUTE", "MessageWaiting", 4, "PENDING", False),
    MessageState.DELIVERED: _S("DELIVRD", "DeliveredToTerminal", 1, "DELIVERED", True),
    MessageState.EXPIRED: _S("EXPIRED", "DeliveryImpossible", 2, "EXPIRED", True),
    MessageState.DELETED: _S("DELETED", "DeliveryImpossible", 2, "REJECTED", True),
    MessageState.UNDELIVERABLE: _S("UNDELIV", "DeliveryImpossible", 2, "UNDELIVERABLE", True),
    MessageState.ACCEPTED: _S("ACCEPTD", "DeliveredToNetwork", 4, "PENDING", False),
    MessageState.UNKNOWN: _S("UNKNOWN", "DeliveryUncertain", 2, "UNDELIVERABLE", True),
    MessageState.REJECTED: _S("REJECTD", "DeliveryImpossible", 2, "REJECTED", True),
    MessageState.SKIPPED: _S("SKIPPED", "DeliveryImpossible", 2, "REJECTED", True),
}
del _S

# Spellings seen in the wild besides our own; BUFFRED/BUFFERD/ACKED are the ones Kannel accepts.
_STAT_VARIANTS: dict[str, MessageState] = {
    "SCHEDLD": MessageState.SCHEDULED,
    "SCHEDULED": MessageState.SCHEDULED,
    "ENROUTE": MessageState.ENROUTE,
    "BUFFRED": MessageState.ENROUTE,
    "BUFFERD": MessageState.ENROUTE,
    "BUFFERED": MessageState.ENROUTE,
    "DELIVRD": MessageState.DELIVERED,
    "DELIVERD": MessageState.DELIVERED,
    "DELIVERED": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "UNDELIVERED": MessageState.UNDELIVERABLE,
    "FAILED": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "ACCEPTED": MessageState.ACCEPTED,
    "ACKED": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "REJECTED": MessageState.REJECTED,
    "SKIPPED": MessageState.SKIPPED,
}


def status_names(state: MessageState | int) -> StatusNames:
    """The vocabulary entry of a message_state (ValueError for a value outside 0..9)."""
    # IntEnum members hash like their ints: a direct lookup spares the enum call on every receipt.
    names = STATUSES.get(state)
    return names if names is not None else STATUSES[MessageState(state)]


def state_from_stat(stat: str) -> MessageState:
    """The message_state a receipt 'stat:' code stands for, common variants included."""
    key = stat.strip().upper()
    try:
        return _STAT_VARIANTS[key]
    except KeyError:
        raise ValueError(f"unknown receipt stat {stat!r}") from None


def vocabulary_table_markdown() -> str:
    """The STATUSES table as Markdown, for the README."""
    lines = [
        "| message_state | value | stat | OneAPI | numeric (Kannel) | simple | final |",
        "|---|---|---|---|---|---|---|",
    ]
    for state, names in STATUSES.items():
        lines.append(
            f"| {state.name} | {int(state)} | {names.stat} | {names.oneapi} | {names.numeric} "
            f"| {names.simple} | {'yes' if names.final else 'no'} |"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ReceiptDialect:
    """How an account wants its receipts: id format, date precision, text label, content, segmenting."""

    id_format: str = "same"
    dates_with_seconds: bool = False
    text_label: str = "text"
    content: str = "text_and_tlvs"
    # True: every segment's submit_sm gets its own receipt (what SMPP SMSCs do); False: one receipt for a
    # concatenated message, sent for the part that completed it.
    per_segment: bool = True
    text_length: int = 20

    def __post_init__(self) -> None:
        if self.id_format not in ID_FORMATS:
            raise ValueError(f"id_format: must be one of {', '.join(ID_FORMATS)}, got {self.id_format!r}")
        if not isinstance(self.dates_with_seconds, bool):
            raise ValueError(f"dates_with_seconds: must be true or false, got {self.dates_with_seconds!r}")
        if self.text_label not in TEXT_LABELS:
            raise ValueError(f"text_label: must be one of {', '.join(TEXT_LABELS)}, got {self.text_label!r}")
        if self.content not in CONTENT_MODES:
            raise ValueError(f"content: must be one of {', '.join(CONTENT_MODES)}, got {self.content!r}")
        if not isinstance(self.per_segment, bool):
            raise ValueError(f"per_segment: must be true or false, got {self.per_segment!r}")
        # bool is an int subclass; True as a length is always a configuration mistake.
        if isinstance(self.text_length, bool) or not isinstance(self.text_length, int):
            raise ValueError(f"text_length: must be an integer, got {self.text_length!r}")
        if not 0 <= self.text_length <= MAX_TEXT_LENGTH:
            # Past 100 characters the text no longer fits short_message next to a 64-character id.
            raise ValueError(f"text_length: must be 0..{MAX_TEXT_LENGTH}, got {self.text_length}")


DIALECTS: dict[str, ReceiptDialect] = {
    "standard": ReceiptDialect(),
    "seconds": ReceiptDialect(dates_with_seconds=True),
    "tlv_only": ReceiptDialect(content="tlvs_only"),
    "text_only": ReceiptDialect(content="text_only"),
    "decimal_ids": ReceiptDialect(id_format="decimal"),
    "per_segment": ReceiptDialect(per_segment=True),
    "whole_message": ReceiptDialect(per_segment=False),
    "capital_text": ReceiptDialect(text_label="Text"),
}

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Explicit patterns because int() would also accept '0x', '_', signs and surrounding blanks.
_HEX = re.compile(r"[0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]+")


def convert_message_id(message_id: str, id_format: str, *, source: str = "auto") -> str:
    """The submit_sm_resp message_id as a receipt shows it in id_format (ValueError if impossible)."""
    if id_format not in ID_FORMATS:
        raise ValueError(f"id_format: must be one of {', '.join(ID_FORMATS)}, got {id_format!r}")
    if source not in ID_SOURCES:
        raise ValueError(f"source: must be one of {', '.join(ID_SOURCES)}, got {source!r}")
    if id_format in ("same", "uuid") or _UUID.fullmatch(message_id):
        return message_id
    if source == "auto":
        # Like Kannel's smpp-msg-id-type: a decimal receipt implies a hex submit_sm_resp id and a
        # hex receipt a decimal one. An id with hex letters cannot be decimal, so it is taken as hex.
        if id_format in ("decimal", "zero_padded") or not _DECIMAL.fullmatch(message_id):
            source = "hex"
        else:
            source = "decimal"
    pattern, base = (_HEX, 16) if source == "hex" else (_DECIMAL, 10)
    if not pattern.fullmatch(message_id):
        raise ValueError(f"message id {message_id!r} is not a {source} number, cannot show it as {id_format}")
    value = int(message_id, base)
    if id_format == "hex":
        return f"{value:x}"
    if id_format == "hex_upper":
        return f"{value:X}"
    if id_format == "zero_padded":
        return f"{value:010d}"
    return str(value)


# Printable ASCII characters that have the same code in the GSM 03.38 default alphabet, so the text
# reads the same whether the ESME decodes data_coding 0 as GSM or as ASCII ('$', '@', '_' do not).
_GSM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#%&'()*+,-./:;<=>?")


def _safe_char(char: str) -> str:
    if char in _GSM_SAFE:
        return char
    # Keep accented letters readable ('é' -> 'e'); one character out per character in.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if len(base) == 1 and base in _GSM_SAFE else "?"


def _safe_text(text: str) -> str:
    if _ALL_SAFE.issuperset(text):  # the common case, without a call per character
        return text
    return "".join(_safe_char(c) for c in text)


_ALL_SAFE = frozenset(_GSM_SAFE)


def _receipt_time(moment: datetime | float, with_seconds: bool) -> str:
    if type(moment) is float or type(moment) is int:
        return _receipt_time_of(moment, with_seconds)  # type: ignore[arg-type]
    if moment.tzinfo is None:  # type: ignore[union-attr]
        raise ValueError("receipt dates need aware datetimes (they are shown in UTC)")
    u = moment.astimezone(timezone.utc)  # type: ignore[union-attr]
    minutes = f"{u.year % 100:02d}{u.month:02d}{u.day:02d}{u.hour:02d}{u.minute:02d}"
    return f"{minutes}{u.second:02d}" if with_seconds else minutes


_TIMES: dict[tuple[int, bool], str] = {}  # receipt dates by whole UTC second: receipts come in bursts


def _receipt_time_of(timestamp: float, with_seconds: bool) -> str:
    """The receipt date of a UNIX timestamp, as _receipt_time shows datetime.fromtimestamp(timestamp, UTC)."""
    second = int(timestamp)
    if timestamp < 0 or timestamp - second >= 0.9999995:
        # fromtimestamp rounds to the microsecond, which can carry into the next second: let it decide.
        return _receipt_time(datetime.fromtimestamp(timestamp, tz=timezone.utc), with_seconds)
    key = (second, with_seconds)
    shown = _TIMES.get(key)
    if shown is None:
        if len(_TIMES) > 4096:
            _TIMES.clear()
        shown = _TIMES[key] = _receipt_time(datetime.fromtimestamp(second, tz=timezone.utc), with_seconds)
    return shown


_THREE_DIGITS = tuple(f"{value:03d}" for value in range(1000))


def _three_digits(name: str, value: int) -> str:
    if type(value) is int and 0 <= value <= 999:
        return _THREE_DIGITS[value]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 999:
        raise ValueError(f"{name}: must be an integer 0..999 (three digits in the receipt), got {value!r}")
    return f"{value:03d}"


def format_receipt_text(
    message_id: str,
    *,
    submitted_at: datetime | float,
    done_at: datetime | float,
    state: MessageState,
    error_code: int,
    text: str,
    submitted: int = 1,
    delivered: int | None = None,
    dialect: ReceiptDialect = ReceiptDialect(),
) -> str:
    """The Appendix B receipt text 'id:... sub:... dlvrd:... submit date:... stat:... err:... text:...' (dates as aware datetimes or UNIX timestamps)."""
    names = status_names(state)
    if delivered is None:
        # 'All of them' rather than a literal 1, so that sub and dlvrd agree when sub is not 1.
        delivered = submitted if state == MessageState.DELIVERED else 0
    shown_id = convert_message_id(message_id, dialect.id_format)
    return (
        f"id:{shown_id} sub:{_three_digits('submitted', submitted)} dlvrd:{_three_digits('delivered', delivered)}"
        f" submit date:{_receipt_time(submitted_at, dialect.dates_with_seconds)}"
        f" done date:{_receipt_time(done_at, dialect.dates_with_seconds)}"
        f" stat:{names.stat} err:{_three_digits('error_code', error_code)}"
        f" {dialect.text_label}:{_safe_text(text[: dialect.text_length])}"
    )


_RECEIPT = re.compile(
    r"id:(?P<id>\S*) +sub:(?P<sub>\d+) +dlvrd:(?P<dlvrd>\d+)"
    r" +submit date:(?P<submit_date>\d{12}|\d{10}) +done date:(?P<done_date>\d{12}|\d{10})"
    r" +stat:(?P<stat>\S+) +err:(?P<err>\S+)(?: +[Tt]ext:(?P<text>.*))?",
    re.DOTALL,
)


def parse_receipt_text(text: str | bytes) -> dict[str, str]:
    """The fields of a receipt text (either label case, minutes or seconds); ValueError if it is none."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("latin-1")
    match = _RECEIPT.match(text.lstrip(" \0").rstrip("\0"))  # trailing spaces may be the quoted text
    if match is None:
        raise ValueError(f"not a delivery receipt text: {text!r}")
    fields = match.groupdict()
    fields["text"] = fields["text"] or ""
    return fields


def network_error_code(error: int, network_type: int = GSM_NETWORK_TYPE) -> bytes:
    """The 3-octet network_error_code TLV value: network type (3 = GSM) and a 2-octet error."""
    if not 0 <= network_type <= 0xFF or not 0 <= error <= 0xFFFF:
        raise ValueError(f"network_error_code: type must be 0..255 and error 0..65535, got {network_type}, {error}")
    return bytes((network_type,)) + error.to_bytes(2, "big")


def _is_intermediate(state: MessageState, intermediate: bool) -> bool:
    # A state that is not final can only ever be reported as an intermediate notification.
    return intermediate or not status_names(state).final


# Plain ints: the flag enums' operators are Python-level calls, and these run once per message.
_INTERMEDIATE_NOTIFICATION = int(RegisteredDelivery.INTERMEDIATE_NOTIFICATION)
_RECEIPT_MASK = int(RegisteredDelivery.RECEIPT_MASK)
_RECEIPT_ON_FINAL = int(RegisteredDelivery.RECEIPT_ON_FINAL)
_RECEIPT_ON_FAILURE = int(RegisteredDelivery.RECEIPT_ON_FAILURE)


def wants_receipt(registered_delivery: int, state: MessageState, intermediate: bool) -> bool:
    """Whether registered_delivery (v3.4 5.2.17, v5.0 for '11') asks for a receipt reporting state."""
    if _is_intermediate(state, intermediate):
        return bool(registered_delivery & _INTERMEDIATE_NOTIFICATION)
    success = state == MessageState.DELIVERED  # state is valid: _is_intermediate looked it up
    receipt = registered_delivery & _RECEIPT_MASK
    if receipt == _RECEIPT_ON_FINAL:
        return True
    if receipt == _RECEIPT_ON_FAILURE:
        return not success
    if receipt == 0x03:
        # Reserved in v3.4; v5.0 defines it as "receipt on success only", which no v3.4 ESME sends.
        return success
    return False


def build_receipt(
    message_id: str,
    *,
    command: str = "deliver_sm",
    source_addr_ton: int,
    source_addr_npi: int,
    source_addr: str,
    dest_addr_ton: int,
    dest_addr_npi: int,
    destination_addr: str,
    submitted_at: datetime | float,
    done_at: datetime | float,
    state: MessageState,
    error_code: int,
    network_error: bytes | None = None,
    text: str,
    intermediate: bool,
    data_coding: int = 0,
    dialect: ReceiptDialect = ReceiptDialect(),
) -> DeliverSm | DataSm:
    """The deliver_sm or data_sm receipt; the addresses are the receipt's own (the MT's, swapped); dates are aware datetimes or UNIX timestamps."""
    if command not in COMMANDS:
        raise ValueError(f"command: must be one of {', '.join(COMMANDS)}, got {command!r}")
    if network_error is not None and (not isinstance(network_error, (bytes, bytearray)) or len(network_error) != 3):
        raise ValueError(f"network_error: must be 3 octets (network type + 2-octet error), got {network_error!r}")
    if type(state) is not MessageState:
        state = MessageState(state)
    if _is_intermediate(state, intermediate):
        esm_class = EsmClass.INTERMEDIATE_NOTIFICATION
    else:
        esm_class = EsmClass.SMSC_DELIVERY_RECEIPT
    body = b""
    if dialect.content != "tlvs_only":
        receipt_text = format_receipt_text(
            message_id,
            submitted_at=submitted_at,
            done_at=done_at,
            state=state,
            error_code=error_code,
            text=text,
            dialect=dialect,
        )
        body = receipt_text.encode("ascii")
    tlvs: list[Tlv] = []
    if dialect.content != "text_only":
        shown_id = convert_message_id(message_id, dialect.id_format)
        if len(shown_id) > MAX_RECEIPTED_ID:
            raise ValueError(f"receipted_message_id: at most {MAX_RECEIPTED_ID} characters, got {len(shown_id)}")
        tlvs.append(_tlv(Tlv, (RECEIPTED_MESSAGE_ID, shown_id)))
        tlvs.append(_STATE_TLVS[state])
        if network_error is not None:
            tlvs.append(Tlv(NETWORK_ERROR_CODE, bytes(network_error)))
    fields = {
        "source_addr_ton": source_addr_ton,
        "source_addr_npi": source_addr_npi,
        "source_addr": source_addr,
        "dest_addr_ton": dest_addr_ton,
        "dest_addr_npi": dest_addr_npi,
        "destination_addr": destination_addr,
        "esm_class": esm_class,
        "data_coding": data_coding,
    }
    if command == "data_sm":
        if body:
            tlvs.insert(0, Tlv(MESSAGE_PAYLOAD, body))
        fields["tlvs"] = tuple(tlvs)
        return DataSm.from_fields(fields)  # type: ignore[return-value]
    if len(body) > MAX_SHORT_MESSAGE:
        raise ValueError(f"receipt text is {len(body)} octets, more than short_message's {MAX_SHORT_MESSAGE}")
    fields["short_message"] = body
    fields["tlvs"] = tuple(tlvs)
    return DeliverSm.from_fields(fields)  # type: ignore[return-value]


# Tlv(tag, value) without the NamedTuple constructor's Python-level __new__; every receipt makes these.
_tlv = tuple.__new__
_STATE_TLVS = {state: Tlv(MESSAGE_STATE, int(state)) for state in MessageState}
