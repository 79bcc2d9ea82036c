"""Message text as the SMSC sees it: data_coding alphabets, GSM 03.38, segment counts, UDH and concatenation.

Pure domain logic: no I/O, no clock, no randomness. Errors are EncodingError carrying the
command_status an SMSC answers with, so the server can turn them into a *_resp directly.

data_coding values understood (anything else is ESME_RINVDCS):

    0x00          SMSC default alphabet: 'gsm' (GSM 03.38 unpacked, default), 'latin-1' or 'iso-8859-15'
    0x01          IA5 / ASCII (7-bit, one character per octet)
    0x02, 0x04    8-bit binary (returned as bytes)
    0x03          ISO-8859-1 (Latin-1)
    0x08          UCS-2, decoded as UTF-16BE so that surrogate pairs (emoji) survive
    0x10-0x1B     GSM 03.38 general data coding with message class: bits 3-2 = 00 GSM, 01 8-bit, 10 UCS-2
    0x40-0x5B     GSM 03.38 "marked for automatic deletion" group, same bits 3-2 as above
    0xC0-0xDF     GSM 03.38 message waiting indication groups (discard / store), GSM alphabet
    0xE0-0xEF     GSM 03.38 message waiting indication group (store), UCS-2
    0xF0-0xF7     GSM 03.38 data coding / message class group: bit 2 set = 8-bit, clear = GSM

The GSM 03.38 groups name the GSM alphabet explicitly, so they never follow the configurable
SMSC default alphabet: only data_coding 0 does. Compressed groups (bit 5 of 0x20-0x3F, 0x60-0x7F),
reserved alphabets (bits 3-2 = 11), the reserved groups 0x80-0xBF and 0xF8-0xFF, and the SMPP
values 0x05-0x07 and 0x09-0x0F (JIS, Cyrillic, Hebrew, pictogram, ISO-2022-JP, kanji, KS C 5601)
are rejected.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import gsm0338

from ..smpp.constants import CommandStatus, EsmClass
from ..smpp.tlv import tlv_tag

DEFAULT_ALPHABETS = ("gsm", "latin-1", "iso-8859-15")
MESSAGE_PAYLOAD_TAG = tlv_tag("message_payload")
SAR_TLVS = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")
MECHANISMS = ("udh8", "udh16", "sar", "payload", "single")

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08

# (single message, per part with an 8-bit-reference UDH, per part with a 16-bit-reference UDH).
# The GSM figures are septets: a 6-octet UDH takes 7 septets after fill bits, a 7-octet one takes 8.
GSM_LIMITS = (160, 153, 152)
UCS2_LIMITS = (70, 67, 66)
OCTET_LIMITS = (140, 134, 133)

_ESC = 0x1B
_GSM_CODEC = gsm0338.Codec()


class EncodingError(ValueError):
    """Text, data_coding or UDH that the SMSC refuses; status is the command_status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message

    def __repr__(self) -> str:
        """The class, status in hex and message."""
        return f"{type(self).__name__}(0x{self.status:08X}, {self.message!r})"


class ConcatenationError(EncodingError):
    """Parts of a concatenated message that do not fit together (ESME_RSUBMITFAIL unless said otherwise)."""

    def __init__(self, message: str, status: int = CommandStatus.ESME_RSUBMITFAIL) -> None:
        super().__init__(status, message)


def _build_gsm_table() -> dict[str, bytes]:
    # Derived from the package's own decoder so that gsm0338 stays the single source of truth;
    # a lone 0x1B is the escape, never a character, so it is left out of the table.
    table: dict[str, bytes] = {}
    for septet in range(0x80):
        if septet != _ESC:
            table[_GSM_CODEC.decode(bytes([septet]))[0]] = bytes([septet])
    for septet in range(0x80):
        sequence = bytes([_ESC, septet])
        try:
            char = _GSM_CODEC.decode(sequence)[0]
        except UnicodeDecodeError:
            continue
        table.setdefault(char, sequence)
    return table


GSM_ENCODE: dict[str, bytes] = _build_gsm_table()


def _check_default_alphabet(default_alphabet: str) -> None:
    # A bad default alphabet is a configuration bug, not something to answer an ESME with.
    if default_alphabet not in DEFAULT_ALPHABETS:
        raise ValueError(f"default_alphabet must be one of {', '.join(DEFAULT_ALPHABETS)}, got {default_alphabet!r}")


