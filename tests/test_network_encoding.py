"""Message encoding: data_coding table, GSM 03.38 vectors, segment boundaries, UDH, splitting and reassembly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.network.encoding import (
    GSM_ENCODE,
    ConcatenationError,
    EncodingError,
    LogicalMessage,
    MessagePart,
    Reassembler,
    SegmentInfo,
    Udh,
    build_udh,
    count_segments,
    count_text_segments,
    dcs_alphabet,
    decode_text,
    encode_text,
    is_gsm_text,
    message_part_from_pdu,
    parse_udh,
    split_text,
)
from simulator.smpp import codec
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.pdu import DataSm, DeliverSm, SubmitSm

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = ("esme1", "12345", "447700900123")
EMOJI = "\U0001F600"  # outside the BMP: a surrogate pair in UTF-16


def submit(esm_class: int = 0, data_coding: int = 0, short_message: bytes = b"", **tlvs: object) -> SubmitSm:
    """A submit_sm that has been through the wire codec, as the server would see it."""
    pdu = SubmitSm(source_addr=KEY[1], destination_addr=KEY[2], esm_class=esm_class,
                   data_coding=data_coding, short_message=short_message)
    for name, value in tlvs.items():
        pdu = pdu.with_tlv(name, value)
    return codec.decode(codec.encode(pdu))


def sar_submit(ref: int, total: int, seq: int, body: bytes, data_coding: int = 0) -> SubmitSm:
    """A submit_sm carrying one SAR segment."""
    return submit(data_coding=data_coding, short_message=body,
                  sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=seq)


def reassemble(parts: list[tuple[int, int, bytes]], order: list[int] | None = None,
               reassembler: Reassembler | None = None) -> LogicalMessage:
    """Feed split_text's parts as submit_sm PDUs, in the given order; the message must complete last."""
    if reassembler is None:
        reassembler = Reassembler(max_parts=255)
    order = order if order is not None else list(range(len(parts)))
    result = None
    for position, index in enumerate(order):
        esm_class, data_coding, short_message = parts[index]
        result = reassembler.add(KEY, message_part_from_pdu(submit(esm_class, data_coding, short_message)))
        if position < len(order) - 1:
            assert result is None
    assert isinstance(result, LogicalMessage)
    assert len(reassembler) == 0
    return result


# --- GSM 03.38 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "octets"),
    [
        ("@", b"\x00"), ("£", b"\x01"), ("$", b"\x02"), ("é", b"\x05"), ("\n", b"\x0a"), ("\r", b"\x0d"),
        ("Ç", b"\x09"), ("Δ", b"\x10"), ("_", b"\x11"), ("ß", b"\x1e"), (" ", b"\x20"), ("¤", b"\x24"),
        ("¡", b"\x40"), ("A", b"\x41"), ("§", b"\x5f"), ("¿", b"\x60"), ("a", b"\x61"), ("à", b"\x7f"),
        # Extension table: 0x1B escape then the code.
        ("\f", b"\x1b\x0a"), ("^", b"\x1b\x14"), ("{", b"\x1b\x28"), ("}", b"\x1b\x29"), ("\\", b"\x1b\x2f"),
        ("[", b"\x1b\x3c"), ("~", b"\x1b\x3d"), ("]", b"\x1b\x3e"), ("|", b"\x1b\x40"), ("€", b"\x1b\x65"),
    ],
)
def test_gsm_vectors(char: str, octets: bytes) -> None:
    assert encode_text(char) == (0, octets)
    assert decode_text(octets, 0) == char
    assert count_text_segments(char).units == len(octets)


def test_gsm_table_is_basic_plus_extension() -> None:
    assert len(GSM_ENCODE) == 127 + 10
    assert "\x1b" not in GSM_ENCODE  # the escape is not a character
    assert sum(len(v) == 2 for v in GSM_ENCODE.values()) == 10


def test_gsm_sentence() -> None:
    assert encode_text("Hi @ 5€ [ok]") == (0, b"Hi \x00 5\x1b\x65 \x1b\x3cok\x1b\x3e")
    assert decode_text(b"Hi \x00 5\x1b\x65 \x1b\x3cok\x1b\x3e", 0) == "Hi @ 5€ [ok]"


