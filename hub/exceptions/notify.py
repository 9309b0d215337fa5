"""Outbound exception notifications (config ``[[notifications]]``), signed per Standard Webhooks.

Why the outbox is fed from ``exception_history`` rather than from the in-process broadcaster: every
exception change already writes a history row in the same transaction as the change itself, so the
history is a durable, ordered log of changes. The notifier reads it past a stored cursor and, in ONE
transaction, writes the matching outbox rows and advances the cursor. A crash anywhere loses nothing
and enqueues nothing twice, and ingest pays nothing extra (no write on its path). The broadcaster is
only a wake-up call for low latency; a timer covers the rest.

Delivery is at least once: a background sender POSTs due rows with the app's httpx client, each with
a stable ``webhook-id`` (receivers deduplicate on it), retrying with exponential backoff and jitter
(``Retry-After`` honoured) until delivered or out of attempts (``state = failed``, kept for inspection).
No lock is held while a request is in flight, so a slow receiver never holds up ingest.

Payloads leave for another system, so personal data in them is masked by the one rule set of
:mod:`hub.access.privacy` (as for a viewer), and only masked payloads are kept in the outbox.

Limit: the cursor relies on history ids committing in id order, which the store's single writer
guarantees within one hub process; several hub processes on one PostgreSQL would need a grace period.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from hub.access.privacy import mask_json
from hub.config import RoutingRule
from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.lifecycle import Finding, raise_exception
from hub.exceptions.notify_targets import Target
from hub.ids import new_id
from hub.ingest.isolate import isolate
from hub.ingest.values import safe_text
from hub.periodic import Heartbeats, cancel_and_wait
from hub.store import Connection, Store, describe
from hub.store import notifications as outbox

log = logging.getLogger(__name__)
Signer = Callable[[str, str, int, bytes], str]  # (secret, msg_id, timestamp, body) -> webhook-signature value
_CURSOR = "history"
_LOOP = "crosstrace-notifier"


@dataclass(frozen=True, slots=True)
class SendResult:
    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # out of attempts (or the target left the config)


def backoff(attempt: int, rng: random.Random, base: float = 5.0, cap: float = 3600.0) -> float:
    """Seconds before retry ``attempt + 1``: exponential from ``base``, capped, with equal jitter."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


def _payload(action: str, row: Any) -> dict[str, Any]:
    """The body sent for one change, personal data masked (:mod:`hub.access.privacy`): it leaves for another system."""
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() + "Z" if value is not None else None

    return mask_json({"type": f"exception.{action}", "timestamp": iso(row.at), "data": {
        "id": row.id, "type": row.type, "rule": row.rule, "severity": row.severity, "status": row.status,
        "queue": row.queue, "subject": row.subject, "message": row.message, "transaction_id": row.tx_id,
        "transaction_kind": row.tx_kind, "system": row.system, "system_kind": row.system_kind,
        "assignee": row.assignee, "evidence": row.evidence, "opened_at": iso(row.opened_at),
        "resolved_at": iso(row.resolved_at), "resolved_by": row.resolved_by,
        "change": {"action": row.history_action, "actor": row.actor, "note": row.note, "at": iso(row.at)}}})


