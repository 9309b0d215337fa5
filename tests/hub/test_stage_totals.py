"""The quantity rule's stage totals come from one pass over a transaction's events grouped by type; they must be
what the scan it replaced gave (every stage reading every event): the most any one system states per SKU and
stage, the events involved stage by stage, nothing once the order is cancelled."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.exceptions.rules import ORDER_STAGES, RETURN_STAGES, TRANSFER_STAGES, TxEvent, stage_totals

T0 = datetime(2026, 11, 2, 9, 0)
TYPES = sorted({t for stages in (ORDER_STAGES, TRANSFER_STAGES, RETURN_STAGES) for _, t in stages}
               | {"order.cancelled", "erp.posted"})


def scanned(stages: tuple[tuple[str, str], ...], events: list[TxEvent]
            ) -> tuple[dict[str, dict[str, Decimal]], dict[str, list[str]]] | None:
    if any(e.type == "order.cancelled" for e in events):
        return None
    totals: dict[str, dict[str, Decimal]] = defaultdict(dict)
    involved: dict[str, list[str]] = defaultdict(list)
    for name, event_type in stages:
        stated: dict[tuple[str, str], Decimal] = {}
        for event in events:
            for line in event.lines if event.type == event_type else []:
                key = (line["sku"], event.source)
                stated[key] = stated.get(key, Decimal(0)) + Decimal(str(line["qty"]))
                involved[line["sku"]].append(event.id)
        for (sku, _), qty in stated.items():
            totals[sku][name] = max(totals[sku].get(name, qty), qty)
    return totals, involved


lines = st.lists(st.fixed_dictionaries({"sku": st.sampled_from(("A", "B")),
                                        "qty": st.sampled_from(("1", "2", "2.5", "0", "-1"))}), max_size=3)
events = st.lists(st.builds(
    TxEvent, id=st.sampled_from(("e1", "e2", "e3", "e4")), type=st.sampled_from(TYPES),
    source=st.sampled_from(("shop", "erp", "wms")), system_kind=st.none(), occurred_at=st.just(T0),
    status=st.just("ok"), error=st.none(), duplicates=st.just(0), out_of_order=st.just(False), lines=lines),
    max_size=8)


@settings(max_examples=1000, deadline=None)
@given(stages=st.sampled_from((ORDER_STAGES, TRANSFER_STAGES, RETURN_STAGES)), timeline=events)
def test_stage_totals_are_the_scans(stages: tuple[tuple[str, str], ...], timeline: list[TxEvent]) -> None:
    assert stage_totals(stages, timeline) == scanned(stages, timeline)