def test_characters_outside_gsm_choose_ucs2() -> None:
    assert not is_gsm_text("ç")  # only capital Ç is in the default alphabet
    assert encode_text("ça") == (8, "ça".encode("utf-16-be"))
    assert encode_text("a\x1bb") == (8, "a\x1bb".encode("utf-16-be"))
    assert encode_text("") == (0, b"")


@pytest.mark.parametrize(
    ("octets", "fragment"),
    [
        (b"abc\x1b", "ends the message"),
        (b"\x1b", "ends the message"),
        (b"a\x1b\x41", "not GSM 03.38"),  # escape followed by a code the extension table lacks
        (b"\x1b\x1b", "not GSM 03.38"),
        (b"a\x80", "not GSM 03.38"),  # unpacked septets never use bit 7
    ],
)
def test_gsm_decode_errors(octets: bytes, fragment: str) -> None:
    with pytest.raises(EncodingError) as info:
        decode_text(octets, 0)
    assert info.value.status == S.ESME_RINVMSGLEN
    assert fragment in str(info.value)


# --- other alphabets ---------------------------------------------------------------------------


def test_default_alphabet_latin1_vs_iso8859_15() -> None:
    assert decode_text(b"\xa4", 0, "latin-1") == "¤"
    assert decode_text(b"\xa4", 0, "iso-8859-15") == "€"
    assert decode_text(b"\xa4", 3, "iso-8859-15") == "¤"  # dcs 3 is Latin-1 whatever the default
    assert decode_text(b"\x24", 0, "gsm") == "¤"
    assert encode_text("€", "iso-8859-15") == (0, b"\xa4")
    assert encode_text("€", "latin-1") == (8, b"\x20\xac")
    assert encode_text("café", "latin-1") == (0, b"caf\xe9")


def test_ia5() -> None:
    assert decode_text(b"Hello", 1) == "Hello"
    with pytest.raises(EncodingError) as info:
        decode_text(b"caf\xe9", 1)
    assert info.value.status == S.ESME_RINVMSGLEN


def test_ucs2_with_emoji() -> None:
    text = f"Привет {EMOJI}!"
    data_coding, octets = encode_text(text)
    assert data_coding == 8
    assert octets[-6:] == b"\xd8\x3d\xde\x00\x00\x21"
    assert decode_text(octets, 8) == text
    assert count_text_segments(text).units == len(text) + 1  # the emoji is two code units


@pytest.mark.parametrize("octets", [b"\x00\x41\x00", b"\xd8\x3d\x00\x41", b"\xde\x00"])
def test_ucs2_errors(octets: bytes) -> None:
    with pytest.raises(EncodingError) as info:
        decode_text(octets, 8)
    assert info.value.status == S.ESME_RINVMSGLEN


def test_binary_returns_bytes() -> None:
    for data_coding in (2, 4, 0x15, 0xF4, 0xF6):
        assert decode_text(b"\x00\xff\x1b", data_coding) == b"\x00\xff\x1b"


@pytest.mark.parametrize(
    ("data_coding", "alphabet"),
    [
        (0x00, "gsm"), (0x01, "ascii"), (0x02, "binary"), (0x03, "latin-1"), (0x04, "binary"), (0x08, "ucs2"),
        (0x10, "gsm"), (0x13, "gsm"), (0x14, "binary"), (0x17, "binary"), (0x18, "ucs2"), (0x1B, "ucs2"),
        (0x40, "gsm"), (0x44, "binary"), (0x48, "ucs2"), (0x50, "gsm"), (0x58, "ucs2"),
        (0xC0, "gsm"), (0xD3, "gsm"), (0xE0, "ucs2"), (0xEF, "ucs2"),
        (0xF0, "gsm"), (0xF1, "gsm"), (0xF3, "gsm"), (0xF4, "binary"), (0xF5, "binary"), (0xF7, "binary"),
    ],
)
def test_dcs_table(data_coding: int, alphabet: str) -> None:
    assert dcs_alphabet(data_coding) == alphabet


@pytest.mark.parametrize(
    "data_coding",
    [0x05, 0x06, 0x07, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x1C, 0x1F, 0x20, 0x30, 0x3F,
     0x4C, 0x60, 0x7F, 0x80, 0xA5, 0xBF, 0xF8, 0xFF],
)
def test_unsupported_dcs(data_coding: int) -> None:
    with pytest.raises(EncodingError) as info:
        decode_text(b"x", data_coding)
    assert info.value.status == S.ESME_RINVDCS
    assert f"0x{data_coding:02X}" in str(info.value)


