"""Recording and correlation on the real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hub.correlation.plan import CorrelationSettings
from hub.model import DEFAULT_JUNK_VALUES, Event, Ref
from hub.store import Store
from hub.store.queries import resolve_ref
from hub.store.record import Incoming, record_events
from hub.store.tables import events, exceptions, ref_keys, transactions, tx_aliases

T0 = datetime(2026, 11, 1, 12, 0, 0)
SETTINGS = CorrelationSettings(junk_values=frozenset(DEFAULT_JUNK_VALUES), placeholder_threshold=3)


def ev(source: str, ident: str, type_: str, *refs: tuple[str, str] | tuple[str, str, str], minute: int = 0) -> Event:
    return Event(source=source, source_event_id=ident, type=type_, occurred_at=T0 + timedelta(minutes=minute),
                 refs=[Ref(*r) for r in refs])


async def record(store: Store, *items: Event, delivery: str = "dlv_1") -> None:
    async with store.write() as conn:
        await record_events(store, conn, [Incoming(e, delivery, T0) for e in items], SETTINGS)


async def tx_of(store: Store) -> dict[str, str]:
    async with store.read() as conn:
        return {r.source_event_id: r.tx_id for r in await conn.execute(select(events))}


@pytest.mark.asyncio
async def test_late_link_merges_and_oldest_id_survives(store: Store) -> None:
    await record(store, ev("shop", "a", "order.placed", ("shop:order", "1")))
    await record(store, ev("erp", "b", "erp.posted", ("erp:so", "SO-1")))
    first = await tx_of(store)
    assert first["a"] != first["b"]
    await record(store, ev("erp", "c", "order.accepted", ("erp:so", "SO-1"), ("shop:order", "1")))
    after = await tx_of(store)
    assert after["a"] == after["b"] == after["c"] == min(first["a"], first["b"])
    async with store.read() as conn:
        aliases = {r.alias: r.tx_id for r in await conn.execute(select(tx_aliases))}
        assert aliases == {max(first["a"], first["b"]): after["a"]}
        rows = (await conn.execute(select(transactions))).all()
    assert [(r.id, r.events, r.systems) for r in rows] == [(after["a"], 3, ["erp", "shop"])]


@pytest.mark.asyncio
async def test_related_refs_and_junk_never_merge(store: Store) -> None:
    await record(store, ev("shop", "a", "order.placed", ("shop:order", "1"), ("stripe:payout", "po_1", "related"),
                           ("erp:so", "0")))
    await record(store, ev("shop", "b", "order.placed", ("shop:order", "2"), ("stripe:payout", "po_1", "related"),
                           ("erp:so", "0")))
    txs = await tx_of(store)
    assert txs["a"] != txs["b"]
    async with store.read() as conn:
        keys = {(r.namespace, r.value) for r in await conn.execute(select(ref_keys))}
    assert keys == {("shop:order", "1"), ("shop:order", "2")}


@pytest.mark.asyncio
async def test_duplicate_event_is_counted_not_stored(store: Store) -> None:
    await record(store, ev("shop", "a", "order.placed", ("shop:order", "1")), delivery="dlv_1")
    await record(store, ev("shop", "a", "order.placed", ("shop:order", "1")), delivery="dlv_2")
    async with store.read() as conn:
        rows = (await conn.execute(select(events))).all()
    assert [(r.source_event_id, r.duplicates) for r in rows] == [("a", 1)]


@pytest.mark.asyncio
async def test_placeholder_is_demoted_and_split_with_an_exception(store: Store) -> None:
    for n in range(5):
        await record(store, ev("erp", f"e{n}", "erp.posted", ("erp:so", f"SO-{n}"), ("shop:order", "PENDING")))
    txs = await tx_of(store)
    assert len(set(txs.values())) == 5
    async with store.read() as conn:
        demoted = (await conn.execute(select(ref_keys).where(ref_keys.c.value == "PENDING"))).one()
        exc = (await conn.execute(select(exceptions))).one()
        tx_count = len((await conn.execute(select(transactions))).all())
    assert demoted.demoted and demoted.tx_id is None
    assert exc.rule == "correlation.placeholder" and exc.subject == "shop:order:PENDING" and exc.status == "open"
    assert tx_count == 5


@pytest.mark.asyncio
async def test_out_of_order_event_is_kept_and_flagged(store: Store) -> None:
    await record(store, ev("carrier", "d", "shipment.delivered", ("shop:order", "1"), minute=0),
                 ev("shop", "p", "order.placed", ("shop:order", "1"), minute=30))
    async with store.read() as conn:
        flags = {r.source_event_id: r.out_of_order for r in await conn.execute(select(events))}
    assert flags == {"d": True, "p": False}


@pytest.mark.asyncio
async def test_a_bookmarked_transaction_keeps_its_events_when_a_placeholder_is_found(store: Store) -> None:
    """The batch revealing a placeholder never first merges what it joined: no alias points to a stranger."""
    for n in range(3):
        await record(store, ev("erp", f"e{n}", "erp.posted", ("erp:so", f"SO-{n}"), ("shop:order", "PENDING")))
    await record(store, ev("wms", "w", "shipment.shipped", ("wms:shipment", "SH-9")))
    bookmarked = (await tx_of(store))["w"]
    await record(store, ev("erp", "e3", "erp.posted", ("erp:so", "SO-3"), ("shop:order", "PENDING"),
                           ("wms:shipment", "SH-9")))
    txs = await tx_of(store)
    async with store.read() as conn:
        lookup = await resolve_ref(conn, bookmarked)
    assert lookup.tx_ids == [txs["w"]] == [txs["e3"]]
    assert len({txs[f"e{n}"] for n in range(4)}) == 4


@pytest.mark.asyncio
async def test_a_replayed_event_that_drops_a_link_splits_even_when_its_transaction_merges(store: Store) -> None:
    """e, f, g share a transaction through e's SH-1; replayed, e drops SH-1 and names an older order instead."""
    await record(store, ev("shop", "h", "order.placed", ("shop:order", "1")), delivery="dlv_0")
    await record(store, ev("erp", "e", "erp.posted", ("erp:so", "SO-1"), ("wms:shipment", "SH-1")),
                 ev("wms", "f", "shipment.shipped", ("wms:shipment", "SH-1")),
                 ev("erp", "g", "erp.posted", ("erp:so", "SO-1")), delivery="dlv_1")
    first = await tx_of(store)
    assert first["e"] == first["f"] == first["g"] != first["h"] and first["h"] < first["e"]
    await record(store, ev("erp", "e", "erp.posted", ("erp:so", "SO-1"), ("shop:order", "1")),
                 ev("wms", "f", "shipment.shipped", ("wms:shipment", "SH-1")),
                 ev("erp", "g", "erp.posted", ("erp:so", "SO-1")), delivery="dlv_1")
    after = await tx_of(store)
    assert after["e"] == after["g"] == after["h"] == first["h"] != after["f"]
