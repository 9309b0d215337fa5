"""The stock page ``/stock?sku=&location=``: positions per system and state side by side, divergences
highlighted, recent movements linked to their transactions, and the divergence list by location.

Reads through ``hub.stock.queries`` (the functions GraphQL ``stock``/``divergences`` call). Until that module is in
the build, the page says so instead of failing.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.runtime import Hub
from web.common import now_of, render
from web.stock_overview import SORTS, overview_cells


def _stock_module() -> ModuleType | None:
    try:
        return importlib.import_module("hub.stock.queries")
    except ImportError:
        return None


async def sku_known(conn: Any, sku: str) -> bool:
    """Whether any system reported a position for this SKU (search sends a SKU to its stock page)."""
    module = _stock_module()
    if module is None:
        return False
    return bool(await module.positions(conn, sku, None))


async def divergence_heat(conn: Any) -> dict[str, Any] | None:
    """Divergent SKUs per location × source (``hub.stock.queries.divergence_counts``) shaped for a heat map;
    ``None`` while the stock module is not in the build."""
    module = _stock_module()
    if module is None:
        return None
    counts = await module.divergence_counts(conn)
    sources = sorted({c["source"] for c in counts})
    rows: dict[str, dict[str, int]] = {}
    for c in counts:
        rows.setdefault(c["location"], {})[c["source"]] = c["divergent"]
    return {"sources": sources, "rows": sorted(rows.items()), "peak": max([c["divergent"] for c in counts] + [0])}


async def _context(module: ModuleType, hub: Hub, conn: Any, sku: str, location: str | None,
                   sort: str = "divergence") -> dict[str, Any]:
    """Positions side by side (location, source) × state, the diverging cells marked, movements, and the
    divergence list by location with the units at risk."""
    now = now_of(hub)
    positions = await module.positions(conn, sku, location, settings=hub.config.stock) if sku else []
    states = sorted({q.state for p in positions for q in p.quantities})
    grid = []
    for p in positions:
        diverging = {}
        if p.divergence is not None:
            diverging = {state: numbers for state, numbers in (p.divergence.states or {}).items()
                         if abs(float(numbers.get("difference", 0))) > 0}
        grid.append({"position": p, "cells": {q.state: q for q in p.quantities}, "diverging": diverging})
    moves = await module.movements(conn, sku, location, limit=50) if sku else []
    page = await module.list_divergences(conn, module.DivergenceFilter(location=location), 100, None)
    by_location: dict[str, dict[str, Any]] = {}
    for row in page.rows:
        item = by_location.setdefault(row.location, {"location": row.location, "units": 0.0, "value": None,
                                                     "rows": []})
        item["units"] += float(row.units)
        if row.value is not None:  # value at risk: only where [stock] unit_value applies
            item["value"] = (item["value"] or 0.0) + float(row.value)
        item["rows"].append(row)
    context = {"sku": sku, "location": location, "positions": grid, "states": states, "movements": moves,
               "divergences": sorted(by_location.values(), key=lambda d: -d["units"]),
               "more_divergences": page.has_next}
    if not sku:  # the overview: every SKU and location, sortable
        rows = await module.overview(conn, location)
        context.update(overview=overview_cells(rows, page.rows, now, sort), sort=sort if sort in SORTS else
                       "divergence", sorts=SORTS, overview_capped=len(rows) >= module.OVERVIEW_LIMIT, now=now)
    return context


def routes(hub: Hub) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        module = _stock_module()
        sku = request.query_params.get("sku", "").strip()[:100]
        location = request.query_params.get("location", "").strip()[:100] or None
        if module is None:
            return render(request, "stock.html", {"unavailable": True, "sku": sku, "location": location})
        async with hub.started().store.read() as conn:
            context = await _context(module, hub, conn, sku, location, request.query_params.get("sort", ""))
        return render(request, "stock.html", context, status_code=404 if sku and not context["positions"] else 200)

    return [Route("/stock", page)]