def test_gsm_groups_ignore_the_default_alphabet() -> None:
    assert dcs_alphabet(0x00, "latin-1") == "latin-1"
    assert dcs_alphabet(0xF0, "latin-1") == "gsm"
    assert decode_text(b"\x00", 0x10, "iso-8859-15") == "@"


def test_bad_default_alphabet_is_a_configuration_error() -> None:
    with pytest.raises(ValueError) as info:
        decode_text(b"x", 0, "utf-8")
    assert not isinstance(info.value, EncodingError)


# --- segment counting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref_bits", "expected"),
    [
        ("", 8, SegmentInfo("gsm", 0, 1, 160)),
        ("a" * 160, 8, SegmentInfo("gsm", 160, 1, 160)),
        ("a" * 161, 8, SegmentInfo("gsm", 161, 2, 153)),
        ("a" * 306, 8, SegmentInfo("gsm", 306, 2, 153)),
        ("a" * 307, 8, SegmentInfo("gsm", 307, 3, 153)),
        ("a" * 304, 16, SegmentInfo("gsm", 304, 2, 152)),
        ("a" * 305, 16, SegmentInfo("gsm", 305, 3, 152)),
        ("€" * 80, 8, SegmentInfo("gsm", 160, 1, 160)),
        ("a" * 159 + "€", 8, SegmentInfo("gsm", 161, 2, 153)),
        # 76 euros fill 152 septets; the 77th cannot take the last septet, so 3 parts for 306 septets.
        ("€" * 153, 8, SegmentInfo("gsm", 306, 3, 153)),
        ("Ж" * 70, 8, SegmentInfo("ucs2", 70, 1, 70)),
        ("Ж" * 71, 8, SegmentInfo("ucs2", 71, 2, 67)),
        ("Ж" * 134, 8, SegmentInfo("ucs2", 134, 2, 67)),
        ("Ж" * 135, 8, SegmentInfo("ucs2", 135, 3, 67)),
        ("Ж" * 132, 16, SegmentInfo("ucs2", 132, 2, 66)),
        ("Ж" * 133, 16, SegmentInfo("ucs2", 133, 3, 66)),
        (EMOJI * 35, 8, SegmentInfo("ucs2", 70, 1, 70)),
        (EMOJI * 36, 8, SegmentInfo("ucs2", 72, 2, 67)),
        # 33 emoji use 66 units per part; 67 emoji are 134 units yet need 3 parts.
        (EMOJI * 67, 8, SegmentInfo("ucs2", 134, 3, 67)),
    ],
)
def test_text_segment_boundaries(text: str, ref_bits: int, expected: SegmentInfo) -> None:
    assert count_text_segments(text, ref_bits=ref_bits) == expected
    assert len(split_text(text, 1, ref_bits=ref_bits)) == expected.segments


@pytest.mark.parametrize("data_coding", [1, 2, 3, 4])
@pytest.mark.parametrize(
    ("length", "ref_bits", "segments", "per_segment"),
    [(0, 8, 1, 140), (140, 8, 1, 140), (141, 8, 2, 134), (268, 8, 2, 134), (269, 8, 3, 134),
     (266, 16, 2, 133), (267, 16, 3, 133)],
)
def test_octet_segment_boundaries(
    data_coding: int, length: int, ref_bits: int, segments: int, per_segment: int
) -> None:
    info = count_segments(b"x" * length, data_coding, ref_bits=ref_bits)
    assert (info.units, info.segments, info.per_segment) == (length, segments, per_segment)
    assert info.encoding == {1: "ascii", 2: "binary", 3: "latin1", 4: "binary"}[data_coding]


def test_latin_default_alphabet_counts_as_octets() -> None:
    assert count_segments(b"x" * 141, 0, "latin-1") == SegmentInfo("latin1", 141, 2, 134)
    assert count_text_segments("é" * 140, "iso-8859-15") == SegmentInfo("latin1", 140, 1, 140)
    assert count_text_segments("€" * 141, "iso-8859-15") == SegmentInfo("latin1", 141, 2, 134)


