"""The evaluator: applies flows and rules to transactions as events arrive and as time passes.

Promise: :meth:`Evaluator.evaluate` runs inside the caller's write transaction and leaves, for each
transaction it is given, exactly the exceptions its rules find open (opening, refreshing, reopening,
auto-resolving) and its next due time in the ``tx_due`` index. :meth:`Evaluator.tick` reads only the
index rows that fell due, so a tick over 100,000 transactions due tomorrow touches nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.config import Config
from hub.exceptions import maintenance
from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.flows import next_due, step_states
from hub.exceptions.lifecycle import Changes, Finding, auto_resolve, open_new, raise_exception
from hub.exceptions.rules import RuleSettings, TxEvent, findings
from hub.exceptions.settlement_facts import SettlementFacts, load_settlement_facts
from hub.exceptions.settlements import RULES as SETTLEMENT_RULES
from hub.exceptions.settlements import SettlementSettings
from hub.exceptions.step_outcomes import flow_key, outcome_rows
from hub.ingest.isolate import isolate
from hub.periodic import Heartbeats, Periodic
from hub.stock.divergence import due_pairs, evaluate_keys, postpone
from hub.store import Connection, Store, describe, evaluation, exception_rows
from hub.store import step_outcomes as stored_outcomes
from hub.store.correlation_locks import lock_transactions
from hub.store.lookups import chunks, per_statement
from hub.store.record import Held
from hub.store.settlement_links import linked_transactions, settlements_naming

log = logging.getLogger(__name__)
OWNED_RULES = ("flow.overdue", "event.failed", "event.duplicates", "event.out_of_order", "quantity.mismatch",
               "amount.mismatch", *SETTLEMENT_RULES)
RETRY_FAILED = timedelta(minutes=10)  # a transaction whose evaluation failed is looked at again after this


@dataclass(frozen=True, slots=True)
class TickResult:
    due: int
    evaluated: int


class Evaluator:
    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime],
                 broadcaster: Broadcaster | None = None) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._broadcaster = broadcaster
        self._kinds = {name: source.kind for name, source in config.sources.items()}
        self._settings = RuleSettings(config.duplicate_threshold, config.amount_tolerance)
        self._settlement = config.settlement or SettlementSettings()
        self._flow_keys = {kind: flow_key(config, kind) for kind in config.flows}  # step outcomes' flow keys
        self._loop = Periodic("crosstrace-evaluator", self._step, log)

    def now(self) -> datetime:
        return self._clock()

    def publish(self, changes: Changes) -> None:
        if self._broadcaster is not None and changes.items:
            self._broadcaster.publish(changes.items)

    async def evaluate(self, conn: Connection, tx_ids: Sequence[str], now: datetime, changes: Changes,
                       held: Mapping[str, Held] | None = None) -> int:
        """Re-evaluate these transactions and those a settlement links them to; returns how many exist.
        ``held``: transactions as the caller's recording left them in this write (their kinds and events are not
        read again)."""
        named_by = await settlements_naming(conn, tx_ids)  # read once: for the links and the facts
        ids = sorted(set(tx_ids) | await linked_transactions(conn, tx_ids, named_by))
        evaluated = 0
        stopped = await maintenance.paused_at(conn, self._config, now)
        for chunk in chunks(ids, per_statement(conn)):  # PostgreSQL: arrays, one chunk; SQLite: its variables
            evaluated += await self._evaluate_chunk(conn, list(chunk), now, changes, stopped, named_by, held or {})
        return evaluated

    async def _evaluate_chunk(self, conn: Connection, ids: list[str], now: datetime, changes: Changes,
                              stopped: maintenance.Paused | None = None,
                              named_by: Mapping[str, set[str]] | None = None,
                              held: Mapping[str, Held] | None = None) -> int:
        held = held or {}
        # several processes: read and write them one process at a time (the recording holds its own locked already)
        await lock_transactions(conn, [tx_id for tx_id in ids if tx_id not in held])
        kinds, by_tx = await self._transactions(conn, ids, held)
        latest: dict[str, Any] = {}
        for row in await exception_rows.of_transactions(conn, ids, OWNED_RULES):
            latest[row.key] = row
        await evaluation.forget_due(conn, ids)
        money = await load_settlement_facts(conn, kinds, by_tx, _tx_event, self._kinds, self._settlement, named_by)
        due_rows: list[tuple[str, datetime]] = []
        wanted: set[str] = set()
        fresh: dict[str, Finding] = {}  # never raised before: opened together below
        outcomes: list[dict[str, Any]] = []
        for tx_id, kind in kinds.items():
            tx_events = by_tx.get(tx_id, [])
            flow = self._config.flows.get(kind)  # as transaction_steps, on events that carry their sources' kinds
            states = step_states(flow, tx_events, now, self._kinds, stopped) if flow is not None else []
            if kind in self._flow_keys:
                outcomes += outcome_rows(self._config, tx_id, kind, tx_events, states, self._flow_keys[kind])
            found, settle_by = self._money(money, tx_id, kind, tx_events, now)
            for finding in [*findings(tx_id, kind, tx_events, states, self._settings), *found]:
                wanted.add(finding.key)
                if finding.key not in latest:
                    fresh.setdefault(finding.key, finding)
                    continue
                await raise_exception(conn, finding, routing=self._config.routing, changes=changes,
                                      existing=latest[finding.key], now=now)
            due = min((at for at in (next_due(states), settle_by) if at is not None), default=None)
            if due is not None:
                due_rows.append((tx_id, due))
        await open_new(conn, list(fresh.values()), routing=self._config.routing, changes=changes, now=now)
        for key, row in latest.items():
            if key not in wanted and row.status != "resolved":
                await auto_resolve(conn, row, "the evidence cleared", changes=changes, now=now)
        await evaluation.set_due(conn, due_rows)
        await stored_outcomes.replace(conn, ids, outcomes)
        await exception_rows.count_open_per_transaction(conn, ids)
        return len(kinds)

    async def _transactions(self, conn: Connection, ids: list[str],
                            held: Mapping[str, Held]) -> tuple[dict[str, str], dict[str, list[TxEvent]]]:
        """The kinds of those of ``ids`` that exist and their events, from ``held`` or else read."""
        unread = [tx_id for tx_id in ids if tx_id not in held]
        kinds = {tx_id: held[tx_id].kind for tx_id in ids if tx_id in held and held[tx_id].kind is not None}
        by_tx: dict[str, list[TxEvent]] = defaultdict(list)
        for tx_id in kinds:
            by_tx[tx_id] = [_tx_event(member, self._kinds.get(member.source)) for member in held[tx_id].events]
        if unread:
            kinds |= await evaluation.kinds_of(conn, unread)
            for row in await evaluation.events_of(conn, unread):
                by_tx[row.tx_id].append(_tx_event(row, self._kinds.get(row.source)))
        return dict(sorted(kinds.items())), by_tx

    def _money(self, money: SettlementFacts, tx_id: str, kind: str, tx_events: list[TxEvent],
               now: datetime) -> tuple[list[Finding], datetime | None]:
        """Settlement findings of one transaction, and when a capture's settlement falls due."""
        tolerance = self._settlement.tolerance
        return money.findings(tx_id, kind, tx_events, self._settlement,
                              self._settings.amount_tolerance if tolerance is None else tolerance, now)

    async def tick(self, now: datetime | None = None, limit: int = 2000) -> TickResult:
        """Evaluate what fell due by ``now`` (default: the clock), at most ``limit`` transactions.

        One transaction for the transactions and one for the stock pairs that fell due; one that cannot be
        evaluated (a rule that raises on it, a value the store refuses) is logged, skipped and looked at again
        after ``RETRY_FAILED``, and the rest of the tick goes on (hub.ingest.isolate)."""
        at = now or self._clock()
        changes = Changes()
        evaluated = 0
        async with self._store.read() as conn:
            due = await evaluation.fell_due(conn, at, limit)
            pairs, stock_due = await due_pairs(conn, at, limit)  # settle windows ended

        async def transactions_part(part: Sequence[str]) -> None:
            nonlocal evaluated
            found = Changes()
            async with self._store.write() as conn:
                count = await self.evaluate(conn, part, at, found)
            evaluated += count
            changes.items.extend(found.items)

        async def pairs_part(part: Sequence[tuple[str, str]]) -> None:
            found = Changes()
            async with self._store.write() as conn:
                await evaluate_keys(conn, part, self._config, at, found)
            changes.items.extend(found.items)

        async def transaction_failed(tx_id: str, exc: Exception) -> None:
            log.error("evaluating transaction %s failed, skipped until %s: %s", tx_id, at + RETRY_FAILED,
                      describe(exc), exc_info=exc)
            async with self._store.write() as conn:
                await evaluation.due_at(conn, [tx_id], at + RETRY_FAILED)

        async def pair_failed(pair: tuple[str, str], exc: Exception) -> None:
            log.error("evaluating stock of %s@%s failed, skipped until %s: %s", *pair, at + RETRY_FAILED,
                      describe(exc), exc_info=exc)
            async with self._store.write() as conn:
                await postpone(conn, pair, at + RETRY_FAILED)

        await isolate(due, transactions_part, transaction_failed)
        await isolate(pairs, pairs_part, pair_failed)
        self.publish(changes)
        return TickResult(due=len(due) + stock_due, evaluated=evaluated)

    def start(self, interval_seconds: float = 5.0, heartbeats: Heartbeats | None = None,
              gate: Callable[[], bool] | None = None) -> None:
        self._loop.start(interval_seconds, heartbeats=heartbeats, gate=gate)

    async def stop(self) -> None:
        await self._loop.stop()

    async def _step(self) -> bool:
        return bool((await self.tick()).due)  # more may be due: keep going before sleeping


def _tx_event(row: Any, system_kind: str | None) -> TxEvent:
    amount = (Decimal(row.amount_value), row.amount_currency or "", row.amount_kind or "total") \
        if row.amount_value is not None else None
    return TxEvent(id=row.id, type=row.type, source=row.source, system_kind=system_kind,
                   occurred_at=row.occurred_at, status=row.status, error=row.error, duplicates=row.duplicates,
                   out_of_order=bool(row.out_of_order), lines=row.lines or [], amount=amount)