def _from_gsm_bits(data_coding: int) -> str | None:
    alphabet_bits = (data_coding >> 2) & 0x03
    return ("gsm", "binary", "ucs2", None)[alphabet_bits]


def dcs_alphabet(data_coding: int, default_alphabet: str = "gsm") -> str:
    """The alphabet data_coding selects: 'gsm', 'ascii', 'latin-1', 'iso-8859-15', 'ucs2' or 'binary'."""
    _check_default_alphabet(default_alphabet)
    dcs = data_coding
    alphabet: str | None
    if dcs == 0x00:
        alphabet = default_alphabet
    elif dcs < 0x10:
        alphabet = {0x01: "ascii", 0x02: "binary", 0x03: "latin-1", 0x04: "binary", 0x08: "ucs2"}.get(dcs)
    elif dcs < 0x80:
        # 00xx and 01xx groups; bit 5 means compressed text, which no SMSC we mimic accepts.
        alphabet = None if dcs & 0x20 else _from_gsm_bits(dcs)
    elif dcs < 0xC0:
        alphabet = None
    elif dcs < 0xE0:
        alphabet = "gsm"
    elif dcs < 0xF0:
        alphabet = "ucs2"
    elif dcs < 0xF8:
        alphabet = "binary" if dcs & 0x04 else "gsm"
    else:
        alphabet = None
    if alphabet is None:
        raise EncodingError(CommandStatus.ESME_RINVDCS, f"data_coding 0x{dcs:02X} is not supported")
    return alphabet


def _bad_text(data_coding: int, what: str) -> EncodingError:
    return EncodingError(CommandStatus.ESME_RINVMSGLEN, f"data_coding 0x{data_coding:02X}: {what}")


def _gsm_units(payload: bytes, data_coding: int) -> list[int]:
    # The escape and the character after it are one unit: two septets that never split.
    units: list[int] = []
    pos, end = 0, len(payload)
    while pos < end:
        if payload[pos] == _ESC:
            if pos + 1 == end:
                raise _bad_text(data_coding, f"GSM escape 0x1B at offset {pos} ends the message")
            units.append(2)
            pos += 2
        else:
            units.append(1)
            pos += 1
    return units


def _decode_gsm(payload: bytes, data_coding: int) -> str:
    # The package silently drops a trailing escape, so that case is caught by the unit scan first.
    _gsm_units(payload, data_coding)
    try:
        return _GSM_CODEC.decode(payload, "strict")[0]
    except UnicodeDecodeError as exc:
        octets = payload[exc.start : exc.end].hex(" ").upper()
        raise _bad_text(data_coding, f"octets {octets} at offset {exc.start} are not GSM 03.38") from None


def _decode_ucs2(payload: bytes, data_coding: int) -> str:
    if len(payload) % 2:
        raise _bad_text(data_coding, f"UCS-2 text has an odd number of octets ({len(payload)})")
    try:
        return payload.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise _bad_text(data_coding, f"UCS-2 text has an unpaired surrogate at offset {exc.start}") from None


def _decode(payload: bytes, data_coding: int, alphabet: str) -> str | bytes:
    if alphabet == "binary":
        return bytes(payload)
    if alphabet == "gsm":
        return _decode_gsm(payload, data_coding)
    if alphabet == "ucs2":
        return _decode_ucs2(payload, data_coding)
    if alphabet == "ascii":
        try:
            return payload.decode("ascii")
        except UnicodeDecodeError as exc:
            raise _bad_text(data_coding, f"octet 0x{payload[exc.start]:02X} at offset {exc.start} is not IA5") from None
    # Latin-1 and ISO-8859-15 define every octet, so they cannot fail.
    return payload.decode(alphabet)


def decode_text(payload: bytes, data_coding: int, default_alphabet: str = "gsm") -> str | bytes:
    """The text of a message payload (without UDH), or the octets themselves for 8-bit data."""
    return _decode(payload, data_coding, dcs_alphabet(data_coding, default_alphabet))


def is_gsm_text(text: str) -> bool:
    """True when every character is in the GSM 03.38 default alphabet or its extension table."""
    return all(char in GSM_ENCODE for char in text)


