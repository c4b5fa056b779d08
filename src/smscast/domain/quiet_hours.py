"""Quiet hours: when a campaign with ``respectQuietHours`` may hand a message to a carrier (spec §4.9, §10).

A quiet window is a range of local wall-clock times, ``[start, end)``: ``23:00-08:00`` makes 23:00 quiet and
08:00 allowed, and wraps midnight when ``end < start``. Windows may overlap; their union is quiet. They apply
in the recipient's local time: the caller passes the IANA zones of the recipient's number
(``numbers.zones_of``). A number whose zone is ambiguous is quiet when ANY of its zones is, so it is only
sent at an instant allowed in all of them (spec §4.9, smscast rule).

Local time is the wall clock, DST included: in a repeated hour (clocks going back) the same wall time
occurs twice and is quiet both times if a window covers it; a wall time skipped by clocks going forward
never occurs, and a window ending inside the skipped range ends at the jump.

Instants are always timezone-aware and always passed in by the caller; nothing here reads the clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_WINDOWS",
    "SEARCH_HORIZON",
    "NeverAllowed",
    "Window",
    "is_quiet",
    "next_allowed",
    "parse_windows",
]

_DAY_US: Final = 86_400_000_000
_ONE_US: Final = timedelta(microseconds=1)
_DAY: Final = timedelta(days=1)

SEARCH_HORIZON: Final = timedelta(days=8)
"""How far past ``at`` ``next_allowed`` looks before giving up with ``NeverAllowed``. Windows repeat daily,
so a zone set with no allowed instant in a day has none later, except for a DST change shifting the zones
against each other: 8 days lets any such change (they are weeks apart) come into play."""


def _us_of_day(t: time | datetime) -> int:
    """Microseconds since local midnight of a wall-clock time (its tzinfo, if any, is ignored)."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass(frozen=True, slots=True)
class Window:
    """A daily quiet window ``[start, end)`` of local wall-clock times (naive ``time`` values).

    ``end < start`` wraps midnight (``23:00-08:00``); ``start == end`` is an empty window (never quiet).
    """

    start: time
    end: time
    # The bounds as microseconds of the day, computed once: is_quiet/next_allowed are on the send path.
    _start_us: int = field(init=False, repr=False, compare=False)
    _end_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for bound in (self.start, self.end):
            if not isinstance(bound, time) or bound.tzinfo is not None:
                raise ValueError(f"A quiet window is bounded by naive local times, not {bound!r}")
        object.__setattr__(self, "_start_us", _us_of_day(self.start))
        object.__setattr__(self, "_end_us", _us_of_day(self.end))

    @property
    def is_empty(self) -> bool:
        return self._start_us == self._end_us

    def contains(self, wall: time) -> bool:
        """Whether the local wall-clock time ``wall`` is quiet in this window (``start`` in, ``end`` out)."""
        return _in_span(_us_of_day(wall), self._start_us, self._end_us)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class NeverAllowed(ValueError):
    """No instant within ``SEARCH_HORIZON`` is outside quiet hours in every zone of a number.

    This happens when the windows cover the whole day, or for numbers whose possible zones are far apart
    (a Russian mobile may be in any of 16 zones, UTC+2 to UTC+12: with the default windows no hour is
    allowed in all of them). The caller decides what to do with such a message (spec §4.9 is silent).
    """

    def __init__(self, zones: Sequence[str], windows: Sequence[Window]) -> None:
        self.zones = tuple(zones)
        self.windows = tuple(windows)
        super().__init__(
            f"No instant within {SEARCH_HORIZON.days} days is outside the quiet hours "
            f"{','.join(map(str, self.windows))} in all of the zones {', '.join(self.zones)}"
        )


_ITEM: Final = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def _parse_bound(hours: str, minutes: str, *, is_end: bool, item: str) -> time:
    h, m = int(hours), int(minutes)
    if is_end and (h, m) == (24, 0):
        return time(0, 0)  # "22:00-24:00" reads naturally; it ends at midnight
    if h > 23 or m > 59:
        raise ValueError(
            f"Invalid quiet-hours window {item.strip()!r}: {hours}:{minutes} is not a time of day"
        )
    return time(h, m)


