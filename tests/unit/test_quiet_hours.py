"""Quiet hours (API §4.9, SMSCAST_QUIET_HOURS of §10): windows, is_quiet, next_allowed, DST, several zones."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from smscast.domain.numbers import zones_of
from smscast.domain.quiet_hours import (
    DEFAULT_WINDOWS,
    SEARCH_HORIZON,
    NeverAllowed,
    Window,
    is_quiet,
    next_allowed,
    parse_windows,
)

ATHENS = ZoneInfo("Europe/Athens")
NEW_YORK = ZoneInfo("America/New_York")


def local(
    zone: ZoneInfo,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    *,
    fold: int = 0,
) -> datetime:
    """A local wall-clock time; ``fold=1`` picks the second occurrence of a repeated one."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=zone, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- parsing ---------------------------------------------------------------------------------------------


def test_default_windows() -> None:
    expected = (Window(time(23), time(8)), Window(time(14), time(17)))
    assert expected == DEFAULT_WINDOWS
    assert [str(w) for w in DEFAULT_WINDOWS] == ["23:00-08:00", "14:00-17:00"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("23:00-08:00", ((time(23), time(8)),)),
        (" 23:00 - 08:00 , 14:00-17:00 ", ((time(23), time(8)), (time(14), time(17)))),
        ("8:30-9:45", ((time(8, 30), time(9, 45)),)),
        ("22:00-24:00", ((time(22), time(0)),)),
        ("00:00-06:00,05:00-07:00", ((time(0), time(6)), (time(5), time(7)))),  # overlapping is fine
        ("", ()),  # no quiet hours at all
        ("   ", ()),
    ],
)
def test_parse_windows(spec: str, expected: tuple[tuple[time, time], ...]) -> None:
    assert parse_windows(spec) == tuple(Window(start, end) for start, end in expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("23:00", "expected HH:MM-HH:MM"),
        ("23:00-08:00,", "expected HH:MM-HH:MM"),
        ("23:00-08:00;14:00-17:00", "expected HH:MM-HH:MM"),
        ("11pm-8am", "expected HH:MM-HH:MM"),
        ("23.00-08.00", "expected HH:MM-HH:MM"),
        ("23:00-08:00:00", "expected HH:MM-HH:MM"),
        ("25:00-08:00", "not a time of day"),
        ("23:00-08:60", "not a time of day"),
        ("24:00-08:00", "not a time of day"),  # 24:00 only as an end
        ("08:00-08:00", "start and end are the same"),
        ("00:00-12:00,12:00-00:00", "cover the whole day"),
        ("00:00-24:00", "start and end are the same"),
        ("20:00-10:00,09:00-21:00", "cover the whole day"),
    ],
)
def test_parse_windows_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_windows(spec)


def test_parse_windows_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="as text"):
        parse_windows(None)  # type: ignore[arg-type]


def test_window_contains_is_half_open_and_wraps() -> None:
    night, afternoon = DEFAULT_WINDOWS
    assert all(night.contains(t) for t in (time(23), time(0), time(7, 59, 59, 999999)))
    assert not any(night.contains(t) for t in (time(8), time(22, 59, 59, 999999), time(12)))
    assert afternoon.contains(time(14))
    assert not afternoon.contains(time(17))
    empty = Window(time(9), time(9))
    assert empty.is_empty
    assert not empty.contains(time(9))


def test_window_bounds_must_be_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        Window(time(23, tzinfo=UTC), time(8))


# --- is_quiet / next_allowed: one zone -------------------------------------------------------------------


def test_athens_evening() -> None:
    zones = ["Europe/Athens"]
    before = local(ATHENS, 2026, 6, 10, 22, 59)
    assert not is_quiet(before, zones, DEFAULT_WINDOWS)
    assert next_allowed(before, zones, DEFAULT_WINDOWS) is before
    start = local(ATHENS, 2026, 6, 10, 23, 0)
    assert is_quiet(start, zones, DEFAULT_WINDOWS)
    result = next_allowed(start, zones, DEFAULT_WINDOWS)
    assert result == local(ATHENS, 2026, 6, 11, 8, 0)
    assert result.tzinfo is UTC
    assert result == utc(2026, 6, 11, 5, 0)


