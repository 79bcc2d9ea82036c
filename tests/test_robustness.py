"""Robustness of the live SMSC against random, mutated and malformed byte streams.

Thousands of deterministic inputs (seeded random.Random, plus a derandomized hypothesis property)
go to the running server over many concurrent 127.0.0.1 connections. For every session:

* everything the server sends parses into whole PDUs that our strict codec decodes;
* it only ever sends responses or generic_nack (never a request) to such input, never
  ESME_RSYSERR, never a status outside the standard table, and each reply carries a sequence
  number that occurs in the input (or 0 on the generic_nack for a command_length that is bad
  before a whole header arrived);
* the session ends cleanly: the server closes its side (on its own after a framing error or
  unbind, or after our half-close) within a bounded time.

Meanwhile one smpplib transceiver stays bound throughout and must keep submitting and answering
enquire_link; at the end no internal error may have been counted and no session may have leaked.

The corpus replays whole PDUs (same sequence_number) on purpose: two requests with one
sequence_number in one read used to abort the connection with an internal error
(see test_duplicate_sequence_numbers_in_one_read).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterator

import pytest
import smpplib.client
import smpplib.smpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import Account, ServerConfig
from simulator.network.messages import MessageIdGenerator
from simulator.smpp import codec
from simulator.smpp import pdu as P
from simulator.smpp.codec import PduError
from simulator.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus
from simulator.smpp.timefmt import format_relative
from simulator.smpp.tlv import STANDARD_TLVS, Tlv

S = CommandStatus
SEED = 0x5EED_2024
N_INPUTS = 2000
CONCURRENCY = 48
BATCH = 250  # the healthy client is checked after every batch
SESSION_DEADLINE = 4.0  # hard bound on one fuzz session (connect, send, read to EOF)
IDLE_READ = 0.3  # "no more data" wait used where a session may legitimately stay open
WHOLE_RUN_DEADLINE = 50.0
MAX_COMMAND_LENGTH = 65536  # SmscSettings default
KNOWN_STATUSES = frozenset(int(s) for s in CommandStatus)
KNOWN_IDS = frozenset(int(c) for c in CommandId)

HEALTHY = ("smppclient1", "password")
FUZZ = ("fuzz", "fuzzpw")  # mutated streams: every operation except the broadcast family
FUZZ_BC = ("fuzzbc", "bcpw")  # mutated streams around the broadcast family, mostly on v5.0 binds
LOCKSTEP = ("lockstep", "lspw")  # well-formed requests with exact expected answers; nobody else touches its messages


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    # The open network, with messages staying ENROUTE for an hour so the exact-answer model holds
    # (no state changes or receipts while the test runs).
    profile = tmp_path / "fuzz-network.yaml"
    profile.write_text(
        "name: fuzz\ncoverage: ['*']\nopen_routing: true\ndefault_mt_price: 0\ndefault_mo_price: 0\n"
        "max_parts: 255\nopt_out_words: []\ndelivery_rules:\n  - sequence: [{after: 1h, state: DELIVERED}]\n"
    )
    return ServerConfig(
        network=str(profile),
        accounts=[
            Account(system_id=HEALTHY[0], password=HEALTHY[1]),
            Account(system_id=FUZZ[0], password=FUZZ[1], max_binds=100_000),
            Account(system_id=FUZZ_BC[0], password=FUZZ_BC[1], max_binds=100_000),
            Account(system_id=LOCKSTEP[0], password=LOCKSTEP[1], max_binds=100_000),
        ]
    )


# --- reply checking --------------------------------------------------------------------------


def split_frames(data: bytes) -> list[bytes]:
    """Cut a reply stream into PDUs; the server must never send a partial or mis-framed PDU."""
    frames, pos = [], 0
    while pos < len(data):
        assert len(data) - pos >= 16, f"partial header at offset {pos}: {data[pos:]!r}"
        (length,) = struct.unpack_from(">I", data, pos)
        assert 16 <= length <= len(data) - pos, f"bad command_length {length} at offset {pos} of {len(data)}"
        frames.append(data[pos : pos + length])
        pos += length
    return frames


def check_replies(sent: bytes, received: bytes) -> list[P.Pdu]:
    """Decode every reply strictly and check the invariants that hold for any input."""
    replies = []
    for frame in split_frames(received):
        try:
            pdu = codec.decode(frame, max_command_length=MAX_COMMAND_LENGTH)
        except PduError as exc:  # pragma: no cover - a failure report
            raise AssertionError(f"server sent an undecodable PDU {frame.hex()}: {exc}") from None
        assert pdu.is_response, f"server sent a request {pdu} to garbage input"
        assert pdu.command_status in KNOWN_STATUSES, f"non-standard status in {pdu}"
        assert pdu.command_status != S.ESME_RSYSERR, f"internal error answered: {pdu}"
        # Every answer echoes a sequence_number read from a header of the input, except the generic_nack
        # for a command_length that is bad before the header is complete (sequence_number 0 then).
        framing_nack = type(pdu) is P.GenericNack and pdu.command_status == S.ESME_RINVCMDLEN and pdu.sequence_number == 0
        assert framing_nack or struct.pack(">I", pdu.sequence_number) in sent, f"{pdu} echoes a sequence_number never sent"
        replies.append(pdu)
    return replies


# --- a corpus of valid PDUs ------------------------------------------------------------------


def digits(rng: random.Random, low: int = 1, high: int = 20) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(low, high)))


def text(rng: random.Random, high: int) -> str:
    return "".join(chr(rng.randint(0x21, 0x7E)) for _ in range(rng.randint(0, high)))


# message_payload is added explicitly where wanted (the encoder refuses it next to a short_message).
TLV_CHOICES = tuple(spec for spec in STANDARD_TLVS if spec.name != "message_payload")


def random_tlvs(rng: random.Random, count: int) -> tuple[Tlv, ...]:
    out = []
    for _ in range(count):
        if rng.random() < 0.15:  # vendor-specific tag, opaque value
            out.append(Tlv(rng.randint(0x1400, 0x3FFF), rng.randbytes(rng.randint(0, 12))))
            continue
        spec = rng.choice(TLV_CHOICES)
        if spec.kind == "int":
            value: Any = rng.randrange(256**spec.min_length)
        elif spec.kind == "cstr":
            value = text(rng, min(spec.max_length - 1, 30))
        else:
            value = rng.randbytes(rng.randint(spec.min_length, min(spec.max_length, 40)))
        out.append(Tlv(spec.tag, value))
    return tuple(out)


def smpp_time(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return ""
    if roll < 0.8:
        return format_relative(timedelta(seconds=rng.randint(0, 10**7)))
    return f"{rng.randint(24, 40):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}1200000{rng.randint(0, 48):02d}+"


def message_fields(rng: random.Random) -> dict[str, Any]:
    return dict(
        service_type=rng.choice(["", "CMT", "WAP"]),
        source_addr_ton=rng.randint(0, 6),
        source_addr_npi=rng.randint(0, 18),
        source_addr=digits(rng, 0, 20),
        esm_class=rng.choice([0, 0x40, rng.randint(0, 255)]),
        protocol_id=rng.randint(0, 255),
        priority_flag=rng.randint(0, 4),
        schedule_delivery_time=smpp_time(rng),
        validity_period=smpp_time(rng),
        registered_delivery=rng.randint(0, 31),
        replace_if_present_flag=rng.randint(0, 1),
        data_coding=rng.choice([0, 3, 8, rng.randint(0, 255)]),
        sm_default_msg_id=rng.randint(0, 255),
        short_message=rng.randbytes(rng.randint(0, 160)),
        tlvs=random_tlvs(rng, rng.choice([0, 0, 1, 3])),
    )


def message_id(rng: random.Random, known: list[str]) -> str:
    return rng.choice(known) if known and rng.random() < 0.7 else f"{rng.getrandbits(32):x}"


def bind_pdu(rng: random.Random, account: tuple[str, str], kinds=(P.BindTransmitter, P.BindReceiver, P.BindTransceiver),
             versions=(0x33, 0x34, 0x34, 0x50)) -> P.Pdu:
    if account == FUZZ_BC:
        versions = (0x34, 0x50, 0x50)
    cls = rng.choice(kinds)
    return cls(system_id=account[0], password=account[1], system_type=rng.choice(["", "VMA"]),
               interface_version=rng.choice(versions), address_range=rng.choice(["", "^44"]))


def request_pdu(rng: random.Random, account: tuple[str, str], known: list[str]) -> P.Pdu:
    """One well-formed PDU an ESME might send (or wrongly send), for the given account's corpus."""
    if account == FUZZ_BC:
        area = (Tlv(0x0606, rng.randbytes(rng.randint(1, 20))), Tlv(0x0601, rng.randbytes(3)),
                Tlv(0x0604, rng.randrange(65536)), Tlv(0x0605, rng.randbytes(3)))
        choice = rng.randrange(7)
        if choice == 6:  # by address: walks stored broadcasts too (they have no destination_addr)
            return P.CancelSm(source_addr=digits(rng, 0, 1), destination_addr=rng.choice(["", digits(rng, 0, 1)]))
        if choice == 0:
            return P.BroadcastSm(source_addr=digits(rng, 0, 1), message_id=text(rng, 10), priority_flag=rng.randint(0, 4),
                                 data_coding=rng.randint(0, 255), tlvs=area + random_tlvs(rng, rng.choice([0, 1])))
        if choice == 1:
            return P.QueryBroadcastSm(message_id=message_id(rng, known), source_addr=digits(rng, 0, 20))
        if choice == 2:
            return P.CancelBroadcastSm(message_id=message_id(rng, known), source_addr=digits(rng, 0, 20))
        if choice == 3:
            return P.QuerySm(message_id=message_id(rng, known))
        if choice == 4:
            return P.SubmitSm(destination_addr=digits(rng), **message_fields(rng))
        return P.EnquireLink()
    choice = rng.randrange(17)
    if choice <= 3:
        return P.SubmitSm(dest_addr_ton=rng.randint(0, 6), dest_addr_npi=rng.randint(0, 18),
                          destination_addr=digits(rng, 0, 20), **message_fields(rng))
    if choice == 4:
        fields = message_fields(rng)
        dests = tuple(P.SmeAddress(rng.randint(0, 6), rng.randint(0, 18), digits(rng, 0, 20)) if rng.random() < 0.7
                      else P.DistributionList(text(rng, 20)) for _ in range(rng.randint(1, 6)))
        return P.SubmitMulti(dest_addresses=dests, **fields)
    if choice == 5:
        return P.DataSm(source_addr=digits(rng, 0, 64), destination_addr=digits(rng, 0, 64), esm_class=rng.randint(0, 255),
                        registered_delivery=rng.randint(0, 31), data_coding=rng.randint(0, 255),
                        tlvs=(Tlv(0x0424, rng.randbytes(rng.randint(0, 300))),) + random_tlvs(rng, rng.choice([0, 2])))
    if choice == 6:
        return P.QuerySm(message_id=message_id(rng, known), source_addr=digits(rng, 0, 20))
    if choice == 7:
        return P.CancelSm(message_id=message_id(rng, known), source_addr=digits(rng, 0, 20), destination_addr=digits(rng, 0, 20))
    if choice == 8:
        return P.ReplaceSm(message_id=message_id(rng, known), source_addr=digits(rng, 0, 20), validity_period=smpp_time(rng),
                           registered_delivery=rng.randint(0, 31), short_message=rng.randbytes(rng.randint(0, 140)))
    if choice == 9:
        return P.EnquireLink()
    if choice == 10:
        return bind_pdu(rng, account)
    if choice == 11:
        return P.DeliverSm(destination_addr=digits(rng), **message_fields(rng))  # wrong direction
    if choice == 12:
        return rng.choice([P.DeliverSmResp(), P.GenericNack(command_status=rng.choice([0, 3])), P.EnquireLinkResp(),
                           P.SubmitSmResp(message_id="x")])  # unsolicited responses
    if choice == 13:
        return P.Outbind(system_id=account[0], password=account[1])  # only an SMSC sends this
    if choice == 14:
        return P.AlertNotification(source_addr=digits(rng), esme_addr=digits(rng))  # idem
    if choice == 15:
        return P.Unbind()
    return P.CancelSm(service_type="", source_addr=digits(rng, 0, 3), destination_addr=digits(rng, 0, 3))