def parse_windows(spec: str) -> tuple[Window, ...]:
    """Parse a quiet-hours setting such as ``"23:00-08:00,14:00-17:00"`` (the ``SMSCAST_QUIET_HOURS`` format).

    Comma-separated ``HH:MM-HH:MM`` local times (``H:MM`` and spaces around items are tolerated; ``24:00``
    is accepted as an end). A window may wrap midnight; windows may overlap. An empty or blank ``spec``
    means no quiet hours at all and returns ``()``.

    Raises ``ValueError`` with a message naming the offending part for anything else, for a window whose
    start equals its end (empty or whole day: ambiguous), and for windows that together cover the whole day
    (nothing could ever be sent). Meant to validate the setting at start-up.
    """
    if not isinstance(spec, str):
        raise ValueError(f"Quiet hours must be given as text, not {type(spec).__name__}")
    if not spec.strip():
        return ()
    windows: list[Window] = []
    for item in spec.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"Invalid quiet-hours window {item.strip()!r} in {spec!r}: expected HH:MM-HH:MM")
        start = _parse_bound(match[1], match[2], is_end=False, item=item)
        end = _parse_bound(match[3], match[4], is_end=True, item=item)
        if start == end:
            raise ValueError(
                f"Invalid quiet-hours window {item.strip()!r} in {spec!r}: start and end are the same time"
            )
        windows.append(Window(start, end))
    if _quiet_run(0, _spans(windows)) >= _DAY_US:
        raise ValueError(f"The quiet hours {spec!r} cover the whole day: no message could ever be sent")
    return tuple(windows)


def _in_span(us: int, start: int, end: int) -> bool:
    if start < end:
        return start <= us < end
    if start > end:
        return us >= start or us < end
    return False


def _spans(windows: Sequence[Window]) -> tuple[tuple[int, int], ...]:
    return tuple((w._start_us, w._end_us) for w in windows if w._start_us != w._end_us)


def _quiet_run(us: int, spans: Sequence[tuple[int, int]]) -> int:
    """How long, in microseconds of uninterrupted wall-clock time, quiet lasts from the wall time ``us``:
    0 if ``us`` is not quiet, ``_DAY_US`` or more if it never ends (the windows cover the whole day)."""
    run = 0
    # Each step jumps to the furthest end among the windows containing the current time; without a full
    # lap, every step lands on a different window end, so len(spans) + 1 steps always suffice.
    for _ in range(len(spans) + 1):
        pos = (us + run) % _DAY_US
        step = 0
        for start, end in spans:
            if _in_span(pos, start, end):
                step = max(step, (end - pos) % _DAY_US)
        if step == 0:
            return run
        run += step
        if run >= _DAY_US:
            return run
    return run


DEFAULT_WINDOWS: Final = parse_windows("23:00-08:00,14:00-17:00")
"""The spec's quiet hours (§4.9), also the default of ``SMSCAST_QUIET_HOURS``."""


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _require_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"Quiet hours need a timezone-aware datetime, got {at!r}")


@lru_cache(maxsize=16_384)
def _day_transitions(zone: ZoneInfo, day: int) -> tuple[datetime, ...]:
    """The instants (UTC, whole seconds) in the UTC day with ordinal ``day`` at which ``zone``'s UTC offset,
    hence its wall clock, jumps. Found by sampling every 3 hours and bisecting to the second; real zones
    never change offset twice within 3 hours. Cached: a zone-day is looked at for every message to it."""
    start = datetime.combine(date.fromordinal(day), time(), UTC)
    found: list[datetime] = []
    previous = start
    previous_offset = start.astimezone(zone).utcoffset()
    for hours in range(3, 25, 3):
        sample = start + timedelta(hours=hours)
        offset = sample.astimezone(zone).utcoffset()
        if offset != previous_offset:
            # Invariant: the offset at previous + lo is the old one, at previous + hi it is not.
            lo, hi = 0, 3 * 3600
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if (previous + timedelta(seconds=mid)).astimezone(zone).utcoffset() == previous_offset:
                    lo = mid
                else:
                    hi = mid
            found.append(previous + timedelta(seconds=hi))
        previous, previous_offset = sample, offset
    return tuple(found)


