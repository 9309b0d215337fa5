"""The partition of events into transactions never depends on arrival order (hypothesis, real stores).

The oracle below restates the rule from DESIGN §3 independently of the incremental implementation:
junk values are no refs; an identity ref whose events carry more than `threshold` different values of
another identity namespace is a placeholder and merges nothing; the rest merge by connected components.
An event with no identity ref at all joins no transaction (it is stored unlinked): a part of its own.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub.correlation.plan import CorrelationSettings
from hub.model import DEFAULT_JUNK_VALUES, IDENTITY, RELATED, Event, Ref, is_junk
from hub.store import Store
from hub.store.record import Incoming, record_events
from hub.store.tables import events
from tests.conftest import PG_URL, pg_execute

THRESHOLD = 2
SETTINGS = CorrelationSettings(frozenset(DEFAULT_JUNK_VALUES), THRESHOLD)
T0 = datetime(2026, 11, 1)

ref_values = {
    "shop:order": st.sampled_from(["1", "2", "3", "4", "0", "n/a", "PENDING"]),
    "erp:so": st.sampled_from(["SO-1", "SO-2", "SO-3", "SO-4", "", "null", "PENDING"]),
    "wms:shipment": st.sampled_from(["SH-1", "SH-2", "SH-3", "000", "-"]),
}
a_ref = st.sampled_from(sorted(ref_values)).flatmap(
    lambda ns: st.tuples(st.just(ns), ref_values[ns], st.sampled_from([IDENTITY, IDENTITY, IDENTITY, RELATED])))
event_refs = st.lists(st.lists(a_ref, max_size=3), min_size=1, max_size=14)


def oracle(refsets: list[list[tuple[str, str, str]]], threshold: int = THRESHOLD) -> set[frozenset[int]]:
    ident = [{(ns, v) for ns, v, role in refs if role == IDENTITY and not is_junk(v)} for refs in refsets]
    carriers: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, keys in enumerate(ident):
        for key in keys:
            carriers[key].append(index)
    demoted = set()
    for key, holders in carriers.items():
        spread: dict[str, set[str]] = defaultdict(set)
        for index in holders:
            for ns, v in ident[index]:
                if ns != key[0]:
                    spread[ns].add(v)
        if any(len(values) > threshold for values in spread.values()):
            demoted.add(key)
    parent = list(range(len(refsets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key, holders in carriers.items():
        if key not in demoted:
            for other in holders[1:]:
                parent[find(other)] = find(holders[0])
    groups: dict[int, set[int]] = defaultdict(set)
    for index in range(len(refsets)):
        groups[find(index)].add(index)
    return {frozenset(g) for g in groups.values()}


async def stored_partition(store: Store, refsets: list[list[tuple[str, str, str]]], order: list[int],
                           cuts: list[int]) -> set[frozenset[int]]:
    items = [Incoming(Event(source="s", source_event_id=str(i), type="order.updated",
                            occurred_at=T0 + timedelta(minutes=i), refs=[Ref(*r) for r in refsets[i]]),
                      f"dlv_{i}", T0) for i in order]
    bounds = sorted({0, len(items), *[c % (len(items) + 1) for c in cuts]})
    for start, end in zip(bounds, bounds[1:], strict=False):
        async with store.write() as conn:
            await record_events(store, conn, items[start:end], SETTINGS)
    async with store.read() as conn:
        rows = (await conn.execute(select(events.c.source_event_id, events.c.tx_id))).all()
    unlinked = {int(row.source_event_id) for row in rows if row.tx_id is None}
    assert unlinked == {i for i, refs in enumerate(refsets)
                        if not any(role == IDENTITY and not is_junk(v) for _, v, role in refs)}
    groups: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        groups[row.tx_id or f"unlinked:{row.source_event_id}"].add(int(row.source_event_id))
    return {frozenset(g) for g in groups.values()}


async def run_case(engine: str, refsets, order, cuts) -> set[frozenset[int]]:  # type: ignore[no-untyped-def]
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = await Store.open(f"sqlite+aiosqlite:///{folder}/p.db")
            try:
                return await stored_partition(store, refsets, order, cuts)
            finally:
                await store.close()
    schema = f"p_{uuid.uuid4().hex[:10]}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = await Store.open(PG_URL, search_path=schema)
        try:
            return await stored_partition(store, refsets, order, cuts)
        finally:
            await store.close()
    finally:
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.parametrize("engine, examples", [("sqlite", 60), ("postgres", 12)])
def test_partition_is_independent_of_arrival_order(engine: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(refsets=event_refs, data=st.data())
    def check(refsets: list[list[tuple[str, str, str]]], data: st.DataObject) -> None:
        order = data.draw(st.permutations(range(len(refsets))), label="arrival order")
        cuts = data.draw(st.lists(st.integers(0, 20), max_size=4), label="batch cuts")
        assert asyncio.run(run_case(engine, refsets, order, cuts)) == oracle(refsets)

    check()


def test_oracle_demotes_a_placeholder_shared_by_many_orders() -> None:
    refsets = [[("erp:so", f"SO-{n}", IDENTITY), ("shop:order", "PENDING", IDENTITY)] for n in range(4)]
    assert oracle(refsets) == {frozenset({n}) for n in range(4)}
    assert not is_junk("PENDING")
