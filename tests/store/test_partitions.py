"""PostgreSQL: deliveries and events partitioned by month on their ids, their dedup keys in key tables, and the
retention duty creating partitions ahead and dropping old ones whole (hub/store/partitions.py, docs/scaling.md §4).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from hub.access.retention import Retention, purge
from hub.correlation.plan import CorrelationSettings
from hub.ids import time_prefix
from hub.model import DEFAULT_JUNK_VALUES, Event, Ref
from hub.store import Store, dedup_keys
from hub.store.inbox import append_deliveries, mark_done
from hub.store.partitions import create_ahead, month_start, next_month, partitions
from hub.store.record import Incoming, record_events
from hub.store.tables import audit_log, deliveries, delivery_keys, event_keys, events, refs
from tests.store.test_contract import reopened

pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)  # SQLite keeps plain tables
SETTINGS = CorrelationSettings(junk_values=frozenset(DEFAULT_JUNK_VALUES), placeholder_threshold=3)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_minted = itertools.count()


def minted(prefix: str, at: datetime) -> str:
    """An id shaped as the hub mints it at ``at`` (naive UTC), without moving hub.ids' clock (it never goes back)."""
    return f"{prefix}_{time_prefix(int(at.replace(tzinfo=UTC).timestamp() * 1000))}{next(_minted):016d}"


def delivery(key: str, at: datetime, source: str = "shop") -> dict[str, Any]:
    return {"id": minted("dlv", at), "source": source, "dedup_key": key, "received_at": at, "headers": {},
            "body": b"{}", "content_type": "application/json"}


async def partition_of(store: Store, table: Any, row_id: str) -> str:
    async with store.read() as conn:
        return (await conn.execute(select(text("tableoid::regclass::text")).select_from(table)
                                   .where(table.c.id == row_id))).scalar_one()


def month_boundary() -> tuple[datetime, datetime]:
    """The last millisecond of this month and the first of the next (both partitions exist from the start)."""
    first_of_next = next_month(month_start(now()))
    return first_of_next - timedelta(milliseconds=1), first_of_next


@pytest.mark.asyncio
async def test_a_lookup_by_id_scans_one_partition(store: Store) -> None:
    for table, prefix in ((deliveries, "dlv"), (events, "evt")):
        async with store.read() as conn:
            plan = "\n".join((await conn.execute(text(f"EXPLAIN SELECT * FROM {table.name} WHERE id = :id"),
                                                 {"id": minted(prefix, now())})).scalars())
            names = [p.name for p in await partitions(conn, table.name)]
        assert len(names) >= 5  # initial (this month), three ahead, default
        assert sum(f" on {name} " in plan for name in names) == 1, plan


@pytest.mark.asyncio
async def test_partitions_are_created_three_months_ahead_and_gap_free(store: Store) -> None:
    later = month_start(now()) + timedelta(days=160)  # the hub ran on without the duty for months
    async with store.write() as conn:
        created = await create_ahead(conn, later)
        assert await create_ahead(conn, later) == []  # nothing missing: nothing created
        parts = {table: await partitions(conn, table) for table in ("deliveries", "events")}
    month = month_start(later)
    wanted = []
    for _ in range(4):
        wanted.append(f"{month:%Y_%m}")
        month = next_month(month)
    for table, found in parts.items():
        timed = [p for p in found if p.ends is not None]
        assert [p.name for p in timed][-4:] == [f"{table}_{m}" for m in wanted]
        assert all(a.upper == b.lower for a, b in zip(timed, timed[1:], strict=False))  # contiguous
        assert timed[0].lower is None and found[-1].name == f"{table}_default" and found[-1].default
        assert {f"{table}_{m}" for m in wanted[1:]} <= set(created)


@pytest.mark.asyncio
async def test_the_retention_duty_creates_partitions_ahead_without_retention(store: Store) -> None:
    later = month_start(now()) + timedelta(days=200)
    await purge(store, Retention(), later)
    async with store.read() as conn:
        names = {p.name for p in await partitions(conn, "deliveries")}
    assert f"deliveries_{next_month(next_month(next_month(month_start(later)))):%Y_%m}" in names


@pytest.mark.asyncio
async def test_the_same_webhook_sent_again_across_a_month_boundary_is_stored_once(store: Store) -> None:
    before, after = month_boundary()
    first, again = delivery("k1", before), delivery("k1", after)
    assert await append_deliveries(store, [first]) == {("shop", "k1"): first["id"]}
    assert await append_deliveries(store, [again]) == {("shop", "k1"): first["id"]}
    async with store.read() as conn:
        stored = (await conn.execute(select(deliveries.c.id, deliveries.c.repeats))).all()
        keys = (await conn.execute(select(delivery_keys))).all()
    assert [(row.id, row.repeats) for row in stored] == [(first["id"], 1)]
    assert [(row.source, row.dedup_key, row.delivery_id) for row in keys] == [("shop", "k1", first["id"])]
    assert await partition_of(store, deliveries, first["id"]) == "deliveries_initial"  # the two ids: two months
    async with store.write() as conn:
        await conn.execute(deliveries.insert().values({**again, "headers": {}}))  # the month the retry would go to
    assert await partition_of(store, deliveries, again["id"]) == f"deliveries_{after:%Y_%m}"