def test_count_encoded_payloads() -> None:
    assert count_segments(b"a" * 160, 0) == SegmentInfo("gsm", 160, 1, 160)
    assert count_segments(b"\x1b\x65" * 81, 0) == SegmentInfo("gsm", 162, 2, 153)
    assert count_segments("Ж".encode("utf-16-be") * 71, 8) == SegmentInfo("ucs2", 71, 2, 67)
    assert count_segments(EMOJI.encode("utf-16-be") * 36, 8) == SegmentInfo("ucs2", 72, 2, 67)
    assert count_segments(b"a" * 161, 0xF0) == SegmentInfo("gsm", 161, 2, 153)
    with pytest.raises(EncodingError):
        count_segments(b"a\x1b", 0)
    with pytest.raises(ValueError):
        count_segments(b"a", 0, ref_bits=12)


# --- splitting -----------------------------------------------------------------------------


def test_split_single_part_has_no_udh() -> None:
    assert split_text("Hello @", 9) == [(0, 0, b"Hello \x00")]
    assert split_text("a" * 160, 9) == [(0, 0, b"a" * 160)]
    assert split_text("Ж" * 70, 9) == [(0, 8, "Ж".encode("utf-16-be") * 70)]


def test_split_gsm_multipart() -> None:
    parts = split_text("a" * 161, 0x42)
    assert parts == [
        (0x40, 0, b"\x05\x00\x03\x42\x02\x01" + b"a" * 153),
        (0x40, 0, b"\x05\x00\x03\x42\x02\x02" + b"a" * 8),
    ]
    parts16 = split_text("a" * 161, 0x1234, ref_bits=16)
    assert parts16[0] == (0x40, 0, b"\x06\x08\x04\x12\x34\x02\x01" + b"a" * 152)
    assert parts16[1][2] == b"\x06\x08\x04\x12\x34\x02\x02" + b"a" * 9


def test_extension_char_never_splits_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = split_text(text, 3)
    assert len(parts) == 2
    assert parts[0][2][6:] == b"a" * 152  # 152 septets: the escape pair did not fit in the last one
    assert parts[1][2][6:] == b"\x1b\x65" + b"b" * 10
    assert reassemble(parts).text == text


def test_emoji_never_splits_across_parts() -> None:
    text = "Ж" * 66 + EMOJI + "Ж" * 10
    parts = split_text(text, 3)
    assert len(parts) == 2
    assert all(dcs == 8 for _, dcs, _ in parts)
    assert parts[0][2][6:] == "Ж".encode("utf-16-be") * 66
    assert parts[1][2][6:10] == b"\xd8\x3d\xde\x00"
    for _, _, short_message in parts:
        decode_text(parse_udh(short_message)[1], 8)  # each part is valid UTF-16 on its own
    assert reassemble(parts).text == text


def test_split_limits() -> None:
    with pytest.raises(ValueError):
        split_text("a" * 161, 256)
    with pytest.raises(ValueError):
        split_text("a" * 161, 1, ref_bits=7)
    with pytest.raises(ValueError):
        split_text("a" * (153 * 256), 1)


gsm_text = st.text(st.sampled_from(sorted(GSM_ENCODE)), max_size=500)
any_text = st.text(
    st.one_of(st.sampled_from(sorted(GSM_ENCODE)), st.characters(codec="utf-8"), st.sampled_from([EMOJI, "Ж", "€"])),
    max_size=400,
)


@FAST
@given(text=st.one_of(gsm_text, any_text), ref=st.integers(0, 255), data=st.data())
def test_split_then_reassemble_round_trip(text: str, ref: int, data: st.DataObject) -> None:
    parts = split_text(text, ref)
    assert count_text_segments(text).segments == len(parts)
    order = data.draw(st.permutations(range(len(parts))))
    message = reassemble(parts, order)
    assert message.text == text
    assert message.segment_info == count_text_segments(text)
    assert message.data_coding == (0 if is_gsm_text(text) else 8)
    assert message.mechanism == ("single" if len(parts) == 1 else "udh8")
    for _, _, short_message in parts:
        assert len(short_message) <= 160


@FAST
@given(text=any_text, ref=st.integers(0, 0xFFFF))
def test_split_16_bit_ref_round_trip(text: str, ref: int) -> None:
    parts = split_text(text, ref, ref_bits=16)
    assert count_text_segments(text, ref_bits=16).segments == len(parts)
    message = reassemble(parts, list(reversed(range(len(parts)))))
    assert message.text == text
    if len(parts) > 1:
        assert (message.mechanism, message.ref) == ("udh16", ref)


