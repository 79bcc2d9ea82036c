"""Throttle arithmetic on a virtual clock: token buckets, sliding windows, layers, scopes, segments and trips."""

from __future__ import annotations

import pytest

from simulator.config import ConfigError, Throttle, load_typed
from simulator.network.network import Network, Refusal, Route
from simulator.network.profile import NetworkProfile, load_profile
from simulator.network.throttles import SlidingWindow, TokenBucket, TripLog, account_throttles
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S
from tests.test_network import ORANGE_FR, SFR_FR, mt, shop

LONG_TEXT = b"x" * 400  # 3 GSM segments when sent in message_payload


def bucket_takes(bucket: TokenBucket | SlidingWindow, now: float, n: int, count: int = 1) -> int:
    """How many of n takes at time now pass."""
    return sum(bucket.take(now, count) for _ in range(n))


# --- token bucket ----------------------------------------------------------------------------


def test_token_bucket_burst_then_refill_at_the_rate() -> None:
    bucket = TokenBucket(rate=5, burst=5, now=0.0)
    assert bucket_takes(bucket, 0.0, 50) == 5 and bucket.trips == 45
    assert bucket_takes(bucket, 0.2, 3) == 1  # one token per 0.2 s
    assert bucket_takes(bucket, 1.2, 10) == 5  # refill is capped at the burst
    assert bucket_takes(bucket, 100.0, 10) == 5


def test_token_bucket_fractional_refill_accumulates() -> None:
    bucket = TokenBucket(rate=2.5, burst=1, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.2)  # half a token
    assert not bucket.take(0.3)  # 0.75 token
    assert bucket.take(0.4)  # 0.2 + 0.1 + 0.1 s at 2.5/s: a whole token despite float steps
    t = 0.4
    for _ in range(10):  # 0.4 s steps summed as floats still make exactly one token each
        t += 0.4
        assert bucket.take(t)


def test_token_bucket_counts_segments_and_a_message_larger_than_the_burst_goes_into_debt() -> None:
    bucket = TokenBucket(rate=5, burst=5, now=0.0)
    assert bucket.take(0.0, 3) and not bucket.take(0.0, 3) and bucket.take(0.0, 2)
    assert bucket.take(1.0, 8)  # full bucket: passes, leaves 3 tokens of debt
    assert not bucket.take(1.6, 1)  # 3 tokens repaid, none left
    assert bucket.take(1.8, 1)


# --- sliding window ----------------------------------------------------------------------------


def test_sliding_window_edges_exactly_at_the_period() -> None:
    window = SlidingWindow(limit=5, period=1.0)
    assert bucket_takes(window, 0.0, 50) == 5 and window.trips == 45
    assert not window.take(0.999999)  # still inside the period
    assert bucket_takes(window, 1.0, 6) == 5  # at t + period exactly the five slots are free again
    assert not window.take(1.5)


def test_sliding_window_is_strict_over_any_period_unlike_a_bucket() -> None:
    window = SlidingWindow(limit=5, period=1.0)
    for i in range(5):
        assert window.take(0.1 * i + 0.5)  # 0.5, 0.6, ... 0.9
    assert not window.take(1.4)  # 0.5 is not yet one period old (it leaves at 1.5)
    assert window.take(1.5) and not window.take(1.5)
    assert window.take(0.1 * 16)  # 1.6 computed as a float: 0.6 has left


def test_sliding_window_counts_segments() -> None:
    window = SlidingWindow(limit=5, period=2.0)
    assert window.take(0.0, 3) and not window.take(0.5, 3) and window.take(0.5, 2)
    assert not window.take(1.9, 1)
    assert window.take(2.0, 3) and not window.take(2.0, 1)  # the 3 of t=0 left; the 2 of t=0.5 still count
    assert window.take(4.0, 9)  # more than the limit passes only into an empty window


# --- configuration -----------------------------------------------------------------------------


def test_throttle_config_validation_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"<t>:1: limit: a sliding_window needs a limit"):
        load_typed("{window: sliding_window}", Throttle, "<t>")
    with pytest.raises(ConfigError, match=r"reaction: 'SLOW' is neither a command_status nor one of delay"):
        load_typed("{reaction: SLOW}", Throttle, "<t>")
    with pytest.raises(ConfigError, match=r"scope: must be one of account, bind, sender, short_code, operator"):
        load_typed("{scope: country}", Throttle, "<t>")
    with pytest.raises(ConfigError, match=r"period: invalid duration"):
        load_typed("{window: sliding_window, limit: 5, period: soon}", Throttle, "<t>")
    t = load_typed("{scope: sender, window: sliding_window, limit: 5, period: 1s, reaction: delay, delay: 250ms}", Throttle, "<t>")
    assert (t.period_seconds, t.delay_seconds, t.action) == (1.0, 0.25, "delay")
    assert t.describe() == "sender sliding_window 5 per 1s per segment -> delay 0.25s"
    assert load_typed("{reaction: ESME_RMSGQFUL}", Throttle, "<t>").action == "status"


