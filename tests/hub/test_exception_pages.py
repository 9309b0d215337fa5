"""The queue page read as a merge of per-status (and per-severity) parts is exactly the page of the one filtered
query in the same keyset order: every page, forward and backward, both orders, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import is_dataclass
from datetime import datetime, timedelta

import pytest

from hub.store import Store
from hub.store import exception_queries as xq
from hub.store.exception_counts import rebuild
from hub.store.exception_pages import queue_page
from hub.store.paging import EXCEPTION_ORDER, PageRequest, keyset_page
from hub.store.tables import exceptions

T0 = datetime(2026, 11, 1)


def _rows(n: int) -> list[dict[str, object]]:
    rnd = random.Random(7)
    return [{"id": f"exc_{rnd.randrange(10**6):07d}_{i}", "type": rnd.choice(["late", "failed"]),
             "severity": rnd.choice(["info", "warning", "error", "critical", "high"]), "rule": "r",
             "subject": f"s{i}", "key": f"r|s{i}", "status": rnd.choice(["open", "acknowledged", "resolved"]),
             "system": rnd.choice(["erp", "wms", None]), "message": "m", "evidence": {},
             "opened_at": T0 + timedelta(minutes=rnd.randrange(12)), "updated_at": T0} for i in range(n)]


async def _walk(conn, read, forward: bool, size: int) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    cursor = None
    while True:
        request = PageRequest(first=size, after=cursor) if forward else PageRequest(last=size, before=cursor)
        page = await read(conn, request)
        assert all(is_dataclass(row) for row in page.rows)  # plain records, no SQLAlchemy row
        seen.extend(row.id for row in (page.rows if forward else reversed(page.rows)))
        if not (page.has_next if forward else page.has_previous):
            return seen
        cursor = page.end_cursor if forward else page.start_cursor


@pytest.mark.asyncio
async def test_merged_pages_equal_the_pages_of_one_query(store: Store) -> None:
    async with store.write() as conn:
        await conn.execute(exceptions.insert(), _rows(70))
        await rebuild(conn)  # written around hub.exceptions.lifecycle: counted as a bulk load is
    filters = [xq.ExceptionFilter(), xq.ExceptionFilter(status=("open", "acknowledged")),
               xq.ExceptionFilter(status=("resolved",), source="erp"),
               xq.ExceptionFilter(severity=("high", "info", "high")),
               xq.ExceptionFilter(type=("late",), status=("open", "resolved"))]
    async with store.read() as conn:
        for flt in filters:
            for order in ("age", "severity"):
                keys = EXCEPTION_ORDER[order]

                async def plain(c, request, flt=flt, keys=keys):  # type: ignore[no-untyped-def]
                    return await keyset_page(c, xq.exception_query(flt, T0), keys, request)

                async def merged(c, request, flt=flt, order=order):  # type: ignore[no-untyped-def]
                    return await queue_page(c, flt, T0, order, request)

                for forward in (True, False):
                    for size in (1, 4, 50):
                        expected = await _walk(conn, plain, forward, size)
                        assert await _walk(conn, merged, forward, size) == expected, (flt, order, forward, size)
                        assert expected, flt
