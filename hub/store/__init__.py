"""The store: one contract over SQLite and PostgreSQL, and the only package that speaks SQL.

Nothing outside ``hub/store/`` imports SQLAlchemy, a driver or the tables (``tests/test_layering.py``): the hub
calls the functions below with plain values and gets plain rows or dataclasses back; it holds a
:data:`Connection` only to hand it to them. ``tests/store/test_contract.py`` checks each promise on both stores.

Writes: every write goes through :meth:`Store.write`, which serialises writers (never two writers on one SQLite
file — DESIGN §6) and returns only after the transaction is committed, i.e. durable (``synchronous=FULL`` on
SQLite, fsync'd WAL on PostgreSQL). Reads (:meth:`Store.read`) run concurrently. Urgent writers (the inbox, whose
senders wait for their 2xx) go before background ones (normalizer, evaluator), which are still served at least
once every few urgent turns so they never starve.

The contract (stated as Jaeger's span store states its reader and writer):

1. **Append deliveries** — :func:`hub.store.inbox.append_deliveries`: the deliveries are committed (durable)
   before it returns, each ``(source, dedup_key)`` stored once; a repeat answers with the stored id and is
   counted on it. (A poller appends with :func:`hub.store.inbox.insert_new` in the transaction that moves its
   cursor.) On PostgreSQL ``deliveries`` and ``events`` are partitioned by month and the keys are rows of
   ``delivery_keys`` / ``event_keys`` written before them (:mod:`hub.store.dedup_keys`, :mod:`hub.store.partitions`).
2. **Take pending work** — :func:`hub.store.inbox.take_pending`: pending deliveries (``Pending``: the raw
   :class:`~hub.model.Delivery` and its attempts), oldest first, bounded in number and body bytes; never a done
   or dead one. A delivery stays pending, and is taken again, until the transaction that records its output
   marks it :func:`~hub.store.inbox.mark_done` or :func:`~hub.store.inbox.mark_dead`. Several workers on one
   PostgreSQL claim theirs instead (:mod:`hub.store.claims`, then :func:`~hub.store.inbox.pending_deliveries`).
   :func:`~hub.store.inbox.requeue` puts deliveries back (replay).
3. **Record a normalized batch** — :func:`hub.store.record.record_events`, inside the caller's write
   transaction: events, refs, transactions (correlation planned by :mod:`hub.correlation.plan`); idempotent —
   an event already stored under ``(source, source_event_id)`` is counted as a duplicate, never stored twice, and
   recording a delivery's batch again leaves the same rows. Exception changes go through
   :mod:`hub.store.exception_rows` and their counters (:mod:`hub.store.exception_counts`), stock positions
   through :mod:`hub.store.stock`, in the same transaction.
4. **get_trace(ref) -> Trace** — :func:`hub.store.trace.get_trace`: one transaction end to end (events, refs,
   related transactions, exceptions and their history) for any ref that links to it, its id or a merged-away
   id; :func:`~hub.store.trace.get_traces` for many. GraphQL and the web page both render this object. It reads on
   the driver (:mod:`hub.store.driver`: one thread hop on SQLite, asyncpg prepared statements on PostgreSQL).
5. **Finders with one keyset pager** — :func:`hub.store.paging.keyset_page` pages a finder's filtered select
   (:func:`hub.store.queries.transaction_query`, :func:`~hub.store.queries.delivery_query`,
   :func:`hub.store.exception_pages.queue_page`, :func:`hub.store.divergences.list_divergences`, …) in a key
   order ending in a unique id: rows inserted between pages never make it skip or repeat one; a list with several
   orders names the order in its cursors; :func:`~hub.store.paging.capped_count` counts up to a cap.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import BindParameter, ColumnElement, Table, Text, and_, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hub.store import caller_writes, exception_counts, inbox_file
from hub.store.engine import migrate, open_engine, open_replica
from hub.store.faults import describe, is_lock_conflict, is_transient, refuses_data
from hub.store.replica import Freshness, current_caller

__all__ = ["Connection", "Store", "WriterStats", "TEXTS", "describe", "is_lock_conflict", "is_transient",
           "pair_params", "pairs_in", "pairs_match", "refuses_data", "savepoint"]

log = logging.getLogger(__name__)

Connection = AsyncConnection
"""What ``Store.read()``/``Store.write()`` hand out: hub modules pass it to store functions, never run SQL on it."""

_URGENT, _BACKGROUND = 0, 1


class _WriterLock:
    """A mutex whose urgent waiters are served before background ones (at most ``fairness`` in a row)."""

    def __init__(self, fairness: int = 4) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._sequence = 0
        self._urgent_in_row = 0
        self._fairness = fairness

    async def acquire(self, urgent: bool) -> None:
        if not self._held and not self._waiters:
            self._held = True
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sequence += 1
        heapq.heappush(self._waiters, (_URGENT if urgent else _BACKGROUND, self._sequence, granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # granted, then cancelled before running: pass it on
                self.release()
            raise

    def release(self) -> None:
        live = [w for w in self._waiters if not w[2].done()]
        if len(live) != len(self._waiters):
            heapq.heapify(live)
            self._waiters = live
        if not self._waiters:
            self._held = False
            self._urgent_in_row = 0
            return
        if self._urgent_in_row >= self._fairness and any(w[0] == _BACKGROUND for w in self._waiters):
            chosen = min((w for w in self._waiters if w[0] == _BACKGROUND), key=lambda w: w[1])
            self._waiters.remove(chosen)
            heapq.heapify(self._waiters)
        else:
            chosen = heapq.heappop(self._waiters)
        self._urgent_in_row = self._urgent_in_row + 1 if chosen[0] == _URGENT else 0
        chosen[2].set_result(None)  # the lock stays held: ownership passes to the chosen waiter


class WriterStats:
    """Write transactions per kind of writer, with the seconds spent waiting for the writer and holding it.

    Where ingest time goes: an urgent (inbox) writer that waits long is waiting behind background batches.
    """

    __slots__ = ("transactions", "wait_seconds", "hold_seconds")

    def __init__(self) -> None:
        self.transactions = 0
        self.wait_seconds = 0.0
        self.hold_seconds = 0.0

    def add(self, wait_seconds: float, hold_seconds: float) -> None:
        self.transactions += 1
        self.wait_seconds += wait_seconds
        self.hold_seconds += hold_seconds


class Store:
    """An engine plus the single-writer discipline; ``await Store.open(url)`` migrates before use.

    ``read_engine``: a replica for callers' reads (:meth:`read`); ``fresh_seconds``: how long after a caller's
    own write its reads stay on the primary.
    """

    def __init__(self, engine: AsyncEngine, read_engine: AsyncEngine | None = None,
                 fresh_seconds: float = 10.0) -> None:
        self.engine = engine
        self.read_engine = read_engine
        self.freshness = Freshness(fresh_seconds)
        self.reads = {"primary": 0, "replica": 0}  # read connections by where they went (/metrics)
        self.dialect = engine.dialect.name
        self.inbox_log_path = inbox_file.log_path(engine.url.render_as_string(hide_password=False))
        """SQLite: the inbox's own file (hub/store/inbox_log.py), which the receiver appends to; None: no log."""
        self.moves_inbox_log = False
        """This process moves the inbox log into ``deliveries`` (it runs the normalizer): its reads of delivery
        state move what waits first (:func:`hub.store.inbox_log.caught_up`)."""
        self._write_lock = _WriterLock()
        # claims: PostgreSQL workers taking pending deliveries (hub/store/claims.py), short and apart from the rest
        self.writer_stats = {"inbox": WriterStats(), "background": WriterStats(), "claims": WriterStats()}

    @classmethod
    async def open(cls, url: str, search_path: str | None = None, read_url: str | None = None,
                   fresh_seconds: float = 10.0) -> Store:
        """Open and migrate the primary at ``url``; ``read_url`` (PostgreSQL only) is its replica, never migrated:
        it receives the schema by replication."""
        engine = open_engine(url, search_path)
        read_engine = open_replica(url, read_url, search_path) if read_url else None
        await migrate(engine)
        return cls(engine, read_engine, fresh_seconds)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()

    @asynccontextmanager
    async def write(self, urgent: bool = False, writer: str | None = None) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed (durably) when the block exits, rolled back on error.

        ``urgent``: someone is waiting for this commit (a webhook sender); it goes before background writers.
        ``writer``: the ``writer_stats`` it counts under (default ``inbox`` when urgent, else ``background``).
        """
        asked = time.perf_counter()
        await self._write_lock.acquire(urgent)
        granted = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                caller = self.freshness.wrote()  # the caller's next reads see this write (primary for a while)
                exception_counts.defer(conn)
                try:
                    yield conn
                    await exception_counts.flush(conn)
                    await self._mark_caller(conn, caller)
                finally:
                    exception_counts.discard(conn)
        finally:
            self._write_lock.release()
            self.writer_stats[writer or ("inbox" if urgent else "background")].add(granted - asked,
                                                                                   time.perf_counter() - granted)

    @asynccontextmanager
    async def append(self) -> AsyncIterator[AsyncConnection]:
        """The inbox's write transaction, whose commit senders wait for (counted under ``inbox``).

        SQLite: the urgent writer turn (one writer per file). PostgreSQL: a transaction of its own, beside the
        process's other writers and other appends: the database orders concurrent inserts of one key (the second
        waits for the first to commit, then skips it), so a group commit never waits for a normalizer batch, and
        groups committed side by side share PostgreSQL's WAL flushes.
        """
        if self.dialect != "postgresql":
            async with self.write(urgent=True) as conn:
                yield conn
            return
        started = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                caller = self.freshness.wrote()
                yield conn
                await self._mark_caller(conn, caller)
        finally:
            self.writer_stats["inbox"].add(0.0, time.perf_counter() - started)

    async def _mark_caller(self, conn: AsyncConnection, caller: str | None) -> None:
        """The caller's next reads see this write (primary for a while) on every process: committed with it."""
        if caller is not None and self.read_engine is not None:
            await caller_writes.mark(conn, caller, forget_older_than=self._forget_marks())

    @asynccontextmanager
    async def read(self, primary: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read-only use of a connection: on the replica when one is configured and the read is made for a
        caller who has not written lately (:mod:`hub.store.replica`), else on the primary. ``primary``: always
        the primary (checks that must see the newest state: sessions, health)."""
        target = "primary" if primary or not await self.on_replica() else "replica"
        self.reads[target] += 1
        async with (self.engine if target == "primary" else self.read_engine).connect() as conn:  # type: ignore[union-attr]
            yield conn

    async def on_replica(self) -> bool:
        """Would a read now go to the replica: made for a caller who wrote on no process lately (the primary's
        ``caller_writes`` is asked once per request when nothing has told yet)."""
        if self.read_engine is None:
            return False
        allowed = self.freshness.replica()
        if allowed is None:
            caller = current_caller()
            assert caller is not None  # replica() answers False for nobody's read
            try:
                async with self.engine.connect() as conn:
                    wrote = await caller_writes.wrote_lately(conn, caller, self.freshness.seconds)
            except (SQLAlchemyError, OSError) as exc:  # the primary does not answer: the replica still may
                log.warning("read-your-writes: the primary's caller_writes did not answer (%s); reading the replica",
                            describe(exc))
                wrote = False
            self.freshness.learned(wrote)
            allowed = not wrote
        return allowed

    async def wrote_elsewhere(self) -> None:
        """The current caller's write was committed by another task (``/ingest``: the inbox's): mark the caller as
        :meth:`write` marks its own, here and on the primary. A mark that cannot be written is logged."""
        caller = self.freshness.wrote()
        if caller is None or self.read_engine is None:
            return
        try:
            async with self.engine.begin() as conn:
                await caller_writes.mark(conn, caller, forget_older_than=self._forget_marks())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("read-your-writes: the caller's write could not be marked on the primary: %s", describe(exc))

    def _forget_marks(self) -> float | None:
        """How old a ``caller_writes`` mark must be to be deleted along with this mark (None: not this time)."""
        return self.freshness.seconds if self.freshness.forget_due() else None

    def upsert(self, table: Table):  # type: ignore[no-untyped-def]
        """The dialect's ``INSERT`` construct, which has ``on_conflict_do_nothing/update`` and ``excluded``."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def insert_ignoring_conflicts(self, table: Table):  # type: ignore[no-untyped-def]
        """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect."""
        return self.upsert(table).on_conflict_do_nothing()


