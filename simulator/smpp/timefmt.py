"""SMPP time formats (v3.4 section 7.1.1): absolute 'YYMMDDhhmmsstnnp' and relative 'YYMMDDhhmmss000R'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# Relative times count a year as 365 days and a month as 30 days, as SMSCs commonly do.
_DAYS_PER_YEAR = 365
_DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class RelativeTime:
    """A relative SMPP time: a delay from now."""

    delta: timedelta


def validate_time(text: str) -> None:
    """Raise ValueError naming the problem when text is neither empty nor a valid SMPP time."""
    parse_time(text)


def parse_time(text: str) -> datetime | RelativeTime | None:
    """Parse an SMPP time: None for '', an aware datetime for absolute, RelativeTime for relative."""
    if text == "":
        return None
    if len(text) != 16:
        raise ValueError(f"SMPP time must be 16 characters, got {len(text)}: {text!r}")
    digits, tenths, quarters, sign = text[:12], text[12], text[13:15], text[15]
    if not (digits.isdigit() and digits.isascii() and tenths.isdigit() and quarters.isdigit()):
        raise ValueError(f"SMPP time must start with 15 digits: {text!r}")
    yy, mo, dd, hh, mi, ss = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    if sign == "R":
        if tenths != "0" or quarters != "00":
            raise ValueError(f"relative SMPP time must end with '000R': {text!r}")
        if hh > 23 or mi > 59 or ss > 59:
            raise ValueError(f"relative SMPP time has an hour, minute or second out of range: {text!r}")
        days = yy * _DAYS_PER_YEAR + mo * _DAYS_PER_MONTH + dd
        return RelativeTime(timedelta(days=days, hours=hh, minutes=mi, seconds=ss))
    if sign not in "+-":
        raise ValueError(f"SMPP time must end with '+', '-' or 'R': {text!r}")
    offset_quarters = int(quarters)
    if offset_quarters > 48:
        raise ValueError(f"SMPP time UTC offset must be at most 48 quarter hours: {text!r}")
    offset = timedelta(minutes=15 * offset_quarters)
    try:
        tz = timezone(offset if sign == "+" else -offset)
        return datetime(2000 + yy, mo, dd, hh, mi, ss, int(tenths) * 100_000, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"SMPP time is not a valid date: {text!r} ({exc})") from None


def format_absolute(moment: datetime) -> str:
    """An absolute SMPP time for an aware datetime, keeping its UTC offset (rounded to quarter hours)."""
    if moment.tzinfo is None:
        raise ValueError("format_absolute needs an aware datetime")
    offset = moment.utcoffset() or timedelta(0)
    if abs(offset) > timedelta(hours=12):
        # SMPP offsets stop at 48 quarter hours: express UTC+13/+14 moments in UTC instead.
        moment, offset = moment.astimezone(timezone.utc), timedelta(0)
    if not 2000 <= moment.year <= 2099:
        raise ValueError(f"SMPP absolute times cover 2000-2099, got {moment.year}")
    quarters = round(abs(offset.total_seconds()) / 900)
    sign = "-" if offset < timedelta(0) else "+"
    return f"{moment:%y%m%d%H%M%S}{moment.microsecond // 100_000}{quarters:02d}{sign}"


def format_relative(delta: timedelta) -> str:
    """A relative SMPP time for a non-negative timedelta."""
    if delta < timedelta(0):
        raise ValueError("relative SMPP time cannot be negative")
    total = int(delta.total_seconds())
    days, rest = divmod(total, 86400)
    years, days = divmod(days, _DAYS_PER_YEAR)
    months, days = divmod(days, _DAYS_PER_MONTH)
    if years > 99:
        raise ValueError("relative SMPP time is limited to 99 years")
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"


def resolve_time(text: str, now: datetime) -> datetime | None:
    """The moment an SMPP time designates, relative ones counted from now; None for ''."""
    parsed = parse_time(text)
    if isinstance(parsed, RelativeTime):
        return now + parsed.delta
    return parsed