@FAST
@given(
    text=st.text(st.characters(max_codepoint=0xFF), max_size=400),
    alphabet=st.sampled_from(["latin-1", "iso-8859-15"]),
)
def test_split_latin_default_round_trip(text: str, alphabet: str) -> None:
    parts = split_text(text, 5, alphabet)
    assert count_text_segments(text, alphabet).segments == len(parts)
    message = reassemble(parts, reassembler=Reassembler(max_parts=255, default_alphabet=alphabet))
    assert message.text == text


@FAST
@given(text=st.one_of(gsm_text, any_text))
def test_encode_decode_round_trip(text: str) -> None:
    data_coding, octets = encode_text(text)
    assert decode_text(octets, data_coding) == text
    assert count_segments(octets, data_coding) == count_text_segments(text)


# --- UDH ---------------------------------------------------------------------------------------


def test_build_udh_vectors() -> None:
    assert build_udh(0x42, 3, 1) == b"\x05\x00\x03\x42\x03\x01"
    assert build_udh(0x1234, 3, 2, ref_bits=16) == b"\x06\x08\x04\x12\x34\x03\x02"
    ports = build_udh(7, 2, 2, other_ies=((0x05, b"\x0b\x84\x23\xf0"),))
    assert ports == b"\x0b\x00\x03\x07\x02\x02\x05\x04\x0b\x84\x23\xf0"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((256, 2, 1), {}), ((-1, 2, 1), {}), ((0x10000, 2, 1), {"ref_bits": 16}), ((1, 0, 1), {}),
     ((1, 256, 1), {}), ((1, 2, 0), {}), ((1, 2, 3), {}), ((1, 2, 1), {"ref_bits": 4})],
)
def test_build_udh_rejects(args: tuple[int, int, int], kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        build_udh(*args, **kwargs)


def test_parse_udh() -> None:
    udh, body = parse_udh(b"\x05\x00\x03\x42\x03\x01hello")
    assert udh == Udh(ref=0x42, total=3, seq=1, ref_bits=8)
    assert udh.concatenated and body == b"hello"
    udh, body = parse_udh(b"\x06\x08\x04\x12\x34\x03\x02hi")
    assert (udh.ref, udh.total, udh.seq, udh.ref_bits, body) == (0x1234, 3, 2, 16, b"hi")
    udh, body = parse_udh(b"\x06\x05\x04\x0b\x84\x23\xf0data")
    assert udh == Udh(other_ies=((0x05, b"\x0b\x84\x23\xf0"),))
    assert not udh.concatenated and body == b"data"
    assert parse_udh(b"\x00rest") == (Udh(), b"rest")


@given(
    ref_bits=st.sampled_from([8, 16]),
    data=st.data(),
    others=st.lists(st.tuples(st.integers(0x01, 0x07), st.binary(max_size=8)), max_size=3),
    body=st.binary(max_size=40),
)
@FAST
def test_udh_round_trip(ref_bits: int, data: st.DataObject, others: list[tuple[int, bytes]], body: bytes) -> None:
    total = data.draw(st.integers(1, 255))
    seq = data.draw(st.integers(1, total))
    ref = data.draw(st.integers(0, (1 << ref_bits) - 1))
    header = build_udh(ref, total, seq, ref_bits, tuple(others))
    assert parse_udh(header + body) == (Udh(ref, total, seq, ref_bits, tuple(others)), body)


@pytest.mark.parametrize(
    ("octets", "fragment"),
    [
        (b"", "empty"),
        (b"\x05\x00\x03\x01", "UDHL 5"),
        (b"\x01\x00", "cut off"),
        (b"\x04\x00\x03\x01\x02", "declares 3"),
        (b"\x04\x00\x02\x01\x02xx", "length 2"),
        (b"\x06\x08\x03\x01\x02\x01\x00xx", "length 3"),
        (b"\x05\x00\x03\x01\x00\x00xx", "total 0"),
        (b"\x05\x00\x03\x01\x02\x00xx", "sequence 0"),
        (b"\x05\x00\x03\x01\x02\x03xx", "sequence 3"),
        (b"\x0a\x00\x03\x01\x02\x01\x00\x03\x01\x02\x02xx", "more than one"),
    ],
)
def test_malformed_udh(octets: bytes, fragment: str) -> None:
    with pytest.raises(EncodingError) as info:
        parse_udh(octets)
    assert info.value.status == S.ESME_RINVMSGLEN
    assert "malformed UDH" in str(info.value) and fragment in str(info.value)


# --- message parts from PDUs -----------------------------------------------------------------


def test_part_from_udh_pdu() -> None:
    part = message_part_from_pdu(submit(0x40, 0, b"\x05\x00\x03\x42\x03\x02abc"))
    assert part == MessagePart(0x42, 3, 2, 0, b"abc", "udh8")
    part = message_part_from_pdu(submit(0x43, 8, b"\x06\x08\x04\x01\x00\x02\x01\x00A"))
    assert part == MessagePart(0x100, 2, 1, 8, b"\x00A", "udh16")


def test_part_from_sar_pdu() -> None:
    assert message_part_from_pdu(sar_submit(0xBEEF, 4, 3, b"xyz")) == MessagePart(0xBEEF, 4, 3, 0, b"xyz", "sar")


def test_part_single_and_payload() -> None:
    assert message_part_from_pdu(submit(0, 0, b"hi")) == MessagePart(None, 1, 1, 0, b"hi", "single")
    long = b"a" * 400
    assert message_part_from_pdu(submit(message_payload=long)) == MessagePart(None, 1, 1, 0, long, "payload")
    data_sm = DataSm(data_coding=8).with_tlv("message_payload", "hé".encode("utf-16-be"))
    assert message_part_from_pdu(data_sm).mechanism == "payload"


def test_udhi_without_concatenation_keeps_other_ies() -> None:
    pdu = submit(0x40, 4, b"\x06\x05\x04\x0b\x84\x23\xf0wap")
    part = message_part_from_pdu(pdu)
    assert part == MessagePart(None, 1, 1, 4, b"wap", "single", ((0x05, b"\x0b\x84\x23\xf0"),))
    message = Reassembler().add(KEY, part)
    assert message is not None and message.text is None and message.payload == b"wap"
    assert message.other_ies == ((0x05, b"\x0b\x84\x23\xf0"),)


def test_udh_in_message_payload() -> None:
    pdu = submit(0x40, 0, message_payload=b"\x05\x00\x03\x09\x02\x02tail")
    assert message_part_from_pdu(pdu) == MessagePart(9, 2, 2, 0, b"tail", "udh8")


def test_udh_and_sar_on_one_pdu() -> None:
    pdu = submit(0x40, 0, b"\x05\x00\x03\x09\x02\x01x", sar_msg_ref_num=9, sar_total_segments=2, sar_segment_seqnum=1)
    with pytest.raises(ConcatenationError) as info:
        message_part_from_pdu(pdu)
    assert info.value.status == S.ESME_RSUBMITFAIL


def test_sar_with_port_udh_is_allowed() -> None:
    port_udh = b"\x06\x05\x04\x0b\x84\x23\xf0"
    pdu = submit(0x40, 4, port_udh + b"x", sar_msg_ref_num=9, sar_total_segments=2, sar_segment_seqnum=1)
    assert message_part_from_pdu(pdu) == MessagePart(9, 2, 1, 4, b"x", "sar", ((0x05, b"\x0b\x84\x23\xf0"),))


def test_incomplete_sar_tlvs() -> None:
    with pytest.raises(ConcatenationError) as info:
        message_part_from_pdu(submit(0, 0, b"x", sar_msg_ref_num=9, sar_segment_seqnum=1))
    assert info.value.status == S.ESME_RMISSINGOPTPARAM
    assert "sar_total_segments" in str(info.value)


def test_malformed_udh_in_pdu() -> None:
    with pytest.raises(EncodingError) as info:
        message_part_from_pdu(submit(0x40, 0, b"\x09\x00\x03\x01\x02\x01"))
    assert info.value.status == S.ESME_RINVMSGLEN


# --- reassembly ------------------------------------------------------------------------------


def test_sar_reassembly_out_of_order() -> None:
    reassembler = Reassembler()
    chunks = [b"Hello, ", b"concatenated ", b"world \x1b\x65"]
    assert reassembler.add(KEY, message_part_from_pdu(sar_submit(700, 3, 3, chunks[2]))) is None
    assert reassembler.add(KEY, message_part_from_pdu(sar_submit(700, 3, 1, chunks[0]))) is None
    message = reassembler.add(KEY, message_part_from_pdu(sar_submit(700, 3, 2, chunks[1])))
    assert message == LogicalMessage(
        key=KEY, mechanism="sar", ref=700, total=3, data_coding=0, payload=b"".join(chunks),
        text="Hello, concatenated world €", parts=3, segment_info=SegmentInfo("gsm", 28, 1, 160),
    )


def test_single_and_payload_complete_at_once() -> None:
    reassembler = Reassembler()
    message = reassembler.add(KEY, message_part_from_pdu(submit(0, 0, b"hi \x00")))
    assert message is not None and (message.mechanism, message.text, message.parts) == ("single", "hi @", 1)
    long_text = "Ж" * 100 + EMOJI
    pdu = submit(0, 8, message_payload=long_text.encode("utf-16-be"))
    message = reassembler.add(KEY, message_part_from_pdu(pdu))
    assert message is not None
    assert (message.mechanism, message.text, message.ref) == ("payload", long_text, None)
    assert message.segment_info == SegmentInfo("ucs2", 102, 2, 67)


def test_split_escape_and_surrogate_across_sender_parts_still_decode() -> None:
    # A sloppy ESME splits inside an escape pair / surrogate pair; the joined message is still valid.
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(1, 2, 1, 0, b"a\x1b", "udh8"))
    assert reassembler.add(KEY, MessagePart(1, 2, 2, 0, b"\x65b", "udh8")).text == "a€b"
    reassembler.add(KEY, MessagePart(2, 2, 1, 8, b"\xd8\x3d", "udh8"))
    assert reassembler.add(KEY, MessagePart(2, 2, 2, 8, b"\xde\x00", "udh8")).text == EMOJI


