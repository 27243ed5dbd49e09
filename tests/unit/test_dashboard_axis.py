"""The dashboard's date axis (pipelines/dashboard.py: _date_axis) stays on the report's
days, also when there is only one of them: matplotlib widens a single date by two
years each side, and a day locator over that asked for 1,600 ticks."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest

from pipelines.dashboard import _date_axis, _plot


def _drawn_axis(days: list[date]) -> tuple[float, int]:
    """Draw as the pool-health chart does (a line per day) and render it to PNG."""
    axes = []

    def draw(fig) -> None:
        ax = fig.subplots()
        ax.plot(days, [0.5] * len(days), marker="o")
        ax.set_ylim(0, 1.05)
        _date_axis(ax, days)
        axes.append(ax)

    assert _plot(draw)  # the base64 PNG; rendering is what computes the ticks
    low, high = axes[0].get_xlim()
    return high - low, len(axes[0].get_xticks())


@pytest.mark.parametrize("count", [1, 2, 7, 365])
def test_the_axis_spans_the_days_without_a_tick_flood(count, caplog):
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(count)]
    with caplog.at_level(logging.WARNING, logger="matplotlib"):
        span, ticks = _drawn_axis(days)
    assert span <= count + 60  # a margin, never years around one day
    assert ticks <= 40
    assert not [r for r in caplog.records if "MAXTICKS" in r.getMessage()]