def test_afternoon_window() -> None:
    zones = ["Europe/Athens"]
    assert not is_quiet(local(ATHENS, 2026, 6, 10, 13, 59, 59), zones, DEFAULT_WINDOWS)
    assert is_quiet(local(ATHENS, 2026, 6, 10, 14, 0), zones, DEFAULT_WINDOWS)
    assert is_quiet(local(ATHENS, 2026, 6, 10, 16, 59, 59, 999999), zones, DEFAULT_WINDOWS)
    assert not is_quiet(local(ATHENS, 2026, 6, 10, 17, 0), zones, DEFAULT_WINDOWS)
    for minute in (0, 1, 30, 59):
        at = local(ATHENS, 2026, 6, 10, 15, minute, 7, 123)
        assert next_allowed(at, zones, DEFAULT_WINDOWS) == local(ATHENS, 2026, 6, 10, 17, 0)


def test_midnight_wrap() -> None:
    zones = ["Europe/Athens"]
    for at in (local(ATHENS, 2026, 6, 10, 23, 59), local(ATHENS, 2026, 6, 11, 0, 0), utc(2026, 6, 10, 23, 0)):
        assert next_allowed(at, zones, DEFAULT_WINDOWS) == local(ATHENS, 2026, 6, 11, 8, 0)


def test_any_input_timezone_is_accepted() -> None:
    at = datetime(2026, 6, 10, 21, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 15:00 in Athens
    assert is_quiet(at, ["Europe/Athens"], DEFAULT_WINDOWS)
    assert next_allowed(at, ["Europe/Athens"], DEFAULT_WINDOWS) == utc(2026, 6, 10, 14, 0)


def test_overlapping_windows_chain() -> None:
    windows = parse_windows("10:00-12:00,11:00-13:00,12:30-12:45,13:00-13:05")
    at = local(ATHENS, 2026, 6, 10, 10, 30)
    assert next_allowed(at, ["Europe/Athens"], windows) == local(ATHENS, 2026, 6, 10, 13, 5)


def test_unknown_zone_set_or_no_windows_means_no_restriction() -> None:
    at = local(ATHENS, 2026, 6, 10, 23, 30)
    assert not is_quiet(at, [], DEFAULT_WINDOWS)
    assert next_allowed(at, [], DEFAULT_WINDOWS) is at
    assert not is_quiet(at, ["Europe/Athens"], ())
    assert next_allowed(at, ["Europe/Athens"], ()) is at
    assert next_allowed(at, ["Europe/Athens"], [Window(time(9), time(9))]) is at


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_quiet(datetime(2026, 6, 10, 23), ["Europe/Athens"], DEFAULT_WINDOWS)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed(datetime(2026, 6, 10, 23), ["Europe/Athens"], DEFAULT_WINDOWS)  # noqa: DTZ001


def test_unknown_zone_name() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        is_quiet(utc(2026, 6, 10), ["Mars/Olympus_Mons"], DEFAULT_WINDOWS)


# --- DST -------------------------------------------------------------------------------------------------
# Europe/Athens: 2026-03-29 03:00 EET -> 04:00 EEST at 01:00Z; 2026-10-25 04:00 EEST -> 03:00 EET at 01:00Z.
# America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z; 2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z.


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        # Spring forward: the night is an hour shorter in UTC; quiet ends at 08:00 new local time.
        ("Europe/Athens", utc(2026, 3, 28, 21, 30), utc(2026, 3, 29, 5, 0)),
        ("Europe/Athens", utc(2026, 3, 29, 0, 59, 59), utc(2026, 3, 29, 5, 0)),
        ("Europe/Athens", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 5, 0)),
        ("America/New_York", utc(2026, 3, 8, 4, 30), utc(2026, 3, 8, 12, 0)),
        ("America/New_York", utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 12, 0)),
        # Fall back: the night is an hour longer.
        ("Europe/Athens", utc(2026, 10, 24, 20, 30), utc(2026, 10, 25, 6, 0)),
        ("Europe/Athens", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 6, 0)),  # in the first 03:30
        ("Europe/Athens", utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 6, 0)),  # in the second 03:30
        ("America/New_York", utc(2026, 11, 1, 3, 30), utc(2026, 11, 1, 13, 0)),
        ("America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 13, 0)),  # first 01:30
        ("America/New_York", utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 13, 0)),  # second 01:30
    ],
)
def test_dst_with_default_windows(zone: str, at: datetime, expected: datetime) -> None:
    assert is_quiet(at, [zone], DEFAULT_WINDOWS)
    assert next_allowed(at, [zone], DEFAULT_WINDOWS) == expected


