"""The normalizer: turns pending inbox deliveries into recorded events, or dead letters; and replay.

Promise: a delivery is marked ``done`` in the same transaction that records its events, so a crash
at any point leaves it ``pending`` and it is simply processed again (events dedup on
``(source, source_event_id)``). A delivery that cannot be parsed becomes ``dead`` with the reason and
a dead-letter exception; :func:`replay` puts deliveries back to ``pending`` after a fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hub.access.contacts import contacts_in, keyed
from hub.config import Config
from hub.correlation.cited import cited_values, lookup_values
from hub.correlation.plan import CorrelationSettings
from hub.correlation.unlinked import flag_unlinked
from hub.exceptions.evaluate import Evaluator
from hub.exceptions.lifecycle import Changes, Finding, clear_exception, raise_exception
from hub.ingest.inbox import evaluate_soon
from hub.ingest.inbox_transfer import InboxTransfer
from hub.ingest.isolate import isolate
from hub.ingest.values import RefusedValue, check_events, safe_text
from hub.model import Delivery, Event, utcnow
from hub.node import new_node_id
from hub.periodic import Heartbeats, cancel_and_wait
from hub.stock.ledger import StockLedger
from hub.store import (
    Connection,
    Store,
    claims,
    contact_index,
    describe,
    inbox_log,
    is_lock_conflict,
    is_transient,
    savepoint,
)
from hub.store import inbox as stored_deliveries
from hub.store.inbox import Pending
from hub.store.queries import transaction_citing
from hub.store.record import Incoming, Recorded, record_events
from hub.telemetry import Metrics, span

log = logging.getLogger(__name__)
_LOOP = "crosstrace-normalizer"
_MAX_BACKOFF_SECONDS = 60.0

Parser = Callable[[Delivery], list[Event]]
"""Turns one delivery into events; raises any exception to dead-letter it (the message is kept). A parser may
have an async ``prepare(deliveries)``, awaited once per batch before parsing (lookups the parse then reads)."""


class Normalizer:
    """Background worker over the inbox. ``wake()`` after new deliveries; ``run_until_idle()`` for tests/CLI."""

    def __init__(self, store: Store, parse: Parser, config: Config, metrics: Metrics, *,
                 evaluator: Evaluator | None = None, batch_size: int = 256, idle_poll_seconds: float = 1.0,
                 gather_seconds: float = 0.02, senders_waiting: Callable[[], bool] | None = None,
                 burst_batch_size: int = 64, max_events_per_transaction: int = 500,
                 max_body_bytes: int = 4 * 1024 * 1024, node: str | None = None,
                 claim_seconds: float = 30.0) -> None:
        self._store = store
        # PostgreSQL: several workers may share the inbox; each claims what it takes (hub/store/claims.py)
        self._node = (node or new_node_id()) if store.dialect == "postgresql" else None
        self._claim_seconds = claim_seconds
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
        self._max_body_bytes = max_body_bytes  # bodies taken per batch, beyond the first delivery
        self._wakeup = asyncio.Event()
        self._busy = asyncio.Lock()  # one batch at a time, whoever asks (worker, CLI, tests)
        self._task: asyncio.Task[None] | None = None
        self._heartbeats: Heartbeats | None = None
        self._contact_key: bytes | None = None  # the contact index's key, read once
        self._transfer = InboxTransfer(store) if store.inbox_log_path is not None else None

    def wake(self) -> None:
        self._wakeup.set()

    def _now(self) -> datetime:
        """The hub's clock (the evaluator's: the demo's simulated one, a test's fixed one), as the inbox stamps
        ``received_at`` with; the wall clock when there is no evaluator (the CLI's replay)."""
        return self._evaluator.now() if self._evaluator is not None else utcnow()

    def start(self, heartbeats: Heartbeats | None = None) -> None:
        self._heartbeats = heartbeats
        if heartbeats is not None:
            heartbeats.beat(_LOOP, self._idle_poll)
        self._task = asyncio.create_task(self._run(), name=_LOOP)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
        if self._heartbeats is not None:
            self._heartbeats.forget(_LOOP)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            try:
                processed = await self.process_batch()
            except Exception as exc:  # the store is unavailable (a data error is dead-lettered inside): retry, back off
                failures += 1
                if is_lock_conflict(exc):  # PostgreSQL broke a lock cycle between workers: expected, not a fault
                    log.warning("normalizer batch retried after a lock conflict (%d in a row): %s", failures,
                                describe(exc))
                else:
                    log.exception("normalizer batch failed (%d in a row); deliveries stay pending", failures)
                await asyncio.sleep(min(self._idle_poll * 2 ** (failures - 1), _MAX_BACKOFF_SECONDS))
                continue
            failures = 0
            if self._heartbeats is not None:
                self._heartbeats.beat(_LOOP, self._idle_poll)
            if processed and self._transfer is None and self._senders_waiting is not None and self._senders_waiting():
                # Inbox first: while webhook senders wait on inbox commits, take the one writer about half the
                # time, not back to back. Senders get their 2xx sooner; the backlog is durable, drains at full
                # speed once the burst ends, and its lag is on /metrics (crosstrace_normalize_lag_seconds).
                # Not with the SQLite inbox log: its commits wait for no writer here, and pausing only starved
                # the normalizer (bench/README, "The SQLite receiver in one process").
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
        limit = self._burst_batch_size if burst else self._batch_size
        if self._transfer is not None:  # SQLite: what the receiver appended to the inbox's own file
            await self._transfer.run_once()
        if self._node is not None:
            taken = await self._claim(limit)
        else:
            async with self._store.read() as conn:
                taken = await stored_deliveries.take_pending(conn, limit, self._max_body_bytes)
        if not taken:
            self._metrics.set("crosstrace_normalize_pending", 0)
            return 0
        tally = _Tally()
        with span("normalize") as current:
            current.set_attribute("crosstrace.batch_size", len(taken))
            batch = [pending.delivery for pending in taken]
            prepare = getattr(self._parse, "prepare", None)
            if prepare is not None:  # the parser's lookups for this batch (bounded by their own timeouts)
                try:
                    await prepare(batch)
                except Exception:  # noqa: BLE001 - a failed lookup leaves ids unresolved, never stops the batch
                    log.exception("preparing a batch for parsing failed")
            group: list[_Item] = []
            in_group = 0
            for pending in taken:
                item = self._parsed(pending)
                if group and in_group + len(item.events) > self._max_events:
                    await self._record_group(group, tally)
                    group, in_group = [], 0
                group.append(item)
                in_group += len(item.events)
            await self._record_group(group, tally)
        self._metrics.inc("crosstrace_events_stored_total", tally.stored)
        self._metrics.inc("crosstrace_events_duplicate_total", tally.duplicates)
        for source in tally.dead:
            self._metrics.inc("crosstrace_deliveries_dead_total", source=source)
        self._metrics.set("crosstrace_normalize_lag_seconds",
                          max(0.0, (self._now() - batch[0].received_at).total_seconds()))
        return len(taken)

    async def _claim(self, limit: int) -> list[Pending]:
        """PostgreSQL: as :func:`~hub.store.inbox.take_pending`, but claimed for this worker (hub/store/claims.py);
        what the body budget leaves out is given back at once for the next batch (or another worker)."""
        assert self._node is not None
        async with self._store.write(writer="claims") as conn:
            claimed = await claims.claim(conn, self._node, limit, self._claim_seconds)
            chosen = stored_deliveries.within_budget(claimed, self._max_body_bytes)
            await claims.release(conn, self._node, [delivery for delivery, _ in claimed[len(chosen):]])
        async with self._store.read() as conn:
            return await stored_deliveries.pending_deliveries(conn, chosen)

    def _parsed(self, pending: Pending) -> _Item:
        delivery = pending.delivery
        try:
            events = check_events(self._parse(delivery))  # hostile values never reach the store
        except Exception as exc:  # noqa: BLE001 - any adapter failure dead-letters, never crashes
            return _Item(delivery.id, delivery.source, dead=_reason(exc), stage="parsed",
                         cited=cited_values(delivery.body))
        # a delivery normalized before (a replayed dead letter): its exception may clear
        return _Item(delivery.id, delivery.source, [Incoming(e, delivery.id, delivery.received_at) for e in events],
                     retried=bool(pending.attempts), contacts=contacts_in(delivery.body) if events else set())

    async def _record_group(self, group: list[_Item], tally: _Tally) -> None:
        """Record consecutive deliveries of at most ``max_events`` events (a bigger single delivery goes alone) in
        one write transaction, short since the inbox's acks wait on it, as soon as they are parsed: parsed events
        waiting in memory stay below one transaction's worth. Whatever still fails in it is bisected down to the
        delivery that cannot be written, which is dead-lettered: it never holds up the deliveries behind it."""
        if group:
            await isolate(group, lambda part: self._record(part, tally),
                          lambda item, exc: self._record_failed(item, exc, tally))

    async def _record(self, items: Sequence[_Item], tally: _Tally) -> None:
        """One write transaction: record the items' events, mark them done (or dead), evaluate. On PostgreSQL only
        the items still claimed by this worker: the others were taken over by another one (hub/store/claims.py)."""
        async with self._store.write() as conn:
            if self._node is not None:
                mine = await claims.keep_claimed(conn, self._node, [item.delivery_id for item in items])
                items = [item for item in items if item.delivery_id in mine]
            result = await self._record_in(conn, items)
        if self._evaluator is not None:
            self._evaluator.publish(result.changes)
        dead = [item for item in items if item.dead is not None]
        tally.stored, tally.duplicates = tally.stored + result.stored, tally.duplicates + result.duplicates
        tally.dead.extend(item.source for item in dead)

    async def _record_in(self, conn: Connection, items: Sequence[_Item]) -> Recorded:
        parsed = [incoming for item in items if item.dead is None for incoming in item.events]
        done = [item.delivery_id for item in items if item.dead is None]
        retried = [item.delivery_id for item in items if item.dead is None and item.retried]
        dead = [item for item in items if item.dead is not None]
        with span("correlate"):
            result = await record_events(self._store, conn, parsed, self._settings, whole=done)
            if result.unlinked:
                await flag_unlinked(conn, result.unlinked, source_kinds=self._source_kinds, routing=self._routing,
                                    changes=result.changes)
            await self._stock.apply(conn, parsed, self._now(), result.changes)
            await self._finish(conn, done, retried, dead, result.changes)
            await self._index_contacts(conn, [item for item in items if item.dead is None and item.contacts])
            if self._evaluator is not None and result.transactions:
                with span("evaluate"):
                    await self._evaluate(conn, self._evaluator, sorted(result.transactions), result)
        return result

    async def _index_contacts(self, conn: Connection, items: list[_Item]) -> None:
        """The keyed hashes of the customers' emails and phones the recorded deliveries carry (admins search them)."""
        if not items:
            return
        if self._contact_key is None:
            self._contact_key = await contact_index.index_key(conn)
        key = self._contact_key
        await contact_index.add(conn, ((keyed(c, key), item.delivery_id) for item in items for c in item.contacts))

    @staticmethod
    async def _evaluate(conn: Connection, evaluator: Evaluator, tx_ids: list[str], recorded: Recorded) -> None:
        """Evaluate the recorded transactions in a savepoint (from the events recording holds): one the rules cannot
        evaluate must not cost the deliveries their events. It is left to the evaluator's next tick, which isolates
        it (hub.ingest.isolate)."""
        changes = recorded.changes
        found = Changes()
        try:
            async with savepoint(conn):
                await evaluator.evaluate(conn, tx_ids, evaluator.now(), found, recorded.held)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("evaluating %d transactions failed while recording, left to the evaluator's tick: %s",
                        len(tx_ids), describe(exc))
            await evaluate_soon(conn, tx_ids)
            return
        changes.items.extend(found.items)

    async def _record_failed(self, item: _Item, exc: Exception, tally: _Tally) -> None:
        """The one delivery whose write fails: dead-letter it with the error (its events are not recorded)."""
        reason = safe_text(describe(exc))
        log.warning("delivery %s from %s could not be recorded, dead-lettered: %s", item.delivery_id, item.source,
                    reason)
        if item.dead is None:
            try:
                cited = lookup_values([ref.value for incoming in item.events for ref in incoming.event.refs])
                await self._record([_Item(item.delivery_id, item.source, dead=reason, stage="recorded",
                                          cited=cited)], tally)
                return
            except Exception as again:
                if is_transient(again):
                    raise
                reason = safe_text(describe(again))
        # Even its dead letter could not be written (its exception or reason held something the database refuses):
        # mark it dead with the bare error, in a transaction of its own, so it is never taken again.
        async with self._store.write() as conn:
            await stored_deliveries.mark_dead(conn, item.delivery_id, reason, self._now(), holder=self._node)
        tally.dead.append(item.source)

    async def _finish(self, conn, done: list[str], retried: list[str],  # type: ignore[no-untyped-def]
                      dead: list[_Item], changes: Changes) -> None:
        now = self._now()
        if done:
            await stored_deliveries.mark_done(conn, done, now)
            for delivery_id in retried:
                await clear_exception(conn, rule="delivery.dead_letter", subject=delivery_id,
                                      note="replayed and normalized", changes=changes)
        for item in dead:
            delivery_id, source, reason = item.delivery_id, item.source, item.dead
            await stored_deliveries.mark_dead(conn, delivery_id, reason, now)
            cited = await transaction_citing(conn, item.cited)  # the order its body names, if any is known
            evidence = {"delivery": delivery_id, "source": source, "error": reason, "stage": item.stage}
            await raise_exception(conn, Finding(
                rule="delivery.dead_letter", type="dead_letter", severity="error", subject=delivery_id, system=source,
                system_kind=self._source_kinds.get(source), tx_id=cited[0] if cited else None,
                tx_kind=cited[1] if cited else None,
                message=f"delivery {delivery_id} from {source} could not be {item.stage}: {reason}",
                evidence=evidence), routing=self._routing, changes=changes, now=now)
            if cited:
                await evaluate_soon(conn, [cited[0]])  # its open exception count


@dataclass(slots=True)
class _Item:
    """One delivery of a batch: its parsed events, or why it is dead (``stage``: what could not be done)."""

    delivery_id: str
    source: str
    events: list[Incoming] = field(default_factory=list)
    retried: bool = False
    dead: str | None = None
    stage: str = "parsed"
    cited: list[str] = field(default_factory=list)  # a dead letter's body's values (hub.correlation.cited)
    contacts: set[str] = field(default_factory=set)  # normalised emails and phones it carries (hub.access.contacts)


@dataclass(slots=True)
class _Tally:
    """What a batch's committed transactions did, for the metrics."""

    stored: int = 0
    duplicates: int = 0
    dead: list[str] = field(default_factory=list)  # sources of dead-lettered deliveries


def _reason(exc: Exception) -> str:
    name = exc.__class__.__name__
    text = str(exc) or name
    return safe_text(text if name == "ParseError" or isinstance(exc, RefusedValue) else f"{name}: {text}")


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which deliveries to re-derive: explicit ids, or by source, state, time window and error text."""

    ids: tuple[str, ...] = ()
    source: str | None = None
    state: str | None = "dead"
    since: datetime | None = None
    until: datetime | None = None
    error_contains: str | None = None


async def replay(store: Store, selection: ReplayFilter, now: datetime | None = None) -> list[str]:
    """Put the selected deliveries back to ``pending`` at ``now`` (the hub's clock; default the wall clock);
    returns their ids. Re-derivation never duplicates."""
    await inbox_log.caught_up(store)  # a selection by source or time includes deliveries just acknowledged
    return await stored_deliveries.requeue(store, now or utcnow(), ids=selection.ids, source=selection.source,
                                           state=selection.state, since=selection.since, until=selection.until,
                                           error_contains=selection.error_contains)