def test_binary_reassembly() -> None:
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(5, 2, 2, 4, b"\xff", "udh8"))
    message = reassembler.add(KEY, MessagePart(5, 2, 1, 4, b"\x00", "udh8"))
    assert message is not None and message.text is None and message.payload == b"\x00\xff"
    assert message.segment_info == SegmentInfo("binary", 2, 1, 140)


def test_messages_are_kept_apart_by_key_mechanism_and_ref() -> None:
    reassembler = Reassembler()
    other_key = ("esme2",) + KEY[1:]
    assert reassembler.add(KEY, MessagePart(1, 2, 1, 0, b"a", "udh8")) is None
    assert reassembler.add(other_key, MessagePart(1, 2, 1, 0, b"b", "udh8")) is None
    assert reassembler.add(KEY, MessagePart(1, 2, 1, 0, b"c", "sar")) is None
    assert reassembler.add(KEY, MessagePart(2, 2, 1, 0, b"d", "udh8")) is None
    assert len(reassembler) == 4
    assert reassembler.add(other_key, MessagePart(1, 2, 2, 0, b"B", "udh8")).text == "bB"
    assert reassembler.add(KEY, MessagePart(1, 2, 2, 0, b"A", "udh8")).text == "aA"


def test_pending_lists_incomplete_messages() -> None:
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(1, 3, 3, 0, b"c", "udh8"))
    reassembler.add(KEY, MessagePart(1, 3, 1, 0, b"a", "udh8"))
    reassembler.add(KEY, MessagePart(300, 2, 2, 8, b"\x00a", "sar"))
    pending = reassembler.pending()
    assert [(p.mechanism, p.ref, p.total, p.data_coding, p.received) for p in pending] == [
        ("udh8", 1, 3, 0, (1, 3)),
        ("sar", 300, 2, 8, (2,)),
    ]
    assert pending[0].key == KEY