def _text_chunks(text: str, default_alphabet: str) -> tuple[str, int, list[bytes]]:
    """(encoding, data_coding, encoded characters) for text the SMSC originates."""
    _check_default_alphabet(default_alphabet)
    if default_alphabet == "gsm":
        if is_gsm_text(text):
            return "gsm", 0x00, [GSM_ENCODE[char] for char in text]
    else:
        try:
            encoded = text.encode(default_alphabet)
        except UnicodeEncodeError:
            pass
        else:
            return "latin1", 0x00, [encoded[i : i + 1] for i in range(len(encoded))]
    try:
        return "ucs2", 0x08, [char.encode("utf-16-be") for char in text]
    except UnicodeEncodeError as exc:
        raise EncodingError(
            CommandStatus.ESME_RINVMSGLEN, f"text has a lone surrogate U+{ord(text[exc.start]):04X} at {exc.start}"
        ) from None


def encode_text(text: str, default_alphabet: str = "gsm") -> tuple[int, bytes]:
    """(data_coding, octets): 0 in the SMSC default alphabet when it can carry the text, else 8 (UTF-16BE)."""
    _, data_coding, chunks = _text_chunks(text, default_alphabet)
    return data_coding, b"".join(chunks)


# --- segment counting -------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentInfo:
    """How many SMS a payload costs: units are septets (gsm), UTF-16 code units (ucs2) or octets."""

    encoding: str
    units: int
    segments: int
    per_segment: int


_ENCODING_OF_ALPHABET = {
    "gsm": "gsm",
    "ucs2": "ucs2",
    "ascii": "ascii",
    "latin-1": "latin1",
    "iso-8859-15": "latin1",
    "binary": "binary",
}


def _limits(encoding: str) -> tuple[int, int, int]:
    if encoding == "gsm":
        return GSM_LIMITS
    if encoding == "ucs2":
        return UCS2_LIMITS
    # IA5 and the Latin alphabets travel as octets between ESME and SMSC; a real SMSC may
    # transcode them to GSM for the air interface, but we count them as 8-bit data on purpose.
    return OCTET_LIMITS


def _check_ref_bits(ref_bits: int) -> None:
    if ref_bits not in (8, 16):
        raise ValueError(f"ref_bits must be 8 or 16, got {ref_bits!r}")


def _pack(sizes: list[int], encoding: str, ref_bits: int) -> tuple[list[int], int]:
    """(end index of each part, capacity per part) for unit sizes that must not be split."""
    single, per_part_8, per_part_16 = _limits(encoding)
    if sum(sizes) <= single:
        return [len(sizes)], single
    capacity = per_part_8 if ref_bits == 8 else per_part_16
    ends: list[int] = []
    used = 0
    for index, size in enumerate(sizes):
        if used + size > capacity:
            ends.append(index)
            used = 0
        used += size
    ends.append(len(sizes))
    return ends, capacity


def _segment_info(sizes: list[int], encoding: str, ref_bits: int) -> SegmentInfo:
    ends, capacity = _pack(sizes, encoding, ref_bits)
    return SegmentInfo(encoding, sum(sizes), len(ends), capacity)


def _payload_sizes(payload: bytes, data_coding: int, alphabet: str, decoded: str | bytes) -> list[int]:
    if alphabet == "gsm":
        return _gsm_units(payload, data_coding)
    if alphabet == "ucs2":
        return [2 if ord(char) > 0xFFFF else 1 for char in decoded]
    return [1] * len(payload)


def count_segments(
    payload: bytes, data_coding: int, default_alphabet: str = "gsm", *, ref_bits: int = 8
) -> SegmentInfo:
    """Segments an encoded payload (without UDH, e.g. a message_payload TLV) needs on the air.

    data_coding 1 (IA5) and 3 (Latin-1), and 0 under a Latin default alphabet, count as 8-bit
    data (140 octets, 134 per part): that is what travels between ESME and SMSC, even though a
    real SMSC may transcode them to GSM for the air interface.
    """
    _check_ref_bits(ref_bits)
    alphabet = dcs_alphabet(data_coding, default_alphabet)
    decoded = _decode(payload, data_coding, alphabet)
    sizes = _payload_sizes(payload, data_coding, alphabet, decoded)
    return _segment_info(sizes, _ENCODING_OF_ALPHABET[alphabet], ref_bits)