def test_window_ending_in_the_skipped_hour_ends_at_the_jump() -> None:
    windows = parse_windows("01:00-03:30")  # 03:00-04:00 does not exist on 2026-03-29 in Athens
    at = local(ATHENS, 2026, 3, 29, 2, 30)
    assert is_quiet(at, ["Europe/Athens"], windows)
    assert next_allowed(at, ["Europe/Athens"], windows) == utc(2026, 3, 29, 1, 0)  # 04:00 EEST


def test_window_starting_in_the_skipped_hour_starts_at_the_jump() -> None:
    windows = parse_windows("03:30-05:00")
    assert not is_quiet(utc(2026, 3, 29, 0, 59, 59), ["Europe/Athens"], windows)  # 02:59:59 EET
    assert is_quiet(utc(2026, 3, 29, 1, 0), ["Europe/Athens"], windows)  # 04:00 EEST
    assert next_allowed(utc(2026, 3, 29, 1, 0), ["Europe/Athens"], windows) == utc(2026, 3, 29, 2, 0)


def test_repeated_hour_is_quiet_twice() -> None:
    # New York, 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
    windows = parse_windows("01:30-02:30")
    zones = ["America/New_York"]
    first = local(NEW_YORK, 2026, 11, 1, 1, 45, fold=0)
    second = local(NEW_YORK, 2026, 11, 1, 1, 45, fold=1)
    assert first.astimezone(UTC) == utc(2026, 11, 1, 5, 45)
    assert second.astimezone(UTC) == utc(2026, 11, 1, 6, 45)
    assert is_quiet(first, zones, windows)
    assert is_quiet(second, zones, windows)
    # The clock going back from 02:00 EDT to 01:00 EST leaves the window: allowed at the jump...
    assert next_allowed(first, zones, windows) == utc(2026, 11, 1, 6, 0)
    assert not is_quiet(utc(2026, 11, 1, 6, 15), zones, windows)  # 01:15 EST
    # ...and quiet again from the second 01:30 to 02:30 EST.
    assert next_allowed(second, zones, windows) == utc(2026, 11, 1, 7, 30)


def test_window_ending_in_the_repeated_hour() -> None:
    windows = parse_windows("03:30-05:00")  # Athens 2026-10-25: 03:00-04:00 twice
    zones = ["Europe/Athens"]
    at = utc(2026, 10, 25, 0, 45)  # 03:45 EEST, quiet
    assert next_allowed(at, zones, windows) == utc(2026, 10, 25, 1, 0)  # back to 03:00 EET
    assert next_allowed(utc(2026, 10, 25, 1, 30), zones, windows) == utc(2026, 10, 25, 3, 0)  # 05:00 EET


# --- several zones ---------------------------------------------------------------------------------------


def _allowed_everywhere(at: datetime, zones: tuple[str, ...]) -> bool:
    return all(not any(w.contains(at.astimezone(ZoneInfo(z)).time()) for w in DEFAULT_WINDOWS) for z in zones)


@pytest.mark.parametrize(
    "at",
    [
        utc(2026, 6, 10, 13, 30),  # southern winter, no DST anywhere in Australia: 23:30 in Sydney
        utc(2026, 1, 10, 12, 0),  # southern summer: Sydney, Adelaide and Lord Howe on DST
        utc(2026, 4, 4, 14, 0),  # around the end of DST (2026-04-05)
        utc(2026, 10, 3, 14, 0),  # around its start (2026-10-04)
    ],
)
def test_australian_mobile_is_sent_when_allowed_in_all_its_zones(at: datetime) -> None:
    zones = zones_of("+61412345678")
    assert len(zones) == 8
    assert is_quiet(at, zones, DEFAULT_WINDOWS)
    result = next_allowed(at, zones, DEFAULT_WINDOWS)
    assert result > at
    assert _allowed_everywhere(result, zones)
    assert not is_quiet(result, zones, DEFAULT_WINDOWS)
    assert is_quiet(result - timedelta(microseconds=1), zones, DEFAULT_WINDOWS)
    # Later than a single one of the zones alone would have allowed.
    assert result > min(next_allowed(at, [zone], DEFAULT_WINDOWS) for zone in zones)


def test_zones_far_apart_are_never_allowed() -> None:
    zones = zones_of("+79123456789")  # UTC+2 … UTC+12
    for at in (utc(2026, 6, 10, 12, 0), utc(2026, 3, 28, 12, 0), utc(2026, 10, 24, 12, 0)):
        with pytest.raises(NeverAllowed) as caught:
            next_allowed(at, zones, DEFAULT_WINDOWS)
        assert caught.value.zones == zones
        assert isinstance(caught.value, ValueError)


