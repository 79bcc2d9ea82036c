"""Message lifecycle on the virtual clock: plans, receipts, waiting handsets, expiry, scheduling, cancel, replace."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from simulator.clock import VirtualClock
from simulator.config import Account, Sender, Throttle
from simulator.network.handsets import HandsetState
from simulator.network.lifecycle import Lifecycle, TimeRefusal
from simulator.network.messages import FINAL_STATES, Message
from simulator.network.network import Network, Route
from simulator.network.profile import load_profile
from simulator.network.receipts import parse_receipt_text
from simulator.network.rules import load_rules
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import MessageState as M
from simulator.smpp.timefmt import format_relative

SFR = "+33612345678"
FIXED = "+33142000000"
HOUR = 3600.0


class World:
    """A network, a lifecycle and the receipts it emits, on a virtual clock."""

    def __init__(self, rules_yaml: str | None = None, dialect: str = "standard", **profile_changes: object) -> None:
        self.clock = VirtualClock()
        profile = load_profile("default")
        for key, value in profile_changes.items():
            setattr(profile, key, value)
        if rules_yaml:
            profile.delivery_rules = load_rules(rules_yaml, "<rules>")
        self.account = Account(
            system_id="shop",
            password="pw",
            country="FR",
            senders=[Sender("MYSHOP")],
            default_sender="MYSHOP",
            throttle=Throttle(rate=0),
            receipt_dialect=dialect,
        )
        self.network = Network(profile, [self.account])
        self.receipts: list[tuple[float, P.Pdu]] = []
        self.lifecycle = Lifecycle(self.clock, random.Random(7), self.network, self._emit)
        self.count = 0

    def _emit(self, system_id: str, pdu: P.Pdu, message: Message) -> None:
        self.receipts.append((self.clock.now(), pdu))

    def submit(self, destination: str = SFR, *, registered_delivery: int = 1, text: bytes = b"hello", **fields: object) -> Message:
        pdu = P.SubmitSm(
            source_addr_ton=5,
            source_addr="MYSHOP",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=destination.lstrip("+"),
            registered_delivery=registered_delivery,
            short_message=text,
            **fields,  # type: ignore[arg-type]
        )
        start, expires = self.lifecycle.times(pdu, self.account)
        route = self.network.check_submit("shop", pdu, self.clock.now())
        assert isinstance(route, Route), route
        self.count += 1
        message = Message(f"m{self.count}", "shop", pdu, self.clock.now(), route=route)
        self.lifecycle.start(message, start, expires)
        return message

    def stats(self) -> list[str]:
        return [parse_receipt_text(pdu.short_message.decode())["stat"] for _, pdu in self.receipts]


def test_handset_on_is_delivered_by_default() -> None:
    world = World()
    message = world.submit()
    assert message.state is M.ENROUTE
    world.clock.advance(60)
    assert message.state is M.DELIVERED and world.stats() == ["DELIVRD"]
    receipt = world.receipts[0][1]
    assert receipt.esm_class & 0x04 and receipt.tlv("receipted_message_id") == "m1" and receipt.tlv("message_state") == 2
    assert (receipt.source_addr, receipt.destination_addr) == ("33612345678", "MYSHOP")


def test_fixed_line_is_undeliverable_with_an_error() -> None:
    world = World()
    message = world.submit(FIXED)
    world.clock.advance(60)
    assert message.state is M.UNDELIVERABLE and message.error_code != 0
    assert world.stats() == ["UNDELIV"]


def test_off_handset_waits_until_back_on() -> None:
    world = World()
    world.network.handsets.set_state(SFR, "off")
    message = world.submit()
    world.clock.advance(10 * HOUR)
    assert message.state is M.ENROUTE and world.receipts == []
    world.network.handsets.set_state(SFR, "on")
    assert world.lifecycle.handset_changed(SFR, HandsetState.ON) == 1
    assert message.state is M.DELIVERED and world.stats() == ["DELIVRD"]


def test_48_hour_expiry_runs_in_milliseconds() -> None:
    world = World()
    world.network.handsets.set_state(SFR, "absent")
    message = world.submit()
    started = time.perf_counter()
    world.clock.advance(48 * HOUR + 1)
    wall = time.perf_counter() - started
    assert message.state is M.EXPIRED and world.stats() == ["EXPIRED"]
    assert message.final_at == pytest.approx(message.submitted_at + 48 * HOUR)
    print(f"48 h expiry on the virtual clock: {wall * 1000:.2f} ms wall")


def test_relative_validity_and_clamping() -> None:
    world = World()
    world.network.handsets.set_state(SFR, "off")
    short = world.submit(validity_period=format_relative(__import__("datetime").timedelta(hours=1)))
    long = world.submit(validity_period="000010000000000R")  # 10 days: clamped to 48 h
    world.clock.advance(HOUR + 1)
    assert short.state is M.EXPIRED and long.state is M.ENROUTE
    world.clock.advance(47 * HOUR)
    assert long.state is M.EXPIRED


def test_validity_beyond_the_maximum_rejected_when_the_profile_says_so() -> None:
    world = World(validity_policy="reject")
    with pytest.raises(TimeRefusal) as raised:
        world.submit(validity_period="000010000000000R")
    assert raised.value.status == S.ESME_RINVEXPIRY


def test_scheduled_delivery_waits_for_its_time() -> None:
    world = World()
    message = world.submit(schedule_delivery_time="000000010000000R")  # in one hour
    assert message.state is M.SCHEDULED
    world.clock.advance(HOUR - 1)
    assert message.state is M.SCHEDULED
    world.clock.advance(60)
    assert message.state is M.DELIVERED


def test_registered_delivery_failure_only_and_intermediate() -> None:
    world = World(rules_yaml="- sequence: [{after: 1s, state: ENROUTE}, {after: 1s, state: DELIVERED}]\n")
    world.submit(registered_delivery=0x02)  # failure only: nothing for a delivered message
    world.submit(registered_delivery=0x11)  # final + intermediate
    world.clock.advance(10)
    assert world.stats() == ["ENROUTE", "DELIVRD"]
    assert world.receipts[0][1].esm_class & 0x20  # intermediate notification


def test_deterministic_sequence_from_rules_with_errors() -> None:
    rules = """