def test_max_pending_evicts_the_oldest() -> None:
    reassembler = Reassembler(max_pending=2)
    for ref in (1, 2, 3):
        reassembler.add(KEY, MessagePart(ref, 2, 1, 0, b"x", "udh8"))
    assert [p.ref for p in reassembler.pending()] == [2, 3]
    assert reassembler.evicted == 1
    # The evicted message starts over: its second part alone is now incomplete.
    assert reassembler.add(KEY, MessagePart(1, 2, 2, 0, b"y", "udh8")) is None
    assert [p.ref for p in reassembler.pending()] == [3, 1]
    assert reassembler.add(KEY, MessagePart(3, 2, 2, 0, b"y", "udh8")).text == "xy"


def _expect(reassembler: Reassembler, part: MessagePart, status: int, fragment: str) -> None:
    with pytest.raises(EncodingError) as info:
        reassembler.add(KEY, part)
    assert info.value.status == status, str(info.value)
    assert fragment in str(info.value)


def test_inconsistent_total() -> None:
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(7, 3, 1, 0, b"a", "udh8"))
    _expect(reassembler, MessagePart(7, 4, 2, 0, b"b", "udh8"), S.ESME_RSUBMITFAIL, "earlier parts said 3")
    # The rejected part changed nothing: the message still completes with the right parts.
    reassembler.add(KEY, MessagePart(7, 3, 2, 0, b"b", "udh8"))
    assert reassembler.add(KEY, MessagePart(7, 3, 3, 0, b"c", "udh8")).text == "abc"


