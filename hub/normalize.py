"""The normalizer: turns pending inbox deliveries into recorded events, or dead letters; and replay.

Promise: a delivery is marked ``done`` in the same transaction that records its events, so a crash
at any point leaves it ``pending`` and it is simply processed again (events dedup on
``(source, source_event_id)``). A delivery that cannot be parsed becomes ``dead`` with the reason and
a dead-letter exception; :func:`replay` puts deliveries back to ``pending`` after a fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from hub.config import Config
from hub.correlate import CorrelationSettings
from hub.evaluate import Evaluator
from hub.exceptions import Changes, Finding, clear_exception, raise_exception
from hub.model import Delivery, Event, utcnow
from hub.periodic import cancel_and_wait
from hub.stock_ledger import StockLedger
from hub.store import Store
from hub.store.record import Incoming, Recorded, record_events
from hub.store.tables import deliveries
from hub.telemetry import Metrics, tracer
from hub.values import RefusedValue, check_events, safe_text

log = logging.getLogger(__name__)

Parser = Callable[[Delivery], list[Event]]
"""Turns one delivery into events; raises any exception to dead-letter it (the message is kept)."""


class Normalizer:
    """Background worker over the inbox. ``wake()`` after new deliveries; ``run_until_idle()`` for tests/CLI."""

    def __init__(self, store: Store, parse: Parser, config: Config, metrics: Metrics, *,
                 evaluator: Evaluator | None = None, batch_size: int = 256, idle_poll_seconds: float = 1.0,
                 gather_seconds: float = 0.02, senders_waiting: Callable[[], bool] | None = None,
                 burst_batch_size: int = 64, max_events_per_transaction: int = 500) -> None:
        self._store = store
        self._parse = parse
        self._settings = CorrelationSettings(config.junk_values, config.placeholder_threshold)
        self._source_kinds = {name: source.kind for name, source in config.sources.items()}
        self._routing = config.routing
        self._stock = StockLedger(config)
        self._evaluator = evaluator
        self._metrics = metrics
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._gather = gather_seconds
        self._senders_waiting = senders_waiting
        self._burst_batch_size = min(batch_size, burst_batch_size)
        self._max_events = max_events_per_transaction  # a bigger single delivery still goes in one transaction
        self._wakeup = asyncio.Event()
        self._busy = asyncio.Lock()  # one batch at a time, whoever asks (worker, CLI, tests)
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="crosstrace-normalizer")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                processed = await self.process_batch()
            except Exception:  # the store is unreachable: keep the worker alive and try again
                log.exception("normalizer batch failed")
                processed = 0
                await asyncio.sleep(self._idle_poll)
            if processed and self._senders_waiting is not None and self._senders_waiting():
                # Inbox first: while webhook senders wait on inbox commits, take the one writer about half the
                # time, not back to back. Senders get their 2xx sooner; the backlog is durable, drains at full
                # speed once the burst ends, and its lag is on /metrics (crosstrace_normalize_lag_seconds).
                await asyncio.sleep(loop.time() - started)
            if processed == 0:
                self._wakeup.clear()
                # asyncio.timeout, not wait_for: on 3.11 a cancel racing wait_for's own timeout can be lost,
                # and stop() would then wait for ever.
                try:
                    async with asyncio.timeout(self._idle_poll):
                        await self._wakeup.wait()
                except TimeoutError:
                    continue
                # Woken by a commit: let the deliveries arriving right behind it gather into the same batch.
                # One batch of 200 costs little more than a batch of 1 (the queries are per batch), and the
                # senders are not waiting: they had their 2xx when the inbox committed.
                await asyncio.sleep(self._gather)

    async def run_until_idle(self) -> int:
        """Process pending deliveries until none is left; returns how many were processed."""
        total = 0
        while processed := await self.process_batch():
            total += processed
        return total

    async def process_batch(self) -> int:
        """Normalize up to one batch of pending deliveries; returns how many were taken."""
        async with self._busy:
            return await self._process_batch()

    async def _process_batch(self) -> int:
        # While senders wait, smaller batches: an ack waits at most one batch's write transaction.
        burst = self._senders_waiting is not None and self._senders_waiting()
        async with self._store.read() as conn:
            rows = (await conn.execute(
                select(deliveries).where(deliveries.c.state == "pending").order_by(deliveries.c.id)
                .limit(self._burst_batch_size if burst else self._batch_size))).all()
        if not rows:
            self._metrics.set("crosstrace_normalize_pending", 0)
            return 0
        with tracer.start_as_current_span("normalize") as span:
            span.set_attribute("crosstrace.batch_size", len(rows))
            dead: list[tuple[str, str, str]] = []
            chunks: list[_Chunk] = [_Chunk()]
            for row in rows:
                delivery = Delivery(id=row.id, source=row.source, received_at=row.received_at,
                                    headers=row.headers or {}, body=row.body, content_type=row.content_type)
                try:
                    events = check_events(self._parse(delivery))  # hostile values never reach the store
                except Exception as exc:  # noqa: BLE001 - any adapter failure dead-letters, never crashes
                    dead.append((row.id, row.source, _reason(exc)))
                    continue
                if chunks[-1].done and len(chunks[-1].parsed) + len(events) > self._max_events:
                    chunks.append(_Chunk())  # one write transaction stays short: the inbox's acks wait on it
                chunk = chunks[-1]
                chunk.parsed.extend(Incoming(e, row.id, row.received_at) for e in events)
                chunk.done.append(row.id)
                if row.attempts:
                    chunk.retried.append(row.id)  # normalized before (a replayed dead letter): its exception may clear
            stored = duplicates = 0
            for index, chunk in enumerate(chunks):
                result = await self._record(chunk, dead if index == 0 else [])
                stored, duplicates = stored + result.stored, duplicates + result.duplicates
        self._metrics.inc("crosstrace_events_stored_total", stored)
        self._metrics.inc("crosstrace_events_duplicate_total", duplicates)
        for _, source, _ in dead:
            self._metrics.inc("crosstrace_deliveries_dead_total", source=source)
        self._metrics.set("crosstrace_normalize_lag_seconds", _lag(rows[0].received_at))
        return len(rows)

    async def _record(self, chunk: _Chunk, dead: list[tuple[str, str, str]]) -> Recorded:
        """One write transaction: record a chunk's events, mark its deliveries done (and ``dead`` dead), evaluate."""
        with tracer.start_as_current_span("correlate"):
            async with self._store.write() as conn:
                result = await record_events(self._store, conn, chunk.parsed, self._settings)
                await self._stock.apply(conn, chunk.parsed, self._evaluator.now() if self._evaluator else utcnow(),
                                        result.changes)
                await self._finish(conn, chunk.done, chunk.retried, dead, result.changes)
                if self._evaluator is not None and result.transactions:
                    with tracer.start_as_current_span("evaluate"):
                        await self._evaluator.evaluate(conn, sorted(result.transactions), self._evaluator.now(),
                                                       result.changes)
        if self._evaluator is not None:
            self._evaluator.publish(result.changes)
        return result

    async def _finish(self, conn, done: list[str], retried: list[str],  # type: ignore[no-untyped-def]
                      dead: list[tuple[str, str, str]], changes: Changes) -> None:
        now = utcnow()
        if done:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == bindparam("b_id"), deliveries.c.state == "pending")
                .values(state="done", error=None, processed_at=now, attempts=deliveries.c.attempts + 1),
                [{"b_id": delivery_id} for delivery_id in done])
            for delivery_id in retried:
                await clear_exception(conn, rule="delivery.dead_letter", subject=delivery_id,
                                      note="replayed and normalized", changes=changes)
        for delivery_id, source, reason in dead:
            await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id)
                               .values(state="dead", error=reason, processed_at=now,
                                       attempts=deliveries.c.attempts + 1))
            await raise_exception(conn, Finding(
                rule="delivery.dead_letter", type="dead_letter", severity="error", subject=delivery_id, system=source,
                system_kind=self._source_kinds.get(source),
                message=f"delivery {delivery_id} from {source} could not be parsed: {reason}",
                evidence={"delivery": delivery_id, "source": source, "error": reason}), routing=self._routing,
                changes=changes)


