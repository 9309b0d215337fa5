"""Stock divergences page on the one keyset pager (hub/store/paging.py): ties on units or value at risk are broken
by sku, location and source, so every row is seen once across pages, both ways, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import is_dataclass
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio

from hub.store import Store
from hub.store.divergences import (
    DIVERGENCE_ORDER,
    DivergenceFilter,
    divergence_cursor,
    divergence_query,
    list_divergences,
    save_divergences,
)
from hub.store.paging import PageRequest, encode_cursor, keyset_page

T0 = datetime(2026, 11, 1, 12, 0, 0)
# (sku, location, source, units, value): ties on units (3.0 four times) and on value (none, and 30.0 twice)
ROWS = [("A", "WH-1", "pos", 3.0, 30.0), ("A", "WH-1", "erp", 3.0, None), ("B", "WH-1", "pos", 3.0, 30.0),
        ("A", "ST-1", "pos", 3.0, None), ("C", "WH-1", "pos", 5.0, 5.0), ("D", "WH-1", "pos", 1.5, 90.0),
        ("E", "WH-2", "wms", 0.5, None)]


def ordered(order: str) -> list[tuple[str, str, str]]:
    """The rows as the list promises them: largest first (unvalued last by value), then sku, location, source."""
    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        rank = row[3] if order == "units" else (row[4] if row[4] is not None else -1.0)
        return (-rank, row[0], row[1], row[2])
    return [row[:3] for row in sorted(ROWS, key=key)]


@pytest_asyncio.fixture
async def stored(store: Store) -> Store:
    async with store.write() as conn:
        await save_divergences(conn, [
            {"sku": sku, "location": location, "source": source, "authoritative": "erp", "units": units,
             "value": value, "states": {}, "since": T0, "due_at": None, "status": "open", "exception_id": None,
             "updated_at": T0} for sku, location, source, units, value in ROWS], [])
    return store


@pytest.mark.asyncio
@pytest.mark.parametrize("order", ["units", "value"])
async def test_divergences_page_once_each_across_ties_both_ways(stored: Store, order: str) -> None:
    seen: list[tuple[str, str, str]] = []
    after = None
    async with stored.read() as conn:
        while True:
            page = await list_divergences(conn, DivergenceFilter(), 2, after, order=order)
            seen += [(r.sku, r.location, r.source) for r in page.rows if is_dataclass(r)]  # plain records
            assert page.has_previous == (after is not None)
            if not page.has_next:
                break
            after = page.end_cursor
        assert seen == ordered(order)
        back: list[tuple[str, str, str]] = []
        request = PageRequest(last=3)
        while True:  # the same keys walked backward by the one pager
            page = await keyset_page(conn, divergence_query(DivergenceFilter()), DIVERGENCE_ORDER[order], request,
                                     tag=order)
            back = [(r.sku, r.location, r.source) for r in page.rows] + back
            if not page.has_previous:
                break
            request = PageRequest(last=3, before=page.start_cursor)
        assert back == ordered(order)


@pytest.mark.asyncio
async def test_a_divergence_cursor_names_its_order_and_keeps_its_old_form(stored: Store) -> None:
    async with stored.read() as conn:
        first = (await list_divergences(conn, DivergenceFilter(), 1, None, order="value")).rows[0]
        assert divergence_cursor(first, "value") == encode_cursor("value", repr(90.0), "D", "WH-1", "pos")
        with pytest.raises(ValueError, match="another order"):
            await list_divergences(conn, DivergenceFilter(), 1, divergence_cursor(first, "value"), order="units")
        with pytest.raises(ValueError, match="invalid cursor"):
            await list_divergences(conn, DivergenceFilter(), 1, "not-a-cursor")
