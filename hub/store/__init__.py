"""The store: one contract over SQLite and PostgreSQL.

Promise: every write the hub makes goes through :meth:`Store.write`, which serialises writers (never
two writers on one SQLite file — DESIGN §6) and returns only after the transaction is committed, i.e.
durable (``synchronous=FULL`` on SQLite, fsync'd WAL on PostgreSQL). Reads run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.engine import migrate, open_engine

__all__ = ["Store"]


class Store:
    """An engine plus the single-writer discipline; ``await Store.open(url)`` migrates before use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, search_path: str | None = None) -> Store:
        engine = open_engine(url, search_path)
        await migrate(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed (durably) when the block exits, rolled back on error."""
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    def upsert(self, table: Table):  # type: ignore[no-untyped-def]
        """The dialect's ``INSERT`` construct, which has ``on_conflict_do_nothing/update`` and ``excluded``."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def insert_ignoring_conflicts(self, table: Table):  # type: ignore[no-untyped-def]
        """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect."""
        return self.upsert(table).on_conflict_do_nothing()
