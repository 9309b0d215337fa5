"""The trace's swimlane timeline as plain geometry for an inline SVG: one lane per system, a shared time axis.

Pure: takes the events (timeline order) and returns coordinates; the template draws them. The axis is
monotonic and piecewise linear between event times, each gap at least ``MIN_GAP`` wide, so a burst of
events minutes apart stays readable next to a day-long wait; ticks are placed through the same map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from web.common import duration

WIDTH = 1100
LANE_HEIGHT = 64
LABEL_WIDTH = 130
TOP = 28
RIGHT_PAD = 90
MIN_GAP = 80.0
SAME_SPOT = 3.0  # events of one lane closer than this (pixels) are one marker
_TICK_STEPS = [timedelta(seconds=s) for s in (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600,
                                               12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400)]


@dataclass(slots=True)
class Marker:
    id: str
    x: float
    y: float
    type: str
    status: str
    source: str
    at: datetime
    label_dy: float
    out_of_order: bool
    selected: bool
    types: list[str] = field(default_factory=list)  # of every event drawn as this marker (same lane, same moment)

    @property
    def count(self) -> int:
        return len(self.types)

    @property
    def label(self) -> str:
        """One label per marker, never one per event stacked on it: ``settlement.paid ×3`` or ``3 events``."""
        if self.count <= 1:
            return self.type
        return f"{self.type} ×{self.count}" if len(set(self.types)) == 1 else f"{self.count} events"


@dataclass(slots=True)
class Gap:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    slow: bool


@dataclass(slots=True)
class Timeline:
    width: int
    height: int
    lanes: list[tuple[str, float]] = field(default_factory=list)  # (system, y of the lane's centre)
    markers: list[Marker] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    ticks: list[tuple[float, datetime]] = field(default_factory=list)
    seconds: bool = False  # tick labels need seconds (the whole trace spans minutes)
    start: datetime | None = None
    end: datetime | None = None


def build(events: list[Any], selected: str | None = None, slow_after: float = 3600.0) -> Timeline:
    """Lanes in order of each system's first event; markers at ``occurred_at``; each gap labelled with its lag."""
    systems: list[str] = []
    for event in events:
        if event.source not in systems:
            systems.append(event.source)
    height = TOP + LANE_HEIGHT * max(1, len(systems)) + 24
    timeline = Timeline(width=WIDTH, height=height)
    if not events:
        return timeline
    lane_y = {name: TOP + LANE_HEIGHT * i + LANE_HEIGHT / 2 for i, name in enumerate(systems)}
    timeline.lanes = [(name, lane_y[name]) for name in systems]
    start = min(e.occurred_at for e in events)
    end = max(e.occurred_at for e in events)
    timeline.start, timeline.end = start, end
    x_of = _axis(sorted({e.occurred_at for e in events}), LABEL_WIDTH + 20, WIDTH - RIGHT_PAD)

    last_x: dict[str, tuple[float, int]] = {}
    last_marker: dict[str, Marker] = {}
    previous: Marker | None = None
    for event in events:
        x, y = x_of(event.occurred_at), lane_y[event.source]
        same = last_marker.get(event.source)
        if same is not None and abs(x - same.x) < SAME_SPOT:  # drawn as one marker: one label, one target
            same.types.append(event.type)
            same.status = "failed" if event.status == "failed" else same.status
            same.out_of_order = same.out_of_order or event.out_of_order
            same.selected = same.selected or event.id == selected
            previous = same
            continue
        near, level = last_x.get(event.source, (-1e9, 0))
        level = (level + 1) % 3 if x - near < 90 else 0  # stagger labels of crowded neighbours
        last_x[event.source] = (x, level)
        marker = Marker(id=event.id, x=x, y=y, type=event.type, status=event.status, source=event.source,
                        at=event.occurred_at, label_dy=-12 - 12 * level, out_of_order=event.out_of_order,
                        selected=event.id == selected, types=[event.type])
        last_marker[event.source] = marker
        if previous is not None:
            lag = (event.occurred_at - previous.at).total_seconds()
            timeline.gaps.append(Gap(previous.x, previous.y, x, y, duration(lag), lag > slow_after))
        timeline.markers.append(marker)
        previous = marker
    span = max((end - start).total_seconds(), 1.0)
    step = next((s for s in _TICK_STEPS if span / s.total_seconds() <= 6), _TICK_STEPS[-1])
    timeline.seconds = step < timedelta(minutes=1)
    tick = start
    while tick <= end + timedelta(seconds=1) and len(timeline.ticks) < 24:
        x = x_of(tick)
        if not timeline.ticks or x - timeline.ticks[-1][0] >= 70:  # the axis is uneven: keep labels apart
            timeline.ticks.append((x, tick))
        tick += step
    return timeline


def _axis(times: list[datetime], left: float, right: float) -> Callable[[datetime], float]:
    """A monotonic time → x map, piecewise linear between event times: every gap gets at least
    ``MIN_GAP`` pixels (so a burst of events stays readable) and the rest is shared in proportion to time."""
    if len(times) < 2:
        return lambda at: (left + right) / 2
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    width = right - left
    floor = min(MIN_GAP, width / len(gaps))
    spare = width - floor * len(gaps)
    total = sum(gaps) or 1.0
    xs = [left]
    for gap in gaps:
        xs.append(xs[-1] + floor + spare * gap / total)

    def x_of(at: datetime) -> float:
        if at <= times[0]:
            return left
        for i in range(1, len(times)):
            if at <= times[i]:
                part = (at - times[i - 1]).total_seconds() / max(gaps[i - 1], 1e-9)
                return xs[i - 1] + (xs[i] - xs[i - 1]) * part
        return right

    return x_of
