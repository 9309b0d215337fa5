"""A PostgreSQL ``LISTEN/NOTIFY`` channel between hub processes on one database
(https://www.postgresql.org/docs/current/sql-notify.html): what one process sends, every other listening process
receives after the sender's commit. SQLite has one process: :func:`open_channel` gives None there."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text

from hub.store import Store

__all__ = ["Channel", "open_channel"]

log = logging.getLogger(__name__)
MAX_PAYLOAD = 7900  # PostgreSQL refuses a payload of 8000 bytes or more


class Channel:
    """One listening connection, held for the channel's life; :meth:`send` notifies on a pooled one."""

    def __init__(self, store: Store, name: str, connection, raw) -> None:  # type: ignore[no-untyped-def]
        self._store, self._name, self._connection, self._raw = store, name, connection, raw

    async def send(self, payload: str) -> None:
        async with self._store.engine.begin() as conn:
            await conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": self._name,
                                                                               "payload": payload})

    async def close(self) -> None:
        try:
            await self._raw.driver_connection.remove_listener(self._name, self._listener)
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass
        await self._connection.close()

    _listener: Callable[..., None]


async def open_channel(store: Store, name: str, receive: Callable[[str], None]) -> Channel | None:
    """Listen on ``name``; ``receive(payload)`` runs for each notification (this process's own included)."""
    if store.dialect != "postgresql":
        return None
    connection = await store.engine.connect()
    raw = await connection.get_raw_connection()
    channel = Channel(store, name, connection, raw)

    def listener(_conn, _pid, _channel, payload: str) -> None:  # type: ignore[no-untyped-def]
        try:
            receive(payload)
        except Exception:  # noqa: BLE001 - one bad message never ends the listener
            log.exception("channel %s: a notification could not be handled", name)

    channel._listener = listener
    await raw.driver_connection.add_listener(name, listener)
    return channel
