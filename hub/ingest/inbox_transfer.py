"""Moves what the receiver appended to the SQLite inbox log into ``deliveries``, where the normalizer takes it.

The normalizer calls :meth:`InboxTransfer.run_once` before each batch; it is cheap when nothing is new (three
index reads). See hub/store/inbox_log.py for the log and its consumed positions.
"""

from __future__ import annotations

import time

from hub.store import Store, inbox_log

_TRIM_EVERY_SECONDS = 1.0  # moved bodies leave the log within about this long
_FORGET_EVERY_SECONDS = 3600.0  # keys of deliveries that retention removed, hourly as retention runs


class InboxTransfer:
    """One consumer of one store's inbox log (a process runs one: the normalizer's)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.moves_inbox_log = True  # this process's reads of delivery state move what waits first
        self._trimmed = 0  # position the log's bodies are dropped up to (from 0 again in each process)
        self._last_trim = float("-inf")
        self._untrimmed = False  # entries moved since the last trim
        self._last_forget = time.monotonic()

    async def run_once(self) -> int:
        """Move the new entries and repeats (one write transaction on the main file); returns entries moved."""
        moved = await inbox_log.move(self._store)
        async with self._store.read() as conn:  # also what reads of delivery state moved (inbox_log.caught_up)
            position = await inbox_log.moved(conn)
        await self._trim(untrimmed=position > self._trimmed)
        return moved

    async def _trim(self, untrimmed: bool) -> None:
        now = time.monotonic()
        forget = now - self._last_forget >= _FORGET_EVERY_SECONDS
        self._untrimmed = self._untrimmed or untrimmed
        if not forget and (not self._untrimmed or now - self._last_trim < _TRIM_EVERY_SECONDS):
            return
        self._last_trim = now
        if forget:
            self._last_forget = now
        async with self._store.write() as conn:
            self._trimmed = await inbox_log.trim(conn, self._trimmed, forget_removed=forget)
        self._untrimmed = False