- name: sfr-fails
  match: {operator: SFR}
  sequence:
    - {after: 2s, state: ENROUTE}
    - {after: 5s, state: UNDELIVERABLE, err: 27, network_error: 27}
"""
    world = World(rules_yaml=rules)
    message = world.submit(registered_delivery=0x11)
    world.clock.advance(2)
    assert message.state is M.ENROUTE
    world.clock.advance(5)
    assert message.state is M.UNDELIVERABLE and message.error_code == 27
    final = world.receipts[-1][1]
    assert final.tlv("network_error_code") == b"\x03\x00\x1b"
    assert parse_receipt_text(final.short_message.decode())["err"] == "027"
    assert message.state_history() == [M.ENROUTE, M.ENROUTE, M.UNDELIVERABLE]  # accepted, step 1, step 2
    assert [t.note for t in message.transitions() if t.kind == "event"][-1] == "receipt UNDELIVERABLE queued"


def test_cancel_before_final_deletes_with_a_receipt() -> None:
    world = World()
    world.network.handsets.set_state(SFR, "off")
    message = world.submit()
    assert world.lifecycle.cancel(message)
    assert message.state is M.DELETED and world.stats() == ["DELETED"]
    assert not world.lifecycle.cancel(message)
    world.clock.advance(100 * HOUR)
    assert world.stats() == ["DELETED"]  # no expiry after deletion


def test_unreliability_duplicate_and_late_intermediate() -> None:
    rules = """
- sequence: [{after: 1s, state: DELIVERED}]
  unreliability: {duplicate_receipt: 1.0, intermediate_after_final: 1.0, receipt_delay: 3h}
"""
    world = World(rules_yaml=rules)
    world.submit()
    world.clock.advance(2)
    assert world.receipts == []  # delayed by three hours
    world.clock.advance(3 * HOUR)
    assert world.stats() == ["DELIVRD", "DELIVRD", "ENROUTE"]


def test_receipt_never_sent_and_impossible_but_delivered() -> None:
    world = World(rules_yaml="- sequence: [{after: 1s, state: DELIVERED}]\n  unreliability: {receipt_never_sent: 1.0}\n")
    message = world.submit()
    world.clock.advance(5)
    assert message.state is M.DELIVERED and world.receipts == []
    world = World(rules_yaml="- sequence: [{after: 1s, state: DELIVERED}]\n  unreliability: {impossible_but_delivered: 1.0}\n")
    message = world.submit()
    world.clock.advance(5)
    assert world.stats() == ["UNDELIV"] and any("handset got it" in t.note for t in message.transitions())


def test_receipt_dialect_per_account() -> None:
    world = World(dialect="tlv_only")
    world.submit()
    world.clock.advance(60)
    receipt = world.receipts[0][1]
    assert receipt.short_message == b"" and receipt.tlv("message_state") == 2


def test_same_seed_same_run() -> None:
    rules = """