def _chunk_sizes(encoding: str, chunks: list[bytes]) -> list[int]:
    return [len(chunk) // 2 for chunk in chunks] if encoding == "ucs2" else [len(chunk) for chunk in chunks]


def count_text_segments(text: str, default_alphabet: str = "gsm", *, ref_bits: int = 8) -> SegmentInfo:
    """Segments text costs once encoded as encode_text and split_text would encode it."""
    _check_ref_bits(ref_bits)
    encoding, _, chunks = _text_chunks(text, default_alphabet)
    return _segment_info(_chunk_sizes(encoding, chunks), encoding, ref_bits)


# --- user data header -------------------------------------------------------------------------


@dataclass(frozen=True)
class Udh:
    """A parsed user data header: the concatenation IE when present, every other IE as (iei, data)."""

    ref: int | None = None
    total: int | None = None
    seq: int | None = None
    ref_bits: int | None = None
    other_ies: tuple[tuple[int, bytes], ...] = ()

    @property
    def concatenated(self) -> bool:
        """True when the header carries a concatenation IE (0x00 or 0x08)."""
        return self.ref_bits is not None


def _bad_udh(what: str) -> EncodingError:
    return EncodingError(CommandStatus.ESME_RINVMSGLEN, f"malformed UDH: {what}")


def parse_udh(short_message: bytes) -> tuple[Udh, bytes]:
    """(header, user data after it) of a message whose esm_class has UDHI set; ESME_RINVMSGLEN if malformed."""
    if not short_message:
        raise _bad_udh("UDHI is set but the message is empty")
    udhl = short_message[0]
    if 1 + udhl > len(short_message):
        raise _bad_udh(f"UDHL {udhl} exceeds the {len(short_message) - 1} octets after it")
    end = 1 + udhl
    pos = 1
    concat: tuple[int, int, int, int] | None = None
    others: list[tuple[int, bytes]] = []
    while pos < end:
        if pos + 2 > end:
            raise _bad_udh(f"IE header at offset {pos} is cut off by UDHL {udhl}")
        iei, length = short_message[pos], short_message[pos + 1]
        data = short_message[pos + 2 : pos + 2 + length]
        if pos + 2 + length > end:
            raise _bad_udh(f"IE 0x{iei:02X} at offset {pos} declares {length} octets, only {end - pos - 2} left")
        pos += 2 + length
        if iei in (IEI_CONCAT_8, IEI_CONCAT_16):
            bits, expected = (8, 3) if iei == IEI_CONCAT_8 else (16, 4)
            if length != expected:
                raise _bad_udh(f"concatenation IE 0x{iei:02X} has length {length}, expected {expected}")
            if concat is not None:
                raise _bad_udh("more than one concatenation IE")
            ref = data[0] if bits == 8 else int.from_bytes(data[0:2], "big")
            total, seq = data[-2], data[-1]
            if total == 0:
                raise _bad_udh("concatenation IE has total 0")
            if seq == 0 or seq > total:
                raise _bad_udh(f"concatenation IE has sequence {seq} outside 1..{total}")
            concat = (ref, total, seq, bits)
        else:
            others.append((iei, bytes(data)))
    if concat is None:
        udh = Udh(other_ies=tuple(others))
    else:
        ref, total, seq, bits = concat
        udh = Udh(ref=ref, total=total, seq=seq, ref_bits=bits, other_ies=tuple(others))
    return udh, bytes(short_message[end:])


def build_udh(
    ref: int, total: int, seq: int, ref_bits: int = 8, other_ies: tuple[tuple[int, bytes], ...] = ()
) -> bytes:
    """A UDH (with its UDHL octet) holding the concatenation IE, then any other IEs given."""
    _check_ref_bits(ref_bits)
    if not 0 <= ref < (1 << ref_bits):
        raise ValueError(f"ref {ref} does not fit in {ref_bits} bits")
    if not 1 <= total <= 255:
        raise ValueError(f"total {total} outside 1..255")
    if not 1 <= seq <= total:
        raise ValueError(f"seq {seq} outside 1..{total}")
    if ref_bits == 8:
        body = bytes([IEI_CONCAT_8, 3, ref, total, seq])
    else:
        body = bytes([IEI_CONCAT_16, 4, ref >> 8, ref & 0xFF, total, seq])
    for iei, data in other_ies:
        if len(data) > 255:
            raise ValueError(f"IE 0x{iei:02X} data is longer than 255 octets")
        body += bytes([iei, len(data)]) + data
    if len(body) > 255:
        raise ValueError("UDH is longer than 255 octets")
    return bytes([len(body)]) + body


# --- splitting SMSC-originated text -----------------------------------------------------------


def split_text(text: str, ref: int, default_alphabet: str = "gsm", ref_bits: int = 8) -> list[tuple[int, int, bytes]]:
    """(esm_class, data_coding, short_message) per part, split as count_text_segments counts.

    One part has esm_class 0 and no UDH; several have UDHI set and a concatenation UDH each.
    """
    _check_ref_bits(ref_bits)
    encoding, data_coding, chunks = _text_chunks(text, default_alphabet)
    ends, _ = _pack(_chunk_sizes(encoding, chunks), encoding, ref_bits)
    if len(ends) == 1:
        return [(0, data_coding, b"".join(chunks))]
    if len(ends) > 255:
        raise ValueError(f"text needs {len(ends)} parts, a UDH counts at most 255")
    parts: list[tuple[int, int, bytes]] = []
    start = 0
    for seq, end in enumerate(ends, start=1):
        udh = build_udh(ref, len(ends), seq, ref_bits)
        parts.append((EsmClass.UDHI, data_coding, udh + b"".join(chunks[start:end])))
        start = end
    return parts


# --- reassembly of concatenated MT messages ---------------------------------------------------


@dataclass(frozen=True)
class MessagePart:
    """One PDU's share of a logical message: body is the user data without UDH."""

    ref: int | None
    total: int
    seq: int
    data_coding: int
    body: bytes
    mechanism: str
    other_ies: tuple[tuple[int, bytes], ...] = ()


def message_part_from_pdu(pdu: Any) -> MessagePart:
    """The MessagePart a submit_sm, deliver_sm, submit_multi or data_sm carries.

    UDH concatenation (esm_class UDHI and IE 0x00/0x08), SAR TLVs, or a whole message in
    message_payload or short_message. UDH and SAR concatenation on one PDU is ESME_RSUBMITFAIL;
    an incomplete set of SAR TLVs is ESME_RMISSINGOPTPARAM; a malformed UDH is ESME_RINVMSGLEN.
    """
    payload = pdu.payload
    from_tlv = pdu.tlv(MESSAGE_PAYLOAD_TAG) is not None
    udh: Udh | None = None
    body = bytes(payload)
    if pdu.esm_class & EsmClass.UDHI:
        udh, body = parse_udh(payload)
    other_ies = udh.other_ies if udh else ()
    sar = [pdu.tlv(name) for name in SAR_TLVS]
    if any(value is not None for value in sar):
        missing = [name for name, value in zip(SAR_TLVS, sar) if value is None]
        if missing:
            raise ConcatenationError(
                f"SAR TLVs incomplete: {', '.join(missing)} missing", CommandStatus.ESME_RMISSINGOPTPARAM
            )
        if udh is not None and udh.concatenated:
            raise ConcatenationError("both a concatenation UDH and SAR TLVs on one PDU")
        ref, total, seq = sar
        return MessagePart(ref, total, seq, pdu.data_coding, body, "sar", other_ies)
    if udh is not None and udh.concatenated:
        mechanism = "udh8" if udh.ref_bits == 8 else "udh16"
        return MessagePart(udh.ref, udh.total or 0, udh.seq or 0, pdu.data_coding, body, mechanism, other_ies)
    return MessagePart(None, 1, 1, pdu.data_coding, body, "payload" if from_tlv else "single", other_ies)


@dataclass(frozen=True)
class LogicalMessage:
    """A whole message: its parts' bodies joined in sequence order, decoded unless 8-bit data."""

    key: tuple[Any, ...]
    mechanism: str
    ref: int | None
    total: int
    data_coding: int
    payload: bytes
    text: str | None
    parts: int
    segment_info: SegmentInfo
    other_ies: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True)
