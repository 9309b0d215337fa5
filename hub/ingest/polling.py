"""The hub side of polling: polled items become inbox deliveries, committed with the poller's cursor.

Promise: :func:`commit_poll` inserts a page of polled items into ``deliveries`` (``ON CONFLICT DO
NOTHING`` on ``(source, dedup_key)``) and upserts ``poll_state.cursor`` in ONE :meth:`Store.write`
transaction, so a crash leaves either both or neither: an item is never skipped (the cursor never
moves past an uncommitted item) and never stored or counted twice (re-reads are absorbed by dedup,
and ``items_total`` grows only by rows actually inserted). Polled deliveries are ordinary inbox rows:
the normalizer, dead letters and replay treat them exactly like webhooks.

The health side (:func:`record_poll_failure`, :func:`source_health`) feeds GraphQL ``sources`` and
``/metrics``; the circuit is ``closed`` → ``open`` (after N consecutive failed runs) → ``half_open``
(after the cool-down, one trial run) → ``closed`` or ``open`` again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.ids import new_id
from hub.ingest.inbox import dedup_key_for
from hub.store import Store
from hub.store.tables import deliveries, events, poll_state, refs
from hub.telemetry import Metrics

__all__ = ["SOURCE_STATES", "PollState", "SourceHealth", "commit_poll", "list_poll_state", "load_poll_state",
           "mark_half_open", "publish_health", "record_poll_failure", "source_health", "unresolved_ids"]

_MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class PollState:
    """One ``poll_state`` row: the committed cursor and the poller's health."""

    source: str
    cursor: str | None = None
    cursor_updated_at: datetime | None = None
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    circuit: str = "closed"  # closed | open | half_open
    next_poll_at: datetime | None = None
    items_total: int = 0


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What GraphQL ``sources`` shows per configured source (polled or webhook-only).

    ``lag_seconds``: for a polled source, seconds since its last successful poll; for a webhook-only
    source, seconds since its last delivery; None when neither ever happened. ``state`` is one of
    ``ok | failing | open | half_open | pending`` (polled, never succeeded yet) ``| webhook``.
    """

    name: str
    kind: str
    adapter: str
    polled: bool
    last_delivery_at: datetime | None
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    circuit: str
    next_poll_at: datetime | None
    items_total: int
    lag_seconds: float | None
    state: str
    unresolved: tuple[str, ...] = ()  # ids the adapter could not resolve, "<object> <id>" (see unresolved_ids)


async def commit_poll(store: Store, source: str, items: Sequence[Mapping[str, Any]], cursor: str | None,
                      now: datetime, *, finished: bool = True, next_poll_at: datetime | None = None,
                      on_commit: Callable[[], None] | None = None) -> int:
    """Store one page of polled items and the cursor in one transaction; returns how many were new.

    Each item is a mapping with ``dedup_key`` (str), ``body`` (bytes), ``headers`` (dict[str, str],
    lowercase names) and optional ``content_type`` (default ``application/json``). ``cursor`` None
    keeps the stored cursor. ``finished`` marks the end of a successful run: it clears the error,
    resets ``consecutive_failures`` and closes the circuit. ``on_commit`` runs after the commit
    (the app passes ``normalizer.wake``).
    """
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        body = bytes(item["body"])
        key = dedup_key_for(item["dedup_key"], body)
        rows.setdefault(key, {"id": new_id("dlv"), "source": source, "dedup_key": key, "received_at": now,
                              "headers": dict(item.get("headers") or {}), "body": body,
                              "content_type": item.get("content_type") or "application/json", "state": "pending"})
    async with store.write() as conn:
        new = 0
        if rows:
            inserted = await conn.execute(
                store.insert_ignoring_conflicts(deliveries).returning(deliveries.c.id), list(rows.values()))
            new = len(inserted.all())
        values: dict[str, Any] = {"last_poll_at": now, "items_total": new}
        if cursor is not None:
            values.update(cursor=cursor, cursor_updated_at=now)
        if finished:
            values.update(last_success_at=now, last_error=None, consecutive_failures=0, circuit="closed")
        if next_poll_at is not None:
            values["next_poll_at"] = next_poll_at
        await _upsert(store, conn, source, values, add_items=True)
    if on_commit is not None and new:
        on_commit()
    return new


async def record_poll_failure(store: Store, source: str, error: str, now: datetime, *, threshold: int,
                              cooldown_seconds: float, retry_at: datetime | None = None) -> PollState:
    """Count one failed run; open the circuit at ``threshold`` consecutive failures (or when a half-open
    trial fails) until ``now + cooldown_seconds``. ``retry_at`` (a server's Retry-After) is the earliest
    next attempt either way. Returns the new state."""
    async with store.write() as conn:
        current = await _load(conn, source) or PollState(source)
        failures = current.consecutive_failures + 1
        circuit = "open" if failures >= threshold or current.circuit == "half_open" else "closed"
        next_at = now + timedelta(seconds=cooldown_seconds) if circuit == "open" else None
        if retry_at is not None:
            next_at = max(next_at or retry_at, retry_at)
        values = {"last_poll_at": now, "last_error": error[:_MAX_ERROR], "consecutive_failures": failures,
                  "circuit": circuit, "next_poll_at": next_at}
        await _upsert(store, conn, source, values)
        state = await _load(conn, source)
    assert state is not None
    return state


async def mark_half_open(store: Store, source: str, now: datetime) -> None:
    """The cool-down is over: the next run is the one trial that closes or re-opens the circuit."""
    async with store.write() as conn:
        await _upsert(store, conn, source, {"circuit": "half_open", "last_poll_at": now})


async def load_poll_state(store: Store, source: str) -> PollState | None:
    """The source's committed cursor and health, or None before its first poll."""
    async with store.read() as conn:
        return await _load(conn, source)


async def list_poll_state(store: Store) -> list[PollState]:
    """Every polled source's state, by name."""
    async with store.read() as conn:
        rows = (await conn.execute(select(poll_state).order_by(poll_state.c.source))).mappings().all()
    return [PollState(**row) for row in rows]


async def source_health(store: Store, config: Config, now: datetime) -> list[SourceHealth]:
    """Health of every configured source, in config order (two queries: poll_state, last delivery per source;
    then one per source for its :func:`unresolved_ids`).

    The last delivery is one ``max(received_at)`` per source in a single statement, each answered from the
    ``(source, received_at)`` index, rather than a ``GROUP BY`` that reads every delivery ever stored.
    """
    states = {state.source: state for state in await list_poll_state(store)}
    names = list(config.sources)
    last: dict[str, datetime | None] = {}
    if names:
        latest = [select(func.max(deliveries.c.received_at)).where(deliveries.c.source == name)
                  .scalar_subquery().label(f"s{index}") for index, name in enumerate(names)]
        async with store.read() as conn:
            row = (await conn.execute(select(*latest))).one()
        last = {name: _naive(row[index]) for index, name in enumerate(names)}
    health = []
    async with store.read() as conn:
        unresolved = {name: await unresolved_ids(conn, name) for name in names}
    for name, source in config.sources.items():
        polled = "poll" in source.options
        state = states.get(name) or PollState(name)
        reference = state.last_success_at if polled else last.get(name)
        health.append(SourceHealth(
            name=name, kind=source.kind, adapter=source.adapter, polled=polled, last_delivery_at=last.get(name),
            last_poll_at=state.last_poll_at, last_success_at=state.last_success_at, last_error=state.last_error,
            consecutive_failures=state.consecutive_failures, circuit=state.circuit, next_poll_at=state.next_poll_at,
            items_total=state.items_total,
            lag_seconds=None if reference is None else max(0.0, (now - reference).total_seconds()),
            state=_state(polled, state), unresolved=unresolved.get(name, ())))
    return health


UNRESOLVED_LIMIT = 20


async def unresolved_ids(conn: AsyncConnection, source: str, limit: int = UNRESOLVED_LIMIT) -> tuple[str, ...]:
    """Ids ``source`` reported that no mapping or lookup resolved, as ``"<object> <id>"``, at most ``limit``.

    An adapter marks such an id with a ref in ``<source>:unresolved_<object>`` next to its plain
    ``<source>:<object>`` ref (the ``shopify`` adapter's inventory items and locations). An id counts while no
    event received after its newest unresolved one carries the plain ref without the mark: a mapping added
    later (and the next update of that id) clears it. Index ranges on ``refs (namespace, value)``.
    """
    prefix = f"{source}:unresolved_"
    marked, marked_event = refs.alias("marked"), events.alias("marked_event")
    newest = (select(marked.c.namespace, marked.c.value, func.max(marked_event.c.received_at).label("at"))
              .join(marked_event, marked_event.c.id == marked.c.event_id)
              .where(marked.c.namespace >= prefix, marked.c.namespace < prefix[:-1] + "`")  # "`" follows "_"
              .group_by(marked.c.namespace, marked.c.value).subquery())
    plain, plain_event = refs.alias("plain"), events.alias("plain_event")
    resolved_later = (select(plain.c.event_id).join(plain_event, plain_event.c.id == plain.c.event_id)
                      .where(plain.c.namespace == func.replace(newest.c.namespace, "unresolved_", ""),
                             plain.c.value == newest.c.value, plain_event.c.received_at > newest.c.at))
    rows = (await conn.execute(select(newest.c.namespace, newest.c.value).where(~exists(resolved_later))
                               .order_by(newest.c.namespace, newest.c.value).limit(limit))).all()
    return tuple(f"{row.namespace[len(prefix):]} {row.value}" for row in rows)


SOURCE_STATES = ("ok", "failing", "open", "half_open", "pending", "webhook")
_HELP = {
    "crosstrace_source_consecutive_failures": "Failed poll runs in a row per source (0 when healthy or not polled).",
    "crosstrace_source_state": "1 for the source's current state (ok, failing, open, half_open, pending, webhook).",
    "crosstrace_source_lag_seconds": "Seconds since the last successful poll (polled) or last delivery (webhook).",
    "crosstrace_source_seconds_since_last_delivery": "Seconds since the source's last stored delivery.",
    "crosstrace_source_seconds_since_last_poll": "Seconds since the source's last poll run, failed or not.",
    "crosstrace_source_unresolved": f"Ids the source reported that nothing resolved (at most {UNRESOLVED_LIMIT}).",
}


def publish_health(metrics: Metrics, health: Sequence[SourceHealth], now: datetime) -> None:
    """Set the ``/metrics`` gauges for what GraphQL ``sources`` shows: per source its lag, failures in a row,
    seconds since the last delivery and poll, and its state as a 0/1 gauge per state (the Prometheus enum
    idiom, so ``crosstrace_source_state{state="open"} == 1`` alerts). A figure never seen is left out."""
    for name, text in _HELP.items():
        metrics.describe(name, "gauge", text)
    for item in health:
        metrics.set("crosstrace_source_consecutive_failures", item.consecutive_failures, source=item.name)
        metrics.set("crosstrace_source_unresolved", len(item.unresolved), source=item.name)
        for state in SOURCE_STATES:
            metrics.set("crosstrace_source_state", 1 if item.state == state else 0, source=item.name, state=state)
        if item.lag_seconds is not None:
            metrics.set("crosstrace_source_lag_seconds", item.lag_seconds, source=item.name)
        for name, moment in (("delivery", item.last_delivery_at), ("poll", item.last_poll_at)):
            if moment is not None:
                metrics.set(f"crosstrace_source_seconds_since_last_{name}", max(0.0, (now - moment).total_seconds()),
                            source=item.name)


def _naive(moment: Any) -> datetime | None:
    """SQLite hands ``max()`` of a DateTime column back as text; PostgreSQL as a datetime."""
    if moment is None or isinstance(moment, datetime):
        return moment
    return datetime.fromisoformat(str(moment))


def _state(polled: bool, state: PollState) -> str:
    if not polled:
        return "webhook"
    if state.circuit != "closed":
        return state.circuit
    if state.consecutive_failures:
        return "failing"
    return "ok" if state.last_success_at else "pending"


async def _load(conn: AsyncConnection, source: str) -> PollState | None:
    row = (await conn.execute(select(poll_state).where(poll_state.c.source == source))).mappings().first()
    return None if row is None else PollState(**row)


async def _upsert(store: Store, conn: AsyncConnection, source: str, values: dict[str, Any], *,
                  add_items: bool = False) -> None:
    statement = store.upsert(poll_state).values(source=source, **values)
    updates = {name: statement.excluded[name] for name in values if name != "items_total"}
    if add_items:
        updates["items_total"] = poll_state.c.items_total + statement.excluded.items_total
    await conn.execute(statement.on_conflict_do_update(index_elements=[poll_state.c.source], set_=updates))