- outcomes:
    - {weight: 70, sequence: [{after: {dist: lognormal, median: 5s, sigma: 1}, state: DELIVERED}]}
    - {weight: 30, sequence: [{after: {dist: uniform, min: 1s, max: 9s}, state: UNDELIVERABLE, err: 1}]}
"""

    def run() -> list[tuple[float, bytes]]:
        world = World(rules_yaml=rules)
        for _ in range(200):
            world.submit()
        world.clock.advance(HOUR)
        return [(at, pdu.short_message) for at, pdu in world.receipts]

    first, second = run(), run()
    assert first == second and len(first) == 200


def test_ten_thousand_messages_through_enroute_delivered() -> None:
    world = World(rules_yaml="- sequence: [{after: 2s, state: ENROUTE}, {after: 5s, state: DELIVERED}]\n")
    started = time.perf_counter()
    messages = [world.submit(registered_delivery=0x11) for _ in range(10_000)]
    world.clock.advance(10)
    wall = time.perf_counter() - started
    assert all(m.state is M.DELIVERED for m in messages) and len(world.receipts) == 20_000
    assert world.lifecycle.pending() == 0
    print(f"10 000 messages ENROUTE->DELIVERED on the virtual clock: {wall:.2f} s wall")


class LifecycleMachine(RuleBasedStateMachine):
    """Any interleaving of submit/cancel/handset/advance keeps histories legal, one final receipt at most."""

    @initialize()
    def setup(self) -> None:
        self.world = World(
            rules_yaml="""
- match: {handset_state: "on"}
  outcomes:
    - {weight: 3, sequence: [{after: 2s, state: ENROUTE}, {after: {dist: uniform, min: 1s, max: 30s}, state: DELIVERED}]}
    - {weight: 1, sequence: [{after: 5s, state: UNDELIVERABLE, err: 1}]}
"""
        )
        self.messages: list[Message] = []

    @rule(registered=st.sampled_from([0, 1, 2, 0x11]), off=st.booleans())
    def submit(self, registered: int, off: bool) -> None:
        self.world.network.handsets.set_state(SFR, "off" if off else "on")
        self.messages.append(self.world.submit(registered_delivery=registered))

    @rule(index=st.integers(0, 50))
    def cancel(self, index: int) -> None:
        if self.messages:
            message = self.messages[index % len(self.messages)]
            assert self.world.lifecycle.cancel(message) == (not message.is_final) or message.is_final

    @rule()
    def handset_on(self) -> None:
        self.world.network.handsets.set_state(SFR, "on")
        self.world.lifecycle.handset_changed(SFR, HandsetState.ON)

    @rule(seconds=st.sampled_from([0.5, 3, 60, HOUR, 49 * HOUR]))
    def advance(self, seconds: float) -> None:
        self.world.clock.advance(seconds)

    @invariant()
    def histories_are_legal(self) -> None:
        for message in self.messages:
            states = message.state_history()
            finals = [i for i, s in enumerate(states) if s in FINAL_STATES]
            if finals:
                first = finals[0]
                assert all(s == states[first] for s in states[first:]), states  # nothing after a final state
            times = [t.at for t in message.transitions()]
            assert times == sorted(times)

    @invariant()
    def at_most_one_final_receipt_per_message(self) -> None:
        finals: dict[str, int] = {}
        for _, pdu in self.world.receipts:
            stat = parse_receipt_text(pdu.short_message.decode())
            if stat["stat"] not in ("ENROUTE", "ACCEPTD"):
                finals[stat["id"]] = finals.get(stat["id"], 0) + 1
        assert all(count == 1 for count in finals.values()), finals


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)


def test_readme_vocabulary_table_is_the_code_table() -> None:
    from pathlib import Path

    from simulator.network.receipts import vocabulary_table_markdown

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert vocabulary_table_markdown() in readme


def test_store_search_by_number_account_and_state() -> None:
    from simulator.network.messages import MessageStore

    world = World()
    world.network.handsets.set_state(FIXED, "on")
    store = MessageStore()
    for destination in (SFR, SFR, FIXED):
        store.add(world.submit(destination))
    world.clock.advance(60)
    assert len(store.search(number="33612345678")) == 2 and len(store.search(number=SFR)) == 2
    assert [m.destination_addr for m in store.search(state="undeliverable")] == ["33142000000"]
    assert len(store.search(account="shop", state=M.DELIVERED)) == 2
    assert store.search(account="nobody") == []
    assert len(store.search(number="MYSHOP")) == 3  # the sender is a party too