@dataclass(slots=True)
class _Chunk:
    """Parsed deliveries recorded in one write transaction."""

    parsed: list[Incoming] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)


def _reason(exc: Exception) -> str:
    name = exc.__class__.__name__
    text = str(exc) or name
    return safe_text(text if name == "ParseError" or isinstance(exc, RefusedValue) else f"{name}: {text}")


def _lag(received_at: datetime) -> float:
    return max(0.0, (utcnow() - received_at).total_seconds())


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which deliveries to re-derive: explicit ids, or by source, state, time window and error text."""

    ids: tuple[str, ...] = ()
    source: str | None = None
    state: str | None = "dead"
    since: datetime | None = None
    until: datetime | None = None
    error_contains: str | None = None


async def replay(store: Store, selection: ReplayFilter) -> list[str]:
    """Put the selected deliveries back to ``pending``; returns their ids. Re-derivation never duplicates."""
    conditions = []
    if selection.ids:
        conditions.append(deliveries.c.id.in_(selection.ids))
    if selection.source:
        conditions.append(deliveries.c.source == selection.source)
    if selection.state:
        conditions.append(deliveries.c.state == selection.state)
    if selection.since:
        conditions.append(deliveries.c.received_at >= selection.since)
    if selection.until:
        conditions.append(deliveries.c.received_at < selection.until)
    if selection.error_contains:
        conditions.append(func.coalesce(deliveries.c.error, "").contains(selection.error_contains))
    async with store.write() as conn:
        ids = list((await conn.execute(select(deliveries.c.id).where(*conditions))).scalars())
        if ids:
            await conn.execute(update(deliveries).where(deliveries.c.id.in_(ids)).values(state="pending"))
    return ids