def savepoint(conn: Connection) -> AsyncTransaction:
    """A nested transaction (SAVEPOINT) in a write: ``async with savepoint(conn):`` what fails inside rolls back
    alone, and the write goes on."""
    return conn.begin_nested()


TEXTS = postgresql.ARRAY(Text)
"""A PostgreSQL ``text[]`` parameter: not ``varchar(n)[]``, whose cast would cut a longer value to a false match."""


def pairs_in(first: ColumnElement, second: ColumnElement, pairs: list[tuple[str, str]],
             dialect: str) -> ColumnElement[bool]:
    """``(first, second) IN pairs`` in a form the ``dialect``'s database answers from a two-column index.

    SQLite scans the whole table for a bare row-value ``IN`` (seen in EXPLAIN QUERY PLAN: ``SCAN ref_keys``);
    a plain ``IN`` on each column first lets it search the index, and the row-value test keeps it exact.
    PostgreSQL: see :func:`pairs_match`.
    """
    if dialect == "postgresql":
        firsts, seconds = pair_params(pairs)
        return pairs_match(first, second, bindparam(None, firsts, type_=TEXTS, unique=True),
                           bindparam(None, seconds, type_=TEXTS, unique=True))
    return and_(first.in_(sorted({a for a, _ in pairs})), second.in_(sorted({b for _, b in pairs})),
                tuple_(first, second).in_(pairs))


def pairs_match(first: ColumnElement, second: ColumnElement, firsts: BindParameter,
                seconds: BindParameter) -> ColumnElement[bool]:
    """PostgreSQL: ``(first, second) IN (SELECT * FROM unnest(firsts, seconds))``, two array parameters.

    The planner probes the two-column index once per wanted pair (a semi-join), so a lookup reads what it
    asks for however much is stored. ``first IN (…) AND second IN (…)`` let it search by one column and
    filter the other: on PostgreSQL each chunk then read every stored row of those namespaces (issue 14).
    One statement text whatever the number of pairs, so asyncpg's prepared statement is reused.
    """
    wanted = func.unnest(firsts, seconds).table_valued("a", "b").render_derived()
    return tuple_(first, second).in_(select(wanted.c.a, wanted.c.b))


def pair_params(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The two arrays :func:`pairs_match` takes, distinct pairs only."""
    distinct = sorted(set(pairs))
    return [a for a, _ in distinct], [b for _, b in distinct]
