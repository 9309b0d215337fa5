"""The swimlane geometry: lanes by first appearance, markers in time order, crowded events kept apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from web import timeline

T0 = datetime(2026, 11, 1, 9, 0)


@dataclass
class _Event:
    id: str
    source: str
    type: str
    occurred_at: datetime
    status: str = "ok"
    out_of_order: bool = False


def test_lanes_markers_gaps_and_ticks() -> None:
    events = [_Event("a", "shop", "order.placed", T0),
              _Event("b", "pay", "payment.captured", T0 + timedelta(seconds=5)),
              _Event("c", "shop", "order.updated", T0 + timedelta(seconds=6)),
              _Event("d", "carrier", "shipment.delivered", T0 + timedelta(days=2), status="failed")]
    built = timeline.build(events, selected="b")
    assert [name for name, _ in built.lanes] == ["shop", "pay", "carrier"]
    xs = [m.x for m in built.markers]
    assert xs == sorted(xs) and all(b - a >= timeline.MIN_GAP - 1e-6 for a, b in zip(xs, xs[1:], strict=False))
    assert xs[0] >= timeline.LABEL_WIDTH and xs[-1] <= timeline.WIDTH - timeline.RIGHT_PAD + 1e-6
    assert [m.selected for m in built.markers] == [False, True, False, False]
    assert built.markers[0].y == built.markers[2].y != built.markers[1].y
    assert [g.label for g in built.gaps] == ["5s", "1s", "1d 23h"] and [g.slow for g in built.gaps] == [
        False, False, True]
    tick_xs = [x for x, _ in built.ticks]
    assert tick_xs == sorted(tick_xs) and all(b - a >= 70 for a, b in zip(tick_xs, tick_xs[1:], strict=False))
    assert not built.seconds


def test_empty_and_single_event() -> None:
    assert timeline.build([]).markers == []
    one = timeline.build([_Event("a", "erp", "erp.posted", T0)])
    assert len(one.markers) == 1 and one.gaps == [] and one.lanes == [("erp", one.markers[0].y)]
    short = timeline.build([_Event("a", "erp", "erp.posted", T0), _Event("b", "erp", "sync.failed",
                                                                        T0 + timedelta(seconds=40))])
    assert short.seconds