class Notifier:
    """Fills the outbox from exception history and sends what is due; clocks and randomness are injected."""

    def __init__(self, store: Store, targets: Sequence[Target], client: httpx.AsyncClient, signer: Signer, *,
                 clock: Callable[[], datetime], wall: Callable[[], float] = time.time,
                 rng: random.Random | None = None, base_delay: float = 5.0, max_delay: float = 3600.0,
                 max_attempts: int = 10, batch: int = 50, routing: Sequence[RoutingRule] = ()) -> None:
        self._store = store
        self._routing = tuple(routing)
        self._targets = {target.name: target for target in targets}
        self._client = client
        self._sign = signer
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._base, self._cap, self._max_attempts, self._batch = base_delay, max_delay, max_attempts, batch
        self._lock = asyncio.Lock()  # one collector/sender at a time: the timer and a caller never double-send
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeats: Heartbeats | None = None
        self._gate: Callable[[], bool] | None = None  # runs only while this process holds its lease

    async def prepare(self) -> None:
        """Place the cursor before serving: at the end of history on the first start, or whenever no target is
        configured (targets added later are told about changes from then on, not about the whole past)."""
        async with self._store.write() as conn:
            cursor = await outbox.cursor_at(conn, _CURSOR)
            if cursor is not None and self._targets:
                return
            await outbox.place_cursor(conn, _CURSOR, await outbox.last_history_id(conn), new=cursor is None)

    async def collect(self, limit: int = 500) -> int:
        """Move new history entries that match a target into the outbox; returns how many rows it wrote."""
        async with self._lock:
            return await self._collect(limit)

    async def _collect(self, limit: int) -> int:
        async with self._store.read() as conn:
            cursor = await outbox.cursor_at(conn, _CURSOR)
            if cursor is None:
                raise RuntimeError("Notifier.prepare() must run before collect()")
            rows = await outbox.history_after(conn, cursor, limit)
        written = 0

        async def move(part: Sequence[Any]) -> None:
            """The part's outbox rows and the cursor past its last entry, in one transaction."""
            nonlocal written
            now = self._clock()
            messages = []
            for row in part:
                action = "opened" if row.history_action == "reopened" else row.history_action
                for target in self._targets.values():
                    if target.matches(action, row):
                        messages.append({"id": new_id("msg"), "target": target.name, "exception_id": row.id,
                                       "history_id": row.history_id, "action": action,
                                       "payload": _payload(action, row), "created_at": now, "next_attempt_at": now})
            async with self._store.write() as conn:
                await outbox.add_to_outbox(conn, messages)
                await outbox.place_cursor(conn, _CURSOR, part[-1].history_id)
            written += len(messages)

        async def skip(row: Any, exc: Exception) -> None:
            log.error("exception %s change %s cannot be queued for notification, skipped: %s", row.id,
                      row.history_id, describe(exc), exc_info=exc)
            async with self._store.write() as conn:
                await outbox.place_cursor(conn, _CURSOR, row.history_id)

        await isolate(rows, move, skip)  # in history order: the cursor only moves forward
        return written

    async def send_due(self, now: datetime | None = None) -> SendResult:
        """POST every pending row due by ``now`` (default: the clock) once; record success or the next try."""
        async with self._lock:
            return await self._send_due(now or self._clock())

    async def run_once(self, now: datetime | None = None) -> SendResult:
        """Collect, then send what is due: what the background task does on every wake-up."""
        async with self._lock:
            await self._collect(500)
            return await self._send_due(now or self._clock())

    async def _send_due(self, now: datetime) -> SendResult:
        async with self._store.read() as conn:
            disabled = [name for name, state in (await outbox.endpoint_states(conn)).items() if state.disabled_at]
            rows = await outbox.due_messages(conn, now, self._batch, skip_targets=disabled)
        if not rows:
            return SendResult()
        outcomes = await asyncio.gather(*(self._post(row) for row in rows))
        states: list[str] = []

        async def record(part: Sequence[tuple[Any, tuple[str | None, bool, float, int | None]]]) -> None:
            done = []
            async with self._store.write() as conn:
                for row, (error, permanent, retry_after, status_code) in part:
                    await self._count_attempt(conn, row, now, status_code, error)
                    attempts = row.attempts + 1
                    values: dict[str, Any] = {"attempts": attempts, "last_error": error}
                    if error is None:
                        values.update(state="delivered", delivered_at=now)
                    elif permanent or attempts >= self._max_attempts:
                        values.update(state="failed")
                    else:
                        delay = max(backoff(attempts, self._rng, self._base, self._cap), retry_after)
                        values.update(next_attempt_at=now + timedelta(seconds=delay))
                    await outbox.update_message(conn, row.id, **values)
                    done.append(values.get("state", "pending"))
            states.extend(done)

        async def unrecordable(item: tuple[Any, Any], exc: Exception) -> None:
            # Its outcome cannot be written: fail it (kept for inspection) rather than POST it again every round.
            log.error("notification %s: outcome cannot be recorded, marked failed: %s", item[0].id, describe(exc))
            async with self._store.write() as conn:
                await outbox.update_message(conn, item[0].id, state="failed", attempts=item[0].attempts + 1,
                                            last_error=safe_text(f"outcome not recordable: {describe(exc)}"))
            states.append("failed")

        await isolate(list(zip(rows, outcomes, strict=True)), record, unrecordable)
        return SendResult(attempted=len(rows), delivered=states.count("delivered"), failed=states.count("failed"))

    async def _count_attempt(self, conn: Connection, row: Any, now: datetime, status_code: int | None,
                             error: str | None) -> None:
        """Log the attempt; an endpoint that failed ``disable_after`` times in a row is disabled, with an exception
        saying so (its messages wait, pending, until an operator enables it: :mod:`hub.exceptions.notify_log`)."""
        failures = await outbox.record_attempt(conn, row.id, row.target, now, status_code, error)
        target = self._targets.get(row.target)
        if target is None or failures < target.disable_after:
            return
        reason = f"{failures} failed attempts in a row, the last: {error}"
        if await outbox.set_endpoint_disabled(conn, row.target, now, reason):
            await raise_exception(conn, endpoint_disabled(target, failures, error, now), routing=self._routing,
                                  now=now)

    async def _post(self, row: Any) -> tuple[str | None, bool, float, int | None]:
        """(error or None, permanent, Retry-After seconds, HTTP status or None) for one attempt; never raises."""
        target = self._targets.get(row.target)
        if target is None:
            return f"notification target {row.target!r} is no longer configured", True, 0.0, None
        try:
            body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
            stamp = int(self._wall())
            headers = {"webhook-id": row.id, "webhook-timestamp": str(stamp),
                       "webhook-signature": self._sign(target.secret, row.id, stamp, body),
                       "content-type": "application/json", "user-agent": "crosstrace-notify"}
            response = await self._client.post(target.url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - network errors, and an endpoint httpx refuses (InvalidURL, …):
            # either way one failed attempt of this row, never a failed round for every other row
            return safe_text(f"{exc.__class__.__name__}: {exc}", 500), False, 0.0, None
        if 200 <= response.status_code < 300:
            return None, False, 0.0, response.status_code
        return (f"HTTP {response.status_code}", False, _retry_after(response.headers.get("retry-after")),
                response.status_code)

    def wake(self) -> None:
        self._wake.set()

    def start(self, interval_seconds: float, broadcaster: Broadcaster | None = None,
              heartbeats: Heartbeats | None = None, gate: Callable[[], bool] | None = None) -> None:
        """Send rounds every ``interval_seconds`` (sooner when woken); with ``gate``, only while it says yes."""
        if not self._targets:
            return
        self._heartbeats = heartbeats
        self._gate = gate
        if heartbeats is not None:
            heartbeats.beat(_LOOP, interval_seconds)
        self._tasks.append(asyncio.create_task(self._run(interval_seconds), name=_LOOP))
        if broadcaster is not None:
            self._tasks.append(asyncio.create_task(self._listen(broadcaster), name="crosstrace-notifier-wake"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._heartbeats is not None:
            self._heartbeats.forget(_LOOP)

    async def _listen(self, broadcaster: Broadcaster) -> None:
        async for _ in broadcaster.subscribe():
            self._wake.set()

    async def _run(self, interval: float) -> None:
        while True:
            self._wake.clear()
            try:
                if self._gate is None or self._gate():
                    await self.run_once()
                if self._heartbeats is not None:
                    self._heartbeats.beat(_LOOP, interval)
            except Exception:  # keep going through a store hiccup; rows stay pending
                log.exception("notification round failed")
            try:
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass


def endpoint_disabled(target: Target, failures: int, error: str | None, now: datetime) -> Finding:
    """The exception of an endpoint disabled after ``failures`` failed attempts in a row."""
    return Finding(rule="notify.endpoint_disabled", type="notification_endpoint_disabled", severity="error",
                   subject=target.name,
                   message=f"notification endpoint {target.name!r} disabled after {failures} failed attempts in a "
                           f"row (last: {error}); its notifications wait until it is enabled again",
                   evidence={"endpoint": target.name, "url": target.url, "failures": failures, "last_error": error,
                             "disabled_at": now.isoformat(), "expected": "a 2xx answer", "actual": error})


def _retry_after(value: str | None) -> float:
    """RFC 9110 §10.2.3 ``Retry-After`` in seconds (the HTTP-date form is ignored: backoff applies)."""
    try:
        return max(0.0, min(float(value), 86_400.0)) if value else 0.0
    except ValueError:
        return 0.0