@pytest.mark.asyncio
async def test_two_processes_appending_the_same_keys_at_once_store_each_once(store: Store) -> None:
    other = await reopened(store)  # a second engine: its own connections, as a second process has
    try:
        keys = [f"k{n}" for n in range(40)]
        results = await asyncio.gather(*(append_deliveries(s, [delivery(key, now())]) for key in keys
                                         for s in (store, other)))
    finally:
        await other.close()
    async with store.read() as conn:
        stored = dict((await conn.execute(select(deliveries.c.dedup_key, deliveries.c.id))).all())
    assert sorted(stored) == sorted(keys)
    for result in results:  # both processes answer with the one stored id
        (key, delivery_id), = result.items()
        assert stored[key[1]] == delivery_id


def event(ident: str, order: str) -> Event:
    return Event(source="shop", source_event_id=ident, type="order.placed", occurred_at=now(),
                 refs=[Ref("shop:order", order)])


async def record(store: Store, item: Event, delivery_id: str, received_at: datetime) -> Any:
    async with store.write() as conn:
        return await record_events(store, conn, [Incoming(item, delivery_id, received_at)], SETTINGS)


@pytest.mark.asyncio
async def test_the_same_event_recorded_again_in_the_next_month_is_stored_once(store: Store,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = month_boundary()
    first = await record(store, event("e1", "1"), "dlv_a", before)
    monkeypatch.setattr("hub.store.record.new_id", lambda prefix: minted(prefix, after))  # minted next month
    again = await record(store, event("e1", "1"), "dlv_b", after)
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    async with store.read() as conn:
        stored = (await conn.execute(select(events.c.id, events.c.duplicates))).all()
        keys = (await conn.execute(select(event_keys.c.source_event_id, event_keys.c.event_id))).all()
    assert [row.duplicates for row in stored] == [1] and keys == [("e1", stored[0].id)]
    with pytest.raises(Exception, match="event_keys_pkey"):  # the key table refuses a second row of the key
        async with store.write() as conn:
            await dedup_keys.add_events(conn, [{"id": minted("evt", after), "source": "shop",
                                                "source_event_id": "e1"}])


@pytest.mark.asyncio
async def test_retention_drops_old_partitions_whole_and_dead_letters_their_pending(store: Store) -> None:
    this_month = month_start(now())
    kept_at = next_month(next_month(next_month(this_month))) + timedelta(days=1)  # in the last month ahead
    clock = kept_at + timedelta(days=10)  # 30-day window: this month and the next are older than every window
    old_done, old_pending = delivery("old-done", now()), delivery("old-pending", now())
    kept = delivery("kept", kept_at)
    kept["received_at"] = clock - timedelta(days=1)
    await append_deliveries(store, [old_done, old_pending, kept])
    await record(store, event("e-old", "1"), old_done["id"], old_done["received_at"])
    async with store.write() as conn:
        await mark_done(conn, [old_done["id"]], now())

    report = await purge(store, Retention(default_days=30), clock)

    assert report.partitions == ("events_initial", f"events_{next_month(this_month):%Y_%m}",
                                 "deliveries_initial", f"deliveries_{next_month(this_month):%Y_%m}")
    assert (report.dead_lettered, report.deliveries, report.events) == (1, 2, 1)
    async with store.read() as conn:
        assert list((await conn.execute(select(deliveries.c.id))).scalars()) == [kept["id"]]
        assert list((await conn.execute(select(delivery_keys.c.dedup_key))).scalars()) == ["kept"]
        assert (await conn.execute(select(events))).all() == []
        assert (await conn.execute(select(event_keys))).all() == [] and (await conn.execute(select(refs))).all() == []
        names = {p.name for p in await partitions(conn, "deliveries")}
        detail = (await conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "purge"))).scalar_one()
    assert "deliveries_initial" not in names
    assert f"deliveries_{next_month(next_month(next_month(month_start(clock)))):%Y_%m}" in names  # ahead of it
    assert json.loads(detail)["dead_lettered"] == 1 and json.loads(detail)["partitions"] == list(report.partitions)
    resent = delivery("old-done", clock)  # its key went with it: sent again, it is a new delivery
    assert await append_deliveries(store, [resent]) == {("shop", "old-done"): resent["id"]}


