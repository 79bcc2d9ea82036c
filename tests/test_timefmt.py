"""SMPP time formats (v3.4 section 7.1.1): absolute 'YYMMDDhhmmsstnnp' and relative 'YYMMDDhhmmss000R'."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.smpp.timefmt import (
    RelativeTime,
    format_absolute,
    format_relative,
    parse_time,
    resolve_time,
    validate_time,
)

FAST = settings(max_examples=200, deadline=None)


def tz(quarters: int) -> timezone:
    return timezone(timedelta(minutes=15 * quarters))


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("230615143000104+", datetime(2023, 6, 15, 14, 30, 0, 100_000, tzinfo=tz(4))),
        ("230615143000000+", datetime(2023, 6, 15, 14, 30, 0, tzinfo=timezone.utc)),
        ("000101000000000-", datetime(2000, 1, 1, tzinfo=timezone.utc)),
        ("991231235959948-", datetime(2099, 12, 31, 23, 59, 59, 900_000, tzinfo=tz(-48))),
        ("240229120000548+", datetime(2024, 2, 29, 12, 0, 0, 500_000, tzinfo=tz(48))),  # leap day, +12:00
        ("230101000000023+", datetime(2023, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=45)))),  # Nepal
        ("230101000000014-", datetime(2023, 1, 1, tzinfo=tz(-14))),  # -03:30 Newfoundland
    ],
)
def test_parse_absolute(text, expected):
    got = parse_time(text)
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()
    assert got.microsecond == expected.microsecond
    validate_time(text)


def test_parse_absolute_offset_is_quarter_hours_and_sign():
    plus = parse_time("230615120000008+")
    minus = parse_time("230615120000008-")
    assert plus.utcoffset() == timedelta(hours=2)
    assert minus.utcoffset() == timedelta(hours=-2)
    # Same wall clock, so the '-' moment is four hours later in UTC.
    assert minus - plus == timedelta(hours=4)
    assert plus.astimezone(timezone.utc) == datetime(2023, 6, 15, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, delta",
    [
        ("000000000000000R", timedelta(0)),
        ("000001020304000R", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("000000000001000R", timedelta(seconds=1)),
        ("010203000000000R", timedelta(days=365 + 2 * 30 + 3)),  # a year is 365 days, a month 30
        ("990000235959000R", timedelta(days=99 * 365, hours=23, minutes=59, seconds=59)),
    ],
)
def test_parse_relative(text, delta):
    got = parse_time(text)
    assert got == RelativeTime(delta)
    validate_time(text)


def test_empty_time_means_none():
    assert parse_time("") is None
    assert resolve_time("", datetime(2024, 1, 1, tzinfo=timezone.utc)) is None
    validate_time("")


def test_resolve_time():
    now = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert resolve_time("000001010000000R", now) == now + timedelta(days=1, hours=1)
    assert resolve_time("240301130000004+", now) == now  # 13:00 at +01:00 is 12:00 UTC


# --- formatting ------------------------------------------------------------------------------


def test_format_absolute_examples():
    nepal = timezone(timedelta(hours=5, minutes=45))
    assert format_absolute(datetime(2023, 6, 15, 14, 30, 0, 123_456, tzinfo=nepal)) == "230615143000123+"
    assert format_absolute(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "240102030405000+"
    assert format_absolute(datetime(2024, 1, 2, 3, 4, 5, 999_999, tzinfo=tz(-20))) == "240102030405920-"


def test_format_absolute_needs_aware_datetime():
    with pytest.raises(ValueError):
        format_absolute(datetime(2024, 1, 1))


def test_format_relative_examples():
    assert format_relative(timedelta(0)) == "000000000000000R"
    assert format_relative(timedelta(days=1, hours=2, minutes=3, seconds=4)) == "000001020304000R"
    assert format_relative(timedelta(days=365 + 64, seconds=59)) == "010204000059000R"
    assert format_relative(timedelta(seconds=1.9)) == "000000000001000R"  # sub-seconds are dropped


def test_format_relative_limits():
    with pytest.raises(ValueError):
        format_relative(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        format_relative(timedelta(days=100 * 365))
    assert format_relative(timedelta(days=100 * 365) - timedelta(seconds=1)) == "991204235959000R"


# --- round trips -----------------------------------------------------------------------------

aware_moments = st.builds(
    lambda naive, tenths, quarters: naive.replace(microsecond=tenths * 100_000, tzinfo=tz(quarters)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)),
    st.integers(0, 9),
    st.integers(-48, 48),
)


@FAST
@given(aware_moments)
def test_absolute_round_trip_from_datetime(moment):
    text = format_absolute(moment)
    assert len(text) == 16 and text[15] in "+-"
    back = parse_time(text)
    assert back == moment
    assert back.utcoffset() == moment.utcoffset()
    assert back.replace(tzinfo=None) == moment.replace(tzinfo=None)


@FAST
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)),
    st.integers(0, 48),
    st.sampled_from("+-"),
    st.integers(0, 9),
)
def test_absolute_round_trip_from_text(naive, quarters, sign, tenths):
    if quarters == 0:
        sign = "+"  # '-' with a zero offset is the same moment and normalises to '+'
    text = f"{naive:%y%m%d%H%M%S}{tenths}{quarters:02d}{sign}"
    assert format_absolute(parse_time(text)) == text


def test_zero_offset_with_minus_normalises_to_plus():
    assert format_absolute(parse_time("240101000000000-")) == "240101000000000+"


@FAST
@given(st.integers(0, 100 * 365 * 86400 - 1))
def test_relative_round_trip_from_delta(seconds):
    delta = timedelta(seconds=seconds)
    text = format_relative(delta)
    assert len(text) == 16 and text.endswith("000R")
    assert parse_time(text) == RelativeTime(delta)
    assert format_relative(parse_time(text).delta) == text


@FAST
@given(st.integers(0, 99), st.integers(0, 11), st.integers(0, 29), st.integers(0, 23), st.integers(0, 59),
       st.integers(0, 59))
def test_relative_round_trip_from_text(yy, mo, dd, hh, mi, ss):
    text = f"{yy:02d}{mo:02d}{dd:02d}{hh:02d}{mi:02d}{ss:02d}000R"
    parsed = parse_time(text)
    assert parsed.delta == timedelta(days=yy * 365 + mo * 30 + dd, hours=hh, minutes=mi, seconds=ss)
    assert format_relative(parsed.delta) == text


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2306151430001", id="13-chars"),
        pytest.param("23061514300010+", id="15-chars"),
        pytest.param("2306151430001040+", id="17-chars"),
        pytest.param(" 230615143000104+", id="leading-space"),
        pytest.param("A30615143000104+", id="letter-in-year"),
        pytest.param("2306151430001O4+", id="letter-O-in-offset"),
        pytest.param("23061514300x104+", id="letter-in-seconds"),
        pytest.param("2306151430000x4+", id="letter-in-tenths-slot"),
        pytest.param("-30615143000104+", id="minus-in-digits"),
        pytest.param("231315143000104+", id="month-13"),
        pytest.param("230015143000104+", id="month-00"),
        pytest.param("230600143000104+", id="day-00"),
        pytest.param("230631143000104+", id="june-31"),
        pytest.param("230229120000000+", id="feb-29-non-leap"),
        pytest.param("230615243000104+", id="hour-24"),
        pytest.param("230615146000104+", id="minute-60"),
        pytest.param("230615143060104+", id="second-60"),
        pytest.param("230615143000149+", id="offset-49-quarters"),
        pytest.param("230615143000199-", id="offset-99-quarters"),
        pytest.param("230615143000104X", id="bad-sign"),
        pytest.param("230615143000104r", id="lowercase-r"),
        pytest.param("230615143000104 ", id="space-sign"),
        pytest.param("000001000000100R", id="relative-tenths-not-0"),
        pytest.param("000001000000010R", id="relative-quarters-not-00"),
        pytest.param("000001000000001R", id="relative-ending-001R"),
        pytest.param("000001240000000R", id="relative-hour-24"),
        pytest.param("000001006000000R", id="relative-minute-60"),
        pytest.param("000001000060000R", id="relative-second-60"),
        pytest.param("23061514300010\u00b2+", id="latin1-superscript-digit"),
    ],
)
def test_rejections(text):
    with pytest.raises(ValueError):
        parse_time(text)
    with pytest.raises(ValueError):
        validate_time(text)


@FAST
@given(st.text(max_size=20))
def test_parse_never_raises_anything_but_value_error(text):
    try:
        result = parse_time(text)
    except ValueError:
        return
    assert result is None or isinstance(result, (datetime, RelativeTime))
    assert text == "" or len(text) == 16