def test_profile_and_account_throttle_lists_load_from_yaml() -> None:
    from simulator.config import Account

    profile = load_typed(
        "name: p\ncoverage: ['*']\nthrottles:\n  - {scope: operator, rate: 10, burst: 10, only: [Orange]}\n", NetworkProfile, "<p>"
    )
    assert profile.throttles[0].only == ["Orange"]
    account = load_typed(
        "{system_id: a, password: b, window_reaction: generic_nack, throttles: [{scope: bind, rate: 1, burst: 1}]}", Account, "<a>"
    )
    assert account.throttles is not None and account.throttles[0].scope == "bind" and account.window_reaction == "generic_nack"
    with pytest.raises(ConfigError, match="window_reaction: 'delay' is neither a command_status nor one of generic_nack, disconnect"):
        load_typed("{system_id: a, password: b, window_reaction: delay}", Account, "<a>")


# --- layers on the network ---------------------------------------------------------------------


def network_with(*throttles: Throttle, legacy: Throttle | None = Throttle(rate=0), **account: object) -> Network:
    """The default network with one unlimited-credit account 'shop' throttled by the given layers only."""
    return Network(load_profile("default"), [shop(credits=None, throttle=legacy, throttles=list(throttles), **account)])


def statuses(results: list[Route | Refusal]) -> list[int]:
    return [0 if isinstance(r, Route) else r.status for r in results]


def test_fifty_submits_in_one_virtual_second_against_five_per_second_burst_five() -> None:
    net = network_with(legacy=None)  # the default profile's own 5/s, burst 5
    results = [net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.02 * i) for i in range(50)]  # t = 0 .. 0.98
    # 5 from the burst, then one token per 0.2 s of the second: at 0.2, 0.4, 0.6, 0.8
    assert statuses(results).count(0) == 9
    net = network_with(legacy=None)
    results = [net.check_submit("shop", mt("MYSHOP", SFR_FR), 1.0) for _ in range(50)]
    assert statuses(results).count(0) == 5 and statuses(results).count(S.ESME_RTHROTTLED) == 45
    report = net.throttle_report()
    assert report["trips"]["total"] == 45 and report["trips"]["by_scope"] == {"account": 45}
    assert report["throttles"][0]["origin"] == "profile throttle" and report["throttles"][0]["passed"] == 5


def test_each_segment_counts_unless_count_is_pdus() -> None:
    long_mt = mt("MYSHOP", SFR_FR).replace(short_message=b"", tlvs=(P.Tlv(0x0424, LONG_TEXT),))
    net = network_with(Throttle(rate=5, burst=5))
    first = net.check_submit("shop", long_mt, 0.0)
    assert isinstance(first, Route) and first.segments == 3
    refusal = net.check_submit("shop", long_mt, 0.0)
    assert isinstance(refusal, Refusal) and refusal.trip is not None and refusal.trip.count == 3
    assert isinstance(net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.0), Route)  # 2 tokens left: 1 segment fits
    per_pdu = network_with(Throttle(rate=5, burst=5, count="pdus"))
    assert statuses([per_pdu.check_submit("shop", long_mt, 0.0) for _ in range(6)]) == [0] * 5 + [S.ESME_RTHROTTLED]


def test_udh_parts_count_one_segment_each() -> None:
    net = network_with(Throttle(rate=1, burst=2))
    parts = [mt("MYSHOP", SFR_FR).replace(esm_class=0x40, short_message=bytes([5, 0, 3, 7, 3, i]) + b"part") for i in (1, 2, 3)]
    assert statuses([net.check_submit("shop", p, 0.0) for p in parts]) == [0, 0, S.ESME_RTHROTTLED]


def test_bind_scope_keeps_one_bucket_per_bind() -> None:
    net = network_with(Throttle(scope="bind", rate=1, burst=2))
    submit = lambda session: net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.0, session=session)  # noqa: E731
    assert statuses([submit(1), submit(1), submit(1)]) == [0, 0, S.ESME_RTHROTTLED]
    assert statuses([submit(2), submit(2), submit(2)]) == [0, 0, S.ESME_RTHROTTLED]
    keys = net.throttle_report()["throttles"][0]["keys"]
    assert keys == {"bind 1": 1, "bind 2": 1}


def test_a_closed_bind_leaves_its_limiter_only_if_it_tripped() -> None:
    net = network_with(Throttle(scope="bind", rate=1, burst=2))
    submit = lambda session: net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.0, session=session)  # noqa: E731
    assert statuses([submit(1), submit(2), submit(2), submit(2), submit(3)]) == [0, 0, 0, S.ESME_RTHROTTLED, 0]
    for session in (1, 2):
        net.bind_closed("shop", session)
    net.bind_closed("nobody", 3)  # an unknown account is no error
    assert net.throttle_report()["throttles"][0]["keys"] == {"bind 2": 1, "bind 3": 0}


