"""The start page ``/``: recent transactions, newest first, paged and filterable (kind, system, open exceptions,
business attributes), each with its business number, systems, where its flow stands and its open exceptions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.exceptions import maintenance
from hub.exceptions.flows import flow_summary, transaction_steps
from hub.model import TRANSACTION_KINDS
from hub.runtime import Hub
from hub.store import exception_queries as xq
from hub.store import queries as q
from hub.store.paging import KeysetPage
from web.common import now_of, query_with, render
from web.numbers import numbers_of

PAGE = 25


def attribute_filter(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``?attribute=channel=web`` (repeatable) as (name, value) pairs; a value without ``=`` is ignored."""
    pairs = (value.partition("=") for value in values[:10])
    return tuple((name.strip(), value.strip()) for name, sep, value in pairs if sep and name.strip())


def _filter(request: Request) -> q.TransactionFilter:
    p = request.query_params
    kind = p.get("kind") if p.get("kind") in TRANSACTION_KINDS else None
    return q.TransactionFilter(kind=kind, source=(p.get("source") or "").strip()[:64] or None,
                               has_exceptions=True if p.get("exceptions") == "open" else None,
                               attributes=attribute_filter(p.getlist("attribute")))


async def _page(conn: Any, flt: q.TransactionFilter, after: str | None) -> KeysetPage:
    try:
        return await q.list_transactions(conn, flt, PAGE, after)
    except ValueError:  # a stale or edited cursor: the first page
        return await q.list_transactions(conn, flt, PAGE, None)


def routes(hub: Hub) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        flt, now = _filter(request), now_of(hub)
        async with hub.started().store.read() as conn:
            page = await _page(conn, flt, request.query_params.get("after") or None)
            ids = [row.id for row in page.rows]
            tx_attributes = await q.attributes_by_transaction(conn, ids)
            numbers = await numbers_of(conn, {row.id: row.kind for row in page.rows})
            events = await q.events_by_transaction(conn, ids) if ids else {}
            open_count = await xq.count_exceptions(conn, xq.ExceptionFilter(status=("open",)), now)
            stopped = await maintenance.paused_at(conn, hub.config, now)
        flows = {row.id: flow_summary(transaction_steps(hub.config, row.kind, events.get(row.id, []), now, stopped))
                 for row in page.rows}
        filtered = bool(flt.kind or flt.source or flt.has_exceptions or flt.attributes)
        return render(request, "index.html", {
            "transactions": page.rows, "has_next": page.has_next, "end_cursor": page.end_cursor,
            "open_count": open_count, "tx_attributes": tx_attributes, "chosen_attributes": flt.attributes,
            "tx_numbers": numbers, "flows": flows, "flt": flt, "filtered": filtered, "kinds": TRANSACTION_KINDS,
            "sources": sorted(hub.config.sources), "first_page": not request.query_params.get("after"),
            "query_with": lambda **kw: query_with(request, **kw)})

    return [Route("/", index)]