def _next_transition(zone: ZoneInfo, after: datetime, before: datetime) -> datetime | None:
    """The first offset change of ``zone`` strictly between two UTC instants, if any."""
    for day in range(after.toordinal(), before.toordinal() + 1):
        for instant in _day_transitions(zone, day):
            if instant >= before:
                return None
            if instant > after:
                return instant
    return None


def is_quiet(at: datetime, zones: Sequence[str], windows: Sequence[Window]) -> bool:
    """Whether ``at`` (timezone-aware) falls in a quiet window in ANY of ``zones`` (IANA names).

    No zones (the number's zone is unknown even at country level, see ``numbers.zones_of``) or no windows
    mean no restriction: never quiet. Raises ``ValueError`` for a naive ``at`` and
    ``zoneinfo.ZoneInfoNotFoundError`` (a ``KeyError``) for a zone name the tz database lacks.
    """
    _require_aware(at)
    spans = _spans(windows)
    if not spans:
        return False
    for name in zones:
        pos = _us_of_day(at.astimezone(_zone(name)))
        for start, end in spans:
            if _in_span(pos, start, end):
                return True
    return False


def next_allowed(at: datetime, zones: Sequence[str], windows: Sequence[Window]) -> datetime:
    """The earliest instant at or after ``at`` that is not quiet in any of ``zones``.

    Returns ``at`` itself (the same object, in its own timezone) when it is not quiet, including when
    ``zones`` or ``windows`` is empty (no restriction, as in ``is_quiet``); otherwise an aware UTC datetime,
    exact to the microsecond: the end of a window in some zone, or a DST jump that moves a zone's wall clock
    out of a window.

    Raises ``NeverAllowed`` (a ``ValueError``) if no such instant exists within ``SEARCH_HORIZON`` (8 days)
    of ``at``: windows covering the whole day, or zones too far apart (Russian mobiles with the default
    windows). Raises ``ValueError`` for a naive ``at`` and ``zoneinfo.ZoneInfoNotFoundError`` for an
    unknown zone name.

    Cost: ~2 µs when ``at`` is allowed and ~10 µs when it is quiet for one zone; about that per zone and per
    window boundary crossed for several zones; to conclude ``NeverAllowed`` for 16 zones, ~0.2 ms, or ~1 ms
    when a DST change falls within the horizon.
    """
    _require_aware(at)
    spans = _spans(windows)
    infos = [_zone(name) for name in dict.fromkeys(zones)]
    if not spans or not infos:
        return at
    start = now = at.astimezone(UTC)
    deadline = start + SEARCH_HORIZON
    periodic_checked = False
    while True:
        # Skip ahead by the longest stretch that is provably quiet in some zone: from `now`, a quiet zone
        # stays quiet while its wall clock runs on to the end of its current quiet run, unless an offset
        # change (DST) makes the clock jump first; re-examine every zone at the end of that stretch.
        skip = 0
        for zone in infos:
            run = _quiet_run(_us_of_day(now.astimezone(zone)), spans)
            if run == 0:
                continue
            if run >= _DAY_US:
                raise NeverAllowed(tuple(dict.fromkeys(zones)), tuple(windows))
            jump = _next_transition(zone, now, now + timedelta(microseconds=run))
            if jump is not None:
                run = (jump - now) // _ONE_US
            skip = max(skip, run)
        if skip == 0:
            return at if now == at else now
        now += timedelta(microseconds=skip)
        if now > deadline:
            raise NeverAllowed(tuple(dict.fromkeys(zones)), tuple(windows))
        if not periodic_checked and now - start > _DAY:
            # A whole day is quiet. Without an offset change before the deadline every zone's wall clock
            # repeats daily, so the rest of the horizon is too: give up now rather than scan 7 more days.
            periodic_checked = True
            if all(_next_transition(zone, start, deadline) is None for zone in infos):
                raise NeverAllowed(tuple(dict.fromkeys(zones)), tuple(windows))
