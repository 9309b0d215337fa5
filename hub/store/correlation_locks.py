"""Correlation under concurrency (PostgreSQL): hub processes recording events that touch the same keys or the
same transactions take turns, so the partition is the one a single process makes (DESIGN §3).

The choice: pessimistic locks taken at the start of the recording transaction, before anything is read.
1. Per-key advisory locks (``pg_advisory_xact_lock``) on the batch's identity keys and event keys
   ``(source, source_event_id)``, in sorted order: two batches carrying one key (two copies of one event, an
   order's events posted to two processes at once, a new key both would create) are recorded one after the other,
   and the second reads what the first wrote (READ COMMITTED: each statement sees what committed before it).
2. Row locks (``SELECT … FOR UPDATE``, sorted) on the transactions those keys belong to, then the keys are read
   again until every transaction they name is locked: a merge rewrites every row of its loser, including keys the
   batch does not carry, and a placeholder's demotion re-partitions every member of the transaction it had joined,
   so a batch must also own the transactions it reads. A batch that waited for one finds the merged result.
3. The transactions of stored events the batch writes to — a duplicate's count, a replayed event replaced, an
   outdated one removed with its refs (``record._forget`` lowers its old keys' counts) — are locked before those
   rows are written, with the same read-again loop: a merge rewrites its loser's events, so a batch that wrote
   them first waited on the merge while the merge waited on it. Any batch reading those old keys locks the same
   transaction (the keys' ``tx_id``), so it reads their counts before or after the replay, never in between.
Locks are held to the commit. Key locks are all taken before any transaction lock, and no row is written before
the locks of its transaction, so the kinds never wait on each other in a cycle. The rare cycle left, among
transaction locks taken in a later round (a merge moved a key while the batch waited), is broken by PostgreSQL's
deadlock detector: the batch is retried (a transient error: hub.store.faults) and the normalizer logs it as one
warning line (``is_lock_conflict``), not a traceback.

Not optimistic retries: a conflicting batch would redo its whole read-plan-apply, and a busy order's events, which
arrive together, would keep conflicting. Not one global lock: batches of different orders would wait on each
other for nothing.

Lock budget: advisory locks take slots in PostgreSQL's shared lock table (``max_locks_per_transaction`` ×
``max_connections``, 6400 by default). A batch with more than ``MAX_KEY_LOCKS`` keys takes one exclusive lock
instead of its key locks; every other batch holds that lock shared, so the big batch still excludes them all.
SQLite has one writer: it needs none of this.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MAX_KEY_LOCKS", "TransactionLocks", "lock_keys", "lock_stock_positions", "lock_transactions"]

MAX_KEY_LOCKS = 1000
# The first key of the two-key advisory lock "all of this schema's correlation"; the second is the schema's name
# hashed (as the migration lock, hub/store/engine.py). The one-key (bigint) and two-key spaces never overlap.
_ALL_KEYS = 0x43540002
_ALL_STOCK = 0x43540003  # the same for "all of this schema's stock positions"
_LOCK_KEYS = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k")
_SHARED_ALL = text("SELECT pg_advisory_xact_lock_shared(:all, hashtext(current_schema()))")
_EXCLUSIVE_ALL = text("SELECT pg_advisory_xact_lock(:all, hashtext(current_schema()))")
_LOCK_TRANSACTIONS = text("SELECT id FROM transactions WHERE id = ANY(CAST(:ids AS text[])) ORDER BY id FOR UPDATE")


def lock_id(kind: str, namespace: str, value: str) -> int:
    """A stable signed 64-bit advisory lock id for one key (a collision only makes two keys take turns)."""
    digest = hashlib.blake2b(f"{kind}\x1f{namespace}\x1f{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_keys(conn: AsyncConnection, identity: Iterable[tuple[str, str]],
                    events: Iterable[tuple[str, str]]) -> None:
    """Take the batch's key locks (held until the transaction ends): its identity keys and its events' keys."""
    if conn.dialect.name != "postgresql":
        return
    ids = sorted({lock_id("ref", ns, value) for ns, value in identity}
                 | {lock_id("event", source, event_id) for source, event_id in events})
    if not ids:
        return
    if len(ids) > MAX_KEY_LOCKS:
        await conn.execute(_EXCLUSIVE_ALL, {"all": _ALL_KEYS})
        return
    await conn.execute(_SHARED_ALL, {"all": _ALL_KEYS})
    await conn.execute(_LOCK_KEYS, {"keys": ids})  # unnest yields them in the array's (sorted) order


async def lock_stock_positions(conn: AsyncConnection, triples: Iterable[tuple[str, str, str]]) -> None:
    """Take advisory locks on these stock positions (sku, location, source), held until the transaction ends, before
    they are read: two batches moving one position take turns and the second reads what the first wrote (the
    ledger reads a position, adds to it and writes it back). Taken after the batch's key and transaction locks,
    in one global order; a batch of more positions than ``MAX_KEY_LOCKS`` takes one exclusive lock instead, as
    :func:`lock_keys` does. PostgreSQL only (SQLite has one writer)."""
    if conn.dialect.name != "postgresql":
        return
    ids = sorted({lock_id("stock", sku, f"{location}\x1f{source}") for sku, location, source in triples})
    if not ids:
        return
    if len(ids) > MAX_KEY_LOCKS:
        await conn.execute(_EXCLUSIVE_ALL, {"all": _ALL_STOCK})
        return
    await conn.execute(_SHARED_ALL, {"all": _ALL_STOCK})
    await conn.execute(_LOCK_KEYS, {"keys": ids})


async def lock_transactions(conn: AsyncConnection, tx_ids: Iterable[str]) -> None:
    """Lock these transactions' rows in id order before evaluating them (the evaluator's tick and the normalizers
    then take them in one order and never deadlock on each other); PostgreSQL only."""
    wanted = sorted(set(tx_ids))
    if wanted and conn.dialect.name == "postgresql":
        await conn.execute(_LOCK_TRANSACTIONS, {"ids": wanted})


class TransactionLocks:
    """The transactions one recording transaction has locked so far (``FOR UPDATE`` on their summary rows)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._held: set[str] = set()
        self._active = conn.dialect.name == "postgresql"

    async def take(self, tx_ids: Iterable[str]) -> bool:
        """Lock those not yet held, in order; true when some were new (what was read before may have moved)."""
        if not self._active:
            return False
        wanted = sorted(set(tx_ids) - self._held)
        if not wanted:
            return False
        await self._conn.execute(_LOCK_TRANSACTIONS, {"ids": wanted})
        self._held.update(wanted)
        return True