def test_sequence_out_of_range() -> None:
    reassembler = Reassembler()
    _expect(reassembler, MessagePart(7, 3, 4, 0, b"a", "sar"), S.ESME_RSUBMITFAIL, "outside 1..3")
    _expect(reassembler, MessagePart(7, 3, 0, 0, b"a", "sar"), S.ESME_RSUBMITFAIL, "outside 1..3")
    _expect(reassembler, MessagePart(7, 0, 0, 0, b"a", "sar"), S.ESME_RSUBMITFAIL, "total 0")
    assert len(reassembler) == 0


def test_sar_sequence_out_of_range_from_pdu() -> None:
    reassembler = Reassembler()
    _expect(reassembler, message_part_from_pdu(sar_submit(1, 2, 3, b"x")), S.ESME_RSUBMITFAIL, "outside 1..2")
    _expect(reassembler, message_part_from_pdu(sar_submit(1, 2, 0, b"x")), S.ESME_RSUBMITFAIL, "outside 1..2")


def test_duplicate_sequence() -> None:
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(7, 2, 1, 0, b"a", "sar"))
    _expect(reassembler, MessagePart(7, 2, 1, 0, b"a", "sar"), S.ESME_RSUBMITFAIL, "arrived twice")
    assert reassembler.add(KEY, MessagePart(7, 2, 2, 0, b"b", "sar")).text == "ab"


def test_mixed_data_coding() -> None:
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(7, 2, 1, 0, b"a", "udh8"))
    _expect(reassembler, MessagePart(7, 2, 2, 8, b"\x00b", "udh8"), S.ESME_RSUBMITFAIL, "data_coding 0x08")


def test_max_parts() -> None:
    _expect(Reassembler(), MessagePart(7, 11, 1, 0, b"a", "udh8"), S.ESME_RINVMSGLEN, "limit of 10")
    assert Reassembler().add(KEY, MessagePart(7, 10, 1, 0, b"a", "udh8")) is None
    _expect(Reassembler(max_parts=3), MessagePart(7, 4, 1, 0, b"a", "sar"), S.ESME_RINVMSGLEN, "limit of 3")
    # split_text of 10 full GSM parts is accepted by the default limit, 11 are not.
    parts = split_text("a" * 153 * 10, 1)
    assert reassemble(parts, reassembler=Reassembler()).text == "a" * 1530
    eleven = split_text("a" * (153 * 10 + 1), 1)
    _expect(Reassembler(), message_part_from_pdu(submit(*eleven[0])), S.ESME_RINVMSGLEN, "11 parts")


def test_unsupported_dcs_rejected_on_first_part() -> None:
    _expect(Reassembler(), MessagePart(7, 2, 1, 0x05, b"a", "udh8"), S.ESME_RINVDCS, "0x05")


def test_undecodable_text_on_completion() -> None:
    reassembler = Reassembler()
    reassembler.add(KEY, MessagePart(7, 2, 1, 1, b"caf", "sar"))
    _expect(reassembler, MessagePart(7, 2, 2, 1, b"\xe9", "sar"), S.ESME_RINVMSGLEN, "not IA5")
    assert len(reassembler) == 0  # a complete but broken message is not kept pending


def test_deliver_sm_parts() -> None:
    parts = split_text("x" * 200, 77)
    reassembler = Reassembler()
    for esm_class, data_coding, short_message in reversed(parts):
        deliver = DeliverSm(esm_class=esm_class, data_coding=data_coding, short_message=short_message)
        pdu = codec.decode(codec.encode(deliver))
        message = reassembler.add(KEY, message_part_from_pdu(pdu))
    assert message is not None and message.text == "x" * 200 and message.ref == 77


def test_error_repr_and_status() -> None:
    error = ConcatenationError("boom")
    assert error.status == S.ESME_RSUBMITFAIL and str(error) == "boom"
    assert repr(error) == "ConcatenationError(0x00000045, 'boom')"
    assert isinstance(error, EncodingError) and isinstance(error, ValueError)