def replayed(rng: random.Random, pdus: list[P.Pdu], seqs: Iterator[int]) -> bytes:
    """The PDUs encoded with fresh sequence numbers; sometimes one is sent twice, sequence_number and all."""
    frames = [codec.encode(p.replace(sequence_number=next(seqs))) for p in pdus]
    if rng.random() < 0.25:
        frames.insert(rng.randint(0, len(frames)), rng.choice(frames))
    return b"".join(frames)


# --- mutations -------------------------------------------------------------------------------

INTERESTING_U32 = (0, 1, 15, 16, 17, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, MAX_COMMAND_LENGTH, MAX_COMMAND_LENGTH + 1)


def mutate(rng: random.Random, data: bytes, count: int) -> bytearray:
    buf = bytearray(data)
    for _ in range(count):
        op = rng.randrange(9)
        pos = rng.randint(0, max(len(buf) - 1, 0))
        if not buf:
            buf += rng.randbytes(rng.randint(1, 32))
        elif op == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 24))
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 24)]
        elif op == 4:
            del buf[rng.randint(0, len(buf)) :]
        elif op == 5:  # duplicate a slice somewhere else
            start = rng.randint(0, len(buf) - 1)
            chunk = buf[start : start + rng.randint(1, 64)]
            at = rng.randint(0, len(buf))
            buf[at:at] = chunk
        elif op == 6:  # an interesting 32-bit value, often over a header field
            at = rng.choice([0, 4, 8, 12, pos]) if len(buf) >= 16 else pos
            buf[at : at + 4] = struct.pack(">I", rng.choice(INTERESTING_U32))
        elif op == 7:  # NUL or 0xFF runs break C-strings and counts
            buf[pos : pos + rng.randint(1, 8)] = bytes([rng.choice([0, 0xFF])]) * rng.randint(1, 8)
        else:  # drop one byte: everything after it shifts
            buf[pos : pos + 1] = b""
    return buf