class PendingMessage:
    """An incomplete concatenated message: which sequence numbers have arrived so far."""

    key: tuple[Any, ...]
    mechanism: str
    ref: int | None
    total: int
    data_coding: int
    received: tuple[int, ...]


@dataclass
class _Pending:
    total: int
    data_coding: int
    other_ies: tuple[tuple[int, bytes], ...]
    bodies: dict[int, bytes]


class Reassembler:
    """Collects MessageParts per (key, mechanism, ref) and yields the LogicalMessage when complete.

    Inconsistent parts raise ConcatenationError with ESME_RSUBMITFAIL: a total differing from
    the first part's, seq 0 or above total, a sequence number seen before, a data_coding
    differing from the first part's. A total above max_parts is ESME_RINVMSGLEN, an unsupported
    data_coding ESME_RINVDCS. A rejected part leaves what was collected untouched. With
    max_pending set, starting one more incomplete message evicts the oldest one.
    """

    def __init__(self, max_parts: int = 10, max_pending: int | None = None, default_alphabet: str = "gsm") -> None:
        _check_default_alphabet(default_alphabet)
        self.max_parts = max_parts
        self.max_pending = max_pending
        self.default_alphabet = default_alphabet
        self.evicted = 0
        self._pending: OrderedDict[tuple[Any, ...], _Pending] = OrderedDict()

    def __len__(self) -> int:
        """The number of incomplete messages held."""
        return len(self._pending)

    def add(self, key: tuple[Any, ...], part: MessagePart) -> LogicalMessage | None:
        """Take one part; the LogicalMessage once its last part is in, else None."""
        dcs_alphabet(part.data_coding, self.default_alphabet)
        if part.total < 1:
            raise ConcatenationError(f"total {part.total} is not a part count")
        if not 1 <= part.seq <= part.total:
            raise ConcatenationError(f"part {part.seq} outside 1..{part.total}")
        if part.total > self.max_parts:
            raise ConcatenationError(
                f"{part.total} parts exceed the limit of {self.max_parts}", CommandStatus.ESME_RINVMSGLEN
            )
        if part.total == 1:
            return self._complete(key, part.mechanism, part.ref, part.data_coding, [part.body], part.other_ies)
        ident = (key, part.mechanism, part.ref)
        entry = self._pending.get(ident)
        if entry is None:
            entry = _Pending(part.total, part.data_coding, part.other_ies, {part.seq: part.body})
            self._pending[ident] = entry
            if self.max_pending is not None:
                while len(self._pending) > self.max_pending:
                    self._pending.popitem(last=False)
                    self.evicted += 1
            return None
        if part.total != entry.total:
            raise ConcatenationError(f"ref {part.ref}: part says {part.total} parts, earlier parts said {entry.total}")
        if part.data_coding != entry.data_coding:
            raise ConcatenationError(
                f"ref {part.ref}: data_coding 0x{part.data_coding:02X} differs from 0x{entry.data_coding:02X}"
            )
        if part.seq in entry.bodies:
            raise ConcatenationError(f"ref {part.ref}: part {part.seq} of {part.total} arrived twice")
        entry.bodies[part.seq] = part.body
        if len(entry.bodies) < entry.total:
            return None
        del self._pending[ident]
        bodies = [entry.bodies[seq] for seq in range(1, entry.total + 1)]
        return self._complete(key, part.mechanism, part.ref, entry.data_coding, bodies, entry.other_ies)

    def _complete(
        self,
        key: tuple[Any, ...],
        mechanism: str,
        ref: int | None,
        data_coding: int,
        bodies: list[bytes],
        other_ies: tuple[tuple[int, bytes], ...],
    ) -> LogicalMessage:
        payload = b"".join(bodies)
        alphabet = dcs_alphabet(data_coding, self.default_alphabet)
        # Decoding the joined payload, not each part, accepts senders that split an escape or a
        # surrogate pair across parts: the whole message is still valid text.
        decoded = _decode(payload, data_coding, alphabet)
        sizes = _payload_sizes(payload, data_coding, alphabet, decoded)
        info = _segment_info(sizes, _ENCODING_OF_ALPHABET[alphabet], 16 if mechanism == "udh16" else 8)
        return LogicalMessage(
            key=key,
            mechanism=mechanism,
            ref=ref,
            total=len(bodies),
            data_coding=data_coding,
            payload=payload,
            text=None if isinstance(decoded, bytes) else decoded,
            parts=len(bodies),
            segment_info=info,
            other_ies=other_ies,
        )

    def pending(self) -> list[PendingMessage]:
        """The incomplete messages, oldest first."""
        return [
            PendingMessage(key, mechanism, ref, entry.total, entry.data_coding, tuple(sorted(entry.bodies)))
            for (key, mechanism, ref), entry in self._pending.items()
        ]
