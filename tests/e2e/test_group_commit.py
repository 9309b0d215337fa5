"""Group commit through real HTTP: many concurrent signed webhooks, each stored once and acknowledged only after
its group committed; a delivery the database refuses fails alone (400), never its group.

A real ``crosstrace serve`` (one process, and ``--role web``; on SQLite the receiver writes the inbox log in both) on
both stores. The refusal is the database's own: a trigger that rejects ``webhook-id``s starting with ``poison``.
Every 2xx is checked the moment it arrives, from a connection of the test's own: the delivery is already there.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.server import Server, free_port, write_config
from tests.hub.test_inbox_groups import POSTGRES_POISON, SQLITE_POISON
from tests.support import cloudevent, signed_headers

IN_FLIGHT = 64


class StoredKeys:
    """Reads, from a connection of its own, which keys the receiver has stored (committed) and under what id."""

    def __init__(self, store_url: str, role: str) -> None:
        self.postgres = store_url.startswith("postgresql")
        database = Path(store_url.removeprefix("sqlite+aiosqlite:///"))
        self.path = database.with_name(database.name + ".inbox")
        self.table = "deliveries" if self.postgres else "entries"
        self.engine = create_async_engine(store_url) if self.postgres else None

    async def poison(self) -> None:
        if self.engine is not None:
            async with self.engine.begin() as conn:
                for statement in POSTGRES_POISON:
                    await conn.execute(text(statement))
            return
        with sqlite3.connect(self.path) as conn:
            conn.execute(SQLITE_POISON.format(table=self.table))
        conn.close()

    async def ids(self, keys: list[str]) -> list[tuple[str, str]]:
        """(key, id) of each stored delivery among ``keys`` (a key twice would be a doubled delivery)."""
        query = f"SELECT dedup_key, id FROM {self.table} WHERE dedup_key IN ({', '.join('?' * len(keys))})"
        if self.engine is not None:
            async with self.engine.connect() as conn:
                found = await conn.execute(text("SELECT dedup_key, id FROM deliveries WHERE dedup_key = ANY(:keys)"),
                                           {"keys": keys})
                return [tuple(row) for row in found]  # type: ignore[misc]
        with sqlite3.connect(self.path) as conn:
            rows = conn.execute(query, keys).fetchall()
        conn.close()
        return rows

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def webhook(key: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{key}")], id=f"evt-{key}")).encode()
    return body, signed_headers(body, msg_id=key)


def round_keys(round_: int) -> list[str]:
    """64 requests: 58 new keys, 2 the database refuses, one key sent 4 times at once."""
    keys = [f"msg-{round_}-{n}" for n in range(58)]
    keys[10:10] = [f"poison-{round_}-a"]
    keys[40:40] = [f"poison-{round_}-b"]
    for at in (5, 20, 35, 50):
        keys.insert(at, f"twice-{round_}")
    return keys


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ["all", "web"])
async def test_concurrent_webhooks_are_stored_once_acked_after_commit_and_a_refused_one_fails_alone(
        store_url: str, tmp_path: Path, role: str) -> None:
    server = Server(write_config(tmp_path, store_url), free_port(), *(["--role", "web"] if role == "web" else []))
    await asyncio.to_thread(server.start)
    stored = StoredKeys(store_url, role)
    acked: dict[str, set[str]] = {}
    statuses: dict[str, list[int]] = {}
    try:
        await stored.poison()
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=IN_FLIGHT)) as client:

            async def send(key: str) -> None:
                body, headers = webhook(key)
                response = await client.post(f"{server.url}/hooks/erp", content=body, headers=headers)
                statuses.setdefault(key, []).append(response.status_code)
                if response.status_code in (200, 202):  # committed before the answer: readable right now
                    delivery = response.json()["delivery"]
                    assert (key, delivery) in await stored.ids([key]), f"{key} acknowledged before it was stored"
                    acked.setdefault(key, set()).add(delivery)
                else:
                    assert response.json()["error"]["code"] == "bad_request", response.text

            for round_ in range(4):
                await asyncio.gather(*(send(key) for key in round_keys(round_)))
        every = [key for round_ in range(4) for key in dict.fromkeys(round_keys(round_))]
        rows = await stored.ids(every)
    finally:
        await stored.close()
        await asyncio.to_thread(server.stop)
    refused = {key for key in every if key.startswith("poison")}
    assert all(statuses[key] == [400] for key in refused)
    assert all(sorted(statuses[key]) == ([200, 200, 200, 202] if key.startswith("twice") else [202])
               for key in every if key not in refused)
    assert all(len(ids) == 1 for ids in acked.values())  # a repeat answers with the first delivery's id
    assert sorted(rows) == sorted((key, ids.pop()) for key, ids in acked.items())  # each stored once, none refused
    assert len(rows) == 4 * 59
