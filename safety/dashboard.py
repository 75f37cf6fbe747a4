"""The moderator's dashboard: what the house rules did over the last day, as server-rendered SVG bar charts.

Numbers come from ``safety.selectors``; this module only turns them into bar geometry, so the template draws
``<rect>`` elements and text with no script and nothing from another host. Bars use ``currentColor`` and so
follow the admin's light or dark theme.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 220


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int
    width: int
    text_y: int


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    value_x: int = 0


def bar_chart(title: str, rows: list[tuple[str, int]]) -> BarChart:
    """Horizontal bars, longest first, scaled to the largest value."""
    rows = sorted(rows, key=lambda row: (-row[1], row[0]))
    largest = max((value for _, value in rows), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 60
    bars = [
        Bar(
            label=label,
            value=value,
            y=index * (BAR_HEIGHT + GAP),
            width=max(1, round(room * value / largest)) if value else 0,
            text_y=index * (BAR_HEIGHT + GAP) + BAR_HEIGHT - 4,
        )
        for index, (label, value) in enumerate(rows)
    ]
    return BarChart(title=title, bars=bars, height=max(BAR_HEIGHT, len(bars) * (BAR_HEIGHT + GAP)))


@dataclass(frozen=True)
class Column:
    x: int
    y: int
    height: int
    value: int
    label: str


@dataclass(frozen=True)
class ColumnChart:
    title: str
    columns: list[Column]
    width: int
    height: int
    peak: int


def column_chart(title: str, values: list[tuple[str, int]], *, height: int = 120) -> ColumnChart:
    """Vertical columns in time order (posts per minute), scaled to the peak."""
    peak = max((value for _, value in values), default=0)
    step = max(4, WIDTH // max(1, len(values)))
    columns = [
        Column(
            x=index * step,
            y=height - (round(height * value / peak) if peak else 0),
            height=round(height * value / peak) if peak else 0,
            value=value,
            label=label,
        )
        for index, (label, value) in enumerate(values)
    ]
    return ColumnChart(title=title, columns=columns, width=step * len(values), height=height, peak=peak)
