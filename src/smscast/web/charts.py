"""Geometry of the dashboard's SVG charts, computed on the server: no chart library, no inline script.

``status_bar`` lays the campaign's parts out as one stacked bar; ``timeline`` turns progress samples into
a stacked area chart. Both work in the SVG's own coordinate system (``viewBox``); the templates only print
the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from smscast.db.campaigns import ProgressPoint

#: Display order (left to right, bottom to top): finished well, on the way, waiting, finished badly.
BAR_STATUSES: Final = ("Delivered", "Sent", "Queued", "Undelivered", "Failed", "Unsent")
SERIES: Final = (
    ("delivered", "Delivered"),
    ("sent", "Sent"),
    ("queued", "Queued"),
    ("ended", "Undelivered, failed or unsent"),
)

BAR_WIDTH: Final = 1000.0
CHART_WIDTH: Final = 640.0
CHART_HEIGHT: Final = 220.0
MARGIN_LEFT: Final = 48.0
MARGIN_RIGHT: Final = 12.0
MARGIN_TOP: Final = 10.0
MARGIN_BOTTOM: Final = 28.0


@dataclass(frozen=True, slots=True)
class Segment:
    status: str
    count: int
    x: float
    width: float
    percent: float


def status_bar(counts: Mapping[str, int], total: int) -> list[Segment]:
    """One segment per status with parts, in ``BAR_STATUSES`` order, sized against ``total`` (or the sum
    of ``counts`` when that is larger: the estimate can be below what was sent)."""
    scale = max(total, sum(counts.get(s, 0) for s in BAR_STATUSES), 1)
    x = 0.0
    out: list[Segment] = []
    for status in BAR_STATUSES:
        count = counts.get(status, 0)
        if count <= 0:
            continue
        width = BAR_WIDTH * count / scale
        out.append(Segment(status, count, round(x, 2), round(width, 2), round(100 * count / scale, 1)))
        x += width
    return out


@dataclass(frozen=True, slots=True)
class Area:
    key: str
    label: str
    points: str  # the SVG polygon's "x,y x,y …"
    last: int


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    areas: list[Area]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    width: float = CHART_WIDTH
    height: float = CHART_HEIGHT


def timeline(samples: Sequence[ProgressPoint]) -> Timeline | None:
    """A stacked area chart of the samples (``None`` without at least two samples)."""
    if len(samples) < 2:
        return None
    left, right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, CHART_HEIGHT - MARGIN_BOTTOM
    start, end = samples[0].at, samples[-1].at
    span = max((end - start).total_seconds(), 1e-9)
    peak = max(max(p.queued + p.sent + p.delivered + p.ended for p in samples), 1)

    def x_of(moment: datetime) -> float:
        return round(left + (right - left) * (moment - start).total_seconds() / span, 2)

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * value / peak, 2)

    areas: list[Area] = []
    below = [0] * len(samples)
    for key, label in SERIES:
        above = [b + int(getattr(p, key)) for b, p in zip(below, samples, strict=True)]
        upper = [f"{x_of(p.at)},{y_of(v)}" for p, v in zip(samples, above, strict=True)]
        lower = [f"{x_of(p.at)},{y_of(v)}" for p, v in zip(reversed(samples), reversed(below), strict=True)]
        areas.append(Area(key, label, " ".join(upper + lower), int(getattr(samples[-1], key))))
        below = above
    x_ticks = [
        Tick(x_of(samples[i].at), _clock(samples[i].at, span))
        for i in sorted({0, len(samples) // 2, len(samples) - 1})
    ]
    y_ticks = [Tick(y_of(v), str(v)) for v in sorted({0, peak // 2, peak})]
    return Timeline(areas, x_ticks, y_ticks, left, right, top, bottom)


def _clock(moment: datetime, span_s: float) -> str:
    if span_s < 60:
        return moment.strftime("%H:%M:%S") + f".{moment.microsecond // 100_000}"
    return moment.strftime("%H:%M:%S" if span_s < 3 * 3600 else "%d %b %H:%M")
