"""DataLoaders, created per request: every nested list is one batched query, never one per parent."""

from __future__ import annotations

from typing import Any

from strawberry.dataloader import DataLoader

from hub.exceptions import maintenance
from hub.store import Store, inbox_log
from hub.store import exception_queries as xq
from hub.store import queries as q
from hub.store.trace import Trace, get_traces


class Loaders:
    """The request's loaders; each reads through the hub store (``trace``: ``hub.store.trace.get_traces``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.trace = DataLoader(self._traces)
        self.transaction = DataLoader(self._transactions)
        self.delivery = DataLoader(self._deliveries)
        self.events_by_delivery = DataLoader(self._events_by_delivery)
        self.exception_history = DataLoader(self._history)
        self.attributes = DataLoader(self._attributes)
        self._paused: Any = None

    async def _traces(self, tx_ids: list[str]) -> list[Trace | None]:
        async with self._store.read() as conn:
            found = await get_traces(conn, tx_ids)
        return [found.get(tx) for tx in tx_ids]

    async def _transactions(self, ids: list[str]) -> list[Any]:
        async with self._store.read() as conn:
            rows = await q.transactions_by_id(conn, ids)
        return [rows.get(i) for i in ids]

    async def paused(self, config: Any, now: Any) -> Any:
        """Maintenance windows per source (hub.exceptions.maintenance), read once per request."""
        if self._paused is None:
            async with self._store.read() as conn:
                self._paused = await maintenance.paused_at(conn, config, now)
        return self._paused

    async def _attributes(self, tx_ids: list[str]) -> list[dict[str, str]]:
        async with self._store.read() as conn:
            found = await q.attributes_by_transaction(conn, tx_ids)
        return [found.get(tx, {}) for tx in tx_ids]

    async def _history(self, ids: list[str]) -> list[list[Any]]:
        async with self._store.read() as conn:
            rows = await xq.history_of(conn, ids)
        return [rows.get(i, []) for i in ids]

    async def _deliveries(self, ids: list[str]) -> list[Any]:
        await inbox_log.caught_up(self._store)  # a delivery just acknowledged is found
        async with self._store.read() as conn:
            return [await q.get_delivery(conn, i) for i in ids]

    async def _events_by_delivery(self, ids: list[str]) -> list[list[str]]:
        async with self._store.read() as conn:
            found = await q.events_by_delivery(conn, ids)
        return [found.get(i, []) for i in ids]
