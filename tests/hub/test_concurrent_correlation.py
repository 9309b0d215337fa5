"""Several hub processes recording at once on one PostgreSQL end in the partition one process makes (issue 15 item 3).

Each "process" is a Store of its own (its own engine and connections) on one schema; they record interleaved slices
of the same events at the same moment: events of one order split across them, late links arriving on one while
another merges, copies of one event on two, placeholders demoted while others still join through them.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.correlation.plan import CorrelationSettings
from hub.model import IDENTITY, Event, Ref
from hub.store import Store, correlation_locks, is_transient
from hub.store.record import Incoming, record_events
from hub.store.tables import events, ref_keys
from tests.conftest import PG_URL, pg_execute
from tests.hub.test_partition_properties import SETTINGS, T0, oracle

PROCESSES = 3
# No key ever holds this many values of another namespace here: no placeholder, whose demotion is for good, makes
# the partition depend on the order of replays and links (one process would not agree with itself either).
NO_PLACEHOLDERS = CorrelationSettings(SETTINGS.junk_values, 1000)
_VALUES = {"shop:order": ["1", "2", "3", "4", "5", "PENDING"], "erp:so": ["SO-1", "SO-2", "SO-3", "SO-4", "PENDING"],
           "wms:shipment": ["SH-1", "SH-2", "SH-3"]}


def refsets_for(seed: int, count: int) -> list[list[tuple[str, str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        chosen = rng.sample(sorted(_VALUES), rng.randint(1, 3))
        out.append([(ns, rng.choice(_VALUES[ns]), IDENTITY) for ns in chosen])
    return out


def incoming(refsets: list[list[tuple[str, str, str]]], index: int, copy: int = 0) -> Incoming:
    return Incoming(Event(source="s", source_event_id=str(index), type="order.updated",
                          occurred_at=T0 + timedelta(minutes=index), refs=[Ref(*r) for r in refsets[index]]),
                    f"dlv_{index}_{copy}", T0)


async def record_retrying(store: Store, batch: list[Incoming], whole: list[str] | None = None,
                          settings: CorrelationSettings = SETTINGS) -> int:
    """Record as the normalizer does: a transient failure (a deadlock PostgreSQL broke) is retried; returns retries.
    ``whole``: deliveries whose every event is in the batch (a replay's)."""
    for attempt in range(20):
        try:
            async with store.write() as conn:
                await record_events(store, conn, batch, settings, whole=whole or ())
            return attempt
        except Exception as exc:
            if not is_transient(exc):
                raise
            await asyncio.sleep(0.01)
    raise AssertionError("never recorded")


async def key_counts(store: Store) -> dict[tuple[str, str], tuple[int, bool]]:
    """Each identity key's count of events carrying it and whether it was demoted (a placeholder)."""
    async with store.read() as conn:
        rows = (await conn.execute(select(ref_keys.c.namespace, ref_keys.c.value, ref_keys.c.events,
                                          ref_keys.c.demoted))).all()
    return {(row.namespace, row.value): (row.events, row.demoted) for row in rows}


async def partition(store: Store) -> set[frozenset[int]]:
    async with store.read() as conn:
        rows = (await conn.execute(select(events.c.source_event_id, events.c.tx_id))).all()
    groups: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        groups[row.tx_id or f"unlinked:{row.source_event_id}"].add(int(row.source_event_id))
    assert sum(len(g) for g in groups.values()) == len(rows)  # each event stored once
    return {frozenset(g) for g in groups.values()}


@pytest.mark.asyncio
@pytest.mark.parametrize("seed, max_key_locks", [(1, 1000), (2, 1000), (3, 1000), (4, 1000), (5, 4), (6, 4)])
async def test_processes_recording_at_once_make_the_single_process_partition(
        seed: int, max_key_locks: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``max_key_locks`` 4, batches of more keys take the one exclusive lock, the others hold it shared."""
    monkeypatch.setattr(correlation_locks, "MAX_KEY_LOCKS", max_key_locks)
    refsets = refsets_for(seed, 40)
    rng = random.Random(seed)
    order = list(range(len(refsets)))
    rng.shuffle(order)
    # Every event once, in batches of 1 to 4, dealt to the processes; a few events also sent again to another one.
    slices: list[list[list[Incoming]]] = [[] for _ in range(PROCESSES)]
    position = 0
    while position < len(order):
        size = rng.randint(1, 4)
        batch = [incoming(refsets, i) for i in order[position:position + size]]
        slices[rng.randrange(PROCESSES)].append(batch)
        position += size
    for index in rng.sample(order, 6):
        slices[rng.randrange(PROCESSES)].append([incoming(refsets, index, copy=1)])
    schema = f"cc_{uuid.uuid4().hex[:10]}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    stores = []
    try:
        stores = [await Store.open(PG_URL, search_path=schema) for _ in range(PROCESSES)]

        async def run(store: Store, batches: list[list[Incoming]]) -> int:
            return sum([await record_retrying(store, batch) for batch in batches])

        await asyncio.gather(*(run(store, part) for store, part in zip(stores, slices, strict=True)))
        assert await partition(stores[0]) == oracle(refsets)
    finally:
        for store in stores:
            await store.close()
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


async def record_all(store: Store, batches: list[tuple[list[Incoming], list[str]]],
                     settings: CorrelationSettings = NO_PLACEHOLDERS) -> int:
    """Record each (batch, whole deliveries) in order, retrying as the normalizer does; the retries."""
    return sum([await record_retrying(store, batch, whole, settings) for batch, whole in batches])


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15, 16])
async def test_replays_concurrent_with_merges_make_the_single_process_partition(seed: int) -> None:
    """Deliveries replayed (their events re-derived with other refs: the old refs' counts go down, the old links
    are undone) on some processes while late links on others merge the transactions they touch: the same partition
    as one process recording the same steps one after another, which is the partition of the final refs, and the
    same count of events per key."""
    rng = random.Random(seed)
    before, after = refsets_for(seed, 30), refsets_for(seed + 1000, 30)
    replayed = rng.sample(range(30), 10)
    final = [after[i] if i in replayed else before[i] for i in range(30)]
    links = refsets_for(seed + 2000, 10)  # late events 30..39: links between the orders above
    final += links
    first = [([incoming(before, i)], []) for i in range(30)]
    steps: list[tuple[list[Incoming], list[str]]] = []
    for start in range(0, len(replayed), 2):
        chunk = replayed[start:start + 2]
        # each event derived again from its own delivery (a replay after a mapping fix): new refs, same ids
        steps.append(([incoming(final, i) for i in chunk], [f"dlv_{i}_0" for i in chunk]))
    steps += [([incoming(final, 30 + n)], []) for n in range(len(links))]
    rng.shuffle(steps)
    schemas = [f"cc_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    for schema in schemas:
        await pg_execute(f'CREATE SCHEMA "{schema}"')
    stores: list[Store] = []
    try:
        single = await Store.open(PG_URL, search_path=schemas[0])
        stores.append(single)
        await record_all(single, first + steps)
        expected = await partition(single)

        stores += [await Store.open(PG_URL, search_path=schemas[1]) for _ in range(PROCESSES)]
        await record_all(stores[1], first)
        dealt: list[list[tuple[list[Incoming], list[str]]]] = [[] for _ in range(PROCESSES)]
        for step in steps:
            dealt[rng.randrange(PROCESSES)].append(step)
        await asyncio.gather(*(record_all(store, part) for store, part in zip(stores[1:], dealt, strict=True)))
        assert await partition(stores[1]) == expected
        assert await key_counts(stores[1]) == await key_counts(single)
        assert expected == oracle(final, threshold=NO_PLACEHOLDERS.placeholder_threshold)
    finally:
        for store in stores:
            await store.close()
        for schema in schemas:
            await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.asyncio
async def test_a_replay_waits_for_a_merge_of_its_transaction_before_writing_its_events() -> None:
    """A merge holds a transaction's row and rewrites its events; a replay of one of them waits for the row before it
    touches the event (it did after: each then waited on the other, and PostgreSQL broke the deadlock)."""
    refsets = [[("erp:so", "SO-1", IDENTITY)], [("erp:so", "SO-1", IDENTITY), ("shop:order", "9", IDENTITY)]]
    schema = f"cc_{uuid.uuid4().hex[:10]}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    store = await Store.open(PG_URL, search_path=schema)
    merge = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        await record_retrying(store, [incoming(refsets, 0)])
        async with merge.connect() as conn:
            event_id, tx_id = (await conn.execute(text("SELECT id, tx_id FROM events"))).one()
            await conn.commit()
            await conn.execute(text("SELECT id FROM transactions WHERE id = :id FOR UPDATE"), {"id": tx_id})
            again = incoming(refsets[1:], 0)  # event 0 derived again from its delivery, with one more ref
            replay = asyncio.create_task(record_retrying(store, [again], whole=[again.delivery_id]))
            while not (await conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))).scalar():
                assert not replay.done(), replay
                await asyncio.sleep(0.05)
            await conn.execute(text("UPDATE events SET tx_id = :tx WHERE id = :id"), {"tx": tx_id, "id": event_id})
            await conn.commit()
        assert await replay == 0  # recorded at the first attempt: no deadlock to retry
        assert await partition(store) == {frozenset({0})}
    finally:
        await merge.dispose()
        await store.close()
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')