def test_windows_covering_the_day_are_never_allowed() -> None:
    windows = [Window(time(0), time(12)), Window(time(12), time(0))]  # built directly, bypassing the parser
    with pytest.raises(NeverAllowed):
        next_allowed(utc(2026, 6, 10, 12), ["Europe/Athens"], windows)


def test_duplicate_zones_are_harmless() -> None:
    at = local(ATHENS, 2026, 6, 10, 23, 30)
    once = next_allowed(at, ["Europe/Athens"], DEFAULT_WINDOWS)
    assert next_allowed(at, ["Europe/Athens", "Europe/Athens"], DEFAULT_WINDOWS) == once


def test_two_zones_allow_only_the_overlap() -> None:
    # Athens (UTC+3 in June) and New York (UTC-4): 7 hours apart.
    zones = ["Europe/Athens", "America/New_York"]
    result = next_allowed(utc(2026, 6, 10, 0, 0), zones, DEFAULT_WINDOWS)
    # Athens allows 05-11 and 14-20 UTC, New York 12-18 and 21-03 UTC: the first common instant is 14:00 UTC.
    assert result == utc(2026, 6, 10, 14, 0)


# --- properties ------------------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Athens",
    "Europe/London",
    "Europe/Moscow",
    "America/New_York",
    "America/St_Johns",  # UTC-3:30 with DST
    "America/Santiago",  # southern-hemisphere DST
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "Asia/Tehran",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST
    "Australia/Eucla",  # +8:45
    "Pacific/Chatham",  # +12:45 with DST
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
    "Africa/Casablanca",  # offset changes around Ramadan
]

# UTC instants of DST changes around which examples are concentrated.
TRANSITIONS = [
    utc(2026, 3, 29, 1),
    utc(2026, 10, 25, 1),
    utc(2026, 3, 8, 7),
    utc(2026, 11, 1, 6),
    utc(2026, 4, 4, 16),
    utc(2026, 10, 3, 16),
    utc(2026, 4, 4, 15),
    utc(2026, 9, 26, 14),
    utc(2026, 9, 6, 4),
]

instants = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 (hypothesis attaches the timezone)
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
) | st.builds(
    lambda base, minutes, seconds: base + timedelta(minutes=minutes, seconds=seconds),
    st.sampled_from(TRANSITIONS),
    st.integers(-36 * 60, 36 * 60),
    st.sampled_from([0, 0, 0, 1, 59]),
)


@st.composite
def window_sets(draw: st.DrawFn) -> tuple[Window, ...]:
    if draw(st.booleans()):
        return DEFAULT_WINDOWS
    minutes = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
    pairs = draw(st.lists(st.tuples(minutes, minutes), min_size=1, max_size=3))
    spec = ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in pairs)
    try:
        return parse_windows(spec)
    except ValueError:
        reject()


def _minutes_between(start: datetime, end: datetime) -> list[datetime]:
    """Every whole UTC minute strictly after ``start`` and strictly before ``end``."""
    first = start.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    out = []
    while first < end:
        out.append(first)
        first += timedelta(minutes=1)
    return out


@settings(max_examples=300, deadline=None)
@given(
    at=instants,
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3),
    windows=window_sets(),
)
def test_next_allowed_is_the_first_allowed_minute(
    at: datetime, zones: list[str], windows: tuple[Window, ...]
) -> None:
    try:
        result = next_allowed(at, zones, windows)
    except NeverAllowed:
        # Nothing allowed at any minute of the next two days either.
        for minute in _minutes_between(at, at + timedelta(days=2)):
            assert is_quiet(minute, zones, windows)
        return
    assert result >= at
    assert not is_quiet(result, zones, windows)
    assert result - at <= SEARCH_HORIZON
    if result == at:
        assert result is at
        return
    assert result.tzinfo is UTC
    assert is_quiet(at, zones, windows)
    assert is_quiet(result - timedelta(microseconds=1), zones, windows)
    for minute in _minutes_between(at, result):
        assert is_quiet(minute, zones, windows), minute


@settings(max_examples=200, deadline=None)
@given(at=instants, zone=st.sampled_from(ZONES))
def test_is_quiet_follows_the_local_wall_clock(at: datetime, zone: str) -> None:
    wall = at.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    expected = wall >= "23:00" or wall < "08:00" or "14:00" <= wall < "17:00"
    assert is_quiet(at, [zone], DEFAULT_WINDOWS) == expected
