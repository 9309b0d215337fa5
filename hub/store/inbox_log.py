"""The inbox's own SQLite file: an append-only log that the receiver writes and the normalizer's side consumes.

Why: one SQLite file has one write lock. With the deliveries in the main file, a webhook's group commit waited
for the normalizer's write transactions (26 ms on average, a whole 300–400 ms transaction at worst: issue 14
item 3), and a receiver in another process than the normalizer would wait the same way on the file lock. The
receiver appends to ``<main file>.inbox`` instead, where only it writes (and, rarely and briefly, the trim).

Promise of :meth:`InboxLog.append`: it returns once the rows are committed (``synchronous=FULL``); the same
``(source, dedup_key)`` answers with the id it was first stored under, in the log or in the main file's
``deliveries`` (a poller's, or one stored before the log existed), and a repeat is appended to ``repeats``.
:func:`transfer` moves the entries after the consumed position into ``deliveries`` (state ``pending``) in the
main file and counts the repeats there, in one transaction that also records the new positions
(``inbox_positions``; Kafka's consumer offset): a crash before its commit leaves them to be moved again, after it
they are never moved twice. The main connections reach the log as the attached schema ``inbox_log``.

Reads of delivery state (GraphQL ``deliveries``, replay, exports, …) call :func:`caught_up` first: in the process
that moves the log (``Store.moves_inbox_log``, the normalizer's), it moves what waits, so an acknowledged delivery is
listed at once as when the receiver wrote ``deliveries`` itself.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import Store, evaluation, inbox
from hub.store.inbox_file import PRAGMAS, SCHEMA, TIME_FORMAT, connect

Key = tuple[str, str]  # (source, dedup_key)
_COLUMNS = 7  # id, source, dedup_key, received_at, headers, body, content_type


class InboxLog:
    """The receiver's writer of the log: plain ``sqlite3`` on one thread of its own, one hop per group commit.

    The rows' parameters are prepared on the caller's event loop and the thread runs a handful of statements per
    group (no per-row ``executemany``): each SQLite call gives the GIL away and takes it back, and a thread that
    must take it back once per row waits for the busy event loop that many times (up to its switch interval each).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crosstrace-inbox-log")
        self._conn: sqlite3.Connection | None = None
        self._main: sqlite3.Connection | None = None  # the main file, read only: keys stored there already

    async def append(self, rows: list[dict]) -> dict[Key, str]:
        """Commit the rows not stored yet, count the others as repeats; returns each key's stored delivery id."""
        first: dict[Key, dict] = {}
        counts: Counter[Key] = Counter()
        for row in rows:
            key = (row["source"], row["dedup_key"])
            first.setdefault(key, row)
            counts[key] += 1
        values = [value for row in first.values() for value in (
            row["id"], row["source"], row["dedup_key"], row["received_at"].strftime(TIME_FORMAT),
            json.dumps(row["headers"]), row["body"], row["content_type"])]
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._append, {key: row["id"] for key, row in first.items()}, values, counts,
            json.dumps(list(first)))

    def close(self) -> None:
        self._thread.submit(self._close).result()
        self._thread.shutdown()

    def _close(self) -> None:
        for conn in (self._conn, self._main):
            if conn is not None:
                conn.close()
        self._conn = self._main = None

    def _append(self, first: dict[Key, str], values: list, counts: Counter[Key], keys: str) -> dict[Key, str]:
        """In one transaction: insert each key's first row unless stored (in the log, or in the main file before
        the transaction began), count the rest as repeats."""
        if self._conn is None:
            self._conn = connect(self.path)
        stored = self._stored_in_main(keys)
        if stored:  # rare: the main file's ids answer, and the log stores only the other keys
            values = [value for index, key in enumerate(first) if key not in stored
                      for value in values[index * _COLUMNS:(index + 1) * _COLUMNS]]
        new = {key: delivery_id for key, delivery_id in first.items() if key not in stored}
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted, done = 0, 0
            for size in _chunks(len(new)):
                inserted += conn.execute(_insert(size), values[done * _COLUMNS:(done + size) * _COLUMNS]).rowcount
                done += size
            ids = new if inserted == len(new) else {  # some were stored before: read their ids (rare)
                key: conn.execute("SELECT id FROM entries WHERE source = ? AND dedup_key = ?", key).fetchone()[0]
                for key in new}
            ids = {**ids, **stored}
            repeats = [(*key, count - (ids[key] == first[key])) for key, count in counts.items()]
            if any(count for *_, count in repeats):
                conn.executemany("INSERT INTO repeats (source, dedup_key, count) VALUES (?, ?, ?)",
                                 [repeat for repeat in repeats if repeat[2]])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return dict(ids)


    def _stored_in_main(self, keys: str) -> dict[Key, str]:
        """Which of the keys (a JSON list of pairs) the main file's ``deliveries`` holds, with their ids: one read
        on its own connection, outside the log's transaction (``BEGIN IMMEDIATE`` would lock every attached file).
        A poller storing a key between this read and the log's commit: the transfer counts the log's entry as a
        repeat of the poller's delivery."""
        if self._main is None:
            self._main = sqlite3.connect(f"{self.path.with_suffix('').as_uri()}?mode=ro", uri=True,
                                         isolation_level=None, check_same_thread=False)
            self._main.execute(f"PRAGMA {PRAGMAS[-1]}")
        return {(source, key): delivery_id for source, key, delivery_id in self._main.execute(
            "SELECT d.source, d.dedup_key, d.id FROM json_each(?) k JOIN deliveries d "
            "ON d.source = k.value ->> 0 AND d.dedup_key = k.value ->> 1", (keys,))}