def test_sender_and_short_code_scopes() -> None:
    from simulator.config import Sender

    net = network_with(Throttle(scope="sender", rate=1, burst=1), senders=[Sender("MYSHOP"), Sender("PROMO")])
    sources = ("MYSHOP", "PROMO", "MYSHOP", "38100", "+447797805210", "38100")
    results = [net.check_submit("shop", mt(src, SFR_FR), 0.0) for src in sources]
    assert statuses(results) == [0, 0, S.ESME_RTHROTTLED, 0, 0, S.ESME_RTHROTTLED]
    short = network_with(Throttle(scope="short_code", rate=1, burst=1))
    sources = ("38100", "MYSHOP", "MYSHOP", "+447797805210", "+447797805210", "20345", "38100")
    results = [short.check_submit("shop", mt(src, ORANGE_FR), 0.0) for src in sources]
    # alphanumeric senders and long numbers are no short code; each short code has its own bucket
    assert statuses(results) == [0, 0, 0, 0, 0, 0, S.ESME_RTHROTTLED]


def test_operator_scope_with_only() -> None:
    net = network_with(Throttle(scope="operator", rate=1, burst=1))
    results = [net.check_submit("shop", mt("MYSHOP", dest), 0.0) for dest in (SFR_FR, ORANGE_FR, SFR_FR, ORANGE_FR)]
    assert statuses(results) == [0, 0, S.ESME_RTHROTTLED, S.ESME_RTHROTTLED]
    assert {t.key for t in net.throttle_trips.recent} == {"SFR", "Orange"}
    only = network_with(Throttle(scope="operator", rate=1, burst=1, only=["Orange"]))
    results = [only.check_submit("shop", mt("MYSHOP", dest), 0.0) for dest in (SFR_FR, SFR_FR, ORANGE_FR, ORANGE_FR)]
    assert statuses(results) == [0, 0, 0, S.ESME_RTHROTTLED]


def test_layers_charge_all_or_nothing_and_report_the_first_trip() -> None:
    net = network_with(
        Throttle(scope="account", rate=10, burst=10),
        Throttle(scope="operator", window="sliding_window", limit=2, period=1, reaction="ESME_RMSGQFUL"),
    )
    results = [net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.0) for _ in range(4)]
    assert statuses(results) == [0, 0, S.ESME_RMSGQFUL, S.ESME_RMSGQFUL]
    layers = net.accounts["shop"].throttles.layers
    assert layers[0].limiters["shop"].tokens == 8  # the refused ones took nothing from the account bucket
    trip = net.throttle_trips.recent[0]
    assert (trip.at, trip.account, trip.scope, trip.key, trip.reaction) == (0.0, "shop", "operator", "SFR", "ESME_RMSGQFUL")


def test_account_throttles_replace_the_profiles_and_trips_keep_clock_times() -> None:
    profile = load_profile("default")
    profile.throttle = None
    profile.throttles = [Throttle(scope="account", rate=1, burst=1)]
    net = Network(profile, [shop(credits=None), shop(system_id="free", credits=None, throttles=[])])
    assert statuses([net.check_submit("shop", mt("MYSHOP", SFR_FR), t) for t in (5.0, 5.5, 6.0, 6.25)]) == [0, S.ESME_RTHROTTLED, 0, S.ESME_RTHROTTLED]
    assert net.accounts["free"].throttles is None
    assert [t.at for t in net.throttle_trips.recent] == [5.5, 6.25]
    assert net.throttle_report()["throttles"][0]["origin"] == "profile throttles[0]"


def test_dry_run_and_unthrottled_checks_take_nothing() -> None:
    net = network_with(Throttle(rate=1, burst=1))
    for _ in range(3):
        assert isinstance(net.estimate("shop", "MYSHOP", SFR_FR, "hi"), Route)
        assert isinstance(net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.0, throttle=False), Route)
    assert isinstance(net.check_submit("shop", mt("MYSHOP", SFR_FR), 0.0), Route)
    assert net.throttle_trips.total == 0


def test_open_routing_throttles_by_account_bind_and_sender() -> None:
    from simulator.config import Account

    account = Account("bench", "pw", throttles=[Throttle(scope="sender", rate=1, burst=1), Throttle(scope="operator", rate=1, burst=1)])
    net = Network(load_profile("open"), [account])
    results = [net.check_submit("bench", mt(src, SFR_FR), 0.0) for src in ("A", "B", "A")]
    assert statuses(results) == [0, 0, S.ESME_RTHROTTLED]  # operator throttles do not apply: open routing knows none
    assert Network(load_profile("open"), [Account("bench", "pw")]).accounts["bench"].throttles is None


def test_trip_log_keeps_the_latest_and_counts_all() -> None:
    log = TripLog(keep=2)
    throttles = account_throttles("a", [(Throttle(rate=1, burst=1), "t")], "ESME_RTHROTTLED", log)
    assert throttles is not None
    outcomes = [throttles.check(float(t) / 10, {"account": "a"}) for t in range(5)]
    assert [o is None for o in outcomes] == [True, False, False, False, False]
    assert log.total == 4 and [t.at for t in log.recent] == [0.3, 0.4]
    assert log.report(last=1)["recent"] == [
        {"at": 0.4, "account": "a", "scope": "account", "key": "a", "reaction": "ESME_RTHROTTLED", "rule": "account token_bucket 1/s burst 1 per segment -> statuses.throttled", "count": 1}
    ]
    assert account_throttles("a", [(Throttle(rate=0), "t")], "ESME_RTHROTTLED", log) is None
