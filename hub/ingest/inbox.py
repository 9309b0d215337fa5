"""The durable inbox: raw deliveries are committed here before any sender gets its 2xx.

Promise: :meth:`Inbox.submit` returns only after the delivery is committed to the store (or was already
there); the same ``(source, dedup_key)`` always answers with the same delivery id and is stored once.

Group commit (DESIGN §6 measured 5k req/s for commit-per-request against 9–14k with one writer): a writer task
takes everything queued (at most ``max_batch``) and commits it in one transaction, one fsync for the group; what
arrives meanwhile waits only for that commit and forms the next group. Nothing waits when the writer is idle: a
lone delivery is committed at once. SQLite has one writer (one per file); on PostgreSQL a few writers commit
groups side by side (:meth:`~hub.store.Store.append`), sharing the database's WAL flushes. A group the database
refuses is stored again one delivery at a time, so one unstorable delivery (400) never fails the others; when the
store itself fails, every sender of the group gets a 503 and nothing is acknowledged. A full queue (in
deliveries, or in bytes of bodies waiting for their commit) raises :class:`~hub.errors.Busy` (503 + Retry-After)
instead of letting requests time out or the process grow.
Each delivery's ``received_at`` is stamped here, on the hub's clock (the one the evaluator, the demo and tests set).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hub.errors import BadRequest, Busy
from hub.ids import new_id
from hub.ingest.values import safe_text, unstorable
from hub.model import utcnow
from hub.periodic import cancel_and_wait
from hub.store import Connection, Store, describe, evaluation, is_lock_conflict, refuses_data
from hub.store.evaluation import EVALUATE_NOW
from hub.store.inbox import append_deliveries
from hub.store.inbox_log import InboxLog
from hub.telemetry import Metrics, span

log = logging.getLogger(__name__)
_MAX_KEY = 200
_BURST_GAP_SECONDS = 0.5  # a commit this recent means senders are still coming (a burst is on)
_POSTGRES_WRITERS = 4  # groups committed side by side on PostgreSQL (each holds a pooled connection meanwhile)


@dataclass(frozen=True, slots=True)
class Receipt:
    delivery_id: str
    new: bool


@dataclass(slots=True)
class _Pending:
    row: dict
    future: asyncio.Future[Receipt]


def dedup_key_for(key: str | None, body: bytes) -> str:
    """The sender's delivery id when it gives one (hashed if too long or unstorable), else the body's SHA-256.

    An id with a NUL or a lone surrogate (read from a signed body) would fail the inbox's group commit, and
    with it every sender waiting on that commit: it is hashed like an over-long one.
    """
    if key and len(key) <= _MAX_KEY and unstorable(key) is None:
        return key
    material = key.encode("utf-8", "surrogatepass") if key else body
    return "sha256:" + hashlib.sha256(material).hexdigest()


class Inbox:
    """Group-committing writer of raw deliveries. ``start()`` before use, ``stop()`` drains and ends.

    ``writers``: groups committed side by side (default: one on SQLite and the inbox log, a few on PostgreSQL).
    ``max_queued_bytes``: bodies held until their commit, at most (one delivery always fits).
    """

    def __init__(self, store: Store, metrics: Metrics, *, queue_size: int = 10_000, max_batch: int = 512,
                 on_commit: Callable[[], None] | None = None, log: InboxLog | None = None,
                 now: Callable[[], datetime] = utcnow, writers: int | None = None,
                 max_queued_bytes: int = 64 * 1024 * 1024) -> None:
        self._store = store
        self._now = now  # the hub's clock, naive UTC: every received_at
        self._log = log  # SQLite: append to the inbox's own file (hub/store/inbox_log.py), not to ``deliveries``
        self._metrics = metrics
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=queue_size)
        self._max_queued_bytes = max_queued_bytes
        self._queued_bytes = 0  # bodies submitted and not yet answered (queued or in a group being committed)
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._writers = writers or (_POSTGRES_WRITERS if log is None and store.dialect == "postgresql" else 1)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_commit = float("-inf")
        self._committing = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name="crosstrace-inbox-writer")
                       for _ in range(self._writers)]

    async def stop(self) -> None:
        """Commit what is queued, then stop the writers."""
        if not self._tasks:
            return
        await self._queue.join()
        await cancel_and_wait(self._tasks)
        self._tasks = []

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def busy(self) -> bool:
        """Senders are waiting for a commit, or the last one was a moment ago: a burst is on."""
        return (self._committing > 0 or not self._queue.empty()
                or time.monotonic() - self._last_commit < _BURST_GAP_SECONDS)

    async def submit(self, *, source: str, dedup_key: str, headers: dict[str, str], body: bytes,
                     content_type: str) -> Receipt:
        """Store one delivery durably, received now by the hub's clock; returns its id and whether it is new."""
        if not self._tasks or any(task.done() for task in self._tasks):
            raise Busy("the inbox writer is not running", retry_after=5)
        row = {"id": new_id("dlv"), "source": source, "dedup_key": dedup_key, "received_at": self._now(),
               "headers": headers, "body": body, "content_type": content_type, "state": "pending"}
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        if self._queued_bytes and self._queued_bytes + len(body) > self._max_queued_bytes:
            raise Busy()
        try:
            self._queue.put_nowait(_Pending(row, future))
        except asyncio.QueueFull:
            raise Busy() from None
        self._queued_bytes += len(body)
        return await future  # the queue depth gauge is set by the writers, once per group (not per request)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            depth = self._queue.qsize() + 1
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._metrics.set("crosstrace_inbox_queue_depth", depth)  # what was waiting when this group formed
            self._committing += 1  # from here until committed, senders wait on this batch
            try:
                await self._commit(batch)
            finally:
                self._committing -= 1
                for item in batch:
                    self._queued_bytes -= len(item.row["body"])
                    self._queue.task_done()
                self._metrics.set("crosstrace_inbox_queue_depth", self._queue.qsize())

    async def _commit(self, batch: list[_Pending]) -> None:
        """Commit the group; if the database refuses it, each delivery alone. Every sender gets its answer."""
        try:
            self._answer(batch, await self._append_retrying_conflict(batch))
        except Exception as exc:  # noqa: BLE001 - each sender is answered; the writer goes on
            if len(batch) == 1 or not refuses_data(exc):
                self._refuse(batch, exc)
                return
            log.warning("a group of %d deliveries was refused (%s); storing them one by one", len(batch),
                        describe(exc))
            for item in batch:
                try:
                    self._answer([item], await self._append([item]))
                except Exception as alone:  # noqa: BLE001
                    self._refuse([item], alone)
        self._last_commit = time.monotonic()
        if self._on_commit is not None:
            self._on_commit()

    async def _append_retrying_conflict(self, batch: list[_Pending]) -> dict[tuple[str, str], str]:
        """PostgreSQL may break a lock cycle between this group and another writer (a repeat counted on a delivery
        the normalizer is recording): the group was rolled back whole, so it is committed again, once."""
        try:
            return await self._append(batch)
        except Exception as exc:
            if not is_lock_conflict(exc):
                raise
            log.warning("inbox group of %d retried after a lock conflict: %s", len(batch), describe(exc))
            return await self._append(batch)

    async def _append(self, batch: list[_Pending]) -> dict[tuple[str, str], str]:
        """One transaction for the group, committed (durably) before it returns; each key's stored id."""
        with span("inbox.store") as current:
            current.set_attribute("crosstrace.batch_size", len(batch))
            if self._log is None:
                return await append_deliveries(self._store, [item.row for item in batch])
            started = time.perf_counter()  # its own file: no writer to wait for; the commit's time counts as held
            ids = await self._log.append([item.row for item in batch])
            self._store.writer_stats["inbox"].add(0.0, time.perf_counter() - started)
            return ids

    def _answer(self, batch: list[_Pending], ids: dict[tuple[str, str], str]) -> None:
        counts: Counter[tuple[str, str]] = Counter()  # counted once per group and source, not per request
        for item in batch:
            source = item.row["source"]
            delivery_id = ids[(source, item.row["dedup_key"])]
            new = delivery_id == item.row["id"]
            counts["crosstrace_deliveries_received_total" if new else "crosstrace_deliveries_duplicate_total",
                   source] += 1
            if not item.future.done():
                item.future.set_result(Receipt(delivery_id, new))
        for (name, source), count in counts.items():
            self._metrics.inc(name, count, source=source)

    def _refuse(self, batch: list[_Pending], exc: Exception) -> None:
        """Nothing of ``batch`` was stored: its senders get a 400 when the database refused the delivery itself
        (sending it again cannot help), else a 503 (the store failed: retry later)."""
        refused = refuses_data(exc)
        if refused:
            log.warning("a delivery to %s could not be stored: %s", batch[0].row["source"], describe(exc))
        else:
            log.error("inbox commit failed", exc_info=exc)
        for item in batch:
            if not item.future.done():
                item.future.set_exception(
                    BadRequest(f"the delivery cannot be stored: {safe_text(describe(exc), 300)}") if refused
                    else Busy(f"could not store the delivery: {exc.__class__.__name__}"))


async def evaluate_soon(conn: Connection, tx_ids: list[str]) -> None:
    """Have the evaluator's next tick look at these transactions (inside the caller's write transaction)."""
    await evaluation.due_at(conn, tx_ids, EVALUATE_NOW)
