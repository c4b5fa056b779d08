"""The dashboard's chart geometry and formatting helpers (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from smscast.db.campaigns import ProgressPoint
from smscast.web import charts
from smscast.web.rendering import format_money, format_when, plural

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_status_bar_segments_follow_each_other_and_fill_the_total() -> None:
    bar = charts.status_bar({"Delivered": 6, "Queued": 2, "Failed": 2}, 10)
    assert [s.status for s in bar] == ["Delivered", "Queued", "Failed"]
    assert [s.x for s in bar] == [0.0, 600.0, 800.0]
    assert sum(s.width for s in bar) == charts.BAR_WIDTH
    assert [s.percent for s in bar] == [60.0, 20.0, 20.0]
    # More parts than estimated (the estimate can be low): scaled to what there is.
    assert sum(s.width for s in charts.status_bar({"Sent": 12}, 10)) == charts.BAR_WIDTH
    assert charts.status_bar({}, 0) == []


def test_timeline_stacks_the_series_inside_the_plot() -> None:
    samples = [
        ProgressPoint(T0, 10, 0, 0, 0),
        ProgressPoint(T0 + timedelta(seconds=30), 2, 5, 3, 0),
        ProgressPoint(T0 + timedelta(seconds=60), 0, 0, 9, 1),
    ]
    chart = charts.timeline(samples)
    assert chart is not None
    assert [a.key for a in chart.areas] == ["delivered", "sent", "queued", "ended"]
    assert [a.last for a in chart.areas] == [9, 0, 0, 1]
    for area in chart.areas:
        for pair in area.points.split():
            x, y = (float(v) for v in pair.split(","))
            assert chart.plot_left <= x <= chart.plot_right
            assert chart.plot_top <= y <= chart.plot_bottom
    # The top of the stack at the end is the whole campaign (10 parts = the top of the plot).
    top_last = chart.areas[-1].points.split()[len(samples) - 1]
    assert top_last == f"{chart.plot_right},{chart.plot_top}"
    assert [t.label for t in chart.x_ticks] == ["09:00:00", "09:00:30", "09:01:00"]
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]
    assert charts.timeline(samples[:1]) is None


def test_short_campaigns_get_tenths_of_seconds_on_the_axis() -> None:
    samples = [ProgressPoint(T0, 1, 0, 0, 0), ProgressPoint(T0 + timedelta(milliseconds=800), 0, 0, 1, 0)]
    chart = charts.timeline(samples)
    assert chart is not None
    assert chart.x_ticks[-1].label == "09:00:00.8"


def test_formatting() -> None:
    assert format_money(Decimal("0.504"), "EUR") == "0.504 EUR"
    assert format_money(1234.5) == "1,234.50"
    assert format_money(Decimal("0.000042")) == "0.00"
    assert format_money(None) == "—"
    assert format_when(T0) == "2026-11-27 09:00:00 UTC"
    assert format_when(None) == "—"
    assert plural(1, "part") == "1 part" and plural(3, "part") == "3 parts"