def _chunks(count: int) -> list[int]:
    """``count`` as a sum of powers of two, largest first: one INSERT per part, from at most ten statement texts
    (the connection's prepared-statement cache holds a few, not one per group size)."""
    return [1 << bit for bit in range(count.bit_length() - 1, -1, -1) if count >> bit & 1]


@functools.lru_cache(maxsize=16)
def _insert(rows: int) -> str:
    return ("INSERT INTO entries (id, source, dedup_key, received_at, headers, body, content_type) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows) + " ON CONFLICT DO NOTHING")


async def caught_up(store: Store) -> None:
    """Before a read of delivery state: in the process that moves the log, move what it holds into ``deliveries``
    (two index reads when nothing waits); elsewhere (a web-only process) nothing."""
    if store.moves_inbox_log:
        await move(store)


async def move(store: Store) -> int:
    """Move what the log holds into ``deliveries`` in one write transaction on the main file, if anything waits;
    returns how many entries were moved."""
    async with store.read() as conn:
        if not await waiting(conn):
            return 0
    async with store.write() as conn:
        return await transfer(conn)


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """Entries not moved to ``deliveries`` yet, and when the oldest of them was received."""
    position = await _position(conn, "entries")
    count, oldest = (await conn.execute(text(
        f"SELECT count(*), min(received_at) FROM {SCHEMA}.entries WHERE seq > :after"), {"after": position})).one()
    return count, datetime.fromisoformat(oldest) if oldest else None


async def waiting(conn: AsyncConnection) -> bool:
    """Whether the log holds entries or repeats that :func:`transfer` has not moved (two index reads)."""
    for log in ("entries", "repeats"):
        last = (await conn.execute(text(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.{log}"))).scalar_one()
        if last > await _position(conn, log):
            return True
    return False


async def moved(conn: AsyncConnection) -> int:
    """The position up to which entries have been moved into ``deliveries``."""
    return await _position(conn, "entries")


async def transfer(conn: AsyncConnection) -> int:
    """Inside the caller's write transaction on the main file: move new entries into ``deliveries`` and count
    new repeats on theirs; returns how many entries were moved."""
    # First the main file's write lock (a write begins the transaction; the driver runs reads before it outside
    # one): the positions read next are then the last committed, also when another process moves the log at once
    # (``crosstrace replay`` beside ``serve``), which would otherwise count the same repeats again.
    await conn.execute(text("UPDATE inbox_positions SET position = position WHERE log = 'entries'"))
    position, repeat_position = await _position(conn, "entries"), await _position(conn, "repeats")
    last = (await conn.execute(text(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.entries"))).scalar_one()
    last_repeat = (await conn.execute(text(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.repeats"))).scalar_one()
    if last <= position and last_repeat <= repeat_position:
        return 0
    span = {"after": position, "upto": last}
    await conn.execute(text(
        "INSERT INTO deliveries (id, source, dedup_key, received_at, headers, body, content_type, state, attempts, "
        f"repeats) SELECT id, source, dedup_key, received_at, headers, body, content_type, 'pending', 0, 0 "
        f"FROM {SCHEMA}.entries WHERE seq > :after AND seq <= :upto ORDER BY seq ON CONFLICT DO NOTHING"), span)
    # A key the main file already held under another id (stored before the log existed): a repeat of that one.
    counts: dict[tuple[str, str], int] = {}
    for source, key in (await conn.execute(text(
            f"SELECT e.source, e.dedup_key FROM {SCHEMA}.entries e WHERE e.seq > :after AND e.seq <= :upto "
            "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = e.id)"), span)).all():
        counts[(source, key)] = counts.get((source, key), 0) + 1
    for source, key, count in (await conn.execute(text(
            f"SELECT source, dedup_key, sum(count) FROM {SCHEMA}.repeats WHERE seq > :after AND seq <= :upto "
            "GROUP BY source, dedup_key"), {"after": repeat_position, "upto": last_repeat})).all():
        counts[(source, key)] = counts.get((source, key), 0) + count
    for (source, key), count in sorted(counts.items()):
        stored = (await conn.execute(text("SELECT id FROM deliveries WHERE source = :source AND dedup_key = :key"),
                                     {"source": source, "key": key})).scalar_one_or_none()
        if stored is not None:  # gone from the main file (retention, erasure): nothing left to count on
            await evaluation.due_at(conn, await inbox.count_repeat(conn, stored, count), evaluation.EVALUATE_NOW)
    await conn.execute(text("INSERT INTO inbox_positions (log, position) VALUES ('entries', :e), ('repeats', :r) "
                            "ON CONFLICT (log) DO UPDATE SET position = excluded.position"),
                       {"e": last, "r": last_repeat})
    return last - position


async def trim(conn: AsyncConnection, trimmed: int, *, forget_removed: bool) -> int:
    """In a write transaction of its own (it writes the log file only): drop the bodies and headers of entries
    moved since ``trimmed`` (the main file holds them, and erasure and retention act there) and the counted
    repeats; returns the position trimmed up to. With ``forget_removed``, also the moved entries whose delivery
    the main file no longer has (retention): their keys stop answering as repeats, as the main file's did."""
    position, repeat_position = await _position(conn, "entries"), await _position(conn, "repeats")
    await conn.execute(text(f"UPDATE {SCHEMA}.entries SET body = NULL, headers = NULL "
                            "WHERE seq > :after AND seq <= :upto"), {"after": trimmed, "upto": position})
    await conn.execute(text(f"DELETE FROM {SCHEMA}.repeats WHERE seq <= :upto"), {"upto": repeat_position})
    if forget_removed:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.entries WHERE seq <= :upto AND id NOT IN "
                                "(SELECT id FROM deliveries)"), {"upto": position})
    return position


async def drop_moved_bodies(conn: AsyncConnection) -> None:
    """Inside the caller's write transaction: drop the bodies and headers of every entry already moved (erasure:
    the main file's copies are rewritten, so none may stay here; ``secure_delete`` zeroes the old cells)."""
    await conn.execute(text(f"UPDATE {SCHEMA}.entries SET body = NULL, headers = NULL "
                            "WHERE seq <= :upto AND body IS NOT NULL"), {"upto": await _position(conn, "entries")})


async def _position(conn: AsyncConnection, log: str) -> int:
    found = (await conn.execute(text("SELECT position FROM inbox_positions WHERE log = :log"),
                                {"log": log})).scalar_one_or_none()
    return found or 0
