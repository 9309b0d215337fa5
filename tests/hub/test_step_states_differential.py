"""``step_states`` finds each step's event through a :class:`Timeline` indexed by type in one pass; it must answer
as the scans it replaced (every step scanning the whole sorted timeline): ties in time, a step's alternative types,
steps done only by a system kind, events of types no step names."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.exceptions.flows import FlowEvent, Timeline

T0 = datetime(2026, 11, 2, 9, 0)
TYPES = ("order.placed", "erp.posted", "order.accepted", "payment.captured", "shipment.shipped", "order.cancelled")
KINDS = ("commerce", "erp", "wms", None)

events = st.lists(st.builds(
    FlowEvent, id=st.sampled_from(("e1", "e2", "e3", "e4", "e5", "e6")), type=st.sampled_from(TYPES),
    source=st.sampled_from(("shop", "erp", "wms")),
    occurred_at=st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
    system_kind=st.sampled_from(KINDS)), max_size=10)
type_sets = st.lists(st.sampled_from(TYPES), max_size=3, unique=True).map(tuple)


@settings(max_examples=1000, deadline=None)
@given(timeline=events, types=type_sets, kind=st.sampled_from(KINDS))
def test_timeline_answers_as_the_scans(timeline: list[FlowEvent], types: tuple[str, ...], kind: str | None) -> None:
    ordered = sorted(timeline, key=lambda e: (e.occurred_at, e.id))
    indexed = Timeline(timeline)
    assert indexed.ordered == ordered
    assert indexed.first(types, kind) is next(
        (e for e in ordered if e.type in types and (kind is None or e.system_kind == kind)), None)
    assert indexed.first(types) is next((e for e in ordered if e.type in types), None)
    assert indexed.has(types) == any(e.type in types for e in ordered)