def mutate_body(rng: random.Random, frame: bytes) -> bytes:
    """Mutate only the body of one PDU and fix command_length, so framing holds and decoders are hit."""
    body = mutate(rng, frame[16:], rng.randint(1, 4))
    header = bytearray(frame[:16])
    struct.pack_into(">I", header, 0, 16 + len(body))
    return bytes(header) + bytes(body)


# --- fuzz cases ------------------------------------------------------------------------------


@dataclass
class Case:
    kind: str
    payload: bytes = b""
    bind: bytes = b""  # sent first, in lockstep (wait for bind_resp) so later PDUs meet a bound session
    cuts: list[int] = field(default_factory=list)  # send the payload in pieces, cut at these offsets
    half_close: bool = True
    expect: Any = None  # kind-specific expectation


@dataclass
class Outcome:
    case: Case
    replies: list[P.Pdu] = field(default_factory=list)
    closed_by_server: bool = False
    error: str | None = None


def build_cases(rng: random.Random, count: int, server_seed: int) -> list[Case]:
    seqs = iter(range(1, 1 << 30))
    # The SMSC's ids are reproducible from its seed: aim query/cancel/replace at messages that exist.
    ids = MessageIdGenerator("hex", random.Random(server_seed))
    known = [ids.next() for _ in range(3000)]
    cases = []
    for _ in range(count):
        roll = rng.random()
        account = FUZZ_BC if rng.random() < 0.25 else FUZZ
        if roll < 0.10:
            case = Case("random", rng.randbytes(rng.randint(0, 400)))
        elif roll < 0.15:  # command_length below the header: fatal, generic_nack then close
            seq = next(seqs)
            header = struct.pack(">IIII", rng.randint(0, 15), rng.choice([4, 9, 0x15, rng.getrandbits(32)]), 0, seq)
            case = Case("short_length", header + rng.randbytes(rng.randint(0, 40)), half_close=False, expect=seq)
        elif roll < 0.20:  # command_length far beyond the maximum: same
            seq = next(seqs)
            length = rng.choice([MAX_COMMAND_LENGTH + 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.randint(MAX_COMMAND_LENGTH + 1, 0xFFFFFFFF)])
            header = struct.pack(">IIII", length, rng.choice([2, 4, rng.getrandbits(32)]), 0, seq)
            case = Case("huge_length", header + rng.randbytes(rng.randint(0, 40)), half_close=False, expect=seq)
        elif roll < 0.26:  # unknown command_id: generic_nack ESME_RINVCMDID, the session lives on
            command_id = rng.getrandbits(32)
            while command_id in KNOWN_IDS:
                command_id = rng.getrandbits(32)
            seq, probe = next(seqs), next(seqs)
            frame = struct.pack(">IIII", 16 + (n := rng.randint(0, 60)), command_id, 0, seq) + rng.randbytes(n)
            case = Case("unknown_command", frame + codec.encode(P.EnquireLink(sequence_number=probe)), expect=(seq, probe))
        elif roll < 0.38:  # well-formed requests in lockstep: exact answers
            bind = bind_pdu(rng, LOCKSTEP, (P.BindTransmitter, P.BindTransceiver), (0x34, 0x50))
            first_seq = next(seqs)
            for _ in range(LOCKSTEP_OPS):
                next(seqs)
            case = Case("lockstep", bind=codec.encode(bind.replace(sequence_number=next(seqs))), half_close=False,
                        expect=(bind.interface_version, rng.getrandbits(64), first_seq))
        elif roll < 0.50:  # a stream of valid PDUs (bind first, pipelined), mutated anywhere
            pdus = ([bind_pdu(rng, account)] if rng.random() < 0.7 else []) + [
                request_pdu(rng, account, known) for _ in range(rng.randint(1, 5))
            ]
            case = Case("mutated_stream", bytes(mutate(rng, replayed(rng, pdus, seqs), rng.randint(1, 6))))
        elif roll < 0.72:  # bound session, then pipelined requests, some mutated: the handlers see fuzz
            bind = bind_pdu(rng, account)
            pdus = [request_pdu(rng, account, known) for _ in range(rng.randint(1, 6))]
            case = Case("bound_mutated_stream", bytes(mutate(rng, replayed(rng, pdus, seqs), rng.choice([0, 0, 1, 2, 4]))),
                        bind=codec.encode(bind.replace(sequence_number=next(seqs))))
        elif roll < 0.90:  # bound session, then one PDU with a mutated body, then a probe
            bind = bind_pdu(rng, account, (P.BindTransmitter, P.BindTransceiver, P.BindReceiver))
            target = request_pdu(rng, account, known)
            while target.is_response or isinstance(target, P.Unbind):
                target = request_pdu(rng, account, known)
            seq, probe = next(seqs), next(seqs)
            frame = mutate_body(rng, codec.encode(target.replace(sequence_number=seq)))
            case = Case("bound_body_mutation", frame + codec.encode(P.EnquireLink(sequence_number=probe)),
                        bind=codec.encode(bind.replace(sequence_number=next(seqs))), expect=(seq, probe))
        else:  # valid bind, then random bytes
            bind = bind_pdu(rng, account)
            case = Case("bound_garbage", rng.randbytes(rng.randint(1, 300)),
                        bind=codec.encode(bind.replace(sequence_number=next(seqs))))
        if rng.random() < 0.25 and case.kind not in ("short_length", "huge_length", "lockstep"):
            case.cuts = sorted(rng.randint(0, len(case.payload)) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.05 and case.kind in ("random", "mutated_stream", "bound_mutated_stream", "bound_garbage"):
            case.half_close = False  # leave it to the idle read and an abrupt close
        cases.append(case)
    return cases


async def recv_pdu_async(sock: socket.socket) -> bytes:
    """Exactly one PDU from a non-blocking socket."""
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < 16 or len(data) < struct.unpack(">I", data[:4])[0]:
        chunk = await loop.sock_recv(sock, 65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    assert len(data) == struct.unpack(">I", data[:4])[0], "more than one PDU answering one request"
    return data


async def read_until_eof(sock: socket.socket, idle: float | None) -> tuple[bytes, bool]:
    """Everything until the server closes (True) or, with idle set, until it stays silent that long."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    while True:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), idle)
        except asyncio.TimeoutError:
            return bytes(data), False
        except ConnectionResetError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk


LOCKSTEP_OPS = 8


@dataclass
class Known:
    """A message a lockstep session stored: which operation created it and whether it is final."""

    kind: type
    final: bool = False


def lockstep_request(rng: random.Random, known: dict[str, Known]) -> P.Pdu:
    """A well-formed request, often aimed at a message this session stored.

    It asks for no receipt and carries no schedule or validity, so that every answer is exact and
    the SMSC sends nothing unasked (the lifecycle has its own tests).
    """
    op = _lockstep_request(rng, known)
    if isinstance(op, (P.SubmitSm, P.SubmitMulti, P.ReplaceSm)):
        op = op.replace(registered_delivery=0, schedule_delivery_time="", validity_period="")
    elif isinstance(op, P.DataSm):
        op = op.replace(registered_delivery=0)
    return op


def _lockstep_request(rng: random.Random, known: dict[str, Known]) -> P.Pdu:
    ids = list(known)

    def some_id() -> str:
        return rng.choice(ids) if ids and rng.random() < 0.8 else f"{rng.getrandbits(32):x}"

    choice = rng.randrange(14)
    if choice <= 2:
        return P.SubmitSm(destination_addr=digits(rng, 0, 20), **message_fields(rng))
    if choice == 3:
        dests = tuple(P.SmeAddress(1, 1, digits(rng, 0, 12)) if rng.random() < 0.6 else P.DistributionList(text(rng, 20))
                      for _ in range(rng.randint(1, 4)))
        return P.SubmitMulti(dest_addresses=dests, **message_fields(rng))
    if choice == 4:
        return P.DataSm(source_addr=digits(rng), destination_addr=digits(rng, 0, 30),
                        tlvs=(Tlv(0x0424, rng.randbytes(rng.randint(0, 300))),))
    if choice == 5:
        return P.QuerySm(message_id=some_id(), source_addr=digits(rng))
    if choice == 6:
        return P.CancelSm(message_id=some_id())
    if choice == 7:
        return P.ReplaceSm(message_id=some_id(), short_message=rng.randbytes(rng.randint(0, 140)),
                           validity_period=smpp_time(rng), registered_delivery=rng.randint(0, 31))
    if choice == 8:
        return P.EnquireLink()
    if choice == 9:
        return bind_pdu(rng, LOCKSTEP)
    if choice == 10:
        return P.DeliverSm(destination_addr=digits(rng), short_message=b"wrong way")
    if choice == 11:
        area = (Tlv(0x0606, rng.randbytes(rng.randint(1, 20))), Tlv(0x0601, rng.randbytes(3)),
                Tlv(0x0604, rng.randrange(65536)), Tlv(0x0605, rng.randbytes(3)))
        return P.BroadcastSm(source_addr=digits(rng), data_coding=rng.randint(0, 255), tlvs=area)
    if choice == 12:
        return P.QueryBroadcastSm(message_id=some_id())
    return P.CancelBroadcastSm(message_id=some_id())


def expected_status(op: P.Pdu, version: int, known: dict[str, Known]) -> int:
    """The command_status the SMSC must answer a well-formed request with on a lockstep session."""
    if isinstance(op, P.EnquireLink):
        return 0
    if isinstance(op, (P.BindTransmitter, P.BindReceiver, P.BindTransceiver)):
        return S.ESME_RALYBND
    if isinstance(op, P.DeliverSm):
        return S.ESME_RINVCMDID  # an SMSC never accepts deliver_sm
    if isinstance(op, (P.BroadcastSm, P.QueryBroadcastSm, P.CancelBroadcastSm)) and version < 0x50:
        return S.ESME_RINVCMDID
    message = known.get(getattr(op, "message_id", ""))
    if isinstance(op, (P.SubmitSm, P.DataSm)):
        return 0 if op.destination_addr else S.ESME_RINVDSTADR
    if isinstance(op, P.SubmitMulti):
        return 0 if any(isinstance(d, P.SmeAddress) and d.address for d in op.dest_addresses) else S.ESME_RSUBMITFAIL
    if isinstance(op, P.QuerySm):
        return 0 if message else S.ESME_RQUERYFAIL
    if isinstance(op, P.CancelSm):
        return 0 if message and not message.final else S.ESME_RCANCELFAIL
    if isinstance(op, P.ReplaceSm):
        ok = message and not message.final and message.kind in (P.SubmitSm, P.SubmitMulti)
        return 0 if ok else S.ESME_RREPLACEFAIL
    if isinstance(op, P.BroadcastSm):
        return 0
    if isinstance(op, P.QueryBroadcastSm):
        return 0 if message and message.kind is P.BroadcastSm else S.ESME_RBCASTQUERYFAIL
    if isinstance(op, P.CancelBroadcastSm):
        return 0 if message and message.kind is P.BroadcastSm and not message.final else S.ESME_RBCASTCANCELFAIL
    raise AssertionError(f"no model for {op}")


async def run_lockstep(case: Case, sock: socket.socket, outcome: Outcome) -> None:
    """Send well-formed requests one at a time; each answer must be exactly what the model says."""
    version, seed, first_seq = case.expect
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    known: dict[str, Known] = {}
    ops: list[P.Pdu] = []  # built one by one, so that later requests can target the ids stored so far
    for i in range(LOCKSTEP_OPS + 1):
        op = lockstep_request(rng, known) if i < LOCKSTEP_OPS else P.Unbind()
        op = op.replace(sequence_number=first_seq + i)
        ops.append(op)
        raw = codec.encode(op)
        await loop.sock_sendall(sock, raw)
        (reply,) = check_replies(raw, await recv_pdu_async(sock))
        outcome.replies.append(reply)
        assert reply.sequence_number == op.sequence_number
        assert reply.command_id == op.command_id | RESPONSE_BIT, f"{op} answered by {reply}"
        if isinstance(op, P.Unbind):
            assert reply.command_status == 0
            break
        expected = expected_status(op, version, known)
        assert reply.command_status == expected, f"{op} -> {reply}, expected {S(expected).name}"
        message = known.get(getattr(op, "message_id", ""))
        if reply.command_status != 0:
            continue
        if isinstance(reply, (P.SubmitSmResp, P.DataSmResp, P.SubmitMultiResp, P.BroadcastSmResp)):
            assert reply.message_id and reply.message_id not in known
            known[reply.message_id] = Known(type(op))
        elif isinstance(op, (P.CancelSm, P.CancelBroadcastSm)):
            message.final = True
        elif isinstance(reply, P.QuerySmResp):
            assert reply.message_state == (4 if message.final else 1), f"{op} -> {reply}"
        elif isinstance(reply, P.QueryBroadcastSmResp):
            assert reply.tlv("message_state") == (4 if message.final else 1), f"{op} -> {reply}"
    data, closed = await read_until_eof(sock, None)  # after unbind_resp the server closes
    assert data == b"" and closed, f"after unbind: {data!r}, closed={closed}"


async def run_case(case: Case, host: str, port: int) -> Outcome:
    outcome = Outcome(case)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
        if case.bind:
            await loop.sock_sendall(sock, case.bind)
            (bind_reply,) = check_replies(case.bind, await recv_pdu_async(sock))
            assert bind_reply.command_id == codec.read_header(case.bind)[1] | RESPONSE_BIT
            assert bind_reply.command_status == 0, f"fuzz bind refused: {bind_reply}"
        if case.kind == "lockstep":
            await run_lockstep(case, sock, outcome)
            outcome.closed_by_server = True
            return outcome
        payload = case.payload
        cuts = [0, *case.cuts, len(payload)]
        try:
            for start, end in zip(cuts, cuts[1:]):
                await loop.sock_sendall(sock, payload[start:end])
                if case.cuts:
                    await asyncio.sleep(0.002)  # let the pieces arrive as separate reads
            if case.half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may have closed already after a fatal framing error (EPIPE, ECONNRESET, ENOTCONN)
        idle = None if case.half_close or case.kind in ("short_length", "huge_length") else IDLE_READ
        data, outcome.closed_by_server = await read_until_eof(sock, idle)
        outcome.replies = check_replies(case.bind + payload, data)
        return outcome
    finally:
        sock.close()


def check_outcome(outcome: Outcome) -> None:
    case, replies = outcome.case, outcome.replies
    if case.half_close or case.kind in ("short_length", "huge_length", "lockstep"):
        assert outcome.closed_by_server, f"{case.kind}: server did not close the session"
    if case.kind in ("short_length", "huge_length"):
        assert [(type(r), r.command_status, r.sequence_number) for r in replies] == [
            (P.GenericNack, S.ESME_RINVCMDLEN, case.expect)
        ], f"{case.kind}: {replies}"
    elif case.kind == "unknown_command":
        seq, probe = case.expect
        assert [(type(r), r.command_status, r.sequence_number) for r in replies] == [
            (P.GenericNack, S.ESME_RINVCMDID, seq),
            (P.EnquireLinkResp, 0, probe),
        ], f"unknown command: {replies}"
    elif case.kind == "bound_body_mutation":
        seq, probe = case.expect
        by_seq = {}
        for r in replies:
            assert r.sequence_number not in by_seq, f"two replies to seq {r.sequence_number}: {replies}"
            by_seq[r.sequence_number] = r
        # Exactly one answer to the mutated request and the session still serves the probe.
        assert set(by_seq) == {seq, probe}, f"body mutation: {replies}"
        assert isinstance(by_seq[probe], P.EnquireLinkResp) and by_seq[probe].command_status == 0
        assert by_seq[seq].command_id in (
            codec.read_header(case.payload)[1] | RESPONSE_BIT,
            CommandId.generic_nack,
        )


# --- the healthy client ----------------------------------------------------------------------


def healthy_roundtrip(client: smpplib.client.Client, command: str, **kwargs: Any):
    """Send a request with smpplib and return its response, answering any SMSC enquire_link meanwhile."""
    request = smpplib.smpp.make_pdu(command, client=client, **kwargs)
    client.send_pdu(request)
    for _ in range(10):
        pdu = client.read_pdu()
        if pdu.command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
            continue
        assert pdu.sequence == request.sequence, f"unexpected {pdu.command}"
        return pdu
    raise AssertionError("no response")


def check_healthy(client: smpplib.client.Client, live_server, round_: int) -> None:
    resp = healthy_roundtrip(client, "submit_sm", source_addr="1000", destination_addr=f"2000{round_}", short_message=b"still ok")
    assert (resp.command, resp.status) == ("submit_sm_resp", 0) and resp.message_id
    resp = healthy_roundtrip(client, "enquire_link")
    assert (resp.command, resp.status) == ("enquire_link_resp", 0)
    assert live_server.server.stats.handler_errors == 0


@pytest.fixture
def healthy(live_server):
    client = smpplib.client.Client(live_server.host, live_server.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        assert client.bind_transceiver(system_id=HEALTHY[0], password=HEALTHY[1]).status == 0
        yield client
    finally:
        client._socket.close()
        client._socket = None
        client.state = 0


# --- tests -----------------------------------------------------------------------------------


def test_fuzzed_sessions_never_break_the_server(live_server, healthy):
    started = time.monotonic()
    cases = build_cases(random.Random(SEED), N_INPUTS, live_server.server.config.seed)
    counts: dict[str, int] = {}

    async def run_batch(batch: list[Case]) -> list[Outcome]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(case: Case) -> Outcome:
            async with limit:
                try:
                    return await asyncio.wait_for(run_case(case, live_server.host, live_server.port), SESSION_DEADLINE)
                except AssertionError as exc:
                    return Outcome(case, error=f"{exc}")
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, OSError) as exc:
                    return Outcome(case, error=f"{type(exc).__name__}: {exc}")

        return await asyncio.gather(*(one(case) for case in batch))

    failures = []
    for round_, start in enumerate(range(0, len(cases), BATCH)):
        assert time.monotonic() - started < WHOLE_RUN_DEADLINE, f"fuzzing too slow: {start} of {len(cases)} done"
        for outcome in asyncio.run(run_batch(cases[start : start + BATCH])):
            counts[outcome.case.kind] = counts.get(outcome.case.kind, 0) + 1
            if outcome.error is None:
                try:
                    check_outcome(outcome)
                except AssertionError as exc:
                    outcome.error = str(exc)
            if outcome.error is not None:
                failures.append(f"{outcome.case.kind} {outcome.case.bind.hex()}|{outcome.case.payload.hex()}: {outcome.error}")
        check_healthy(healthy, live_server, round_)

    assert not failures, f"{len(failures)} failing sessions, first ones:\n" + "\n".join(failures[:5])
    assert sum(counts.values()) == N_INPUTS
    assert all(counts.get(kind, 0) >= 50 for kind in (
        "random", "short_length", "huge_length", "unknown_command", "lockstep", "mutated_stream", "bound_mutated_stream",
        "bound_body_mutation", "bound_garbage",
    )), counts

    stats = live_server.server.stats
    assert stats.handler_errors == 0
    # The corpus reached the error paths, and the valid part of it the handlers.
    assert stats.protocol_errors > 200 and stats.rejected > 200 and stats.submits > 100 and stats.binds_ok > 500, stats

    # Every fuzz session is gone; only the healthy one remains, still bound.
    def remaining():
        return [(c.account.system_id if c.account else None, c.session.is_bound) for c in live_server.server.connections.values()]

    deadline = time.monotonic() + 5
    while live_server.run(remaining) != [(HEALTHY[0], True)] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live_server.run(remaining) == [(HEALTHY[0], True)]
    check_healthy(healthy, live_server, 99)


REQUEST_IDS = sorted(int(c) for c in CommandId if not c & RESPONSE_BIT and c not in (CommandId.unbind,))


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(command_id=st.sampled_from(REQUEST_IDS), body=st.binary(max_size=200), version=st.sampled_from([0x33, 0x34, 0x50]))
def test_any_body_under_a_valid_header_gets_exactly_one_answer(live_server, command_id, body, version):
    """Whatever the body, a framed request on a bound session gets one reply with its sequence_number."""
    with socket.create_connection((live_server.host, live_server.port), timeout=5) as sock:
        sock.sendall(codec.encode(P.BindTransceiver(sequence_number=1, system_id=FUZZ[0], password=FUZZ[1], interface_version=version)))
        assert codec.decode(_recv_pdu(sock)).command_status == 0
        frame = struct.pack(">IIII", 16 + len(body), command_id, 0, 2) + body
        probe = codec.encode(P.EnquireLink(sequence_number=3))
        sock.sendall(frame + probe)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    replies = check_replies(frame + probe, data)
    assert sorted(r.sequence_number for r in replies) == [2, 3], replies
    answer = next(r for r in replies if r.sequence_number == 2)
    assert answer.command_id in (command_id | RESPONSE_BIT, CommandId.generic_nack)
    probe_reply = next(r for r in replies if r.sequence_number == 3)
    assert isinstance(probe_reply, P.EnquireLinkResp) and probe_reply.command_status == 0
    assert live_server.server.stats.handler_errors == 0


def _recv_pdu(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 16 or len(data) < struct.unpack(">I", data[:4])[0]:
        chunk = sock.recv(65536)
        assert chunk, "closed early"
        data += chunk
    return data


@pytest.mark.parametrize(
    "second,answer",
    [
        (P.EnquireLink(sequence_number=7), P.EnquireLinkResp),
        (P.SubmitSm(sequence_number=7, destination_addr="1"), P.SubmitSmResp),
        (P.BindTransmitter(sequence_number=7, system_id=FUZZ[0], password=FUZZ[1]), P.BindTransmitterResp),
    ],
)
def test_duplicate_sequence_numbers_in_one_read(live_server, second, answer):
    # Regression: both requests landed in Session._unanswered under one key; answering the second raised
    # SessionError, SmppConnection._on_request's ESME_RSYSERR fallback raised again, uncaught out of
    # data_received, and asyncio aborted the connection with no reply at all (handler_errors counted).
    with socket.create_connection((live_server.host, live_server.port), timeout=5) as sock:
        sock.sendall(codec.encode(P.BindTransceiver(sequence_number=1, system_id=FUZZ[0], password=FUZZ[1])))
        assert codec.decode(_recv_pdu(sock)).command_status == 0
        sent = codec.encode(P.EnquireLink(sequence_number=7)) + codec.encode(second)
        sock.sendall(sent)  # one write: both arrive in the same read
        probe = codec.encode(P.EnquireLink(sequence_number=8))
        sock.sendall(probe)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    replies = check_replies(sent + probe, data)
    # One response per request (a session-level rejection such as ESME_RALYBND may overtake the
    # other answer: SMPP responses need not come in order), and the session keeps serving.
    expected_second = S.ESME_RALYBND if answer is P.BindTransmitterResp else 0
    got = sorted((type(r).__name__, r.sequence_number, r.command_status) for r in replies)
    assert got == sorted([("EnquireLinkResp", 7, 0), (answer.__name__, 7, expected_second), ("EnquireLinkResp", 8, 0)])
    assert (type(replies[-1]), replies[-1].sequence_number) == (P.EnquireLinkResp, 8)
    assert live_server.server.stats.handler_errors == 0
