"""Strict SMPP codec: bytes <-> typed PDUs, every malformation mapped to the status the spec prescribes.

Per-PDU encoders and decoders are generated once from each class's BODY layout, so the hot path
(submit_sm in, submit_sm_resp out) runs straight-line code with no per-field dispatch.
"""

from __future__ import annotations

from struct import error as StructError
import re
from struct import pack, pack_into, unpack_from
from typing import Any, Callable

from .constants import DEFAULT_MAX_COMMAND_LENGTH, HEADER_LENGTH, RESPONSE_BIT
from .constants import CommandStatus as S
from .pdu import (
    ALL_PDU_CLASSES,
    PDU_CLASS_BY_ID,
    DistributionList,
    Field,
    Pdu,
    SmeAddress,
    UnsuccessfulSme,
)
from .timefmt import validate_time
from .tlv import TLV_BY_TAG, Tlv

MESSAGE_PAYLOAD_TAG = 0x0424
MAX_SHORT_MESSAGE = 254
MAX_DESTINATIONS = 254


class PduError(Exception):
    """A PDU that cannot be accepted: status is the command_status to answer it with.

    fatal means the byte stream cannot be framed any more (the connection must close after the
    generic_nack); command_id and sequence_number are set when the header could be read.
    """

    def __init__(
        self,
        status: int,
        field: str,
        detail: str,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(f"{field}: {detail}")
        self.status = int(status)
        self.field = field
        self.detail = detail
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.fatal = fatal


class PduEncodeError(ValueError):
    """A PDU object whose field values cannot be put on the wire."""


def _cstr_error(b: bytes, pos: int, end: int, field: Field) -> PduError:
    if b.find(0, pos, end) < 0 and end - pos < field.max_length:
        return PduError(S.ESME_RINVCMDLEN, field.name, "C-string has no terminating NUL before the end of the PDU")
    return PduError(field.status, field.name, f"C-string longer than {field.max_length - 1} characters")


def _truncated(field: str) -> PduError:
    return PduError(S.ESME_RINVCMDLEN, field, "PDU body ends before this field (command_length too small)")


def _first_missing_u8(names: tuple[str, ...], available: int) -> str:
    return names[max(available, 0)]


def _check_time(text: str, field: Field) -> None:
    try:
        validate_time(text)
    except ValueError as exc:
        raise PduError(field.status, field.name, str(exc)) from None


def _check_time_encode(text: str, name: str) -> None:
    try:
        validate_time(text)
    except ValueError as exc:
        raise PduEncodeError(f"{name}: {exc}") from None


def _decode_tlvs(b: bytes, pos: int, end: int) -> tuple[Tlv, ...]:
    out = []
    while pos < end:
        if pos + 4 > end:
            raise PduError(S.ESME_RINVOPTPARSTREAM, "tlv", f"{end - pos} stray octets where a TLV header (4) should be")
        tag, length = unpack_from(">HH", b, pos)
        pos += 4
        spec = TLV_BY_TAG.get(tag)
        name = spec.name if spec else f"tlv 0x{tag:04X}"
        if pos + length > end:
            raise PduError(
                S.ESME_RINVOPTPARSTREAM, name, f"TLV length {length} runs past the end of the PDU ({end - pos} left)"
            )
        raw = b[pos : pos + length]
        pos += length
        if spec is None:
            value: int | str | bytes = raw
        elif spec.kind == "int":
            if length != spec.min_length:
                raise PduError(S.ESME_RINVPARLEN, name, f"integer TLV must be {spec.min_length} octets, got {length}")
            value = int.from_bytes(raw, "big")
        elif spec.kind == "cstr":
            if length < 1 or raw[-1] != 0:
                raise PduError(S.ESME_RINVPARLEN, name, "C-string TLV does not end with NUL")
            if length > spec.max_length:
                raise PduError(S.ESME_RINVPARLEN, name, f"C-string TLV longer than {spec.max_length} octets")
            value = raw[:-1].decode("latin-1")
        else:
            if not spec.min_length <= length <= spec.max_length:
                raise PduError(
                    S.ESME_RINVPARLEN, name, f"TLV length {length} outside {spec.min_length}..{spec.max_length}"
                )
            value = raw
        out.append(Tlv(tag, value))
    return tuple(out)


# Per standard tag: (min length, max length, octets of an int value); TLV_BY_TAG is fixed at import.
_TLV_LIMITS = {
    tag: (spec.min_length, spec.max_length, spec.min_length if spec.kind == "int" else 1) for tag, spec in TLV_BY_TAG.items()
}


def encode_tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    """The wire form of a sequence of TLVs."""
    out = bytearray()
    for tag, value in tlvs:
        limits = _TLV_LIMITS.get(tag)
        kind = type(value)
        # Exact types first (every receipt has TLVs); subclasses and other types take the general checks.
        if kind is str:
            raw = value.encode("latin-1") + b"\0"
        elif kind is int:
            raw = value.to_bytes(limits[2] if limits is not None else 1, "big")
        elif kind is bytes:
            raw = value
        elif isinstance(value, int) and not isinstance(value, bool):
            raw = value.to_bytes(limits[2] if limits is not None else 1, "big")
        elif isinstance(value, str):
            raw = value.encode("latin-1") + b"\0"
        elif isinstance(value, (bytes, bytearray)):
            raw = bytes(value)
        else:
            raise PduEncodeError(f"TLV 0x{tag:04X} has a value of type {type(value).__name__}")
        length = len(raw)
        if limits is not None and not limits[0] <= length <= limits[1]:
            raise PduEncodeError(f"TLV {TLV_BY_TAG[tag].name} length {length} outside {limits[0]}..{limits[1]}")
        if length > 0xFFFF or not 0 <= tag <= 0xFFFF:
            raise PduEncodeError(f"TLV 0x{tag:04X} does not fit a TLV header")
        out += pack(">HH", tag, length)
        out += raw
    return bytes(out)


def _decode_dests(b: bytes, pos: int, end: int, field: Field) -> tuple[tuple[Any, ...], int]:
    if pos >= end:
        raise _truncated("number_of_dests")
    count = b[pos]
    pos += 1
    if count == 0 or count > MAX_DESTINATIONS:
        raise PduError(S.ESME_RINVNUMDESTS, "number_of_dests", f"must be 1..{MAX_DESTINATIONS}, got {count}")
    dests: list[SmeAddress | DistributionList] = []
    address_field = Field("dest_address.destination_addr", "cstr", 21, S.ESME_RINVDSTADR)
    dl_field = Field("dest_address.dl_name", "cstr", 21, S.ESME_RINVDLNAME)
    for _ in range(count):
        if pos >= end:
            raise _truncated("dest_address.dest_flag")
        flag = b[pos]
        pos += 1
        if flag == 1:
            if pos + 2 > end:
                raise _truncated("dest_address.dest_addr_ton")
            ton, npi = b[pos], b[pos + 1]
            pos += 2
            z = b.find(0, pos, min(end, pos + 21))
            if z < 0:
                raise _cstr_error(b, pos, end, address_field)
            dests.append(SmeAddress(ton, npi, b[pos:z].decode("latin-1")))
        elif flag == 2:
            z = b.find(0, pos, min(end, pos + 21))
            if z < 0:
                raise _cstr_error(b, pos, end, dl_field)
            dests.append(DistributionList(b[pos:z].decode("latin-1")))
        else:
            raise PduError(S.ESME_RINVDESTFLAG, "dest_address.dest_flag", f"must be 1 (SME) or 2 (list), got {flag}")
        pos = z + 1
    return tuple(dests), pos


def _decode_unsuccess(b: bytes, pos: int, end: int, field: Field) -> tuple[tuple[Any, ...], int]:
    if pos >= end:
        raise _truncated("no_unsuccess")
    count = b[pos]
    pos += 1
    address_field = Field("unsuccess_sme.destination_addr", "cstr", 21, S.ESME_RINVDSTADR)
    items = []
    for _ in range(count):
        if pos + 2 > end:
            raise _truncated("unsuccess_sme.dest_addr_ton")
        ton, npi = b[pos], b[pos + 1]
        pos += 2
        z = b.find(0, pos, min(end, pos + 21))
        if z < 0:
            raise _cstr_error(b, pos, end, address_field)
        address = b[pos:z].decode("latin-1")
        pos = z + 1
        if pos + 4 > end:
            raise _truncated("unsuccess_sme.error_status_code")
        (code,) = unpack_from(">I", b, pos)
        pos += 4
        items.append(UnsuccessfulSme(ton, npi, address, code))
    return tuple(items), pos


def _encode_dests(out: bytearray, dests: tuple[Any, ...]) -> None:
    if not 1 <= len(dests) <= MAX_DESTINATIONS:
        raise PduEncodeError(f"dest_addresses: submit_multi needs 1..{MAX_DESTINATIONS} destinations")
    out.append(len(dests))
    for dest in dests:
        if isinstance(dest, SmeAddress):
            out += bytes((1, dest.ton, dest.npi))
            _put_cstr(out, dest.address, 21, "dest_address.destination_addr")
        elif isinstance(dest, DistributionList):
            out.append(2)
            _put_cstr(out, dest.name, 21, "dest_address.dl_name")
        else:
            raise PduEncodeError(f"dest_addresses: {dest!r} is neither SmeAddress nor DistributionList")


def _encode_unsuccess(out: bytearray, items: tuple[Any, ...]) -> None:
    out.append(len(items))
    for item in items:
        out += bytes((item.ton, item.npi))
        _put_cstr(out, item.address, 21, "unsuccess_sme.destination_addr")
        out += int(item.error_status_code).to_bytes(4, "big")


def _put_cstr(out: bytearray, value: str, max_length: int, name: str) -> None:
    raw = value.encode("latin-1")
    if len(raw) >= max_length or 0 in raw:
        raise PduEncodeError(f"{name}: C-string must be under {max_length} octets without NUL, got {value!r}")
    out += raw
    out.append(0)


# --- code generation -------------------------------------------------------------------------


def _prefix_groups(body: tuple[Field, ...]) -> list[list[Field]]:
    """The leading run of C-string and one-octet fields, as regex groups: one C-string, or consecutive one-octet fields."""
    groups: list[list[Field]] = []
    for f in body:
        if f.kind in ("cstr", "time"):
            groups.append([f])
        elif f.kind == "u8":
            # One group per run of one-octet fields: unpacking its bytes gives the ints at once.
            if groups and groups[-1][0].kind == "u8":
                groups[-1].append(f)
            else:
                groups.append([f])
        else:
            break
    return groups


def _prefix_pattern(body: tuple[Field, ...]) -> tuple[bytes, int]:
    """A regex for the leading run of C-string and one-octet fields, and how many fields it covers."""
    parts = []
    count = 0
    for group in _prefix_groups(body):
        f = group[0]
        if f.kind == "u8":
            parts.append(b"(.{%d})" % len(group))
        else:
            parts.append(b"([^\\x00]{0,%d})\\x00" % (f.max_length - 1))
        count += len(group)
    return b"".join(parts), count


def _decoder_source(cls: type[Pdu], fast: bool) -> str:
    """Straight-line decoder source; the fast variant reads the leading fields with one regex match
    and hands anything that does not match to the precise decoder, which names the faulty field."""
    lines = ["def decode(b, seq, status):", "    pos = 16", "    end = len(b)"]
    if cls.command_id & RESPONSE_BIT and cls.BODY:
        # Error responses may come without a body (v3.4 4.4.2 and alike).
        lines.append("    if pos == end and status != 0:")
        lines.append("        return make_default(seq, status)")
    names = []
    skip = 0
    if fast:
        groups = _prefix_groups(cls.BODY)
        skip = sum(len(group) for group in groups)
        lines += ["    m = RX(b, 16)", "    if m is None:", "        return precise(b, seq, status)"]
        if groups:
            lines.append("    " + "".join(f"g_{n}, " for n in range(len(groups))) + "= m.groups()")
        i = 0
        for n, group in enumerate(groups):
            if group[0].kind == "u8":
                # Unpacking bytes yields ints.
                lines.append("    " + "".join(f"v_{f.name}, " for f in group) + f"= g_{n}")
            else:
                f = group[0]
                v = f"v_{f.name}"
                lines.append(f"    {v} = g_{n}.decode('latin-1')")
                if f.kind == "time":
                    lines += [f"    if {v}:", f"        check_time({v}, F[{i}])"]
            for f in group:
                names.append((f.name, f"v_{f.name}"))
            i += len(group)
        lines.append("    pos = m.end()")
    run: list[Field] = []

    def flush_u8_run() -> None:
        # Consecutive one-octet fields are read with one bounds check and one unpack.
        if not run:
            return
        k = len(run)
        lines.append(f"    if pos + {k} > end:")
        lines.append(f"        raise truncated(first_missing_u8(({', '.join(repr(f.name) for f in run)},), end - pos))")
        targets = "".join(f"v_{f.name}, " for f in run)
        lines.append(f"    {targets}= b[pos:pos + {k}]")
        lines.append(f"    pos += {k}")
        run.clear()

    for i, f in enumerate(cls.BODY):
        if i < skip:
            continue
        v = f"v_{f.name}"
        names.append((f.name, v))
        if f.kind != "u8":
            flush_u8_run()
        if f.kind == "u8":
            run.append(f)
            continue
        elif f.kind in ("cstr", "time"):
            lines += [
                f"    z = b.find(0, pos, pos + {f.max_length})",
                "    if z < 0:",
                f"        raise cstr_error(b, pos, end, F[{i}])",
                f"    {v} = b[pos:z].decode('latin-1')",
                "    pos = z + 1",
            ]
            if f.kind == "time":
                lines += [f"    if {v}:", f"        check_time({v}, F[{i}])"]
        elif f.kind == "sm":
            lines += [
                "    if pos >= end:",
                "        raise truncated('sm_length')",
                "    n = b[pos]",
                "    pos += 1",
                f"    if n > {MAX_SHORT_MESSAGE}:",
                "        raise PduError(S.ESME_RINVMSGLEN, 'sm_length',"
                f" f'sm_length {{n}} exceeds {MAX_SHORT_MESSAGE} octets (use message_payload)')",
                "    if pos + n > end:",
                "        raise PduError(S.ESME_RINVMSGLEN, 'sm_length',"
                " f'sm_length {n} exceeds the {end - pos} octets left in the PDU')",
                f"    {v} = b[pos:pos + n]",
                "    pos += n",
            ]
        elif f.kind == "dests":
            lines.append(f"    {v}, pos = decode_dests(b, pos, end, F[{i}])")
        elif f.kind == "unsuccess":
            lines.append(f"    {v}, pos = decode_unsuccess(b, pos, end, F[{i}])")
        else:  # pragma: no cover - layout tables only use the kinds above
            raise AssertionError(f.kind)
    flush_u8_run()
    for f in cls.BODY:
        if f.name == "priority_flag":
            lines += [
                "    if v_priority_flag > 4:",
                "        raise PduError(S.ESME_RINVPRTFLG, 'priority_flag', f'must be 0..4, got {v_priority_flag}')",
            ]
        if f.name == "replace_if_present_flag":
            lines += [
                "    if v_replace_if_present_flag > 1:",
                "        raise PduError(S.ESME_RINVREPFLAG, 'replace_if_present_flag',"
                " f'must be 0 or 1, got {v_replace_if_present_flag}')",
            ]
    if cls.ALLOWS_TLVS:
        lines.append("    tlvs = decode_tlvs(b, pos, end) if pos < end else ()")
    else:
        lines += [
            "    if pos != end:",
            "        raise PduError(S.ESME_RINVCMDLEN, 'command_length',"
            " f'{end - pos} octets after the last field of a PDU that takes no TLVs')",
            "    tlvs = ()",
        ]
    if any(f.kind == "sm" for f in cls.BODY):
        lines += [
            "    if v_short_message and tlvs:",
            "        for t in tlvs:",
            "            if t[0] == 0x0424:",
            "                raise PduError(S.ESME_RINVMSGLEN, 'short_message',"
            " 'short_message and message_payload are both present (sm_length must be 0)')",
        ]
    for tlv_name in cls.REQUIRED_TLVS:
        tag = next(t for t, s in TLV_BY_TAG.items() if s.name == tlv_name)
        lines += [
            f"    if not any(t[0] == {tag} for t in tlvs):",
            f"        raise PduError(S.ESME_RMISSINGOPTPARAM, {tlv_name!r}, 'mandatory TLV missing')",
        ]
    items = ", ".join(f"{name!r}: {v}" for name, v in names)
    lines += [
        "    o = new(cls)",
        "    o.__dict__.update({'sequence_number': seq, 'command_status': status, 'tlvs': tlvs"
        + (", " + items if items else "")
        + "})",
        "    return o",
    ]
    return "\n".join(lines)


def _encoder_source(cls: type[Pdu]) -> str:
    lines = ["def encode(p, with_tlvs):", "    out = bytearray(16)"]
    body_lines = []
    u8_run: list[str] = []

    def flush_u8_run() -> None:
        # One bytes() per run of one-octet fields; it refuses what out.append() would (ValueError, TypeError).
        if len(u8_run) == 1:
            body_lines.append(f"    out.append({u8_run[0]})")
        elif u8_run:
            body_lines.append(f"    out += bytes(({', '.join(u8_run)}))")
        u8_run.clear()

    for i, f in enumerate(cls.BODY):
        a = f"p.{f.name}"
        if f.kind != "u8":
            flush_u8_run()
        if f.kind == "u8":
            u8_run.append(a)
        elif f.kind in ("cstr", "time"):
            if f.kind == "time":
                body_lines += [f"    if {a}:", f"        check_time_encode({a}, {f.name!r})"]
            body_lines += [
                f"    raw = {a}.encode('latin-1')",
                f"    if len(raw) >= {f.max_length} or 0 in raw:",
                f"        raise PduEncodeError(f'{f.name}: C-string must be under {f.max_length} octets without NUL,"
                f" got {{{a}!r}}')",
                "    out += raw",
                "    out.append(0)",
            ]
        elif f.kind == "sm":
            body_lines += [
                f"    raw = {a}",
                "    if len(raw) > 254:",
                f"        raise PduEncodeError(f'{f.name}: at most 254 octets (use message_payload), got {{len(raw)}}')",
                "    out.append(len(raw))",
                "    out += raw",
            ]
        elif f.kind == "dests":
            body_lines.append(f"    encode_dests(out, {a})")
        elif f.kind == "unsuccess":
            body_lines.append(f"    encode_unsuccess(out, {a})")
    flush_u8_run()
    if body_lines:
        if cls.command_id & RESPONSE_BIT:
            lines.append("    if p.command_status == 0 or p.tlvs or not is_default(p):")
            lines += ["    " + line for line in body_lines]
        else:
            lines += body_lines
    names = {f.name for f in cls.BODY}
    if "priority_flag" in names:
        lines += ["    if p.priority_flag > 4:", "        raise PduEncodeError(f'priority_flag must be 0..4, got {p.priority_flag}')"]
    if "replace_if_present_flag" in names:
        lines += [
            "    if p.replace_if_present_flag > 1:",
            "        raise PduEncodeError(f'replace_if_present_flag must be 0 or 1, got {p.replace_if_present_flag}')",
        ]
    if "short_message" in names:
        lines += [
            "    if p.short_message and p.tlvs:",
            "        for t in p.tlvs:",
            "            if t[0] == 0x0424:",
            "                raise PduEncodeError('short_message and message_payload are mutually exclusive')",
        ]
    if not cls.ALLOWS_TLVS:
        lines += ["    if p.tlvs:", f"        raise PduEncodeError('{cls.__name__} takes no TLVs')"]
    lines += [
        "    if with_tlvs and p.tlvs:",
        "        out += encode_tlvs(p.tlvs)",
        f"    pack_into('>IIII', out, 0, len(out), {cls.command_id}, p.command_status, p.sequence_number)",
        "    return bytes(out)",
    ]
    return "\n".join(lines)


def _compile(source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    exec(compile(source, f"<smpp codec {namespace['cls'].__name__}>", "exec"), namespace)
    return namespace["decode"] if source.startswith("def decode") else namespace["encode"]


def _build(cls: type[Pdu]) -> tuple[Callable[..., Pdu], Callable[..., bytes]]:
    default = cls()
    default_fields = default.fields()

    def make_default(seq: int, status: int) -> Pdu:
        return cls(sequence_number=seq, command_status=status)

    def is_default(p: Pdu) -> bool:
        return p.fields() == default_fields

    namespace: dict[str, Any] = {
        "cls": cls,
        "F": cls.BODY,
        "S": S,
        "PduError": PduError,
        "PduEncodeError": PduEncodeError,
        "truncated": _truncated,
        "cstr_error": _cstr_error,
        "check_time": _check_time,
        "check_time_encode": _check_time_encode,
        "decode_tlvs": _decode_tlvs,
        "encode_tlvs": encode_tlvs,
        "decode_dests": _decode_dests,
        "decode_unsuccess": _decode_unsuccess,
        "encode_dests": _encode_dests,
        "encode_unsuccess": _encode_unsuccess,
        "make_default": make_default,
        "is_default": is_default,
        "new": object.__new__,
        "first_missing_u8": _first_missing_u8,
        "pack_into": pack_into,
    }
    precise = _compile(_decoder_source(cls, fast=False), dict(namespace))
    pattern, _ = _prefix_pattern(cls.BODY)
    namespace["RX"] = re.compile(pattern, re.DOTALL).match
    namespace["precise"] = precise
    decoder = _compile(_decoder_source(cls, fast=True), dict(namespace))
    encoder = _compile(_encoder_source(cls), dict(namespace))
    return decoder, encoder


_DECODERS: dict[int, Callable[..., Pdu]] = {}
_ENCODERS: dict[int, Callable[..., bytes]] = {}
for _cls in ALL_PDU_CLASSES:
    _DECODERS[_cls.command_id], _ENCODERS[_cls.command_id] = _build(_cls)


# --- public API ------------------------------------------------------------------------------


def encode(pdu: Pdu, *, with_tlvs: bool = True) -> bytes:
    """The wire form of a PDU; with_tlvs=False drops TLVs (for SMPP v3.3 peers)."""
    try:
        return _ENCODERS[pdu.command_id](pdu, with_tlvs)
    except PduEncodeError:
        raise
    except (ValueError, TypeError, OverflowError, AttributeError, StructError) as exc:
        raise PduEncodeError(f"{pdu.command_name}: {_explain_encode_error(pdu) or exc}") from None


def _explain_encode_error(pdu: Pdu) -> str | None:
    for f in pdu.BODY:
        value = getattr(pdu, f.name)
        if f.kind == "u8" and not (isinstance(value, int) and 0 <= value <= 255):
            return f"{f.name} must be an integer 0..255, got {value!r}"
        if f.kind in ("cstr", "time") and not isinstance(value, str):
            return f"{f.name} must be a str, got {type(value).__name__}"
        if f.kind == "sm" and not isinstance(value, (bytes, bytearray)):
            return f"{f.name} must be bytes, got {type(value).__name__}"
    for name in ("command_status", "sequence_number"):
        value = getattr(pdu, name)
        if not (isinstance(value, int) and 0 <= value <= 0xFFFFFFFF):
            return f"{name} must be an integer 0..0xFFFFFFFF, got {value!r}"
    return None


def read_header(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int, int, int]:
    """command_length, command_id, command_status, sequence_number of the PDU at offset."""
    return unpack_from(">IIII", data, offset)


def decode(data: bytes, *, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> Pdu:
    """Decode exactly one PDU; raise PduError with the status to answer it with."""
    size = len(data)
    if size < HEADER_LENGTH:
        raise PduError(S.ESME_RINVCMDLEN, "command_length", f"{size} octets is shorter than a PDU header", fatal=True)
    length, command_id, status, seq = unpack_from(">IIII", data, 0)
    check_command_length(length, command_id, seq, max_command_length)
    if length != size:
        raise PduError(
            S.ESME_RINVCMDLEN,
            "command_length",
            f"command_length {length} does not match the {size} octets given",
            command_id=command_id,
            sequence_number=seq,
        )
    return decode_frame(bytes(data), command_id, status, seq)


def check_command_length(length: int, command_id: int, seq: int, max_command_length: int) -> None:
    """Raise a fatal PduError when command_length cannot frame a PDU."""
    if length < HEADER_LENGTH:
        raise PduError(
            S.ESME_RINVCMDLEN,
            "command_length",
            f"command_length {length} is below the 16-octet header",
            command_id=command_id,
            sequence_number=seq,
            fatal=True,
        )
    if length > max_command_length:
        raise PduError(
            S.ESME_RINVCMDLEN,
            "command_length",
            f"command_length {length} exceeds the maximum of {max_command_length}",
            command_id=command_id,
            sequence_number=seq,
            fatal=True,
        )


def decode_frame(frame: bytes, command_id: int, status: int, seq: int) -> Pdu:
    """Decode one framed PDU (exactly command_length octets) whose header fields are already read."""
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        raise PduError(
            S.ESME_RINVCMDID, "command_id", f"unknown command_id 0x{command_id:08X}", command_id=command_id, sequence_number=seq
        )
    try:
        return decoder(frame, seq, status)
    except PduError as exc:
        exc.command_id = command_id
        exc.sequence_number = seq
        raise


def pdu_class(command_id: int) -> type[Pdu] | None:
    """The PDU class for a command_id, or None when unknown."""
    return PDU_CLASS_BY_ID.get(command_id)
