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

from hub.config import Config
from hub.ids import new_id
from hub.ingest.inbox import dedup_key_for
from hub.store import Connection, Store, inbox_log
from hub.store import polling as stored
from hub.store.inbox import insert_new
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


class CheckpointMoved(Exception):
    """Another process advanced the source's cursor since this run read it: this run's pages are not committed."""


_ANY: Any = object()


async def commit_poll(store: Store, source: str, items: Sequence[Mapping[str, Any]], cursor: str | None,
                      now: datetime, *, finished: bool = True, next_poll_at: datetime | None = None,
                      on_commit: Callable[[], None] | None = None, expect: str | None = _ANY) -> int:
    """Store one page of polled items and the cursor in one transaction; returns how many were new.

    Each item is a mapping with ``dedup_key`` (str), ``body`` (bytes), ``headers`` (dict[str, str],
    lowercase names) and optional ``content_type`` (default ``application/json``). ``cursor`` None
    keeps the stored cursor. ``finished`` marks the end of a successful run: it clears the error,
    resets ``consecutive_failures`` and closes the circuit. ``on_commit`` runs after the commit
    (the app passes ``normalizer.wake``). ``expect``: the cursor this run read (or last committed); when the
    stored one differs, another process polled meanwhile (it took the lease over) and :class:`CheckpointMoved` is
    raised with nothing committed, so a checkpoint never goes backwards.
    """
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        body = bytes(item["body"])
        key = dedup_key_for(item["dedup_key"], body)
        rows.setdefault(key, {"id": new_id("dlv"), "source": source, "dedup_key": key, "received_at": now,
                              "headers": dict(item.get("headers") or {}), "body": body,
                              "content_type": item.get("content_type") or "application/json", "state": "pending"})
    async with store.write() as conn:
        if expect is not _ANY:
            if await stored.locked_cursor(conn, source) != expect:
                raise CheckpointMoved(f"{source}: the checkpoint moved on another process")
        new = 0
        if rows and store.moves_inbox_log:  # webhooks acknowledged into the SQLite inbox log are stored too
            await inbox_log.transfer(conn)
        if rows:
            new = len(await insert_new(conn, list(rows.values())))
        values: dict[str, Any] = {"last_poll_at": now, "items_total": new}
        if cursor is not None:
            values.update(cursor=cursor, cursor_updated_at=now)
        if finished:
            values.update(last_success_at=now, last_error=None, consecutive_failures=0, circuit="closed")
        if next_poll_at is not None:
            values["next_poll_at"] = next_poll_at
        await stored.save_poll_state(conn, source, values, add_items=True)
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
        await stored.save_poll_state(conn, source, values)
        state = await _load(conn, source)
    assert state is not None
    return state


async def mark_half_open(store: Store, source: str, now: datetime) -> None:
    """The cool-down is over: the next run is the one trial that closes or re-opens the circuit."""
    async with store.write() as conn:
        await stored.save_poll_state(conn, source, {"circuit": "half_open", "last_poll_at": now})


async def load_poll_state(store: Store, source: str) -> PollState | None:
    """The source's committed cursor and health, or None before its first poll."""
    async with store.read() as conn:
        return await _load(conn, source)


async def list_poll_state(store: Store) -> list[PollState]:
    """Every polled source's state, by name."""
    async with store.read() as conn:
        rows = await stored.all_poll_states(conn)
    return [PollState(**row) for row in rows]


async def source_health(store: Store, config: Config, now: datetime) -> list[SourceHealth]:
    """Health of every configured source, in config order (two queries: poll_state, last delivery per source;
    then one per source for its :func:`unresolved_ids`)."""
    states = {state.source: state for state in await list_poll_state(store)}
    names = list(config.sources)
    async with store.read() as conn:
        last = {name: _naive(at) for name, at in (await stored.last_delivery_at(conn, names)).items()}
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


async def unresolved_ids(conn: Connection, source: str, limit: int = UNRESOLVED_LIMIT) -> tuple[str, ...]:
    """Ids ``source`` reported that no mapping or lookup resolved, as ``"<object> <id>"``, at most ``limit``.

    An adapter marks such an id with a ref in ``<source>:unresolved_<object>`` next to its plain
    ``<source>:<object>`` ref (the ``shopify`` adapter's inventory items and locations). An id counts while no
    event received after its newest unresolved one carries the plain ref without the mark: a mapping added
    later (and the next update of that id) clears it. Index ranges on ``refs (namespace, value)``.
    """
    prefix = f"{source}:unresolved_"
    return tuple(f"{namespace[len(prefix):]} {value}"
                 for namespace, value in await stored.unresolved_refs(conn, source, limit))


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


async def _load(conn: Connection, source: str) -> PollState | None:
    row = await stored.poll_state_of(conn, source)
    return None if row is None else PollState(**row)
