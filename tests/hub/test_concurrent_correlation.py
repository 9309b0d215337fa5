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
from sqlalchemy import select

from hub.model import IDENTITY, Event, Ref
from hub.store import Store, correlation_locks, is_transient
from hub.store.record import Incoming, record_events
from hub.store.tables import events
from tests.conftest import PG_URL, pg_execute
from tests.hub.test_partition_properties import SETTINGS, T0, oracle

PROCESSES = 3
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


async def record_retrying(store: Store, batch: list[Incoming]) -> int:
    """Record as the normalizer does: a transient failure (a deadlock PostgreSQL broke) is retried; returns retries."""
    for attempt in range(20):
        try:
            async with store.write() as conn:
                await record_events(store, conn, batch, SETTINGS)
            return attempt
        except Exception as exc:
            if not is_transient(exc):
                raise
            await asyncio.sleep(0.01)
    raise AssertionError("never recorded")


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