@pytest.mark.asyncio
async def test_a_month_holding_a_row_received_within_the_window_is_not_dropped(store: Store) -> None:
    """Ids are minted on the wall clock, ``received_at`` on the hub's (a test's or a demo's may run ahead): a month
    is dropped only when both say its rows are older than every window; the DELETE takes the old rows in it."""
    clock = next_month(next_month(next_month(month_start(now())))) + timedelta(days=11)
    recent, old = delivery("recent", now()), delivery("old", now())
    recent["received_at"] = clock - timedelta(days=1)
    await append_deliveries(store, [recent, old])
    async with store.write() as conn:
        await mark_done(conn, [old["id"]], now())

    report = await purge(store, Retention(default_days=30), clock)

    assert "deliveries_initial" not in report.partitions and report.deliveries == 1
    async with store.read() as conn:
        assert list((await conn.execute(select(deliveries.c.id))).scalars()) == [recent["id"]]
        assert list((await conn.execute(select(delivery_keys.c.dedup_key))).scalars()) == ["recent"]


async def explain_by_id(store: Store, table: str, row_id: str) -> str:
    async with store.read() as conn:
        return "\n".join((await conn.execute(text(f"EXPLAIN SELECT * FROM {table} WHERE id = :id"),
                                             {"id": row_id})).scalars())


@pytest.mark.asyncio
async def test_an_id_beyond_every_month_and_a_hand_made_one_are_stored_in_the_default_partition(store: Store) -> None:
    rows = [delivery("beyond", now()), delivery("hand-made", now())]
    rows[0]["id"], rows[1]["id"] = "dlv_0200", "dlv_test"  # after the last month; not time-shaped
    beyond = delivery("minted-later", month_start(now()) + timedelta(days=200))  # the duty has not run since
    assert await append_deliveries(store, [*rows, beyond]) == {("shop", row["dedup_key"]): row["id"]
                                                                 for row in [*rows, beyond]}
    async with store.write() as conn:
        await conn.execute(events.insert().values(id="evt_0200", source="shop", source_event_id="e-hand",
                                                  type="order.placed", occurred_at=now(), received_at=now(),
                                                  delivery_id="dlv_test"))
    for row in [*rows, beyond]:
        assert await partition_of(store, deliveries, row["id"]) == "deliveries_default"
    assert await partition_of(store, events, "evt_0200") == "events_default"


@pytest.mark.asyncio
async def test_a_month_created_beside_rows_in_the_default_partition_takes_them(store: Store) -> None:
    """Rows minted while the duty was down sit in the default; the duty creating their month moves them into it."""
    later = month_start(now()) + timedelta(days=200)
    early, late = delivery("early", later), delivery("late", later + timedelta(days=40))
    odd = delivery("odd", now())
    odd["id"] = "dlv_0200"
    await append_deliveries(store, [early, late, odd])
    evt_id = minted("evt", later)
    async with store.write() as conn:
        await conn.execute(events.insert().values(id=evt_id, source="shop", source_event_id="e-later",
                                                  type="order.placed", occurred_at=now(), received_at=now(),
                                                  delivery_id=early["id"]))
    assert await partition_of(store, deliveries, early["id"]) == "deliveries_default"

    async with store.write() as conn:
        created = await create_ahead(conn, later)
    assert f"deliveries_{later:%Y_%m}" in created and f"events_{later:%Y_%m}" in created
    assert await partition_of(store, deliveries, early["id"]) == f"deliveries_{later:%Y_%m}"
    assert await partition_of(store, events, evt_id) == f"events_{later:%Y_%m}"
    assert await partition_of(store, deliveries, late["id"]) == f"deliveries_{next_month(later):%Y_%m}"
    assert await partition_of(store, deliveries, "dlv_0200") == "deliveries_default"  # beyond every month still
    async with store.read() as conn:
        stored = sorted((await conn.execute(select(deliveries.c.id))).scalars())
        assert (await conn.execute(select(events.c.id))).scalars().all() == [evt_id]
    assert stored == sorted([early["id"], late["id"], "dlv_0200"])  # each exactly once
    plan = await explain_by_id(store, "deliveries", early["id"])
    assert f" on deliveries_{later:%Y_%m} " in plan and "deliveries_default" not in plan, plan
    resent = delivery("early", later)  # its key still points at it: a repeat, not a new row
    assert await append_deliveries(store, [resent]) == {("shop", "early"): early["id"]}


@pytest.mark.asyncio
async def test_two_processes_creating_the_same_months_beside_the_default_both_succeed(store: Store) -> None:
    """The second waits on the first's locks, then reads the catalog again and finds the months created."""
    later = month_start(now()) + timedelta(days=200)
    waiting = delivery("waiting", later)
    await append_deliveries(store, [waiting])
    other = await reopened(store)

    async def create(s: Store) -> list[str]:
        async with s.write() as conn:
            return await create_ahead(conn, later)

    try:
        results = await asyncio.gather(create(store), create(other))
    finally:
        await other.close()
    assert sorted(results[0] + results[1]) == sorted(set(results[0] + results[1]))  # each month created once
    assert f"deliveries_{later:%Y_%m}" in results[0] + results[1]
    assert await partition_of(store, deliveries, waiting["id"]) == f"deliveries_{later:%Y_%m}"
